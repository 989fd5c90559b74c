//! The execute requests: each body through the one `Sink` into the engine, and each answer (rows, accounting, warnings) as a reply; no I/O.

use std::io::{self, Read};

use crate::body::{holding_first_error, BodyReader, CsvRow};
use crate::detect::{Engine, Results, Stats};
use crate::options::Phase;
use crate::protocol::{Action, Reply, Request};

use super::error::{inform, Error, ErrorKind};

/// Chunk bodies into an engine: the one place where decoded rows reach
/// [`Engine::push`] and the rows the prefilter skipped reach
/// [`Engine::skip`], so the accounting balances whoever feeds it (the
/// session, the map/reduce tests, the benches).
///
/// A body arrives in pieces ([`Sink::feed`]) or from a reader
/// ([`Sink::read_from`]) and ends with [`Sink::end`]; [`Sink::read`] does
/// both for a whole body.
///
/// # Examples
///
/// ```
/// use regsvcsdetect::command::Sink;
/// use regsvcsdetect::detect::{Config, Engine, Mode, TimeRender};
/// let mut sink = Sink::new(Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch)));
/// sink.read(b"process_name,process\nnotepad.exe,notepad.exe\n").unwrap();
/// assert_eq!(sink.stats().rows_in, 1);
/// assert!(sink.stats().balanced());
/// ```
#[derive(Debug)]
pub struct Sink {
    body: BodyReader,
    engine: Engine,
    ragged: u64,
    /// The engine's refusal of a row of the current body (a limit), held
    /// until the body ends; no later row of it reaches the engine.
    refused: Option<crate::detect::Error>,
}

impl Sink {
    /// A sink into `engine`, read by the engine's schema.
    pub fn new(engine: Engine) -> Sink {
        Sink {
            body: BodyReader::for_schema(engine.schema()),
            engine,
            ragged: 0,
            refused: None,
        }
    }

    /// The row sink of the current body: each row into the engine, the
    /// first error held.
    fn rows<'a>(
        engine: &'a mut Engine,
        refused: &'a mut Option<crate::detect::Error>,
    ) -> impl FnMut(&CsvRow<'_>) -> bool + 'a {
        holding_first_error(move |row| engine.push(row), refused)
    }

    /// Feeds the next piece of the current body; pieces may split anything.
    pub(crate) fn feed(&mut self, piece: &[u8]) {
        let mut rows = Sink::rows(&mut self.engine, &mut self.refused);
        self.body.feed(piece, &mut rows);
    }

    /// Reads the rest of the current body from `src`, straight into the
    /// body reader's buffer.
    ///
    /// # Errors
    ///
    /// A read error; what was read before it stays fed.
    pub(crate) fn read_from(&mut self, src: &mut dyn Read) -> io::Result<()> {
        let mut rows = Sink::rows(&mut self.engine, &mut self.refused);
        self.body.read_from(src, &mut rows)
    }

    /// Ends the current body: its last rows go into the engine, and the
    /// sink is ready for the next body (also after an error).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Body`] for malformed CSV, [`ErrorKind::Engine`] for a
    /// limit the engine reached.
    pub(crate) fn end(&mut self) -> Result<(), Error> {
        let counts = {
            let mut rows = Sink::rows(&mut self.engine, &mut self.refused);
            self.body.finish(&mut rows)
        };
        if let Some(e) = self.refused.take() {
            return Err(e.into());
        }
        let counts = counts?;
        self.engine.skip(counts.skipped);
        self.ragged += counts.ragged;
        Ok(())
    }

    /// Feeds one whole body and ends it.
    ///
    /// # Errors
    ///
    /// As [`Sink::end`].
    pub fn read(&mut self, body: &[u8]) -> Result<(), Error> {
        self.feed(body);
        self.end()
    }

    /// The engine's partial rows so far, emptying its group table (map phase).
    pub fn partials(&mut self) -> Results {
        self.engine.drain_partials()
    }

    /// The final results (reduce phase).
    pub fn results(&mut self) -> Results {
        self.engine.finish()
    }

    /// The row accounting so far.
    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }

    /// The engine, to read (rows go in only through the sink).
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Rows whose field count differed from their body's header.
    pub(crate) fn ragged(&self) -> u64 {
        self.ragged
    }
}

/// Answers execute requests, one reply each, until splunkd sends no more.
#[derive(Debug)]
pub(crate) struct Execute {
    sink: Sink,
    phase: Phase,
    /// A WARN held for the first reply.
    warn: Option<String>,
}

impl Execute {
    /// A handler for the planned engine and phase.
    pub fn new(engine: Engine, phase: Phase, warn: Option<String>) -> Execute {
        Execute {
            sink: Sink::new(engine),
            phase,
            warn,
        }
    }

    /// Where the body of the request being read goes: read from `src`.
    pub(crate) fn read_from(&mut self, src: &mut dyn Read) -> io::Result<()> {
        self.sink.read_from(src)
    }

