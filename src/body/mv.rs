//! Splunk's `__mv_` cell encoding: `$v1$;$v2$`, with `$` doubled inside a value.

use std::borrow::Cow;

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
