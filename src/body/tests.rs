//! Body reader tests: the prefilter over quoted newlines, doubled quotes and CRLF, and empty bodies.

use super::*;

fn read_all(body: &str) -> (BodyCounts, Vec<Vec<String>>) {
    let mut reader = BodyReader::new("regsvcs.exe");
    let mut rows = Vec::new();
    let counts = reader
        .read::<BodyError>(body.as_bytes(), &["a", "b"], &[], |row| {
            let cell = |i| {
                row.get(i)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect::<Vec<_>>()
                    .join("|")
            };
            rows.push(vec![cell(0), cell(1)]);
            Ok(())
        })
        .unwrap();
    (counts, rows)
}

#[test]
fn prefilter_keeps_only_needle_rows_across_quoted_newlines_and_crlf() {
    let body = "a,b\r\n\"x\ny\",1\r\n\r\n\"Reg\nSvcs.exe\",2\n\"RegSvcs.EXE\n\"\"q\"\"\",3\r\nz,\"regsvcs.exe\"";
    let (counts, rows) = read_all(body);
    assert_eq!(counts.skipped, 2);
    assert_eq!(counts.decoded, 2);
    assert_eq!(rows, [["RegSvcs.EXE\n\"q\"", "3"], ["z", "regsvcs.exe"]]);
}

#[test]
fn header_only_and_empty_bodies_hold_no_rows() {
    assert_eq!(read_all("").0, BodyCounts::default());
    assert_eq!(read_all("a,b\n").0, BodyCounts::default());
}
