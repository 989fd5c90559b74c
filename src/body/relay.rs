//! Windows of complete records, each read by the thread that files it, with the unfinished record relayed from one read to the next.

use std::io::{self, Read};
use std::sync::{Mutex, PoisonError};

use super::read::{Carry, Decoder, RowSink};
use super::vector::quotes_odd;

/// One thread's window: the records it read and files, with a decoder of
/// its own. It is reused from window to window and body to body, so its
/// buffer is in this thread's cache and never faulted in again.
#[derive(Debug)]
pub(crate) struct Window {
    buf: Vec<u8>,
    /// `buf[start..end]` holds complete records (`start` is past a header).
    start: usize,
    end: usize,
    /// The window's place in the body, counted from 0.
    seq: usize,
    decoder: Decoder,
    /// What each window of the body filed, by place, to be folded in order.
    filed: Vec<(usize, Filed)>,
}

/// What a decoder filed in one window: its counts and its stop.
#[derive(Debug)]
pub(super) struct Filed {
    pub(super) counts: super::BodyCounts,
    pub(super) failed: Option<super::Error>,
    pub(super) stopped: bool,
}

impl Window {
    pub(super) fn new(decoder: Decoder) -> Window {
        Window {
            buf: Vec::new(),
            start: 0,
            end: 0,
            seq: 0,
            decoder,
            filed: Vec::new(),
        }
    }

    /// The window's place in the body: rows of a lower place come first.
    pub(crate) fn seq(&self) -> usize {
        self.seq
    }

    /// Files the window's records, handing decoded rows to `row`.
    pub(crate) fn run(&mut self, row: &mut RowSink<'_>) {
        let text = &self.buf[self.start..self.end];
        let (done, _) = self.decoder.process(text, Carry::default(), row);
        debug_assert_eq!(done, text.len(), "a window holds complete records only");
        self.filed.push((self.seq, self.decoder.take_filed()));
    }

    /// What the windows of this body filed, by place.
    pub(super) fn take_filed(&mut self) -> std::vec::Drain<'_, (usize, Filed)> {
        self.filed.drain(..)
    }
}

/// What the threads of one read share, under one lock: the source, the
/// unfinished record the last window left, and the decoder that files the
/// header and whose mapping every window takes on.
#[derive(Debug)]
pub(crate) struct Relay<'s> {
    shared: Mutex<Shared<'s>>,
}

struct Shared<'s> {
    src: &'s mut (dyn Read + Send),
    /// Bytes the source still holds, when known.
    left: Option<u64>,
    threads: u64,
    tail: Vec<u8>,
    header: &'s mut Decoder,
    next_seq: usize,
    ended: bool,
    error: Option<io::Error>,
}

impl std::fmt::Debug for Shared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("tail", &self.tail.len())
            .field("next_seq", &self.next_seq)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<'s> Relay<'s> {
    /// A relay over `src`, which holds `left` bytes when that is known,
    /// for `threads` threads; `tail` is read first.
    pub(super) fn new(
        src: &'s mut (dyn Read + Send),
        tail: Vec<u8>,
        header: &'s mut Decoder,
        left: Option<u64>,
        threads: usize,
    ) -> Relay<'s> {
        Relay {
            shared: Mutex::new(Shared {
                src,
                left,
                threads: threads.max(1) as u64,
                tail,
                header,
                next_seq: 0,
                ended: false,
                error: None,
            }),
        }
    }

    /// Reads the next window into `w`: the record the last one left
    /// unfinished, then about `size` bytes, more if no record ends in them.
    /// When the source's length is known and less than a window a thread
    /// is left, a window takes only a thread's share of it (see [`share`]),
    /// so no thread files a whole window while the others wait at the end
    /// of the body. False once the source has ended (or failed); what is
    /// left unfinished then stays here.
    pub(crate) fn fill(&self, w: &mut Window, size: usize) -> bool {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let size = size.max(1);
        let size = shared
            .left
            .map_or(size, |left| share(left, shared.threads, size));
        shared.fill(w, size)
    }

    /// The unfinished record left at the end, and the read error that
    /// ended the read, if one did.
    pub(super) fn into_parts(self) -> (Vec<u8>, Option<io::Error>) {
        let shared = self
            .shared
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        (shared.tail, shared.error)
    }
}

/// A window at the end of a body takes no less than a window's size over
/// this: smaller, the lock and the read would cost more than the balance
/// saves.
const SHARES: usize = 16;

/// The bytes of a window of `size` (at least 1) when the source holds
/// `left` more, shared by `threads`: `size`, or a thread's share of what is
/// left when that is smaller, but no less than `size / SHARES`.
fn share(left: u64, threads: u64, size: usize) -> usize {
    let floor = (size / SHARES).max(1);
    usize::try_from(left / threads).map_or(size, |share| share.clamp(floor, size))
}

