//! Deployment emulation: knowledge-bundle replication (Splunk's default allow/deny lists plus the app's distsearch.conf), splunkd's platform lookup and the `filename` rule, per deployment kind and tier, then a protocol run of every resolved binary (aarch64 under qemu, Windows under wine).
//!
//! What is modelled, from PACKAGING.md §3.1 and §6b (commands.conf.spec, distsearch.conf.spec,
//! Splunk 9.0's `system/default/distsearch.conf`):
//! - a search head runs the installed app; an indexer runs what the knowledge bundle carries:
//!   the files under `apps/<app>/` matching an allow-list entry and no deny-list entry, in
//!   Splunk's pattern syntax (`...` any number of folders, `*` anything but `/`, the rest a
//!   regex). Splunk 9.x reads `[replicationAllowlist]`/`[replicationDenylist]`, 8.x only
//!   `[replicationWhitelist]`/`[replicationBlacklist]`; each is emulated as its own version;
//! - splunkd looks the program up in `<PLATFORM>/bin/` (linux_x86_64, windows_x86_64, ...; Linux
//!   aarch64 has none) and then `bin/`; with `filename` it looks for that name only, without it
//!   for the stanza name plus each of `.py .pl .exe .bat .cmd .sh .js` or no extension. The order
//!   of that search (folder first or extension first) is not documented, so both are run and
//!   must agree.
//!
//! Not modelled, because no document says: whether the execute bit survives replication (the
//! table shows the packaged bit), and whether a peer would rather run its own `etc/apps` copy.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fancy_regex::Regex;
use serde_json::Value;

use regsvcsdetect::command::COMMAND;

use crate::util::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---------------------------------------------------------------------------------------------
// Splunk's replication patterns and lists.

/// A replication pattern in Splunk's syntax as an anchored regex: `...` = any number of folders
/// (`.*`), `*` = anything but a folder separator (`[^/]*`), everything else is regex text as
/// written (so `(?!pdfserver)` stays a lookahead and `.` matches any character).
fn splunk_pattern_to_regex(pattern: &str) -> String {
    let mut out = String::from("^(?:");
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("...") {
            out.push_str(".*");
            rest = after;
        } else {
            if c == '*' {
                out.push_str("[^/]*");
            } else {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push_str(")$");
    out
}

fn compile(pattern: &str) -> Regex {
    Regex::new(&splunk_pattern_to_regex(pattern))
        .unwrap_or_else(|e| panic!("pattern {pattern:?} does not convert to a regex: {e}"))
}

/// Splunk 9.0's default `[replicationAllowlist]` (8.x `[replicationWhitelist]`).
const DEFAULT_ALLOW: [(&str, &str); 4] = [
    (
        "refine.conf",
        "(system|(apps/*)|users(/_reserved)?/*/*)/(default|local)/*.conf",
    ),
    (
        "refine.metadata",
        "(system|(apps/*)|users(/_reserved)?/*/*)/metadata/*.meta",
    ),
    (
        "other",
        "(system|(apps/(?!pdfserver)*)|users(/_reserved)?/*/*)/(bin|lookups)/...",
    ),
    ("kvstore", "kvstore_*/..."),
];

/// 8.x's allow list has one more entry.
const DEFAULT_ALLOW_8X_EXTRA: (&str, &str) = ("searchscripts", "searchscripts/...");

/// Splunk 9.0's default `[replicationDenylist]` (8.x `[replicationBlacklist]`).
const DEFAULT_DENY: [(&str, &str); 5] = [
    (
        "lookupindexfiles",
        "(system|apps/*|users(/_reserved)?/*/*)/lookups/*.(tmp$|index($|/...))",
    ),
    ("sampleapp", "apps/sample_app/..."),
    ("conf", "(system|(apps/*))/(default|local)/server.conf"),
    (
        "user_specific_meta",
        "users(/_reserved)?/*/*/metadata/local.meta",
    ),
    ("framework", "apps/framework/..."),
];

/// The Splunk version whose stanza names and defaults are emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Splunk {
    V9,
    V8,
}

impl Splunk {
    const ALL: [Splunk; 2] = [Splunk::V9, Splunk::V8];

    fn name(self) -> &'static str {
        match self {
            Splunk::V9 => "9.x",
            Splunk::V8 => "8.x",
        }
    }

    fn stanzas(self) -> (&'static str, &'static str) {
        match self {
            Splunk::V9 => ("replicationAllowlist", "replicationDenylist"),
            Splunk::V8 => ("replicationWhitelist", "replicationBlacklist"),
        }
    }
}

