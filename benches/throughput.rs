//! Throughput and memory table over generated splunkd streams (`make bench`); timings are printed, never asserted.

// Every figure in one table comes from the same run, so the ratios are
// meaningful on a shared, noisy machine even when the absolute numbers are
// not: each measurement is repeated and the fastest repetition is kept.
//
// Three workloads, one stream per mode each:
//
// - A, every row a hit: the rows a real base search hands the command
//   (`sysmon EventID=3 process_name=regsvcs.exe`, or a `tstats ... where
//   process_regsvcs` whose rows are each a distinct group), most of them a
//   new group. The headline: its floor is (a), a bare csv parse.
// - B, broad streams: about 9% of rows hold the needle, a third of those
//   near-misses; quoted newlines and multivalue cells. Its floor is (e),
//   reading the bytes and finding every newline.
// - legacy 1%: the old setting, 1% of rows naming the binary.
//
// Each stream is run whole-process (the release binary, the stream file on
// stdin, stdout to a file) as splunkd runs it; then with `phase=map`; then
// the reduce over the map's own partial rows. Every timed run writes its
// replies to a file, so all pay the same for output. Peak RSS comes from a
// run through pipes.
//
// Environment: `BENCH_ROWS_A` (rows of A, default 200,000), `BENCH_ROWS`
// (rows of B and legacy, default 1,000,000), `BENCH_REPS` (repetitions,
// default 3), `BENCH_RSS_FACTOR` (the larger B RSS run is this many times
// `BENCH_ROWS`, default 10; 0 skips it), `BENCH_ONLY` (a comma list of
// stream names to run, e.g. `A-network,B-noargs`), `BENCH_DUMP` (a
// directory: also write each stream there as `<name>.stream`, its map
// phase's as `<name>-map.stream` and the reduce's as
// `<name>-partials.stream`, for profilers and for `benches/sdk/compare.sh`), `BENCH_SEED` (generator seed),
// `BENCH_SHIPPED` (another build of the command, timed whole-process beside
// the release binary: `make bench` passes the static musl build the app
// ships for x86_64 Linux).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{binary, env_usize};

/// Rows per execute chunk, like splunkd's default `maxresultrows`.
const CHUNK_ROWS: usize = 50_000;

/// xorshift64*: small, fast and the same on every machine.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
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

fn row<S: AsRef<str>>(out: &mut Vec<u8>, cells: &[S]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        cell(out, c.as_ref());
    }
    out.push(b'\n');
}

/// A multivalue cell pair: the plain cell (values joined by `\n`) and the
/// `__mv_` cell (`$v1$;$v2$`).
fn mv(values: &[&str]) -> (String, String) {
    let plain = values.join("\n");
    let enc: Vec<String> = values
        .iter()
        .map(|v| format!("${}$", v.replace('$', "$$")))
        .collect();
    (plain, enc.join(";"))
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Network,
    Noargs,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Network => "network",
            Mode::Noargs => "noargs",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    /// Every row a hit, most rows a new group.
    A,
    /// Broad: about 9% needle rows.
    B,
    /// The old 1% setting.
    Legacy,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::A => "A",
            Workload::B => "B",
            Workload::Legacy => "1%",
        }
    }
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
const DOTNET: &[&str] = &[
    r"C:\Windows\Microsoft.NET\Framework\v4.0.30319",
    r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319",
    r"C:\Windows\Microsoft.NET\Framework\v2.0.50727",
];
const DOMAINS: &[&str] = &["corp.example", "ad.example.org", "eu.example.net"];
const USERS: &[&str] = &[
    "alice",
    "bob",
    "svc_backup",
    "jdoe",
    "m.garcia",
    "admin-ops",
    "SYSTEM",
];

fn host(rng: &mut Rng) -> String {
    let kind = rng.pick(&["WIN", "LAPTOP", "SRV", "DESKTOP", "VDI"]);
    format!("{kind}-{:05X}.{}", rng.below(1 << 20), rng.pick(DOMAINS))
}

