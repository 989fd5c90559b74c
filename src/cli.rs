//! The binary's entry point: with no arguments it speaks SCP v2 to splunkd; with a subcommand it works offline.

use std::io::{self, BufReader, Write};

use crate::command::{Outcome, Session};

/// The version and the commit it was built from.
pub fn version() -> String {
    format!(
        "{} {} ({})",
        crate::command::COMMAND,
        env!("CARGO_PKG_VERSION"),
        option_env!("REGSVCSDETECT_GIT_HASH").unwrap_or("unknown commit")
    )
}

const USAGE: &str = "\
usage:
  regsvcsdetect                 speak Splunk's chunked protocol on stdin/stdout (how splunkd runs it)
  regsvcsdetect run --mode network|noargs [options] FILE...
                                run a detection over CSV, JSON lines or Sysmon XML files (gzip ok)
  regsvcsdetect replay FILE.input [--expect FILE.output]
                                play a record=t recording through the command and show the replies
  regsvcsdetect demo            play splunkd over the bundled samples, for both modes
  regsvcsdetect --version       print the version and commit
  regsvcsdetect --help          print this help (run --help, replay --help: theirs)
";

/// Runs the binary with `args` (argv without the program name) and returns the exit code.
///
/// splunkd starts a chunked command with no arguments (PROTOCOL.md §1.2), so
/// the no-argument form is the protocol; nothing else is decided from argv.
pub fn main(args: &[String]) -> u8 {
    match args.first().map(String::as_str) {
        None => serve(),
        Some("--version" | "-V") => say(&format!("{}\n", version())),
        Some("--help" | "-h" | "help") => say(USAGE),
        Some("run") => crate::offline::run::main(&args[1..]),
        Some("replay") => crate::offline::replay::main(&args[1..]),
        Some("demo") => crate::offline::demo::main(&args[1..]),
        Some(other) => {
            eprintln!("regsvcsdetect: unknown subcommand {other:?}\n{USAGE}");
            2
        }
    }
}

fn say(text: &str) -> u8 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(_) => 1,
    }
}

fn serve() -> u8 {
    let stdin = io::stdin().lock();
    let stdout = io::stdout().lock();
    let input = BufReader::with_capacity(1 << 16, stdin);
    let output = io::BufWriter::with_capacity(1 << 16, stdout);
    match Session::new(input, output).run() {
        Outcome::Done | Outcome::Closed => 0,
        Outcome::Failed(msg) => {
            // One terse line: splunkd copies every stderr line into search.log.
            let msg = msg.strip_prefix("regsvcsdetect: ").unwrap_or(&msg);
            eprintln!("regsvcsdetect: {}", one_line(msg));
            1
        }
    }
}

/// Escapes line breaks, so a message that quotes user input (an option value
/// with a newline) stays one stderr line.
fn one_line(msg: &str) -> String {
    msg.replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace('\u{85}', "\\u{85}")
        .replace('\u{2028}', "\\u{2028}")
        .replace('\u{2029}', "\\u{2029}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_line_breaks() {
        assert_eq!(one_line("a\nb\r\nc"), "a\\nb\\r\\nc");
        assert_eq!(one_line("plain"), "plain");
    }
}
