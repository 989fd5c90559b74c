//! Bodies in: the header mapped by name, the literal prefilter over a rolling buffer, and kept records decoded for the engine.

use std::collections::HashMap;
use std::io::{self, Read};

use regex::bytes::Regex;

use super::decode::{next_record, Fields, Record};
use super::mv::decode_mv;
use super::relay::{Filed, Relay, Window};
use super::split::{count_from, record_end};
use super::vector::first_pair_block;
use super::{Error, ErrorKind, MAX_FIELD_BYTES};
use crate::detect::{Row, Schema, Values};

/// Where one logical field can be read from: a (plain, `__mv_`) column pair.
type Candidate = (Option<usize>, Option<usize>);

/// Maps the engine's field names to the columns of one body's header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    /// Per field, its most preferred candidate (`Processes.x` or
    /// `All_Traffic.x` before `x`); `(None, None)` when the header has
    /// neither.
    first: Vec<Candidate>,
    /// Per field, the candidates tried when the first is null.
    others: Vec<Vec<Candidate>>,
    width: usize,
}

impl Columns {
    /// Resolves the schema's fields against a header record. Columns are
    /// matched by name, each field's names tried in the schema's order; the
    /// first of duplicated names wins.
    pub(crate) fn new(header: &Record<'_>, schema: &Schema) -> Columns {
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            index.entry(name).or_insert(i);
        }
        let pair = |name: &str| {
            let plain = index.get(name.as_bytes()).copied();
            let mv = index.get(format!("__mv_{name}").as_bytes()).copied();
            (plain.is_some() || mv.is_some()).then_some((plain, mv))
        };
        let (mut first, mut others) = (Vec::new(), Vec::new());
        for i in 0..schema.len() {
            let mut found = schema.names(i).iter().filter_map(|n| pair(n));
            first.push(found.next().unwrap_or((None, None)));
            others.push(found.collect());
        }
        Columns {
            first,
            others,
            width: header.len(),
        }
    }

    /// Number of columns in the header.
    pub(crate) fn width(&self) -> usize {
        self.width
    }
}

/// One CSV record seen through [`Columns`].
#[derive(Debug)]
pub struct CsvRow<'a> {
    /// The header mapping.
    pub(crate) columns: &'a Columns,
    /// The record.
    pub(crate) record: Record<'a>,
}

impl Row for CsvRow<'_> {
    // Called for every field of every kept row, from one loop: inlined there,
    // its value is built in place rather than returned through memory.
    #[inline(always)]
    fn get(&self, field: usize) -> Values<'_> {
        let Some(&(plain, mv)) = self.columns.first.get(field) else {
            return Values::Null;
        };
        let v = cell(&self.record, plain, mv);
        if !v.is_null() {
            return v;
        }
        for &(plain, mv) in &self.columns.others[field] {
            let v = cell(&self.record, plain, mv);
            if !v.is_null() {
                return v;
            }
        }
        Values::Null
    }
}

/// The values of one field: a non-empty `__mv_` cell that decodes strictly
/// replaces the plain cell; otherwise the plain cell is one value (embedded
/// newlines and all).
#[inline(always)]
fn cell<'a>(record: &Record<'a>, plain: Option<usize>, mv: Option<usize>) -> Values<'a> {
    if let Some(encoded) = mv.and_then(|i| record.get(i)).filter(|m| !m.is_empty()) {
        if let Some(values) = multivalue(encoded) {
            return values;
        }
    }
    plain
        .and_then(|i| record.get(i))
        .map_or(Values::Null, Values::one)
}

/// The values of a non-empty `__mv_` cell, if it decodes strictly. Kept out
/// of line: [`cell`] runs for every field of every kept row and should stay
/// small enough to inline, so its result never goes through memory.
#[inline(never)]
fn multivalue(encoded: &[u8]) -> Option<Values<'_>> {
    decode_mv(encoded).map(Values::from_list)
}

