//! Result tables for people and scripts: an aligned table, a vertical record layout when that is too wide, CSV, or JSON lines.

use crate::detect::Table;

/// Widest aligned table before the automatic layout turns vertical: 120 columns.
pub(crate) const MAX_TABLE_COLUMNS: usize = 120;

/// How a table is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Aligned columns when they fit in [`MAX_TABLE_COLUMNS`], else vertical.
    Auto,
    /// Aligned columns whatever the width.
    Table,
    /// One block per row, one `field  value` line per column.
    Vertical,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    Json,
}

impl Style {
    /// Parses `table`, `vertical`, `csv` and `json`; `table` means [`Style::Auto`].
    pub fn parse(name: &str) -> Option<Style> {
        match name.to_ascii_lowercase().as_str() {
            "table" | "auto" => Some(Style::Auto),
            "wide" => Some(Style::Table),
            "vertical" => Some(Style::Vertical),
            "csv" => Some(Style::Csv),
            "json" | "jsonl" => Some(Style::Json),
            _ => None,
        }
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// A cell for the aligned layouts: line breaks shown as `\n`, tabs as `\t`.
fn shown(v: &[u8]) -> String {
    text(v)
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t")
}

/// Terminal columns: CJK and most emoji take two, combining marks none.
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Renders `table`; an empty table is `(no results)` in the human layouts
/// and a header only (CSV) or nothing (JSON) otherwise.
pub(crate) fn render(table: &Table, style: Style) -> String {
    match style {
        Style::Csv => csv(table),
        Style::Json => json(table),
        _ if table.rows.is_empty() => "(no results)\n".to_string(),
        Style::Vertical => vertical(table),
        Style::Table => aligned(table),
        Style::Auto => {
            let out = aligned(table);
            if out.lines().all(|l| width(l) <= MAX_TABLE_COLUMNS) {
                out
            } else {
                vertical(table)
            }
        }
    }
}

fn aligned(table: &Table) -> String {
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(|v| shown(v)).collect())
        .collect();
    let widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|v| width(v))
                .chain([width(c)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let mut s = String::new();
        for (i, (v, w)) in values.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(v);
            if i + 1 < values.len() {
                s.push_str(&" ".repeat(w.saturating_sub(width(v))));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(table.columns.iter().map(String::as_str).collect());
    out.push_str(&line(rule.iter().map(String::as_str).collect()));
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn vertical(table: &Table) -> String {
    let w = table.columns.iter().map(|c| width(c)).max().unwrap_or(0);
    let mut out = String::new();
    for (n, row) in table.rows.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&format!("-[ result {} of {} ]\n", n + 1, table.rows.len()));
        for (c, v) in table.columns.iter().zip(row) {
            let pad = " ".repeat(w.saturating_sub(width(c)));
            let v = shown(v);
            if v.is_empty() {
                out.push_str(&format!("{c}\n"));
            } else {
                out.push_str(&format!("{c}{pad}  {v}\n"));
            }
        }
    }
    out
}

fn csv(table: &Table) -> String {
    text(&crate::body::write_csv(table))
}

fn json(table: &Table) -> String {
    let mut out = String::new();
    for row in &table.rows {
        // serde_json's Map would sort the keys; this keeps the table's column order.
        let object = JsonRow {
            columns: &table.columns,
            values: row,
        };
        let line = serde_json::to_string(&object).expect("string keys and values always serialize");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One result row as a JSON object, keys in column order.
struct JsonRow<'a> {
    columns: &'a [String],
    values: &'a [Vec<u8>],
}

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.columns.iter().zip(self.values.iter().map(|v| text(v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.as_bytes().to_vec()).collect())
                .collect(),
        }
    }

    #[test]
    fn narrow_tables_are_aligned() {
        let out = render(
            &t(&["a", "count"], &[&["xyz", "1"], &["b\nc", "22"]]),
            Style::Auto,
        );
        assert_eq!(out, "a     count\n----  -----\nxyz   1\nb\\nc  22\n");
    }

    #[test]
    fn wide_tables_turn_vertical() {
        let long = "v".repeat(130);
        let out = render(&t(&["a", "bb"], &[&[&long, "1"]]), Style::Auto);
        assert!(out.starts_with("-[ result 1 of 1 ]\na   vvv"), "{out}");
        assert!(out.contains("\nbb  1\n"), "{out}");
    }

    #[test]
    fn csv_and_json_keep_values_exact() {
        let table = t(&["a", "b"], &[&["x,y", "1"]]);
        assert_eq!(render(&table, Style::Csv), "a,b\n\"x,y\",1\n");
        assert_eq!(render(&table, Style::Json), "{\"a\":\"x,y\",\"b\":\"1\"}\n");
        assert_eq!(render(&t(&["a"], &[]), Style::Auto), "(no results)\n");
        let table = t(&["z", "a"], &[&["1", "\"\u{1f600}"]]);
        assert_eq!(
            render(&table, Style::Json),
            "{\"z\":\"1\",\"a\":\"\\\"\u{1f600}\"}\n",
            "column order, not sorted"
        );
    }

    #[test]
    fn wide_characters_take_two_columns() {
        // 東京 and the emoji are two columns each; é written as e + U+0301 is one.
        let out = render(
            &t(
                &["user", "n"],
                &[&["東京", "1"], &["e\u{301}", "2"], &["\u{1f600}x", "3"]],
            ),
            Style::Auto,
        );
        assert_eq!(
            out,
            "user  n\n----  -\n東京  1\ne\u{301}     2\n\u{1f600}x   3\n"
        );
        let out = render(&t(&["東", "bb"], &[&["1", "2"]]), Style::Vertical);
        assert!(out.contains("\n東  1\nbb  2\n"), "{out:?}");
    }
}
