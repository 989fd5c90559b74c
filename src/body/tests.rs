//! Body tests: `__mv_` decoding, record splitting, the prefilter, and CSV output quoting.

use super::*;
use crate::detect::{Row, Schema, Table};

fn b(s: &str) -> &[u8] {
    s.as_bytes()
}

fn mv(s: &str) -> Option<Vec<String>> {
    decode_mv(b(s)).map(|l| {
        l.iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    })
}

#[test]
fn mv_decoding_matches_splunk_and_is_strict() {
    assert_eq!(
        mv("$a$;$b$;$c$"),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        mv("$x$;$y$;$z$$$"),
        Some(vec!["x".into(), "y".into(), "z$".into()])
    );
    assert_eq!(
        mv("$x$$y$;$$$$;$z$$$$$"),
        Some(vec!["x$y".into(), "$".into(), "z$$".into()])
    );
    assert_eq!(mv("$$;$$"), Some(vec![String::new(), String::new()]));
    assert_eq!(mv("$a;b$"), Some(vec!["a;b".into()]));
    assert_eq!(mv("$only$"), Some(vec!["only".into()]));
    for bad in ["noDollars", "$a$;b", "$a", "$a$x", "$a$;", "", ";$a$"] {
        assert_eq!(mv(bad), None, "{bad:?}");
    }
}

#[test]
fn mv_round_trips() {
    let values: [&[u8]; 4] = [b"a$b", b"", b";", b"x\ny"];
    let encoded = encode_mv(&values);
    let decoded = decode_mv(&encoded).unwrap();
    assert_eq!(
        decoded.iter().map(|v| v.as_ref()).collect::<Vec<_>>(),
        values
    );
}

#[test]
fn records_split_on_unquoted_newlines_only() {
    let text = "h1,h2\n\"a\nb\",c\r\n\"x\"\"\n\",y\n\nlast,row";
    let recs: Vec<&[u8]> = Records::new(b(text)).collect();
    assert_eq!(
        recs,
        vec![
            b("h1,h2\n"),
            b("\"a\nb\",c\r\n"),
            b("\"x\"\"\n\",y\n"),
            b("last,row")
        ]
    );
    assert_eq!(Records::new(b"").count(), 0);
    assert_eq!(Records::new(b"\n\r\n").count(), 0);
}

fn collect(body: &str, fields: &[&str]) -> (BodyCounts, Vec<Vec<String>>) {
    let mut reader = BodyReader::new("regsvcs.exe", None);
    let mut rows = Vec::new();
    let counts = reader
        .read::<Error>(
            b(body),
            &Schema::from_fields(fields, &["Processes."]),
            |row| {
                rows.push(
                    (0..fields.len())
                        .map(|i| {
                            let v = row.get(i);
                            v.iter()
                                .map(|x| String::from_utf8_lossy(x).into_owned())
                                .collect::<Vec<_>>()
                                .join("|")
                        })
                        .collect(),
                );
                Ok(())
            },
        )
        .unwrap();
    (counts, rows)
}

#[test]
fn prefilter_skips_rows_without_the_literal_and_counts_them() {
    let body =
        "process_name,user\ncmd.exe,a\nRegSvcs.exe,b\n\"REGSVCS.EXE\",\"c\nd\"\npowershell.exe,e";
    let (counts, rows) = collect(body, &["process_name", "user"]);
    assert_eq!(counts.skipped, 2);
    assert_eq!(counts.decoded, 2);
    assert_eq!(
        rows,
        vec![vec!["RegSvcs.exe", "b"], vec!["REGSVCS.EXE", "c\nd"]]
    );
}

#[test]
fn empty_and_header_only_bodies_hold_no_rows() {
    for body in ["", "process_name\n", "process_name"] {
        let (counts, rows) = collect(body, &["process_name"]);
        assert_eq!(counts, BodyCounts::default(), "{body:?}");
        assert!(rows.is_empty());
    }
}

#[test]
fn columns_map_by_name_prefixed_wins_and_mv_overrides_plain() {
    let body = "x,\"Processes.process_name\",process_name,__mv_user,user\n1,RegSvcs.exe,other,$a$;$b$,\"a\nb\"\n2,,regsvcs.exe,,solo\n3,,regsvcs.exe,$broken,plain\n";
    let (_, rows) = collect(body, &["process_name", "user"]);
    assert_eq!(rows[0], vec!["RegSvcs.exe", "a|b"]);
    assert_eq!(
        rows[1],
        vec!["regsvcs.exe", "solo"],
        "an empty prefixed cell falls back"
    );
    assert_eq!(
        rows[2],
        vec!["regsvcs.exe", "plain"],
        "malformed __mv_ keeps the plain value"
    );
}

