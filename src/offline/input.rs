//! Opening offline inputs: a file or stdin, gzip found by its magic bytes, the format sniffed from the first bytes, directories walked in sorted order, and the readers dispatched per format.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::evtx::{self, Place};
use super::sysmon::{self, Kind, Model};
use super::Record;
use super::{jsonl, tabular, xml};
use crate::detect;

/// Read buffer for input files: 64 KiB.
const READ_CAPACITY_BYTES: usize = 64 << 10;

/// Bytes looked at to guess the format: 4 KiB.
const SNIFF_BYTES: u64 = 4 << 10;

/// The gzip magic number (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row and optional `__mv_` columns (Splunk's export).
    Csv,
    /// One JSON object per line, flat or Splunk's `{"result":{...}}` export.
    Json,
    /// Windows XML events (`XmlWinEventLog`), one per line or pretty-printed.
    Xml,
    /// Binary Windows event logs (`.evtx`), found by their `ElfFile` signature.
    Evtx,
}

impl Format {
    /// Parses `csv`, `json` (or `jsonl`), `xml` and `evtx`.
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" | "jsonl" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            "evtx" => Some(Format::Evtx),
            _ => None,
        }
    }

    /// The format's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xml => "xml",
            Format::Evtx => "evtx",
        }
    }

    /// Every format, in the summary's order.
    pub const ALL: [Format; 4] = [Format::Csv, Format::Json, Format::Xml, Format::Evtx];

    /// Guesses the format from the first bytes: the `ElfFile` signature is
    /// EVTX, `<` is XML, `{` is JSON, anything else CSV (a UTF-8 byte order
    /// mark and whitespace skipped).
    pub(crate) fn sniff(head: &[u8]) -> Format {
        if head.starts_with(evtx::MAGIC) {
            return Format::Evtx;
        }
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => Format::Xml,
            Some(b'{') => Format::Json,
            _ => Format::Csv,
        }
    }
}

/// A problem in one input, at a line or an EVTX chunk and record when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line of the problem in the (decompressed) text.
    pub(crate) line: Option<u64>,
    /// The chunk and record of the problem in an EVTX file.
    pub(crate) evtx: Option<Place>,
    /// What is wrong.
    pub(crate) reason: Reason,
}

/// What is wrong with an input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The bytes are not a record of the format (or cannot be read).
    Malformed(String),
    /// The engine reached a limit on this record.
    Engine(detect::Error),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Malformed(text) => f.write_str(text),
            Reason::Engine(e) => write!(f, "{e}"),
        }
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason::Malformed(text)
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason::Malformed(text.to_string())
    }
}

impl From<detect::Error> for Reason {
    fn from(e: detect::Error) -> Reason {
        Reason::Engine(e)
    }
}

impl ReadError {
    /// An error at `line`.
    pub(crate) fn at(line: u64, reason: impl Into<Reason>) -> ReadError {
        ReadError {
            line: Some(line),
            evtx: None,
            reason: reason.into(),
        }
    }

    /// An error in an EVTX chunk or record.
    pub(crate) fn evtx(place: Place, reason: impl Into<Reason>) -> ReadError {
        ReadError {
            line: None,
            evtx: Some(place),
            reason: reason.into(),
        }
    }

    /// An error about the whole input, at no place in it.
    pub(crate) fn whole(reason: impl Into<Reason>) -> ReadError {
        ReadError {
            line: None,
            evtx: None,
            reason: reason.into(),
        }
    }

    /// An error with no line (I/O, decompression).
    pub(crate) fn io(e: &io::Error) -> ReadError {
        ReadError::whole(format!("cannot read: {e}"))
    }

    /// `name:line: reason` or `name:chunk N:record M: reason`, the way
    /// compilers name a place in a file.
    pub(crate) fn describe(&self, name: &str) -> String {
        match (self.line, self.evtx) {
            (Some(line), _) => format!("{name}:{line}: {}", self.reason),
            (None, Some(place)) => format!("{name}:{place}: {}", self.reason),
            (None, None) => format!("{name}: {}", self.reason),
        }
    }
}

