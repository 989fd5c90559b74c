//! `regsvcsdetect replay`: plays a recorded request stream through the protocol engine in-process, shows each reply readably, and compares the replies byte for byte with a recorded output.

use std::io::{Cursor, Read};

use serde_json::Value;

use super::input::{self, FileError};
use super::table::{self, Style};
use crate::command::{stderr_line, Outcome, Session};
use crate::detect::Table;
use crate::protocol::{Chunk, ChunkReader};

/// What `replay --help` says above the arguments.
pub(crate) const ABOUT: &str = "\
Plays a recorded request stream (record=t writes <dispatch_dir>/regsvcsdetect.<sid>.input
and .output; gzip is undone) through the command in this process and prints every
reply: its metadata JSON, inspector messages and body as a table. With --expect, the
replies must equal the recorded ones byte for byte; the first differing chunk is named
and the exit code is 1. Recording is off during a replay. Times render in this process's
time zone unless the recorded search gave tz=.";

/// `replay`'s command line, as clap reads it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The recorded request stream
    #[arg(value_name = "FILE.input")]
    pub(crate) input: String,
    /// The recorded replies, which the replayed ones must equal byte for byte
    #[arg(long, value_name = "FILE.output")]
    pub(crate) expect: Option<String>,
}

/// Array items shown by a brief description.
const BRIEF_ITEMS: usize = 4;

/// One chunk of a stream, with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawChunk {
    /// Header line, metadata and body as they were written.
    pub(crate) bytes: Vec<u8>,
    /// The metadata.
    pub metadata: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
}

/// Splits a stream into chunks. A malformed tail ends the list and is
/// described in the second value.
pub(crate) fn split(stream: &[u8]) -> (Vec<RawChunk>, Option<String>) {
    let mut reader = ChunkReader::new(Cursor::new(stream));
    let mut chunk = Chunk::default();
    let mut out = Vec::new();
    loop {
        match reader.read_chunk(&mut chunk) {
            Ok(false) => return (out, None),
            Ok(true) => {
                let mut bytes = reader.header_line().to_vec();
                bytes.extend_from_slice(&chunk.metadata);
                bytes.extend_from_slice(&chunk.body);
                out.push(RawChunk {
                    bytes,
                    metadata: chunk.metadata.clone(),
                    body: chunk.body.clone(),
                });
            }
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

/// Replays `input` through a [`Session`] and returns its reply bytes and outcome.
pub(crate) fn replay(input: &[u8]) -> (Vec<u8>, Outcome) {
    let mut out = Vec::new();
    let outcome = Session::new(Cursor::new(input), &mut out)
        .without_recording()
        .run();
    (out, outcome)
}

/// Where two reply streams first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Difference {
    /// Chunk `chunk` (1-based) differs, first at byte `offset` within it.
    Chunk {
        /// 1-based chunk number.
        chunk: usize,
        /// First differing byte within the chunk.
        offset: usize,
        /// Expected chunk length.
        expected_len: usize,
        /// Actual chunk length.
        actual_len: usize,
    },
    /// One stream has more chunks.
    Count {
        /// Chunks expected.
        expected: usize,
        /// Chunks produced.
        actual: usize,
    },
    /// The chunks are equal but the streams are not (bytes between chunks).
    Framing,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Chunk {
                chunk,
                offset,
                expected_len,
                actual_len,
            } => write!(
                f,
                "reply chunk {chunk} differs at byte {offset} (expected {expected_len} bytes, got {actual_len})"
            ),
            Difference::Count { expected, actual } => {
                write!(f, "expected {expected} reply chunks, got {actual}")
            }
            Difference::Framing => write!(f, "the chunks match but the bytes between them differ"),
        }
    }
}

/// Compares two reply streams chunk by chunk; `None` when byte-identical.
pub(crate) fn compare(expected: &[u8], actual: &[u8]) -> Option<Difference> {
    if expected == actual {
        return None;
    }
    let (e, _) = split(expected);
    let (a, _) = split(actual);
    for (i, (x, y)) in e.iter().zip(&a).enumerate() {
        if x.bytes != y.bytes {
            let offset = x
                .bytes
                .iter()
                .zip(&y.bytes)
                .position(|(p, q)| p != q)
                .unwrap_or(x.bytes.len().min(y.bytes.len()));
            return Some(Difference::Chunk {
                chunk: i + 1,
                offset,
                expected_len: x.bytes.len(),
                actual_len: y.bytes.len(),
            });
        }
    }
    if e.len() != a.len() {
        return Some(Difference::Count {
            expected: e.len(),
            actual: a.len(),
        });
    }
    Some(Difference::Framing)
}

/// A CSV body as a table (columns as written, `__mv_` ones included).
pub(crate) fn body_table(body: &[u8]) -> Table {
    let mut table = Table::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut first = true;
    for record in reader.byte_records() {
        let Ok(record) = record else { break };
        if first {
            table.columns = record
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            first = false;
        } else {
            table.rows.push(record.iter().map(<[u8]>::to_vec).collect());
        }
    }
    table
}

