//! Throughput and memory table over generated splunkd streams (`make bench`); timings are printed, never asserted.

// Every figure in one table comes from the same run, so the ratios are
// meaningful on a shared, noisy machine even when the absolute numbers are
// not: each measurement is repeated and the fastest repetition is kept.
//
// Environment: `BENCH_ROWS` (rows per stream, default 1,000,000),
// `BENCH_REPS` (repetitions, default 3), `BENCH_RSS_FACTOR` (the larger RSS
// run is this many times `BENCH_ROWS`, default 10; 0 skips the RSS runs),
// `BENCH_DUMP` (a directory: also write each stream there as
// `<mode>.stream`, for profilers or other implementations).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regsvcsdetect::command::{Outcome, Session};

/// Rows per execute chunk, like splunkd's default `maxresultrows`.
const CHUNK_ROWS: usize = 50_000;

/// xorshift64*: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// Appends a cell quoted the way splunkd writes it: anything that is not
/// purely alphanumeric is quoted, `"` doubled.
fn cell(out: &mut Vec<u8>, v: &str) {
    if v.is_empty() {
        return;
    }
    if v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    out.push(b'"');
    for b in v.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn row(out: &mut Vec<u8>, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        cell(out, c);
    }
    out.push(b'\n');
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Network,
    Processes,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Processes => "noargs",
        }
    }
}

/// Sysmon EventID 3 columns as splunkd sends them: `_time`, `EventID`, the
/// 19 BY fields, then a few more that every event carries.
fn network_header() -> Vec<String> {
    let extra = [
        "host",
        "index",
        "source",
        "sourcetype",
        "splunk_server",
        "linecount",
        "eventtype",
        "tag",
        "__mv_tag",
    ];
    ["_time", "EventID"]
        .iter()
        .chain(regsvcsdetect::detect::NETWORK_BY.iter())
        .chain(extra.iter())
        .map(|s| s.to_string())
        .collect()
}

const EXES: &[&str] = &[
    "chrome.exe",
    "svchost.exe",
    "msedge.exe",
    "OneDrive.exe",
    "Teams.exe",
    "lsass.exe",
    "powershell.exe",
    "MsMpEng.exe",
    "explorer.exe",
    "firefox.exe",
];
const REGSVCS: &[&str] = &["RegSvcs.exe", "regsvcs.exe", "REGSVCS.EXE", "RegSvcs.EXE"];
const HOSTS: &[&str] = &[
    "WIN-HOST1.corp.example",
    "WIN-HOST2.corp.example",
    "LAPTOP-7Q2.corp.example",
    "SRV-DC01.corp.example",
];
const USERS: &[&str] = &[
    r"CORP\alice",
    r"CORP\bob",
    r"NT AUTHORITY\SYSTEM",
    r"CORP\svc_backup",
];

fn ip(rng: &mut Rng, public: bool) -> String {
    if public {
        format!(
            "{}.{}.{}.{}",
            [93, 52, 104, 151, 8][rng.below(5) as usize],
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        )
    } else {
        format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        )
    }
}

