//! Safety properties of the binary that runs inside splunkd: no network and
//! no subprocesses, files written only into `dispatch_dir` and only with
//! `record=t`, the session key in no output, and a quiet stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

const KEY: &str = "SESSION-KEY-MUST-NOT-LEAK";

/// Source text that would open a connection or start a process.
const FORBIDDEN: [&str; 12] = [
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "UnixStream",
    "UnixListener",
    "UnixDatagram",
    "ToSocketAddrs",
    "std::process::Command",
    "process::Command",
    "Command::new",
    "std::os::unix::process",
    "extern \"C\"",
];

/// The only `std::net` items allowed: address types, for CIDR matching.
const NET_ALLOWED: [&str; 3] = ["IpAddr", "Ipv4Addr", "Ipv6Addr"];

/// Problems in one source file's text.
fn scan(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for f in FORBIDDEN {
            if code.contains(f) {
                found.push(format!("line {}: {f}", n + 1));
            }
        }
        let mut rest = code;
        while let Some(at) = rest.find("std::net::").or_else(|| rest.find("core::net::")) {
            let tail = &rest[at..];
            let tail = &tail[tail.find("net::").unwrap_or_default() + "net::".len()..];
            let items: Vec<&str> = if let Some(group) = tail.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .collect()
            } else {
                vec![tail
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or_default()]
            };
            for item in items.into_iter().filter(|i| !i.is_empty()) {
                if !NET_ALLOWED.contains(&item) {
                    found.push(format!("line {}: net::{item}", n + 1));
                }
            }
            rest = tail;
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_scanner_catches_what_it_looks_for() {
    assert!(!scan("let s = std::net::TcpStream::connect(a);").is_empty());
    assert!(!scan("use std::net::{IpAddr, UdpSocket};").is_empty());
    assert!(!scan("use std::process::Command;").is_empty());
    assert!(!scan("let c = Command::new(\"sh\");").is_empty());
    assert!(scan("use std::net::IpAddr;\nuse std::net::{Ipv4Addr, Ipv6Addr};").is_empty());
    assert!(scan("// a comment naming TcpStream").is_empty());
    assert!(scan("use ipnet::{IpNet, Ipv4Net};").is_empty());
}

#[test]
fn source_has_no_network_and_no_subprocess() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 5, "found the sources");
    let mut problems = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for p in scan(&text) {
            problems.push(format!("{}: {p}", f.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|d| d.split("\n[").next())
        .unwrap();
    for net_crate in ["reqwest", "ureq", "hyper", "tokio", "libc", "nix", "curl"] {
        assert!(
            !deps
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{net_crate} "))),
            "{net_crate} in [dependencies]"
        );
    }
}

/// A scratch directory under the target dir, fresh for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("safety-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("dispatch")).unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    std::fs::create_dir_all(dir.join("cwd")).unwrap();
    dir
}

