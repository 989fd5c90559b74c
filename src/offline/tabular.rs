//! CSV input for `run`: a header row, then every row as a record, `__mv_` columns decoded as in the protocol body; ragged rows are errors.

use std::io::BufRead;

use csv::ByteRecord;

use super::input::ReadError;
use super::Record;
use crate::body::{decode_mv, MAX_FIELD_BYTES};

/// Reads CSV text and calls `each(line, record)` for every row. Empty cells
/// are null and left out of the record; a non-empty `__mv_x` cell that
/// decodes replaces `x` with its values.
///
/// # Errors
///
/// A row with a different number of fields than the header, a field over
/// [`MAX_FIELD_BYTES`], malformed CSV, or whatever `each` returns.
pub fn read(
    reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(u64, Record) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut header = ByteRecord::new();
    let bad = |e: csv::Error| {
        let line = e.position().map_or(0, csv::Position::line);
        let reason = match e.kind() {
            csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
            _ => format!("malformed CSV: {e}"),
        };
        ReadError {
            line: (line > 0).then_some(line),
            evtx: None,
            reason: reason.into(),
        }
    };
    if !csv.read_byte_record(&mut header).map_err(bad)? {
        return Ok(());
    }
    let names: Vec<String> = header
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    // For each plain column, the index of its `__mv_` companion.
    let plain: Vec<(usize, Option<usize>)> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.starts_with("__mv_"))
        .map(|(i, n)| {
            let mv = names
                .iter()
                .position(|m| m.strip_prefix("__mv_") == Some(n));
            (i, mv)
        })
        .collect();
    let mut row = ByteRecord::new();
    while csv.read_byte_record(&mut row).map_err(bad)? {
        let line = row.position().map_or(0, csv::Position::line);
        if row.len() != names.len() {
            return Err(ReadError::at(
                line,
                format!(
                    "ragged row: {} fields, but the header has {}",
                    row.len(),
                    names.len()
                ),
            ));
        }
        if row.iter().any(|f| f.len() > MAX_FIELD_BYTES) {
            return Err(ReadError::at(
                line,
                format!("a field is larger than the limit of {MAX_FIELD_BYTES} bytes"),
            ));
        }
        let mut record = Record::with_capacity(plain.len());
        for &(i, mv) in &plain {
            let encoded = mv.and_then(|m| row.get(m)).filter(|c| !c.is_empty());
            let values: Vec<Vec<u8>> = match encoded.and_then(decode_mv) {
                Some(list) => list
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| v.into_owned())
                    .collect(),
                None => row
                    .get(i)
                    .filter(|c| !c.is_empty())
                    .map(|c| vec![c.to_vec()])
                    .unwrap_or_default(),
            };
            if let (false, Some(name)) = (values.is_empty(), names.get(i)) {
                record.push((name.clone(), values));
            }
        }
        each(line, record)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::input::{bytes as v, rows_of};
    use super::*;

    #[test]
    fn mv_columns_become_multivalue_fields_and_empty_cells_null() {
        let r = rows_of(read, "a,__mv_a,b,c\n\"x\ny\",$x$;$y$,,1\n").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, 2);
        assert_eq!(
            r[0].1,
            vec![
                ("a".to_string(), vec![v("x"), v("y")]),
                ("c".to_string(), vec![v("1")])
            ]
        );
    }

    #[test]
    fn a_malformed_mv_cell_falls_back_to_the_plain_value() {
        let r = rows_of(read, "a,__mv_a\nx,$broken\n").unwrap();
        assert_eq!(r[0].1, vec![("a".to_string(), vec![v("x")])]);
    }

    #[test]
    fn ragged_rows_name_their_line() {
        let e = rows_of(read, "a,b\n1,2\n1,2,3\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.reason.to_string().contains("ragged row: 3 fields"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn empty_input_has_no_rows() {
        assert!(rows_of(read, "").unwrap().is_empty());
        assert!(rows_of(read, "a,b\n").unwrap().is_empty());
    }
}