/// Stanza -> key -> value of a .conf text (comments and blank lines skipped).
type Conf = BTreeMap<String, BTreeMap<String, String>>;

fn parse_conf(text: &str) -> Conf {
    let mut conf = Conf::new();
    let mut stanza = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            stanza = name.to_string();
            conf.entry(stanza.clone()).or_default();
        } else if let Some((k, v)) = line.split_once('=') {
            conf.entry(stanza.clone())
                .or_default()
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    conf
}

/// The effective allow and deny lists of one Splunk version: the system defaults, then the
/// app's `default/distsearch.conf` entries under the stanza names that version reads (an app
/// key of the same name replaces the default's).
fn replication_lists(splunk: Splunk, app_distsearch: Option<&str>) -> (Vec<Regex>, Vec<Regex>) {
    let mut allow: BTreeMap<String, String> = DEFAULT_ALLOW
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if splunk == Splunk::V8 {
        let (k, v) = DEFAULT_ALLOW_8X_EXTRA;
        allow.insert(k.to_string(), v.to_string());
    }
    let mut deny: BTreeMap<String, String> = DEFAULT_DENY
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(text) = app_distsearch {
        let conf = parse_conf(text);
        let (allow_name, deny_name) = splunk.stanzas();
        for (name, list) in [(allow_name, &mut allow), (deny_name, &mut deny)] {
            if let Some(entries) = conf.get(name) {
                list.extend(entries.clone());
            }
        }
    }
    let compile_all = |m: BTreeMap<String, String>| m.values().map(|p| compile(p)).collect();
    (compile_all(allow), compile_all(deny))
}

/// The app files (paths relative to the app folder) that the knowledge bundle carries.
fn bundle(files: &Files, splunk: Splunk) -> Files {
    let distsearch = files
        .get("default/distsearch.conf")
        .and_then(|f| f.text.as_deref());
    let (allow, deny) = replication_lists(splunk, distsearch);
    let hit = |list: &[Regex], path: &str| list.iter().any(|r| r.is_match(path).unwrap_or(false));
    files
        .iter()
        .filter(|(rel, _)| {
            let path = format!("apps/{APP_ID}/{rel}");
            hit(&allow, &path) && !hit(&deny, &path)
        })
        .map(|(rel, f)| (rel.clone(), f.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Files, their machine, and splunkd's lookup.

/// What an executable's header says it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Machine {
    ElfX86_64,
    ElfAarch64,
    PeX86_64,
    Other,
}

impl Machine {
    fn of(bytes: &[u8]) -> Machine {
        let u16_at = |at: usize| {
            bytes
                .get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        if bytes.starts_with(b"\x7fELF") {
            return match u16_at(18) {
                Some(62) => Machine::ElfX86_64,
                Some(183) => Machine::ElfAarch64,
                _ => Machine::Other,
            };
        }
        if bytes.starts_with(b"MZ") {
            let pe = bytes
                .get(0x3c..0x40)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            if let Some(pe) = pe {
                if bytes.get(pe..pe + 4) == Some(b"PE\0\0") && u16_at(pe + 4) == Some(0x8664) {
                    return Machine::PeX86_64;
                }
            }
        }
        Machine::Other
    }

    fn describe(self) -> &'static str {
        match self {
            Machine::ElfX86_64 => "ELF EM_X86_64 (62)",
            Machine::ElfAarch64 => "ELF EM_AARCH64 (183)",
            Machine::PeX86_64 => "PE AMD64 (0x8664)",
            Machine::Other => "not an x86_64/aarch64 ELF or PE",
        }
    }
}

/// One file of the app.
#[derive(Debug, Clone)]
struct File {
    machine: Machine,
    exec: bool,
    /// The contents of .conf files, for commands.conf and distsearch.conf.
    text: Option<String>,
    /// Where it is on disk (None for the synthetic layouts of the unit tests).
    path: Option<PathBuf>,
}

type Files = BTreeMap<String, File>;

/// Every file under an extracted app folder.
fn read_app(dir: &Path) -> Files {
    fn walk(dir: &Path, base: &Path, out: &mut Files) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
                continue;
            }
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            let text = rel
                .ends_with(".conf")
                .then(|| String::from_utf8(bytes.clone()).unwrap());
            out.insert(
                rel,
                File {
                    machine: Machine::of(&bytes),
                    exec: mode & 0o111 != 0,
                    text,
                    path: Some(path),
                },
            );
        }
    }
    let mut files = Files::new();
    walk(dir, dir, &mut files);
    files
}

