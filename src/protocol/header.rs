//! The chunk header line `chunked 1.0,<M>,<B>\n`: parsing and formatting over bytes, no I/O.

/// The longest header line accepted, trailing newline included. Real headers
/// are under 40 bytes; anything longer is garbage, not a header.
pub const MAX_HEADER_BYTES: usize = 128;

/// The lengths announced by one chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes of JSON metadata that follow the header.
    pub metadata_len: u64,
    /// Bytes of CSV body that follow the metadata.
    pub body_len: u64,
}

/// Why a header line did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Not of the form `chunked <version>,<M>,<B>`.
    Malformed,
    /// Well formed, but the version is not `1.0`.
    Version(String),
}

/// Parses one header line (with or without its trailing `\n` / `\r\n`).
///
/// Accepts what the Python SDK's reader accepts,
/// `chunked\s+1.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n`: spaces around the commas and
/// a `\r` before the newline. Lengths are decimal byte counts; a length that
/// does not fit in a `u64` is malformed.
///
/// # Errors
///
/// [`HeaderError::Version`] for `chunked 2.0,...`; [`HeaderError::Malformed`]
/// for anything else that is not a header.
///
/// # Examples
///
/// ```
/// use regsvcsdetect::protocol::{parse_header, Header};
/// let h = parse_header(b"chunked 1.0,37,0\n").unwrap();
/// assert_eq!(h, Header { metadata_len: 37, body_len: 0 });
/// ```
pub fn parse_header(line: &[u8]) -> Result<Header, HeaderError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line
        .strip_prefix(b"chunked")
        .ok_or(HeaderError::Malformed)?;
    let trimmed = trim_start(rest);
    if trimmed.len() == rest.len() {
        return Err(HeaderError::Malformed);
    }
    let mut parts = trimmed.split(|&b| b == b',');
    let version = trim(parts.next().ok_or(HeaderError::Malformed)?);
    let metadata_len = parts.next().map(number).ok_or(HeaderError::Malformed)??;
    let body_len = parts.next().map(number).ok_or(HeaderError::Malformed)??;
    if parts.next().is_some() {
        return Err(HeaderError::Malformed);
    }
    if version != b"1.0" {
        if version.is_empty() || !version.iter().all(|b| b.is_ascii_graphic()) {
            return Err(HeaderError::Malformed);
        }
        return Err(HeaderError::Version(
            String::from_utf8_lossy(version).into_owned(),
        ));
    }
    Ok(Header {
        metadata_len,
        body_len,
    })
}

/// Formats a header line for the given lengths.
pub fn format_header(metadata_len: usize, body_len: usize) -> String {
    format!("chunked 1.0,{metadata_len},{body_len}\n")
}

fn number(field: &[u8]) -> Result<u64, HeaderError> {
    let digits = trim(field);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::Malformed);
    }
    digits
        .iter()
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(HeaderError::Malformed)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    &b[n..]
}

fn trim(b: &[u8]) -> &[u8] {
    let b = trim_start(b);
    let n = b
        .iter()
        .rev()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    &b[..b.len() - n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(m: u64, b: u64) -> Result<Header, HeaderError> {
        Ok(Header {
            metadata_len: m,
            body_len: b,
        })
    }

    #[test]
    fn header_accepts_splunkd_form() {
        assert_eq!(parse_header(b"chunked 1.0,37,172638\n"), h(37, 172638));
    }

    #[test]
    fn header_tolerates_spaces_and_crlf() {
        assert_eq!(parse_header(b"chunked  1.0 , 12 ,  0 \r\n"), h(12, 0));
        assert_eq!(parse_header(b"chunked\t1.0,0,0"), h(0, 0));
    }

    #[test]
    fn header_rejects_other_versions() {
        assert_eq!(
            parse_header(b"chunked 2.0,1,1\n"),
            Err(HeaderError::Version("2.0".into()))
        );
    }

    #[test]
    fn header_rejects_negative_non_numeric_and_overflowing_lengths() {
        for line in [
            &b"chunked 1.0,-1,0\n"[..],
            b"chunked 1.0,a,0\n",
            b"chunked 1.0,1\n",
            b"chunked 1.0,1,2,3\n",
            b"chunked 1.0,,0\n",
            b"chunked 1.0,99999999999999999999,0\n",
            b"chunked1.0,1,1\n",
            b"CHUNKED 1.0,1,1\n",
            b"\n",
            b"",
        ] {
            assert_eq!(parse_header(line), Err(HeaderError::Malformed), "{line:?}");
        }
    }

    #[test]
    fn header_round_trips() {
        let line = format_header(17, 4096);
        assert_eq!(parse_header(line.as_bytes()), h(17, 4096));
    }
}