#[test]
fn ragged_rows_are_counted_and_read_as_null() {
    let (counts, rows) = collect(
        "process_name,user\nregsvcs.exe\nregsvcs.exe,a,extra\n",
        &["process_name", "user"],
    );
    assert_eq!(counts.ragged, 2);
    assert_eq!(rows[0], vec!["regsvcs.exe", ""]);
}

#[test]
fn invalid_utf8_is_kept_as_bytes() {
    let mut body = b"process_name,user\nregsvcs.exe,\xff\xfe\n".to_vec();
    body.extend_from_slice(b"");
    let mut reader = BodyReader::new("regsvcs.exe", None);
    let mut seen = Vec::new();
    reader
        .read::<Error>(&body, &Schema::from_fields(&["user"], &[]), |row| {
            seen = row.get(0).iter().next().unwrap_or_default().to_vec();
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, b"\xff\xfe");
}

#[test]
fn bypass_column_decodes_every_row() {
    let mut reader = BodyReader::new("regsvcs.exe", Some("marker"));
    let counts = reader
        .read::<Error>(
            b"process_name,marker\nother.exe,1\n",
            &Schema::from_fields(&["process_name"], &[]),
            |_| Ok(()),
        )
        .unwrap();
    assert_eq!(counts.decoded, 1);
}

#[test]
fn cells_are_quoted_for_separators_quotes_newlines_and_padding() {
    let cell = |v: &str| {
        let mut out = Vec::new();
        write_cell(&mut out, v.as_bytes());
        String::from_utf8(out).unwrap()
    };
    assert_eq!(cell("plain"), "plain");
    assert_eq!(cell(r"CORP\bob"), r"CORP\bob");
    assert_eq!(cell("a,b"), "\"a,b\"");
    assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(cell("a\nb"), "\"a\nb\"");
    assert_eq!(cell("  padded  "), "\"  padded  \"");
    assert_eq!(cell("tab\t"), "\"tab\t\"");
    assert_eq!(cell(""), "");
}

#[test]
fn records_header_is_the_union_and_multivalue_cells_get_mv_columns() {
    let rows: Vec<crate::offline::Record> = vec![
        vec![("a".into(), vec![b"1".to_vec()])],
        vec![
            ("a".into(), vec![b"x$".to_vec(), b"y".to_vec()]),
            ("late".into(), vec![b"z".to_vec()]),
        ],
    ];
    let out = String::from_utf8(write_records(&rows)).unwrap();
    assert_eq!(out, "a,__mv_a,late\n1,,\n\"x$\ny\",$x$$$;$y$,z\n");
    assert!(write_records(&[]).is_empty());
}

#[test]
fn tables_use_lf_row_ends_and_empty_tables_are_empty_bodies() {
    let t = Table {
        columns: vec!["a".into(), "b".into()],
        rows: vec![vec![b"1".to_vec(), b" 2".to_vec()]],
    };
    assert_eq!(write_table(&t), b"a,b\n1,\" 2\"\n");
    assert!(write_table(&Table::default()).is_empty());
}

// Prefilter tests over quoted newlines, doubled quotes and CRLF, and empty bodies.

/// Columns `a` and `b` of a row, multivalue entries joined by `|`.
fn cells(row: &CsvRow<'_>) -> Vec<String> {
    let cell = |i| {
        row.get(i)
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .join("|")
    };
    vec![cell(0), cell(1)]
}

fn read_all(body: &str) -> (BodyCounts, Vec<Vec<String>>) {
    let mut reader = BodyReader::new("regsvcs.exe", None);
    let mut rows = Vec::new();
    let counts = reader
        .read::<Error>(
            body.as_bytes(),
            &Schema::from_fields(&["a", "b"], &[]),
            |row| {
                rows.push(cells(row));
                Ok(())
            },
        )
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

/// Rows and counts from feeding `body` in pieces cut at `cuts` (any order,
/// out of range ignored), or the body's error.
fn read_pieces(
    body: &[u8],
    cuts: &[usize],
    bypass: Option<&str>,
) -> Result<(BodyCounts, Vec<Vec<String>>), Error> {
    read_body(body, cuts, bypass, None)
}

/// What [`read_pieces`] gives, read as a threaded sink reads: pieces are
/// buffered until there are `parts` windows of `window` bytes, then read
/// in windows, `parts` at a time filed in reverse order (as threads may
/// finish them), each window's rows put back in window order.
fn read_split(
    body: &[u8],
    cuts: &[usize],
    bypass: Option<&str>,
    window: usize,
    parts: usize,
) -> Result<(BodyCounts, Vec<Vec<String>>), Error> {
    read_body(body, cuts, bypass, Some((window, parts)))
}

/// [`read_pieces`], or [`read_split`] with `split` = (window, parts).
fn read_body(
    body: &[u8],
    cuts: &[usize],
    bypass: Option<&str>,
    split: Option<(usize, usize)>,
) -> Result<(BodyCounts, Vec<Vec<String>>), Error> {
    let mut reader = BodyReader::new("regsvcs.exe", bypass);
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c <= body.len()).collect();
    cuts.push(0);
    cuts.push(body.len());
    cuts.sort_unstable();
    let mut rows = Vec::new();
    reader.begin(&Schema::from_fields(&["a", "b"], &[]));
    for w in cuts.windows(2) {
        let mut piece = &body[w[0]..w[1]];
        let Some((window, parts)) = split else {
            reader.feed(piece, &mut |row: &CsvRow<'_>| {
                rows.push(cells(row));
                true
            });
            continue;
        };
        if reader.buffered() + piece.len() < window * parts {
            while !piece.is_empty() {
                let n = reader.copy_in(piece);
                piece = &piece[n..];
            }
            continue;
        }
        let (filed, read) = reader.read_windows(&mut piece, None, parts, |relay, windows| {
            let mut filed: Vec<(usize, Vec<Vec<String>>)> = Vec::new();
            loop {
                let mut full = 0;
                while full < windows.len() && relay.fill(&mut windows[full], window) {
                    full += 1;
                }
                for w in windows[..full].iter_mut().rev() {
                    let mut mine = Vec::new();
                    w.run(&mut |row: &CsvRow<'_>| {
                        mine.push(cells(row));
                        true
                    });
                    filed.push((w.seq(), mine));
                }
                if full < windows.len() {
                    return filed;
                }
            }
        });
        read.expect("a slice reads without error");
        let mut filed = filed;
        filed.sort_by_key(|(seq, _)| *seq);
        rows.extend(filed.into_iter().flat_map(|(_, r)| r));
    }
    let mut collect = |row: &CsvRow<'_>| {
        rows.push(cells(row));
        true
    };
    reader.process_buffered(&mut collect);
    let counts = reader.finish(&mut collect)?;
    Ok((counts, rows))
}