/// One Sysmon EventID 3 event with its CIM Network_Traffic fields. About 1%
/// mention regsvcs.exe: positives from a small pool of process instances
/// (so the group count stays bounded as in real data) and negatives (private
/// destination, other EventID, the name only inside a path).
fn network_row(out: &mut Vec<u8>, rng: &mut Rng, n: u64) {
    let time = format!("{}.{:03}", 1_700_000_000 + n, rng.below(1000));
    let roll = rng.below(1000);
    let (exe, public, event_id, instance) = match roll {
        0..=5 => (rng.pick(REGSVCS), true, "3", rng.below(64)),
        6 => (rng.pick(REGSVCS), false, "3", rng.below(64)),
        7 => (rng.pick(REGSVCS), true, "22", rng.below(64)),
        8 => ("regsvcs.exe.bak", true, "3", rng.below(64)),
        _ => (rng.pick(EXES), rng.below(3) > 0, "3", rng.below(100_000)),
    };
    let app = if roll == 9 {
        r"C:\Tools\regsvcs.exe\launcher.exe".to_string()
    } else {
        format!(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\{exe}")
    };
    let host = HOSTS[(instance % 4) as usize];
    let src_ip = format!("10.1.{}.{}", instance % 7, 1 + instance % 200);
    let dest_ip = ip(rng, public);
    let guid = format!(
        "{{8f1c2a10-{:04x}-4444-8888-{:012x}}}",
        instance % 9999,
        instance
    );
    let pid = (1000 + instance * 7).to_string();
    let dport = ["443", "80", "8080", "53"][rng.below(4) as usize];
    let sport = (49152 + rng.below(16000)).to_string();
    let user = USERS[(instance % 4) as usize];
    row(
        out,
        &[
            &time,
            event_id,
            "allowed",
            &app,
            &dest_ip,
            &dest_ip,
            dport,
            "outbound",
            host,
            "https",
            "ipv4",
            host,
            &src_ip,
            &sport,
            "tcp",
            user,
            "Microsoft Sysmon",
            exe,
            exe,
            &guid,
            &pid,
            host,
            "sysmon",
            "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
            "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
            "idx-01.corp.example",
            "1",
            "sysmon_network",
            "network\ncommunicate",
            "$network$;$communicate$",
        ],
    );
}

fn process_header() -> Vec<String> {
    let fields = regsvcsdetect::detect::NOARGS_BY;
    let mut cols: Vec<String> = fields.iter().map(|f| format!("Processes.{f}")).collect();
    cols.extend(["count", "firstTime", "lastTime"].map(String::from));
    cols
}

const COMMAND_LINES: &[&str] = &[
    r#""C:\Windows\system32\svchost.exe" -k netsvcs -p -s Schedule"#,
    r#"powershell.exe -nop -w hidden -c "Get-ChildItem 'C:\Users\a,b' | Out-Null""#,
    r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --field-trial-handle=1812,i,99"#,
    "cmd.exe /c \"echo first\r\necho second\"",
    r#"C:\Windows\Explorer.EXE"#,
    r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -File "C:\ops\backup.ps1" -Verbose"#,
];

/// One Endpoint.Processes row as `tstats ... by Processes.*` writes it
/// (`Processes.` prefixes, numeric count/firstTime/lastTime). About 1%
/// mention regsvcs.exe: no-argument launches (positives), launches with
/// arguments (dropped by the regex), and command lines that only name it.
fn process_row(out: &mut Vec<u8>, rng: &mut Rng, n: u64) {
    let roll = rng.below(1000);
    let dir = r"C:\Windows\Microsoft.NET\Framework\v4.0.30319";
    let (name, ofn, process, instance) = match roll {
        0..=4 => {
            let exe = rng.pick(REGSVCS);
            let line = if rng.below(2) == 0 {
                format!(r#""{dir}\{exe}""#)
            } else {
                format!(r"{dir}\{exe}")
            };
            (exe.to_string(), "RegSvcs.exe", line, rng.below(64))
        }
        5..=6 => (
            "RegSvcs.exe".to_string(),
            "RegSvcs.exe",
            format!(r#""{dir}\RegSvcs.exe" /U C:\Users\Public\evil.dll"#),
            rng.below(64),
        ),
        7 => (
            "renamed.exe".to_string(),
            "RegSvcs.exe",
            format!(r"{dir}\renamed.exe"),
            rng.below(64),
        ),
        8..=9 => (
            "powershell.exe".to_string(),
            "PowerShell.EXE",
            r#"powershell.exe -c "Start-Process regsvcs.exe -ArgumentList 'x, y'""#.to_string(),
            rng.below(64),
        ),
        _ => {
            let line = rng.pick(COMMAND_LINES);
            let exe = line
                .trim_start_matches('"')
                .split(['"', ' '])
                .next()
                .unwrap_or(line)
                .rsplit('\\')
                .next()
                .unwrap_or(line)
                .to_string();
            (exe.clone(), "unknown", line.to_string(), rng.below(100_000))
        }
    };
    let first = 1_700_000_000 + n;
    let count = (1 + rng.below(5)).to_string();
    let guid = format!(
        "{{8f1c2a10-{:04x}-4444-8888-{:012x}}}",
        instance % 9999,
        instance
    );
    let pguid = format!(
        "{{8f1c2a10-{:04x}-5555-8888-{:012x}}}",
        instance % 7777,
        instance
    );
    let hash = format!(
        "SHA256={:016X}{:016X}{:016X}{:016X}",
        instance,
        instance.wrapping_mul(31),
        instance.wrapping_mul(131),
        instance.wrapping_mul(1313)
    );
    let path = format!(r"{dir}\{name}");
    row(
        out,
        &[
            "allowed",
            HOSTS[(instance % 4) as usize],
            ofn,
            r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -nop -ep bypass"#,
            "powershell.exe",
            &pguid,
            &(3000 + instance % 500).to_string(),
            "powershell.exe",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            &process,
            &name,
            &guid,
            &hash,
            &(4000 + instance * 3).to_string(),
            "medium",
            &name,
            &path,
            USERS[(instance % 4) as usize],
            "S-1-5-21-1004336348-1177238915-682003330-1001",
            "Microsoft Sysmon",
            &count,
            &first.to_string(),
            &(first + rng.below(600)).to_string(),
        ],
    );
}

/// A generated stream: the chunk bodies, and the rows in them.
struct Data {
    kind: Kind,
    bodies: Vec<Vec<u8>>,
    rows: usize,
}

impl Data {
    fn generate(kind: Kind, rows: usize) -> Data {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ kind as u64);
        let header: Vec<String> = match kind {
            Kind::Network => network_header(),
            Kind::Processes => process_header(),
        };
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut bodies = Vec::new();
        let mut n = 0;
        while n < rows {
            let take = CHUNK_ROWS.min(rows - n);
            let mut body = Vec::with_capacity(take * 600);
            row(&mut body, &header);
            for i in n..n + take {
                match kind {
                    Kind::Network => network_row(&mut body, &mut rng, i as u64),
                    Kind::Processes => process_row(&mut body, &mut rng, i as u64),
                }
            }
            bodies.push(body);
            n += take;
        }
        Data { kind, bodies, rows }
    }

    fn body_bytes(&self) -> usize {
        self.bodies.iter().map(Vec::len).sum()
    }

    /// The getinfo chunk for `| regsvcsdetect <args>`.
    fn getinfo(&self, extra: &[&str]) -> Vec<u8> {
        let mut args = vec![format!("mode={}", self.kind.name()), "tz=UTC".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let args = args.join(",");
        let meta = format!(
            r#"{{"action":"getinfo","preview":false,"streaming_command_will_restart":false,"searchinfo":{{"args":[{args}],"raw_args":[{args}],"dispatch_dir":"","sid":"bench","app":"search","owner":"admin","username":"admin","session_key":"","splunkd_uri":"https://127.0.0.1:8089","splunk_version":"9.2.1","search":"%7C%20regsvcsdetect","command":"regsvcsdetect","maxresultrows":50000,"earliest_time":"0","latest_time":"0"}}}}"#
        );
        chunk(meta.as_bytes(), b"")
    }

    /// The whole stream: getinfo, then the execute chunks, `repeat` times over,
    /// the last one `finished:true`.
    fn write_stream(&self, extra: &[&str], repeat: usize, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.getinfo(extra))?;
        let total = self.bodies.len() * repeat;
        for (i, body) in self.bodies.iter().cycle().take(total).enumerate() {
            let finished = i + 1 == total;
            let meta = format!("{{\"action\":\"execute\",\"finished\":{finished}}}");
            out.write_all(&chunk(meta.as_bytes(), body))?;
        }
        Ok(())
    }

    fn stream(&self, extra: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body_bytes() + 4096);
        self.write_stream(extra, 1, &mut out).unwrap();
        out
    }
}

fn chunk(meta: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n", meta.len(), body.len()).into_bytes();
    out.extend_from_slice(meta);
    out.extend_from_slice(body);
    out
}

/// The fastest of `reps` runs.
fn best(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn bare_csv(data: &Data) -> u64 {
    let mut n = 0u64;
    let mut record = csv::ByteRecord::new();
    for body in &data.bodies {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body.as_slice());
        while r.read_byte_record(&mut record).unwrap() {
            n += record.len() as u64;
        }
    }
    n
}

fn in_process(stream: &[u8]) {
    let outcome = Session::new(stream, io::sink()).run();
    assert_eq!(outcome, Outcome::Done);
}

fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("release").join("regsvcsdetect");
    assert!(
        bin.exists(),
        "{} is missing: run `make build` first (`make bench` does)",
        bin.display()
    );
    bin
}