fn user(rng: &mut Rng) -> String {
    let u = rng.pick(USERS);
    if u == "SYSTEM" {
        r"NT AUTHORITY\SYSTEM".to_string()
    } else {
        format!(r"CORP\{u}{}", rng.below(100))
    }
}

fn public_ip(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        [93, 52, 104, 151, 8, 185, 45][rng.below(7) as usize],
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

fn private_ip(rng: &mut Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

fn guid(rng: &mut Rng) -> String {
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:04x}-{:012x}}}",
        rng.next() as u32,
        rng.next() as u16,
        rng.next() as u16,
        rng.next() as u16,
        rng.next() & 0xffff_ffff_ffff
    )
}

/// What one generated row is.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    /// A true detection hit.
    Hit,
    /// Holds the needle but is not a hit.
    NearMiss,
    /// Does not hold the needle.
    Other,
}

/// The network columns: `_time`, `EventID`, the 19 BY fields, then the
/// ones every exported event carries.
fn network_header(legacy: bool) -> Vec<String> {
    let extra: &[&str] = if legacy {
        &[
            "host",
            "index",
            "source",
            "sourcetype",
            "splunk_server",
            "linecount",
            "eventtype",
            "tag",
            "__mv_tag",
        ]
    } else {
        &["host", "index", "sourcetype", "__mv_dest_ip"]
    };
    ["_time", "EventID"]
        .iter()
        .chain(regsvcsdetect::detect::NETWORK_BY.iter())
        .chain(extra.iter())
        .map(|s| s.to_string())
        .collect()
}

/// One Sysmon EventID 3 event with its CIM Network_Traffic fields. `key`
/// seeds the BY fields, so two rows with the same key are one group.
fn network_row(out: &mut Vec<u8>, rng: &mut Rng, n: u64, class: Class, key: u64) {
    let mut k = Rng::new(key);
    let time = format!("{}.{:03}", 1_700_000_000 + n / 4, rng.below(1000));
    let mut event_id = "3";
    let host = host(&mut k);
    let user = user(&mut k);
    let dir = k.pick(DOTNET);
    let (mut exe, mut app) = match class {
        Class::Hit => {
            let exe = k.pick(REGSVCS);
            (exe.to_string(), format!(r"{dir}\{exe}"))
        }
        _ => {
            let exe = k.pick(EXES);
            let app = match exe {
                "chrome.exe" => r"C:\Program Files\Google\Chrome\Application\chrome.exe".into(),
                "msedge.exe" => {
                    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe".into()
                }
                "Teams.exe" => format!(
                    r"C:\Users\{}\AppData\Local\Microsoft\Teams\current\Teams.exe",
                    k.pick(USERS)
                ),
                _ => format!(r"C:\Windows\System32\{exe}"),
            };
            (exe.to_string(), app)
        }
    };
    let mut dest_ip = if class == Class::Hit || k.below(3) > 0 {
        public_ip(&mut k)
    } else {
        private_ip(&mut k)
    };
    if class == Class::NearMiss {
        match k.below(5) {
            0 => {
                exe = "xregsvcs.exe".into();
                app = format!(r"C:\Users\Public\{exe}");
            }
            1 => app = format!(r"C:\Program Files\RegSvcs.exe Tools\{exe}"),
            2 => {
                exe = "regsvcs.exe".into();
                app = format!(r"{dir}\regsvcs.exe");
                dest_ip = private_ip(&mut k);
            }
            3 => {
                exe = "RegSvcs.exe".into();
                app = format!(r"{dir}\RegSvcs.exe");
                event_id = "22";
            }
            _ => app = format!(r"C:\ProgramData\regsvcs.exe.bak\{exe}"),
        }
    }
    if class == Class::Other && rng.chance(3) {
        // A quoted newline in a field the detection does not read.
        app = format!("{app}\r\n(continued)");
    }
    let multi = rng.chance(20);
    let (dest_ip, mv_dest) = if multi {
        let second = public_ip(&mut k);
        mv(&[&dest_ip, &second])
    } else {
        (dest_ip, String::new())
    };
    let src_ip = format!("10.{}.{}.{}", k.below(8), k.below(256), 1 + k.below(254));
    let dport = ["443", "80", "8080", "53", "8443"][k.below(5) as usize];
    let sport = (49152 + k.below(16000)).to_string();
    let pid = (1000 + 4 * k.below(20000)).to_string();
    let guid = guid(&mut k);
    row(
        out,
        &[
            time.as_str(),
            event_id,
            "allowed",
            &app,
            &dest_ip,
            &dest_ip,
            dport,
            "outbound",
            &host,
            "tcp",
            "ipv4",
            &host,
            &src_ip,
            &sport,
            "tcp",
            &user,
            "Microsoft Sysmon",
            &exe,
            &app,
            &guid,
            &pid,
            &host,
            "sysmon",
            "XmlWinEventLog",
            &mv_dest,
        ],
    );
}

