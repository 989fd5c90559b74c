//! `regsvcsdetect run`: the detections over event files (CSV, JSON lines, Sysmon XML, gzip or not) with the SPL command's options, a result table on stdout and the row accounting on stderr.

use std::collections::HashMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::input::{self, Format, Item, ReadError};
use super::sysmon::{Model, Underived};
use super::table::{self, Style};
use super::Record;
use crate::detect::{is_unprefixed, parse_number, Engine, Mode, OwnedRow, Table};
use crate::options::{Options, OPTIONS};

/// Usage of `run`.
pub const USAGE: &str = "\
usage: regsvcsdetect run --mode network|noargs [options] FILE...

Runs the detection over event files, the way `| regsvcsdetect` runs it in Splunk.
FILE is CSV (Splunk's export, __mv_ columns included), JSON lines (flat objects or
Splunk's {\"result\":{...}} export) or Sysmon XmlWinEventLog events (one per line, or
pretty-printed); gzip is undone by its magic bytes; - reads stdin.

options (the SPL command's, by the same names: --tz UTC, --tz=UTC and tz=UTC are one):
  --mode network|noargs         which detection (required)
  --tz ZONE                     time zone of firstTime/lastTime (default: local)
  --timeformat FMT|epoch        strftime format (default: %Y-%m-%dT%H:%M:%S)
  --cidrs rfc1918|extended      destinations network mode ignores
  --binary regsvcs|regasm       the binary to look for
  --input auto|events|aggregated  how rows are read
  --sysmon t|f                  require the sysmon macro's source/sourcetype
  --cim-fill t|f                apply the Endpoint data model fills (noargs)
  --max-groups N                most result groups
offline only:
  --format csv|json|xml         force the input format (default: from the content)
  --output table|vertical|csv|json  result layout (default table: aligned, or
                                vertical when wider than 120 columns)
phase, record and distributed concern splunkd and are refused here.
";

/// Options that only make sense inside splunkd.
const SPLUNKD_ONLY: [&str; 3] = ["phase", "record", "distributed"];

/// Rows between two looks at the clock for the progress line.
const PROGRESS_EVERY_ROWS: u64 = 4096;

/// Time between two progress lines: 250 ms.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// The validated command options.
    pub options: Options,
    /// A forced input format.
    pub format: Option<Format>,
    /// The result layout.
    pub style: Style,
    /// Input files; `-` is stdin.
    pub files: Vec<String>,
}

/// Parses `run`'s arguments: command options become `name=value` and go
/// through [`Options::parse`], like SPL arguments.
///
/// # Errors
///
/// Every problem at once: the CLI's own and the option parser's.
pub fn parse_args(args: &[String]) -> Result<RunArgs, Vec<String>> {
    let mut errors = Vec::new();
    let mut options: Vec<String> = Vec::new();
    let mut format = None;
    let mut style = Style::Auto;
    let mut files = Vec::new();
    let mut it = args.iter();
    let mut only_files = false;
    while let Some(arg) = it.next() {
        if only_files || arg == "-" {
            files.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_files = true;
            continue;
        }
        let (name, value) = if let Some(flag) = arg.strip_prefix("--") {
            match flag.split_once('=') {
                Some((n, v)) => (n.replace('-', "_"), v.to_string()),
                None => match it.next() {
                    Some(v) => (flag.replace('-', "_"), v.clone()),
                    None => {
                        errors.push(format!("--{flag} needs a value"));
                        continue;
                    }
                },
            }
        } else if arg == "-o" {
            match it.next() {
                Some(v) => ("output".to_string(), v.clone()),
                None => {
                    errors.push("-o needs a value".to_string());
                    continue;
                }
            }
        } else {
            match arg.split_once('=') {
                Some((n, v))
                    if OPTIONS.iter().any(|o| o.name == n)
                        || ["format", "output"].contains(&n)
                        || !Path::new(arg).exists() =>
                {
                    (n.to_string(), v.to_string())
                }
                _ => {
                    files.push(arg.clone());
                    continue;
                }
            }
        };
        match name.as_str() {
            "format" => match Format::parse(&value) {
                Some(f) => format = Some(f),
                None => errors.push(format!(
                    "invalid value \"{value}\" for format: expected csv, json or xml"
                )),
            },
            "output" => match Style::parse(&value) {
                Some(s) => style = s,
                None => errors.push(format!(
                    "invalid value \"{value}\" for output: expected table, vertical, csv or json"
                )),
            },
            n if SPLUNKD_ONLY.contains(&n) => errors.push(format!(
                "option {n} concerns splunkd (map/reduce, recording) and has no meaning offline"
            )),
            _ => options.push(format!("{name}={value}")),
        }
    }
    let parsed = Options::parse(&options);
    if let Err(e) = &parsed {
        errors.extend(e.iter().cloned());
    }
    if files.is_empty() {
        errors.push("no input: give one or more FILEs, or - for stdin".to_string());
    }
    match parsed {
        Ok(options) if errors.is_empty() => Ok(RunArgs {
            options,
            format,
            style,
            files,
        }),
        _ => Err(errors),
    }
}