fn whole_process(bin: &Path, file: &Path) {
    let status = Command::new(bin)
        .stdin(File::open(file).unwrap())
        .stdout(Stdio::null())
        .env("TZ", "UTC")
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs the binary over `repeat` passes of the stream through a pipe and
/// returns its peak RSS in KiB, read from `/proc/<pid>/status` after the final
/// reply and before stdin closes (so the process is still alive).
fn peak_rss(bin: &Path, data: &Data, repeat: usize) -> Option<u64> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("TZ", "UTC")
        .spawn()
        .ok()?;
    let pid = child.id();
    let mut stdin = child.stdin.take()?;
    let stdout = child.stdout.take()?;
    let replies = data.bodies.len() * repeat + 1;
    let hwm = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut w = io::BufWriter::with_capacity(1 << 20, &mut stdin);
            data.write_stream(&[], repeat, &mut w)
                .and_then(|_| w.flush())
        });
        let mut out = BufReader::new(stdout);
        for _ in 0..replies {
            let mut line = Vec::new();
            let mut byte = [0u8];
            while out.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            let (m, b) = line.strip_prefix("chunked 1.0,")?.split_once(',')?;
            let len: u64 = m.parse::<u64>().ok()? + b.trim().parse::<u64>().ok()?;
            io::copy(&mut (&mut out).take(len), &mut io::sink()).ok()?;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        writer.join().ok()?.ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    });
    drop(stdin);
    let _ = child.wait();
    hwm
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let reps = env_usize("BENCH_REPS", 3).max(1);
    let factor = env_usize("BENCH_RSS_FACTOR", 10);
    let bin = binary();
    let tmp = std::env::temp_dir().join(format!("regsvcsdetect-bench-{}", std::process::id()));

    println!(
        "regsvcsdetect throughput: {rows} rows per stream, chunks of {CHUNK_ROWS} rows, best of {reps}"
    );
    println!();
    println!("| stream | path | rows/s | MB/s | vs (a) csv |",);
    println!("| --- | --- | ---: | ---: | ---: |");
    let mut rss = Vec::new();
    for kind in [Kind::Network, Kind::Processes] {
        let data = Data::generate(kind, rows);
        let stream = data.stream(&[]);
        let map_stream = data.stream(&["phase=map"]);
        std::fs::write(&tmp, &stream).unwrap();
        if let Some(dir) = std::env::var_os("BENCH_DUMP") {
            std::fs::write(
                Path::new(&dir).join(format!("{}.stream", kind.name())),
                &stream,
            )
            .unwrap();
        }
        let bytes = data.body_bytes() as f64;

        let a = best(reps, || {
            std::hint::black_box(bare_csv(&data));
        });
        let b = best(reps, || in_process(&stream));
        let c = best(reps, || whole_process(&bin, &tmp));
        let d = best(reps, || in_process(&map_stream));
        let name = format!("{} ({:.0} B/row)", kind.name(), bytes / data.rows as f64);
        for (label, t) in [
            ("(a) bare csv ByteRecord parse", a),
            (
                "(b) in-process session: framing, body, filter, aggregate, reply",
                b,
            ),
            ("(c) whole process: release binary < file > /dev/null", c),
            ("(d) in-process session, phase=map", d),
        ] {
            let secs = t.as_secs_f64();
            println!(
                "| {name} | {label} | {:.2} M | {:.0} | {:.2}x |",
                data.rows as f64 / secs / 1e6,
                bytes / secs / 1e6,
                a.as_secs_f64() / secs
            );
        }
        if factor > 0 {
            let small = peak_rss(&bin, &data, 1);
            let large = peak_rss(&bin, &data, factor);
            rss.push((kind.name(), small, large));
        }
    }
    let _ = std::fs::remove_file(&tmp);
    if !rss.is_empty() {
        println!();
        println!(
            "| stream | peak RSS, {rows} rows | peak RSS, {} rows |",
            rows * factor
        );
        println!("| --- | ---: | ---: |");
        let mib = |k: Option<u64>| {
            k.map_or("n/a".to_string(), |k| {
                format!("{:.1} MiB", k as f64 / 1024.0)
            })
        };
        for (name, small, large) in rss {
            println!("| {name} | {} | {} |", mib(small), mib(large));
        }
    }
}