/// A host that runs splunkd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    LinuxX86_64,
    LinuxAarch64,
    WindowsX86_64,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::LinuxX86_64 => "Linux x86_64",
            Host::LinuxAarch64 => "Linux aarch64",
            Host::WindowsX86_64 => "Windows x86_64",
        }
    }

    /// commands.conf.spec's platform folder (there is none for aarch64).
    fn platform_dir(self) -> Option<&'static str> {
        match self {
            Host::LinuxX86_64 => Some("linux_x86_64"),
            Host::LinuxAarch64 => None,
            Host::WindowsX86_64 => Some("windows_x86_64"),
        }
    }

    /// Whether this host can execute the file.
    fn runs(self, file: &File) -> bool {
        match self {
            Host::LinuxX86_64 => file.machine == Machine::ElfX86_64 && file.exec,
            Host::LinuxAarch64 => file.machine == Machine::ElfAarch64 && file.exec,
            Host::WindowsX86_64 => file.machine == Machine::PeX86_64,
        }
    }
}

/// Extensions splunkd tries for a chunked stanza without `filename`.
const EXTENSIONS: [&str; 8] = [".py", ".pl", ".exe", ".bat", ".cmd", ".sh", ".js", ""];

/// The order of the lookup without `filename`, which the spec leaves open.
#[derive(Debug, Clone, Copy)]
enum Order {
    FolderFirst,
    ExtensionFirst,
}

/// The file splunkd would execute for the command on `host` from `files`.
fn resolve(files: &Files, host: Host, order: Order) -> Option<String> {
    let commands = files
        .get("default/commands.conf")
        .and_then(|f| f.text.as_deref())
        .map(parse_conf)?;
    let stanza = commands.get(COMMAND)?;
    let names: Vec<String> = match stanza.get("filename") {
        Some(name) => vec![name.clone()],
        None => EXTENSIONS.iter().map(|e| format!("{COMMAND}{e}")).collect(),
    };
    let dirs: Vec<String> = host
        .platform_dir()
        .map(|p| format!("{p}/bin"))
        .into_iter()
        .chain(["bin".to_string()])
        .collect();
    let mut candidates = Vec::new();
    match order {
        Order::FolderFirst => {
            for d in &dirs {
                for n in &names {
                    candidates.push(format!("{d}/{n}"));
                }
            }
        }
        Order::ExtensionFirst => {
            for n in &names {
                for d in &dirs {
                    candidates.push(format!("{d}/{n}"));
                }
            }
        }
    }
    candidates.into_iter().find(|c| files.contains_key(c))
}

/// A deployment kind: where its search heads and its indexers run.
struct Kind {
    name: &'static str,
    search_head: Host,
    indexer: Host,
    /// One of the four kinds the packages must serve (the others are shown for information).
    required: bool,
}

