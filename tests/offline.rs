//! Offline use as specs: `run` over every input format and malformed files, the options through the shared parser, the real Sysmon fixtures, `record=t` recordings and `replay --expect`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::util::*;

/// A fresh scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "regsvcsdetect-offline-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// `regsvcsdetect run ARGS` with TZ=UTC: (exit code, stdout, stderr).
fn run_cli(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = run_with(b"", &all, &[("TZ", "UTC")]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number after a summary label such as `matched:`.
fn count(stderr: &str, label: &str) -> u64 {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label} in {stderr}"))
}

const SYSMON3_ONE_LINE: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>3</EventID><Version>5</Version><TimeCreated SystemTime='2024-01-02T03:04:05.678900000Z'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws1.corp.example</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='RuleName'>-</Data><Data Name='ProcessGuid'>{1}</Data><Data Name='ProcessId'>77</Data><Data Name='Image'>C:\\Windows\\Microsoft.NET\\Framework\\v4.0.30319\\RegSvcs.exe</Data><Data Name='User'>CORP\\a</Data><Data Name='Protocol'>tcp</Data><Data Name='Initiated'>true</Data><Data Name='SourceIp'>10.0.0.9</Data><Data Name='SourceHostname'>ws1.corp.example</Data><Data Name='SourcePort'>50000</Data><Data Name='SourcePortName'>-</Data><Data Name='DestinationIp'>DEST</Data><Data Name='DestinationHostname'></Data><Data Name='DestinationPort'>443</Data><Data Name='DestinationPortName'>https</Data></EventData></Event>";

const SYSMON1_EVTX: &str = "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><Provider Name=\"Microsoft-Windows-Sysmon\" Guid=\"{5770385f-c22a-43e0-bf4c-06f5698ffbd9}\"></Provider>\n<EventID Qualifiers=\"\">1</EventID>\n<TimeCreated SystemTime=\"2019-07-19 14:46:19.484316+00:00\"></TimeCreated>\n<Channel>Microsoft-Windows-Sysmon/Operational</Channel>\n<Computer>MSEDGEWIN10</Computer>\n<Security UserID=\"S-1-5-18\"></Security>\n</System>\n<EventData><Data Name=\"RuleName\"></Data>\n<Data Name=\"Image\">C:\\Windows\\Microsoft.NET\\Framework\\v4.0.30319\\RegSvcs.exe</Data>\n<Data Name=\"CommandLine\">CMD</Data>\n<Data Name=\"User\">MSEDGEWIN10\\IEUser</Data>\n<Data Name=\"ParentImage\">C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe</Data>\n<Data Name=\"ParentCommandLine\">powershell</Data>\n</EventData>\n</Event>\n";

#[test]
fn csv_with_mv_columns_gives_one_result_per_value() {
    let dir = scratch("csv");
    let mut text = NETWORK_HEADER.replace(",dest,", ",dest,__mv_dest,");
    text.push('\n');
    let row = network_row(&[("dest", "a.example\nb.example")]);
    // network_row has no __mv_dest cell: add it after dest (the 5th cell).
    let with_mv = |row: String, mv: &str| {
        let mut cells: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(csv_cell)
            .collect();
        cells.insert(5, csv_cell(mv));
        cells.join(",") + "\n"
    };
    text.push_str(&with_mv(row, "$a.example$;$b.example$"));
    text.push_str(&with_mv(network_row(&[("dest_ip", "192.168.1.1")]), ""));
    let f = write(&dir, "events.csv", text.as_bytes());
    let (code, out, err) = run_cli(&["--mode", "network", "--output", "csv", &f]);
    assert_eq!(code, 0, "{err}");
    let (header, rows) = table(out.as_bytes());
    assert_eq!(header.len(), 22);
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0][2], "a.example");
    assert_eq!(rows[1][2], "b.example");
    assert_eq!(rows[0][20], "2023-11-14T22:13:20");
    assert_eq!(count(&err, "rows read:"), 2);
    assert_eq!(count(&err, "filtered:"), 1);
    assert_eq!(count(&err, "kept:"), 1);
}

