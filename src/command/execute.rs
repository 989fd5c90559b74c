//! The execute requests: each body through the one `Sink` into the engine, and each answer (rows, accounting, warnings) as a reply; no I/O.

use std::io::{self, Read};

use crate::body::{holding_first_error, BodyReader, CsvRow, Relay, Window};
use crate::detect::{Engine, Results, Sorted, Stats, MAX_GROUP_KEY_BYTES};
use crate::options::Phase;
use crate::protocol::{Action, Reply, Request};

use super::error::{inform, Error, ErrorKind};
use super::threads::{run_all_or_here, run_beside};

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
    /// An engine's refusal of a row of the current body (a limit), the
    /// first in row order, held until the body ends.
    refused: Option<crate::detect::Error>,
    /// The engines of the helper threads, one each: this thread and they
    /// read and file a window of the body at a time, each into its own.
    shards: Vec<Engine>,
    /// Bytes a thread reads at a time (with helpers).
    window: usize,
    /// The fewest groups sorted and merged on more than one thread.
    threaded_sort: usize,
}

/// Bytes a thread reads and files at a time, with helpers: about a MiB, so
/// that a window is still in the cache of the thread that read it while it
/// files it, and a body's last window, which one thread files while the
/// others wait, is short.
const WINDOW: usize = 1 << 20;

/// The fewest groups sorted on more than one thread.
const MIN_THREADED_SORT: usize = 4096;

impl Sink {
    /// A sink into `engine`, read by the engine's schema, on this thread alone.
    pub fn new(engine: Engine) -> Sink {
        Sink::with_threads(engine, 1)
    }

    /// A sink into `engine` that decodes and aggregates on `threads`
    /// threads (at least one: this one). Each helper thread fills an engine
    /// of its own: its accounting joins `engine`'s at the end of every
    /// body, its groups when results are taken (or at once, when the tables
    /// together may be over a limit), so the results, the accounting and
    /// the limits are as one thread's.
    pub fn with_threads(engine: Engine, threads: usize) -> Sink {
        let shards = (1..threads).map(|_| engine.shard()).collect();
        Sink {
            body: BodyReader::for_schema(engine.schema()),
            engine,
            ragged: 0,
            refused: None,
            shards,
            window: WINDOW,
            threaded_sort: MIN_THREADED_SORT,
        }
    }

    /// Reads windows of `bytes` instead of [`WINDOW`] (tests split tiny bodies).
    #[cfg(test)]
    pub(crate) fn with_window(mut self, bytes: usize) -> Sink {
        self.window = bytes.max(1);
        self
    }

    /// Sorts and merges `groups` or more on several threads instead of
    /// [`MIN_THREADED_SORT`] (tests merge tiny tables).
    #[cfg(test)]
    pub(crate) fn with_threaded_sort(mut self, groups: usize) -> Sink {
        self.threaded_sort = groups;
        self
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
    /// With helpers, pieces are buffered until there is a window for each
    /// thread, then read as from a reader.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) {
        if self.shards.is_empty() {
            let mut rows = Sink::rows(&mut self.engine, &mut self.refused);
            self.body.feed(piece, &mut rows);
            return;
        }
        let threads = self.shards.len() + 1;
        if self.body.buffered() + piece.len() < self.window * threads {
            while !piece.is_empty() {
                let n = self.body.copy_in(piece);
                piece = &piece[n..];
            }
            return;
        }
        // Reading a slice cannot fail. More pieces may follow, so how much
        // is left is not known.
        let _ = self.read_windows(&mut piece, None);
    }

    /// Reads the rest of the current body from `src`, whose chunk header
    /// declares `len` bytes. With helpers, each thread reads a window and
    /// files it, then the next, until `src` ends, all of them from the
    /// body's first byte; a body declared no longer than a window is filed
    /// on this thread alone. (The length only decides that: a body that
    /// ends before it is read as it is, and the chunk reader reports it.)
    ///
    /// # Errors
    ///
    /// A read error; what was read before it stays fed.
    pub(crate) fn read_from(&mut self, src: &mut (dyn Read + Send), len: u64) -> io::Result<()> {
        if self.shards.is_empty() || len <= self.window as u64 {
            let mut rows = Sink::rows(&mut self.engine, &mut self.refused);
            return self.body.read_from(src, &mut rows);
        }
        self.read_windows(src, Some(len))
    }