/// A [`ReadError`] in the input it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputError {
    /// The input's name (its path, or `<stdin>`).
    pub name: String,
    /// What is wrong, and where.
    pub(crate) error: ReadError,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error.describe(&self.name))
    }
}

impl std::error::Error for InputError {}

/// One record read from an input.
#[derive(Debug, Clone)]
pub struct Item {
    /// 1-based line where the record starts (0 for EVTX records).
    pub(crate) line: u64,
    /// The chunk and record of an EVTX record.
    pub(crate) evtx: Option<Place>,
    /// Field name and values; several values make a multivalue field.
    pub record: Record,
    /// For Windows events, the CIM dataset the event maps to.
    pub(crate) model: Option<Model>,
    /// For Windows events, which kind of event it is.
    pub kind: Option<Kind>,
}

impl Item {
    /// Where the record is in its input: `12` (a line) or `chunk 0:record 48`.
    pub(crate) fn place(&self) -> String {
        match self.evtx {
            Some(p) => p.to_string(),
            None => self.line.to_string(),
        }
    }
}

/// Expands inputs: a directory becomes every regular file below it, in
/// sorted path order, descending into subdirectories where they sort (names
/// starting with `.` skipped, symbolic links to directories not followed);
/// anything else is kept as given.
///
/// # Errors
///
/// A directory cannot be listed.
pub(crate) fn expand(inputs: &[String]) -> Result<Vec<String>, FileError> {
    fn walk(dir: &Path, out: &mut Vec<String>) -> Result<(), FileError> {
        let list = std::fs::read_dir(dir).map_err(|e| FileError::new(dir, "list", e))?;
        let mut entries = Vec::new();
        for entry in list {
            let entry = entry.map_err(|e| FileError::new(dir, "list", e))?;
            entries.push(entry.path());
        }
        entries.sort();
        for path in entries {
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let kind =
                std::fs::symlink_metadata(&path).map_err(|e| FileError::new(&path, "read", e))?;
            if kind.is_dir() {
                walk(&path, out)?;
            } else if kind.is_file() || path.is_file() {
                out.push(path.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for input in inputs {
        if input != "-" && Path::new(input).is_dir() {
            walk(Path::new(input), &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

/// A file or directory that cannot be listed, opened or read.
#[derive(Debug)]
pub(crate) struct FileError {
    /// The path as the user gave it (or as found below a directory).
    pub(crate) path: String,
    /// What was tried: `list`, `read`.
    pub(crate) action: &'static str,
    /// Why it failed.
    pub(crate) source: io::Error,
}

impl FileError {
    /// `action` on `path` failed with `source`.
    pub fn new(path: impl AsRef<Path>, action: &'static str, source: io::Error) -> FileError {
        FileError {
            path: path.as_ref().display().to_string(),
            action,
            source,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: cannot {}: {}", self.path, self.action, self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Opens `path` (`-` is stdin) and undoes gzip when the content starts with
/// its magic bytes, whatever the file name.
///
/// # Errors
///
/// The file cannot be opened or read.
pub(crate) fn open(path: &str) -> io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    decompress(raw)
}

/// Wraps `raw` in a gzip decoder when it starts with the gzip magic.
///
/// # Errors
///
/// Reading the first two bytes failed.
pub fn decompress(mut raw: Box<dyn Read>) -> io::Result<Box<dyn BufRead>> {
    let mut head = Vec::with_capacity(2);
    raw.by_ref().take(2).read_to_end(&mut head)?;
    let gzip = head == GZIP_MAGIC;
    let whole = Cursor::new(head).chain(raw);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            READ_CAPACITY_BYTES,
            MultiGzDecoder::new(whole),
        ))
    } else {
        Box::new(BufReader::with_capacity(READ_CAPACITY_BYTES, whole))
    })
}

/// Reads the first bytes to guess the format (unless `forced`) and returns a
/// reader that still yields every byte.
///
/// # Errors
///
/// Reading (or decompressing) the first bytes failed.
pub fn detect(
    mut reader: Box<dyn BufRead>,
    forced: Option<Format>,
) -> io::Result<(Format, Box<dyn BufRead>)> {
    let mut head = Vec::new();
    reader.by_ref().take(SNIFF_BYTES).read_to_end(&mut head)?;
    let format = forced.unwrap_or_else(|| Format::sniff(&head));
    Ok((format, Box::new(Cursor::new(head).chain(reader))))
}

/// Reads every record of `reader` in `format`, calling `each` in order.
/// Windows XML events are mapped to CIM fields (see [`sysmon::map`]).
///
/// # Errors
///
/// The input is malformed (with its line), cannot be read, or `each`
/// failed (its message, at the record's line).
pub fn read(
    reader: Box<dyn BufRead>,
    format: Format,
    each: &mut dyn FnMut(Item) -> Result<(), detect::Error>,
) -> Result<(), ReadError> {
    match format {
        Format::Csv | Format::Json => {
            let rows = if format == Format::Csv {
                tabular::read
            } else {
                jsonl::read
            };
            rows(reader, &mut |line, record| {
                each(Item {
                    line,
                    evtx: None,
                    record,
                    model: None,
                    kind: None,
                })
                .map_err(|e| ReadError::at(line, e))
            })
        }
        Format::Xml => xml::read(reader, &mut |event| {
            let line = event.line;
            let mapped = sysmon::map(&event);
            each(Item {
                line,
                evtx: None,
                record: mapped.record,
                model: Some(mapped.model),
                kind: Some(mapped.kind),
            })
            .map_err(|e| ReadError::at(line, e))
        }),
        Format::Evtx => evtx::read(reader, &mut |place, event| {
            let mapped = sysmon::map(&event);
            each(Item {
                line: 0,
                evtx: Some(place),
                record: mapped.record,
                model: Some(mapped.model),
                kind: Some(mapped.kind),
            })
            .map_err(|e| ReadError::evtx(place, e))
        }),
    }
}

/// Reads bytes already in memory (bundled samples, tests), gzip or not.
///
/// # Errors
///
/// As [`read`].
pub(crate) fn read_bytes(
    bytes: &'static [u8],
    forced: Option<Format>,
    each: &mut dyn FnMut(Item) -> Result<(), detect::Error>,
) -> Result<Format, ReadError> {
    let reader = decompress(Box::new(bytes)).map_err(|e| ReadError::io(&e))?;
    let (format, reader) = detect(reader, forced).map_err(|e| ReadError::io(&e))?;
    read(reader, format, each)?;
    Ok(format)
}

/// What `tabular::read` and `jsonl::read` share: rows of a text input, by line.
#[cfg(test)]
pub(crate) type RowReader = fn(
    Box<dyn BufRead>,
    &mut dyn FnMut(u64, Record) -> Result<(), ReadError>,
) -> Result<(), ReadError>;

/// Every (line, record) `read` finds in `text`, for the readers' tests.
#[cfg(test)]
pub(crate) fn rows_of(
    read: RowReader,
    text: &'static str,
) -> Result<Vec<(u64, Record)>, ReadError> {
    let mut out = Vec::new();
    read(Box::new(text.as_bytes()), &mut |line, r| {
        out.push((line, r));
        Ok(())
    })?;
    Ok(out)
}

/// `s` as bytes, for the readers' tests.
#[cfg(test)]
pub(crate) fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_looks_at_the_first_non_blank_byte() {
        assert_eq!(Format::sniff(b"  \n<Event"), Format::Xml);
        assert_eq!(Format::sniff(b"\xef\xbb\xbf{\"a\":1}"), Format::Json);
        assert_eq!(Format::sniff(b"_time,dest\n"), Format::Csv);
        assert_eq!(Format::sniff(b""), Format::Csv);
    }

    #[test]
    fn gzip_is_found_by_magic_bytes() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(b"a,b\n1,2\n").unwrap();
        let gz = enc.finish().unwrap();
        let mut text = String::new();
        decompress(Box::new(Cursor::new(gz)))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a,b\n1,2\n");
        let mut plain = String::new();
        decompress(Box::new(&b"x"[..]))
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "x");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = ReadError::at(7, "ragged row");
        assert_eq!(e.describe("a.csv"), "a.csv:7: ragged row");
    }
}
