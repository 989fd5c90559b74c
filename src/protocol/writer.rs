//! `ChunkWriter`: reply chunks, one per call, flushed at once; while splunkd runs the command it is the only writer to stdout (the offline subcommands print through `offline::say`, `--help` through clap).

use std::io::Write;

use super::header::format_header;
use super::{Error, ErrorKind};

/// Writes reply chunks.
#[derive(Debug)]
pub struct ChunkWriter<W> {
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
    pub fn write_chunk(&mut self, metadata: &[u8], body: &[u8]) -> Result<(), Error> {
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

    /// Number of chunks written so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Gives back the wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
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
            w.into_inner(),
            "chunked 1.0,11,2\n{\"x\":\"ท\"}a\n".as_bytes()
        );
    }
}
