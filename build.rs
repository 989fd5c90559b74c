//! Stamps the git commit into the binary for `--version` (never fails for that), and fails the
//! build when the Splunk app's versions drift from Cargo.toml's, the one version source.

use std::path::Path;
use std::process::Command;

/// The Splunk app, relative to the crate root.
const APP: &str = "splunk_app/SA_regsvcsdetect";

fn main() {
    // In a git worktree `.git` is a file, so ask git where HEAD and refs live; a path that
    // does not exist would make cargo rerun this script, and rebuild the crate, every time.
    let git_path = |arg: &str| {
        Command::new("git")
            .args(["rev-parse", arg])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    let git_dir = git_path("--git-dir").unwrap_or_else(|| ".git".to_string());
    let common_dir = git_path("--git-common-dir").unwrap_or_else(|| git_dir.clone());
    for watched in [
        format!("{git_dir}/HEAD"),
        format!("{common_dir}/refs"),
        format!("{common_dir}/packed-refs"),
    ] {
        if Path::new(&watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    let hash = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    match hash {
        Some(h) => println!("cargo:rustc-env=REGSVCSDETECT_GIT_HASH={}", h.trim()),
        None => println!("cargo:warning=git is not available; --version will not name a commit"),
    }

    let version = env!("CARGO_PKG_VERSION");
    let app_conf = format!("{APP}/default/app.conf");
    let manifest = format!("{APP}/app.manifest");
    println!("cargo:rerun-if-changed={app_conf}");
    println!("cargo:rerun-if-changed={manifest}");
    if !Path::new(&app_conf).exists() {
        // Built outside the repository (no Splunk app beside the crate): nothing to compare.
        println!("cargo:warning={app_conf} is absent; the Splunk app's version is not checked");
        return;
    }
    let problems = app_version_problems(version, &app_conf, &manifest);
    if !problems.is_empty() {
        eprintln!("error: the Splunk app's version does not match Cargo.toml's version {version}:");
        for p in &problems {
            eprintln!("  - {p}");
        }
        eprintln!(
            "Cargo.toml is the one version source: set [launcher] version, [id] version and \
             [install] build in {app_conf}, and info.id.version in {manifest}, to the values above."
        );
        std::process::exit(1);
    }
}

/// `[install] build` for a version: major * 1_000_000 + minor * 1_000 + patch (pre-release and
/// build suffixes ignored), so every release gets a new, increasing build number.
fn build_number(version: &str) -> Option<u64> {
    let core = version.split(['-', '+']).next()?;
    let parts: Vec<u64> = core
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match parts[..] {
        [major, minor, patch] if minor < 1000 && patch < 1000 => {
            Some(major * 1_000_000 + minor * 1_000 + patch)
        }
        _ => None,
    }
}

/// Every mismatch between Cargo's version and the app's version fields.
fn app_version_problems(version: &str, app_conf: &str, manifest: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let conf = match std::fs::read_to_string(app_conf) {
        Ok(text) => text,
        Err(e) => return vec![format!("cannot read {app_conf}: {e}")],
    };
    let mut expect = |stanza: &str, key: &str, want: &str| match conf_value(&conf, stanza, key) {
        Some(v) if v == want => {}
        Some(v) => problems.push(format!(
            "{app_conf} [{stanza}] {key} is {v}, expected {want}"
        )),
        None => problems.push(format!(
            "{app_conf} has no [{stanza}] {key}, expected {want}"
        )),
    };
    expect("launcher", "version", version);
    expect("id", "version", version);
    match build_number(version) {
        Some(n) => expect("install", "build", &n.to_string()),
        None => problems.push(format!(
            "Cargo version {version} is not MAJOR.MINOR.PATCH with MINOR and PATCH below 1000"
        )),
    }
    let found = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {manifest}: {e}"))
        .and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| format!("{manifest} is not valid JSON: {e}"))
        })
        .and_then(|json| {
            json.pointer("/info/id/version")
                .and_then(|v| v.as_str())
                .map(String::from)
                .ok_or_else(|| format!("{manifest} has no info.id.version string"))
        });
    match found {
        Ok(v) if v == version => {}
        Ok(v) => problems.push(format!(
            "{manifest} info.id.version is {v}, expected {version}"
        )),
        Err(e) => problems.push(e),
    }
    problems
}

/// The value of `key` in `[stanza]` of a .conf text (no continuation lines needed here).
fn conf_value(text: &str, stanza: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            if current == stanza && k.trim() == key {
                found = Some(v.trim().to_string());
            }
        }
    }
    found
}
