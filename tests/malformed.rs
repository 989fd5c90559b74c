//! A catalogue of malformed request streams, each with its expected outcome;
//! every case also checks that the binary never panics, never hangs, and,
//! where a header lies about sizes, stays inside a stated memory bound.
//!
//! Outcomes are `util::Expect`, checked by `util::judge`, which every test
//! that runs the binary on a stream can use.
//!
//! Memory bound: cases with `max_vm_mib` run under `ulimit -v` (address
//! space, not just resident memory), so an allocation past the bound aborts
//! the child and fails the test. The bound is 64 MiB for lying lengths
//! (10^12 bytes, 900 MB declared with a few bytes sent), 256 MiB for a real
//! 10 MB field and 1 GiB for a field just over the 64 MiB field limit; the
//! peak resident set (VmHWM, polled) is printed too.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::util::*;

/// Address-space cap for cases that only need to refuse a lying header.
const TIGHT_VM_MIB: u64 = 64;
/// Address-space cap for cases that carry a real 10 MB field.
const BIG_VM_MIB: u64 = 256;
/// Address-space cap for a field just over `body::MAX_FIELD_BYTES` (64 MiB).
const HUGE_VM_MIB: u64 = 1024;

pub struct Case {
    pub name: &'static str,
    pub input: Vec<u8>,
    pub expect: Expect,
    pub feed: Feed,
    /// Close our end of the child's stdout before feeding it.
    pub close_stdout: bool,
    /// Run under `ulimit -v` with this many MiB.
    pub max_vm_mib: Option<u64>,
    pub args: Vec<String>,
    /// Extra checks on the replies.
    pub check: Option<fn(&[Reply])>,
}

fn case(name: &'static str, input: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        input,
        expect,
        feed: Feed::All,
        close_stdout: false,
        max_vm_mib: None,
        args: vec![],
        check: None,
    }
}

impl Case {
    fn vm(mut self, mib: u64) -> Case {
        self.max_vm_mib = Some(mib);
        self
    }
    fn feed(mut self, feed: Feed) -> Case {
        self.feed = feed;
        self
    }
    fn check(mut self, f: fn(&[Reply])) -> Case {
        self.check = Some(f);
        self
    }
}

fn net(bodies: &[Vec<u8>]) -> Vec<u8> {
    session(&["mode=network"], bodies)
}

fn one_row() -> Vec<u8> {
    net_body(&[network_row(&[])])
}

/// Data rows in a reply body, without requiring UTF-8.
fn byte_rows(r: &Reply) -> usize {
    csv::ReaderBuilder::new()
        .from_reader(r.body.as_slice())
        .byte_records()
        .count()
}

fn last(replies: &[Reply]) -> &Reply {
    replies.last().expect("a reply")
}

fn execute_meta(finished: bool) -> Vec<u8> {
    format!("{{\"action\":\"execute\",\"finished\":{finished}}}").into_bytes()
}

/// A request header followed by raw text in place of a real one.
fn after_getinfo(tail: &[u8]) -> Vec<u8> {
    [getinfo(&["mode=network"]), tail.to_vec()].concat()
}

/// `n` comma-separated values of a multivalue cell, plain and `__mv_` forms.
fn mv(values: &[String]) -> (String, String) {
    let plain = values.join("\n");
    let enc = values
        .iter()
        .map(|v| format!("${}$", v.replace('$', "$$")))
        .collect::<Vec<_>>()
        .join(";");
    (plain, enc)
}

