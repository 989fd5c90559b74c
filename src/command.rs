//! The exchange with splunkd (getinfo, then execute until end of input) and the only place that decides how a failure reaches Splunk.

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::body::{self, results_len, write_results, BodyReader};
use crate::detect::{Engine, Results, Stats};
use crate::options::{unquote, Options, Phase};
use crate::protocol::{self, Action, Chunk, ChunkReader, ChunkWriter, Reply, Request};

/// The SPL command name, used in `streaming_preop`.
pub const COMMAND: &str = "regsvcsdetect";

/// How a session ended, which decides the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// End of input after the last exchange: exit 0.
    Done,
    /// splunkd closed our stdout: exit 0 quietly.
    Closed,
    /// An ERROR was sent to splunkd (or could not be): exit 1. The text
    /// is the message as sent, `regsvcsdetect: ` included.
    Failed(String),
}

/// Something that stops the session.
enum Stop {
    /// Send an ERROR reply to the pending request, then exit 1. The text
    /// does not name the command: [`tagged`] adds that.
    Fail(String),
    /// The ERROR reply was already sent (this is its text); exit 1.
    Reported(String),
    /// stdout is closed; exit 0 quietly.
    Closed,
}

impl From<protocol::Error> for Stop {
    fn from(e: protocol::Error) -> Stop {
        if e.is_broken_pipe() {
            Stop::Closed
        } else {
            Stop::Fail(e.to_string())
        }
    }
}

impl From<body::Error> for Stop {
    fn from(e: body::Error) -> Stop {
        Stop::Fail(e.to_string())
    }
}

/// Every message for splunkd (inspector messages, the `error` field,
/// stderr) names the command, and only this function adds the name.
fn tagged(text: impl std::fmt::Display) -> String {
    format!("{COMMAND}: {text}")
}

/// Adds one inspector message, named after the command.
fn inform(reply: &mut Reply, level: &str, text: impl std::fmt::Display) {
    reply.inspector.message(level, tagged(text));
}

/// Tees the session's bytes into the dispatch directory (`record=t`).
struct Recorder {
    input: File,
    output: File,
}

impl Recorder {
    fn open(dir: &str, sid: &str) -> Result<Recorder, String> {
        let safe: String = sid
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = Path::new(dir);
        let open = |ext: &str| {
            let path = base.join(format!("{COMMAND}.{safe}.{ext}"));
            File::create(&path)
                .map_err(|e| format!("cannot record this session into the dispatch directory: {e}"))
        };
        Ok(Recorder {
            input: open("input")?,
            output: open("output")?,
        })
    }
}