/// The counts of `body` read whole, and read in windows of `window` bytes
/// (two at a time, the second filed first), by a sink that takes no more
/// rows of the body from the row whose `a` is `regsvcs stop`.
fn counts_with_a_stop(body: &[u8], window: usize) -> (BodyCounts, BodyCounts) {
    let schema = Schema::from_fields(&["a", "b"], &[]);
    let mut sink = |row: &CsvRow<'_>| cells(row)[0] != "regsvcs stop";
    let mut whole = BodyReader::new("regsvcs", None);
    whole.begin(&schema);
    whole.feed(body, &mut sink);
    let whole = whole.finish(&mut sink).unwrap();
    let mut split = BodyReader::new("regsvcs", None);
    split.begin(&schema);
    let ((), read) = split.read_windows(&mut &body[..], None, 2, |relay, windows| {
        let [first, second] = windows else {
            unreachable!("two windows asked for")
        };
        loop {
            let one = relay.fill(first, window);
            if one && relay.fill(second, window) {
                second.run(&mut sink);
            }
            if !one {
                return;
            }
            first.run(&mut sink);
        }
    });
    read.unwrap();
    split.process_buffered(&mut sink);
    let split = split.finish(&mut sink).unwrap();
    (whole, split)
}

/// Windows are folded in row order: the rows decoded are those before the
/// stop, whichever window was filed first. (The records after a stop are
/// still counted as skipped by a whole read and not by windows; either way
/// the body ends in the stop's error.)
#[test]
fn windows_fold_in_row_order_up_to_the_one_that_stopped() {
    let mut body = String::from("a,b\n");
    for i in 0..300 {
        let a = if i == 150 { "regsvcs stop" } else { "regsvcs" };
        body.push_str(&format!("{a},{i}\nskipped,{i}\n"));
    }
    for window in [16, 50, 333, 1000] {
        let (whole, split) = counts_with_a_stop(body.as_bytes(), window);
        assert_eq!(whole.decoded, 151, "window {window}");
        assert_eq!(split.decoded, whole.decoded, "window {window}");
    }
}

#[test]
fn a_header_of_line_ends_only_is_an_error_however_the_body_is_cut() {
    // `\r\r\n` is one record to the splitter and no record to the decoder.
    let body = b"\r\r\n,\"";
    let whole = read_pieces(body, &[], None);
    assert_eq!(whole, Err(Error::new(ErrorKind::EmptyHeader, 0)));
    for cut in 0..=body.len() {
        assert_eq!(read_pieces(body, &[cut], None), whole, "cut {cut}");
    }
}

