//! A chunk's CSV body to rows and back; it never interprets a field.
//!
//! Reading ([`BodyReader`], in `read.rs`) maps the header by name, runs the
//! literal prefilter over a rolling buffer ([`split`] finds the records,
//! with `vector.rs`'s loops)
//! and decodes the records that may match, or, on several threads, has each
//! read and file windows of whole records (`relay.rs`); `mv.rs` holds Splunk's `__mv_`
//! cell encoding; writing (`write.rs`) quotes cells as splunkd reads them
//! and streams the engine's results.

use std::fmt;

mod decode;
mod mv;
mod read;
mod relay;
mod split;
mod vector;
mod write;

pub use mv::{decode_mv, encode_mv};
pub(crate) use read::holding_first_error;
pub use read::{BodyCounts, BodyReader, CsvRow};
pub(crate) use relay::{Relay, Window};
pub use write::{results_len, write_results};

#[cfg(test)]
pub(crate) use split::Records;
#[cfg(test)]
pub(crate) use write::{write_cell, write_table};
pub(crate) use write::{
    write_csv, write_records, write_result_rows, write_results_header, NamedValues,
};

/// The largest single field accepted: 64 MiB. The Python SDK raised its CSV
/// field limit to 10 MiB for Splunk; this leaves room above that.
pub const MAX_FIELD_BYTES: usize = 64 << 20;

/// A body that cannot be read, with the record it was found in.
#[derive(Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    record: u64,
}

/// What was wrong with a body. (The decoder reads any bytes, as the csv
/// crate it is tested against does, so malformed quoting is no error: a
/// quote left open runs to the end of the body.)
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A field is larger than [`MAX_FIELD_BYTES`].
    FieldTooLarge {
        /// The field's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The body has bytes but no header record.
    EmptyHeader,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, record: u64) -> Error {
        Error { kind, record }
    }

    /// What was wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The record it was found in: 0 for the header, then 1 for the first
    /// record handed on to the engine, and so on.
    pub fn record(&self) -> u64 {
        self.record
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, self.record) {
            (ErrorKind::FieldTooLarge { len, limit }, n) => write!(
                f,
                "a field is larger than the limit of {limit} bytes ({len} bytes, kept row {n})"
            ),
            (ErrorKind::EmptyHeader, _) => {
                f.write_str("cannot read the CSV header: the header is empty")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
use read::Needle;
#[cfg(test)]
use regex::bytes::Regex;

#[cfg(test)]
mod tests;
