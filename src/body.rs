//! A chunk's CSV body to rows and back: header mapping by name, `__mv_` columns, the literal prefilter, and the output writer; it never interprets a field.

use std::borrow::Cow;
use std::collections::HashMap;

use csv::ByteRecord;
use regex::bytes::Regex;

use crate::detect::{is_unprefixed, Row, Table, Values};

mod split;

pub use split::Records;
use split::{count_records, record_end};

/// The largest single field accepted: 64 MiB. The Python SDK raised its CSV
/// field limit to 10 MiB for Splunk; this leaves room above that.
pub const MAX_FIELD_BYTES: usize = 64 << 20;

/// A malformed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

/// Where one logical field is read from: candidate (plain, `__mv_`) column
/// pairs, most preferred first (`Processes.x` / `All_Traffic.x` before `x`).
#[derive(Debug, Clone, Default)]
struct Source {
    candidates: Vec<(Option<usize>, Option<usize>)>,
}

/// Maps the engine's field names to the columns of one body's header.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    sources: Vec<Source>,
    width: usize,
}

impl Columns {
    /// Resolves `fields` against a header record. Columns are matched by
    /// name; the first of duplicated names wins.
    pub fn new(header: &ByteRecord, fields: &[&str], prefixes: &[&str]) -> Columns {
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            index.entry(name).or_insert(i);
        }
        let pair = |name: &str| {
            let plain = index.get(name.as_bytes()).copied();
            let mv = index.get(format!("__mv_{name}").as_bytes()).copied();
            (plain.is_some() || mv.is_some()).then_some((plain, mv))
        };
        let sources = fields
            .iter()
            .map(|field| {
                let mut candidates = Vec::new();
                if !is_unprefixed(field) {
                    for p in prefixes {
                        candidates.extend(pair(&format!("{p}{field}")));
                    }
                }
                candidates.extend(pair(field));
                Source { candidates }
            })
            .collect();
        Columns {
            sources,
            width: header.len(),
        }
    }

    /// Number of columns in the header.
    pub fn width(&self) -> usize {
        self.width
    }
}

/// One CSV record seen through [`Columns`].
#[derive(Debug)]
pub struct CsvRow<'a> {
    /// The header mapping.
    pub columns: &'a Columns,
    /// The record.
    pub record: &'a ByteRecord,
}

impl Row for CsvRow<'_> {
    fn get(&self, field: usize) -> Values<'_> {
        let Some(source) = self.columns.sources.get(field) else {
            return Values::Null;
        };
        for &(plain, mv) in &source.candidates {
            let v = cell(self.record, plain, mv);
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
fn cell<'a>(record: &'a ByteRecord, plain: Option<usize>, mv: Option<usize>) -> Values<'a> {
    if let Some(encoded) = mv.and_then(|i| record.get(i)).filter(|m| !m.is_empty()) {
        if let Some(list) = decode_mv(encoded) {
            return Values::from_list(list);
        }
    }
    plain
        .and_then(|i| record.get(i))
        .map_or(Values::Null, Values::one)
}

/// Decodes a `__mv_` cell: `$v1$;$v2$`, with `$` inside a value doubled.
///
/// Strict: returns `None` unless the whole text is well formed, so the caller
/// falls back to the plain value instead of losing it, where the Python SDK's
/// lenient regex would drop data.
pub fn decode_mv(text: &[u8]) -> Option<Vec<Cow<'_, [u8]>>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if text.get(i) != Some(&b'$') {
            return None;
        }
        i += 1;
        let start = i;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            match text.get(i) {
                None => return None,
                Some(b'$') if text.get(i + 1) == Some(&b'$') => {
                    let buf = owned.get_or_insert_with(|| text[start..i].to_vec());
                    buf.push(b'$');
                    i += 2;
                }
                Some(b'$') => break,
                Some(&b) => {
                    if let Some(buf) = owned.as_mut() {
                        buf.push(b);
                    }
                    i += 1;
                }
            }
        }
        out.push(match owned {
            Some(buf) => Cow::Owned(buf),
            None => Cow::Borrowed(&text[start..i]),
        });
        i += 1;
        match text.get(i) {
            None => return Some(out),
            Some(b';') => i += 1,
            Some(_) => return None,
        }
    }
}

/// Encodes values as a `__mv_` cell.
pub fn encode_mv(values: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in values.iter().enumerate() {
        if n > 0 {
            out.push(b';');
        }
        out.push(b'$');
        for &b in *v {
            if b == b'$' {
                out.push(b'$');
            }
            out.push(b);
        }
        out.push(b'$');
    }
    out
}

