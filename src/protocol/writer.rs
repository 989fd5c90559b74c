//! `ChunkWriter`: reply chunks, one per call, flushed at once; while splunkd runs the command it is the only writer to stdout (the offline subcommands print through `offline::say`, `--help` through clap).

use std::io::Write;

use super::header::format_header;
use super::{Error, ErrorKind};

/// Writes reply chunks.
#[derive(Debug)]
pub(crate) struct ChunkWriter<W> {
    inner: W,
    chunks: u64,
    offset: u64,
}

impl<W: Write> ChunkWriter<W> {
    /// Wraps a writer (normally a locked, buffered stdout).
    pub fn new(inner: W) -> ChunkWriter<W> {
        ChunkWriter {
            inner,
            chunks: 0,
            offset: 0,
        }
    }

    /// Writes one chunk and flushes, so splunkd sees the reply at once.
    ///
    /// Rust's stdout is line buffered and a chunk rarely ends in `\n`: without
    /// the flush, splunkd and the command would wait on each other forever.
    ///
    /// # Errors
    ///
    /// Any write or flush failure, including a broken pipe when splunkd has
    /// stopped reading (see [`Error::is_broken_pipe`]).
    pub(crate) fn write_chunk(&mut self, metadata: &[u8], body: &[u8]) -> Result<(), Error> {
        self.chunks += 1;
        let header = format_header(metadata.len(), body.len());
        let result = self
            .inner
            .write_all(header.as_bytes())
            .and_then(|()| self.inner.write_all(metadata))
            .and_then(|()| self.inner.write_all(body))
            .and_then(|()| self.inner.flush());
        let start = self.offset;
        self.offset += (header.len() + metadata.len() + body.len()) as u64;
        result.map_err(|e| Error::new(ErrorKind::Io(e), self.chunks, start))
    }

    /// Writes one chunk whose body of `body_len` bytes `body` writes
    /// straight to the output, then flushes: a large reply is never held
    /// whole in memory.
    ///
    /// # Errors
    ///
    /// As [`ChunkWriter::write_chunk`]; also when `body` writes other than
    /// `body_len` bytes (the header would lie), reported as an I/O error.
    pub(crate) fn write_chunk_with(
        &mut self,
        metadata: &[u8],
        body_len: usize,
        body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        self.chunks += 1;
        let header = format_header(metadata.len(), body_len);
        let mut counted = Counted {
            inner: &mut self.inner,
            n: 0,
        };
        let result = counted
            .write_all(header.as_bytes())
            .and_then(|()| counted.write_all(metadata))
            .and_then(|()| {
                let before = counted.n;
                body(&mut counted)?;
                if counted.n - before == body_len {
                    Ok(())
                } else {
                    Err(std::io::Error::other(format!(
                        "a reply body announced {body_len} bytes but {} were written",
                        counted.n - before
                    )))
                }
            })
            .and_then(|()| counted.flush());
        let start = self.offset;
        self.offset += counted.n as u64;
        result.map_err(|e| Error::new(ErrorKind::Io(e), self.chunks, start))
    }

    /// The wrapped writer.
    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

/// Counts the bytes written through it.
struct Counted<'a, W> {
    inner: &'a mut W,
    n: usize,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_metadata_and_body_with_byte_lengths() {
        let mut w = ChunkWriter::new(Vec::new());
        w.write_chunk("{\"x\":\"ท\"}".as_bytes(), b"a\n").unwrap();
        assert_eq!(
            *w.get_mut(),
            "chunked 1.0,11,2\n{\"x\":\"ท\"}a\n".as_bytes()
        );
    }

    #[test]
    fn streamed_bodies_must_match_their_announced_length() {
        let mut w = ChunkWriter::new(Vec::new());
        w.write_chunk_with(b"{}", 3, |o| o.write_all(b"abc"))
            .unwrap();
        assert!(w
            .write_chunk_with(b"{}", 3, |o| o.write_all(b"ab"))
            .is_err());
        assert!(w.get_mut().starts_with(b"chunked 1.0,2,3\n{}abc"));
    }
}
