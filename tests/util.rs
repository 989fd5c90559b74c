//! Test builders: request chunks the way splunkd writes them, the binary as a child process, and reply parsing.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// One chunk: header, metadata, body.
pub fn chunk(meta: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n", meta.len(), body.len()).into_bytes();
    out.extend_from_slice(meta);
    out.extend_from_slice(body);
    out
}

/// The getinfo metadata splunkd 8.x sends, for `| regsvcsdetect <args>`.
pub fn getinfo_meta(args: &[&str]) -> Value {
    json!({
        "action": "getinfo",
        "preview": false,
        "streaming_command_will_restart": false,
        "searchinfo": {
            "args": args,
            "raw_args": args,
            "dispatch_dir": "",
            "sid": "1700000000.42",
            "app": "search",
            "owner": "admin",
            "username": "admin",
            "session_key": "SESSION-KEY-MUST-NOT-LEAK",
            "splunkd_uri": "https://127.0.0.1:8089",
            "splunk_version": "9.2.1",
            "search": "search%20index%3Dsysmon%20%7C%20regsvcsdetect",
            "command": "regsvcsdetect",
            "maxresultrows": 50000,
            "earliest_time": "0",
            "latest_time": "0"
        }
    })
}

/// A getinfo chunk for `| regsvcsdetect <args>`.
pub fn getinfo(args: &[&str]) -> Vec<u8> {
    chunk(getinfo_meta(args).to_string().as_bytes(), b"")
}

/// An execute chunk, with splunkd's exact compact metadata.
pub fn execute(body: &[u8], finished: bool) -> Vec<u8> {
    let meta = format!("{{\"action\":\"execute\",\"finished\":{finished}}}");
    chunk(meta.as_bytes(), body)
}

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_regsvcsdetect"))
}

/// Runs the binary with `input` on stdin, TZ=UTC and no arguments.
pub fn run(input: &[u8]) -> Output {
    run_with(input, &[], &[("TZ", "UTC")])
}

/// Runs the binary with arguments and environment.
pub fn run_with(input: &[u8], args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let data = input.to_vec();
    // Write from a thread so a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("the binary finishes");
    writer.join().expect("the writer thread ends");
    out
}