/// A reply for people: metadata JSON (inspector shown apart), inspector
/// messages and metrics, and the body as a table.
/// With `brief`, long arrays (`required_fields`) are cut to their first names.
pub(crate) fn describe_reply(metadata: &[u8], body: &[u8], brief: bool) -> String {
    let mut out = String::new();
    let mut rest: Value = serde_json::from_slice(metadata).unwrap_or(Value::Null);
    if brief {
        if let Some(map) = rest.as_object_mut() {
            for v in map.values_mut() {
                if let Some(list) = v.as_array_mut().filter(|l| l.len() > BRIEF_ITEMS) {
                    let n = list.len();
                    list.truncate(BRIEF_ITEMS);
                    list.push(Value::String(format!("… {n} in all")));
                }
            }
        }
    }
    let inspector = rest
        .as_object_mut()
        .and_then(|m| m.remove("inspector"))
        .unwrap_or(Value::Null);
    if rest.is_null() {
        out.push_str(&format!(
            "  metadata: {}\n",
            String::from_utf8_lossy(metadata)
        ));
    } else {
        out.push_str(&format!("  metadata: {rest}\n"));
    }
    if let Some(list) = inspector.get("messages").and_then(Value::as_array) {
        for m in list {
            let level = m.get(0).and_then(Value::as_str).unwrap_or("?");
            let text = m.get(1).and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!("  {level}: {text}\n"));
        }
    }
    if let Some(obj) = inspector.as_object() {
        let metrics: Vec<String> = obj
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("metric.").map(|k| format!("{k}={v}")))
            .collect();
        if !metrics.is_empty() {
            out.push_str(&format!("  metrics: {}\n", metrics.join(" ")));
        }
    }
    if body.is_empty() {
        out.push_str("  body: (empty)\n");
    } else {
        let t = body_table(body);
        out.push_str(&format!("  body: {} rows\n", t.rows.len()));
        for l in table::render(&t, Style::Auto).lines() {
            out.push_str(format!("    {l}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// One request for people: its action, `finished` and body size.
fn describe_request(chunk: &RawChunk) -> String {
    let meta: Value = serde_json::from_slice(&chunk.metadata).unwrap_or(Value::Null);
    let action = meta.get("action").and_then(Value::as_str).unwrap_or("?");
    let mut s = action.to_string();
    if let Some(f) = meta.get("finished").and_then(Value::as_bool) {
        s.push_str(&format!(", finished={f}"));
    }
    if let Some(args) = meta.pointer("/searchinfo/args").and_then(Value::as_array) {
        let args: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
        s.push_str(&format!(", args: {}", args.join(" ")));
    }
    if !chunk.body.is_empty() {
        let rows = body_table(&chunk.body).rows.len();
        s.push_str(&format!(", {} body bytes, {rows} rows", chunk.body.len()));
    }
    s
}

fn read_file(path: &str) -> Result<Vec<u8>, FileError> {
    let mut data = Vec::new();
    input::open(path)
        .and_then(|mut r| r.read_to_end(&mut data))
        .map_err(|e| FileError::new(path, "read", e))?;
    Ok(data)
}

/// Runs `regsvcsdetect replay`: 0 when replayed (and equal to
/// `--expect`), 1 on a difference or unreadable file.
pub(crate) fn main(args: ReplayArgs) -> u8 {
    let ReplayArgs {
        input: file,
        expect,
    } = args;
    let input = match read_file(&file) {
        Ok(d) => d,
        Err(e) => {
            super::complain(e);
            return 1;
        }
    };
    let expected = match expect.as_deref().map(read_file).transpose() {
        Ok(e) => e,
        Err(e) => {
            super::complain(e);
            return 1;
        }
    };
    let (output, outcome) = replay(&input);
    let (requests, bad) = split(&input);
    let (replies, _) = split(&output);
    let mut text = String::new();
    for (i, reply) in replies.iter().enumerate() {
        let request = requests
            .get(i)
            .map_or_else(|| "(no request)".to_string(), describe_request);
        text.push_str(&format!("chunk {}: {request}\n", i + 1));
        text.push_str(&describe_reply(&reply.metadata, &reply.body, false));
    }
    if let Some(bad) = bad {
        text.push_str(&stderr_line(format_args!(
            "the recording ends with a malformed chunk: {bad}"
        )));
        text.push('\n');
    }
    match &outcome {
        // The line the binary writes to stderr, as splunkd's search.log shows it.
        Outcome::Failed(err) => {
            text.push_str(&stderr_line(err));
            text.push('\n');
        }
        Outcome::Done | Outcome::Closed => {}
    }
    let code = super::say(&text);
    let Some(expected) = expected else {
        return code;
    };
    match compare(&expected, &output) {
        None => {
            super::complain(format_args!(
                "{} reply chunks, byte-identical to {}",
                replies.len(),
                expect.unwrap_or_default()
            ));
            code
        }
        Some(d) => {
            super::complain(d);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(meta: &str, body: &str) -> Vec<u8> {
        format!("chunked 1.0,{},{}\n{meta}{body}", meta.len(), body.len()).into_bytes()
    }

    #[test]
    fn compare_names_the_first_differing_chunk() {
        let a = [chunk("{}", ""), chunk("{\"x\":1}", "a\n")].concat();
        let b = [chunk("{}", ""), chunk("{\"x\":2}", "a\n")].concat();
        assert_eq!(compare(&a, &a), None);
        assert_eq!(
            compare(&a, &b),
            Some(Difference::Chunk {
                chunk: 2,
                offset: 21,
                expected_len: 25,
                actual_len: 25
            })
        );
        assert_eq!(
            compare(&a, &chunk("{}", "")),
            Some(Difference::Count {
                expected: 2,
                actual: 1
            })
        );
    }

    #[test]
    fn replies_are_described_with_messages_and_tables() {
        let meta =
            r#"{"finished":true,"inspector":{"messages":[["WARN","careful"]],"metric.rows_in":3}}"#;
        let text = describe_reply(meta.as_bytes(), b"a,b\n1,2\n", true);
        assert!(text.contains("metadata: {\"finished\":true}"), "{text}");
        assert!(text.contains("WARN: careful"), "{text}");
        assert!(text.contains("metrics: rows_in=3"), "{text}");
        assert!(text.contains("    a  b\n"), "{text}");
    }
}
