//! Records per second and peak RSS of `regsvcsdetect run` over Windows XML and EVTX files (`make bench`); timings are printed, never asserted.

// The release binary runs each input as a user would (`run --mode noargs FILE`);
// each timing is the fastest of BENCH_REPS runs. XML input is generated here
// (Sysmon EventID 1 lines, a tenth of them regsvcs.exe). EVTX input is built in
// a temporary folder from the chunks of the two fixture logs in
// ../shared/fixtures/regsvcs_events/evtx, repeated (each chunk is self-contained,
// so a file of repeated chunks is a valid log); without them the EVTX rows are
// left out. Peak RSS is VmHWM, polled from /proc while the process runs, for a
// file and one ten times larger: flat memory shows as equal figures.
//
// The regsvcs.exe events repeat 50 processes, so the result groups stay few
// and the peak RSS is the reader's, not a growing group table.
//
// Environment: `BENCH_XML_EVENTS` (default 200,000), `BENCH_EVTX_COPIES`
// (copies of the fixture chunks, default 40), `BENCH_REPS` (default 3).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{binary, env_usize};

const HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// One Sysmon EventID 1 event in Splunk's one-line rendering.
fn xml_event(out: &mut impl Write, i: usize) {
    let (image, cmd) = if i % 10 == 0 {
        (
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
            if i % 20 == 0 {
                "RegSvcs.exe"
            } else {
                "RegSvcs.exe /fc a.dll"
            },
        )
    } else {
        (
            r"C:\Windows\System32\svchost.exe",
            "svchost.exe -k netsvcs -p",
        )
    };
    writeln!(
        out,
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{{5770385F-C22A-43E0-BF4C-06F5698FFBD9}}'/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2024-03-12T09:{:02}:{:02}.{:07}Z'/><EventRecordID>{i}</EventRecordID><Correlation/><Execution ProcessID='3024' ThreadID='4180'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>host{}.corp.example.com</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>2024-03-12 09:00:00.000</Data><Data Name='ProcessGuid'>{{4A7C1E2B-1F3D-65F0-6A04-{:012}}}</Data><Data Name='ProcessId'>{}</Data><Data Name='Image'>{image}</Data><Data Name='OriginalFileName'>-</Data><Data Name='CommandLine'>{cmd}</Data><Data Name='CurrentDirectory'>C:\\Windows\\system32\\</Data><Data Name='User'>CORP\\user{}</Data><Data Name='IntegrityLevel'>Medium</Data><Data Name='Hashes'>SHA256=2A3B9C5D0E81F0A7C6D4B2E19F8A7C6B5D4E3F2A1B0C9D8E7F6A5B4C3D2E1F00</Data><Data Name='ParentProcessGuid'>{{4A7C1E2B-1F3D-65F0-6A04-000000000001}}</Data><Data Name='ParentProcessId'>612</Data><Data Name='ParentImage'>C:\\Windows\\System32\\services.exe</Data><Data Name='ParentCommandLine'>C:\\Windows\\system32\\services.exe</Data></EventData></Event>",
        (i / 60) % 60,
        i % 60,
        i % 10_000_000,
        i % 50,
        i % 50,
        1000 + i % 50,
        i % 40,
    )
    .unwrap();
}

fn write_xml(path: &Path, events: usize) {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for i in 0..events {
        xml_event(&mut out, i);
    }
    out.flush().unwrap();
}

/// A log of the fixtures' chunks repeated `copies` times; `None` without them.
fn write_evtx(path: &Path, copies: usize) -> Option<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/regsvcs_events/evtx");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "evtx"))
        .collect();
    logs.sort();
    let files: Vec<Vec<u8>> = logs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let first = files.first()?;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(&first[..HEADER]).unwrap();
    for _ in 0..copies {
        for f in &files {
            for chunk in f[HEADER..].chunks_exact(CHUNK) {
                out.write_all(chunk).unwrap();
            }
        }
    }
    out.flush().unwrap();
    Some(())
}

/// One run: (elapsed, rows read, peak RSS in KiB).
fn run(bin: &Path, file: &Path) -> (Duration, u64, u64) {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(["run", "--mode", "noargs", "-o", "csv"])
        .arg(file)
        .env("TZ", "UTC")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let poll = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = 0u64;
            while let Ok(text) = std::fs::read_to_string(&status_file) {
                if let Some(kb) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                {
                    seen = seen.max(kb);
                }
                if text.contains("State:\tZ") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        });
        let out = child.wait_with_output().unwrap();
        peak = watcher.join().unwrap();
        out
    });
    let elapsed = start.elapsed();
    assert!(
        poll.status.success(),
        "{}",
        String::from_utf8_lossy(&poll.stderr)
    );
    let err = String::from_utf8_lossy(&poll.stderr);
    let rows = err
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("rows read:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    (elapsed, rows, peak)
}

fn best(bin: &Path, file: &Path, reps: usize) -> (Duration, u64, u64) {
    let mut all: Vec<(Duration, u64, u64)> = (0..reps).map(|_| run(bin, file)).collect();
    all.sort_by_key(|r| r.0);
    let peak = all.iter().map(|r| r.2).max().unwrap_or(0);
    (all[0].0, all[0].1, peak)
}

fn main() {
    let bin = binary();
    let reps = env_usize("BENCH_REPS", 3).max(1);
    let events = env_usize("BENCH_XML_EVENTS", 200_000);
    let copies = env_usize("BENCH_EVTX_COPIES", 40).max(1);
    let dir = std::env::temp_dir().join(format!(
        "regsvcsdetect-bench-offline-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows: Vec<(String, u64, u64, Duration, u64)> = Vec::new();
    for (label, scale) in [("", 1usize), (" ×10", 10)] {
        let xml = dir.join("events.xml");
        write_xml(&xml, events * scale);
        let size = std::fs::metadata(&xml).unwrap().len();
        let (t, n, rss) = best(&bin, &xml, if scale == 1 { reps } else { 1 });
        rows.push((
            format!("XML (Sysmon EID 1, one line each){label}"),
            size,
            n,
            t,
            rss,
        ));
        std::fs::remove_file(&xml).unwrap();
        let evtx = dir.join("events.evtx");
        if write_evtx(&evtx, copies * scale).is_some() {
            let size = std::fs::metadata(&evtx).unwrap().len();
            let (t, n, rss) = best(&bin, &evtx, if scale == 1 { reps } else { 1 });
            rows.push((
                format!("EVTX (fixture chunks repeated){label}"),
                size,
                n,
                t,
                rss,
            ));
            std::fs::remove_file(&evtx).unwrap();
        } else {
            println!("note: ../shared/fixtures/regsvcs_events/evtx is absent; no EVTX rows");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("| input | MiB | records | seconds | records/s | MiB/s | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, size, n, t, rss) in rows {
        let secs = t.as_secs_f64();
        println!(
            "| {name} | {:.1} | {n} | {secs:.2} | {:.0} | {:.1} | {:.1} |",
            size as f64 / (1 << 20) as f64,
            n as f64 / secs,
            size as f64 / (1 << 20) as f64 / secs,
            rss as f64 / 1024.0
        );
    }
}