/// The prefilter's search. A non-empty ASCII needle is found by one
/// vectorised search for its rarest byte in either case, each candidate then
/// compared whole ignoring ASCII case: the same matches as the regex
/// `(?i-u:needle)`, leftmost and non-overlapping, at a fraction of the cost of
/// a case-insensitive multi-literal search. Anything else uses the regex.
#[derive(Debug, Clone)]
pub(crate) enum Needle {
    Literal {
        /// The needle in lower case.
        lower: Vec<u8>,
        /// The index of the rarest byte.
        rare: usize,
        /// The index of the next rarest (`rare` for a one-byte needle).
        second: usize,
    },
    Regex(Regex),
}

/// ASCII bytes ranked from the most common in splunkd rows of process and
/// network events (paths, `.exe` names, IP addresses, quoted command lines);
/// a byte not listed counts as rarer than all of these. Measured on the
/// `make bench` streams; it only decides speed, never a match.
const COMMON: &[u8] = b" ,\".0123456789etaoinsrlcmdpxhuwv:\\/-_fbyg";

impl Needle {
    pub(crate) fn literal(needle: &[u8]) -> Needle {
        let lower = needle.to_ascii_lowercase();
        let rank = |b: u8| COMMON.iter().position(|&c| c == b).unwrap_or(COMMON.len());
        let rare = (0..lower.len())
            .max_by_key(|&i| (rank(lower[i]), std::cmp::Reverse(i)))
            .unwrap_or(0);
        let second = (0..lower.len())
            .filter(|&i| i != rare)
            .max_by_key(|&i| (rank(lower[i]), std::cmp::Reverse(i)))
            .unwrap_or(rare);
        Needle::Literal {
            lower,
            rare,
            second,
        }
    }

    /// The start of the first match at or after `from`.
    fn find(&self, text: &[u8], from: usize) -> Option<usize> {
        match self {
            Needle::Regex(re) => re.find_at(text, from).map(|m| m.start()),
            Needle::Literal {
                lower,
                rare,
                second,
            } => find_pair(text, from, lower, *rare, *second),
        }
    }

    /// The literal's length (a regex needle is never asked).
    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Needle::Literal { lower, .. } => lower.len(),
            Needle::Regex(_) => 0,
        }
    }

    /// How many bytes before the end of the text a match cut by that end
    /// may start: all of them for a regex.
    fn overlap(&self) -> usize {
        match self {
            Needle::Literal { lower, .. } => lower.len().saturating_sub(1),
            Needle::Regex(_) => usize::MAX,
        }
    }

    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        self.find(text, 0).is_some()
    }

    /// The starts of the leftmost non-overlapping matches, found lazily
    /// (the reference the literal search is tested against).
    #[cfg(test)]
    pub(crate) fn starts<'a>(&'a self, text: &'a [u8]) -> Starts<'a> {
        match self {
            Needle::Regex(re) => Starts::Regex(re.find_iter(text)),
            Needle::Literal { .. } => Starts::Literal {
                needle: self,
                text,
                from: 0,
            },
        }
    }
}

/// The first start at or after `from` of `lower`, ASCII case aside. Blocks
/// of 64 candidate starts are tested at once for the needle's two rarest
/// bytes at their offsets (a letter matched in either case by folding bit
/// 0x20, any other byte exactly): a branch-free loop the compiler
/// vectorises, so a byte common in the text (the `g` of `regsvcs` occurs
/// every hundred bytes in process paths) costs no restart of the search.
/// A block with a candidate is then checked start by start.
fn find_pair(text: &[u8], from: usize, lower: &[u8], i1: usize, i2: usize) -> Option<usize> {
    const BLOCK: usize = 64;
    let fold = |c: u8| (if c.is_ascii_lowercase() { 0x20 } else { 0 }, c);
    let ((m1, c1), (m2, c2)) = (fold(lower[i1]), fold(lower[i2]));
    let last = text.len().checked_sub(lower.len())?;
    if from > last {
        return None;
    }
    // A start is compared whole only where its two bytes match.
    let at = |s: usize| {
        (text[s + i1] | m1) == c1
            && (text[s + i2] | m2) == c2
            && text[s..s + lower.len()].eq_ignore_ascii_case(lower)
    };
    // The whole blocks of starts, as two runs of bytes: those at the rarest
    // byte's offset and those at the second's. Cut to whole blocks up front,
    // the search checks no bounds.
    let span = (last + 1 - from) / BLOCK * BLOCK;
    let (a, b) = (&text[from + i1..][..span], &text[from + i2..][..span]);
    let mut block = 0;
    while let Some(n) = first_pair_block(&a[block..], &b[block..], [m1, c1, m2, c2]) {
        let s = from + block + n;
        if let Some(j) = (s..s + BLOCK).find(|&j| at(j)) {
            return Some(j);
        }
        block += n + BLOCK;
    }
    (from + span..=last).find(|&j| at(j))
}