#[test]
fn pieces_cut_anywhere_read_like_the_whole_body() {
    let body = b"a,b\r\n\"x\ny\",1\r\n\r\n\"Reg\nSvcs.exe\",2\n\"RegSvcs.EXE\n\"\"q\"\"\",3\r\nz,\"regsvcs.exe\"";
    let whole = read_pieces(body, &[], None);
    for cut in 0..=body.len() {
        assert_eq!(read_pieces(body, &[cut], None), whole, "cut {cut}");
        for cut2 in cut..=body.len() {
            assert_eq!(
                read_pieces(body, &[cut, cut2], None),
                whole,
                "cuts {cut} {cut2}"
            );
        }
    }
    let every: Vec<usize> = (0..body.len()).collect();
    assert_eq!(read_pieces(body, &every, None), whole);
}

proptest::proptest! {
    #[test]
    fn feeding_in_pieces_or_split_agrees_with_one_read(
        parts in proptest::collection::vec(
            proptest::sample::select(vec!["\"", "\n", "\r\n", "\r", ",", "a", "\"\"", "regsvcs.exe", "RegSvcs.Exe", "marker", "long field text "]),
            0..60,
        ),
        cuts in proptest::collection::vec(0usize..400, 0..8),
        bypass in proptest::bool::ANY,
        window in 1usize..120,
        threads in 2usize..5,
    ) {
        let text = parts.concat();
        let bypass = bypass.then_some("marker");
        let whole = read_pieces(text.as_bytes(), &[], bypass);
        if let Ok((counts, _)) = &whole {
            // Records after the header that lack the needle are skipped (a
            // kept record with a stray quote may decode as more than one).
            let lacking = Records::new(text.as_bytes())
                .skip(1)
                .filter(|r| !String::from_utf8_lossy(r).to_ascii_lowercase().contains("regsvcs.exe"))
                .count() as u64;
            if bypass.is_none() {
                proptest::prop_assert_eq!(counts.skipped, lacking);
            }
        }
        proptest::prop_assert_eq!(&read_pieces(text.as_bytes(), &cuts, bypass), &whole);
        // Split between decoders as threaded sinks read.
        proptest::prop_assert_eq!(read_split(text.as_bytes(), &cuts, bypass, window, threads), whole);
    }
}

proptest::proptest! {
    #[test]
    fn literal_needle_finds_what_the_regex_finds(
        parts in proptest::collection::vec(
            proptest::sample::select(vec!["g", "G", "regsvcs.exe", "RegSvcs.EXE", "regsvcs.ex", "rEgsvcs.exe.bak", "\n", "\"", "x", "aa", "Program Files (x86)\\Microsoft Visual Studio", "regsvcs\x07exe"]),
            0..40,
        ),
        needle in proptest::sample::select(vec!["regsvcs.exe", "aa", "g", "a", "x\nx", "\""]),
    ) {
        let text = parts.concat();
        let re = Regex::new(&format!("(?i-u:{})", regex::escape(needle))).unwrap();
        let lit = Needle::literal(needle.as_bytes());
        let want: Vec<usize> = re.find_iter(text.as_bytes()).map(|m| m.start()).collect();
        let got: Vec<usize> = lit.starts(text.as_bytes()).collect();
        proptest::prop_assert_eq!(got, want);
        proptest::prop_assert_eq!(lit.is_match(text.as_bytes()), re.is_match(text.as_bytes()));
    }
}

proptest::proptest! {
    #[test]
    fn record_counts_agree_with_the_splitter(
        parts in proptest::collection::vec(
            proptest::sample::select(vec!["\"", "\n", "\r\n", "\r", ",", "a", "\"\""]),
            0..60,
        ),
    ) {
        let text = parts.concat();
        let scan = split::count_records(text.as_bytes());
        let complete: Vec<&[u8]> = Records::new(&text.as_bytes()[..scan.last_start]).collect();
        proptest::prop_assert_eq!(scan.records, complete.len() as u64);
        let rest = &text.as_bytes()[scan.last_start..];
        let mut odd = false;
        proptest::prop_assert_eq!(split::record_end(rest, 0, &mut odd), None);
        proptest::prop_assert_eq!(scan.odd, odd);
    }
}

#[test]
fn a_body_split_between_decoders_reads_like_the_whole_body() {
    let body = b"a,b\r\n\"x\ny\",1\r\n\r\n\"Reg\nSvcs.exe\",2\n\"RegSvcs.EXE\n\"\"q\"\"\",3\r\nz,\"regsvcs.exe\"\nregsvcs.exe,4\n";
    let whole = read_pieces(body, &[], None);
    assert_eq!(whole.as_ref().map(|(_, rows)| rows.len()), Ok(3));
    for window in 1..=body.len() {
        for parts in 2..=4 {
            assert_eq!(
                read_split(body, &[], None, window, parts),
                whole,
                "window {window}, {parts} parts"
            );
        }
    }
}