#[test]
fn json_lines_flat_and_result_wrapped() {
    let dir = scratch("json");
    let hit = json!({"_time": 1700000100, "Processes.process_name": "RegSvcs.exe",
        "Processes.process": "RegSvcs.exe", "Processes.dest": "h1", "Processes.user": ["CORP\\a", "CORP\\b"]});
    let args = json!({"_time": "1700000200", "process_name": "regsvcs.exe",
        "process": "regsvcs.exe payload.dll", "dest": "h2"});
    let text = format!(
        "{}\n{}\n\n{}\n",
        json!({"preview": false, "offset": 0, "result": hit}),
        args,
        json!({"preview": false, "lastrow": true})
    );
    let f = write(&dir, "events.jsonl", text.as_bytes());
    let (code, out, err) = run_cli(&["--mode=noargs", "--output=json", "tz=UTC", &f]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0]["user"], "CORP\\a");
    assert_eq!(rows[1]["user"], "CORP\\b");
    assert_eq!(rows[0]["process_path"], "null");
    assert_eq!(rows[0]["firstTime"], "2023-11-14T22:15:00");
    assert_eq!(count(&err, "rows read:"), 2);
    assert_eq!(count(&err, "dropped (regex on process):"), 1);
}

#[test]
fn sysmon_xml_one_line_and_python_evtx_and_gzip() {
    let dir = scratch("xml");
    let lines = [
        SYSMON3_ONE_LINE.replace("DEST", "93.184.216.34"),
        SYSMON3_ONE_LINE.replace("DEST", "10.1.1.1"),
    ]
    .join("\n");
    let one_line = write(&dir, "eid3.log", lines.as_bytes());
    let (code, out, err) = run_cli(&["--mode", "network", &one_line]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "(no results)\n");
    assert_eq!(count(&err, "rows read:"), 2);
    assert_eq!(count(&err, "filtered:"), 1);
    assert_eq!(count(&err, "dropped (missing BY field):"), 1);
    assert!(
        err.contains("WARN: 1 regsvcs.exe connection was dropped"),
        "{err}"
    );
    assert!(
        err.contains(
            "does not provide these BY fields: action (2 of 2), protocol_version (2 of 2)"
        ),
        "{err}"
    );

    let evtx = write(
        &dir,
        "eid1.xml",
        SYSMON1_EVTX
            .replace("CMD", "\"C:\\x\\RegSvcs.exe\"")
            .as_bytes(),
    );
    let gz = write(
        &dir,
        "eid1-args.xml.gz",
        &gzip(SYSMON1_EVTX.replace("CMD", "regsvcs.exe x.dll").as_bytes()),
    );
    let (code, out, err) = run_cli(&["--mode", "noargs", "--output", "csv", &evtx, &gz]);
    assert_eq!(code, 0, "{err}");
    let (header, rows) = table(out.as_bytes());
    assert_eq!(rows.len(), 1, "{out}");
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    assert_eq!(rows[0][col("process_name")], "RegSvcs.exe");
    assert_eq!(rows[0][col("parent_process_name")], "powershell.exe");
    assert_eq!(rows[0][col("dest")], "MSEDGEWIN10");
    assert_eq!(rows[0][col("original_file_name")], "null");
    assert_eq!(rows[0][col("firstTime")], "2019-07-19T14:46:19");
    assert_eq!(count(&err, "matched:"), 2);
    assert_eq!(count(&err, "dropped (regex on process):"), 1);
}