    /// Answers one request whose body was read: the reply and the results
    /// its body carries.
    ///
    /// # Errors
    ///
    /// The request is not execute, its body is malformed, or the engine
    /// reached a limit.
    pub(crate) fn answer(&mut self, request: &Request) -> Result<(Reply, Results), Error> {
        let action = request.action();
        if action != Action::Execute {
            return Err(ErrorKind::NotExecute { action }.into());
        }
        self.sink.end()?;
        let finished = request.finished.unwrap_or(false);
        let mut reply = Reply {
            finished: Some(finished),
            ..Reply::default()
        };
        if let Some(w) = self.warn.take() {
            inform(&mut reply, "WARN", w);
        }
        let results = match self.phase {
            Phase::Map => self.sink.partials(),
            Phase::Reduce if finished => self.sink.results(),
            Phase::Reduce => Results::default(),
        };
        if finished {
            self.report(&mut reply, results.len());
        }
        Ok((reply, results))
    }

    /// The final reply's accounting metrics and warnings.
    fn report(&self, reply: &mut Reply, groups: usize) {
        let stats = self.sink.stats();
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
        let name = match self.phase {
            Phase::Map => "partial_rows_out",
            Phase::Reduce => "groups_out",
        };
        i.metric(name, groups as u64);
        let engine = self.sink.engine();
        let warnings = [
            engine.missing_field_warning(),
            engine.time_warning(),
            engine.untimed_warning(),
        ];
        for w in warnings.into_iter().flatten() {
            inform(reply, "WARN", w);
        }
        let ragged = self.sink.ragged();
        if ragged > 0 {
            inform(
                reply,
                "WARN",
                format!("{ragged} input rows had a different number of fields than the CSV header; missing fields were read as null and extra fields ignored"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Config, Mode, TimeRender};

    fn request(finished: bool) -> Request {
        let meta = format!("{{\"action\":\"execute\",\"finished\":{finished}}}");
        Request::parse(meta.as_bytes(), 2, 0).unwrap()
    }

    fn handler(phase: Phase, max_groups: usize) -> Execute {
        let mut cfg = Config::new(Mode::Noargs, TimeRender::Epoch);
        cfg.max_groups = max_groups;
        Execute::new(Engine::new(cfg), phase, None)
    }

    fn feed(h: &mut Execute, bytes: &[u8]) {
        h.read_from(&mut &bytes[..]).unwrap();
    }

    const BODY: &[u8] = b"process_name,process,user\nRegSvcs.exe,RegSvcs.exe,a\nnotepad.exe,x,b\nRegSvcs.exe,RegSvcs.exe,c\n";

    #[test]
    fn skipped_and_pushed_rows_are_all_counted() {
        let mut sink = Sink::new(Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch)));
        sink.read(BODY).unwrap();
        sink.read(b"").unwrap();
        assert_eq!(sink.stats().rows_in, 3);
        assert_eq!(sink.stats().rows_filtered, 1);
        assert!(sink.stats().balanced());
    }

    #[test]
    fn a_body_fed_in_pieces_is_the_whole_body() {
        let mut whole = Sink::new(Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch)));
        whole.read(BODY).unwrap();
        let mut pieces = Sink::new(Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch)));
        for piece in BODY.chunks(3) {
            pieces.feed(piece);
        }
        pieces.end().unwrap();
        assert_eq!(whole.stats(), pieces.stats());
        assert_eq!(whole.results().to_table(), pieces.results().to_table());
    }

    #[test]
    fn only_the_finished_reduce_reply_carries_rows_and_metrics() {
        let mut h = handler(Phase::Reduce, 10);
        feed(&mut h, BODY);
        let (reply, results) = h.answer(&request(false)).unwrap();
        assert!(results.is_empty() && reply.inspector.is_empty());
        let (reply, results) = h.answer(&request(true)).unwrap();
        assert_eq!(reply.finished, Some(true));
        assert_eq!(results.len(), 2);
        let json = String::from_utf8(reply.to_json()).unwrap();
        assert!(json.contains("\"metric.rows_in\":3"), "{json}");
        assert!(json.contains("\"metric.groups_out\":2"), "{json}");
    }

    #[test]
    fn an_engine_limit_is_an_engine_error() {
        let mut h = handler(Phase::Reduce, 1);
        feed(&mut h, BODY);
        let err = h.answer(&request(true)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Engine(crate::detect::Error::TooManyGroups { limit: 1 })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_malformed_body_is_a_body_error() {
        let mut h = handler(Phase::Map, 10);
        feed(&mut h, b"process_name,process\nRegSvcs.exe,");
        feed(&mut h, &vec![b'x'; crate::body::MAX_FIELD_BYTES + 1]);
        feed(&mut h, b"\n");
        let err = h.answer(&request(true)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Body(_)), "{err:?}");
    }

    #[test]
    fn a_second_getinfo_is_not_an_execute() {
        let getinfo = Request::parse(br#"{"action":"getinfo"}"#, 2, 0).unwrap();
        let err = handler(Phase::Map, 10).answer(&getinfo).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::NotExecute {
                action: Action::Getinfo
            }
        ));
    }
}
