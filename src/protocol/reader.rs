//! `ChunkReader`: reads whole request chunks into buffers the caller owns, looping over short reads.

use std::io::{BufRead, Read};

use super::header::{parse_header, HeaderError, MAX_HEADER_BYTES};
use super::{Error, ErrorKind};

/// The largest chunk (metadata plus body) accepted: 1 GiB.
///
/// splunkd has no protocol maximum; a real Splunk 6.3 map chunk carried a
/// 16 MB body. A header that declares more than this is refused before any
/// buffer is grown, and a smaller declared length is still read
/// incrementally, so a lying header costs at most what actually arrives.
pub const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// Where a streamed body goes: a reader over exactly its bytes, with the
/// length its header declares, handed to a callback.
type BodyReader<'a> = &'a mut dyn FnMut(&mut (dyn Read + Send), u64) -> std::io::Result<()>;

/// The largest metadata accepted: 16 MiB. Real metadata is a few KB (the
/// search string is the largest part); JSON parsing costs many times the
/// text's size, so metadata gets a much lower cap than bodies.
pub const MAX_METADATA_BYTES: u64 = 16 << 20;

/// One request chunk: raw metadata bytes and raw body bytes, reused across reads.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The JSON metadata, exactly as sent.
    pub metadata: Vec<u8>,
    /// The CSV body, exactly as sent (possibly empty).
    pub body: Vec<u8>,
}

/// Reads chunks from a byte stream.
#[derive(Debug)]
pub struct ChunkReader<R> {
    inner: R,
    line: Vec<u8>,
    chunks: u64,
    offset: u64,
    /// Where the last chunk read (or being read) began.
    start: u64,
    limit: u64,
}

impl<R: BufRead + Send> ChunkReader<R> {
    /// Wraps a buffered reader, with the default [`MAX_CHUNK_BYTES`] limit.
    pub fn new(inner: R) -> ChunkReader<R> {
        ChunkReader::with_limit(inner, MAX_CHUNK_BYTES)
    }

    /// Wraps a buffered reader with a custom chunk-size limit (bytes).
    pub fn with_limit(inner: R, limit: u64) -> ChunkReader<R> {
        ChunkReader {
            inner,
            line: Vec::with_capacity(MAX_HEADER_BYTES),
            chunks: 0,
            offset: 0,
            start: 0,
            limit,
        }
    }

    /// Number of chunks read so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The header line of the last chunk read, exactly as received.
    pub(crate) fn header_line(&self) -> &[u8] {
        &self.line
    }

    /// Byte offset of the next unread byte in the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Byte offset where the last chunk read began (its header line), the
    /// offset framing errors report too.
    pub(crate) fn chunk_offset(&self) -> u64 {
        self.start
    }

    /// The wrapped reader.
    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Reads the next chunk into `chunk`, replacing its contents.
    ///
    /// Returns `Ok(false)` at end of input on a chunk boundary, which is how
    /// splunkd ends every session. Blank lines between chunks are skipped, as
    /// the Python SDK's reader does.
    ///
    /// # Errors
    ///
    /// A malformed or unsupported header, a declared size over the limit, end
    /// of input inside a chunk, or an I/O failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use regsvcsdetect::protocol::{Chunk, ChunkReader};
    /// let mut r = ChunkReader::new(&b"chunked 1.0,2,3\n{}a\nb"[..]);
    /// let mut chunk = Chunk::default();
    /// assert!(r.read_chunk(&mut chunk).unwrap());
    /// assert_eq!(chunk.body, b"a\nb");
    /// assert!(!r.read_chunk(&mut chunk).unwrap());
    /// ```
    pub fn read_chunk(&mut self, chunk: &mut Chunk) -> Result<bool, Error> {
        self.read_chunk_inner(chunk, None)
    }

    /// Reads the next chunk like [`ChunkReader::read_chunk`], but hands the
    /// body to `body` as a reader over exactly its bytes, with the length
    /// its header declares, so they can be read straight into the caller's
    /// buffer (reads at least as large as the input buffer bypass it);
    /// `chunk.body` is left empty. `body` must
    /// read until its reader ends; bytes it leaves count as a truncation.
    ///
    /// # Errors
    ///
    /// As [`ChunkReader::read_chunk`], and any error `body` returns.
    pub(crate) fn read_chunk_into(
        &mut self,
        chunk: &mut Chunk,
        body: BodyReader<'_>,
    ) -> Result<bool, Error> {
        self.read_chunk_inner(chunk, Some(body))
    }