    /// [`BodyReader::read_windows`] on this thread and the helpers, each
    /// into its own engine; the first refusal in row order is held.
    fn read_windows(&mut self, src: &mut (dyn Read + Send), left: Option<u64>) -> io::Result<()> {
        let window = self.window;
        let (engine, shards) = (&mut self.engine, &mut self.shards);
        let threads = shards.len() + 1;
        let (refusals, read) = self
            .body
            .read_windows(src, left, threads, |relay, windows| {
                let (mine, theirs) = windows.split_first_mut().expect("a window a thread");
                let jobs: Vec<_> = (shards.iter_mut().zip(theirs))
                    .map(|(engine, w)| move || Sink::file_windows(relay, w, engine, window))
                    .collect();
                let (first, others) =
                    run_beside(jobs, || Sink::file_windows(relay, mine, engine, window));
                std::iter::once(first)
                    .chain(others)
                    .flatten()
                    .min_by_key(|(seq, _)| *seq)
            });
        if self.refused.is_none() {
            self.refused = refusals.map(|(_, e)| e);
        }
        read
    }

    /// Fills `w` from `relay` and files it into `engine` until the relay is
    /// empty; returns the first refusal met, with its window's place.
    fn file_windows(
        relay: &Relay<'_>,
        w: &mut Window,
        engine: &mut Engine,
        window: usize,
    ) -> Option<(usize, crate::detect::Error)> {
        let mut first = None;
        while relay.fill(w, window) {
            let mut refused = None;
            w.run(&mut Sink::rows(engine, &mut refused));
            if first.is_none() {
                first = refused.map(|e| (w.seq(), e));
            }
        }
        first
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
            if !self.shards.is_empty() {
                self.body.process_buffered(&mut rows);
            }
            self.body.finish(&mut rows)
        };
        if let Some(e) = self.refused.take() {
            return Err(e.into());
        }
        let counts = counts?;
        let (mut groups, mut bytes) = self.engine.load();
        for shard in &mut self.shards {
            self.engine.absorb_accounting(shard);
            let (g, b) = shard.load();
            (groups, bytes) = (groups + g, bytes + b);
        }
        // Each table is within the limits on its own; when all of them
        // together may not be, they are merged into one, which counts every
        // group once and refuses as one thread's table would.
        if groups > self.engine.config().max_groups || bytes > MAX_GROUP_KEY_BYTES {
            for shard in &mut self.shards {
                self.engine.absorb(shard)?;
            }
        }
        self.engine.skip(counts.skipped);
        self.ragged += counts.ragged;
        Ok(())
    }

    /// Every engine's groups as result rows: each table sorted on its own
    /// thread, then the sorted runs cut into key ranges, one a thread, each
    /// merged and its trailing cells rendered there (all on this thread, in
    /// one range, when there are few groups). One run is the result as it is.
    fn results_for(&mut self, partial: bool) -> Results {
        let groups: usize = (self.shards.iter().map(|s| s.load().0)).sum();
        let few = groups + self.engine.load().0 < self.threaded_sort;
        let engines = std::iter::once(&mut self.engine).chain(self.shards.iter_mut());
        let jobs: Vec<_> = engines.map(|engine| move || engine.take_sorted()).collect();
        let mut runs: Vec<Sorted> = run_all_or_here(jobs, few);
        runs.retain(|r| !r.is_empty());
        if runs.len() < 2 {
            let sorted = runs.pop().unwrap_or_default();
            return self.engine.results_of(sorted, partial);
        }
        let cuts = Sorted::cuts(&runs, if few { 1 } else { runs.len() });
        let (engine, runs_ref) = (&self.engine, &runs);
        let jobs: Vec<_> = (cuts.iter())
            .map(|cut| {
                move || {
                    let merged = Sorted::merge_cut(runs_ref, cut);
                    let tails = engine.tails(merged.accs(), merged.len(), partial);
                    (merged, tails)
                }
            })
            .collect();
        let (merged, tails): (Vec<_>, Vec<_>) = run_all_or_here(jobs, few).into_iter().unzip();
        self.engine
            .results_from(Sorted::join(runs, merged), tails, partial)
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
        self.results_for(true)
    }

    /// The final results (reduce phase).
    pub fn results(&mut self) -> Results {
        self.results_for(false)
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
    /// A handler for the planned engine and phase, on `threads` threads.
    pub fn new(engine: Engine, phase: Phase, threads: usize, warn: Option<String>) -> Execute {
        Execute {
            sink: Sink::with_threads(engine, threads),
            phase,
            warn,
        }
    }

    /// Where the body of the request being read goes: read from `src`,
    /// which holds the `len` bytes its chunk header declares.
    pub(crate) fn read_from(&mut self, src: &mut (dyn Read + Send), len: u64) -> io::Result<()> {
        self.sink.read_from(src, len)
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
        Execute::new(Engine::new(cfg), phase, 1, None)
    }

    fn feed(h: &mut Execute, bytes: &[u8]) {
        h.read_from(&mut &bytes[..], bytes.len() as u64).unwrap();
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

    /// A noargs body of `rows` (process_name, process, user, _time cells,
    /// quoted where they need it), after a header.
    fn noargs_body(rows: &[[&str; 4]]) -> Vec<u8> {
        let mut body = b"process_name,process,user,_time\n".to_vec();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                crate::detect::csv_cell(&mut body, cell.as_bytes());
            }
            body.push(b'\n');
        }
        body
    }

    /// How [`sink_outcome`] hands a body over: fed in pieces, or read, with
    /// the length its chunk header would declare in quarters of its true
    /// length (4 is the truth; a wrong length changes only which threads
    /// read it).
    #[derive(Debug, Clone, Copy)]
    enum By {
        Feed,
        Read { quarters: usize },
    }

    /// What a sink made of `bodies`, each handed over in pieces cut at
    /// `cuts`: the accounting, the ragged rows and the tables (each body's
    /// partials in the `map` phase, then the final table), or the first
    /// error.
    fn sink_outcome(
        mut sink: Sink,
        bodies: &[Vec<u8>],
        cuts: &[usize],
        map: bool,
        by: By,
    ) -> Result<(Stats, u64, Vec<crate::detect::Table>), String> {
        let mut tables = Vec::new();
        for body in bodies {
            if let By::Read { quarters } = by {
                let mut src = CutReader { body, at: 0, cuts };
                let declared = (body.len() * quarters / 4) as u64;
                sink.read_from(&mut src, declared)
                    .map_err(|e| e.to_string())?;
            } else {
                let mut at = 0;
                for &cut in cuts.iter().filter(|&&c| c <= body.len()) {
                    if cut > at {
                        sink.feed(&body[at..cut]);
                        at = cut;
                    }
                }
                sink.feed(&body[at..]);
            }
            sink.end().map_err(|e| format!("{:?}", e.kind()))?;
            if map {
                tables.push(sink.partials().to_table());
            }
        }
        tables.push(sink.results().to_table());
        Ok((sink.stats().clone(), sink.ragged(), tables))
    }

    /// Reads `body` in pieces of at most `step` bytes, then fails.
    struct Failing<'a> {
        body: &'a [u8],
        step: usize,
    }

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.body.len());
            if n == 0 {
                return Err(io::Error::other("the pipe broke"));
            }
            buf[..n].copy_from_slice(&self.body[..n]);
            self.body = &self.body[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_while_the_helpers_decode_keeps_what_was_read() {
        let rows: Vec<[&str; 4]> = (0..200)
            .map(|i| ["RegSvcs.exe", ["RegSvcs.exe", "\"x\ny\""][i % 2], "u", "1"])
            .collect();
        let body = noargs_body(&rows);
        let engine = || Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch));
        for cut in [0, 1, 100, 333, body.len() / 2, body.len() - 1] {
            for window in [16, 64, 1000] {
                let mut sink = Sink::with_threads(engine(), 2).with_window(window);
                let mut src = Failing {
                    body: &body[..cut],
                    step: 7,
                };
                let err = sink.read_from(&mut src, cut as u64).unwrap_err();
                assert_eq!(err.to_string(), "the pipe broke");
                // Ended there, the body is what was read before the error.
                let ended = sink.end().map_err(|e| format!("{:?}", e.kind()));
                let read = ended.map(|()| (sink.stats().clone(), sink.results().to_table()));
                let mut one = Sink::new(engine());
                one.read_from(&mut &body[..cut], cut as u64).unwrap();
                let ended = one.end().map_err(|e| format!("{:?}", e.kind()));
                let want = ended.map(|()| (one.stats().clone(), one.results().to_table()));
                assert_eq!(read, want, "cut {cut}, window {window}");
            }
        }
    }

    #[test]
    fn the_first_refusal_in_row_order_is_the_one_reported() {
        // Rows whose multivalue user and parent_process expand to more
        // groups than a row may: 400 x 300 first, 500 x 300 later. Whichever
        // thread reads and files which window, the first one is named.
        let cells = |prefix: &str, n: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i}")).collect()
        };
        let mv = |values: &[String]| {
            let refs: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
            String::from_utf8(crate::body::encode_mv(&refs)).unwrap()
        };
        let mut body =
            b"process_name,process,user,parent_process,_time,__mv_user,__mv_parent_process\n"
                .to_vec();
        for i in 0..300 {
            let (users, parents) = match i {
                90 => (cells("u", 400), cells("p", 300)),
                210 => (cells("u", 500), cells("p", 300)),
                _ => (vec![format!("u{i}")], vec!["p".to_string()]),
            };
            let row = [
                "RegSvcs.exe".to_string(),
                "RegSvcs.exe".to_string(),
                users.join("\n"),
                parents.join("\n"),
                "1".to_string(),
                if users.len() > 1 {
                    mv(&users)
                } else {
                    String::new()
                },
                if parents.len() > 1 {
                    mv(&parents)
                } else {
                    String::new()
                },
            ];
            for (n, cell) in row.iter().enumerate() {
                if n > 0 {
                    body.push(b',');
                }
                crate::detect::csv_cell(&mut body, cell.as_bytes());
            }
            body.push(b'\n');
        }
        let engine = || Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch));
        let bodies = [body];
        let one = sink_outcome(Sink::new(engine()), &bodies, &[], false, By::Feed);
        assert!(one.as_ref().is_err_and(|e| e.contains("120000")), "{one:?}");
        for threads in 2..=4 {
            for window in [64, 1000, 8000, 30_000, 100_000] {
                for by in [By::Feed, By::Read { quarters: 4 }] {
                    let many = Sink::with_threads(engine(), threads).with_window(window);
                    let got = sink_outcome(many, &bodies, &[7, 5000, 77_777], false, by);
                    assert_eq!(got, one, "{threads} threads, window {window}");
                }
            }
        }
    }

    /// A body read in pieces that end at the cuts (as a pipe delivers it).
    struct CutReader<'a> {
        body: &'a [u8],
        at: usize,
        cuts: &'a [usize],
    }

    impl Read for CutReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let cut = (self.cuts.iter().copied())
                .filter(|&c| c > self.at)
                .min()
                .unwrap_or(self.body.len())
                .min(self.body.len());
            let n = buf.len().min(cut - self.at);
            buf[..n].copy_from_slice(&self.body[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    proptest::proptest! {
        #[test]
        fn threads_give_what_one_thread_gives(
            rows in proptest::collection::vec(
                proptest::array::uniform4(proptest::sample::select(vec![
                    "RegSvcs.exe", "regsvcs.exe", "notepad.exe", "a\nRegSvcs.exe", "C:\\x\\RegSvcs.exe",
                    "\"RegSvcs.exe\"", "RegSvcs.exe a", "u,1", "q\"r", "", "1", "2.5", "x",
                ])),
                0..60,
            ),
            split_at in 0usize..60,
            cuts in proptest::collection::vec(0usize..3000, 0..6),
            window in 1usize..400,
            threads in 2usize..5,
            max_groups in proptest::sample::select(vec![1usize, 4, 1000]),
            map in proptest::bool::ANY,
            declared_quarters in proptest::option::of(0usize..9),
            threaded_sort in proptest::sample::select(vec![0usize, MIN_THREADED_SORT]),
        ) {
            let split_at = split_at.min(rows.len());
            let bodies = [noargs_body(&rows[..split_at]), noargs_body(&rows[split_at..])];
            let engine = || {
                let mut cfg = Config::new(Mode::Noargs, TimeRender::Epoch);
                cfg.max_groups = max_groups;
                Engine::new(cfg)
            };
            let one = sink_outcome(Sink::new(engine()), &bodies, &cuts, map, By::Feed);
            let many = Sink::with_threads(engine(), threads)
                .with_window(window)
                .with_threaded_sort(threaded_sort);
            let by = declared_quarters.map_or(By::Feed, |quarters| By::Read { quarters });
            proptest::prop_assert_eq!(sink_outcome(many, &bodies, &cuts, map, by), one);
        }
    }
}
