//! The process boundary: hand argv, stdin and stdout to the library and map the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(regsvcsdetect::cli::main(&args))
}
