//! Records to fields: the CSV decoding of the records the prefilter kept, in place, with the csv crate's reading of every input.

#[cfg(target_arch = "x86_64")]
use super::vector::block_bits;

/// Where one decoded record's fields are: byte ranges of the text it was
/// decoded from, except a field holding a `""` escape, whose unescaped bytes
/// are kept in `data` and whose range has [`UNESCAPED`] set. Reused from
/// record to record, so decoding allocates only while a record is larger
/// than any before it; [`Fields::of`] reads it against its text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    spans: Vec<(usize, usize)>,
    data: Vec<u8>,
}

/// Marks a span that lies in [`Fields`]' own buffer, not the text.
const UNESCAPED: usize = 1 << (usize::BITS - 1);

impl Fields {
    /// The record, read against `text`, the text it was decoded from.
    pub(crate) fn of<'a>(&'a self, text: &'a [u8]) -> Record<'a> {
        Record { text, fields: self }
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.data.clear();
    }

    /// Ends a field that is `text[start..end]`.
    fn span(&mut self, start: usize, end: usize) {
        self.spans.push((start, end));
    }
}

/// One decoded record: [`Fields`] and the text its spans point into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    text: &'a [u8],
    fields: &'a Fields,
}

impl<'a> Record<'a> {
    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.fields.spans.len()
    }

    /// The field at `i`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        let (start, end) = *self.fields.spans.get(i)?;
        Some(if start & UNESCAPED == 0 {
            &self.text[start..end]
        } else {
            &self.fields.data[start & !UNESCAPED..end]
        })
    }

    /// The fields in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The longest field's length.
    pub(crate) fn widest(&self) -> usize {
        self.fields
            .spans
            .iter()
            .map(|&(start, end)| end - (start & !UNESCAPED))
            .max()
            .unwrap_or(0)
    }
}

/// Decodes the record that starts at `text[*pos..]` into `out` and moves
/// `pos` past it; false when only line ends are left.
///
/// It reads exactly as `csv::ReaderBuilder::new().has_headers(false)
/// .flexible(true)` does (tested against it): `,` separates fields, `\r`,
/// `\n` or `\r\n` ends a record and blank lines are skipped; a `"` opens a
/// quoted field only at a field's start, `""` inside quotes is one `"`,
/// bytes after a closing quote belong to the field, a `"` anywhere else is
/// an ordinary byte, and a quote left open runs to the end of the text. It
/// never fails. On x86_64 a field that is one range of the text (every
/// field splunkd writes but those with a `""` escape) is found in the quote
/// and separator bits of 64 bytes at a time ([`Bits`]); any other field,
/// and every field elsewhere, by SIMD searches for its next special byte.
pub(crate) fn next_record(text: &[u8], pos: &mut usize, out: &mut Fields) -> bool {
    let mut at = *pos;
    while at < text.len() && matches!(text[at], b'\r' | b'\n') {
        at += 1;
    }
    if at == text.len() {
        *pos = at;
        return false;
    }
    out.clear();
    #[cfg(target_arch = "x86_64")]
    let mut bits = Bits::new(text);
    loop {
        #[cfg(target_arch = "x86_64")]
        let end = bits
            .field(at, out)
            .unwrap_or_else(|| searched_field(text, at, out));
        #[cfg(not(target_arch = "x86_64"))]
        let end = searched_field(text, at, out);
        match text.get(end) {
            Some(b',') => at = end + 1,
            Some(_) => {
                *pos = end + 1;
                return true;
            }
            None => {
                *pos = end;
                return true;
            }
        }
    }
}