const KINDS: [Kind; 6] = [
    Kind {
        name: "on-prem x86_64",
        search_head: Host::LinuxX86_64,
        indexer: Host::LinuxX86_64,
        required: true,
    },
    Kind {
        name: "Splunk Cloud",
        search_head: Host::LinuxX86_64,
        indexer: Host::LinuxAarch64,
        required: true,
    },
    Kind {
        name: "on-prem aarch64",
        search_head: Host::LinuxAarch64,
        indexer: Host::LinuxAarch64,
        required: true,
    },
    Kind {
        name: "Windows Server x86_64",
        search_head: Host::WindowsX86_64,
        indexer: Host::WindowsX86_64,
        required: true,
    },
    Kind {
        name: "mixed: Windows SH, Linux x86_64 idx",
        search_head: Host::WindowsX86_64,
        indexer: Host::LinuxX86_64,
        required: false,
    },
    Kind {
        name: "mixed: Linux x86_64 SH, Windows idx",
        search_head: Host::LinuxX86_64,
        indexer: Host::WindowsX86_64,
        required: false,
    },
];

/// What one tier of one kind would execute.
#[derive(Debug, Clone)]
struct Resolution {
    tier: &'static str,
    host: Host,
    file: Option<String>,
    runnable: bool,
}

/// Resolves both tiers of a kind for one Splunk version, checking that both lookup orders agree.
fn resolve_kind(app: &Files, kind: &Kind, splunk: Splunk) -> [Resolution; 2] {
    let replicated = bundle(app, splunk);
    let tier = |tier: &'static str, files: &Files, host: Host| {
        let file = resolve(files, host, Order::FolderFirst);
        assert_eq!(
            file,
            resolve(files, host, Order::ExtensionFirst),
            "{} {tier} on Splunk {}: the result depends on the undocumented lookup order",
            kind.name,
            splunk.name()
        );
        let runnable = file
            .as_ref()
            .and_then(|f| files.get(f))
            .is_some_and(|f| host.runs(f));
        Resolution {
            tier,
            host,
            file,
            runnable,
        }
    };
    [
        tier("search head", app, kind.search_head),
        tier("indexer", &replicated, kind.indexer),
    ]
}

// ---------------------------------------------------------------------------------------------
// Unit tests of the emulation itself, on the repository's app and synthetic layouts.

#[test]
fn splunk_patterns_convert_to_regexes_with_their_documented_meaning() {
    let m = |pattern: &str, path: &str| compile(pattern).is_match(path).unwrap();
    assert_eq!(splunk_pattern_to_regex("a/*/b/..."), "^(?:a/[^/]*/b/.*)$");
    // `*` stays within one folder, `...` crosses any number.
    assert!(m("apps/*/bin/...", "apps/X/bin/regsvcsdetect"));
    assert!(m("apps/*/bin/...", "apps/X/bin/sub/dir/file"));
    assert!(!m(
        "apps/*/bin/...",
        "apps/X/linux_x86_64/bin/regsvcsdetect"
    ));
    assert!(!m("apps/*/bin/...", "apps/X/Y/bin/file"));
    // Anchored at both ends.
    assert!(!m("apps/*/bin/...", "etc/apps/X/bin/file"));
    assert!(!m("apps/*/default/*.conf", "apps/X/default/a.conf.bak"));
    // The rest is a regex: alternation, optional groups, the lookahead, `$` inside a group.
    let other = DEFAULT_ALLOW[2].1;
    assert!(m(other, "apps/SA_x/bin/tool"));
    assert!(m(other, "system/lookups/a.csv"));
    assert!(m(other, "users/_reserved/u/app/bin/x"));
    assert!(!m(other, "apps/pdfserver/bin/tool"), "(?!pdfserver)");
    assert!(!m(other, "apps/pdfserverx/bin/tool"), "a prefix lookahead");
    let index = DEFAULT_DENY[0].1;
    assert!(m(index, "apps/X/lookups/big.csv.index"));
    assert!(m(index, "apps/X/lookups/big.csv.index/part1"));
    assert!(m(index, "apps/X/lookups/a.tmp"));
    assert!(!m(index, "apps/X/lookups/a.csv"));
    // `.` is a regex dot, as in Splunk.
    assert!(m("apps/*/default/*.conf", "apps/X/default/commandsxconf"));
}

