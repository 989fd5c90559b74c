//! The connection to splunkd: requests in, replies out (teed into a recording under `record=t`), getinfo to a `Plan`, execute to its handler, and the one place a failure becomes the ERROR reply.
//!
//! # Layout
//!
//! - `plan.rs`: the getinfo request to the reply, the engine, the phase and
//!   whether to record.
//! - `execute.rs`: each execute body through the [`Sink`] into the engine,
//!   and its answer.
//! - `record.rs`: the `record=t` files and the redacted getinfo chunk.
//! - `error.rs`: [`Error`], with one `Display`, and the [`tagged`] prefix.
//! - `threads.rs`: the helper threads `threads=` asks for.
//!
//! # One execute chunk, stdin to stdout
//!
//! Eight files, each doing one job:
//!
//! 1. `main.rs`: no arguments, so it calls [`serve`] (the offline CLI,
//!    `cli.rs`, is never on this path);
//! 2. `command.rs`: [`serve`] hands stdin and stdout to [`Session::run`],
//!    which asks the reader for the next chunk;
//! 3. `protocol/reader.rs`: reads the header and metadata and hands the body,
//!    as a reader over exactly its bytes, to the handler;
//! 4. `command/execute.rs`: the handler's [`Sink`] takes the body;
//! 5. `body/read.rs`: splits and prefilters it and decodes the rows that may
//!    match;
//! 6. `detect/mod.rs`: the engine takes each row, and the handler's answer
//!    takes the results back to `command.rs`;
//! 7. `body/write.rs`: streams the results as CSV into
//! 8. `protocol/writer.rs`, which frames the reply on stdout.
//!
//! Each module calls only downwards: `command` into `protocol`, `body` and
//! `detect`, never the other way.

mod error;
mod execute;
mod plan;
mod record;
mod threads;

pub use error::{stderr_line, tagged, At, Error, ErrorKind, COMMAND};
pub use execute::Sink;

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

use crate::body::results_len;
use crate::detect::Results;
use crate::protocol::{Chunk, ChunkReader, ChunkWriter, Reply, Request};

use error::error_reply;
use execute::Execute;
use plan::Plan;
use record::{Recording, Target};
use threads::write_results_on;

/// Serves splunkd on stdin and stdout until end of input and returns the
/// exit code: 0 when done (or when splunkd closed stdout), 1 after an ERROR
/// reply, whose message also goes to stderr as one line.
pub fn serve() -> u8 {
    // Stdin, not its lock: the helper threads read windows of a body from it too.
    let input = BufReader::with_capacity(1 << 16, io::stdin());
    let output = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    match Session::new(input, output).run() {
        Outcome::Done | Outcome::Closed => 0,
        Outcome::Failed(err) => {
            eprintln!("{}", stderr_line(&err));
            1
        }
    }
}

/// How a session ended, which decides the exit code.
#[derive(Debug)]
pub enum Outcome {
    /// End of input after the last exchange: exit 0.
    Done,
    /// splunkd closed our stdout: exit 0 quietly.
    Closed,
    /// An ERROR was sent to splunkd (or could not be): exit 1.
    Failed(Error),
}