/// Decodes the field that starts at `text[at]` into `out`, by searches for
/// its next special byte; returns where it ends: at its separator (`,`,
/// `\r` or `\n`) or the text's end.
fn searched_field(text: &[u8], mut at: usize, out: &mut Fields) -> usize {
    if text.get(at) != Some(&b'"') {
        let end = separator(text, at);
        out.span(at, end);
        return end;
    }
    // Where the field's bytes are: a range of `text`, or of `out.data`
    // once an escape or bytes after the closing quote were met.
    at += 1;
    let start = at;
    let mut copied: Option<usize> = None;
    loop {
        let Some(q) = memchr::memchr(b'"', &text[at..]).map(|q| at + q) else {
            match copied {
                None => out.span(start, text.len()),
                Some(from) => {
                    out.data.extend_from_slice(&text[at..]);
                    out.spans.push((from | UNESCAPED, out.data.len()));
                }
            }
            return text.len();
        };
        if text.get(q + 1) == Some(&b'"') {
            // An escaped quote: the field continues in `data`.
            copied.get_or_insert(out.data.len());
            out.data.extend_from_slice(&text[at..=q]);
            at = q + 2;
            continue;
        }
        // The closing quote: the field is what came before it, plus any
        // bytes up to the next separator.
        let end = separator(text, q + 1);
        match copied {
            None if end == q + 1 => out.span(start, q),
            _ => {
                let from = *copied.get_or_insert(out.data.len());
                out.data.extend_from_slice(&text[at..q]);
                out.data.extend_from_slice(&text[q + 1..end]);
                out.spans.push((from | UNESCAPED, out.data.len()));
            }
        }
        return end;
    }
}

/// The quote bits and the separator bits (`,`, `\r`, `\n`) of the 64
/// bytes of a text from `base`, bit `i` for byte `base + i` (0 past the
/// text's end), computed with vector compares (`vector::block_bits`).
/// A record's fields are found by moving along them, so each byte of a
/// record is looked at about once, and a field costs a few bit operations
/// instead of a search.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
struct Bits<'a> {
    text: &'a [u8],
    /// The bits are of `text[base..end]`, `end` being `base + 64`.
    base: usize,
    end: usize,
    quotes: u64,
    separators: u64,
}

#[cfg(target_arch = "x86_64")]
impl<'a> Bits<'a> {
    /// Bits of `text`, none computed yet.
    fn new(text: &'a [u8]) -> Bits<'a> {
        Bits {
            text,
            base: 0,
            end: 0,
            quotes: 0,
            separators: 0,
        }
    }

    /// Decodes the field that starts at `text[at]` into `out` when it is a
    /// range of the text: unquoted, or quoted with no `""` in it and a
    /// separator or the text's end right after its closing quote. Returns
    /// where it ends, as [`searched_field`] does; `None`, with nothing
    /// decoded, for any other field.
    #[inline(always)]
    fn field(&mut self, at: usize, out: &mut Fields) -> Option<usize> {
        let text = self.text;
        if text.get(at) != Some(&b'"') {
            let end = self.next(at, false).unwrap_or(text.len());
            out.span(at, end);
            return Some(end);
        }
        let close = self.next(at + 1, true)?;
        match text.get(close + 1) {
            Some(b',' | b'\r' | b'\n') | None => {
                out.span(at + 1, close);
                Some(close + 1)
            }
            _ => None,
        }
    }

    /// The first quote (`quotes`) or separator at or after `from`; `None`
    /// when the text ends first.
    #[inline(always)]
    fn next(&mut self, mut from: usize, quotes: bool) -> Option<usize> {
        loop {
            if from >= self.text.len() {
                return None;
            }
            if from < self.base || from >= self.end {
                self.load(from);
            }
            let bits = if quotes { self.quotes } else { self.separators };
            let bits = bits & (u64::MAX << (from - self.base));
            if bits != 0 {
                return Some(self.base + bits.trailing_zeros() as usize);
            }
            from = self.end;
        }
    }

    /// Computes the bits of the 64 bytes from `base` (before the text's
    /// end): read where they are, or as the text's last 64 bytes, the bits
    /// shifted down to `base`. Once every 64 bytes: kept out of line, so
    /// that the field loop around [`Bits::next`] stays small.
    #[inline(never)]
    fn load(&mut self, base: usize) {
        let len = self.text.len();
        let (quotes, separators) = if len - base >= 64 {
            block_bits(first_64(&self.text[base..]))
        } else if len >= 64 {
            let (quotes, separators) = block_bits(first_64(&self.text[len - 64..]));
            let shift = base - (len - 64);
            (quotes >> shift, separators >> shift)
        } else {
            short_bits(&self.text[base..])
        };
        (self.base, self.end) = (base, base + 64);
        (self.quotes, self.separators) = (quotes, separators);
    }
}

/// The first 64 bytes of `v`, which has as many.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn first_64(v: &[u8]) -> &[u8; 64] {
    v.get(..64)
        .and_then(|v| v.try_into().ok())
        .unwrap_or(&[0; 64])
}