    fn read_chunk_inner(
        &mut self,
        chunk: &mut Chunk,
        body: Option<BodyReader<'_>>,
    ) -> Result<bool, Error> {
        let start = loop {
            let start = self.offset;
            self.line.clear();
            let n = (&mut self.inner)
                .take(MAX_HEADER_BYTES as u64)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| self.error(ErrorKind::Io(e), start))?;
            self.offset += n as u64;
            if n == 0 {
                return Ok(false);
            }
            if self.line != b"\n" && self.line != b"\r\n" {
                break start;
            }
        };
        self.start = start;
        self.chunks += 1;
        if self.line.last() != Some(&b'\n') {
            let kind = if self.line.len() >= MAX_HEADER_BYTES {
                ErrorKind::HeaderMalformed {
                    line: shorten(&self.line),
                }
            } else {
                ErrorKind::Truncated {
                    part: "header",
                    expected: 0,
                    got: self.line.len() as u64,
                }
            };
            // A header cut by end of input that still parses as far as it goes
            // is a truncation; anything else is garbage.
            let kind = match kind {
                ErrorKind::Truncated { .. } if !b"chunked".starts_with(prefix(&self.line)) => {
                    ErrorKind::HeaderMalformed {
                        line: shorten(&self.line),
                    }
                }
                other => other,
            };
            return Err(self.error(kind, start));
        }
        let header = parse_header(&self.line).map_err(|e| {
            let kind = match e {
                HeaderError::Malformed => ErrorKind::HeaderMalformed {
                    line: shorten(&self.line),
                },
                HeaderError::Version(version) => ErrorKind::UnsupportedVersion { version },
            };
            self.error(kind, start)
        })?;
        if header.metadata_len > MAX_METADATA_BYTES {
            return Err(self.error(
                ErrorKind::MetadataTooLarge {
                    len: header.metadata_len,
                },
                start,
            ));
        }
        let len = header.metadata_len.saturating_add(header.body_len);
        if len > self.limit {
            return Err(self.error(
                ErrorKind::ChunkTooLarge {
                    len,
                    limit: self.limit,
                },
                start,
            ));
        }
        self.read_part(&mut chunk.metadata, header.metadata_len, "metadata", start)?;
        match body {
            None => self.read_part(&mut chunk.body, header.body_len, "body", start)?,
            Some(body) => {
                chunk.body.clear();
                let len = header.body_len;
                let mut part = (&mut self.inner).take(len);
                let result = body(&mut part, len);
                let got = len - part.limit();
                self.offset += got;
                result.map_err(|e| self.error(ErrorKind::Io(e), start))?;
                if got < len {
                    let kind = ErrorKind::Truncated {
                        part: "body",
                        expected: len,
                        got,
                    };
                    return Err(self.error(kind, start));
                }
            }
        }
        Ok(true)
    }

    fn read_part(
        &mut self,
        buf: &mut Vec<u8>,
        len: u64,
        part: &'static str,
        start: u64,
    ) -> Result<(), Error> {
        buf.clear();
        // `take` + `read_to_end` grows the buffer only as bytes arrive, so a
        // header that lies about its length cannot make us allocate it.
        let got = (&mut self.inner)
            .take(len)
            .read_to_end(buf)
            .map_err(|e| self.error(ErrorKind::Io(e), start))? as u64;
        self.offset += got;
        if got < len {
            return Err(self.error(
                ErrorKind::Truncated {
                    part,
                    expected: len,
                    got,
                },
                start,
            ));
        }
        Ok(())
    }

    fn error(&self, kind: ErrorKind, start: u64) -> Error {
        Error::new(kind, self.chunks.max(1), start)
    }
}

fn prefix(line: &[u8]) -> &[u8] {
    &line[..line.len().min(b"chunked".len())]
}