/// The iterator of [`Needle::starts`].
#[cfg(test)]
pub(crate) enum Starts<'a> {
    Regex(regex::bytes::Matches<'a, 'a>),
    Literal {
        needle: &'a Needle,
        text: &'a [u8],
        from: usize,
    },
}

#[cfg(test)]
impl Iterator for Starts<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Starts::Regex(matches) => matches.next().map(|m| m.start()),
            Starts::Literal { needle, text, from } => {
                let start = needle.find(text, *from)?;
                *from = start + needle.len();
                Some(start)
            }
        }
    }
}

/// What one body held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BodyCounts {
    /// Records skipped by the prefilter (they lack the needle).
    pub skipped: u64,
    /// Records decoded and handed on.
    pub decoded: u64,
    /// Decoded records whose field count differs from the header's.
    pub ragged: u64,
}

/// The smallest free space a read is given; the buffer starts at four
/// times this and grows only when one record does not fit.
const MIN_READ: usize = 64 << 10;

/// How far the unfinished record at the front of the buffer has been looked at.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Carry {
    /// Bytes scanned for newlines and quotes, and the quote parity there.
    scanned: usize,
    odd: bool,
    /// Whether a needle match starts in it.
    hit: bool,
    /// Where the needle search resumes.
    search: usize,
}

/// What a reader hands each decoded row to; it returns false to take no
/// more rows of this body (its own error, say), which are then skipped
/// without being decoded or counted.
pub(crate) type RowSink<'a> = dyn FnMut(&CsvRow<'_>) -> bool + 'a;

