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
    let (code, out, err) = run_cli(&["--mode", "network", "-o", "csv", &one_line]);
    assert_eq!(code, 0, "{err}");
    let (header, rows) = table(out.as_bytes());
    assert_eq!(rows.len(), 1, "{out}");
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    // DestinationHostname is empty, so dest is the address; protocol is the constant "ip".
    assert_eq!(rows[0][col("dest")], "93.184.216.34");
    assert_eq!(rows[0][col("protocol")], "ip");
    assert_eq!(rows[0][col("protocol_version")], "ipv4");
    assert_eq!(rows[0][col("action")], "allowed");
    assert_eq!(count(&err, "rows read:"), 2);
    assert_eq!(count(&err, "filtered:"), 1);
    assert_eq!(count(&err, "dropped (missing BY field):"), 0);
    assert!(!err.contains("WARN"), "{err}");
    assert!(
        err.contains("Splunk Add-on for Sysmon 5.0.0"),
        "the summary names the add-on: {err}"
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
fn every_offline_message_has_the_shape_splunk_sees() {
    let bad_args = run_cli(&["--mode", "dns", "--tz=Mars/Olympus", "f"]);
    let no_file = run_cli(&["--mode", "network", "/nonexistent/file.csv"]);
    for (code, _, err) in [bad_args, no_file] {
        assert_ne!(code, 0);
        for line in err.lines() {
            assert!(line.starts_with("regsvcsdetect: "), "{line:?} in\n{err}");
        }
    }
    // A failed session replayed: the line is the one the binary writes to
    // stderr, which is also the `error` splunkd shows.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sessions/truncated_stream.in"
    );
    let r = run_with(b"", &["replay", fixture], &[]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{out}");
    let want = "regsvcsdetect: input ended inside the body of chunk 2 (byte 499): expected 3017 bytes, got 2977";
    assert!(out.lines().any(|l| l == want), "{out}");
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

/// A path under `../shared/fixtures`, for the tests marked
/// `#[ignore = "needs ../shared/fixtures"]`: a missing one is a failure.
fn fixture(path: &str) -> PathBuf {
    shared_fixture(path)
}

/// The fixture files, both subfolders: (xml files, index.jsonl).
fn fixtures() -> (Vec<String>, String) {
    let root = fixture("regsvcs_events");
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
    (xml, index.to_str().unwrap().to_string())
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn real_fixtures_parse_and_regsvcs_with_arguments_is_not_flagged() {
    let (xml, index) = fixtures();
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
    assert_eq!(count(&err, "of which other events:"), 23, "{err}");
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
    assert_eq!(count(&err, "filtered:"), 30, "{err}");

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
        // The EID 3 hit from Sysmon XML.
        "raw-objects.example.net",
        "rows_dropped_missing_field=0",
        "| regsvcsdetect mode=noargs tz=UTC",
        "RegSvcs.exe /u",
        "setup_helper.exe",
        "rows_dropped_regex=4",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

/// The project's own samples, by name.
fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn sample_eid3_to_a_public_address_gives_one_row_with_all_19_fields() {
    let f = sample("sysmon_eid3.xml");
    let (code, out, err) = run_cli(&["--mode", "network", "-o", "csv", &f]);
    assert_eq!(code, 0, "{err}");
    let (header, rows) = table(out.as_bytes());
    assert_eq!(rows.len(), 1, "{out}");
    let want = [
        ("action", "allowed"),
        (
            "app",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        ("dest", "raw-objects.example.net"),
        ("dest_ip", "185.199.110.153"),
        ("dest_port", "443"),
        ("direction", "outbound"),
        ("dvc", "WKSTN-042.corp.example.com"),
        ("protocol", "ip"),
        ("protocol_version", "ipv4"),
        ("src", "WKSTN-042.corp.example.com"),
        ("src_ip", "10.20.4.42"),
        ("src_port", "50214"),
        ("transport", "tcp"),
        ("user", r"CORP\jdoe"),
        ("vendor_product", "Microsoft Sysmon"),
        ("process_name", "RegSvcs.exe"),
        ("process_exec", "RegSvcs.exe"),
        ("process_guid", "{4A7C1E2B-1F3D-65F0-6A04-000000001E00}"),
        ("process_id", "6412"),
        ("count", "1"),
        ("firstTime", "2024-03-12T09:14:07"),
        ("lastTime", "2024-03-12T09:14:07"),
    ];
    let got: Vec<(&str, &str)> = header
        .iter()
        .map(String::as_str)
        .zip(rows[0].iter().map(String::as_str))
        .collect();
    assert_eq!(got, want);
    assert_eq!(count(&err, "matched:"), 1, "{err}");
    assert_eq!(count(&err, "kept:"), 1, "{err}");
}

#[test]
fn sample_4688_flags_a_run_without_arguments_and_drops_one_with() {
    let f = sample("security_4688.xml");
    let (code, out, err) = run_cli(&["--mode", "noargs", "-o", "csv", &f]);
    assert_eq!(code, 0, "{err}");
    let (header, rows) = table(out.as_bytes());
    assert_eq!(rows.len(), 1, "{out}");
    let col = |n: &str| rows[0][header.iter().position(|h| h == n).unwrap()].as_str();
    let regsvcs = r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe";
    assert_eq!(col("process"), regsvcs, "built from NewProcessName");
    assert_eq!(col("process_path"), regsvcs);
    assert_eq!(col("process_name"), "RegSvcs.exe");
    assert_eq!(col("process_id"), "0x1e4c", "hex kept as text");
    assert_eq!(col("parent_process_id"), "0x2a90");
    assert_eq!(col("parent_process_name"), "setup_helper.exe");
    assert_eq!(
        col("user"),
        "akim",
        "TargetUserName is -, so SubjectUserName"
    );
    assert_eq!(col("vendor_product"), "Microsoft Windows");
    assert_eq!(col("action"), "allowed");
    assert_eq!(col("dest"), "HR-WS-031.corp.example.com");
    for f in [
        "original_file_name",
        "parent_process_exec",
        "parent_process_guid",
        "process_guid",
        "process_hash",
        "process_integrity_level",
        "user_id",
    ] {
        assert_eq!(col(f), "null", "{f}");
    }
    assert_eq!(count(&err, "matched:"), 2, "{err}");
    assert_eq!(count(&err, "dropped (regex on process):"), 1, "{err}");
    assert_eq!(count(&err, "of which other events:"), 1, "the 4624: {err}");
    assert!(
        err.contains("Security 4688 as the Splunk Add-on for Microsoft Windows 9.1.2"),
        "{err}"
    );
    // The same events in network mode: none is Sysmon EventID 3.
    let (code, _, err) = run_cli(&["--mode", "network", &f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&err, "of which other events:"), 4, "{err}");
}

#[test]
fn directories_are_walked_in_sorted_order() {
    let dir = scratch("walk");
    std::fs::create_dir_all(dir.join("b/sub")).unwrap();
    std::fs::create_dir_all(dir.join("a")).unwrap();
    let eid3 = std::fs::read(sample("sysmon_eid3.xml")).unwrap();
    write(&dir.join("b/sub"), "2.xml", &eid3);
    write(&dir.join("a"), "1.xml.gz", &gzip(&eid3));
    write(&dir, ".hidden", b"not events");
    let (code, _, err) = run_cli(&["--mode", "network", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&err, "rows read:"), 8, "{err}");
    assert_eq!(count(&err, "kept:"), 2, "{err}");
    // A bad file names itself, and the files before it were read in order.
    write(&dir.join("b"), "0.csv", b"a,b\n1\n");
    let (code, _, err) = run_cli(&["--mode", "network", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    let bad = dir.join("b/0.csv");
    assert!(
        err.contains(&format!("{}:2: ragged row", bad.display())),
        "{err}"
    );
}

/// The two EVTX logs of the fixtures.
fn evtx_logs() -> Vec<PathBuf> {
    let dir = fixture("regsvcs_events/evtx");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "evtx"))
        .collect();
    logs.sort();
    assert_eq!(logs.len(), 2);
    logs
}

/// Every record of an EVTX file through `run`'s reader: (record number,
/// the `EventRecordID` it carries, the mapped fields).
fn evtx_records(path: &Path) -> Vec<(u64, u64, regsvcsdetect::offline::Record)> {
    use regsvcsdetect::offline::{evtx, input::decompress, sysmon};
    let file = std::fs::File::open(path).unwrap();
    let mut out = Vec::new();
    evtx::read(decompress(Box::new(file)).unwrap(), &mut |place, ev| {
        let id = ev.system("EventRecordID").unwrap().parse().unwrap();
        out.push((place.record.unwrap(), id, sysmon::map(&ev).record));
        Ok(())
    })
    .unwrap();
    out
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn both_evtx_logs_parse_completely() {
    for log in evtx_logs() {
        // The crate's own whole-file parser is the reference count.
        let mut parser = evtx::EvtxParser::from_path(&log).unwrap();
        let expected: Vec<u64> = parser
            .records()
            .map(|r| r.unwrap().event_record_id)
            .collect();
        let mut ids: Vec<u64> = evtx_records(&log).into_iter().map(|(n, _, _)| n).collect();
        let mut want = expected.clone();
        ids.sort_unstable();
        want.sort_unstable();
        assert_eq!(ids, want, "{}", log.display());
        assert!(ids.len() > 100, "{}: {}", log.display(), ids.len());
        let (code, _, err) = run_cli(&["--mode", "noargs", log.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(count(&err, "rows read:"), expected.len() as u64, "{err}");
    }
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn evtx_records_map_as_their_xml_renderings_do() {
    use regsvcsdetect::offline::{input::decompress, sysmon, xml};
    let dir = fixture("regsvcs_events/evtx_attack_samples");
    let mut compared = 0;
    let mut python_booleans = 0;
    for log in evtx_logs() {
        let stem = log.file_stem().unwrap().to_str().unwrap().to_string();
        let records = evtx_records(&log);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.starts_with(&format!("{stem}_rec")) && n.ends_with(".xml")
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{stem}");
        for f in &files {
            let mut from_xml = Vec::new();
            let reader = decompress(Box::new(std::fs::File::open(f).unwrap())).unwrap();
            xml::read(reader, &mut |ev| {
                let id: u64 = ev.system("EventRecordID").unwrap().parse().unwrap();
                from_xml.push((id, sysmon::map(&ev).record));
                Ok(())
            })
            .unwrap();
            let [(id, mut want)] = <[_; 1]>::try_from(from_xml).unwrap();
            let (number, _, got) = records
                .iter()
                .find(|(_, r, _)| *r == id)
                .unwrap_or_else(|| panic!("{}: record {id} not in the EVTX", f.display()));
            let name = f.file_name().unwrap().to_str().unwrap();
            assert!(
                name.contains(&format!("_rec{number}_")),
                "{name}: the record number run reports is the file's rec{number}"
            );
            let mut got = got.clone();
            // python-evtx writes a BinXML boolean as Python does (`True`);
            // Windows, and so Splunk and the evtx crate, write `true`. The
            // add-on's case-sensitive `Initiated=="true"` then differs: the
            // one known difference, pinned here.
            let text = std::fs::read_to_string(f).unwrap();
            if text.contains(r#"<Data Name="Initiated">True</Data>"#) {
                let field = |r: &mut regsvcsdetect::offline::Record| {
                    let i = r.iter().position(|(n, _)| n == "direction").unwrap();
                    String::from_utf8(r.remove(i).1.remove(0)).unwrap()
                };
                assert_eq!(field(&mut got), "outbound", "{}", f.display());
                assert_eq!(field(&mut want), "inbound", "{}", f.display());
                python_booleans += 1;
            }
            // python-evtx turns the 100 ns FILETIME into a datetime through
            // floating point; the reader truncates it to the microsecond: a
            // few microseconds apart, never a second.
            let time = |r: &mut regsvcsdetect::offline::Record| -> f64 {
                let i = r.iter().position(|(n, _)| n == "_time").unwrap();
                String::from_utf8(r.remove(i).1.remove(0))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            let (t_got, t_want) = (time(&mut got), time(&mut want));
            assert!(
                (t_got - t_want).abs() < 1e-5,
                "{}: {t_got} {t_want}",
                f.display()
            );
            got.sort();
            want.sort();
            assert_eq!(got, want, "{}", f.display());
            compared += 1;
        }
        // Counts through `run`: the EVTX and the XML renderings of its listed
        // records select and drop the same regsvcs.exe runs.
        for mode in ["noargs", "network"] {
            let (code, out_e, err_e) =
                run_cli(&["--mode", mode, "-o", "csv", log.to_str().unwrap()]);
            assert_eq!(code, 0, "{err_e}");
            let mut args = vec!["--mode", mode, "-o", "csv"];
            args.extend(files.iter().map(|p| p.to_str().unwrap()));
            let (code, out_x, err_x) = run_cli(&args);
            assert_eq!(code, 0, "{err_x}");
            assert_eq!(out_e, out_x, "{mode}: the same rows");
            for label in ["matched:", "dropped (regex on process):", "kept:"] {
                if mode == "network" && label.starts_with("dropped (regex") {
                    continue;
                }
                assert_eq!(count(&err_e, label), count(&err_x, label), "{mode} {label}");
            }
        }
    }
    assert_eq!(compared, 28);
    assert_eq!(python_booleans, 12, "every EID 3 record");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn real_evtx_logs_flag_no_regsvcs_run_with_arguments() {
    let logs: Vec<String> = evtx_logs()
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["--mode", "noargs", "-o", "csv"];
    args.extend(logs.iter().map(String::as_str));
    let (code, out, err) = run_cli(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(out.as_bytes()).1.len(), 0, "{out}");
    assert_eq!(count(&err, "matched:"), 2, "rec48 and rec33: {err}");
    assert_eq!(count(&err, "dropped (regex on process):"), 2, "{err}");
    assert!(err.contains("(evtx "), "{err}");
    // The directory itself is one input per file.
    let dir = fixture("regsvcs_events/evtx");
    let (code, _, err2) = run_cli(&["--mode", "noargs", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err2}");
    assert_eq!(count(&err2, "rows read:"), count(&err, "rows read:"));
}

/// Runs `noargs` over `data` written to `name`: (exit code, stderr, path).
fn run_hostile(dir: &Path, name: &str, data: &[u8]) -> (i32, String, String) {
    let f = write(dir, name, data);
    let (code, out, err) = run_cli(&["--mode", "noargs", &f]);
    assert!(out.is_empty(), "{name}: no table after an error");
    assert!(!err.contains("panicked"), "{name}: {err}");
    (code, err, f)
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn hostile_evtx_files_end_with_file_place_and_reason() {
    let dir = scratch("hostile-evtx");
    let log = std::fs::read(&evtx_logs()[0]).unwrap();
    const HEADER: usize = 4096;
    const CHUNK: usize = 65536;
    // Truncated: inside the file header, inside the first and a later chunk.
    for (cut, want) in [
        (
            100,
            ": truncated EVTX file: the file header is 100 of 4096 bytes".to_string(),
        ),
        (
            HEADER + 10,
            ":chunk 0: truncated EVTX file: the file ends 10 bytes into this chunk".to_string(),
        ),
        (
            HEADER + 3 * CHUNK + 999,
            ":chunk 3: truncated EVTX file: the file ends 999 bytes into this chunk".to_string(),
        ),
    ] {
        let (code, err, f) = run_hostile(&dir, "cut.evtx", &log[..cut]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&format!("{f}{want}")), "{cut}: {err}");
    }
    // The same, gzip-compressed.
    let (code, err, f) = run_hostile(&dir, "cut.evtx.gz", &gzip(&log[..HEADER + 2 * CHUNK + 5]));
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}:chunk 2: truncated")), "{err}");
    // Flipped bytes in a chunk's records: its CRC32 no longer matches.
    let mut flipped = log.clone();
    flipped[HEADER + CHUNK + 5000] ^= 0x55;
    let (code, err, f) = run_hostile(&dir, "flip.evtx", &flipped);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}:chunk 1: ")), "{err}");
    assert!(err.contains("CRC32"), "{err}");
    // A chunk whose signature is gone.
    let mut unsigned = log.clone();
    unsigned[HEADER + 2 * CHUNK] = b'X';
    let (code, err, f) = run_hostile(&dir, "sig.evtx", &unsigned);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}:chunk 2: ")), "{err}");
    // A record whose size field claims gigabytes, with the CRC32s made to
    // match so that the record parser itself meets it.
    let mut huge = log.clone();
    let c = HEADER;
    huge[c + 512 + 4..c + 512 + 8].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    let free = u32::from_le_bytes(huge[c + 48..c + 52].try_into().unwrap()) as usize;
    let data_crc = evtx::checksum_ieee(&huge[c + 512..c + free]);
    huge[c + 52..c + 56].copy_from_slice(&data_crc.to_le_bytes());
    let h = crc32fast_like(&huge[c..c + 120], &huge[c + 128..c + 512]);
    huge[c + 124..c + 128].copy_from_slice(&h.to_le_bytes());
    let (code, err, f) = run_hostile(&dir, "huge-record.evtx", &huge);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{f}:chunk 0:record 1: ")), "{err}");
    assert!(err.contains("out of bounds"), "{err}");
    // A damaged record body behind matching CRC32s: the record is named.
    let mut damaged = log.clone();
    damaged[c + 512 + 24 + 10] ^= 0xFF;
    let crc = evtx::checksum_ieee(&damaged[c + 512..c + free]);
    damaged[c + 52..c + 56].copy_from_slice(&crc.to_le_bytes());
    let h = crc32fast_like(&damaged[c..c + 120], &damaged[c + 128..c + 512]);
    damaged[c + 124..c + 128].copy_from_slice(&h.to_le_bytes());
    let (code, err, f) = run_hostile(&dir, "damaged-record.evtx", &damaged);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{f}:chunk 0:record 1: ")), "{err}");
    // Gigantic: 1 GiB of never-written chunks (a sparse file) read in flat
    // memory, then a damaged chunk at the end.
    let big = dir.join("gigantic.evtx");
    {
        let mut file = std::fs::File::create(&big).unwrap();
        file.write_all(&log).unwrap();
        let at = (HEADER + (1 << 30)) as u64;
        file.set_len(at).unwrap();
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(at)).unwrap();
        file.write_all(&[0xAB; CHUNK]).unwrap();
    }
    let b = big.to_str().unwrap();
    let (code, err, peak_kib) = run_watching_memory(&["run", "--mode", "noargs", b]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{b}:chunk 16384: ")), "{err}");
    assert!(peak_kib > 0, "the process was watched while it ran");
    assert!(
        peak_kib < 128 * 1024,
        "peak RSS {peak_kib} KiB over a 1 GiB file: memory grows with the file"
    );
}

/// Runs the binary, its peak RSS (VmHWM) polled from /proc while it runs:
/// (exit code, stderr, peak KiB).
fn run_watching_memory(args: &[&str]) -> (i32, String, u64) {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args).env("TZ", "UTC");
    let ran = run_child("run", cmd, b"", Feed::All, false);
    (
        ran.code().unwrap_or(-1),
        String::from_utf8_lossy(&ran.stderr).into_owned(),
        ran.peak_kib,
    )
}

/// CRC32 of two byte ranges as one (the chunk header's checksum).
fn crc32fast_like(a: &[u8], b: &[u8]) -> u32 {
    let mut joined = a.to_vec();
    joined.extend_from_slice(b);
    evtx::checksum_ieee(&joined)
}

#[test]
fn an_event_without_dest_ip_is_filtered_by_rfc1918_and_dropped_by_extended() {
    let dir = scratch("no-dest-ip");
    let text = format!(
        "{NETWORK_HEADER}\n{}{}",
        network_row(&[("dest_ip", "")]),
        network_row(&[])
    );
    let f = write(&dir, "net.csv", text.as_bytes());
    let (code, out, err) = run_cli(&["--mode", "network", "--explain", "-o", "csv", &f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(out.as_bytes()).1.len(), 1, "{out}");
    assert_eq!(count(&err, "filtered:"), 1, "{err}");
    assert_eq!(count(&err, "dropped (missing BY field):"), 0, "{err}");
    assert!(!err.contains("explain: "), "dest_ip!= filtered it: {err}");

    let (code, out2, err) = run_cli(&[
        "--mode",
        "network",
        "--cidrs",
        "extended",
        "--explain",
        "-o",
        "csv",
        &f,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out2, out, "the result rows do not change");
    assert_eq!(count(&err, "filtered:"), 0, "{err}");
    assert_eq!(count(&err, "dropped (missing BY field):"), 1, "{err}");
    assert!(
        err.contains(&format!(
            "explain: {f}:2: selected, then dropped: missing BY field dest_ip"
        )),
        "{err}"
    );
}

#[test]
fn explain_names_each_dropped_event_and_why() {
    let dir = scratch("explain");
    // Sysmon EID 3 without User: selected, then dropped for the missing BY field.
    let no_user = SYSMON3_ONE_LINE
        .replace("DEST", "93.184.216.34")
        .replace("<Data Name='User'>CORP\\a</Data>", "");
    let f = write(
        &dir,
        "eid3.xml",
        format!(
            "{}\n{no_user}\n",
            SYSMON3_ONE_LINE.replace("DEST", "8.8.8.8")
        )
        .as_bytes(),
    );
    let (code, out, err) = run_cli(&["--mode", "network", "--explain", "-o", "csv", &f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(out.as_bytes()).1.len(), 1, "{out}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("explain: ")).collect();
    assert_eq!(
        lines,
        [format!(
            "explain: {f}:2: selected, then dropped: missing BY field user"
        )],
        "{err}"
    );
    // 4688 with arguments: the process value the regex rejected.
    let f = sample("security_4688.xml");
    let (code, _, err) = run_cli(&["--mode", "noargs", "--explain", &f]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("explain: ")).collect();
    assert_eq!(
        lines,
        [format!(
            r#"explain: {f}:2: selected, then dropped: regex process="(?i)(regsvcs\.exe.{{0,4}}$)" rejects process=""C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe" /fc Contoso.Hr.Export.dll""#
        )],
        "{err}"
    );
    // Without --explain, nothing of the kind; the summary is the same.
    let (_, _, quiet) = run_cli(&["--mode", "noargs", &f]);
    assert!(!quiet.contains("explain:"), "{quiet}");
    assert!(err.ends_with(&quiet), "the summary is unchanged");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn explain_names_evtx_records_by_chunk_and_record() {
    let dir = fixture("regsvcs_events/evtx");
    let (code, _, err) = run_cli(&["--mode", "noargs", "--explain", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("explain: ")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("PanacheSysmon_vs_AtomicRedTeam01.evtx:chunk 1:record 48: selected, then dropped: regex"),
        "{err}"
    );
    assert!(lines[0].contains("T1121.dll"), "{err}");
    assert!(
        lines[1].contains("panache_sysmon_vs_EDRTestingScript.evtx:chunk 0:record 33: "),
        "{err}"
    );
}