pub fn catalogue() -> Vec<Case> {
    use Expect::*;
    let full = net(&[one_row()]);
    let getinfo_len = getinfo(&["mode=network"]).len();
    let exec = execute(&one_row(), true);
    let exec_meta_len = execute_meta(true).len();
    // Where the execute chunk's parts start within `full`.
    let exec_at = getinfo_len;
    let header_len = exec.iter().position(|&b| b == b'\n').unwrap() + 1;

    let mut cases = vec![
        case("empty_stream", vec![], Clean),
        case("probe_only", getinfo(&["mode=network"]), Clean),
        case("one_clean_session", full.clone(), Clean)
            .check(|r| assert_eq!(last(r).table().1.len(), 1)),
        case(
            "truncated_header",
            full[..exec_at + 8].to_vec(),
            Error("input ended inside the header"),
        ),
        case(
            "truncated_metadata",
            full[..exec_at + header_len + exec_meta_len / 2].to_vec(),
            Error("input ended inside the metadata"),
        ),
        case(
            "truncated_body",
            full[..full.len() - 10].to_vec(),
            Error("input ended inside the body"),
        ),
        case(
            "stdin_closed_mid_chunk",
            full.clone(),
            Error("input ended inside the body"),
        )
        .feed(Feed::Stall(full.len() - 10)),
        case(
            "truncated_getinfo",
            getinfo(&["mode=network"])[..40].to_vec(),
            Error("input ended inside the metadata"),
        ),
        case(
            "non_numeric_length",
            after_getinfo(b"chunked 1.0,abc,0\n"),
            Error("invalid chunk header"),
        ),
        case(
            "negative_length",
            after_getinfo(b"chunked 1.0,-37,0\n"),
            Error("invalid chunk header"),
        ),
        case(
            "length_overflows_u64",
            after_getinfo(b"chunked 1.0,37,184467440737095516160\n"),
            Error("invalid chunk header"),
        ),
        case(
            "absurd_length_10e12",
            after_getinfo(
                b"chunked 1.0,37,1000000000000\n{\"action\":\"execute\",\"finished\":true}x",
            ),
            Error("more than the limit"),
        )
        .vm(TIGHT_VM_MIB),
        case(
            "lying_length_under_limit",
            after_getinfo(
                b"chunked 1.0,37,900000000\n{\"action\":\"execute\",\"finished\":true}abc",
            ),
            Error("input ended inside the body"),
        )
        .vm(TIGHT_VM_MIB),
        case(
            "bad_version",
            [
                b"chunked 2.0,".to_vec(),
                getinfo(&["mode=network"])[12..].to_vec(),
            ]
            .concat(),
            Error("unsupported protocol version \"2.0\""),
        ),
        case(
            "garbage_instead_of_header",
            after_getinfo(b"GET / HTTP/1.1\r\n\r\n"),
            Error("invalid chunk header"),
        ),
        case(
            "overlong_header_line",
            after_getinfo(&[b'7'; 1000]),
            Error("invalid chunk header"),
        ),
        case(
            "stray_bytes_between_chunks",
            [getinfo(&["mode=network"]), b"xx\n".to_vec(), exec.clone()].concat(),
            Error("invalid chunk header"),
        ),
        case(
            "metadata_not_json",
            [getinfo(&["mode=network"]), chunk(b"action=execute", b"")].concat(),
            Error("invalid metadata"),
        ),
        case(
            "metadata_not_an_object",
            [getinfo(&["mode=network"]), chunk(b"[\"execute\"]", b"")].concat(),
            Error("not a JSON object"),
        ),
        case(
            "metadata_empty",
            [getinfo(&["mode=network"]), chunk(b"", b"a\n1\n")].concat(),
            Error("metadata is empty"),
        ),
        case(
            "metadata_wrong_type",
            [
                getinfo(&["mode=network"]),
                chunk(b"{\"action\":\"execute\",\"finished\":\"yes\"}", b""),
            ]
            .concat(),
            Error("invalid metadata"),
        ),
        case(
            "execute_before_getinfo",
            [exec.clone(), getinfo(&["mode=network"])].concat(),
            Error("first request must be getinfo"),
        ),
        case(
            "getinfo_twice",
            [getinfo(&["mode=network"]), getinfo(&["mode=network"])].concat(),
            Error("expected an execute request, got getinfo"),
        ),
        case(
            "unknown_action",
            [
                getinfo(&["mode=network"]),
                chunk(b"{\"action\":\"frobnicate\",\"finished\":true}", b""),
            ]
            .concat(),
            Error("\"frobnicate\""),
        ),
        case(
            "missing_action",
            chunk(b"{\"finished\":true}", b""),
            Error("without an action"),
        ),
        case(
            "body_in_getinfo",
            chunk(
                getinfo_meta(&["mode=network"]).to_string().as_bytes(),
                &one_row(),
            ),
            Error("getinfo request carries"),
        ),
        case(
            "bad_option",
            session(&["mode=network", "nosuch=1"], &[one_row()]),
            Error("unknown option \"nosuch\""),
        ),
        case(
            "ragged_csv",
            net(&[[
                net_body(&[network_row(&[])]),
                b"1700000000,3,allowed\n".to_vec(),
                network_row(&[])
                    .replace('\n', ",extra,cells\n")
                    .into_bytes(),
            ]
            .concat()]),
            Clean,
        )
        .check(|r| {
            let f = last(r);
            assert_eq!(f.metric("rows_in"), 3);
            assert!(f
                .messages()
                .iter()
                .any(|(l, t)| l == "WARN" && t.contains("different number of fields")));
        }),
        case("zero_byte_body", net(&[vec![]]), Clean),
        case("body_just_newline", net(&[b"\n".to_vec()]), Clean),
        case("body_just_crlf", net(&[b"\r\n".to_vec()]), Clean),
        case(
            "header_only_body",
            net(&[format!("{NETWORK_HEADER}\n").into_bytes()]),
            Clean,
        ),
        case(
            // splunkd always sends a header; without one the first row is
            // taken as the header and nothing matches, never a crash.
            "missing_csv_header",
            net(&[network_row(&[]).into_bytes()]),
            Clean,
        )
        .check(|r| assert!(last(r).body.is_empty())),
        case(
            "duplicate_column_names",
            net(&[format!(
                "{NETWORK_HEADER},process_name\n{}",
                network_row(&[]).replace('\n', ",notepad.exe\n")
            )
            .into_bytes()]),
            Clean,
        )
        // The first of duplicated names wins.
        .check(|r| assert_eq!(last(r).table().1.len(), 1)),
        case(
            "malformed_mv_falls_back_to_plain",
            net(&[format!(
                "{NETWORK_HEADER},__mv_dest_ip\n{}",
                network_row(&[]).replace('\n', ",$1.1.1.1;no-dollars\n")
            )
            .into_bytes()]),
            Clean,
        )
        .check(|r| {
            let (header, rows) = last(r).table();
            let i = header.iter().position(|h| h == "dest_ip").unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0][i], "93.184.216.34");
        }),
        case(
            "nul_bytes",
            net(&[net_body(&[network_row(&[("user", "CORP\\a\0b")])])]),
            Clean,
        )
        .check(|r| assert!(String::from_utf8_lossy(&last(r).body).contains("a\0b"))),
        case(
            "invalid_utf8_body",
            net(&[[
                net_body(&[]),
                network_row(&[("user", "CORP\\\u{1}")])
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 1 { 0xfe } else { b })
                    .collect(),
            ]
            .concat()]),
            Clean,
        )
        .check(|r| assert_eq!(byte_rows(last(r)), 1)),
        case(
            "invalid_utf8_metadata",
            {
                let meta = getinfo_meta(&["mode=network"]).to_string();
                let meta = meta.replace("\"app\":\"search\"", "\"app\":\"se\u{1}rch\"");
                let meta: Vec<u8> = meta
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 1 { 0xff } else { b })
                    .collect();
                [chunk(&meta, b""), exec.clone()].concat()
            },
            Clean,
        ),
        case(
            "ten_megabyte_field",
            net(&[net_body(&[network_row(&[(
                "user",
                &format!("CORP\\{}", "x".repeat(10 << 20)),
            )])])]),
            Clean,
        )
        .vm(BIG_VM_MIB)
        .check(|r| assert!(last(r).body.len() > 10 << 20)),
        case(
            "field_over_limit",
            net(&[net_body(&[network_row(&[(
                "user",
                &"x".repeat(regsvcsdetect::body::MAX_FIELD_BYTES + 1),
            )])])]),
            Error("a field is larger than the limit of 67108864 bytes"),
        )
        .vm(HUGE_VM_MIB),
        case(
            "ten_thousand_columns",
            {
                let extra: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
                let body = format!(
                    "{NETWORK_HEADER},{}\n{}",
                    extra.join(","),
                    network_row(&[]).replace('\n', &format!(",{}\n", extra.join(",")))
                );
                net(&[body.into_bytes()])
            },
            Clean,
        )
        .check(|r| assert_eq!(last(r).table().1.len(), 1)),
        case(
            "crlf_header",
            {
                let text = String::from_utf8(full.clone()).unwrap();
                text.replace(",0\n{", ",0\r\n{")
                    .replacen(
                        &format!(",{}\n{{\"action\":\"execute\"", one_row().len()),
                        &format!(",{}\r\n{{\"action\":\"execute\"", one_row().len()),
                        1,
                    )
                    .into_bytes()
            },
            Clean,
        )
        .check(|r| assert_eq!(last(r).table().1.len(), 1)),
        case(
            "spaces_in_header",
            [
                getinfo(&["mode=network"]),
                format!("chunked  1.0 , {} , {} \n", exec_meta_len, one_row().len()).into_bytes(),
                execute_meta(true),
                one_row(),
            ]
            .concat(),
            Clean,
        ),
        case(
            "stray_blank_lines_between_chunks",
            [
                b"\n".to_vec(),
                getinfo(&["mode=network"]),
                b"\n\r\n\n".to_vec(),
                execute(&one_row(), false),
                b"\n".to_vec(),
                execute(&one_row(), true),
                b"\n".to_vec(),
            ]
            .concat(),
            Clean,
        )
        .check(|r| assert_eq!(last(r).table().1[0][19], "2")),
        case(
            "huge_number_of_tiny_chunks",
            {
                let mut s = getinfo(&["mode=network"]);
                for i in 0..20_000 {
                    s.extend(execute(b"", i == 19_999));
                }
                s
            },
            Clean,
        ),
        case(
            "crlf_rows",
            net(&[String::from_utf8(one_row())
                .unwrap()
                .replace('\n', "\r\n")
                .into_bytes()]),
            Clean,
        )
        .check(|r| assert_eq!(last(r).table().1.len(), 1)),
        case(
            "unbalanced_quote_runs_to_end_of_body",
            net(&[[one_row(), b"\"unterminated,RegSvcs.exe\n1,2\n".to_vec()].concat()]),
            Clean,
        ),
        case(
            "finished_missing_means_false",
            [
                getinfo(&["mode=network"]),
                chunk(b"{\"action\":\"execute\"}", &one_row()),
                execute(b"", true),
            ]
            .concat(),
            Clean,
        )
        .check(|r| {
            assert_eq!(r[1].meta["finished"], false);
            assert_eq!(last(r).table().1.len(), 1);
        }),
        case(
            "multivalue_explosion",
            {
                let vals = |p: &str| (0..50).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
                let (dp, dpe) = mv(&vals("1"));
                let (sp, spe) = mv(&vals("2"));
                let (us, use_) = mv(&vals("u"));
                let row = network_row(&[("dest_port", &dp), ("src_port", &sp), ("user", &us)]);
                let body = format!(
                    "{NETWORK_HEADER},__mv_dest_port,__mv_src_port,__mv_user\n{},{},{},{}\n",
                    row.trim_end_matches('\n'),
                    csv_cell(&dpe),
                    csv_cell(&spe),
                    csv_cell(&use_)
                );
                net(&[body.into_bytes()])
            },
            Error("expand to 125000 groups, more than the limit of 100000 per row"),
        ),
        case(
            "group_limit",
            session(
                &["mode=network", "max_groups=2"],
                &[net_body(&[
                    network_row(&[("src_port", "1")]),
                    network_row(&[("src_port", "2")]),
                    network_row(&[("src_port", "3")]),
                ])],
            ),
            Error("more than 2 distinct groups"),
        ),
        case(
            "group_limit_exactly_reached_is_fine",
            session(
                &["mode=network", "max_groups=2"],
                &[net_body(&[
                    network_row(&[("src_port", "1")]),
                    network_row(&[("src_port", "2")]),
                    network_row(&[("src_port", "2")]),
                ])],
            ),
            Clean,
        )
        .check(|r| assert_eq!(last(r).table().1.len(), 2)),
    ];
    let mut closed = case("stdout_closed_early", full.clone(), Quiet);
    closed.close_stdout = true;
    cases.push(closed);
    let mut closed_err = case(
        "stdout_closed_before_an_error_reply",
        full[..full.len() - 5].to_vec(),
        Quiet,
    );
    closed_err.close_stdout = true;
    cases.push(closed_err);
    cases
}