fn record(file: &mut Option<File>, parts: &[&[u8]]) {
    if let Some(f) = file {
        if parts.iter().try_for_each(|p| f.write_all(p)).is_err() {
            *file = None;
        }
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

/// One protocol session over a request stream and a reply stream.
pub struct Session<R, W> {
    reader: ChunkReader<R>,
    writer: ChunkWriter<W>,
    chunk: Chunk,
    rec_in: Option<File>,
    rec_out: Option<File>,
    replaying: bool,
    deferred_warn: Option<String>,
}

impl<R: BufRead, W: Write> Session<R, W> {
    /// A session reading requests from `input` and writing replies to `output`.
    pub fn new(input: R, output: W) -> Session<R, W> {
        Session {
            reader: ChunkReader::new(input),
            writer: ChunkWriter::new(output),
            chunk: Chunk::default(),
            rec_in: None,
            rec_out: None,
            replaying: false,
            deferred_warn: None,
        }
    }

    /// Never records, whatever `record=` says, and never warns about it: a
    /// replayed recording names a dispatch directory that is usually gone,
    /// or is where the recording being replayed lives.
    pub fn without_recording(mut self) -> Session<R, W> {
        self.replaying = true;
        self
    }

    /// Runs the whole exchange until end of input.
    pub fn run(mut self) -> Outcome {
        match self.exchange() {
            Ok(()) => Outcome::Done,
            Err(Stop::Closed) => Outcome::Closed,
            Err(Stop::Reported(msg)) => Outcome::Failed(msg),
            Err(Stop::Fail(msg)) => {
                let msg = tagged(msg);
                let mut reply = Reply {
                    finished: Some(true),
                    error: Some(msg.clone()),
                    ..Reply::default()
                };
                reply.inspector.message("ERROR", msg.clone());
                match self.send(&reply, b"") {
                    Err(Stop::Closed) => Outcome::Closed,
                    _ => Outcome::Failed(msg),
                }
            }
        }
    }

    fn send(&mut self, reply: &Reply, body: &[u8]) -> Result<(), Stop> {
        let meta = reply.to_json();
        self.writer.write_chunk(&meta, body)?;
        let header = protocol::format_header(meta.len(), body.len());
        record(&mut self.rec_out, &[header.as_bytes(), &meta, body]);
        Ok(())
    }

    /// Sends a reply whose body is `results` as CSV, streamed row by row
    /// (a recorded session keeps a copy of the bytes for its recording).
    fn send_results(&mut self, reply: &Reply, results: &Results) -> Result<(), Stop> {
        if self.rec_out.is_some() {
            let mut body = Vec::with_capacity(results_len(results));
            // Writing into a Vec cannot fail.
            let _ = write_results(&mut body, results);
            return self.send(reply, &body);
        }
        let meta = reply.to_json();
        self.writer
            .write_chunk_with(&meta, results_len(results), |out| {
                write_results(out, results)
            })?;
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Request>, Stop> {
        self.read_with(None)
    }

    /// Reads the next request; with a body reader (and no recording), the
    /// body goes into it piece by piece as it arrives instead of into
    /// `self.chunk.body`.
    fn read_with(&mut self, body: Option<&mut BodyReader>) -> Result<Option<Request>, Stop> {
        let more = match body {
            Some(body) if self.rec_in.is_none() => {
                body.begin();
                self.reader
                    .read_chunk_into(&mut self.chunk, &mut |src| body.read_from(src))?
            }
            Some(body) => {
                let more = self.reader.read_chunk(&mut self.chunk)?;
                body.begin();
                body.feed(&self.chunk.body);
                more
            }
            None => self.reader.read_chunk(&mut self.chunk)?,
        };
        if !more {
            return Ok(None);
        }
        record(
            &mut self.rec_in,
            &[
                self.reader.header_line(),
                &self.chunk.metadata,
                &self.chunk.body,
            ],
        );
        let chunk_no = self.reader.chunks();
        let offset = self.reader.offset();
        Ok(Some(Request::parse(
            &self.chunk.metadata,
            chunk_no,
            offset,
        )?))
    }

    fn exchange(&mut self) -> Result<(), Stop> {
        let Some(getinfo) = self.read()? else {
            return Ok(());
        };
        let action = getinfo.action();
        if action != Action::Getinfo {
            return Err(Stop::Fail(format!(
                "protocol error: the first request must be getinfo, not {}",
                describe(&action)
            )));
        }
        if !self.chunk.body.is_empty() {
            return Err(Stop::Fail(format!(
                "protocol error: the getinfo request carries a {}-byte body; it must be empty",
                self.chunk.body.len()
            )));
        }
        let info = getinfo.searchinfo.unwrap_or_default();
        let args = info
            .args
            .clone()
            .or_else(|| {
                info.raw_args
                    .as_ref()
                    .map(|raw| raw.iter().map(|a| unquote(a)).collect())
            })
            .unwrap_or_default();
        // splunkd sends only the arguments, but a driver that splits our own
        // `streaming_preop` text may pass the command name first.
        let args = match args.split_first() {
            Some((first, rest)) if first.eq_ignore_ascii_case(COMMAND) => rest.to_vec(),
            _ => args,
        };
        let opts = match Options::parse(&args) {
            Ok(opts) => opts,
            Err(problems) => {
                let error = tagged(&problems);
                let mut reply = Reply {
                    finished: Some(true),
                    error: Some(error.clone()),
                    ..Reply::default()
                };
                for message in problems.messages() {
                    inform(&mut reply, "ERROR", message);
                }
                self.send(&reply, b"")?;
                return Err(Stop::Reported(error));
            }
        };
        let mut reply = Reply {
            // Both phases compute results only for the finished search:
            // their partial groups mean nothing in a preview.
            run_in_preview: Some(false),
            ..Reply::default()
        };
        // A preview process (should splunkd start one anyway) answers as
        // usual but leaves nothing behind: no recording, no file.
        let preview = getinfo.preview == Some(true);
        if opts.record && !self.replaying && !preview {
            if info.dispatch_dir.is_empty() {
                // Probes also come without a dispatch directory; they get no
                // execute request, so the WARN waits for the first one.
                self.deferred_warn = Some(
                    "record=t but splunkd gave no dispatch directory; the search goes on without recording"
                        .to_string(),
                );
            } else if info.is_probe() {
                // Parse-time probes must have no side effects.
            } else {
                match Recorder::open(&info.dispatch_dir, &info.sid) {
                    Ok(rec) => {
                        let mut input = Some(rec.input);
                        // The getinfo chunk carries the session key: record
                        // it redacted, with the header's lengths to match.
                        let meta = redact_session_key(&self.chunk.metadata);
                        let header = protocol::format_header(meta.len(), self.chunk.body.len());
                        record(&mut input, &[header.as_bytes(), &meta, &self.chunk.body]);
                        self.rec_in = input;
                        self.rec_out = Some(rec.output);
                    }
                    Err(e) => inform(
                        &mut reply,
                        "WARN",
                        format!("{e}; the search goes on without recording"),
                    ),
                }
            }
        }
        let mut engine_cfg = opts.config.clone();
        let command = if info.command.is_empty() {
            COMMAND
        } else {
            info.command.as_str()
        };
        match opts.phase {
            Phase::Map => reply.kind = Some("streaming"),
            Phase::Reduce => {
                reply.kind = Some("reporting");
                if opts.distributed {
                    reply.streaming_preop = Some(opts.preop(command));
                    // Rows the map marked are merged as they are; unmarked
                    // rows (no map phase ran) are filtered as usual.
                    engine_cfg.trusted_partials = true;
                }
            }
        }
        let engine = Engine::new(engine_cfg);
        // Each phase asks for what its engine reads: the map for the event
        // fields, the reduce for those plus the partial marker it merges by.
        reply.required_fields = Some(engine.required_fields());
        self.send(&reply, b"")?;
        self.execute(engine, opts.phase)
    }

    fn execute(&mut self, mut engine: Engine, phase: Phase) -> Result<(), Stop> {
        let schema = engine.schema().clone();
        let mut body_reader = BodyReader::for_schema(&schema);
        let mut ragged = 0u64;
        while let Some(request) = self.read_with(Some(&mut body_reader))? {
            let action = request.action();
            if action != Action::Execute {
                return Err(Stop::Fail(format!(
                    "protocol error: expected an execute request, got {}",
                    describe(&action)
                )));
            }
            let finished = request.finished.unwrap_or(false);
            let counts = body_reader.finish(&schema, |row| {
                engine
                    .push(row)
                    .map(|_| ())
                    .map_err(|e| Stop::Fail(e.to_string()))
            })?;
            engine.skip(counts.skipped);
            ragged += counts.ragged;
            let mut reply = Reply {
                finished: Some(finished),
                ..Reply::default()
            };
            if let Some(w) = self.deferred_warn.take() {
                inform(&mut reply, "WARN", w);
            }
            let results = match phase {
                Phase::Map => engine.drain_partials(),
                Phase::Reduce if finished => engine.finish(),
                Phase::Reduce => Results::default(),
            };
            if finished {
                report(&mut reply, engine.stats(), results.len(), phase);
                let warnings = [
                    engine.missing_field_warning(),
                    engine.time_warning(),
                    engine.untimed_warning(),
                ];
                for w in warnings.into_iter().flatten() {
                    inform(&mut reply, "WARN", w);
                }
                if ragged > 0 {
                    inform(
                        &mut reply,
                        "WARN",
                        format!("{ragged} input rows had a different number of fields than the CSV header; missing fields were read as null and extra fields ignored"),
                    );
                }
            }
            self.send_results(&reply, &results)?;
        }
        Ok(())
    }
}

/// Adds the accounting metrics to a final reply.
fn report(reply: &mut Reply, stats: &Stats, groups: usize, phase: Phase) {
    let i = &mut reply.inspector;
    i.metric("rows_in", stats.rows_in);
    i.metric("rows_matched", stats.rows_matched);
    i.metric("rows_filtered", stats.rows_filtered);
    i.metric("rows_dropped_missing_field", stats.rows_dropped_missing);
    i.metric("rows_dropped_regex", stats.rows_dropped_regex);
    i.metric("rows_kept", stats.rows_kept);
    for (field, n) in &stats.missing {
        i.metric(&format!("missing.{field}"), *n);
    }
    let name = match phase {
        Phase::Map => "partial_rows_out",
        Phase::Reduce => "groups_out",
    };
    i.metric(name, groups as u64);
}

fn describe(action: &Action) -> String {
    match action {
        Action::Getinfo => "getinfo".into(),
        Action::Execute => "execute".into(),
        Action::Other(a) if a.len() > 60 => {
            format!("\"{}...\"", a.chars().take(40).collect::<String>())
        }
        Action::Other(a) => format!("\"{a}\""),
        Action::Missing => "a request without an action".into(),
    }
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
