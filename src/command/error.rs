//! `command::Error`, why a session stopped, and the one function that names the command in every message for splunkd.

use std::fmt;

use crate::body;
use crate::detect;
use crate::options::Problems;
use crate::protocol::{self, Action, Reply};

/// The SPL command name, used in `streaming_preop` and in every message.
pub const COMMAND: &str = "regsvcsdetect";

/// Why a session stopped. It reaches splunkd as an ERROR reply to the
/// pending request (see [`Error::messages`]) and the process exits 1.
///
/// Boxed, so `Result<(), Error>` stays one word on the per-row path (as
/// rust-csv does).
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    at: Option<At>,
}

/// Where in the input stream a request began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// 1-based number of the request chunk.
    pub(crate) chunk: u64,
    /// Byte offset of its header line in the input stream.
    pub(crate) offset: u64,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Framing or metadata: the protocol error carries its own coordinates.
    Protocol(protocol::Error),
    /// The first request is not getinfo.
    NotGetinfo {
        /// The action it has instead.
        action: Action,
    },
    /// The getinfo request carries a body.
    GetinfoBody {
        /// The body's length in bytes.
        len: usize,
    },
    /// A request after getinfo is not execute.
    NotExecute {
        /// The action it has instead.
        action: Action,
    },
    /// The command's arguments were refused: one ERROR message per problem.
    Options(Problems),
    /// A body that cannot be read (it names the record).
    Body(body::Error),
    /// The engine reached a limit; results are never truncated instead.
    Engine(detect::Error),
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The request the failure happened in, when it is not already part of
    /// the kind (a protocol error has its own; getinfo errors are chunk 1).
    pub fn at(&self) -> Option<At> {
        self.0.at
    }

    /// The same error, placed in the request at `at`.
    pub(crate) fn within(mut self, at: At) -> Error {
        self.0.at = Some(at);
        self
    }

    /// True when stdout is closed: the process ends quietly, exit 0.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(&self.0.kind, ErrorKind::Protocol(e) if e.is_broken_pipe())
    }

    /// The inspector messages the ERROR reply carries: one per refused
    /// argument, else one.
    pub(crate) fn messages(&self) -> Vec<String> {
        match &self.0.kind {
            ErrorKind::Options(problems) => problems.messages(),
            _ => vec![self.to_string()],
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error(Box::new(Inner { kind, at: None }))
    }
}

impl From<protocol::Error> for Error {
    fn from(e: protocol::Error) -> Error {
        ErrorKind::Protocol(e).into()
    }
}

impl From<Problems> for Error {
    fn from(problems: Problems) -> Error {
        ErrorKind::Options(problems).into()
    }
}

impl From<body::Error> for Error {
    fn from(e: body::Error) -> Error {
        ErrorKind::Body(e).into()
    }
}

impl From<detect::Error> for Error {
    fn from(e: detect::Error) -> Error {
        ErrorKind::Engine(e).into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(At { chunk, offset }) = self.0.at {
            write!(f, "chunk {chunk} (byte {offset}): ")?;
        }
        match &self.0.kind {
            ErrorKind::Protocol(e) => write!(f, "{e}"),
            ErrorKind::NotGetinfo { action } => write!(
                f,
                "protocol error: the first request must be getinfo, not {}",
                Described(action)
            ),
            ErrorKind::GetinfoBody { len } => write!(
                f,
                "protocol error: the getinfo request carries a {len}-byte body; it must be empty"
            ),
            ErrorKind::NotExecute { action } => write!(
                f,
                "protocol error: expected an execute request, got {}",
                Described(action)
            ),
            ErrorKind::Options(problems) => write!(f, "{problems}"),
            ErrorKind::Body(e) => write!(f, "{e}"),
            ErrorKind::Engine(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Protocol(e) => Some(e),
            ErrorKind::Options(e) => Some(e),
            ErrorKind::Body(e) => Some(e),
            ErrorKind::Engine(e) => Some(e),
            ErrorKind::NotGetinfo { .. }
            | ErrorKind::GetinfoBody { .. }
            | ErrorKind::NotExecute { .. } => None,
        }
    }
}

/// An action as an error message names it; a long unknown one is cut.
struct Described<'a>(&'a Action);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Action::Getinfo => f.write_str("getinfo"),
            Action::Execute => f.write_str("execute"),
            Action::Other(a) if a.len() > 60 => {
                write!(f, "\"{}...\"", a.chars().take(40).collect::<String>())
            }
            Action::Other(a) => write!(f, "\"{a}\""),
            Action::Missing => f.write_str("a request without an action"),
        }
    }
}

/// Every message for splunkd (inspector messages, the `error` field,
/// stderr) names the command, and only this function adds the name.
pub fn tagged(text: impl fmt::Display) -> String {
    format!("{COMMAND}: {text}")
}

/// A message as one stderr line: [`tagged`], with line breaks escaped so a
/// message that quotes user input (an option value with a newline) stays
/// one line (splunkd copies every stderr line into search.log). Every
/// message the binary writes to stderr, offline too, takes this form.
pub fn stderr_line(text: impl fmt::Display) -> String {
    tagged(text)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace('\u{85}', "\\u{85}")
        .replace('\u{2028}', "\\u{2028}")
        .replace('\u{2029}', "\\u{2029}")
}

/// Adds one inspector message, named after the command.
pub(crate) fn inform(reply: &mut Reply, level: &str, text: impl fmt::Display) {
    reply.inspector.message(level, tagged(text));
}

/// The ERROR reply to the pending request, the one form every failure takes
/// in Splunk: the messages, `finished: true` and `error`, never an extra
/// chunk (PROTOCOL.md §5.4).
pub(crate) fn error_reply(err: &Error) -> Reply {
    let mut reply = Reply {
        finished: Some(true),
        error: Some(tagged(err)),
        ..Reply::default()
    };
    for message in err.messages() {
        inform(&mut reply, "ERROR", message);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stderr_line_is_tagged_and_escapes_line_breaks() {
        assert_eq!(stderr_line("a\nb\r\nc"), "regsvcsdetect: a\\nb\\r\\nc");
        assert_eq!(stderr_line("plain"), "regsvcsdetect: plain");
    }
}
