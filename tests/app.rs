//! The Splunk app: every .conf parsed and checked against the code (options, detection names,
//! versions), and the packaged binaries (tar members, ELF machine, static linking, and a protocol
//! run of the aarch64 build under qemu). The package checks are `#[ignore]`d in a plain `make test`;
//! `make check-packages` (run by CI) builds the packages and runs them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use regsvcsdetect::command::COMMAND;
use regsvcsdetect::detect::{Binary, Mode};
use regsvcsdetect::options::{Options, OPTIONS};

use crate::util::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn app_dir() -> PathBuf {
    root().join("splunk_app").join(APP_ID)
}

// ---------------------------------------------------------------------------------------------
// A small .conf parser: stanzas, `key = value`, `#` comments on their own line, `\` continuations.

/// One stanza: its name and its entries (key, value, line number), in file order.
#[derive(Debug)]
struct Stanza {
    name: String,
    entries: Vec<(String, String, usize)>,
}

impl Stanza {
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _, _)| k.as_str())
    }
}

/// A parsed .conf file.
#[derive(Debug)]
struct Conf {
    stanzas: Vec<Stanza>,
}

impl Conf {
    fn stanza(&self, name: &str) -> Option<&Stanza> {
        self.stanzas.iter().find(|s| s.name == name)
    }

    fn get(&self, stanza: &str, key: &str) -> Option<&str> {
        self.stanza(stanza).and_then(|s| s.get(key))
    }
}

/// Parses .conf text the way splunkd reads it, reporting every problem Splunk or AppInspect
/// would reject: trailing whitespace after a `\` continuation, entries outside a stanza, lines
/// that are neither comment, stanza nor `key = value`, and duplicate stanzas or keys.
fn parse_conf(text: &str) -> Result<Conf, Vec<String>> {
    let mut errors = Vec::new();
    let mut stanzas: Vec<Stanza> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let mut logical = String::new();
        loop {
            let line = lines[i].strip_suffix('\r').unwrap_or(lines[i]);
            i += 1;
            if line.trim_end().ends_with('\\') && !line.ends_with('\\') {
                errors.push(format!(
                    "line {}: whitespace after the \\ continuation (the next line becomes an orphan)",
                    i
                ));
            }
            match line.strip_suffix('\\') {
                Some(head) if i < lines.len() => {
                    logical.push_str(head);
                    logical.push('\n');
                }
                _ => {
                    logical.push_str(line);
                    break;
                }
            }
        }
        let trimmed = logical.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            if stanzas.iter().any(|s| s.name == name) {
                errors.push(format!("line {start}: duplicate stanza [{name}]"));
            }
            stanzas.push(Stanza {
                name: name.to_string(),
                entries: Vec::new(),
            });
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            errors.push(format!(
                "line {start}: not a stanza, comment or key = value: {trimmed:?}"
            ));
            continue;
        };
        let key = key.trim().to_string();
        let Some(stanza) = stanzas.last_mut() else {
            errors.push(format!("line {start}: {key} is outside any stanza"));
            continue;
        };
        if stanza.get(&key).is_some() {
            errors.push(format!(
                "line {start}: duplicate key {key} in [{}]",
                stanza.name
            ));
        }
        stanza.entries.push((key, value.trim().to_string(), start));
    }
    if errors.is_empty() {
        Ok(Conf { stanzas })
    } else {
        Err(errors)
    }
}

fn conf(rel: &str) -> Conf {
    let path = app_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_conf(&text).unwrap_or_else(|errors| panic!("{rel}:\n  {}", errors.join("\n  ")))
}

/// Every .conf and .meta file the app ships.
fn conf_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["default", "metadata"] {
        for entry in std::fs::read_dir(app_dir().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".conf") || name.ends_with(".meta") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn parser_joins_continuations_and_reports_what_splunk_rejects() {
    let ok = parse_conf("# c\n[a]\nk = one \\\n  two\n\n[b]\nx=1\n").unwrap();
    assert_eq!(ok.get("a", "k"), Some("one \n  two"));
    assert_eq!(ok.get("b", "x"), Some("1"));
    let bad = parse_conf("[a]\nk = one \\ \n  two\n[a]\nx = 1\nx = 2\nnonsense\n").unwrap_err();
    assert!(
        bad.iter().any(|e| e.contains("whitespace after")),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|e| e.contains("duplicate stanza [a]")),
        "{bad:?}"
    );
    assert!(bad.iter().any(|e| e.contains("duplicate key x")), "{bad:?}");
    assert!(bad.iter().any(|e| e.contains("not a stanza")), "{bad:?}");
    assert!(parse_conf("k = v\n").is_err(), "a key outside a stanza");
}

