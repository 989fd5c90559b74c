//! `record=t`: the recording files in the dispatch directory and the redacted getinfo chunk that opens them; the bytes after it reach them through the session's tee.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::protocol::{format_header, Chunk};

use super::error::COMMAND;

/// Where a recording goes: splunkd's dispatch directory for this search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The dispatch directory.
    pub(crate) dir: String,
    /// The search id, which names the files.
    pub(crate) sid: String,
}

/// The two open recording files, the input one already holding the getinfo
/// chunk.
#[derive(Debug)]
pub(crate) struct Recording {
    /// Receives every request byte after the getinfo chunk.
    pub(crate) input: File,
    /// Receives every reply byte, the getinfo reply included.
    pub(crate) output: File,
}

impl Recording {
    /// Creates `<command>.<sid>.input` and `.output` in the dispatch
    /// directory and writes the getinfo chunk into the first, with its
    /// session key redacted and the header's lengths to match.
    ///
    /// # Errors
    ///
    /// A file cannot be created or written.
    pub(crate) fn start(target: &Target, getinfo: &Chunk) -> io::Result<Recording> {
        let safe: String = target
            .sid
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = Path::new(&target.dir);
        let open = |ext: &str| File::create(base.join(format!("{COMMAND}.{safe}.{ext}")));
        let mut input = open("input")?;
        let output = open("output")?;
        let meta = redact_session_key(&getinfo.metadata);
        let header = format_header(meta.len(), getinfo.body.len());
        input.write_all(header.as_bytes())?;
        input.write_all(&meta)?;
        input.write_all(&getinfo.body)?;
        Ok(Recording { input, output })
    }
}

/// The getinfo metadata with `searchinfo.session_key` replaced, for
/// recordings; the key must reach no file. Metadata that does not parse as
/// a JSON object is recorded as `{}` rather than verbatim.
fn redact_session_key(metadata: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(metadata);
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return b"{}".to_vec();
    };
    if !value.is_object() {
        return b"{}".to_vec();
    }
    if let Some(key) = value
        .get_mut("searchinfo")
        .and_then(|si| si.get_mut("session_key"))
    {
        *key = serde_json::Value::from("<redacted>");
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_getinfo_has_no_session_key() {
        let meta = br#"{"action":"getinfo","searchinfo":{"sid":"1.2","session_key":"s3cret"}}"#;
        let out = redact_session_key(meta);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("\"sid\":\"1.2\""), "{text}");
        assert_eq!(redact_session_key(b"[1]"), b"{}");
        assert_eq!(redact_session_key(b"not json s3cret"), b"{}");
    }
}
