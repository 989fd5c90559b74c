//! Golden protocol sessions: every `tests/fixtures/sessions/<name>.in` is played through the binary (TZ=UTC) and its replies compared byte for byte with `<name>.out`; `make bless` rewrites both from the cases below.

use std::path::{Path, PathBuf};

use crate::util::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions")
}

fn procs(rows: &[String]) -> Vec<u8> {
    let mut body = process_header("Processes.");
    for r in rows {
        body.push_str(r);
    }
    body.into_bytes()
}

/// The cases, built here so that `make bless` can regenerate the inputs.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let r = network_row;
    let p = process_row;
    let mixed = vec![
        r(&[]),
        r(&[("_time", "1700000300.75"), ("src_port", "49713")]),
        r(&[("dest_ip", "10.0.0.8")]),
        r(&[("dest_ip", "172.16.0.1")]),
        r(&[("dest_ip", "192.168.1.1")]),
        r(&[("process_name", "powershell.exe")]),
        r(&[("EventID", "1")]),
        r(&[("protocol_version", "")]),
        r(&[("_time", "1699999999"), ("process_name", "REGSVCS.EXE")]),
    ];
    let mv_header = format!("{NETWORK_HEADER},__mv_dest_ip,__mv_user\n");
    let mv_body = format!(
        "{mv_header}{}{}",
        r(&[("dest_ip", "93.184.216.34\n8.8.8.8")])
            .trim_end()
            .to_string()
            + ",$93.184.216.34$;$8.8.8.8$,\n",
        r(&[("user", "CORP\\a$b\nCORP\\c")]).trim_end().to_string() + ",,$CORP\\a$$b$;$CORP\\c$\n",
    );
    let invalid_utf8 = {
        let mut b = format!("{NETWORK_HEADER}\n").into_bytes();
        b.extend(
            r(&[("user", "CORP\\\u{fffd}")])
                .replace('\u{fffd}', "\u{1}")
                .into_bytes(),
        );
        let at = b.iter().position(|&c| c == 1).unwrap();
        b[at] = 0xff;
        b
    };
    let quoted_newline = net_body(&[r(&[("user", "CORP\\multi\nline")]), r(&[])]);
    let crlf = net_body(&[r(&[]), r(&[("_time", "1700000005")])])
        .iter()
        .flat_map(|&c| {
            if c == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![c]
            }
        })
        .collect::<Vec<u8>>();
    let partials = b"action,app,dest,dest_ip,dest_port,direction,dvc,protocol,protocol_version,src,src_ip,src_port,transport,user,vendor_product,process_name,process_exec,process_guid,process_id,count,firstTime,lastTime,regsvcsdetect_partial\nallowed,RegSvcs.exe,h,8.8.8.8,443,outbound,h,https,ipv4,h,10.0.0.1,5,tcp,u,Microsoft Sysmon,RegSvcs.exe,RegSvcs.exe,g,1,3,1700000000,1700000300,1\nallowed,RegSvcs.exe,h,8.8.8.8,443,outbound,h,https,ipv4,h,10.0.0.1,5,tcp,u,Microsoft Sysmon,RegSvcs.exe,RegSvcs.exe,g,1,2,1699990000,1700000100,1\nallowed,RegSvcs.exe,h,10.9.9.9,443,outbound,h,https,ipv4,h,10.0.0.1,5,tcp,u,Microsoft Sysmon,other.exe,RegSvcs.exe,g,1,1,1699990000,1700000100,1\n".to_vec();
    // tstats-style rows a user pipes in: aggregated, prefixed, and filtered like events.
    let tstats = b"All_Traffic.action,All_Traffic.app,All_Traffic.dest,All_Traffic.dest_ip,All_Traffic.dest_port,All_Traffic.direction,All_Traffic.dvc,All_Traffic.protocol,All_Traffic.protocol_version,All_Traffic.src,All_Traffic.src_ip,All_Traffic.src_port,All_Traffic.transport,All_Traffic.user,All_Traffic.vendor_product,All_Traffic.process_name,All_Traffic.process_exec,All_Traffic.process_guid,All_Traffic.process_id,count,firstTime,lastTime\nallowed,RegSvcs.exe,h,8.8.8.8,443,outbound,h,https,ipv4,h,10.0.0.1,5,tcp,u,Microsoft Sysmon,RegSvcs.exe,RegSvcs.exe,g,1,3,1700000000,1700000300\nallowed,RegSvcs.exe,h,10.9.9.9,443,outbound,h,https,ipv4,h,10.0.0.1,5,tcp,u,Microsoft Sysmon,RegSvcs.exe,RegSvcs.exe,g,1,1,1699990000,1700000100\nallowed,RegSvcs.exe,h,8.8.4.4,443,outbound,h,https,ipv4,h,10.0.0.1,5,tcp,u,Microsoft Sysmon,cmd.exe,RegSvcs.exe,g,1,1,1699990000,1700000100\n".to_vec();
    let noargs_rows = vec![
        p(&[]),
        p(&[(
            "process",
            r#""C:\Windows\Microsoft.NET\Framework\v4.0.30319\regsvcs.exe" T1121.dll"#,
        )]),
        p(&[("process", "RegSvcs.exe /u"), ("_time", "1700000200")]),
        p(&[
            ("process_name", "cmd.exe"),
            ("original_file_name", "Cmd.Exe"),
            ("process", "cmd /c regsvcs.exe"),
        ]),
        p(&[
            ("process_name", "svc.exe"),
            ("process", "svc.exe"),
            ("original_file_name", "RegSvcs.exe"),
        ]),
        p(&[("user_id", ""), ("process_hash", "")]),
    ];
    let regasm = vec![
        p(&[
            ("process_name", "RegAsm.exe"),
            ("original_file_name", "RegAsm.exe"),
            ("process", "RegAsm.exe"),
        ]),
        p(&[]),
    ];
    let cim = {
        let mut body = "_time,process,process_name,original_file_name,sourcetype\n".to_string();
        body.push_str("1700000000,regsvcs.exe,,,XmlWinEventLog\n");
        body.push_str("1700000001,\"regsvcs.exe /s x.dll\",,,XmlWinEventLog\n");
        body.into_bytes()
    };
    let sysmon = {
        let mut body = format!("source,sourcetype,{NETWORK_HEADER}\n");
        body.push_str(&format!(
            "\"XmlWinEventLog:Microsoft-Windows-Sysmon/Operational\",XmlWinEventLog,{}",
            r(&[])
        ));
        body.push_str(&format!(
            "\"WinEventLog:Security\",WinEventLog,{}",
            r(&[("src_port", "1")])
        ));
        body.into_bytes()
    };
    vec![
        ("probe_only", getinfo(&["mode=network"])),
        (
            "network_one_chunk",
            session(&["mode=network"], &[net_body(&mixed)]),
        ),
        (
            "network_many_chunks",
            session(
                &["mode=network"],
                &[
                    net_body(&mixed[..3]),
                    net_body(&mixed[3..6]),
                    net_body(&mixed[6..]),
                    net_body(&[]),
                ],
            ),
        ),
        (
            "empty_bodies",
            session(&["mode=network"], &[vec![], vec![], vec![]]),
        ),
        (
            "header_only_bodies",
            session(&["mode=network"], &[net_body(&[]), net_body(&[])]),
        ),
        ("crlf_rows", session(&["mode=network"], &[crlf])),
        (
            "quoted_newlines",
            session(&["mode=network"], &[quoted_newline]),
        ),
        (
            "multivalue",
            session(&["mode=network"], &[mv_body.into_bytes()]),
        ),
        ("invalid_utf8", session(&["mode=network"], &[invalid_utf8])),
        (
            "bad_option",
            session(
                &["mode=dns", "colour=blue", "sysmon=maybe"],
                &[net_body(&mixed)],
            ),
        ),
        ("missing_mode", session(&[], &[net_body(&mixed)])),
        ("truncated_stream", {
            let mut s = session(&["mode=network"], &[net_body(&mixed)]);
            s.truncate(s.len() - 40);
            s
        }),
        ("execute_before_getinfo", execute(&net_body(&mixed), true)),
        ("noargs", session(&["mode=noargs"], &[procs(&noargs_rows)])),
        (
            "noargs_regasm",
            session(&["mode=noargs", "binary=regasm"], &[procs(&regasm)]),
        ),
        (
            "noargs_cim_fill",
            session(&["mode=noargs", "cim_fill=t"], std::slice::from_ref(&cim)),
        ),
        ("noargs_no_cim_fill", session(&["mode=noargs"], &[cim])),
        (
            "option_tz",
            session(&["mode=network", "tz=Asia/Kolkata"], &[net_body(&mixed)]),
        ),
        (
            "option_timeformat",
            session(
                &["mode=network", "timeformat=%d/%m/%Y %H:%M:%S %Z"],
                &[net_body(&mixed)],
            ),
        ),
        (
            "option_timeformat_epoch",
            session(&["mode=network", "timeformat=epoch"], &[net_body(&mixed)]),
        ),
        (
            "option_cidrs_extended",
            session(
                &["mode=network", "cidrs=extended"],
                &[net_body(&[
                    r(&[("dest_ip", "127.0.0.1")]),
                    r(&[("dest_ip", "fe80::1")]),
                    r(&[("dest_ip", "2001:db8::5")]),
                    r(&[("dest_ip", "100.64.1.1")]),
                    r(&[]),
                ])],
            ),
        ),
        (
            "option_sysmon",
            session(&["mode=network", "sysmon=t"], &[sysmon]),
        ),
        (
            "option_input_events",
            session(
                &["mode=network", "input=events", "distributed=f"],
                std::slice::from_ref(&partials),
            ),
        ),
        (
            "option_input_aggregated",
            session(
                &["mode=network", "input=aggregated"],
                std::slice::from_ref(&partials),
            ),
        ),
        (
            "reduce_merges_partials",
            session(&["mode=network"], &[partials]),
        ),
        (
            "option_max_groups_exceeded",
            session(&["mode=network", "max_groups=1"], &[net_body(&mixed)]),
        ),
        (
            "time_in_milliseconds_stays_a_number",
            session(
                &["mode=network"],
                &[net_body(&[
                    r(&[]),
                    r(&[("_time", "1700000000000"), ("src_port", "7")]),
                ])],
            ),
        ),
        (
            "option_timeformat_subseconds",
            session(
                &["mode=network", "timeformat=%H:%M:%S.%3N"],
                &[net_body(&[r(&[("_time", "1700000000.75")])])],
            ),
        ),
        (
            "aggregated_tstats_rows",
            session(&["mode=network"], &[tstats]),
        ),
        (
            "option_distributed_false",
            session(&["mode=network", "distributed=f"], &[net_body(&mixed)]),
        ),
        (
            "map_phase",
            session(
                &["mode=network", "phase=map"],
                &[net_body(&mixed[..4]), net_body(&mixed[4..])],
            ),
        ),
        (
            "network_regasm",
            session(
                &["mode=network", "binary=regasm"],
                &[net_body(&[r(&[("process_name", "regasm.exe")]), r(&[])])],
            ),
        ),
    ]
}