/// Rows read per input, for the summary.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    format: Format,
    rows: u64,
}

/// Feeds records from any number of inputs into one engine.
#[derive(Debug)]
pub struct Runner {
    engine: Engine,
    /// Per engine field, the names to look for, most preferred first.
    names: Vec<Vec<String>>,
    time: Option<usize>,
    model: Model,
    sources: Vec<Source>,
    other_events: u64,
    underived: Underived,
    progress: Progress,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The detection's result rows.
    pub table: Table,
    /// The row accounting, for stderr.
    pub summary: String,
}

impl Runner {
    /// A runner for validated options.
    pub fn new(options: &Options) -> Runner {
        let engine = Engine::new(options.config.clone());
        let prefixes = engine.config().mode.prefixes();
        let names = engine
            .fields()
            .iter()
            .map(|f| {
                let mut list: Vec<String> = Vec::new();
                if !is_unprefixed(f) {
                    list.extend(prefixes.iter().map(|p| format!("{p}{f}")));
                }
                list.push(f.to_string());
                list
            })
            .collect();
        let time = engine.fields().iter().position(|f| *f == "_time");
        Runner {
            model: Model::of(engine.config().mode),
            engine,
            names,
            time,
            sources: Vec::new(),
            other_events: 0,
            underived: Underived::default(),
            progress: Progress::new(io::stderr().is_terminal()),
        }
    }