impl Shared<'_> {
    fn fill(&mut self, w: &mut Window, size: usize) -> bool {
        if self.ended {
            return false;
        }
        let kept = self.tail.len();
        if w.buf.len() < kept + size {
            w.buf.resize(kept + size, 0);
        }
        w.buf[..kept].copy_from_slice(&self.tail);
        let mut len = kept;
        let mut limit = kept + size;
        // Where the records start (past the header, if this window holds
        // it), and how far they were searched for a record's end, with the
        // quote parity there: a record longer than a window is searched once.
        let (mut start, mut header) = (0, Carry::default());
        let (mut scanned, mut odd) = (0, false);
        loop {
            len += self.read(&mut w.buf[len..limit]);
            let text = &w.buf[..len];
            if self.header.columns.is_none() {
                let (past, carry) = self.header.process_header(&text[start..], header);
                (start, header, scanned) = (start + past, carry, start + past);
            }
            let mut end = None;
            if self.header.columns.is_some() {
                (end, odd) = last_record_end(text, scanned, odd);
                scanned = len;
            }
            match end {
                Some(end) => {
                    self.tail.clear();
                    self.tail.extend_from_slice(&text[end..]);
                    (w.start, w.end, w.seq) = (start, end, self.next_seq);
                    self.next_seq += 1;
                    w.decoder.adopt(self.header);
                    return true;
                }
                None if self.ended => {
                    self.tail.clear();
                    self.tail.extend_from_slice(&text[start..]);
                    return false;
                }
                // No record ends in what was read: read as much again.
                None => {
                    limit = len + len.max(size);
                    if w.buf.len() < limit {
                        w.buf.resize(limit, 0);
                    }
                }
            }
        }
    }

    /// Reads into `buf` until it is full or the source ends or fails;
    /// returns how much was read.
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            match self.src.read(&mut buf[n..]) {
                Ok(0) => {
                    self.ended = true;
                    break;
                }
                Ok(got) => {
                    n += got;
                    self.left = self.left.map(|left| left.saturating_sub(got as u64));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.ended = true;
                    self.error = Some(e);
                    break;
                }
            }
        }
        n
    }
}

/// Just past the last record that ends in `text[from..]`, given that the
/// quotes before `from` since the record it is in started are `odd` in
/// number: past the last line break there outside quotes. One quote count
/// over `text[from..]`, then back from its end a line at a time until the
/// quotes before a line break are even in number. Also returns the parity
/// at the end of `text`, to search on from there.
fn last_record_end(text: &[u8], from: usize, odd: bool) -> (Option<usize>, bool) {
    let at_end = odd ^ quotes_odd(&text[from..]);
    let (mut end, mut odd) = (text.len(), at_end);
    while let Some(nl) = memchr::memrchr(b'\n', &text[from..end]) {
        let nl = from + nl;
        odd ^= quotes_odd(&text[nl..end]);
        if !odd {
            return (Some(nl + 1), at_end);
        }
        end = nl;
    }
    (None, at_end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: a byte-at-a-time quote state, the last line break outside quotes.
    fn naive(text: &[u8]) -> Option<usize> {
        let mut quoted = false;
        let mut last = None;
        for (i, &b) in text.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => last = Some(i + 1),
                _ => {}
            }
        }
        last
    }

    fn whole(text: &[u8]) -> Option<usize> {
        last_record_end(text, 0, false).0
    }

    #[test]
    fn windows_shrink_to_a_share_of_what_is_left() {
        let mib = 1 << 20;
        // Far from the end: whole windows.
        assert_eq!(share(100 * mib as u64, 2, mib), mib);
        assert_eq!(share(2 * mib as u64, 2, mib), mib);
        // Less than a window a thread left: a thread's share.
        assert_eq!(share(mib as u64, 2, mib), mib / 2);
        assert_eq!(share(3 * mib as u64 / 2, 4, mib), 3 * mib / 8);
        // Never below a sixteenth of a window, nor above a window.
        assert_eq!(share(1000, 2, mib), mib / 16);
        assert_eq!(share(0, 3, mib), mib / 16);
        assert_eq!(share(10, 2, 8), 5);
        assert_eq!(share(0, 2, 8), 1);
        assert_eq!(share(u64::MAX, 1, mib), mib);
    }

    #[test]
    fn the_last_record_ends_at_a_line_break_outside_quotes() {
        assert_eq!(whole(b"a,b\nc,d"), Some(4));
        assert_eq!(whole(b"a,b\n\"c\nd"), Some(4));
        assert_eq!(whole(b"a,\"b\nc\"\n"), Some(8));
        assert_eq!(whole(b"\"a\nb"), None);
        assert_eq!(whole(b""), None);
        // Searched on from a quote left open before `from`.
        assert_eq!(last_record_end(b"\"a\nb\"\nc", 3, true), (Some(6), false));
        assert_eq!(last_record_end(b"\"a\nb\nc", 3, true), (None, true));
    }

    proptest! {
        #[test]
        fn last_record_end_agrees_with_a_quote_state_machine(
            text in proptest::collection::vec(prop_oneof![
                Just(b'"'), Just(b'\n'), Just(b','), Just(b'a'), Just(b'\r'),
            ], 0..200),
        ) {
            prop_assert_eq!(whole(&text), naive(&text));
            // Searched in two steps, as a window that grows is.
            let cut = text.len() / 2;
            let (first, odd) = last_record_end(&text[..cut], 0, false);
            let (second, _) = last_record_end(&text, cut, odd);
            prop_assert_eq!(second.or(first), naive(&text));
        }
    }
}