fn replay(input: &Path) -> Vec<u8> {
    let data = std::fs::read(input).unwrap();
    let out = run(&data);
    let mut transcript = out.stdout;
    transcript.extend(format!("\n--- exit {}\n", out.status.code().unwrap_or(-1)).into_bytes());
    transcript
}

#[test]
fn sessions_match_their_golden_replies() {
    let bless = std::env::var_os("BLESS").is_some();
    if bless {
        std::fs::create_dir_all(dir()).unwrap();
        for (name, input) in cases() {
            std::fs::write(dir().join(format!("{name}.in")), input).unwrap();
        }
    }
    let mut failures = Vec::new();
    for (name, _) in cases() {
        let input = dir().join(format!("{name}.in"));
        let golden = dir().join(format!("{name}.out"));
        let got = replay(&input);
        if bless {
            std::fs::write(&golden, &got).unwrap();
        } else if std::fs::read(&golden).ok().as_deref() != Some(got.as_slice()) {
            failures.push(format!(
                "{name}: replies differ from {}\n~~~ got\n{}\n~~~",
                golden.display(),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(run `make bless` after an intended change)",
        failures.join("\n")
    );
}

/// Every case has its `.in` and `.out`, and every file in the folder
/// belongs to a case: a renamed or dropped case leaves no stale golden file.
#[test]
fn the_golden_folder_holds_exactly_the_cases() {
    let mut want: Vec<String> = Vec::new();
    for (name, _) in cases() {
        assert!(
            !want.iter().any(|w| w.starts_with(&format!("{name}."))),
            "case {name} twice"
        );
        want.extend([format!("{name}.in"), format!("{name}.out")]);
    }
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "tests/fixtures/sessions against cases(): run `make bless`"
    );
}

#[test]
fn golden_inputs_are_what_the_cases_build() {
    for (name, input) in cases() {
        let on_disk = std::fs::read(dir().join(format!("{name}.in"))).unwrap_or_default();
        assert!(on_disk == input, "{name}.in is stale: run `make bless`");
    }
}

#[test]
fn every_golden_reply_is_well_formed() {
    for (name, _) in cases() {
        let out = std::fs::read(dir().join(format!("{name}.out"))).unwrap_or_default();
        let end = out
            .windows(9)
            .rposition(|w| w == b"\n--- exit")
            .expect("a transcript ends with its exit code");
        let replies = parse_chunks(&out[..end]);
        assert!(!replies.is_empty(), "{name}: no reply");
    }
}