/// A synthetic app: the given binaries plus a commands.conf and an optional distsearch.conf.
fn synthetic_app(filename: bool, distsearch: Option<&str>, binaries: &[(&str, Machine)]) -> Files {
    let mut files = Files::new();
    let commands = if filename {
        format!("[{COMMAND}]\nfilename = {COMMAND}\nchunked = true\n")
    } else {
        format!("[{COMMAND}]\nchunked = true\n")
    };
    let conf = |text: String| File {
        machine: Machine::Other,
        exec: false,
        text: Some(text),
        path: None,
    };
    files.insert("default/commands.conf".into(), conf(commands));
    if let Some(d) = distsearch {
        files.insert("default/distsearch.conf".into(), conf(d.to_string()));
    }
    for (rel, machine) in binaries {
        files.insert(
            rel.to_string(),
            File {
                machine: *machine,
                exec: true,
                text: None,
                path: None,
            },
        );
    }
    files
}

fn repo_distsearch() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("splunk_app")
            .join(APP_ID)
            .join("default/distsearch.conf"),
    )
    .unwrap()
}

const LINUX_LAYOUT: [(&str, Machine); 2] = [
    ("linux_x86_64/bin/regsvcsdetect", Machine::ElfX86_64),
    ("bin/regsvcsdetect", Machine::ElfAarch64),
];

#[test]
fn without_the_apps_allow_list_an_x86_64_indexer_gets_the_aarch64_build() {
    // The layout before distsearch.conf: the search head is fine, the indexer is not.
    let app = synthetic_app(true, None, &LINUX_LAYOUT);
    for splunk in Splunk::ALL {
        let [sh, idx] = resolve_kind(&app, &KINDS[0], splunk);
        assert!(sh.runnable, "{sh:?}");
        assert_eq!(idx.file.as_deref(), Some("bin/regsvcsdetect"));
        assert!(!idx.runnable, "Splunk {}: {idx:?}", splunk.name());
    }
    // The commands.conf travels in the bundle by default; the platform folder does not.
    let replicated = bundle(&app, Splunk::V9);
    assert!(replicated.contains_key("default/commands.conf"));
    assert!(!replicated.contains_key("linux_x86_64/bin/regsvcsdetect"));
}

#[test]
fn the_apps_allow_list_works_only_under_the_stanza_name_each_version_reads() {
    let full = repo_distsearch();
    let app = synthetic_app(true, Some(&full), &LINUX_LAYOUT);
    for splunk in Splunk::ALL {
        let [_, idx] = resolve_kind(&app, &KINDS[0], splunk);
        assert_eq!(idx.file.as_deref(), Some("linux_x86_64/bin/regsvcsdetect"));
        assert!(idx.runnable, "Splunk {}", splunk.name());
    }
    // Each stanza alone serves only its own version.
    for (keep, serves) in [
        ("[replicationAllowlist]", Splunk::V9),
        ("[replicationWhitelist]", Splunk::V8),
    ] {
        let mut text = String::new();
        let mut on = false;
        for line in full.lines() {
            if line.starts_with('[') {
                on = line == keep;
            }
            if on {
                text.push_str(line);
                text.push('\n');
            }
        }
        assert!(
            text.contains("linux_x86_64"),
            "{keep} is in distsearch.conf"
        );
        let app = synthetic_app(true, Some(&text), &LINUX_LAYOUT);
        for splunk in Splunk::ALL {
            let [_, idx] = resolve_kind(&app, &KINDS[0], splunk);
            assert_eq!(
                idx.runnable,
                splunk == serves,
                "{keep} on {}",
                splunk.name()
            );
        }
    }
}

