//! JSON lines input for `run`: one object per line, flat or Splunk's `{"result":{...}}` export form; arrays are multivalue fields, scalars rendered as strings.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::input::ReadError;
use super::Record;

/// Keys of the non-row lines in Splunk's JSON export (progress, messages).
const EXPORT_KEYS: [&str; 6] = [
    "preview",
    "offset",
    "lastrow",
    "messages",
    "init_offset",
    "highlighted",
];

/// Reads JSON lines and calls `each(line, record)` for every row. Blank lines
/// and Splunk's export bookkeeping lines are skipped.
///
/// # Errors
///
/// A line that is not JSON or not an object, or whatever `each` returns.
pub fn read(
    mut reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(u64, Record) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| ReadError::io(&e))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let text = buf.trim_ascii();
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_slice(text).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |m| m.0);
            ReadError::at(
                line,
                format!("invalid JSON at column {}: {msg}", e.column()),
            )
        })?;
        let Value::Object(object) = value else {
            return Err(ReadError::at(
                line,
                format!("expected one JSON object per line, found {}", kind(&value)),
            ));
        };
        // `splunk search -output json` writes preview rows before the final
        // ones; only the final rows are results.
        if object.get("preview") == Some(&Value::Bool(true)) {
            continue;
        }
        let fields = match object.get("result") {
            Some(Value::Object(inner)) => inner,
            Some(other) => {
                return Err(ReadError::at(
                    line,
                    format!(
                        "\"result\" must be an object of fields, found {}",
                        kind(other)
                    ),
                ))
            }
            None if object.keys().all(|k| EXPORT_KEYS.contains(&k.as_str())) => continue,
            None => &object,
        };
        each(line, record(fields))?;
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object as a record: strings as they are, numbers and booleans
/// rendered, arrays as multivalue fields, null and empty strings left out.
pub(crate) fn record(object: &Map<String, Value>) -> Record {
    let mut out = Record::with_capacity(object.len());
    for (name, value) in object {
        let values: Vec<Vec<u8>> = match value {
            Value::Array(list) => list.iter().filter_map(scalar).collect(),
            other => scalar(other).into_iter().collect(),
        };
        if !values.is_empty() {
            out.push((name.clone(), values));
        }
    }
    out
}

fn scalar(v: &Value) -> Option<Vec<u8>> {
    let s = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        nested => nested.to_string(),
    };
    (!s.is_empty()).then(|| s.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::input::{bytes as v, rows_of};
    use super::*;

    #[test]
    fn flat_and_result_wrapped_objects_are_rows() {
        let r = rows_of(
            read,
            "{\"a\":\"x\",\"n\":3,\"b\":true,\"z\":null,\"e\":\"\"}\n\n{\"preview\":false,\"offset\":0,\"result\":{\"m\":[\"p\",1]}}\n{\"preview\":false,\"lastrow\":true}\n",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, 1);
        // Key order depends on serde_json's preserve_order feature; compare sorted.
        let mut first = r[0].1.clone();
        first.sort();
        assert_eq!(
            first,
            vec![
                ("a".to_string(), vec![v("x")]),
                ("b".to_string(), vec![v("true")]),
                ("n".to_string(), vec![v("3")]),
            ]
        );
        assert_eq!(r[1].0, 3);
        assert_eq!(r[1].1, vec![("m".to_string(), vec![v("p"), v("1")])]);
    }

    #[test]
    fn non_objects_and_bad_json_name_their_line() {
        let e = rows_of(read, "{\"a\":1}\n[1,2]\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.reason.to_string().contains("found an array"),
            "{}",
            e.reason
        );
        let e = rows_of(read, "{\"a\":\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(
            e.reason.to_string().starts_with("invalid JSON"),
            "{}",
            e.reason
        );
    }
}