/// One parsed reply chunk.
#[derive(Debug, Clone)]
pub struct Reply {
    pub meta: Value,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body's rows as (header, rows) of strings.
    pub fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        table(&self.body)
    }

    /// `inspector.messages` as (level, text).
    pub fn messages(&self) -> Vec<(String, String)> {
        self.meta["inspector"]["messages"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|m| {
                        (
                            m[0].as_str().unwrap_or_default().to_string(),
                            m[1].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An inspector metric.
    pub fn metric(&self, name: &str) -> Value {
        self.meta["inspector"][format!("metric.{name}")].clone()
    }
}

/// Parses a CSV body into header and rows.
pub fn table(body: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    if body.is_empty() {
        return (vec![], vec![]);
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let header = r
        .headers()
        .expect("a CSV header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("a CSV row").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Splits a reply stream into chunks, checking the framing strictly: exact
/// byte lengths, JSON-object metadata, nothing between chunks.
pub fn parse_chunks(mut out: &[u8]) -> Vec<Reply> {
    let mut replies = Vec::new();
    while !out.is_empty() {
        let nl = out.iter().position(|&b| b == b'\n').expect("a header line");
        let header = std::str::from_utf8(&out[..nl]).expect("an ASCII header");
        let rest = header
            .strip_prefix("chunked 1.0,")
            .unwrap_or_else(|| panic!("bad reply header {header:?}"));
        let (m, b) = rest.split_once(',').expect("two lengths");
        let (m, b): (usize, usize) = (m.parse().unwrap(), b.parse().unwrap());
        let meta = &out[nl + 1..nl + 1 + m];
        let body = &out[nl + 1 + m..nl + 1 + m + b];
        let meta: Value = serde_json::from_slice(meta).expect("JSON metadata");
        assert!(meta.is_object(), "metadata must be an object");
        replies.push(Reply {
            meta,
            body: body.to_vec(),
        });
        out = &out[nl + 1 + m + b..];
    }
    replies
}

/// A path under `../shared/fixtures`, or `None` with a SKIP line when the
/// shared folder is absent.
pub fn shared(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(path);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} is absent (../shared/fixtures not beside the repository)",
            p.display()
        );
        None
    }
}

/// A path under `../shared/fixtures`, for tests marked
/// `#[ignore = "needs ../shared/fixtures ..."]`: run anyway (CI's
/// `--include-ignored`), they fail when the folder is absent.
pub fn shared_fixture(path: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(path);
    assert!(
        p.exists(),
        "{} is absent: ../shared/fixtures must sit beside the repository",
        p.display()
    );
    p
}

/// Reads a gzip-compressed fixture through the system's `gzip -dc`.
pub fn gunzip(path: &std::path::Path) -> Vec<u8> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("gzip runs");
    assert!(out.status.success(), "gzip -dc {}", path.display());
    out.stdout
}

/// The header line of network-mode events with every field the detection reads.
pub const NETWORK_HEADER: &str = "_time,EventID,action,app,dest,dest_ip,dest_port,direction,dvc,protocol,protocol_version,src,src_ip,src_port,transport,user,vendor_product,process_name,process_exec,process_guid,process_id";

/// One network-mode event row; `overrides` replace fields by name.
pub fn network_row(overrides: &[(&str, &str)]) -> String {
    let defaults = [
        ("_time", "1700000000"),
        ("EventID", "3"),
        ("action", "allowed"),
        (
            "app",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        ("dest", "203.0.113.50"),
        ("dest_ip", "93.184.216.34"),
        ("dest_port", "443"),
        ("direction", "outbound"),
        ("dvc", "WIN-HOST1.corp.example"),
        ("protocol", "https"),
        ("protocol_version", "ipv4"),
        ("src", "WIN-HOST1.corp.example"),
        ("src_ip", "10.1.2.3"),
        ("src_port", "49712"),
        ("transport", "tcp"),
        ("user", r"CORP\alice"),
        ("vendor_product", "Microsoft Sysmon"),
        ("process_name", "RegSvcs.exe"),
        ("process_exec", "RegSvcs.exe"),
        ("process_guid", "{8f1c2a10-1111-4444-8888-000000000001}"),
        ("process_id", "4242"),
    ];
    let mut cells = Vec::new();
    for (name, value) in defaults {
        let v = overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(value, |(_, v)| *v);
        cells.push(csv_cell(v));
    }
    cells.join(",") + "\n"
}

/// Quotes a CSV cell the way splunkd does: anything not purely alphanumeric.
pub fn csv_cell(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()) {
        v.to_string()
    } else if v.is_empty() {
        String::new()
    } else {
        format!("\"{}\"", v.replace('"', "\"\""))
    }
}

/// The 20 Endpoint.Processes fields of the noargs detection.
pub const PROCESS_FIELDS: [&str; 20] = regsvcsdetect::detect::NOARGS_BY;

/// A process-creation event header, unprefixed, with `_time` first.
pub fn process_header(prefix: &str) -> String {
    let mut cols = vec!["_time".to_string()];
    cols.extend(
        PROCESS_FIELDS
            .iter()
            .map(|f| csv_cell(&format!("{prefix}{f}"))),
    );
    cols.join(",") + "\n"
}

/// One process-creation row; `overrides` replace fields by name (empty = null).
pub fn process_row(overrides: &[(&str, &str)]) -> String {
    let defaults = [
        ("_time", "1700000100"),
        ("action", "allowed"),
        ("dest", "WIN-HOST2"),
        ("original_file_name", "RegSvcs.exe"),
        (
            "parent_process",
            r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -nop"#,
        ),
        ("parent_process_exec", "powershell.exe"),
        (
            "parent_process_guid",
            "{8f1c2a10-2222-4444-8888-000000000002}",
        ),
        ("parent_process_id", "3100"),
        ("parent_process_name", "powershell.exe"),
        (
            "parent_process_path",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        ),
        (
            "process",
            r#""C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe""#,
        ),
        ("process_exec", "RegSvcs.exe"),
        ("process_guid", "{8f1c2a10-3333-4444-8888-000000000003}"),
        (
            "process_hash",
            "SHA256=4C4D2A5F0B7E6D2F9A1B3C5D7E9F00112233445566778899AABBCCDDEEFF0011",
        ),
        ("process_id", "5120"),
        ("process_integrity_level", "medium"),
        ("process_name", "RegSvcs.exe"),
        (
            "process_path",
            r"C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe",
        ),
        ("user", r"CORP\bob"),
        ("user_id", "S-1-5-18"),
        ("vendor_product", "Microsoft Sysmon"),
    ];
    let mut cells = Vec::new();
    for (name, value) in defaults {
        let v = overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(value, |(_, v)| *v);
        cells.push(csv_cell(v));
    }
    cells.join(",") + "\n"
}
