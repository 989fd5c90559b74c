//! Records to fields: the CSV decoding of the records the prefilter kept, with the csv crate's reading of every input.

/// One decoded record: its fields' bytes back to back and where each ends.
/// Reused from record to record, so decoding allocates only while a record
/// is larger than any before it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The field at `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
    }

    /// The fields in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The longest field's length.
    pub(crate) fn widest(&self) -> usize {
        let mut start = 0;
        let mut widest = 0;
        for &end in &self.ends {
            widest = widest.max(end - start);
            start = end;
        }
        widest
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
    out.data.clear();
    out.ends.clear();
    loop {
        if text.get(at) == Some(&b'"') {
            at += 1;
            loop {
                let Some(q) = memchr::memchr(b'"', &text[at..]) else {
                    out.data.extend_from_slice(&text[at..]);
                    out.ends.push(out.data.len());
                    *pos = text.len();
                    return true;
                };
                out.data.extend_from_slice(&text[at..at + q]);
                at += q + 1;
                if text.get(at) == Some(&b'"') {
                    out.data.push(b'"');
                    at += 1;
                    continue;
                }
                break;
            }
        }
        let end = memchr::memchr3(b',', b'\r', b'\n', &text[at..]).map_or(text.len(), |e| at + e);
        out.data.extend_from_slice(&text[at..end]);
        out.ends.push(out.data.len());
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let (mut pos, mut f, mut out) = (0, Fields::default(), Vec::new());
        while next_record(text, &mut pos, &mut f) {
            out.push(f.iter().map(<[u8]>::to_vec).collect());
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