fn getinfo_in(args: &[&str], dispatch: &Path, sid: &str) -> Vec<u8> {
    let mut meta = getinfo_meta(args);
    meta["searchinfo"]["dispatch_dir"] = dispatch.to_string_lossy().into_owned().into();
    meta["searchinfo"]["sid"] = sid.into();
    chunk(meta.to_string().as_bytes(), b"")
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn run_in(dir: &Path, input: &[u8]) -> Ran {
    run_guarded("safety", input, Feed::All, false, None, |cmd| {
        cmd.current_dir(dir.join("cwd"))
            .env("HOME", dir.join("home"))
            .env("TMPDIR", dir.join("home"));
    })
}

fn body() -> Vec<u8> {
    format!("{NETWORK_HEADER}\n{}", network_row(&[])).into_bytes()
}

/// One session the file and leak tests run: (name, args, sid, requests after getinfo, exit code).
type Session = (&'static str, Vec<&'static str>, &'static str, Vec<u8>, i32);

fn sessions() -> Vec<Session> {
    let ok = [execute(&body(), false), execute(b"", true)].concat();
    vec![
        ("clean", vec!["mode=network"], "1700000000.1", ok.clone(), 0),
        (
            "clean_record",
            vec!["mode=network", "record=t"],
            "1700000000.2",
            ok.clone(),
            0,
        ),
        (
            "probe_record",
            vec!["mode=network", "record=t"],
            "searchparsetmp_1700000000.3",
            vec![],
            0,
        ),
        (
            "bad_option",
            vec!["mode=network", "nosuch=1", "record=t"],
            "1700000000.4",
            ok.clone(),
            1,
        ),
        (
            "error_record",
            vec!["mode=network", "record=t"],
            "1700000000.5",
            [execute(&body(), false), b"chunked 9.9,1,1\n".to_vec()].concat(),
            1,
        ),
        (
            "error_no_record",
            vec!["mode=network"],
            "1700000000.6",
            execute(&body(), false)[..20].to_vec(),
            1,
        ),
        (
            "group_limit_record",
            vec!["mode=network", "record=t", "max_groups=1"],
            "1700000000.7",
            execute(
                &[body(), network_row(&[("src_port", "9")]).into_bytes()].concat(),
                true,
            ),
            1,
        ),
    ]
}

#[test]
fn files_appear_only_in_dispatch_dir_and_only_with_record() {
    for (name, args, sid, tail, code) in sessions() {
        let dir = scratch(name);
        let dispatch = dir.join("dispatch");
        let input = [getinfo_in(&args, &dispatch, sid), tail].concat();
        let ran = run_in(&dir, &input);
        assert_eq!(
            ran.code(),
            Some(code),
            "{name}: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
        // Bad options stop the session before anything is recorded.
        let recorded = args.contains(&"record=t")
            && !sid.starts_with("searchparsetmp_")
            && name != "bad_option";
        let expected: Vec<String> = if recorded {
            vec![
                format!("dispatch/regsvcsdetect.{sid}.input"),
                format!("dispatch/regsvcsdetect.{sid}.output"),
            ]
        } else {
            vec![]
        };
        assert_eq!(files_under(&dir), expected, "{name}");
        if recorded {
            // The recording is the session, reply for reply.
            let out = std::fs::read(dispatch.join(format!("regsvcsdetect.{sid}.output"))).unwrap();
            assert_eq!(out, ran.stdout, "{name}: the output recording");
        }
    }
}

#[test]
fn session_key_reaches_no_output_log_or_recording() {
    for (name, args, sid, tail, _) in sessions() {
        let dir = scratch(&format!("key-{name}"));
        let input = [getinfo_in(&args, &dir.join("dispatch"), sid), tail].concat();
        assert!(
            String::from_utf8_lossy(&input).contains(KEY),
            "the key is sent"
        );
        let ran = run_in(&dir, &input);
        let mut seen = vec![
            ("stdout".to_string(), ran.stdout),
            ("stderr".into(), ran.stderr),
        ];
        for f in files_under(&dir) {
            seen.push((f.clone(), std::fs::read(dir.join(&f)).unwrap()));
        }
        for (what, bytes) in seen {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(KEY),
                "{name}: the session key is in {what}"
            );
        }
    }
}

#[test]
fn stderr_is_empty_when_clean_and_one_line_when_fatal() {
    for (name, args, sid, tail, code) in sessions() {
        let dir = scratch(&format!("stderr-{name}"));
        let input = [getinfo_in(&args, &dir.join("dispatch"), sid), tail].concat();
        let ran = run_in(&dir, &input);
        let stderr = String::from_utf8_lossy(&ran.stderr);
        if code == 0 {
            assert!(stderr.is_empty(), "{name}: {stderr:?}");
        } else {
            assert_eq!(stderr.lines().count(), 1, "{name}: {stderr:?}");
            assert!(stderr.starts_with("regsvcsdetect: "), "{name}: {stderr:?}");
        }
    }
    // An option value with a line break still makes one stderr line.
    let dir = scratch("stderr-newline");
    let input = getinfo_in(
        &["mode=network", "binary=a\nb"],
        &dir.join("dispatch"),
        "1.1",
    );
    let ran = run_in(&dir, &input);
    assert_eq!(ran.code(), Some(1));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}

/// The `strace` binary; the test that needs it fails when it cannot trace.
fn strace() -> &'static str {
    let ok = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=none", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "strace is not installed or cannot trace here (apt-get install strace; ptrace allowed)"
    );
    "strace"
}

#[test]
#[ignore = "needs strace, allowed to ptrace"]
fn under_strace_no_socket_no_subprocess_no_stray_file() {
    let strace = strace();
    for (name, args, sid, tail, code) in sessions() {
        let dir = scratch(&format!("strace-{name}"));
        let dispatch = dir.join("dispatch");
        let log = dir.join("strace.log");
        let input = [getinfo_in(&args, &dispatch, sid), tail].concat();
        let mut cmd = Command::new(strace);
        cmd.args([
            "-f",
            "-qq",
            "-e",
            "trace=network,process,openat,creat,rename,unlink",
        ])
        .arg("-o")
        .arg(&log)
        .arg(bin())
        .current_dir(dir.join("cwd"))
        .env("HOME", dir.join("home"))
        .env("TZ", "UTC");
        let out = run_child(name, cmd, &input, Feed::All, false);
        assert_eq!(out.status.code(), Some(code), "{name}");
        let trace = std::fs::read_to_string(&log).unwrap();
        let calls: Vec<&str> = trace
            .lines()
            .filter_map(|l| l.split_whitespace().find(|t| t.contains('(')))
            .collect();
        let execs = calls.iter().filter(|c| c.starts_with("execve(")).count();
        assert_eq!(
            execs, 1,
            "{name}: only the binary itself is executed:\n{trace}"
        );
        for bad in ["socket(", "connect(", "sendto(", "bind(", "fork(", "vfork("] {
            assert!(
                !calls.iter().any(|c| c.starts_with(bad)),
                "{name}: {bad} in\n{trace}"
            );
        }
        // The helper threads of threads= are clones that share the process;
        // a clone that makes another process is not allowed.
        for line in trace.lines() {
            if line.contains("clone(") || line.contains("clone3(") {
                assert!(
                    line.contains("CLONE_THREAD"),
                    "{name}: a clone that is no thread: {line}"
                );
            }
        }
        // Files opened for writing: only recordings in the dispatch directory.
        for line in trace.lines() {
            let writes = ["O_WRONLY", "O_RDWR", "O_CREAT"]
                .iter()
                .any(|f| line.contains(f));
            if line.contains("openat(") && writes {
                assert!(
                    line.contains(&*dispatch.to_string_lossy())
                        && args.contains(&"record=t")
                        && !sid.starts_with("searchparsetmp_"),
                    "{name}: unexpected write: {line}"
                );
            }
            assert!(
                !line.contains("rename(") && !line.contains("unlink("),
                "{name}: {line}"
            );
        }
    }
}
