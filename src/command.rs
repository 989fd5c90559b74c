//! The connection to splunkd: requests in, replies out (teed into a recording under `record=t`), getinfo to a [`Plan`](plan), execute to its handler, and the one place a failure becomes the ERROR reply.
//!
//! # Layout
//!
//! - `plan.rs`: the getinfo request to the reply, the engine, the phase and
//!   whether to record.
//! - `execute.rs`: each execute body through the [`Sink`] into the engine,
//!   and its answer.
//! - `record.rs`: the `record=t` files and the redacted getinfo chunk.
//! - `error.rs`: [`Error`], with one `Display`, and the [`tagged`] prefix.

mod error;
mod execute;
mod plan;
mod record;

pub use error::{tagged, At, Error, ErrorKind, COMMAND};
pub use execute::Sink;

use std::fs::File;
use std::io::{self, BufRead, Read, Write};

use crate::protocol::{Chunk, ChunkReader, ChunkWriter, Reply, Request};

use error::error_reply;
use execute::Execute;
use plan::Plan;
use record::Recording;

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

impl<R: BufRead, W: Write> Session<R, W> {
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
    pub fn without_recording(mut self) -> Session<R, W> {
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
            match Recording::start(target, &self.chunk) {
                Ok(rec) => {
                    self.reader.get_mut().attach(rec.input);
                    self.writer.get_mut().attach(rec.output);
                }
                Err(e) => error::inform(
                    &mut plan.reply,
                    "WARN",
                    format!("cannot record this session into the dispatch directory: {e}; the search goes on without recording"),
                ),
            }
        }
        self.send(&plan.reply, b"")?;
        let mut execute = Execute::new(plan.engine, plan.phase, plan.warn);
        loop {
            let more = self
                .reader
                .read_chunk_streaming(&mut self.chunk, &mut |piece| execute.feed(piece))?;
            if !more {
                return Ok(());
            }
            let request = self.request()?;
            let (reply, body) = execute.answer(&request).map_err(|e| e.within(self.at()))?;
            self.send(&reply, &body)?;
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

    fn send(&mut self, reply: &Reply, body: &[u8]) -> Result<(), Error> {
        Ok(self.writer.write_chunk(&reply.to_json(), body)?)
    }
}

/// A stream that copies every byte passing through it into a recording once
/// one is attached, so neither the read nor the write path asks whether the
/// session records. A recording that fails to write is dropped and the
/// search goes on: it is a diagnostic copy, never the data.
#[derive(Debug)]
struct Tee<T> {
    inner: T,
    copy: Option<File>,
}

impl<T> Tee<T> {
    fn new(inner: T) -> Tee<T> {
        Tee { inner, copy: None }
    }

    fn attach(&mut self, file: File) {
        self.copy = Some(file);
    }

    fn record(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.copy {
            if file.write_all(bytes).is_err() {
                self.copy = None;
            }
        }
    }
}

impl<T: BufRead> Read for Tee<T> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
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
                Ok(buf) => buf.get(..n).is_some_and(|b| file.write_all(b).is_ok()),
                Err(_) => false,
            };
            if !copied {
                self.copy = None;
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