/// Two failures are alike when they report the same text: an I/O error
/// inside has no equality of its own.
impl PartialEq for Outcome {
    fn eq(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Done, Outcome::Done) | (Outcome::Closed, Outcome::Closed) => true,
            (Outcome::Failed(a), Outcome::Failed(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

/// One protocol session over a request stream and a reply stream.
pub struct Session<R, W> {
    reader: ChunkReader<Tee<R>>,
    writer: ChunkWriter<Tee<W>>,
    chunk: Chunk,
    may_record: bool,
}

impl<R: BufRead + Send, W: Write> Session<R, W> {
    /// A session reading requests from `input` and writing replies to `output`.
    pub fn new(input: R, output: W) -> Session<R, W> {
        Session {
            reader: ChunkReader::new(Tee::new(input)),
            writer: ChunkWriter::new(Tee::new(output)),
            chunk: Chunk::default(),
            may_record: true,
        }
    }

    /// Never records, whatever `record=` says, and never warns about it: a
    /// replayed recording names a dispatch directory that is usually gone,
    /// or is where the recording being replayed lives.
    pub(crate) fn without_recording(mut self) -> Session<R, W> {
        self.may_record = false;
        self
    }

    /// Runs the whole exchange until end of input.
    pub fn run(mut self) -> Outcome {
        let err = match self.exchange() {
            Ok(()) => return Outcome::Done,
            Err(err) => err,
        };
        if err.is_broken_pipe() {
            return Outcome::Closed;
        }
        match self.send(&error_reply(&err), b"") {
            Err(e) if e.is_broken_pipe() => Outcome::Closed,
            _ => Outcome::Failed(err),
        }
    }

    /// getinfo, then execute requests until end of input.
    fn exchange(&mut self) -> Result<(), Error> {
        let Some(getinfo) = self.read()? else {
            return Ok(());
        };
        let mut plan = Plan::from_request(&getinfo, self.chunk.body.len(), self.may_record)?;
        if let Some(target) = &plan.record {
            self.start_recording(target, &mut plan.reply);
        }
        self.send(&plan.reply, b"")?;
        let threads = plan.threads;
        let mut execute = Execute::new(plan.engine, plan.phase, plan.threads, plan.warn);
        loop {
            let more = self
                .reader
                .read_chunk_into(&mut self.chunk, &mut |src, len| execute.read_from(src, len))?;
            if !more {
                return Ok(());
            }
            let request = self.request()?;
            let (mut reply, results) = execute.answer(&request).map_err(|e| e.within(self.at()))?;
            self.note_lost_recording(&mut reply);
            self.send_results(&reply, &results, threads)?;
        }
    }

    /// Attaches the recording files to both tees; a recording that cannot
    /// start is a WARN in the getinfo reply, and the search goes on.
    fn start_recording(&mut self, target: &Target, reply: &mut Reply) {
        match Recording::start(target, &self.chunk) {
            Ok(rec) => {
                self.reader.get_mut().attach(rec.input);
                self.writer.get_mut().attach(rec.output);
            }
            Err(e) => error::inform(
                reply,
                "WARN",
                format!("cannot record this session into the dispatch directory: {e}; the search goes on without recording"),
            ),
        }
    }

    /// Reads the next request whole (the getinfo request).
    fn read(&mut self) -> Result<Option<Request>, Error> {
        if !self.reader.read_chunk(&mut self.chunk)? {
            return Ok(None);
        }
        self.request().map(Some)
    }

    /// The metadata of the chunk just read.
    fn request(&self) -> Result<Request, Error> {
        let at = self.at();
        Ok(Request::parse(&self.chunk.metadata, at.chunk, at.offset)?)
    }

    /// Where the chunk just read began.
    fn at(&self) -> At {
        At {
            chunk: self.reader.chunks(),
            offset: self.reader.chunk_offset(),
        }
    }

    /// A recording that stopped (a full disk, say) is reported once, in the
    /// next reply: the search itself goes on.
    fn note_lost_recording(&mut self, reply: &mut Reply) {
        let lost = match self.reader.get_mut().take_loss() {
            Some(e) => Some(e),
            None => self.writer.get_mut().take_loss(),
        };
        if let Some(e) = lost {
            error::inform(
                reply,
                "WARN",
                format!("the recording of this session stopped: {e}; the search goes on"),
            );
        }
    }

    fn send(&mut self, reply: &Reply, body: &[u8]) -> Result<(), Error> {
        Ok(self.writer.write_chunk(&reply.to_json(), body)?)
    }

    /// Sends a reply whose body is `results` as CSV, written row by row
    /// straight to the output (and through the tee to a recording), its
    /// rows rendered on `threads` threads.
    fn send_results(
        &mut self,
        reply: &Reply,
        results: &Results,
        threads: usize,
    ) -> Result<(), Error> {
        let len = results_len(results);
        let write = |out: &mut dyn Write| write_results_on(out, results, threads);
        Ok(self.writer.write_chunk_with(&reply.to_json(), len, write)?)
    }
}

/// A stream that copies every byte passing through it into a recording once
/// one is attached, so neither the read nor the write path asks whether the
/// session records. A recording that fails to write stops, and the failure
/// waits in [`Tee::take_loss`]: it is a diagnostic copy, never the data, so
/// the search goes on.
#[derive(Debug)]
struct Tee<T> {
    inner: T,
    copy: Option<File>,
    lost: Option<io::Error>,
}

impl<T> Tee<T> {
    fn new(inner: T) -> Tee<T> {
        Tee {
            inner,
            copy: None,
            lost: None,
        }
    }

    fn attach(&mut self, file: File) {
        self.copy = Some(file);
    }

    /// Why the recording stopped, once.
    fn take_loss(&mut self) -> Option<io::Error> {
        self.lost.take()
    }

    fn stop(&mut self, e: io::Error) {
        self.copy = None;
        self.lost = Some(e);
    }

    fn record(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.copy {
            if let Err(e) = file.write_all(bytes) {
                self.stop(e);
            }
        }
    }
}

impl<T: BufRead> Read for Tee<T> {
    /// Reads through the inner reader, so a read as large as its buffer
    /// still bypasses the buffer, and copies what it got.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.record(&out[..n]);
        Ok(n)
    }
}

impl<T: BufRead> BufRead for Tee<T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    /// Copies the bytes consumed. `consume` cannot fail, and the bytes are
    /// the ones the last `fill_buf` returned, which a buffered reader hands
    /// out again from memory.
    fn consume(&mut self, n: usize) {
        if let (Some(file), true) = (&mut self.copy, n > 0) {
            let copied = match self.inner.fill_buf() {
                Ok(buf) => match buf.get(..n) {
                    Some(bytes) => file.write_all(bytes),
                    None => Err(io::Error::other("consumed more than the buffer held")),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = copied {
                self.stop(e);
            }
        }
        self.inner.consume(n);
    }
}

impl<T: Write> Write for Tee<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.record(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{detect, protocol};

    fn chunk(meta: &str, body: &str) -> Vec<u8> {
        format!("chunked 1.0,{},{}\n{meta}{body}", meta.len(), body.len()).into_bytes()
    }

    fn getinfo(args: &[&str], dispatch_dir: &str) -> Vec<u8> {
        let meta = serde_json::json!({
            "action": "getinfo",
            "searchinfo": {"args": args, "dispatch_dir": dispatch_dir, "sid": "1.7",
                           "session_key": "s3cret"},
        });
        chunk(&meta.to_string(), "")
    }

    fn execute(body: &str, finished: bool) -> Vec<u8> {
        chunk(
            &format!("{{\"action\":\"execute\",\"finished\":{finished}}}"),
            body,
        )
    }

    const ROWS: &str =
        "process_name,process,user\nRegSvcs.exe,RegSvcs.exe,a\nRegSvcs.exe,RegSvcs.exe,b\n";

    fn run(input: &[u8]) -> (Outcome, Vec<u8>) {
        let mut out = Vec::new();
        let outcome = Session::new(input, &mut out).run();
        (outcome, out)
    }

    #[test]
    fn an_engine_limit_fails_with_the_request_it_happened_in() {
        let first = getinfo(&["mode=noargs", "max_groups=1"], "");
        let input = [first.clone(), execute(ROWS, true)].concat();
        let (outcome, out) = run(&input);
        let Outcome::Failed(err) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(
            err.kind(),
            ErrorKind::Engine(detect::Error::TooManyGroups { limit: 1 })
        ));
        let at = At {
            chunk: 2,
            offset: first.len() as u64,
        };
        assert_eq!(err.at(), Some(at));
        let text = String::from_utf8_lossy(&out);
        let expected = format!("\"error\":\"{}\"", tagged(&err));
        assert!(text.ends_with(&format!("{expected}}}")), "{text}");
    }

    #[test]
    fn refused_arguments_fail_before_any_execute() {
        let input = [getinfo(&["mode=dns"], ""), execute(ROWS, true)].concat();
        let (outcome, out) = run(&input);
        let Outcome::Failed(err) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(err.kind(), ErrorKind::Options(_)), "{err:?}");
        assert_eq!(err.at(), None);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one reply");
    }

    #[test]
    fn a_truncated_body_is_a_protocol_error() {
        let input = [getinfo(&["mode=noargs"], ""), execute(ROWS, true)].concat();
        let (outcome, _) = run(&input[..input.len() - 3]);
        let Outcome::Failed(err) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Protocol(e) if matches!(e.kind(), protocol::ErrorKind::Truncated { part: "body", .. })
            ),
            "{err:?}"
        );
    }

    /// A reply stream splunkd has stopped reading.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_ends_quietly_even_with_an_error_pending() {
        let input = [getinfo(&["mode=noargs"], ""), execute(ROWS, true)].concat();
        assert_eq!(Session::new(&input[..], Closed).run(), Outcome::Closed);
        assert_eq!(Session::new(&input[..9], Closed).run(), Outcome::Closed);
    }

    #[test]
    fn a_recording_holds_every_byte_after_a_redacted_getinfo() {
        let dir = std::env::temp_dir().join(format!("regsvcsdetect-tee-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = getinfo(&["mode=noargs", "record=t"], dir.to_str().unwrap());
        // A blank line between chunks is part of the stream, so it is recorded.
        let rest = [execute(ROWS, false), b"\n".to_vec(), execute("", true)].concat();
        let input = [first, rest.clone()].concat();
        let (outcome, out) = run(&input);
        assert_eq!(outcome, Outcome::Done);
        let recorded_in = std::fs::read(dir.join("regsvcsdetect.1.7.input")).unwrap();
        let recorded_out = std::fs::read(dir.join("regsvcsdetect.1.7.output")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(recorded_in.ends_with(&rest));
        let getinfo_part = &recorded_in[..recorded_in.len() - rest.len()];
        let text = String::from_utf8_lossy(getinfo_part);
        assert!(
            text.contains("<redacted>") && !text.contains("s3cret"),
            "{text}"
        );
        assert_eq!(recorded_out, out);
    }

    #[test]
    fn a_recording_that_stops_is_reported_and_the_search_goes_on() {
        let dir = std::env::temp_dir().join(format!("regsvcsdetect-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Every write to /dev/full fails (ENOSPC), as on a full disk.
        std::os::unix::fs::symlink("/dev/full", dir.join("regsvcsdetect.1.7.output")).unwrap();
        let first = getinfo(&["mode=noargs", "record=t"], dir.to_str().unwrap());
        let input = [first, execute(ROWS, false), execute("", true)].concat();
        let (outcome, out) = run(&input);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(outcome, Outcome::Done);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            text.matches("the recording of this session stopped: ")
                .count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn the_tee_copies_only_what_is_consumed_after_attaching() {
        let dir = std::env::temp_dir().join(format!("regsvcsdetect-tee2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("copy");
        let mut tee = Tee::new(io::BufReader::with_capacity(4, &b"abcdefghij"[..]));
        let mut two = [0; 2];
        tee.read_exact(&mut two).unwrap();
        tee.attach(File::create(&path).unwrap());
        assert_eq!(tee.fill_buf().unwrap(), b"cd");
        tee.consume(1);
        let mut rest = Vec::new();
        tee.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"defghij");
        assert_eq!(std::fs::read(&path).unwrap(), b"cdefghij");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