#[test]
fn filename_hides_the_windows_build_and_an_exe_in_bin_would_shadow_aarch64() {
    let windows = [
        ("windows_x86_64/bin/regsvcsdetect.exe", Machine::PeX86_64),
        LINUX_LAYOUT[0],
        LINUX_LAYOUT[1],
    ];
    let d = repo_distsearch();
    // With filename, Windows looks for windows_x86_64/bin/regsvcsdetect and bin/regsvcsdetect:
    // it finds the aarch64 ELF.
    let with = synthetic_app(true, Some(&d), &windows);
    let [sh, _] = resolve_kind(&with, &KINDS[3], Splunk::V9);
    assert_eq!(sh.file.as_deref(), Some("bin/regsvcsdetect"));
    assert!(!sh.runnable);
    // Without it every kind resolves its own build.
    let without = synthetic_app(false, Some(&d), &windows);
    for kind in &KINDS {
        for r in resolve_kind(&without, kind, Splunk::V9) {
            assert!(r.runnable, "{}: {r:?}", kind.name);
        }
    }
    // An .exe in bin/ comes before the extension-less aarch64 build on an aarch64 host.
    let shadow = synthetic_app(
        false,
        Some(&d),
        &[
            ("bin/regsvcsdetect.exe", Machine::PeX86_64),
            LINUX_LAYOUT[0],
            LINUX_LAYOUT[1],
        ],
    );
    let replicated = bundle(&shadow, Splunk::V9);
    for order in [Order::FolderFirst, Order::ExtensionFirst] {
        let file = resolve(&replicated, Host::LinuxAarch64, order);
        assert_eq!(file.as_deref(), Some("bin/regsvcsdetect.exe"), "{order:?}");
        assert!(!Host::LinuxAarch64.runs(&replicated[&file.unwrap()]));
    }
    // And on x86_64 Linux the answer would hang on the undocumented lookup order.
    assert_ne!(
        resolve(&shadow, Host::LinuxX86_64, Order::FolderFirst),
        resolve(&shadow, Host::LinuxX86_64, Order::ExtensionFirst)
    );
}

#[test]
fn machine_detection_reads_elf_and_pe_headers() {
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[18] = 183;
    assert_eq!(Machine::of(&elf), Machine::ElfAarch64);
    elf[18] = 62;
    assert_eq!(Machine::of(&elf), Machine::ElfX86_64);
    elf[18] = 3;
    assert_eq!(Machine::of(&elf), Machine::Other);
    let mut pe = vec![0u8; 0x90];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    assert_eq!(Machine::of(&pe), Machine::PeX86_64);
    pe[0x84..0x86].copy_from_slice(&0x014cu16.to_le_bytes());
    assert_eq!(Machine::of(&pe), Machine::Other);
    assert_eq!(Machine::of(b"#!/bin/sh\n"), Machine::Other);
}

// ---------------------------------------------------------------------------------------------
// The built packages.

/// The packages `make package` builds, each extracted once: (package file name, app folder).
fn packages() -> Vec<(String, PathBuf)> {
    ["", "-with-windows"]
        .into_iter()
        .map(|suffix| {
            let (tgz, app) = extract_package(suffix, &format!("deploy{suffix}"));
            let name = tgz.file_name().unwrap().to_string_lossy().into_owned();
            (name, app)
        })
        .collect()
}

/// Runs a program the way its machine needs: natively, under qemu or under wine.
struct Runner {
    qemu: PathBuf,
    wine: PathBuf,
    wineserver: Option<PathBuf>,
    prefix: PathBuf,
    /// A folder holding the stub DLL, where each .exe is copied before it runs.
    wine_dir: PathBuf,
}