/// [`block_bits`] of a text shorter than 64 bytes, padded with zeros.
#[cfg(target_arch = "x86_64")]
#[cold]
fn short_bits(rest: &[u8]) -> (u64, u64) {
    let mut padded = [0u8; 64];
    padded[..rest.len()].copy_from_slice(rest);
    block_bits(&padded)
}

/// The first `,`, `\r` or `\n` at or after `from` (the text's length when
/// there is none). Most fields are short, and a quoted one is followed by
/// its separator at once, so the first bytes are looked at one by one
/// before a vectorised search takes over.
#[inline]
fn separator(text: &[u8], from: usize) -> usize {
    const SHORT: usize = 16;
    let head = &text[from..text.len().min(from + SHORT)];
    if let Some(i) = head.iter().position(|&b| matches!(b, b',' | b'\r' | b'\n')) {
        return from + i;
    }
    if head.len() < SHORT {
        return text.len();
    }
    let rest = from + SHORT;
    memchr::memchr3(b',', b'\r', b'\n', &text[rest..]).map_or(text.len(), |e| rest + e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let (mut pos, mut f, mut out) = (0, Fields::default(), Vec::new());
        while next_record(text, &mut pos, &mut f) {
            out.push(f.of(text).iter().map(<[u8]>::to_vec).collect());
        }
        out
    }

    fn theirs(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while r.read_byte_record(&mut rec).unwrap() {
            out.push(rec.iter().map(<[u8]>::to_vec).collect());
        }
        out
    }

    #[test]
    fn quoting_as_splunkd_writes_it() {
        let text = b"a,\"b,c\",\"d \"\"e\"\"\"\r\n\"x\ny\",,\n\n\"\"\n";
        assert_eq!(ours(text), theirs(text));
        assert_eq!(ours(text).len(), 3);
    }

    #[test]
    fn odd_quoting_reads_as_the_csv_crate_reads_it() {
        for text in [
            &b"\"ab\"cd,e"[..],
            b"ab\"cd,\"e",
            b"\"open, to the end",
            b"a,\rb\r\n,",
            b"\"a\"\"\"",
            b"\"\"\"\"",
            b",",
            b"",
            b"\r\n\r\n",
        ] {
            assert_eq!(
                ours(text),
                theirs(text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_csv_crate(
            parts in prop::collection::vec(
                prop::sample::select(vec!["\"", "\"\"", ",", "\n", "\r", "\r\n", "a", "bc", " "]),
                0..50,
            ),
        ) {
            let text = parts.concat();
            prop_assert_eq!(ours(text.as_bytes()), theirs(text.as_bytes()));
        }

        // Records and fields longer than the 64 bytes whose bits are
        // computed at once, cut anywhere by block boundaries.
        #[test]
        fn agrees_with_the_csv_crate_across_blocks(
            parts in prop::collection::vec(
                prop::sample::select(vec![
                    "\"", "\"\"", ",", "\n", "\r\n", "\r", "a", " ",
                    "C:\\Windows\\Microsoft.NET\\Framework\\v4.0.30319\\RegSvcs.exe",
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345",
                ]),
                0..60,
            ),
        ) {
            let text = parts.concat();
            prop_assert_eq!(ours(text.as_bytes()), theirs(text.as_bytes()));
        }
    }
}