/// The legacy 1% network row (the previous bench's generator).
fn legacy_network_row(out: &mut Vec<u8>, rng: &mut Rng, n: u64) {
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
    let hosts = [
        "WIN-HOST1.corp.example",
        "WIN-HOST2.corp.example",
        "LAPTOP-7Q2.corp.example",
        "SRV-DC01.corp.example",
    ];
    let users = [
        r"CORP\alice",
        r"CORP\bob",
        r"NT AUTHORITY\SYSTEM",
        r"CORP\svc_backup",
    ];
    let host = hosts[(instance % 4) as usize];
    let src_ip = format!("10.1.{}.{}", instance % 7, 1 + instance % 200);
    let dest_ip = if public {
        public_ip(rng)
    } else {
        private_ip(rng)
    };
    let guid = format!(
        "{{8f1c2a10-{:04x}-4444-8888-{:012x}}}",
        instance % 9999,
        instance
    );
    let pid = (1000 + instance * 7).to_string();
    let dport = ["443", "80", "8080", "53"][rng.below(4) as usize];
    let sport = (49152 + rng.below(16000)).to_string();
    let user = users[(instance % 4) as usize];
    row(
        out,
        &[
            time.as_str(),
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

/// `tstats ... by Processes.*` columns: the 20 prefixed BY fields, then
/// `count`, `firstTime`, `lastTime` (and `__mv_Processes.user` for B).
fn process_header(multi: bool) -> Vec<String> {
    let fields = regsvcsdetect::detect::NOARGS_BY;
    let mut cols: Vec<String> = fields.iter().map(|f| format!("Processes.{f}")).collect();
    cols.extend(["count", "firstTime", "lastTime"].map(String::from));
    if multi {
        cols.push("__mv_Processes.user".into());
    }
    cols
}

const PARENTS: &[&str] = &[
    r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -nop -ep bypass -c "& {Start-Job -Name 'a, b'}""#,
    r#""C:\Program Files (x86)\Acme, Inc\Agent\agent.exe" --run "job 1, step 2" --quiet"#,
    r#"C:\Windows\system32\cmd.exe /c "C:\ops\deploy.cmd" "arg one","arg two""#,
    r#""C:\Windows\explorer.exe""#,
    r#"C:\Windows\System32\svchost.exe -k netsvcs -p -s Schedule"#,
];

const COMMAND_LINES: &[&str] = &[
    r#""C:\Windows\system32\svchost.exe" -k netsvcs -p -s Schedule"#,
    r#"powershell.exe -nop -w hidden -c "Get-ChildItem 'C:\Users\a,b' | Out-Null""#,
    r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --field-trial-handle=1812,i,99"#,
    r#"C:\Windows\Explorer.EXE"#,
    r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -File "C:\ops\backup.ps1" -Verbose"#,
    r#""C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" /recycle"#,
];

/// The process name in a command line: its first token's file name.
fn exe_of(line: &str) -> String {
    line.trim_start_matches('"')
        .split(['"', ' '])
        .next()
        .unwrap_or(line)
        .rsplit('\\')
        .next()
        .unwrap_or(line)
        .to_string()
}

/// One Endpoint.Processes row as `tstats ... by Processes.*` writes it.
/// `key` seeds the BY fields. A hit names regsvcs.exe: without arguments
/// it is a detection (`argless`), with them the regex drops it.
fn process_row(out: &mut Vec<u8>, rng: &mut Rng, n: u64, class: Class, key: u64, multi_col: bool) {
    let mut k = Rng::new(key);
    let dir = k.pick(DOTNET);
    let argless = k.below(10) < 7;
    let (name, ofn, mut process) = match class {
        Class::Hit => {
            let exe = k.pick(REGSVCS);
            let line = match (argless, k.below(3)) {
                (true, 0) => format!(r#""{dir}\{exe}""#),
                (true, 1) => format!(r"{dir}\{exe}"),
                (true, _) => format!(r#""{dir}\{exe}"  "#),
                (false, 0) => format!(r#""{dir}\{exe}" /U "C:\Users\Public\a b, c.dll""#),
                (false, _) => format!(r"{dir}\{exe} /c C:\Temp\payload{}.dll", k.below(999)),
            };
            (exe.to_string(), "RegSvcs.exe", line)
        }
        _ => {
            let line = k.pick(COMMAND_LINES);
            (exe_of(line), "unknown", line.to_string())
        }
    };
    let mut parent = k.pick(PARENTS).to_string();
    let mut path = format!(r"{dir}\{name}");
    if class == Class::Other {
        path = format!(r"C:\Windows\System32\{name}");
    }
    let mut name = name;
    if class == Class::NearMiss {
        match k.below(4) {
            0 => {
                parent = format!(
                    r#"powershell.exe -c "Start-Process {dir}\regsvcs.exe -ArgumentList 'x, y'""#
                )
            }
            1 => {
                name = "xregsvcs.exe".into();
                process = r"C:\Users\Public\xregsvcs.exe /s".to_string();
                path = r"C:\Users\Public\xregsvcs.exe".to_string();
            }
            2 => path = format!(r"C:\Program Files\RegSvcs.exe Tools\{name}"),
            _ => process = format!(r#"{process} --log "C:\Logs\regsvcs.exe.log""#),
        }
    }
    if class == Class::Other && rng.chance(3) {
        process = "cmd.exe /c \"echo first\r\necho second\"".to_string();
        name = "cmd.exe".into();
    }
    let first = 1_700_000_000 + n / 4;
    let count = (1 + rng.below(5)).to_string();
    let pguid = guid(&mut k);
    let guid = guid(&mut k);
    let hash = format!(
        "SHA256={:016X}{:016X}{:016X}{:016X}",
        k.next(),
        k.next(),
        k.next(),
        k.next()
    );
    let host = host(&mut k);
    let user_a = user(&mut k);
    let (user, mv_user) = if multi_col && rng.chance(20) {
        let user_b = user(&mut k);
        mv(&[&user_a, &user_b])
    } else {
        (user_a, String::new())
    };
    let ppid = (3000 + 4 * k.below(5000)).to_string();
    let pid = (4000 + 4 * k.below(20000)).to_string();
    let pname = exe_of(&parent);
    let ppath = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let last = (first + rng.below(600)).to_string();
    let first = first.to_string();
    let mut cells: Vec<&str> = vec![
        "allowed",
        &host,
        ofn,
        &parent,
        &pname,
        &pguid,
        &ppid,
        &pname,
        ppath,
        &process,
        &name,
        &guid,
        &hash,
        &pid,
        "medium",
        &name,
        &path,
        &user,
        "S-1-5-21-1004336348-1177238915-682003330-1001",
        "Microsoft Sysmon",
        &count,
        &first,
        &last,
    ];
    if multi_col {
        cells.push(&mv_user);
    }
    row(out, &cells);
}

/// A generated stream: the chunk bodies, and the rows in them.
struct Data {
    mode: Mode,
    bodies: Vec<Vec<u8>>,
}

impl Data {
    fn generate(workload: Workload, mode: Mode, rows: usize, seed: u64) -> Data {
        let mut rng = Rng::new(seed ^ (mode as u64 + 1) ^ ((workload as u64) << 8));
        let header: Vec<String> = match (workload, mode) {
            (Workload::Legacy, Mode::Network) => network_header(true),
            (_, Mode::Network) => network_header(false),
            (Workload::B, Mode::Noargs) => process_header(true),
            (_, Mode::Noargs) => process_header(false),
        };
        let mut bodies = Vec::new();
        let mut n = 0;
        // Keys of groups made so far (A repeats some), and B's bounded pool.
        let mut made = 0u64;
        let pool = 2_000u64;
        while n < rows {
            let take = CHUNK_ROWS.min(rows - n);
            let mut body = Vec::with_capacity(take * 700);
            row(&mut body, &header);
            for i in n..n + take {
                let i = i as u64;
                match workload {
                    Workload::Legacy => match mode {
                        Mode::Network => legacy_network_row(&mut body, &mut rng, i),
                        Mode::Noargs => legacy_process_row(&mut body, &mut rng, i),
                    },
                    Workload::A => {
                        // Network: ~80% start a new group; noargs: all distinct.
                        let repeat = mode == Mode::Network && made > 0 && rng.chance(200);
                        let key = if repeat {
                            seed ^ rng.below(made)
                        } else {
                            made += 1;
                            seed ^ (made - 1)
                        };
                        match mode {
                            Mode::Network => network_row(&mut body, &mut rng, i, Class::Hit, key),
                            Mode::Noargs => {
                                process_row(&mut body, &mut rng, i, Class::Hit, key, false)
                            }
                        }
                    }
                    Workload::B => {
                        let roll = rng.below(1000);
                        let (class, key) = match roll {
                            0..=59 => (Class::Hit, seed ^ (1 << 40) ^ rng.below(pool)),
                            60..=89 => (Class::NearMiss, seed ^ (2 << 40) ^ rng.below(pool)),
                            _ => (Class::Other, rng.next()),
                        };
                        match mode {
                            Mode::Network => network_row(&mut body, &mut rng, i, class, key),
                            Mode::Noargs => process_row(&mut body, &mut rng, i, class, key, true),
                        }
                    }
                }
            }
            bodies.push(body);
            n += take;
        }
        Data { mode, bodies }
    }

    fn body_bytes(&self) -> usize {
        self.bodies.iter().map(Vec::len).sum()
    }

    /// The whole stream: getinfo, then the execute chunks, `repeat` times over,
    /// the last one `finished:true`.
    fn write_stream(&self, extra: &[&str], repeat: usize, out: &mut impl Write) -> io::Result<()> {
        write_stream(self.mode, &self.bodies, extra, repeat, out)
    }
}

/// The legacy 1% noargs row (the previous bench's generator).
fn legacy_process_row(out: &mut Vec<u8>, rng: &mut Rng, n: u64) {
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
            let mut line = rng.pick(COMMAND_LINES).to_string();
            if rng.below(6) == 0 {
                line = "cmd.exe /c \"echo first\r\necho second\"".into();
            }
            (exe_of(&line), "unknown", line, rng.below(100_000))
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
    let hosts = [
        "WIN-HOST1.corp.example",
        "WIN-HOST2.corp.example",
        "LAPTOP-7Q2.corp.example",
        "SRV-DC01.corp.example",
    ];
    let users = [
        r"CORP\alice",
        r"CORP\bob",
        r"NT AUTHORITY\SYSTEM",
        r"CORP\svc_backup",
    ];
    let path = format!(r"{dir}\{name}");
    row(
        out,
        &[
            "allowed",
            hosts[(instance % 4) as usize],
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
            users[(instance % 4) as usize],
            "S-1-5-21-1004336348-1177238915-682003330-1001",
            "Microsoft Sysmon",
            &count,
            &first.to_string(),
            &(first + rng.below(600)).to_string(),
        ],
    );
}

/// The getinfo chunk for `| regsvcsdetect mode=<mode> tz=UTC <extra>`.
fn getinfo(mode: Mode, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![format!("mode={}", mode.name()), "tz=UTC".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let args = args.join(",");
    let meta = format!(
        r#"{{"action":"getinfo","preview":false,"streaming_command_will_restart":false,"searchinfo":{{"args":[{args}],"raw_args":[{args}],"dispatch_dir":"","sid":"bench","app":"search","owner":"admin","username":"admin","session_key":"","splunkd_uri":"https://127.0.0.1:8089","splunk_version":"9.2.1","search":"%7C%20regsvcsdetect","command":"regsvcsdetect","maxresultrows":50000,"earliest_time":"0","latest_time":"0"}}}}"#
    );
    chunk(meta.as_bytes(), b"")
}

fn write_stream(
    mode: Mode,
    bodies: &[Vec<u8>],
    extra: &[&str],
    repeat: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    out.write_all(&getinfo(mode, extra))?;
    let total = bodies.len() * repeat;
    for (i, body) in bodies.iter().cycle().take(total).enumerate() {
        let finished = i + 1 == total;
        let meta = format!("{{\"action\":\"execute\",\"finished\":{finished}}}");
        out.write_all(&chunk(meta.as_bytes(), body))?;
    }
    Ok(())
}

fn chunk(meta: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n", meta.len(), body.len()).into_bytes();
    out.extend_from_slice(meta);
    out.extend_from_slice(body);
    out
}

/// The reply bodies in a captured reply stream, getinfo's included.
fn reply_bodies(mut out: &[u8]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    while let Some(nl) = out.iter().position(|&b| b == b'\n') {
        let line = std::str::from_utf8(&out[..nl]).unwrap();
        let (m, b) = line
            .strip_prefix("chunked 1.0,")
            .unwrap()
            .split_once(',')
            .unwrap();
        let (m, b): (usize, usize) = (m.parse().unwrap(), b.parse().unwrap());
        let body = &out[nl + 1 + m..nl + 1 + m + b];
        bodies.push(body.to_vec());
        out = &out[nl + 1 + m + b..];
    }
    bodies
}

/// The fastest of `reps` runs.
/// A named measurement: one run of it.
type Run<'a, 'f> = (&'a str, Box<dyn FnMut() + 'f>);

/// The fastest of `reps` runs of each of `runs`, taken in rounds: each
/// round runs every one once, in order.
fn rounds<'a>(reps: usize, runs: &mut [Run<'a, '_>]) -> Vec<(&'a str, Duration)> {
    let mut best = vec![Duration::MAX; runs.len()];
    for _ in 0..reps {
        for ((_, run), best) in runs.iter_mut().zip(&mut best) {
            let t = Instant::now();
            run();
            *best = (*best).min(t.elapsed());
        }
    }
    runs.iter().map(|(name, _)| *name).zip(best).collect()
}

/// Floor (a): a bare csv `ByteRecord` parse of the bodies.
fn bare_csv(bodies: &[Vec<u8>]) -> u64 {
    let mut n = 0u64;
    let mut record = csv::ByteRecord::new();
    for body in bodies {
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

/// Floor (e): read the stream file in 64 KiB pieces and find every newline.
fn read_newlines(file: &Path) -> u64 {
    let mut f = File::open(file).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf).unwrap();
        if got == 0 {
            return n;
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

/// The release binary with `file` on stdin; stdout to `out` (or /dev/null).
fn whole_process(bin: &Path, file: &Path, out: Option<&Path>) {
    let stdout = match out {
        Some(p) => Stdio::from(File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let status = Command::new(bin)
        .stdin(File::open(file).unwrap())
        .stdout(stdout)
        .env("TZ", "UTC")
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs the binary over `repeat` passes of the stream through a pipe and
/// returns its peak RSS in KiB, read from `/proc/<pid>/status` after the final
/// reply and before stdin closes (so the process is still alive).
fn peak_rss(bin: &Path, mode: Mode, bodies: &[Vec<u8>], repeat: usize) -> Option<u64> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("TZ", "UTC")
        .spawn()
        .ok()?;
    let pid = child.id();
    let mut stdin = child.stdin.take()?;
    let stdout = child.stdout.take()?;
    let replies = bodies.len() * repeat + 1;
    let hwm = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut w = io::BufWriter::with_capacity(1 << 20, &mut stdin);
            write_stream(mode, bodies, &[], repeat, &mut w).and_then(|_| w.flush())
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

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1 << 20) as f64)
}

/// One table line: a timing beside its rows/s and its floors.
struct Line {
    stream: String,
    path: &'static str,
    rows: usize,
    bytes: usize,
    t: Duration,
    a: Duration,
    e: Duration,
}

impl Line {
    fn print(&self) {
        let s = self.t.as_secs_f64();
        println!(
            "| {} | {} | {:.3} s | {:.2} M | {:.0} | {:.2}x | {:.2}x |",
            self.stream,
            self.path,
            s,
            self.rows as f64 / s / 1e6,
            self.bytes as f64 / s / 1e6,
            s / self.a.as_secs_f64(),
            s / self.e.as_secs_f64(),
        );
    }
}

fn main() {
    let rows_a = env_usize("BENCH_ROWS_A", 200_000);
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let reps = env_usize("BENCH_REPS", 3).max(1);
    let factor = env_usize("BENCH_RSS_FACTOR", 10);
    let seed = env_usize("BENCH_SEED", 0x5EED) as u64;
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let bin = binary();
    let shipped = std::env::var_os("BENCH_SHIPPED").map(std::path::PathBuf::from);
    let dir = std::env::temp_dir().join(format!("regsvcsdetect-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, map_out, partials) = (
        dir.join("stream"),
        dir.join("map.out"),
        dir.join("partials"),
    );
    let final_out = dir.join("final.out");
    let shipped_out = dir.join("shipped.out");
    let (map_in, reduce_out) = (dir.join("map.in"), dir.join("reduce.out"));

    println!(
        "regsvcsdetect throughput: A {rows_a} rows, B and 1% {rows} rows per stream, chunks of {CHUNK_ROWS} rows, best of {reps}, seed {seed}"
    );
    println!();
    println!("| stream | path | time | rows/s | MB/s | x (a) csv parse | x (e) read + newlines |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let mut memory = Vec::new();
    for workload in [Workload::A, Workload::B, Workload::Legacy] {
        for mode in [Mode::Network, Mode::Noargs] {
            let n = if workload == Workload::A {
                rows_a
            } else {
                rows
            };
            let name = format!("{}-{}", workload.name(), mode.name());
            if !only.is_empty() && !only.split(',').any(|o| o == name) {
                continue;
            }
            let data = Data::generate(workload, mode, n, seed);
            {
                let mut w = io::BufWriter::new(File::create(&file).unwrap());
                data.write_stream(&[], 1, &mut w).unwrap();
                w.flush().unwrap();
            }
            if let Some(d) = std::env::var_os("BENCH_DUMP") {
                std::fs::copy(&file, Path::new(&d).join(format!("{name}.stream"))).unwrap();
            }
            let bytes = data.body_bytes();
            let stream = format!("{name} ({:.0} B/row)", bytes as f64 / n as f64);

            // Untimed first: the whole run's result (for the RSS bound) and
            // the map's partial rows (the reduce's input).
            whole_process(&bin, &file, Some(&final_out));
            let result_bytes: usize = reply_bodies(&std::fs::read(&final_out).unwrap())
                .iter()
                .map(Vec::len)
                .sum();
            {
                let mut w = io::BufWriter::new(File::create(&map_in).unwrap());
                data.write_stream(&["phase=map"], 1, &mut w).unwrap();
                w.flush().unwrap();
            }
            whole_process(&bin, &map_in, Some(&map_out));
            let bodies: Vec<Vec<u8>> = reply_bodies(&std::fs::read(&map_out).unwrap())
                .into_iter()
                .skip(1)
                .filter(|b| !b.is_empty())
                .collect();
            let partial_rows: usize = bodies
                .iter()
                .map(|b| memchr::memchr_iter(b'\n', b).count().saturating_sub(1))
                .sum();
            {
                let mut w = io::BufWriter::new(File::create(&partials).unwrap());
                write_stream(mode, &bodies, &[], 1, &mut w).unwrap();
                w.flush().unwrap();
            }
            if let Some(d) = std::env::var_os("BENCH_DUMP") {
                for (from, what) in [(&map_in, "map"), (&partials, "partials")] {
                    let to = Path::new(&d).join(format!("{name}-{what}.stream"));
                    std::fs::copy(from, to).unwrap();
                }
            }

            // Then every measurement once per round, round after round, so
            // a burst of load on this shared machine spoils one repetition
            // of each rather than all repetitions of one.
            let mut runs: Vec<Run> = vec![
                (
                    "a",
                    Box::new(|| {
                        std::hint::black_box(bare_csv(&data.bodies));
                    }),
                ),
                (
                    "e",
                    Box::new(|| {
                        std::hint::black_box(read_newlines(&file));
                    }),
                ),
                (
                    "whole",
                    Box::new(|| whole_process(&bin, &file, Some(&final_out))),
                ),
                (
                    "map",
                    Box::new(|| whole_process(&bin, &map_in, Some(&map_out))),
                ),
                (
                    "ra",
                    Box::new(|| {
                        std::hint::black_box(bare_csv(&bodies));
                    }),
                ),
                (
                    "re",
                    Box::new(|| {
                        std::hint::black_box(read_newlines(&partials));
                    }),
                ),
                (
                    "reduce",
                    Box::new(|| whole_process(&bin, &partials, Some(&reduce_out))),
                ),
            ];
            if let Some(shipped) = &shipped {
                runs.push((
                    "shipped",
                    Box::new(|| whole_process(shipped, &file, Some(&shipped_out))),
                ));
            }
            let times = rounds(reps, &mut runs);
            let time = |what: &str| {
                times
                    .iter()
                    .find(|(n, _)| *n == what)
                    .map(|(_, t)| *t)
                    .unwrap()
            };
            let (a, e) = (time("a"), time("e"));
            let line = |path, t, a, e| Line {
                stream: stream.clone(),
                path,
                rows: n,
                bytes,
                t,
                a,
                e,
            };
            line("(a) bare csv ByteRecord parse", a, a, e).print();
            line("(e) read + memchr newlines", e, a, e).print();
            line("whole process", time("whole"), a, e).print();
            if shipped.is_some() {
                line(
                    "whole process, shipped static musl build",
                    time("shipped"),
                    a,
                    e,
                )
                .print();
            }
            line("whole process, phase=map", time("map"), a, e).print();
            Line {
                stream: format!("{name} partials ({partial_rows} rows)"),
                path: "whole process, reduce over the map's partials",
                rows: partial_rows,
                bytes: bodies.iter().map(Vec::len).sum(),
                t: time("reduce"),
                a: time("ra"),
                e: time("re"),
            }
            .print();

            if factor > 0 || workload == Workload::A {
                let small = peak_rss(&bin, mode, &data.bodies, 1);
                let large = (workload != Workload::A && factor > 0)
                    .then(|| peak_rss(&bin, mode, &data.bodies, factor))
                    .flatten();
                memory.push((name, n, small, large, result_bytes));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !memory.is_empty() {
        println!();
        println!(
            "| stream | result CSV | peak RSS | bound | peak RSS, {factor}x the rows | bound |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        let kib = |k: Option<u64>| k.map_or("n/a".to_string(), |k| mib(k as f64 * 1024.0));
        for (name, n, small, large, result) in memory {
            let (bound, large_bound) = if name.starts_with("A-") {
                (mib(2.0 * result as f64 + (32 << 20) as f64), "".into())
            } else {
                (mib((64 << 20) as f64), mib((64 << 20) as f64))
            };
            let large = if large.is_some() {
                format!("{} ({} rows)", kib(large), n * factor)
            } else {
                String::new()
            };
            println!(
                "| {name} | {} | {} | {bound} | {large} | {large_bound} |",
                mib(result as f64),
                kib(small),
            );
        }
    }
}
