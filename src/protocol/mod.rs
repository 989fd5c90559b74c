//! SCP v2 framing: chunk headers, sized reads and writes, and the JSON metadata types; no CSV and no detection logic.
//!
//! # Format
//!
//! Every message in either direction is one chunk: an ASCII header line that
//! gives the byte lengths of the JSON metadata and of the CSV body, then the
//! metadata, then the body, with nothing in between and nothing after:
//!
//! ```text
//! chunked 1.0,36,42
//! {"action":"execute","finished":true}_time,process_name
//! 1700000000,RegSvcs.exe
//! ```
//!
//! The 36 metadata bytes end at `}` and the body follows at once: two CSV
//! lines, each ending in `\n`, 42 bytes. (A unit test reads this block.)

mod header;
mod metadata;
mod reader;
mod writer;

pub use header::{format_header, parse_header, Header, MAX_HEADER_BYTES};
pub use metadata::{percent_decode, Action, Inspector, Reply, Request, SearchInfo};
pub use reader::{Chunk, ChunkReader, MAX_CHUNK_BYTES, MAX_METADATA_BYTES};
pub(crate) use writer::ChunkWriter;

use std::fmt;
use std::io;

/// A framing error, with the chunk number and the stream offset where it happened.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// 1-based number of the chunk being read or written.
    chunk: u64,
    /// Byte offset into the input stream where that chunk started.
    offset: u64,
}

/// What went wrong while reading or writing a chunk.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The underlying stream failed (a broken pipe on stdout lands here).
    Io(io::Error),
    /// The header line is not `chunked 1.0,<M>,<B>`.
    HeaderMalformed {
        /// The offending line, lossily decoded and shortened for display.
        line: String,
    },
    /// The header names a protocol version other than 1.0.
    UnsupportedVersion {
        /// The version text as sent.
        version: String,
    },
    /// The stream ended inside a header, metadata or body.
    Truncated {
        /// Which part was cut: "header", "metadata" or "body".
        part: &'static str,
        /// Bytes the header promised for that part.
        expected: u64,
        /// Bytes that arrived before end of input.
        got: u64,
    },
    /// The header declares more bytes than [`MAX_CHUNK_BYTES`] allows.
    ChunkTooLarge {
        /// Declared metadata plus body length.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The header declares more metadata than [`MAX_METADATA_BYTES`] allows.
    MetadataTooLarge {
        /// Declared metadata length.
        len: u64,
    },
    /// The metadata is not a JSON object of the expected shape.
    MetadataInvalid {
        /// The JSON parser's message.
        reason: String,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, chunk: u64, offset: u64) -> Error {
        Error {
            kind,
            chunk,
            offset,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// True when the failure is a closed pipe, which ends the process quietly.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(&self.kind, ErrorKind::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "i/o error on chunk {}: {e}", self.chunk),
            ErrorKind::HeaderMalformed { line } => write!(
                f,
                "invalid chunk header {line:?} at chunk {} (byte {}): expected \"chunked 1.0,<metadata bytes>,<body bytes>\"",
                self.chunk, self.offset
            ),
            ErrorKind::UnsupportedVersion { version } => write!(
                f,
                "unsupported protocol version {version:?} at chunk {} (byte {}): only chunked 1.0 is spoken",
                self.chunk, self.offset
            ),
            ErrorKind::Truncated {
                part,
                expected,
                got,
            } => write!(
                f,
                "input ended inside the {part} of chunk {} (byte {}): expected {expected} bytes, got {got}",
                self.chunk, self.offset
            ),
            ErrorKind::ChunkTooLarge { len, limit } => write!(
                f,
                "chunk {} (byte {}) declares {len} bytes, more than the limit of {limit} bytes",
                self.chunk, self.offset
            ),
            ErrorKind::MetadataTooLarge { len } => write!(
                f,
                "chunk {} (byte {}) declares {len} bytes of metadata, more than the limit of {MAX_METADATA_BYTES} bytes",
                self.chunk, self.offset
            ),
            ErrorKind::MetadataInvalid { reason } => write!(
                f,
                "invalid metadata in chunk {} (byte {}): {reason}",
                self.chunk, self.offset
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_example_is_one_exact_chunk() {
        let doc = include_str!("mod.rs");
        let start = doc.find("//! ```text\n").expect("a text block") + "//! ```text\n".len();
        let end = start + doc[start..].find("//! ```\n").expect("its end");
        let wire: String = doc[start..end]
            .lines()
            .map(|l| format!("{}\n", l.trim_start_matches("//! ")))
            .collect();
        let mut reader = ChunkReader::new(std::io::Cursor::new(wire.as_bytes()));
        let mut chunk = Chunk::default();
        assert!(reader.read_chunk(&mut chunk).unwrap());
        assert_eq!(chunk.metadata, br#"{"action":"execute","finished":true}"#);
        assert_eq!(chunk.body, b"_time,process_name\n1700000000,RegSvcs.exe\n");
        assert!(
            !reader.read_chunk(&mut chunk).unwrap(),
            "nothing after the chunk"
        );
    }
}