#[test]
fn catalogue_case_names_are_unique() {
    let cases = catalogue();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn every_malformed_stream_gets_its_expected_outcome() {
    let mut failures = Vec::new();
    for c in catalogue() {
        let name = c.name;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ran = run_guarded(
                c.name,
                &c.input,
                c.feed,
                c.close_stdout,
                c.max_vm_mib,
                |cmd| {
                    cmd.args(&c.args);
                },
            );
            if let Some(mib) = c.max_vm_mib {
                eprintln!(
                    "{}: peak RSS {} KiB under a {mib} MiB address-space cap",
                    c.name, ran.peak_kib
                );
            }
            let replies = judge(c.name, &c.input, c.expect, &ran);
            if let Some(check) = c.check {
                check(&replies);
            }
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_check_that_cannot_fail_is_no_check() {
    // The judge itself rejects a panicking or wrong outcome.
    let ran = Ran {
        status: ExitStatus::from_raw(101 << 8),
        stdout: vec![],
        stderr: b"thread 'main' panicked at src/x.rs".to_vec(),
        peak_kib: 0,
    };
    let caught = std::panic::catch_unwind(|| judge("x", b"", Expect::Clean, &ran));
    assert!(caught.is_err());
    let ran = Ran {
        status: ExitStatus::from_raw(0),
        stdout: vec![],
        stderr: vec![],
        peak_kib: 0,
    };
    let caught = std::panic::catch_unwind(|| judge("x", &getinfo(&[]), Expect::Clean, &ran));
    assert!(caught.is_err(), "a missing reply is caught");
}
