//! Bodies out: CSV cells quoted as splunkd reads them, tables, engine results streamed row by row, and records with `__mv_` columns.

use std::io::{self, Write};

use super::mv::encode_mv;
use crate::detect::{csv_cell, csv_cell_len, key_csv_room, write_key_csv_at, Results, Table};

/// Writes one CSV cell: quoted when it holds a comma, quote or line break,
/// or starts or ends with whitespace (splunkd strips unquoted padding, SDK
/// issue #336); `"` doubled inside quotes. The engine's group keys are
/// written the same way, so its results copy out as they are.
pub(crate) fn write_cell(out: &mut Vec<u8>, value: &[u8]) {
    csv_cell(out, value);
}

/// The byte length of the body [`write_results`] writes: the reply header
/// announces it before the first row is written.
pub fn results_len(results: &Results) -> usize {
    if results.is_empty() {
        return 0;
    }
    let header: usize = results
        .columns()
        .iter()
        .map(|c| csv_cell_len(c.as_bytes()) + 1)
        .sum();
    // Each row: its cells, each followed by a comma, the last one made the newline.
    header + results.csv_bytes()
}

/// Writes results as a CSV body with `\n` row ends, straight from the
/// engine's buffers to `out` in pieces of about 64 KiB (no copy of the
/// whole table is ever held); no rows is an empty body.
///
/// # Errors
///
/// Whatever `out` returns.
pub fn write_results(out: &mut dyn Write, results: &Results) -> io::Result<()> {
    if results.is_empty() {
        return Ok(());
    }
    let mut buf = Vec::with_capacity(2 * PIECE);
    write_results_header(&mut buf, results);
    write_result_rows(&mut buf, results, 0..results.len(), &mut |buf| {
        out.write_all(buf)?;
        buf.clear();
        Ok(())
    })?;
    out.write_all(&buf)
}

/// The size a results body is written out in.
const PIECE: usize = 64 << 10;

/// Appends the header line of a results body: the column names.
pub(crate) fn write_results_header(buf: &mut Vec<u8>, results: &Results) {
    for (i, c) in results.columns().iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        csv_cell(buf, c.as_bytes());
    }
    buf.push(b'\n');
}

/// Appends the CSV lines of rows `rows` of `results`, handing `buf` to
/// `full` whenever it holds [`PIECE`] bytes or more (to write it out and
/// clear it, or to leave it growing).
///
/// # Errors
///
/// Whatever `full` returns.
pub(crate) fn write_result_rows(
    buf: &mut Vec<u8>,
    results: &Results,
    rows: std::ops::Range<usize>,
    full: &mut dyn FnMut(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    // Rows are written in place: the vector is made long enough for the
    // next row (the bytes past `at` are scratch) and cut to `at` at the end.
    let mut at = buf.len();
    for (key, cells, tails) in results.csv_rows_in(rows) {
        let room = key_csv_room(key, cells) + tails.len();
        if buf.len() < at + room {
            buf.resize(at + room, 0);
        }
        at = write_key_csv_at(buf, at, key, cells);
        crate::bytes::copy(&mut buf[at..at + tails.len()], tails);
        at += tails.len();
        if at > 0 {
            buf[at - 1] = b'\n';
        }
        if at >= PIECE {
            buf.truncate(at);
            full(buf)?;
            at = buf.len();
        }
    }
    buf.truncate(at);
    Ok(())
}

/// Writes a table as a CSV body with `\n` row ends. A table with no rows
/// is an empty body.
#[cfg(test)] // only the body tests write a bare table
pub(crate) fn write_table(table: &Table) -> Vec<u8> {
    if table.rows.is_empty() {
        return Vec::new();
    }
    write_csv(table)
}

/// Writes a table as CSV with `\n` row ends, the header even when there are no rows.
pub(crate) fn write_csv(table: &Table) -> Vec<u8> {
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

/// One row as (column name, values) pairs; several values make a multivalue cell.
pub(crate) type NamedValues = Vec<(String, Vec<Vec<u8>>)>;

/// Writes rows whose cells may hold several values: the header is the union
/// of all columns in first-seen order, and a `__mv_<name>` column follows
/// each column that holds a multivalue cell in any row.
pub(crate) fn write_records(rows: &[NamedValues]) -> Vec<u8> {
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
