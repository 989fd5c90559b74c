//! Test machinery, once: request builders the way splunkd writes them, the one child-process runner, the judge of a run, and reply parsing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use regsvcsdetect::protocol::{Chunk, ChunkReader};
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
    let mut cmd = Command::new(bin());
    cmd.args(args).envs(env.iter().copied());
    let ran = run_child("the binary", cmd, input, Feed::All, false);
    Output {
        status: ran.status,
        stdout: ran.stdout,
        stderr: ran.stderr,
    }
}

/// A child that runs longer than this is a hang.
pub const WATCHDOG: Duration = Duration::from_secs(20);

/// How a child's stdin is fed.
#[derive(Debug, Clone, Copy)]
pub enum Feed {
    /// Write everything, then close.
    All,
    /// Write the first n bytes, pause so the child blocks in a read, then close.
    Stall(usize),
}

/// What one child run produced.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Peak resident set in KiB as last seen in /proc (0 if never seen).
    pub peak_kib: u64,
}

impl Ran {
    /// The exit code; `None` when a signal ended the child.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The one way tests run a child: `input` written from its own thread (a
/// large input cannot deadlock against a full stdout pipe), stdout and
/// stderr drained by two more, under [`WATCHDOG`]; fails the test on a
/// hang. With `close_stdout`, our end of its stdout is closed first.
pub fn run_child(name: &str, cmd: Command, input: &[u8], feed: Feed, close_stdout: bool) -> Ran {
    run_child_within(name, cmd, input, feed, close_stdout, WATCHDOG)
}

/// [`run_child`] with its own watchdog, for a child that is slow by nature
/// (the Windows build under wine, whose first start builds a prefix).
pub fn run_child_within(
    name: &str,
    mut cmd: Command,
    input: &[u8],
    feed: Feed,
    close_stdout: bool,
    watchdog: Duration,
) -> Ran {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {:?} starts: {e}", cmd.get_program()));
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_thread = if close_stdout {
        drop(stdout);
        None
    } else {
        Some(std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        }))
    };
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let data = input.to_vec();
    let writer = std::thread::spawn(move || match feed {
        Feed::All => {
            let _ = stdin.write_all(&data);
        }
        Feed::Stall(n) => {
            let _ = stdin.write_all(&data[..n.min(data.len())]);
            let _ = stdin.flush();
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let start = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().expect("waiting on the child") {
            break status;
        }
        if start.elapsed() > watchdog {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: no exit after {watchdog:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if start.elapsed() > Duration::from_secs(2) {
        eprintln!("{name}: took {:?}", start.elapsed());
    }
    writer.join().expect("the writer thread ends");
    let stdout = out_thread.map_or_else(Vec::new, |t| t.join().expect("stdout reader ends"));
    let stderr = err_thread.join().expect("stderr reader ends");
    Ran {
        status,
        stdout,
        stderr,
        peak_kib: peak,
    }
}

/// Runs the binary (TZ=UTC) on `input` through [`run_child`], under
/// `ulimit -v` when `max_vm_mib` is given (address space, not just
/// resident memory: an allocation past the bound aborts the child).
pub fn run_guarded(
    name: &str,
    input: &[u8],
    feed: Feed,
    close_stdout: bool,
    max_vm_mib: Option<u64>,
    configure: impl FnOnce(&mut Command),
) -> Ran {
    let mut cmd = match max_vm_mib {
        Some(mib) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("ulimit -v \"$1\" && exec \"$0\"")
                .arg(bin())
                .arg((mib * 1024).to_string());
            c
        }
        None => Command::new(bin()),
    };
    cmd.env("TZ", "UTC");
    configure(&mut cmd);
    run_child(name, cmd, input, feed, close_stdout)
}

/// What a malformed-stream case must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exit 0, well-formed replies, one per request, no ERROR.
    Clean,
    /// An inspector ERROR whose text holds the substring, `finished:true`,
    /// `error` set, exit 1, one stderr line, every reply well formed.
    Error(&'static str),
    /// stdout closed by the reader: exit 0, nothing on stderr.
    Quiet,
}

/// Complete request chunks in a stream (what the binary owes replies to).
pub fn requests(input: &[u8]) -> usize {
    let mut r = ChunkReader::new(input);
    let mut c = Chunk::default();
    let mut n = 0;
    while let Ok(true) = r.read_chunk(&mut c) {
        n += 1;
    }
    n
}

/// The judge of a run: checks the invariants every run shares (no panic,
/// no signal), then the expected outcome; returns the replies.
pub fn judge(name: &str, input: &[u8], expect: Expect, ran: &Ran) -> Vec<Reply> {
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_ne!(ran.code(), Some(101), "{name}: panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert!(
        ran.code().is_some(),
        "{name}: killed by a signal (over its memory bound?): {stderr}"
    );
    match expect {
        Expect::Quiet => {
            assert_eq!(ran.code(), Some(0), "{name}: {stderr}");
            assert!(ran.stderr.is_empty(), "{name}: {stderr}");
            vec![]
        }
        Expect::Clean => {
            assert_eq!(ran.code(), Some(0), "{name}: {stderr}");
            assert!(ran.stderr.is_empty(), "{name}: stderr: {stderr}");
            let replies = parse_chunks(&ran.stdout);
            assert_eq!(
                replies.len(),
                requests(input),
                "{name}: one reply per request"
            );
            for r in &replies {
                assert!(
                    r.messages().iter().all(|(level, _)| level != "ERROR"),
                    "{name}: {:?}",
                    r.meta
                );
                assert!(r.meta.get("error").is_none(), "{name}: {:?}", r.meta);
                if r.metric("rows_in").is_u64() {
                    assert_balanced(name, r);
                }
            }
            replies
        }
        Expect::Error(text) => {
            assert_eq!(ran.code(), Some(1), "{name}: {stderr}");
            assert_eq!(
                stderr.lines().count(),
                1,
                "{name}: exactly one stderr line: {stderr:?}"
            );
            assert!(stderr.ends_with('\n'), "{name}: {stderr:?}");
            let replies = parse_chunks(&ran.stdout);
            assert!(!replies.is_empty(), "{name}: no error reply");
            assert!(
                replies.len() <= requests(input) + 1,
                "{name}: more replies than requests"
            );
            let (last, before) = replies.split_last().expect("a reply");
            for r in before {
                assert!(
                    r.messages().iter().all(|(level, _)| level != "ERROR"),
                    "{name}: ERROR before the last reply"
                );
            }
            assert_eq!(last.meta["finished"], true, "{name}: {:?}", last.meta);
            let error = last.meta["error"].as_str().unwrap_or_default();
            assert!(
                error.contains(text),
                "{name}: error {error:?} lacks {text:?}"
            );
            let messages = last.messages();
            assert!(
                messages
                    .iter()
                    .any(|(level, t)| level == "ERROR" && t.contains(text)),
                "{name}: no ERROR message with {text:?}: {messages:?}"
            );
            assert!(last.body.is_empty(), "{name}: an error reply has no body");
            assert!(stderr.contains(text), "{name}: stderr {stderr:?}");
            replies
        }
    }
}

/// `rows_in = rows_kept + rows_filtered + rows_dropped_*` on a final reply.
pub fn assert_balanced(name: &str, r: &Reply) {
    let m = |k: &str| {
        r.metric(k)
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: metric {k} missing: {:?}", r.meta))
    };
    let dropped = m("rows_dropped_missing_field") + m("rows_dropped_regex");
    assert_eq!(
        m("rows_in"),
        m("rows_kept") + m("rows_filtered") + dropped,
        "{name}: unbalanced: {:?}",
        r.meta
    );
    assert_eq!(
        m("rows_matched"),
        m("rows_kept") + dropped,
        "{name}: {:?}",
        r.meta
    );
}

/// A whole session: getinfo with `args`, then one execute request per
/// body, the last one finished.
pub fn session(args: &[&str], bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut s = getinfo(args);
    for (i, b) in bodies.iter().enumerate() {
        s.extend(execute(b, i + 1 == bodies.len()));
    }
    s
}

/// A network-mode body: [`NETWORK_HEADER`], then `rows`.
pub fn net_body(rows: &[String]) -> Vec<u8> {
    let mut body = format!("{NETWORK_HEADER}\n");
    for r in rows {
        body.push_str(r);
    }
    body.into_bytes()
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
    row(&defaults, overrides)
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
    row(&defaults, overrides)
}

/// One CSV row of `defaults` in order, each value replaced by its override.
fn row(defaults: &[(&str, &str)], overrides: &[(&str, &str)]) -> String {
    let cells: Vec<String> = defaults
        .iter()
        .map(|&(name, value)| {
            let v = overrides
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(value, |(_, v)| *v);
            csv_cell(v)
        })
        .collect();
    cells.join(",") + "\n"
}

/// The first of `names` that exists as a file or on PATH.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    for name in names {
        if name.starts_with('/') {
            if Path::new(name).is_file() {
                return Some(PathBuf::from(name));
            }
            continue;
        }
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()?;
        if out.status.success() {
            return Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()));
        }
    }
    None
}

/// The app's folder name, as `make package` lays it out.
pub const APP_ID: &str = "SA_regsvcsdetect";

/// Extracts `dist/SA_regsvcsdetect-<version><suffix>.tgz` (built by `make package`) into a fresh
/// temporary folder named `folder`: (package file, app folder). `suffix` is "" for the
/// Linux/Cloud package and "-with-windows" for the one that also serves Windows.
pub fn extract_package(suffix: &str, folder: &str) -> (PathBuf, PathBuf) {
    let name = format!("{APP_ID}-{}{suffix}.tgz", env!("CARGO_PKG_VERSION"));
    let tgz = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("dist")
        .join(name);
    assert!(
        tgz.exists(),
        "{} is absent: run `make package` first (or `make check-packages`)",
        tgz.display()
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(folder);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf {}", tgz.display());
    (tgz, dir.join(APP_ID))
}
