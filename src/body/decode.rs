//! Records to fields: the CSV decoding of the records the prefilter kept, in place, with the csv crate's reading of every input.

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
/// never fails. Fields are found by SIMD searches for the next special
/// byte rather than a byte-at-a-time state machine.
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
    loop {
        // Where the field's bytes are: a range of `text`, or of `out.data`
        // once an escape or bytes after the closing quote were met.
        let mut start = at;
        let mut copied: Option<usize> = None;
        if text.get(at) == Some(&b'"') {
            at += 1;
            start = at;
            loop {
                let Some(q) = memchr::memchr(b'"', &text[at..]).map(|q| at + q) else {
                    match copied {
                        None => out.span(start, text.len()),
                        Some(from) => {
                            out.data.extend_from_slice(&text[at..]);
                            out.spans.push((from | UNESCAPED, out.data.len()));
                        }
                    }
                    *pos = text.len();
                    return true;
                };
                if text.get(q + 1) == Some(&b'"') {
                    // An escaped quote: the field continues in `data`.
                    copied.get_or_insert(out.data.len());
                    out.data.extend_from_slice(&text[at..=q]);
                    at = q + 2;
                    continue;
                }
                // The closing quote: the field is what came before it,
                // plus any bytes up to the next separator.
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
                at = end;
                break;
            }
        } else {
            let end = separator(text, at);
            out.span(start, end);
            at = end;
        }
        match text.get(at) {
            Some(b',') => at += 1,
            Some(_) => {
                *pos = at + 1;
                return true;
            }
            None => {
                *pos = at;
                return true;
            }
        }
    }
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
    }
}
