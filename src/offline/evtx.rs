//! Binary Windows event logs (`.evtx`) for `run`: the file header, then one 64 KiB chunk at a time through the `evtx` crate, each record rendered to XML and read into the same [`XmlEvent`] the XML path gives; no field mapping here.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::Arc;

use evtx::{EvtxChunkData, ParserSettings};

use super::input::ReadError;
use super::xml::{self, XmlEvent};

/// The signature an EVTX file starts with.
pub(crate) const MAGIC: &[u8; 8] = b"ElfFile\0";

/// The file header block before the first chunk: 4 KiB.
pub(crate) const FILE_HEADER_BYTES: usize = 4096;

/// One chunk: 64 KiB, its own string and template tables, and its records.
pub(crate) const CHUNK_BYTES: usize = 65536;

/// A never-written chunk, compared with a single `memcmp`.
static ZEROS: [u8; CHUNK_BYTES] = [0; CHUNK_BYTES];

/// Where in an EVTX file a record or a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The chunk, counted from 0 (it starts at byte 4096 + 65536 × chunk).
    pub(crate) chunk: u64,
    /// The record's number (its `EventRecordID`), when it is known.
    pub record: Option<u64>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Some(r) => write!(f, "chunk {}:record {r}", self.chunk),
            None => write!(f, "chunk {}", self.chunk),
        }
    }
}

/// An error and its sources, one sentence: the `evtx` crate nests its reasons.
fn reason(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The record number an error names, however deep the crate nests it.
fn record_id(e: &evtx::err::EvtxError) -> Option<u64> {
    use evtx::err::EvtxError;
    match e {
        EvtxError::FailedToParseRecord { record_id, .. } => Some(*record_id),
        EvtxError::FailedToReadRecordAt { source, .. } => record_id(source),
        _ => None,
    }
}

/// Reads up to `buf.len()` bytes; fewer only at the end of the input.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Escapes a value the way Windows writes text in its XML rendering (and so
/// in Splunk's `XmlWinEventLog`): `&`, `<` and `>` only.
pub(crate) fn windows_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Reads every record of an EVTX stream in file order and calls
/// `each(place, event)`. Memory holds one chunk at a time, so it stays flat
/// whatever the file size; the input needs no seeking (gzip, stdin).
/// Chunks that are all zeros (never written) are skipped. Chunk and record
/// CRC32s are checked.
///
/// # Errors
///
/// A file header without the signature, a file that ends inside its header
/// or a chunk, a chunk or record the crate cannot read (with its chunk and
/// record), or whatever `each` returns.
pub fn read(
    mut reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(Place, XmlEvent) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut header = vec![0u8; FILE_HEADER_BYTES];
    let got = fill(&mut reader, &mut header).map_err(|e| ReadError::io(&e))?;
    if !header.starts_with(MAGIC) {
        return Err(ReadError::whole("not an EVTX file: no ElfFile signature"));
    }
    if got < FILE_HEADER_BYTES {
        return Err(ReadError::whole(format!(
            "truncated EVTX file: the file header is {got} of {FILE_HEADER_BYTES} bytes"
        )));
    }
    let settings = Arc::new(ParserSettings::new().validate_checksums(true));
    for chunk in 0u64.. {
        let at = |record: Option<u64>, why: String| ReadError::evtx(Place { chunk, record }, why);
        let mut data = vec![0u8; CHUNK_BYTES];
        let got = fill(&mut reader, &mut data).map_err(|e| ReadError::io(&e))?;
        if got == 0 {
            return Ok(());
        }
        if got < CHUNK_BYTES {
            return Err(at(
                None,
                format!("truncated EVTX file: the file ends {got} bytes into this chunk of {CHUNK_BYTES}"),
            ));
        }
        if data[..] == ZEROS[..] {
            continue;
        }
        let mut chunk_data = EvtxChunkData::new(data, true).map_err(|e| at(None, reason(&e)))?;
        let mut parsed = chunk_data
            .parse(Arc::clone(&settings))
            .map_err(|e| at(None, reason(&e)))?;
        for record in parsed.iter() {
            let record = record.map_err(|e| at(record_id(&e), reason(&e)))?;
            let id = record.event_record_id;
            let rendered = record
                .into_xml_bytes()
                .map_err(|e| at(Some(id), reason(&e)))?;
            let place = Place {
                chunk,
                record: Some(id),
            };
            let mut events = Vec::with_capacity(1);
            xml::read(Box::new(io::Cursor::new(rendered.data)), &mut |ev| {
                events.push(ev);
                Ok(())
            })
            .map_err(|e| {
                at(
                    Some(id),
                    format!("the record renders to bad XML: {}", e.reason),
                )
            })?;
            if events.len() != 1 {
                return Err(at(
                    Some(id),
                    format!("the record renders to {} events, not one", events.len()),
                ));
            }
            for mut ev in events {
                // What Splunk would have been handed: Windows' own escaping.
                ev.data_raw = ev
                    .data
                    .iter()
                    .map(|(n, v)| (n.clone(), windows_escape(v)))
                    .collect();
                each(place, ev)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(bytes: Vec<u8>) -> Result<Vec<(Place, XmlEvent)>, ReadError> {
        let mut out = Vec::new();
        read(Box::new(io::Cursor::new(bytes)), &mut |p, e| {
            out.push((p, e));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn places_read_like_compiler_positions() {
        let p = Place {
            chunk: 2,
            record: Some(7),
        };
        assert_eq!(p.to_string(), "chunk 2:record 7");
        assert_eq!(
            Place {
                chunk: 0,
                record: None
            }
            .to_string(),
            "chunk 0"
        );
    }

    #[test]
    fn short_and_foreign_headers_are_refused() {
        let e = events(b"ElfFile\0abc".to_vec()).unwrap_err();
        assert!(
            e.reason.to_string().contains("file header is 11 of 4096"),
            "{e:?}"
        );
        let e = events(vec![b'x'; 5000]).unwrap_err();
        assert!(
            e.reason.to_string().contains("no ElfFile signature"),
            "{e:?}"
        );
    }

    #[test]
    fn empty_chunks_are_skipped_and_partial_chunks_refused() {
        let mut file = MAGIC.to_vec();
        file.resize(FILE_HEADER_BYTES + CHUNK_BYTES, 0);
        assert!(events(file.clone()).unwrap().is_empty());
        file.extend_from_slice(&[1, 2, 3]);
        let e = events(file).unwrap_err();
        assert_eq!(
            e.describe("f.evtx"),
            "f.evtx:chunk 1: truncated EVTX file: the file ends 3 bytes into this chunk of 65536"
        );
    }

    #[test]
    fn a_chunk_without_its_signature_is_corrupt() {
        let mut file = MAGIC.to_vec();
        file.resize(FILE_HEADER_BYTES + CHUNK_BYTES, 0);
        file[FILE_HEADER_BYTES] = b'Z';
        let e = events(file).unwrap_err();
        assert!(e.describe("f").starts_with("f:chunk 0: "), "{e:?}");
    }

    #[test]
    fn windows_escapes_only_markup_characters() {
        assert_eq!(
            windows_escape(r#""a" & <b> 'c'"#),
            r#""a" &amp; &lt;b&gt; 'c'"#
        );
    }
}
