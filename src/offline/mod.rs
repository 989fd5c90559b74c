//! Offline use without Splunk: `run` over event files, `replay` of recorded sessions, and `demo` over the bundled samples.

pub(crate) mod demo;
pub mod evtx;
pub mod input;
pub(crate) mod jsonl;
pub(crate) mod replay;
pub mod run;
pub mod sysmon;
pub(crate) mod table;
pub(crate) mod tabular;
pub mod xml;

use std::fmt;
use std::io::{self, Write};

/// Writes `text` to stdout through a locked handle; a closed pipe (`| head`)
/// is a quiet success. Returns the exit code.
pub(crate) fn say(text: &str) -> u8 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(_) => 1,
    }
}

/// Writes a message to stderr in the one shape every message takes, in
/// Splunk and offline alike: `regsvcsdetect: <text>`, one line.
pub(crate) fn complain(text: impl fmt::Display) {
    eprintln!("{}", crate::command::stderr_line(text));
}

/// One input record: (column name, values) pairs; several values make a multivalue cell.
pub type Record = crate::body::NamedValues;