/// A [`RowSink`] over a fallible row handler: rows go to `row` until it
/// fails, its first error is kept in `held`, and the sink takes no more.
pub(crate) fn holding_first_error<'a, E>(
    mut row: impl FnMut(&CsvRow<'_>) -> Result<(), E> + 'a,
    held: &'a mut Option<E>,
) -> impl FnMut(&CsvRow<'_>) -> bool + 'a {
    move |r| match row(r) {
        Ok(()) => true,
        Err(e) => {
            *held = Some(e);
            false
        }
    }
}

/// Reads one body: the header, then rows that may match, skipping the rest.
///
/// The body's bytes land in one buffer, read straight into it
/// ([`BodyReader::read_from`]) or copied in ([`BodyReader::feed`]). Each
/// time more arrive, the complete records in the buffer are processed
/// where they lie and the unfinished tail is rolled to the front, the way
/// ripgrep's line buffer works: every byte is split and searched while it
/// is still in cache, and a record that holds the needle is decoded there
/// and handed to the `RowSink` at once, so nothing is copied and memory
/// does not grow with the body. Feeding never fails: a malformed record
/// stops the decoding, and the error surfaces in [`BodyReader::finish`],
/// exactly as a whole-body read reports it.
///
/// Several threads can also read the body together, each a window at a
/// time that it then files with a [`Decoder`] of its own
/// ([`BodyReader::read_windows`]); their counts and first error are then
/// folded back in row order.
#[derive(Debug)]
pub struct BodyReader {
    buf: Vec<u8>,
    /// `buf[..end]` holds bytes not yet processed; it starts a record.
    end: usize,
    carry: Carry,
    /// The decoder of the records this reader processes itself.
    decoder: Decoder,
    /// The windows of [`BodyReader::read_windows`], one a thread.
    windows: Vec<Window>,
    /// The unfinished record the windows hand on, kept for its capacity.
    carried: Vec<u8>,
}

/// Files the records of one body: maps the header, decodes and hands on the
/// records the needle is found in (every record under the bypass column),
/// counts the others. Given the header's mapping, any stretch of complete
/// records can be filed by a decoder of its own.
#[derive(Debug)]
pub(crate) struct Decoder {
    needle: Needle,
    bypass: Option<String>,
    record: Fields,
    /// The fields and column names of the body being read.
    schema: Schema,
    /// The header's mapping, once a complete record has been seen.
    pub(super) columns: Option<Columns>,
    /// Every record after the header is kept (the header has the bypass column).
    decode_all: bool,
    counts: BodyCounts,
    /// Why this body's rows stopped being decoded: a body error, or
    /// (`None` with `stopped`) the sink's refusal.
    failed: Option<Error>,
    stopped: bool,
}

impl BodyReader {
    /// A reader for an engine's [`Schema`]: its needle, and its partial
    /// marker as the bypass column.
    pub(crate) fn for_schema(schema: &Schema) -> BodyReader {
        let mut reader = BodyReader::new(schema.needle(), schema.partial_marker());
        reader.begin(schema);
        reader
    }

    /// A reader whose prefilter looks for `needle`, ignoring ASCII case.
    /// Bodies whose header has a `bypass` column are decoded whole.
    pub fn new(needle: &str, bypass: Option<&str>) -> BodyReader {
        let pattern = format!("(?i-u:{})", regex::escape(needle));
        let needle = if !needle.is_empty() && needle.is_ascii() {
            Needle::literal(needle.as_bytes())
        } else {
            Needle::Regex(Regex::new(&pattern).unwrap_or_else(|_| {
                Regex::new("").expect("the empty pattern always compiles and matches every row")
            }))
        };
        BodyReader {
            buf: Vec::new(),
            end: 0,
            carry: Carry::default(),
            decoder: Decoder::new(
                needle,
                bypass.map(str::to_string),
                Schema::from_fields(&[], &[]),
            ),
            windows: Vec::new(),
            carried: Vec::new(),
        }
    }

    /// Parses `body` and calls `row` for every record that contains the
    /// needle; other records are only counted. A 0-byte or header-only body
    /// holds no rows.
    ///
    /// # Errors
    ///
    /// Malformed CSV or a field over [`MAX_FIELD_BYTES`]; or the first
    /// error `row` returns (no row is handed on after it).
    pub fn read<E: From<Error>>(
        &mut self,
        body: &[u8],
        schema: &Schema,
        mut row: impl FnMut(&CsvRow<'_>) -> Result<(), E>,
    ) -> Result<BodyCounts, E> {
        let mut refused = None;
        self.begin(schema);
        let counts = {
            let mut sink = holding_first_error(&mut row, &mut refused);
            self.feed(body, &mut sink);
            self.finish(&mut sink)
        };
        match refused {
            Some(e) => Err(e),
            None => Ok(counts?),
        }
    }

    /// Starts a new body read by `schema`, forgetting anything fed before.
    pub(crate) fn begin(&mut self, schema: &Schema) {
        if self.decoder.schema != *schema {
            self.decoder.schema = schema.clone();
        }
        self.reset();
    }

    /// Forgets the body read so far, keeping the schema.
    fn reset(&mut self) {
        self.end = 0;
        self.carry = Carry::default();
        self.decoder.reset();
    }

    /// Feeds the next piece of the body; pieces may split a record, a line
    /// end or the needle anywhere. Rows completed by it go to `row`.
    pub(crate) fn feed(&mut self, mut piece: &[u8], row: &mut RowSink<'_>) {
        while !piece.is_empty() {
            let n = self.copy_in(piece);
            self.process_buffered(row);
            piece = &piece[n..];
        }
    }

    /// Copies as much of `piece` as the free end of the buffer takes, to be
    /// processed later; returns how much.
    pub(crate) fn copy_in(&mut self, piece: &[u8]) -> usize {
        let room = self.room();
        let n = room.len().min(piece.len());
        room[..n].copy_from_slice(&piece[..n]);
        self.end += n;
        n
    }

    /// Reads the rest of the body from `src` (until it returns 0) straight
    /// into the buffer, as [`BodyReader::feed`] would take it.
    ///
    /// # Errors
    ///
    /// A read error other than `Interrupted`; what was read before it stays fed.
    pub(crate) fn read_from(
        &mut self,
        src: &mut dyn Read,
        row: &mut RowSink<'_>,
    ) -> io::Result<()> {
        while self.read_more(src)? {
            self.process_buffered(row);
        }
        Ok(())
    }

    /// Reads once from `src` into the free end of the buffer, to be
    /// processed later; false at the end of `src`.
    ///
    /// # Errors
    ///
    /// A read error other than `Interrupted`.
    fn read_more(&mut self, src: &mut dyn Read) -> io::Result<bool> {
        loop {
            match src.read(self.room()) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Bytes in the buffer not processed yet.
    pub(crate) fn buffered(&self) -> usize {
        self.end
    }

    /// The free end of the buffer, at least [`MIN_READ`] bytes.
    fn room(&mut self) -> &mut [u8] {
        if self.buf.len() - self.end < MIN_READ {
            let len = (self.buf.len() * 2).max(4 * MIN_READ);
            self.buf.resize(len, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Processes the complete records buffered so far on this thread.
    pub(crate) fn process_buffered(&mut self, row: &mut RowSink<'_>) {
        let done = self.process(row);
        self.consume(done);
    }

    /// Rolls the bytes after the first `done` to the front.
    fn consume(&mut self, done: usize) {
        if done > 0 {
            self.buf.copy_within(done..self.end, 0);
            self.end -= done;
        }
    }

    /// Processes the complete records of `buf[..end]` with this reader's
    /// own decoder; returns where the unfinished last record starts.
    fn process(&mut self, row: &mut RowSink<'_>) -> usize {
        let (done, carry) = self.decoder.process(&self.buf[..self.end], self.carry, row);
        self.carry = carry;
        done
    }

    /// Reads the rest of the body from `src` on `threads` threads: `work`
    /// gets a [`Relay`] and a [`Window`] a thread, and each thread fills its
    /// window from the relay and files it until the relay is empty (see
    /// [`Relay::fill`]). What is buffered goes first. The windows' counts
    /// and their first stop (an error or a refusal) are then this reader's,
    /// in row order, and the record left unfinished at the end is buffered.
    /// Returns what `work` returned.
    ///
    /// `left` is how many bytes `src` holds, when that is known: the last
    /// windows then shrink so the threads finish about together (see
    /// [`Relay::fill`]).
    ///
    /// A window filed after a window before it stopped is disregarded, as a
    /// serial read would never have reached it; its rows may already be in
    /// its sink.
    ///
    /// # Errors
    ///
    /// The read error that ended the read; what was read before it stays fed.
    pub(crate) fn read_windows<R>(
        &mut self,
        src: &mut (dyn Read + Send),
        left: Option<u64>,
        threads: usize,
        work: impl FnOnce(&Relay<'_>, &mut [Window]) -> R,
    ) -> (R, io::Result<()>) {
        let decoder = &self.decoder;
        self.windows
            .resize_with(threads.max(1), || Window::new(decoder.helper()));
        let mut carried = std::mem::take(&mut self.carried);
        carried.clear();
        carried.extend_from_slice(&self.buf[..self.end]);
        let relay = Relay::new(src, carried, &mut self.decoder, left, threads);
        let out = work(&relay, &mut self.windows);
        let (tail, error) = relay.into_parts();
        let mut filed: Vec<_> = (self.windows.iter_mut())
            .flat_map(Window::take_filed)
            .collect();
        filed.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, f) in filed {
            self.decoder.fold(f);
        }
        self.end = 0;
        self.carry = Carry::default();
        let mut rest = &tail[..];
        while !rest.is_empty() {
            let n = self.copy_in(rest);
            rest = &rest[n..];
        }
        self.carried = tail;
        (out, error.map_or(Ok(()), Err))
    }

    /// Ends the body fed since [`BodyReader::begin`]: files its last record
    /// (no final newline, or a quote left open) and says what the body
    /// held. The reader is ready for the next body of the same schema.
    ///
    /// # Errors
    ///
    /// Malformed CSV or a field over [`MAX_FIELD_BYTES`].
    pub(crate) fn finish(&mut self, row: &mut RowSink<'_>) -> Result<BodyCounts, Error> {
        let tail = &self.buf[..self.end];
        if !tail.is_empty() {
            let d = &mut self.decoder;
            let hit = self.carry.hit || d.needle.is_match(tail);
            d.file(tail, hit, row);
        }
        let counts = self.decoder.counts;
        let failed = self.decoder.failed.take();
        self.reset();
        match failed {
            Some(e) => Err(e),
            None => Ok(counts),
        }
    }
}

impl Decoder {
    /// A decoder whose prefilter is `needle`, before any header.
    fn new(needle: Needle, bypass: Option<String>, schema: Schema) -> Decoder {
        Decoder {
            needle,
            bypass,
            record: Fields::default(),
            schema,
            columns: None,
            decode_all: false,
            counts: BodyCounts::default(),
            failed: None,
            stopped: false,
        }
    }

    /// Forgets the body filed so far, keeping the schema.
    fn reset(&mut self) {
        self.columns = None;
        self.decode_all = false;
        self.counts = BodyCounts::default();
        self.failed = None;
        self.stopped = false;
    }

    /// A decoder for windows of the bodies this one files.
    pub(super) fn helper(&self) -> Decoder {
        Decoder::new(
            self.needle.clone(),
            self.bypass.clone(),
            self.schema.clone(),
        )
    }

    /// Takes on `main`'s header mapping, to file a window of the same body
    /// from scratch.
    pub(super) fn adopt(&mut self, main: &Decoder) {
        if self.schema != main.schema {
            self.schema = main.schema.clone();
        }
        self.reset();
        self.columns.clone_from(&main.columns);
        self.decode_all = main.decode_all;
    }

    /// What this decoder filed since it took on a mapping ([`Decoder::adopt`]).
    pub(super) fn take_filed(&mut self) -> Filed {
        Filed {
            counts: std::mem::take(&mut self.counts),
            failed: self.failed.take(),
            stopped: self.stopped,
        }
    }

    /// Adds the counts of `later`, filed in the window after the ones
    /// counted so far, and its stop, unless this one stopped first; its
    /// error's record is renumbered from the body's start.
    fn fold(&mut self, later: Filed) {
        if self.stopped {
            return;
        }
        if let Some(mut e) = later.failed {
            e.record += self.counts.decoded;
            self.failed = Some(e);
        }
        self.stopped = later.stopped;
        let c = later.counts;
        self.counts.skipped += c.skipped;
        self.counts.decoded += c.decoded;
        self.counts.ragged += c.ragged;
    }

    /// Files the header, the first record of `text` (which starts the body
    /// and was looked at as `carry` says) that is not a blank line, when it
    /// is complete; returns where the records after it start, and the carry
    /// for what follows.
    pub(super) fn process_header(&mut self, text: &[u8], carry: Carry) -> (usize, Carry) {
        let (mut start, mut scanned, mut odd) = (0, carry.scanned, carry.odd);
        let mut none = |_: &CsvRow<'_>| true;
        while self.columns.is_none() {
            let Some(end) = record_end(text, scanned, &mut odd) else {
                let carry = Carry {
                    scanned: text.len() - start,
                    odd,
                    ..Carry::default()
                };
                return (start, carry);
            };
            self.file(&text[start..end], false, &mut none);
            (start, scanned, odd) = (end, end, false);
        }
        (start, Carry::default())
    }

    /// The one loop over a stretch of text that starts a record: walks its
    /// complete records, filing the header, the records a needle match
    /// starts in (every record, under the bypass column) and counting the
    /// others, and returns where the unfinished last record starts, with
    /// how far it has been looked at. Past the header, the records before
    /// each match are only counted, in one pass.
    pub(super) fn process(
        &mut self,
        text: &[u8],
        carry: Carry,
        row: &mut RowSink<'_>,
    ) -> (usize, Carry) {
        let Carry {
            mut scanned,
            mut odd,
            mut hit,
            mut search,
        } = carry;
        let mut pos = 0;
        loop {
            let every = self.columns.is_none() || self.decode_all;
            if !every && !hit {
                match self.needle.find(text, search.max(pos)) {
                    // A match inside the part already scanned lies in this record.
                    Some(h) if h < scanned => hit = true,
                    Some(h) => {
                        let scan = count_from(&text[..h], pos, scanned, odd);
                        self.counts.skipped += scan.records;
                        (pos, scanned, odd, hit) = (scan.last_start, h, scan.odd, true);
                    }
                    None => {
                        let scan = count_from(text, pos, scanned, odd);
                        self.counts.skipped += scan.records;
                        pos = scan.last_start;
                        // A match cut by the end may start in the last
                        // needle-length bytes.
                        search = text.len().saturating_sub(self.needle.overlap());
                        (scanned, odd) = (text.len(), scan.odd);
                        break;
                    }
                }
            }
            let Some(end) = record_end(text, scanned, &mut odd) else {
                scanned = text.len();
                break;
            };
            self.file(&text[pos..end], hit, row);
            (pos, scanned, odd, hit, search) = (end, end, false, false, end);
        }
        let carry = Carry {
            scanned: scanned - pos,
            odd,
            hit,
            search: search.saturating_sub(pos),
        };
        (pos, carry)
    }

    /// Files one complete record: the header, a kept record (a needle
    /// match, or every record under the bypass column), decoded and handed
    /// on, or a counted one. Blank lines are no records.
    fn file(&mut self, rec: &[u8], hit: bool, row: &mut RowSink<'_>) {
        if rec == b"\n" || rec == b"\r\n" {
            return;
        }
        match &self.columns {
            None => self.header(rec),
            Some(_) if self.decode_all || hit => self.decode(rec, row),
            Some(_) => self.counts.skipped += 1,
        }
    }

    /// Maps the header record's columns, and decides whether every later
    /// record is kept (the header has the bypass column).
    fn header(&mut self, rec: &[u8]) {
        if !next_record(rec, &mut 0, &mut self.record) {
            // Only line ends (`\r\r\n`): a header that names no column.
            self.failed = Some(Error::new(ErrorKind::EmptyHeader, 0));
            self.stopped = true;
            self.columns = Some(Columns::default());
            return;
        }
        let header = self.record.of(rec);
        self.decode_all =
            (self.bypass.as_ref()).is_some_and(|b| header.iter().any(|c| c == b.as_bytes()));
        self.columns = Some(Columns::new(&header, &self.schema));
    }

    /// Decodes a kept record where it lies and hands its rows to `row`
    /// (one splitter record may be more than one CSV record, as the csv
    /// crate reads a lone `\r`).
    fn decode(&mut self, rec: &[u8], row: &mut RowSink<'_>) {
        let Some(columns) = &self.columns else {
            return;
        };
        let mut pos = 0;
        while !self.stopped && next_record(rec, &mut pos, &mut self.record) {
            let record = self.record.of(rec);
            let len = record.widest();
            if len > MAX_FIELD_BYTES {
                let kind = ErrorKind::FieldTooLarge {
                    len,
                    limit: MAX_FIELD_BYTES,
                };
                self.failed = Some(Error::new(kind, self.counts.decoded + 1));
                self.stopped = true;
                return;
            }
            if record.len() != columns.width() {
                self.counts.ragged += 1;
            }
            self.counts.decoded += 1;
            self.stopped = !row(&CsvRow { columns, record });
        }
    }
}