#[test]
fn malformed_files_name_file_line_and_reason() {
    let dir = scratch("bad");
    let cases = [
        (
            "bad.xml",
            b"<Event><System>\n<EventID>1</EventID>\n</Sys></Event>\n".to_vec(),
            ":3: malformed XML",
        ),
        (
            "ragged.csv",
            b"a,b\n1,2\n1,2,3\n".to_vec(),
            ":3: ragged row: 3 fields, but the header has 2",
        ),
        (
            "array.jsonl",
            b"{\"a\":1}\n[1]\n".to_vec(),
            ":2: expected one JSON object per line, found an array",
        ),
        ("ragged.csv.gz", gzip(b"a,b\n1\n"), ":2: ragged row"),
    ];
    for (name, data, want) in cases {
        let f = write(&dir, name, &data);
        let (code, out, err) = run_cli(&["--mode", "noargs", &f]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(out.is_empty(), "{name}: no table after an error");
        assert!(err.contains(&format!("{f}{want}")), "{name}: {err}");
    }
    let (code, _, err) = run_cli(&[
        "--mode",
        "noargs",
        "--format",
        "json",
        &write(&dir, "x.csv", b"a,b\n"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("x.csv:1: invalid JSON"), "{err}");
}

#[test]
fn options_go_through_the_shared_parser() {
    let (code, out, err) = run_cli(&["--mode", "dns", "--tz=Mars/Olympus", "record=t", "f"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    for want in [
        "invalid value \"dns\" for mode",
        "\"Mars/Olympus\" for tz",
        "record concerns splunkd",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // An unknown flag is a usage error from clap, with the same exit code.
    let (code, _, err) = run_cli(&["--mode", "network", "--nosuch", "1", "f"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--nosuch'"), "{err}");
    let (code, _, err) = run_cli(&["--mode", "network", "/nonexistent/file.csv"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/file.csv: cannot read"), "{err}");
}

#[test]
fn stdin_is_read_with_a_dash() {
    let input = format!("{NETWORK_HEADER}\n{}", network_row(&[]));
    let out = run_with(
        input.as_bytes(),
        &["run", "--mode", "network", "-o", "csv", "-"],
        &[("TZ", "UTC")],
    );
    assert!(out.status.success());
    assert_eq!(table(&out.stdout).1.len(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains('\r'),
        "no progress line when stderr is not a terminal"
    );
}

/// The fixture files, both subfolders: (xml files, index.jsonl).
fn fixtures() -> Option<(Vec<String>, String)> {
    let root = shared("regsvcs_events")?;
    let mut xml = Vec::new();
    for sub in ["evtx_attack_samples", "security_content_example_logs"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "xml") {
                xml.push(p.to_str().unwrap().to_string());
            }
        }
    }
    xml.sort();
    let index = root.join("evtx_attack_samples/index.jsonl");
    Some((xml, index.to_str().unwrap().to_string()))
}

#[test]
fn real_fixtures_parse_and_regsvcs_with_arguments_is_not_flagged() {
    let Some((xml, index)) = fixtures() else {
        return;
    };
    assert_eq!(xml.len(), 30);
    let mut args = vec!["--mode", "noargs", "--output", "csv"];
    args.extend(xml.iter().map(String::as_str));
    let (code, out, err) = run_cli(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(out.as_bytes()).1.len(), 0, "{out}");
    assert_eq!(count(&err, "rows read:"), 30, "every file is one event");
    // rec48 ("...\regsvcs.exe" T1121.dll) and rec33 (regsvcs.exe  AllTheThings.dll).
    assert_eq!(count(&err, "matched:"), 2, "{err}");
    assert_eq!(count(&err, "dropped (regex on process):"), 2, "{err}");
    assert_eq!(count(&err, "of which other XML events:"), 23, "{err}");
    assert_eq!(count(&err, "filtered:"), 28, "{err}");

    let mut args = vec!["--mode", "network"];
    args.extend(xml.iter().map(String::as_str));
    let (code, out, err) = run_cli(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "(no results)\n");
    assert_eq!(
        count(&err, "matched:"),
        0,
        "no EID 3 event is from regsvcs.exe"
    );
    assert!(err.contains("action (13 of 13)"), "{err}");

    // index.jsonl: every line is a flat JSON object with Sysmon (not CIM) names.
    let lines = std::fs::read_to_string(&index).unwrap().lines().count() as u64;
    let (code, _, err) = run_cli(&["--mode", "noargs", &index]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&err, "rows read:"), lines);
}

/// A getinfo with `record=t`, a dispatch directory and a sid.
fn recording_getinfo(dir: &str, sid: &str) -> Vec<u8> {
    let mut meta = getinfo_meta(&["mode=network", "record=t", "tz=UTC"]);
    meta["searchinfo"]["dispatch_dir"] = json!(dir);
    meta["searchinfo"]["sid"] = json!(sid);
    chunk(meta.to_string().as_bytes(), b"")
}

fn session_input(getinfo: Vec<u8>) -> Vec<u8> {
    let body = format!(
        "{NETWORK_HEADER}\n{}{}",
        network_row(&[]),
        network_row(&[("protocol_version", ""), ("_time", "1700000500")])
    );
    let half = format!(
        "{NETWORK_HEADER}\n{}",
        network_row(&[("dest_ip", "10.9.9.9")])
    );
    [
        getinfo,
        execute(half.as_bytes(), false),
        execute(body.as_bytes(), true),
    ]
    .concat()
}

#[test]
fn record_tees_the_exact_bytes_and_replay_reproduces_them() {
    let dir = scratch("record");
    let d = dir.to_str().unwrap();
    let input = session_input(recording_getinfo(d, "1700000000.42"));
    let out = run(&input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec_in = dir.join("regsvcsdetect.1700000000.42.input");
    let rec_out = dir.join("regsvcsdetect.1700000000.42.output");
    // Execute chunks are recorded byte for byte; the getinfo chunk is too,
    // except that its session key is redacted (and its header recomputed).
    let recorded = std::fs::read(&rec_in).unwrap();
    let getinfo_len = recording_getinfo(d, "1700000000.42").len();
    let recorded_getinfo_len = recorded.len() - (input.len() - getinfo_len);
    assert_eq!(recorded[recorded_getinfo_len..], input[getinfo_len..]);
    let meta = |chunk: &[u8]| {
        let nl = chunk.iter().position(|&b| b == b'\n').unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&chunk[nl + 1..]).unwrap();
        v["searchinfo"]
            .as_object_mut()
            .unwrap()
            .remove("session_key");
        v
    };
    assert_eq!(
        meta(&recorded[..recorded_getinfo_len]),
        meta(&input[..getinfo_len])
    );
    assert!(!String::from_utf8_lossy(&recorded).contains("SESSION-KEY-MUST-NOT-LEAK"));
    assert_eq!(std::fs::read(&rec_out).unwrap(), out.stdout);
    let replies = parse_chunks(&out.stdout);
    assert!(
        replies[0].messages().is_empty(),
        "no WARN when recording works"
    );

    // Replayed in-process (recording off, so the files stay as they are).
    let r = run_with(
        b"",
        &[
            "replay",
            rec_in.to_str().unwrap(),
            "--expect",
            rec_out.to_str().unwrap(),
        ],
        &[("TZ", "UTC")],
    );
    let text = String::from_utf8_lossy(&r.stdout);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("3 reply chunks, byte-identical"), "{err}");
    assert!(
        text.contains("chunk 1: getinfo, args: mode=network record=t tz=UTC"),
        "{text}"
    );
    assert!(text.contains("chunk 3: execute, finished=true"), "{text}");
    assert!(text.contains("WARN: regsvcsdetect: 1 regsvcs.exe connection was dropped because protocol_version is missing"), "{text}");
    assert!(text.contains("body: 1 rows"), "{text}");
    assert_eq!(
        std::fs::read(&rec_out).unwrap(),
        out.stdout,
        "replay does not record"
    );

    // A changed expectation names the first differing chunk and fails.
    let mut tampered = out.stdout.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    let bad = write(&dir, "tampered.output", &tampered);
    let r = run_with(
        b"",
        &["replay", rec_in.to_str().unwrap(), "--expect", &bad],
        &[("TZ", "UTC")],
    );
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("reply chunk 3 differs at byte"), "{err}");
}

#[test]
fn no_recording_in_a_probe() {
    let dir = scratch("probe");
    let out = run(&recording_getinfo(
        dir.to_str().unwrap(),
        "searchparsetmp_1",
    ));
    assert!(out.status.success());
    assert!(parse_chunks(&out.stdout)[0].messages().is_empty());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a probe has no side effects"
    );
}

#[test]
fn unusable_dispatch_dir_warns_and_the_search_goes_on() {
    let dir = scratch("unusable");
    // A regular file where the directory should be.
    let file = write(&dir, "not-a-dir", b"");
    for (dispatch, reply_with_warn) in [(file.as_str(), 0usize), ("", 1)] {
        let input = session_input(recording_getinfo(dispatch, "1700000000.43"));
        let out = run(&input);
        assert!(out.status.success(), "{dispatch:?}");
        let replies = parse_chunks(&out.stdout);
        assert_eq!(replies.len(), 3);
        let warns: Vec<String> = replies[reply_with_warn]
            .messages()
            .into_iter()
            .filter(|(l, t)| l == "WARN" && t.contains("without recording"))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(warns.len(), 1, "{dispatch:?}: {replies:#?}");
        assert_eq!(
            replies[2].table().1.len(),
            1,
            "{dispatch:?}: the search still succeeds"
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing recorded"
    );
}

#[test]
fn demo_runs_both_modes_over_the_bundled_samples() {
    let out = run_with(b"", &["demo"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "| regsvcsdetect mode=network tz=UTC",
        "files.dropzone-share.net",
        "WARN: regsvcsdetect: 1 regsvcs.exe connection was dropped because BY fields are missing",
        "| regsvcsdetect mode=noargs tz=UTC",
        "RegSvcs.exe /u",
        "rows_dropped_regex=3",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}