#[test]
fn every_conf_file_parses_without_duplicates_or_broken_continuations() {
    let files = conf_files();
    for expected in [
        "default/app.conf",
        "default/commands.conf",
        "default/macros.conf",
        "default/savedsearches.conf",
        "default/searchbnf.conf",
        "metadata/default.meta",
    ] {
        assert!(
            files.contains(&expected.to_string()),
            "{expected} is missing"
        );
    }
    for f in &files {
        conf(f);
    }
}

#[test]
fn no_template_placeholders_are_left_in_the_app() {
    // `{name}`, `{{ x }}` and `%(name)s` are template leftovers; JSON values (`{"k": ...}`) are not.
    let placeholder =
        Regex::new(r"\{\{|\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}|%\([A-Za-z_]+\)").unwrap();
    let mut files = conf_files();
    files.extend(["app.manifest".to_string(), "README.md".to_string()]);
    for f in files {
        let text = std::fs::read_to_string(app_dir().join(&f)).unwrap();
        for (n, line) in text.lines().enumerate() {
            assert!(
                !placeholder.is_match(line),
                "{f}:{}: template placeholder in {line:?}",
                n + 1
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// commands.conf and searchbnf.conf against the code.

#[test]
fn commands_conf_declares_the_chunked_command_with_only_chunked_keys() {
    let commands = conf("default/commands.conf");
    let text = std::fs::read_to_string(app_dir().join("default/commands.conf")).unwrap();
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with('#') && first.contains("Search Commands Protocol version 2"),
        "the first line names the protocol: {first:?}"
    );
    let stanza = commands.stanza(COMMAND).expect("a [regsvcsdetect] stanza");
    assert_eq!(stanza.get("chunked"), Some("true"));
    assert_eq!(stanza.get("run_in_preview"), Some("false"));
    let binary = bin().file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(stanza.get("filename"), Some(binary.as_str()));
    // commands.conf.spec: the only settings valid with chunked = true.
    let allowed = [
        "is_risky",
        "maxwait",
        "maxchunksize",
        "filename",
        "python.version",
        "python.required",
        "run_in_preview",
        "chunked",
    ];
    let arg_n = Regex::new(r"^command\.arg\.[1-9][0-9]*$").unwrap();
    for s in &commands.stanzas {
        if s.get("chunked") == Some("true") {
            for key in s.keys() {
                assert!(
                    allowed.contains(&key) || arg_n.is_match(key),
                    "[{}] {key} is not valid with chunked = true",
                    s.name
                );
            }
        }
    }
}

/// The option arguments of `| regsvcsdetect ...` in an SPL string, up to the next pipe.
fn command_args(spl: &str) -> Vec<String> {
    let at = spl
        .find(&format!("| {COMMAND} "))
        .unwrap_or_else(|| panic!("no | {COMMAND} in {spl:?}"));
    spl[at + COMMAND.len() + 3..]
        .split('|')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn searchbnf_documents_every_option_with_valid_examples() {
    let bnf = conf("default/searchbnf.conf");
    let stanza = bnf
        .stanza(&format!("{COMMAND}-command"))
        .expect("a [regsvcsdetect-command] stanza");
    for key in [
        "syntax",
        "shortdesc",
        "description",
        "usage",
        "example1",
        "comment1",
    ] {
        assert!(
            stanza.get(key).is_some_and(|v| !v.is_empty()),
            "searchbnf has no {key}"
        );
    }
    assert_eq!(stanza.get("usage"), Some("public"));
    assert!(stanza.get("tags").is_some(), "searchbnf has no tags");
    let syntax = stanza.get("syntax").unwrap();
    let description = stanza.get("description").unwrap();
    for option in &OPTIONS {
        let keyword = format!("{}=", option.name.to_uppercase());
        assert!(
            syntax.contains(&keyword),
            "syntax does not name {keyword}: {syntax}"
        );
        assert!(
            description.contains(&format!("{}:", option.name.to_uppercase())),
            "description does not explain {}",
            option.name
        );
    }
    let mut examples = 0;
    for n in 1.. {
        let Some(example) = stanza.get(&format!("example{n}")) else {
            break;
        };
        examples += 1;
        assert!(
            stanza.get(&format!("comment{n}")).is_some(),
            "example{n} has no comment{n}"
        );
        let args = command_args(example);
        if let Err(errors) = Options::parse(&args) {
            panic!("example{n} has invalid options {args:?}: {errors:?}");
        }
    }
    assert!(
        examples >= 3,
        "searchbnf has {examples} examples, want at least 3"
    );
}

// ---------------------------------------------------------------------------------------------
// macros.conf and savedsearches.conf against the detections.

/// The ESCU filter-macro name of a detection: contentctl's rule (lowercase; space, `-`, `.` and
/// `/` become `_`), then `_filter`.
fn escu_filter_macro(detection: &str) -> String {
    let base: String = detection
        .chars()
        .map(|c| match c {
            ' ' | '-' | '.' | '/' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    format!("{base}_filter")
}

/// The app's own filter macro of a detection: ESCU's name behind the app's prefix.
fn filter_macro(detection: &str) -> String {
    format!("{MACRO_PREFIX}{}", escu_filter_macro(detection))
}

/// Every macro of the app starts with this, so none can shadow an ESCU (or other) macro.
const MACRO_PREFIX: &str = "regsvcsdetect_";

/// Macro names that ESCU (DA-ESS-ContentUpdate) defines among those the detections use, from
/// DETECTIONS.md §4; with the four filter names they must never be defined here.
const ESCU_MACROS: [&str; 8] = [
    "sysmon",
    "process_regsvcs",
    "process_regasm",
    "security_content_summariesonly",
    "security_content_ctime",
    "summariesonly_config",
    "oldsummaries_config",
    "fillnull_config",
];

fn detections() -> Vec<(Binary, Mode)> {
    let mut all = Vec::new();
    for b in [Binary::Regsvcs, Binary::Regasm] {
        for m in [Mode::Network, Mode::Noargs] {
            all.push((b, m));
        }
    }
    all
}

#[test]
fn filter_macro_names_follow_contentctl() {
    assert_eq!(
        escu_filter_macro(Binary::Regsvcs.detection(Mode::Network)),
        "detect_regsvcs_with_network_connection_filter"
    );
    assert_eq!(
        filter_macro(Binary::Regasm.detection(Mode::Noargs)),
        "regsvcsdetect_detect_regasm_with_no_command_line_arguments_filter"
    );
}

#[test]
fn no_macro_shares_a_name_with_escu_and_searches_need_no_escu_macro() {
    let macros = conf("default/macros.conf");
    let mut escu: Vec<String> = ESCU_MACROS.iter().map(|m| m.to_string()).collect();
    escu.extend(
        detections()
            .iter()
            .map(|(b, m)| escu_filter_macro(b.detection(*m))),
    );
    for (name, _) in macro_defs(&macros) {
        assert!(
            name.starts_with(MACRO_PREFIX),
            "[{name}] is exported system-wide without the {MACRO_PREFIX} prefix"
        );
        assert!(!escu.contains(&name), "[{name}] is an ESCU macro name");
    }
    // Every macro a saved search or the Search Assistant uses is this app's own (so the
    // searches run without ESCU); every_macro_used_by_a_search_or_macro_is_defined checks
    // that each one is defined.
    let saved = conf("default/savedsearches.conf");
    let bnf = conf("default/searchbnf.conf");
    let mut used = 0;
    for s in saved
        .stanzas
        .iter()
        .chain(&bnf.stanzas)
        .chain(&macros.stanzas)
    {
        for (k, v, _) in &s.entries {
            for (name, _) in macro_uses(v) {
                used += 1;
                assert!(
                    name.starts_with(MACRO_PREFIX),
                    "[{}] {k} uses `{name}`, which is not this app's",
                    s.name
                );
            }
        }
    }
    assert!(used > 10, "the macro scan found only {used} uses");
}

#[test]
fn descriptions_are_not_escu_sentences() {
    // ESCU's texts that earlier versions of the app repeated (DETECTIONS.md §4 and the
    // detections' YAML); the app says the same facts in its own words.
    let escu = [
        "Update this macro to limit the output results to filter out false positives",
        "customer specific splunk configurations",
        "Matches the process with its original file name",
        "search data model's summaries only",
        "convert epoch time to string",
        "The following analytic",
        "This behavior is not normal for",
        "typically indicates process injection",
        "View the detection results for",
    ];
    let dir = app_dir().join("default");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
        for phrase in escu {
            assert!(
                !text.contains(&phrase.to_lowercase()),
                "{}: repeats ESCU's {phrase:?}",
                path.display()
            );
        }
    }
}

/// Macro uses in an SPL string: (name, argument count).
fn macro_uses(spl: &str) -> Vec<(String, usize)> {
    let call = Regex::new(r"`([A-Za-z0-9_]+)(?:\(([^)`]*)\))?`").unwrap();
    call.captures_iter(spl)
        .map(|c| {
            let n = c.get(2).map_or(0, |a| a.as_str().split(',').count());
            (c[1].to_string(), n)
        })
        .collect()
}

/// Defined macros: `name` or `name(N)` stanza names, as (name, N).
fn macro_defs(macros: &Conf) -> BTreeSet<(String, usize)> {
    let with_args = Regex::new(r"^([A-Za-z0-9_]+)\((\d+)\)$").unwrap();
    macros
        .stanzas
        .iter()
        .map(|s| match with_args.captures(&s.name) {
            Some(c) => (c[1].to_string(), c[2].parse().unwrap()),
            None => (s.name.clone(), 0),
        })
        .collect()
}

#[test]
fn macros_define_the_escu_hooks_and_helpers() {
    let macros = conf("default/macros.conf");
    for (binary, mode) in detections() {
        let name = filter_macro(binary.detection(mode));
        let s = macros
            .stanza(&name)
            .unwrap_or_else(|| panic!("macros.conf has no [{name}]"));
        assert_eq!(s.get("definition"), Some("search *"), "[{name}]");
        assert!(
            s.get("description")
                .is_some_and(|d| d.contains(binary.exe())),
            "[{name}] says which search it tunes"
        );
    }
    let expected: Vec<String> = detections()
        .into_iter()
        .map(|(b, m)| filter_macro(b.detection(m)))
        .collect();
    for s in &macros.stanzas {
        if s.name.ends_with("_filter") {
            assert!(
                expected.contains(&s.name),
                "[{}] is not the prefixed ESCU filter name of a detection",
                s.name
            );
        }
        assert!(
            s.get("definition").is_some(),
            "[{}] has no definition",
            s.name
        );
    }
    let ctime = macros
        .stanza("regsvcsdetect_ctime(1)")
        .expect("regsvcsdetect_ctime(1)");
    assert_eq!(ctime.get("args"), Some("field"));
    assert_eq!(
        ctime.get("definition"),
        Some(r#"convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)"#)
    );
    assert_eq!(
        macros.get("regsvcsdetect_process_regsvcs", "definition"),
        Some("(Processes.process_name=regsvcs.exe OR Processes.original_file_name=RegSvcs.exe)")
    );
    assert_eq!(
        macros.get("regsvcsdetect_process_regasm", "definition"),
        Some("(Processes.process_name=regasm.exe OR Processes.original_file_name=RegAsm.exe)")
    );
    // Argument macros declare as many args as their name says.
    for s in &macros.stanzas {
        if let Some(open) = s.name.find('(') {
            let n: usize = s.name[open + 1..s.name.len() - 1].parse().unwrap();
            let args = s.get("args").unwrap_or_default();
            assert_eq!(
                args.split(',').filter(|a| !a.trim().is_empty()).count(),
                n,
                "[{}]",
                s.name
            );
        }
    }
}

#[test]
fn every_macro_used_by_a_search_or_macro_is_defined() {
    let macros = conf("default/macros.conf");
    let defined = macro_defs(&macros);
    let saved = conf("default/savedsearches.conf");
    let bnf = conf("default/searchbnf.conf");
    let mut sources: Vec<(String, String)> = Vec::new();
    for s in saved
        .stanzas
        .iter()
        .chain(&bnf.stanzas)
        .chain(&macros.stanzas)
    {
        for (k, v, _) in &s.entries {
            sources.push((format!("[{}] {k}", s.name), v.clone()));
        }
    }
    let mut used = 0;
    for (place, spl) in sources {
        for (name, n) in macro_uses(&spl) {
            used += 1;
            assert!(
                defined.contains(&(name.clone(), n)),
                "{place} uses `{name}` with {n} argument(s), which macros.conf does not define"
            );
        }
    }
    assert!(used > 10, "the macro scan found only {used} uses");
}

#[test]
fn each_detection_has_one_scheduled_search_ending_with_its_filter() {
    let saved = conf("default/savedsearches.conf");
    assert_eq!(saved.stanzas.len(), 4, "one saved search per detection");
    for (binary, mode) in detections() {
        let detection = binary.detection(mode);
        let matching: Vec<&Stanza> = saved
            .stanzas
            .iter()
            .filter(|s| s.name.contains(&format!(" {detection} ")))
            .collect();
        assert_eq!(matching.len(), 1, "saved searches for {detection:?}");
        let s = matching[0];
        let search = s.get("search").expect("a search");
        let filter = format!("| `{}`", filter_macro(detection));
        assert!(
            search.ends_with(&filter),
            "{detection}: the search must end with {filter}"
        );
        let args = command_args(search);
        let opts = Options::parse(&args).unwrap_or_else(|e| panic!("{detection}: {e:?}"));
        assert_eq!(opts.config.mode, mode, "{detection}");
        assert_eq!(opts.config.binary, binary, "{detection}");
        match mode {
            Mode::Network => assert!(
                search.starts_with(&format!(
                    "`regsvcsdetect_sysmon` EventID=3 process_name={} ",
                    binary.exe()
                )),
                "{detection}: keeps ESCU's index-level prefilter"
            ),
            Mode::Noargs => {
                let prefilter = match binary {
                    Binary::Regsvcs => "`regsvcsdetect_process_regsvcs`",
                    Binary::Regasm => "`regsvcsdetect_process_regasm`",
                };
                assert!(search.starts_with("| tstats `regsvcsdetect_summariesonly` count"));
                assert!(
                    search.contains(&format!("where {prefilter} by")),
                    "{detection}"
                );
                for field in mode.by_fields() {
                    assert!(
                        search.contains(&format!(" Processes.{field} ")),
                        "{detection}: {field}"
                    );
                }
            }
        }
        for (key, value) in [
            ("disabled", "1"),
            ("enableSched", "1"),
            ("cron_schedule", "0 * * * *"),
            ("dispatch.earliest_time", "-70m@m"),
            ("dispatch.latest_time", "-10m@m"),
            ("schedule_window", "auto"),
            ("action.correlationsearch.enabled", "1"),
            ("action.notable", "1"),
            ("action.risk", "1"),
        ] {
            assert_eq!(s.get(key), Some(value), "{detection}: {key}");
        }
        let json = |key: &str| -> Value {
            serde_json::from_str(
                s.get(key)
                    .unwrap_or_else(|| panic!("{detection}: no {key}")),
            )
            .unwrap_or_else(|e| panic!("{detection}: {key} is not JSON: {e}"))
        };
        let risk = json("action.risk.param._risk");
        let score = if mode == Mode::Network { 80 } else { 49 };
        for (field, kind) in [("user", "user"), ("dest", "system")] {
            assert!(
                risk.as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["risk_object_field"] == field
                        && r["risk_object_type"] == kind
                        && r["risk_score"] == score),
                "{detection}: risk object {field}"
            );
        }
        assert!(
            risk.as_array()
                .unwrap()
                .iter()
                .any(|r| r["threat_object_field"] == "process_name"),
            "{detection}: threat object process_name"
        );
        assert_eq!(
            json("action.correlationsearch.annotations")["mitre_attack"][0],
            "T1218.009"
        );
        json("action.notable.param.drilldown_searches");
        assert!(s
            .get("action.risk.param._risk_message")
            .is_some_and(|m| m.contains("$dest$")));
    }
}

// ---------------------------------------------------------------------------------------------
// app.conf, app.manifest and default.meta.

#[test]
fn app_versions_and_ids_agree_with_cargo() {
    let app = conf("default/app.conf");
    assert_eq!(app.get("launcher", "version"), Some(VERSION));
    assert_eq!(app.get("id", "version"), Some(VERSION));
    let core: Vec<u64> = VERSION
        .split(['-', '+'])
        .next()
        .unwrap()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    let build = core[0] * 1_000_000 + core[1] * 1_000 + core[2];
    assert_eq!(
        app.get("install", "build"),
        Some(build.to_string().as_str())
    );
    assert_eq!(app.get("install", "is_configured"), Some("false"));
    assert_eq!(app.get("package", "id"), Some(APP_ID));
    assert_eq!(app.get("package", "check_for_updates"), Some("false"));
    assert_eq!(app.get("id", "name"), Some(APP_ID));
    let label = app.get("ui", "label").expect("[ui] label");
    assert!(
        (5..=80).contains(&label.chars().count()),
        "[ui] label length"
    );
    for key in ["author", "description"] {
        assert!(app.get("launcher", key).is_some(), "[launcher] {key}");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(app_dir().join("app.manifest")).unwrap())
            .expect("app.manifest is pure JSON");
    assert_eq!(manifest["schemaVersion"], "2.0.0");
    assert_eq!(manifest["info"]["id"]["name"], APP_ID);
    assert_eq!(manifest["info"]["id"]["version"], VERSION);
}

#[test]
fn default_meta_shares_the_command_and_keeps_writes_to_admins() {
    let meta = conf("metadata/default.meta");
    let access = meta.get("", "access").expect("[] access");
    assert!(access.contains("read : [ * ]"), "{access}");
    assert!(access.contains("write : [ admin, sc_admin ]"), "{access}");
    for stanza in ["commands", "macros", "searchbnf"] {
        assert_eq!(meta.get(stanza, "export"), Some("system"), "[{stanza}]");
    }
}

// ---------------------------------------------------------------------------------------------
// The packages: `make package` builds them; these tests are ignored until then.

/// One package extracted once into a temporary folder: (tgz, app folder).
fn extract(suffix: &str) -> (PathBuf, PathBuf) {
    extract_package(suffix, &format!("app-package{suffix}"))
}

/// The Linux/Cloud package, extracted once.
fn package() -> &'static (PathBuf, PathBuf) {
    static EXTRACTED: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    EXTRACTED.get_or_init(|| extract(""))
}

/// The package that also serves Windows, extracted once.
fn windows_package() -> &'static (PathBuf, PathBuf) {
    static EXTRACTED: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    EXTRACTED.get_or_init(|| extract("-with-windows"))
}

#[test]
#[ignore = "needs `make package` (dist/SA_regsvcsdetect-<version>.tgz): make check-packages"]
fn package_members_have_splunk_safe_names_and_modes() {
    check_members(&package().0, &[], 2);
}

#[test]
#[ignore = "needs `make package` (dist/SA_regsvcsdetect-<version>-with-windows.tgz): make check-packages"]
fn windows_package_members_have_splunk_safe_names_and_modes() {
    let exe = format!("{APP_ID}/windows_x86_64/bin/{COMMAND}.exe");
    check_members(&windows_package().0, &[exe], 3);
}

#[test]
#[ignore = "needs `make package` (both packages in dist/): make check-packages"]
fn only_the_windows_package_drops_filename_and_both_allowlist_the_platform_folders() {
    let (_, linux) = package();
    let (_, windows) = windows_package();
    let read = |app: &Path, rel: &str| std::fs::read_to_string(app.join(rel)).unwrap();
    let linux_commands = parse_conf(&read(linux, "default/commands.conf")).unwrap();
    let windows_commands = parse_conf(&read(windows, "default/commands.conf")).unwrap();
    assert_eq!(linux_commands.get(COMMAND, "filename"), Some(COMMAND));
    assert_eq!(windows_commands.get(COMMAND, "filename"), None);
    assert_eq!(windows_commands.get(COMMAND, "chunked"), Some("true"));
    for app in [linux, windows] {
        assert_eq!(
            read(app, "default/distsearch.conf"),
            std::fs::read_to_string(app_dir().join("default/distsearch.conf")).unwrap()
        );
        // Nothing but the aarch64 build in bin/: an .exe there would come first on aarch64.
        let bin: Vec<String> = std::fs::read_dir(app.join("bin"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(bin, [COMMAND], "{}", app.display());
    }
    assert!(!linux.join("windows_x86_64").exists());
}

/// Tar members: one top-level folder, no dotfiles or local settings, owner 0/0, 644 files and
/// 755 folders, 755 for the binaries (`extra` beside the two Linux builds; `count` in all).
fn check_members(tgz: &Path, extra: &[String], count: usize) {
    let out = Command::new("tar").arg("-tvzf").arg(tgz).output().unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let mut binaries = vec![
        format!("{APP_ID}/bin/{COMMAND}"),
        format!("{APP_ID}/linux_x86_64/bin/{COMMAND}"),
    ];
    binaries.extend(extra.iter().cloned());
    let mut seen = 0;
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, name) = (cols[0], cols[1], *cols.last().unwrap());
        assert_eq!(owner, "0/0", "{name}: owner");
        assert!(
            name.starts_with(&format!("{APP_ID}/")),
            "{name}: one top-level folder, no ./"
        );
        // The wine test's ProcessPrng stub (tests/deploy/) is never packaged, nor any DLL.
        assert!(
            !name.to_ascii_lowercase().ends_with(".dll"),
            "{name}: a DLL"
        );
        for part in name.trim_end_matches('/').split('/') {
            assert!(!part.starts_with('.'), "{name}: dotfile");
            assert!(
                part != "local" && part != "local.meta",
                "{name}: local settings"
            );
        }
        let want = if name.ends_with('/') {
            "drwxr-xr-x"
        } else if binaries.iter().any(|b| b == name) {
            seen += 1;
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, want, "{name}: mode");
    }
    assert_eq!(seen, count, "every binary is packaged: {binaries:?}");
}

/// What the ELF check found in one binary.
#[derive(Debug, PartialEq)]
struct Elf {
    machine: u16,
    /// 2 = ET_EXEC, 3 = ET_DYN (PIE).
    kind: u16,
    interpreter: bool,
    needed: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Reads an ELF64 little-endian header, its program headers and its dynamic section.
fn read_elf(path: &Path) -> Elf {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{}: not ELF", path.display());
    assert_eq!(b[4], 2, "{}: not 64-bit", path.display());
    assert_eq!(b[5], 1, "{}: not little-endian", path.display());
    let (kind, machine) = (u16_at(&b, 16), u16_at(&b, 18));
    let (phoff, phentsize, phnum) = (
        u64_at(&b, 32) as usize,
        u16_at(&b, 54) as usize,
        u16_at(&b, 56) as usize,
    );
    let mut elf = Elf {
        machine,
        kind,
        interpreter: false,
        needed: 0,
    };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (p_type, offset, size) = (
            u32_at(&b, ph),
            u64_at(&b, ph + 8) as usize,
            u64_at(&b, ph + 32) as usize,
        );
        const PT_DYNAMIC: u32 = 2;
        const PT_INTERP: u32 = 3;
        if p_type == PT_INTERP {
            elf.interpreter = true;
        }
        if p_type == PT_DYNAMIC {
            for entry in b[offset..offset + size].chunks_exact(16) {
                const DT_NEEDED: u64 = 1;
                match u64_at(entry, 0) {
                    0 => break,
                    DT_NEEDED => elf.needed += 1,
                    _ => {}
                }
            }
        }
    }
    elf
}

#[test]
#[ignore = "needs `make package` (dist/SA_regsvcsdetect-<version>.tgz): make check-packages"]
fn packaged_binaries_are_static_and_match_their_platform_folder() {
    let (_, app) = package();
    const EM_X86_64: u16 = 62;
    const EM_AARCH64: u16 = 183;
    // x86_64 is static-pie (ET_DYN) and aarch64 a plain static executable (ET_EXEC): README.md
    // explains what AppInspect makes of each, so a change here needs that text updated too.
    for (rel, machine, kind, name) in [
        (
            format!("linux_x86_64/bin/{COMMAND}"),
            EM_X86_64,
            3,
            "x86-64 static-pie",
        ),
        (
            format!("bin/{COMMAND}"),
            EM_AARCH64,
            2,
            "AArch64 static executable",
        ),
    ] {
        let elf = read_elf(&app.join(&rel));
        assert_eq!(
            elf,
            Elf {
                machine,
                kind,
                interpreter: false,
                needed: 0
            },
            "{rel} must be an {name} with no interpreter and no needed libraries"
        );
        eprintln!("ok: {rel}: {name}, no PT_INTERP, no DT_NEEDED");
    }
}

#[test]
#[ignore = "needs `make package` (dist/SA_regsvcsdetect-<version>-with-windows.tgz) and mingw-w64's objdump: make check-packages"]
fn packaged_windows_build_is_a_console_pe_that_needs_only_system_dlls() {
    let (_, app) = windows_package();
    let exe = app.join(format!("windows_x86_64/bin/{COMMAND}.exe"));
    let out = Command::new("x86_64-w64-mingw32-objdump")
        .arg("-p")
        .arg(&exe)
        .output()
        .expect("x86_64-w64-mingw32-objdump is installed (make cross-deps)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("file format pei-x86-64"), "{}", exe.display());
    assert!(
        text.lines()
            .any(|l| l.starts_with("Subsystem") && l.contains("Windows CUI")),
        "a console program"
    );
    let dlls: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name: "))
        .map(|d| d.to_ascii_lowercase())
        .collect();
    assert!(dlls.iter().any(|d| d == "kernel32.dll"), "{dlls:?}");
    // Windows' own DLLs only: static CRT, so no libgcc_s, libwinpthread or libstdc++ to ship.
    for dll in &dlls {
        let system = [
            "kernel32.dll",
            "msvcrt.dll",
            "ntdll.dll",
            "bcryptprimitives.dll",
            "ws2_32.dll",
            "advapi32.dll",
            "userenv.dll",
        ]
        .contains(&dll.as_str())
            || dll.starts_with("api-ms-win-");
        assert!(
            system,
            "{} imports {dll}, which Windows does not ship",
            exe.display()
        );
    }
    eprintln!(
        "ok: {}: PE32+ x86-64 console, imports {dlls:?}",
        exe.display()
    );
}

/// A getinfo + execute session with one public and one private destination.
fn smoke_session() -> Vec<u8> {
    let body = format!(
        "{NETWORK_HEADER}\n{}{}",
        network_row(&[]),
        network_row(&[("dest_ip", "10.1.1.1")])
    );
    [
        getinfo(&["mode=network", "tz=UTC"]),
        execute(body.as_bytes(), true),
    ]
    .concat()
}

fn run_session(program: &Path, args: &[&Path], input: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let out = run_child("packaged binary", cmd, input, Feed::All, false);
    assert!(
        out.status.success(),
        "{} exits 0: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn check_smoke_reply(stdout: &[u8]) {
    let replies = parse_chunks(stdout);
    assert_eq!(replies[0].meta["type"], "reporting");
    let last = replies.last().unwrap();
    assert_eq!(last.meta["finished"], true);
    let (header, rows) = last.table();
    let dest_ip = header.iter().position(|h| h == "dest_ip").unwrap();
    let rows: Vec<&str> = rows.iter().map(|r| r[dest_ip].as_str()).collect();
    assert_eq!(
        rows,
        ["93.184.216.34"],
        "the private destination is dropped"
    );
}

#[test]
#[ignore = "needs `make package` and qemu-aarch64-static (make qemu-deps): make check-packages"]
fn packaged_aarch64_binary_speaks_the_protocol_under_qemu() {
    let (_, app) = package();
    let qemu = find_program(&["qemu-aarch64-static", "qemu-aarch64"])
        .expect("qemu-aarch64-static is installed: run `make qemu-deps`");
    let arm = app.join(format!("bin/{COMMAND}"));
    let x86 = app.join(format!("linux_x86_64/bin/{COMMAND}"));
    let input = smoke_session();
    let arm_out = run_session(&qemu, &[&arm], &input);
    check_smoke_reply(&arm_out);
    let x86_out = run_session(&x86, &[], &input);
    assert_eq!(arm_out, x86_out, "both builds answer byte for byte alike");
    eprintln!(
        "ok: {} under {}: getinfo + execute answered",
        arm.display(),
        qemu.display()
    );
}