/// Reads one body: the header, then rows that may match, skipping the rest.
///
/// A body can be fed whole ([`BodyReader::read`]) or in pieces as it arrives
/// ([`BodyReader::begin`], [`BodyReader::feed`], [`BodyReader::finish`]), so
/// the bytes are split and searched while they are still in the CPU cache and
/// only the records that hold the needle are kept. Feeding is pure: it never
/// fails and has no effect outside the reader; every error surfaces in
/// `finish`, exactly as a whole-body read reports it.
#[derive(Debug)]
pub struct BodyReader {
    needle: Needle,
    bypass: Option<String>,
    scratch: Vec<u8>,
    record: ByteRecord,
    /// The header record's bytes, once a complete record has been seen.
    header: Option<Vec<u8>>,
    /// Every record after the header is kept (the header has the bypass column).
    decode_all: bool,
    /// A record begun in an earlier piece, and whether its quote count so far is odd.
    pending: Vec<u8>,
    pending_odd: bool,
    skipped: u64,
}

/// The prefilter's search. A non-empty ASCII needle is found by one
/// vectorised search for its rarest byte in either case, each candidate then
/// compared whole ignoring ASCII case: the same matches as the regex
/// `(?i-u:needle)`, leftmost and non-overlapping, at a fraction of the cost of
/// a case-insensitive multi-literal search. Anything else uses the regex.
#[derive(Debug, Clone)]
enum Needle {
    Literal {
        /// The needle in lower case.
        lower: Vec<u8>,
        /// The index of the byte searched for.
        rare: usize,
    },
    Regex(Regex),
}

/// ASCII bytes ranked from the most common in splunkd rows of process and
/// network events (paths, `.exe` names, IP addresses, quoted command lines);
/// a byte not listed counts as rarer than all of these. Measured on the
/// `make bench` streams; it only decides speed, never a match.
const COMMON: &[u8] = b" ,\".0123456789etaoinsrlcmdpxhuwv:\\/-_fbyg";

impl Needle {
    fn literal(needle: &[u8]) -> Needle {
        let lower = needle.to_ascii_lowercase();
        let rank = |b: u8| COMMON.iter().position(|&c| c == b).unwrap_or(COMMON.len());
        let rare = (0..lower.len())
            .max_by_key(|&i| (rank(lower[i]), std::cmp::Reverse(i)))
            .unwrap_or(0);
        Needle::Literal { lower, rare }
    }

    /// The start of the first match at or after `from`.
    fn find(&self, text: &[u8], from: usize) -> Option<usize> {
        match self {
            Needle::Regex(re) => re.find_at(text, from).map(|m| m.start()),
            Needle::Literal { lower, rare } => {
                let (lo, up) = (lower[*rare], lower[*rare].to_ascii_uppercase());
                let mut at = from + rare;
                while at < text.len() {
                    let found = if lo == up {
                        memchr::memchr(lo, &text[at..])
                    } else {
                        memchr::memchr2(lo, up, &text[at..])
                    };
                    let start = (at + found?) - rare;
                    if text
                        .get(start..start + lower.len())
                        .is_some_and(|w| w.eq_ignore_ascii_case(lower))
                    {
                        return Some(start);
                    }
                    at = start + rare + 1;
                }
                None
            }
        }
    }

    /// The literal's length (a regex needle is never asked).
    fn len(&self) -> usize {
        match self {
            Needle::Literal { lower, .. } => lower.len(),
            Needle::Regex(_) => 0,
        }
    }

    fn is_match(&self, text: &[u8]) -> bool {
        self.find(text, 0).is_some()
    }