fn shorten(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let text = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
    if line.len() > 60 {
        text + "..."
    } else {
        text
    }
}

/// A reader that hands out one byte per call, for tests of short reads.
#[cfg(test)]
pub(crate) struct OneByte<'a>(pub &'a [u8]);

#[cfg(test)]
impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn chunk(meta: &str, body: &str) -> Vec<u8> {
        format!("chunked 1.0,{},{}\n{meta}{body}", meta.len(), body.len()).into_bytes()
    }

    type Chunks = Vec<(Vec<u8>, Vec<u8>)>;

    fn read_all(input: &[u8]) -> Result<Chunks, Error> {
        let mut r = ChunkReader::new(BufReader::with_capacity(1, OneByte(input)));
        let mut c = Chunk::default();
        let mut out = vec![];
        while r.read_chunk(&mut c)? {
            out.push((c.metadata.clone(), c.body.clone()));
        }
        Ok(out)
    }

    #[test]
    fn reads_chunks_one_byte_at_a_time() {
        let input = [chunk("{\"a\":1}", ""), chunk("{}", "x,y\n1,2\n")].concat();
        let got = read_all(&input).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, b"x,y\n1,2\n");
    }

    #[test]
    fn empty_input_is_a_clean_end() {
        assert!(read_all(b"").unwrap().is_empty());
    }

    #[test]
    fn blank_lines_between_chunks_are_skipped() {
        let input = [chunk("{}", ""), b"\n".to_vec(), chunk("{}", "")].concat();
        assert_eq!(read_all(&input).unwrap().len(), 2);
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let input = [
            chunk("{\"action\":\"getinfo\"}", ""),
            chunk("{}", "a,b\n1,2\n"),
        ]
        .concat();
        let first_len = chunk("{\"action\":\"getinfo\"}", "").len();
        for cut in 0..input.len() {
            let res = read_all(&input[..cut]);
            if cut == 0 || cut == first_len {
                assert!(res.is_ok(), "cut {cut}");
            } else {
                assert!(res.is_err(), "cut {cut} should be an error");
            }
        }
    }

    #[test]
    fn absurd_length_is_refused_before_allocating() {
        let err = read_all(b"chunked 1.0,2,1000000000000\n{}").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::ChunkTooLarge { .. }),
            "{err}"
        );
        let err = read_all(b"chunked 1.0,1000000000000,0\n{}").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MetadataTooLarge { .. }),
            "{err}"
        );
    }

    #[test]
    fn large_but_allowed_length_fails_at_end_of_input() {
        let err = read_all(b"chunked 1.0,2,900000000\n{}abc").unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Truncated {
                    part: "body",
                    got: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn streamed_bodies_are_the_same_bytes_and_truncation_still_fails() {
        let input = [
            chunk("{}", ""),
            chunk("{\"a\":1}", "x,y\n1,2\n"),
            chunk("{}", "z"),
        ]
        .concat();
        let mut r = ChunkReader::new(BufReader::with_capacity(3, OneByte(&input)));
        let mut c = Chunk::default();
        let mut bodies = vec![];
        let mut body = vec![];
        while r
            .read_chunk_into(&mut c, &mut |src, _| src.read_to_end(&mut body).map(drop))
            .unwrap()
        {
            assert!(c.body.is_empty());
            bodies.push((c.metadata.clone(), std::mem::take(&mut body)));
        }
        assert_eq!(r.offset(), input.len() as u64);
        assert_eq!(read_all(&input).unwrap(), bodies);
        let cut = &input[..input.len() - 1];
        let mut r = ChunkReader::new(BufReader::with_capacity(3, OneByte(cut)));
        let err = loop {
            match r.read_chunk_into(&mut c, &mut |src, _| {
                std::io::copy(src, &mut std::io::sink()).map(drop)
            }) {
                Ok(true) => {}
                Ok(false) => panic!("a truncated body must fail"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Truncated {
                    part: "body",
                    got: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn garbage_header_is_malformed() {
        let err = read_all(b"hello world\n").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::HeaderMalformed { .. }));
        let err = read_all(&[b'x'; 300]).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::HeaderMalformed { .. }));
    }
}