    /// The engine fields a record holds, `Processes.x`/`All_Traffic.x` before `x`.
    fn row(&self, record: &Record) -> OwnedRow {
        let mut index: HashMap<&str, &Vec<Vec<u8>>> = HashMap::with_capacity(record.len());
        for (name, values) in record {
            index.entry(name.as_str()).or_insert(values);
        }
        let mut values: Vec<Vec<Vec<u8>>> = self
            .names
            .iter()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| index.get(n.as_str()))
                    .find(|v| v.iter().any(|x| !x.is_empty()))
                    .map(|v| (*v).clone())
                    .unwrap_or_default()
            })
            .collect();
        if let Some(slot) = self.time.and_then(|i| values.get_mut(i)) {
            for v in slot.iter_mut() {
                if let Some(epoch) = time_text(v) {
                    *v = epoch.into_bytes();
                }
            }
        }
        OwnedRow { values }
    }

    /// Reads one input into the engine.
    ///
    /// # Errors
    ///
    /// The input is malformed or unreadable, or the engine hit a limit.
    pub fn read(
        &mut self,
        name: &str,
        reader: Box<dyn BufRead>,
        format: Format,
    ) -> Result<(), ReadError> {
        self.sources.push(Source {
            name: name.to_string(),
            format,
            rows: 0,
        });
        let result = input::read(reader, format, &mut |item| self.push(&item));
        self.progress.clear();
        result
    }

    /// Pushes one record (counted against the last input read).
    ///
    /// # Errors
    ///
    /// The engine hit a group limit.
    pub fn push(&mut self, item: &Item) -> Result<(), String> {
        if let Some(src) = self.sources.last_mut() {
            src.rows += 1;
            self.progress.tick(src.rows, &src.name);
        }
        match item.model {
            // Only the mode's dataset reaches its search: EID 1 feeds
            // Endpoint.Processes, EID 3 `sysmon EventID=3`.
            Some(m) if m != self.model => {
                self.other_events += 1;
                self.engine.skip(1);
                return Ok(());
            }
            Some(m) => self.underived.add(m, &item.record),
            None => {}
        }
        let row = self.row(&item.record);
        self.engine
            .push(&row)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Finishes: the result table and the summary.
    ///
    /// # Errors
    ///
    /// A time cannot be rendered.
    pub fn finish(mut self) -> Result<Report, String> {
        let table = self.engine.finish().to_table();
        let summary = self.summary(table.rows.len());
        Ok(Report { table, summary })
    }

    fn summary(&self, results: usize) -> String {
        let s = self.engine.stats();
        let mode = self.engine.config().mode;
        let mut out = String::new();
        let mut by_format: Vec<String> = Vec::new();
        for f in [Format::Csv, Format::Json, Format::Xml] {
            let n: u64 = self
                .sources
                .iter()
                .filter(|s| s.format == f)
                .map(|s| s.rows)
                .sum();
            let files = self.sources.iter().filter(|s| s.format == f).count();
            if files > 0 {
                by_format.push(format!("{} {n}", f.name()));
            }
        }
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        out.push_str(&format!(
            "regsvcsdetect run mode={}: {} from {} ({})\n",
            mode.name(),
            plural(s.rows_in as usize, "row"),
            plural(self.sources.len(), "input"),
            by_format.join(", ")
        ));
        let line = |out: &mut String, label: &str, n: u64, why: &str| {
            out.push_str(format!("  {label:<30}{n:>8}  {why}").trim_end());
            out.push('\n');
        };
        line(&mut out, "rows read:", s.rows_in, "");
        let what = match mode {
            Mode::Network if self.engine.config().sysmon => {
                "needs EventID 3, the binary as process_name, a dest_ip outside the excluded ranges, and a Sysmon source"
            }
            Mode::Network => {
                "needs EventID 3, the binary as process_name, and a dest_ip outside the excluded ranges"
            }
            Mode::Noargs => "needs the binary as process_name or original_file_name",
        };
        line(
            &mut out,
            "filtered:",
            s.rows_filtered,
            &format!("not selected ({what})"),
        );
        if self.other_events > 0 {
            let eid = match mode {
                Mode::Network => "not Sysmon EventID 3 (Network_Traffic)",
                Mode::Noargs => "not Sysmon EventID 1 (Endpoint.Processes)",
            };
            line(
                &mut out,
                "  of which other XML events:",
                self.other_events,
                eid,
            );
        }
        line(
            &mut out,
            "matched:",
            s.rows_matched,
            "selected by the detection",
        );
        match mode {
            Mode::Network => {
                let fields: Vec<String> =
                    s.missing.iter().map(|(f, n)| format!("{f} {n}")).collect();
                line(
                    &mut out,
                    "dropped (missing BY field):",
                    s.rows_dropped_missing,
                    &fields.join(", "),
                );
            }
            Mode::Noargs => line(
                &mut out,
                "dropped (regex on process):",
                s.rows_dropped_regex,
                "process does not end within 4 characters of the binary name (arguments, or a renamed binary)",
            ),
        }
        line(&mut out, "kept:", s.rows_kept, "joined a result group");
        line(&mut out, "results:", results as u64, "rows in the table");
        for w in [
            self.engine.missing_field_warning(),
            self.engine.time_warning(),
            self.engine.untimed_warning(),
        ]
        .into_iter()
        .flatten()
        {
            out.push_str(&format!("WARN: {w}\n"));
        }
        let u = &self.underived;
        if !u.missing.is_empty() {
            let what = match mode {
                Mode::Network => "EventID 3",
                Mode::Noargs => "EventID 1",
            };
            let list: Vec<String> = u
                .missing
                .iter()
                .map(|(f, n)| format!("{f} ({n} of {})", u.events))
                .collect();
            let effect = match mode {
                Mode::Network => "a selected event without one of them joins no group",
                Mode::Noargs => "they group as the string null, as tstats fillnull_value=null does",
            };
            out.push_str(&format!(
                "note: Sysmon {what} XML does not provide these BY fields: {}; {effect}\n",
                list.join(", ")
            ));
        }
        out
    }
}