    /// The starts of the leftmost non-overlapping matches, found lazily.
    fn starts<'a>(&'a self, text: &'a [u8]) -> Starts<'a> {
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

/// The iterator of [`Needle::starts`].
enum Starts<'a> {
    Regex(regex::bytes::Matches<'a, 'a>),
    Literal {
        needle: &'a Needle,
        text: &'a [u8],
        from: usize,
    },
}

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

impl BodyReader {
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
            needle,
            bypass: bypass.map(str::to_string),
            scratch: Vec::new(),
            record: ByteRecord::new(),
            header: None,
            decode_all: false,
            pending: Vec::new(),
            pending_odd: false,
            skipped: 0,
        }
    }

    /// Parses `body` and calls `row` for every record that contains the
    /// needle; other records are only counted. A 0-byte or header-only body
    /// holds no rows.
    ///
    /// # Errors
    ///
    /// Malformed CSV or a field over [`MAX_FIELD_BYTES`]; or whatever `row` returns.
    pub fn read<E: From<BodyError>>(
        &mut self,
        body: &[u8],
        fields: &[&str],
        prefixes: &[&str],
        row: impl FnMut(&CsvRow<'_>) -> Result<(), E>,
    ) -> Result<BodyCounts, E> {
        self.begin();
        self.feed(body);
        self.finish(fields, prefixes, row)
    }

    /// Starts a new body, forgetting anything fed before.
    pub fn begin(&mut self) {
        self.scratch.clear();
        self.header = None;
        self.decode_all = false;
        self.pending.clear();
        self.pending_odd = false;
        self.skipped = 0;
    }

    /// Feeds the next piece of the body. Pieces may split a record, a line
    /// end or the needle anywhere.
    pub fn feed(&mut self, piece: &[u8]) {
        let mut from = 0;
        if !self.pending.is_empty() {
            // Finish the record an earlier piece began.
            let mut odd = self.pending_odd;
            match record_end(piece, 0, &mut odd) {
                None => {
                    self.pending.extend_from_slice(piece);
                    self.pending_odd = odd;
                    return;
                }
                Some(end) => {
                    self.pending.extend_from_slice(&piece[..end]);
                    self.flush_pending();
                    from = end;
                }
            }
        }
        // Whole records in this piece: search the needle lazily across the
        // piece once, and walk the records, keeping those a match starts in.
        // A match cut by the piece's end lies in the unfinished last record,
        // which is searched again once it is whole.
        let text = &piece[from..];
        let mut hits = self.needle.starts(text).peekable();
        let mut pos = 0;
        loop {
            if pos >= text.len() {
                return;
            }
            if self.header.is_some() && !self.decode_all {
                break;
            }
            let mut odd = false;
            let Some(end) = record_end(text, pos, &mut odd) else {
                self.pending.extend_from_slice(&text[pos..]);
                self.pending_odd = odd;
                return;
            };
            while hits.peek().is_some_and(|&h| h < pos) {
                hits.next();
            }
            let hit = hits.peek().is_some_and(|&h| h < end);
            let rec = &text[pos..end];
            pos = end;
            if rec == b"\n" || rec == b"\r\n" {
                continue;
            }
            if self.header.is_none() {
                self.decode_all =
                    header_done(&mut self.header, &mut self.record, &self.bypass, rec);
            } else if self.decode_all || hit {
                keep(&mut self.scratch, rec);
            } else {
                self.skipped += 1;
            }
        }
        // Past the header, only the records a match starts in are found
        // exactly; those before each match are counted in one pass.
        loop {
            while hits.peek().is_some_and(|&h| h < pos) {
                hits.next();
            }
            let Some(&hit) = hits.peek() else {
                let scan = count_records(&text[pos..]);
                self.skipped += scan.records;
                let start = pos + scan.last_start;
                if start < text.len() {
                    self.pending.extend_from_slice(&text[start..]);
                    self.pending_odd = scan.odd;
                }
                return;
            };
            let mut scan = count_records(&text[pos..hit]);
            self.skipped += scan.records;
            let start = pos + scan.last_start;
            let Some(end) = record_end(text, hit, &mut scan.odd) else {
                self.pending.extend_from_slice(&text[start..]);
                self.pending_odd = scan.odd;
                return;
            };
            keep(&mut self.scratch, &text[start..end]);
            pos = end;
        }
    }

    /// Hands on the record carried across pieces and empties the carry,
    /// keeping its allocation for the next one.
    fn flush_pending(&mut self) {
        let rec = std::mem::take(&mut self.pending);
        let hit = self.needle.is_match(&rec);
        self.record_done(&rec, hit);
        self.pending = rec;
        self.pending.clear();
        self.pending_odd = false;
    }

    /// One complete record that did not come from the in-place walk.
    fn record_done(&mut self, rec: &[u8], hit: bool) {
        if rec == b"\n" || rec == b"\r\n" {
            return;
        }
        if self.header.is_none() {
            self.decode_all = header_done(&mut self.header, &mut self.record, &self.bypass, rec);
        } else if self.decode_all || hit {
            keep(&mut self.scratch, rec);
        } else {
            self.skipped += 1;
        }
    }

    /// Ends the body fed since [`BodyReader::begin`]: decodes the header and
    /// the kept records, and calls `row` for each.
    ///
    /// # Errors
    ///
    /// Malformed CSV or a field over [`MAX_FIELD_BYTES`]; or whatever `row` returns.
    pub fn finish<E: From<BodyError>>(
        &mut self,
        fields: &[&str],
        prefixes: &[&str],
        mut row: impl FnMut(&CsvRow<'_>) -> Result<(), E>,
    ) -> Result<BodyCounts, E> {
        if !self.pending.is_empty() {
            // The last record: no final newline, or a quote left open.
            self.flush_pending();
        }
        let mut counts = BodyCounts::default();
        let Some(header_text) = self.header.take() else {
            return Ok(counts);
        };
        let header = parse_one(&header_text, &mut self.record)
            .map_err(|e| BodyError(format!("cannot read the CSV header: {e}")))?;
        let columns = Columns::new(&header, fields, prefixes);
        counts.skipped = self.skipped;
        if self.scratch.is_empty() {
            return Ok(counts);
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(self.scratch.as_slice());
        loop {
            match reader.read_byte_record(&mut self.record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(BodyError(format!("malformed CSV row: {e}")).into()),
            }
            if self.record.iter().any(|f| f.len() > MAX_FIELD_BYTES) {
                return Err(BodyError(format!(
                    "a field is larger than the limit of {MAX_FIELD_BYTES} bytes"
                ))
                .into());
            }
            if self.record.len() != columns.width() {
                counts.ragged += 1;
            }
            counts.decoded += 1;
            row(&CsvRow {
                columns: &columns,
                record: &self.record,
            })?;
        }
        Ok(counts)
    }
}

/// Keeps the header record's bytes; whether every later record is kept
/// (the header has the `bypass` column).
fn header_done(
    header: &mut Option<Vec<u8>>,
    record: &mut ByteRecord,
    bypass: &Option<String>,
    rec: &[u8],
) -> bool {
    *header = Some(rec.to_vec());
    bypass
        .as_ref()
        .is_some_and(|b| parse_one(rec, record).is_ok_and(|h| h.iter().any(|c| c == b.as_bytes())))
}

/// Copies a kept record into the scratch buffer, newline-terminated.
fn keep(scratch: &mut Vec<u8>, rec: &[u8]) {
    scratch.extend_from_slice(rec);
    if !rec.ends_with(b"\n") {
        scratch.push(b'\n');
    }
}

fn parse_one(text: &[u8], record: &mut ByteRecord) -> Result<ByteRecord, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    match reader.read_byte_record(record) {
        Ok(true) => Ok(record.clone()),
        Ok(false) => Err("the header is empty".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes one CSV cell: quoted when it holds a comma, quote or line break, or
/// starts or ends with whitespace (splunkd strips unquoted padding, SDK
/// issue #336); `"` doubled inside quotes.
pub fn write_cell(out: &mut Vec<u8>, value: &[u8]) {
    let padded = value.first().is_some_and(u8::is_ascii_whitespace)
        || value.last().is_some_and(u8::is_ascii_whitespace);
    let special = value
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !padded && !special {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for &b in value {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Writes a table as a CSV body with `\n` row ends. A table with no rows
/// is an empty body.
pub fn write_table(table: &Table) -> Vec<u8> {
    if table.rows.is_empty() {
        return Vec::new();
    }
    write_csv(table)
}

/// Writes a table as CSV with `\n` row ends, the header even when there are no rows.
pub fn write_csv(table: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    let header = table.columns.iter().map(|c| c.as_bytes());
    let rows = table.rows.iter().map(|r| r.iter().map(Vec::as_slice));
    for cells in std::iter::once(header.collect::<Vec<_>>()).chain(rows.map(|r| r.collect())) {
        for (i, v) in cells.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_cell(&mut out, v);
        }
        out.push(b'\n');
    }
    out
}

/// One output record: (column name, values) pairs; several values make a multivalue cell.
pub type Record = Vec<(String, Vec<Vec<u8>>)>;

/// Writes rows whose cells may hold several values: the header is the union
/// of all columns in first-seen order, and a `__mv_<name>` column follows
/// each column that holds a multivalue cell in any row.
pub fn write_records(rows: &[Record]) -> Vec<u8> {
    let mut columns: Vec<&str> = Vec::new();
    let mut multi: Vec<bool> = Vec::new();
    for row in rows {
        for (name, values) in row {
            let i = match columns.iter().position(|c| c == name) {
                Some(i) => i,
                None => {
                    columns.push(name);
                    multi.push(false);
                    columns.len() - 1
                }
            };
            multi[i] |= values.len() > 1;
        }
    }
    let mut out = Vec::new();
    if rows.is_empty() {
        return out;
    }
    let mut header: Vec<String> = Vec::new();
    for (c, m) in columns.iter().zip(&multi) {
        header.push(c.to_string());
        if *m {
            header.push(format!("__mv_{c}"));
        }
    }
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_cell(&mut out, h.as_bytes());
    }
    out.push(b'\n');
    for row in rows {
        let mut first = true;
        for (c, m) in columns.iter().zip(&multi) {
            let values = row.iter().find(|(n, _)| n == c).map(|(_, v)| v.as_slice());
            let values = values.unwrap_or(&[]);
            if !first {
                out.push(b',');
            }
            first = false;
            write_cell(&mut out, &values.join(&b'\n'));
            if *m {
                out.push(b',');
                if values.len() > 1 {
                    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
                    write_cell(&mut out, &encode_mv(&refs));
                }
            }
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests;
