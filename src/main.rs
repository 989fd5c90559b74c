//! The process boundary: hand argv, stdin and stdout to the library and map the result to an exit code.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: regsvcsdetect::alloc::Allocator = regsvcsdetect::alloc::Allocator;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // splunkd starts a chunked command with no arguments (PROTOCOL.md §1.2),
    // so that form is the protocol; any argument means the offline CLI.
    let code = if args.is_empty() {
        regsvcsdetect::command::serve()
    } else {
        regsvcsdetect::cli::main(&args)
    };
    ExitCode::from(code)
}