/// A `_time` written as a date (Splunk's CSV and JSON exports) as epoch
/// seconds; `None` when it is already a number or not a time.
pub fn time_text(v: &[u8]) -> Option<String> {
    if parse_number(v).is_some() {
        return None;
    }
    let s = std::str::from_utf8(v).ok()?.trim();
    let ts = s.parse::<jiff::Timestamp>().ok().or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"]
            .iter()
            .find_map(|f| jiff::fmt::strtime::parse(f, s).ok()?.to_timestamp().ok())
    })?;
    let micros = ts.as_microsecond();
    Some(format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    ))
}

/// The progress line, only on a terminal.
#[derive(Debug)]
struct Progress {
    enabled: bool,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            last: Instant::now(),
            shown: false,
        }
    }

    fn tick(&mut self, rows: u64, name: &str) {
        if !self.enabled
            || rows % PROGRESS_EVERY_ROWS != 0
            || self.last.elapsed() < PROGRESS_INTERVAL
        {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let _ = write!(io::stderr().lock(), "\r\x1b[K{name}: {rows} rows read…");
    }

    fn clear(&mut self) {
        if self.shown {
            self.shown = false;
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// Runs `regsvcsdetect run ARGS` and returns the exit code: 0 done, 1 an
/// input could not be read, 2 bad arguments.
pub fn main(args: &[String]) -> u8 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return super::say(USAGE);
    }
    let parsed = match parse_args(args) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                eprintln!("regsvcsdetect run: {e}");
            }
            eprintln!("see: regsvcsdetect run --help");
            return 2;
        }
    };
    let mut runner = Runner::new(&parsed.options);
    for file in &parsed.files {
        let name = if file == "-" {
            "<stdin>"
        } else {
            file.as_str()
        };
        let opened = input::open(file).and_then(|r| input::detect(r, parsed.format));
        let (format, reader) = match opened {
            Ok(x) => x,
            Err(e) => {
                eprintln!("regsvcsdetect: {name}: cannot read: {e}");
                return 1;
            }
        };
        if let Err(e) = runner.read(name, reader, format) {
            eprintln!("regsvcsdetect: {}", e.describe(name));
            return 1;
        }
    }
    let report = match runner.finish() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("regsvcsdetect: {e}");
            return 1;
        }
    };
    let code = super::say(&table::render(&report.table, parsed.style));
    eprint!("{}", report.summary);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_name_value_forms_are_one() {
        for form in [
            &["--mode", "noargs", "--tz", "UTC", "x.csv"][..],
            &["--mode=noargs", "--tz=UTC", "x.csv"],
            &["mode=noargs", "tz=UTC", "x.csv"],
        ] {
            let a = parse_args(&args(form)).unwrap();
            assert_eq!(a.options.config.mode, Mode::Noargs);
            assert_eq!(a.files, vec!["x.csv"]);
        }
        let a = parse_args(&args(&["--mode", "network", "--max-groups", "5", "-"])).unwrap();
        assert_eq!(a.options.config.max_groups, 5);
        assert_eq!(a.files, vec!["-"]);
    }

    #[test]
    fn every_problem_is_reported_through_the_shared_parser() {
        let e = parse_args(&args(&[
            "--tz",
            "Mars/Olympus",
            "--phase",
            "map",
            "--nosuch",
            "1",
            "--format",
            "yaml",
        ]))
        .unwrap_err();
        let all = e.join("\n");
        for want in [
            "mode is required",
            "Mars/Olympus",
            "phase concerns splunkd",
            "unknown option \"nosuch\"",
            "for format",
            "no input",
        ] {
            assert!(all.contains(want), "{want} not in {all}");
        }
    }

    #[test]
    fn dates_in_time_become_epoch_seconds() {
        assert_eq!(
            time_text(b"2024-03-12T09:14:07.250+0000").as_deref(),
            Some("1710234847.250000")
        );
        assert_eq!(
            time_text(b"2024-03-12T09:14:07.250+00:00").as_deref(),
            Some("1710234847.250000")
        );
        assert_eq!(time_text(b"1710234847"), None);
        assert_eq!(time_text(b"yesterday"), None);
    }
}