impl Runner {
    fn new() -> Runner {
        let qemu = find_program(&["qemu-aarch64-static", "qemu-aarch64"])
            .expect("qemu-aarch64-static is installed (make qemu-deps)");
        let wine = find_program(&["/usr/lib/wine/wine64", "wine64", "wine"])
            .expect("wine64 is installed (make wine-deps)");
        let wineserver = find_program(&["/usr/lib/wine/wineserver", "wineserver"]);
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy-wine");
        let _ = std::fs::remove_dir_all(&tmp);
        let (prefix, wine_dir) = (tmp.join("prefix"), tmp.join("run"));
        std::fs::create_dir_all(&wine_dir).unwrap();
        // Debian's wine 8 lacks bcryptprimitives.dll (ProcessPrng), which Rust's std imports;
        // a real Windows has it. The stub sits beside the test's copy of the .exe only.
        let stub =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/bcryptprimitives_stub.c");
        let out = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "-o"])
            .arg(wine_dir.join("bcryptprimitives.dll"))
            .arg(&stub)
            .arg("-ladvapi32")
            .output()
            .expect("x86_64-w64-mingw32-gcc is installed (make cross-deps)");
        assert!(
            out.status.success(),
            "the ProcessPrng stub builds: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Runner {
            qemu,
            wine,
            wineserver,
            prefix,
            wine_dir,
        }
    }

    fn run(&self, file: &Path, machine: Machine, input: &[u8]) -> Vec<u8> {
        let mut cmd = match machine {
            // The test machine is x86_64 Linux: this build runs natively.
            Machine::ElfX86_64 => Command::new(file),
            Machine::ElfAarch64 => {
                let mut c = Command::new(&self.qemu);
                c.arg(file);
                c
            }
            Machine::PeX86_64 => {
                let copy = self.wine_dir.join(file.file_name().unwrap());
                std::fs::copy(file, &copy).unwrap();
                let mut c = Command::new(&self.wine);
                c.arg(&copy)
                    .env("WINEPREFIX", &self.prefix)
                    .env("WINEDEBUG", "-all")
                    .env("WINEDLLOVERRIDES", "mscoree,mshtml=");
                c
            }
            Machine::Other => panic!("{} has no runner", file.display()),
        };
        cmd.env("TZ", "UTC");
        let name = file.display().to_string();
        let out = run_child_within(&name, cmd, input, Feed::All, false, WINE_WATCHDOG);
        assert!(
            out.status.success(),
            "{} ({}) exits 0: {}",
            file.display(),
            machine.describe(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// How long one packaged build may take to answer a session: wine builds
/// its prefix on first start and qemu emulates, so far past `util::WATCHDOG`.
const WINE_WATCHDOG: Duration = Duration::from_secs(300);

impl Drop for Runner {
    fn drop(&mut self) {
        // Stop the wineserver this prefix started, so no process outlives the test.
        if let Some(ws) = &self.wineserver {
            let _ = Command::new(ws)
                .arg("-k")
                .env("WINEPREFIX", &self.prefix)
                .status();
        }
        // The prefix and the copies are temporary.
        if let Some(tmp) = self.prefix.parent() {
            let _ = std::fs::remove_dir_all(tmp);
        }
    }
}

/// The indexer's map-phase session and the search head's reduce session over its output, both
/// with `tz=UTC` so every build's replies can be compared byte for byte.
fn sessions() -> (Vec<u8>, Vec<u8>) {
    let body = format!(
        "{NETWORK_HEADER}\n{}{}{}",
        network_row(&[]),
        network_row(&[("_time", "1700000300")]),
        network_row(&[("dest_ip", "10.1.1.1")])
    );
    let map = [
        getinfo(&["mode=network", "tz=UTC", "phase=map"]),
        execute(body.as_bytes(), true),
    ]
    .concat();
    let partials = parse_chunks(&run(&map).stdout)
        .last()
        .expect("a map reply")
        .body
        .clone();
    let reduce = [
        getinfo(&["mode=network", "tz=UTC"]),
        execute(&partials, true),
    ]
    .concat();
    (map, reduce)
}

fn check_getinfo(reply: &Value, tier: &str) {
    let fields: Vec<&str> = reply["required_fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{tier}: no required_fields in {reply}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(fields.contains(&"dest_ip"), "{tier}: {fields:?}");
    assert!(!fields.contains(&"_raw"), "{tier}: {fields:?}");
    assert_eq!(reply["run_in_preview"], false, "{tier}");
}

#[test]
#[ignore = "needs `make package` (both packages in dist/), qemu-aarch64-static, wine64 and mingw-w64: make check-packages"]
fn every_deployment_kind_runs_a_binary_of_its_own_machine_on_both_tiers() {
    let packages = packages();
    let runner = Runner::new();
    let (map_session, reduce_session) = sessions();
    let native_map = run(&map_session).stdout;
    let native_reduce = run(&reduce_session).stdout;
    check_getinfo(&parse_chunks(&native_map)[0].meta, "map");
    check_getinfo(&parse_chunks(&native_reduce)[0].meta, "reduce");
    assert_eq!(
        parse_chunks(&native_reduce).last().unwrap().table().1.len(),
        1,
        "the reduce merges the map's partial rows into one group"
    );

    let mut served: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut ran: BTreeSet<(String, String)> = BTreeSet::new();
    eprintln!(
        "\n{:<13} {:<6} {:<36} {:<12} {:<15} {:<38} {:<22} {:<4} runs",
        "package", "splunk", "kind", "tier", "host", "file splunkd executes", "machine", "+x"
    );
    for (name, dir) in &packages {
        let app = read_app(dir);
        let short = name
            .trim_start_matches(&format!("{APP_ID}-{VERSION}"))
            .trim_end_matches(".tgz");
        let short = if short.is_empty() {
            "(linux/cloud)"
        } else {
            short.trim_start_matches('-')
        };
        for kind in &KINDS {
            let mut both_versions = true;
            for splunk in Splunk::ALL {
                let resolutions = resolve_kind(&app, kind, splunk);
                let replicated = bundle(&app, splunk);
                for r in &resolutions {
                    let files = if r.tier == "indexer" {
                        &replicated
                    } else {
                        &app
                    };
                    let file = r.file.as_ref().and_then(|f| files.get(f));
                    eprintln!(
                        "{:<13} {:<6} {:<36} {:<12} {:<15} {:<38} {:<22} {:<4} {}",
                        short,
                        splunk.name(),
                        kind.name,
                        r.tier,
                        r.host.name(),
                        r.file.as_deref().unwrap_or("(nothing found)"),
                        file.map_or("-", |f| f.machine.describe()),
                        file.map_or("-", |f| if f.exec { "yes" } else { "no" }),
                        if r.runnable { "yes" } else { "NO" }
                    );
                    if !r.runnable {
                        both_versions = false;
                        continue;
                    }
                    let f = file.unwrap();
                    let path = f.path.as_ref().unwrap();
                    let rel = r.file.clone().unwrap();
                    let (session, native) = if r.tier == "indexer" {
                        (&map_session, &native_map)
                    } else {
                        (&reduce_session, &native_reduce)
                    };
                    if ran.insert((name.clone(), format!("{rel} {}", r.tier))) {
                        let out = runner.run(path, f.machine, session);
                        let replies = parse_chunks(&out);
                        check_getinfo(&replies[0].meta, r.tier);
                        assert_eq!(
                            &out,
                            native,
                            "{name}: {rel} ({}) answers the {} session byte for byte as the Linux build",
                            f.machine.describe(),
                            r.tier
                        );
                    }
                }
            }
            if both_versions {
                served
                    .entry(kind.name)
                    .or_default()
                    .insert(short.to_string());
            }
        }
    }
    eprintln!("\nran (package, file, session): {}", ran.len());
    for (kind, pkgs) in &served {
        eprintln!(
            "served: {kind:<36} by {}",
            pkgs.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    // Every required kind is served by some package, on both Splunk versions.
    for kind in KINDS.iter().filter(|k| k.required) {
        assert!(
            served.contains_key(kind.name),
            "no package serves {}",
            kind.name
        );
    }
    // And each package serves exactly what README.md "Deploy" says.
    let by = |pkg: &str| -> BTreeSet<&str> {
        served
            .iter()
            .filter(|(_, p)| p.contains(pkg))
            .map(|(k, _)| *k)
            .collect()
    };
    assert_eq!(
        by("(linux/cloud)"),
        BTreeSet::from(["on-prem x86_64", "Splunk Cloud", "on-prem aarch64"])
    );
    assert_eq!(
        by("with-windows"),
        KINDS.iter().map(|k| k.name).collect::<BTreeSet<_>>()
    );
    // Each of the three builds ran on both sessions: x86_64, aarch64 and Windows.
    assert!(ran.len() >= 6, "{ran:?}");
}
