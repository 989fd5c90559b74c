//! `regsvcsdetect run`: the detections over event files (CSV, JSON lines, Windows XML, EVTX, gzip or not) with the SPL command's options, a result table on stdout and the row accounting on stderr.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::input::{self, FileError, Format, Item, ReadError};
use super::sysmon::{Kind, Model, Underived, SYSMON_ADD_ON, WINDOWS_ADD_ON};
use super::table::{self, Style};
use super::Record;
use crate::detect::{self, parse_number, Engine, Mode, Outcome, OwnedRow, Table};
use crate::options::{OptionSpec, Options, Problem, Problems, OPTIONS};

/// What `run --help` says above the flags.
pub(crate) const ABOUT: &str = "\
Runs the detection over event files, the way `| regsvcsdetect` runs it in Splunk.

FILE is CSV (Splunk's export, __mv_ columns included), JSON lines (flat objects or
Splunk's {\"result\":{...}} export), Windows XmlWinEventLog events (one per line, or
pretty-printed) or a binary .evtx log; gzip is undone by its magic bytes; - reads
stdin; a directory is every file below it, in sorted order. Sysmon EventID 3 and 1
map to CIM as the Splunk Add-on for Sysmon 5.0.0 does, Security 4688 as the Splunk
Add-on for Microsoft Windows 9.1.2 does.

The SPL command's options go by the same names: --tz UTC, --tz=UTC and tz=UTC are one.
An argument NAME=VALUE whose NAME is one of run's options (SPL option, format or output,
any case) is that option; any other argument is a FILE, and so is everything after --
(`run -- mode=x.csv` reads the file mode=x.csv). The file system is never asked.";

/// Rows between two looks at the clock for the progress line.
const PROGRESS_EVERY_ROWS: u64 = 4096;

/// Time between two progress lines: 250 ms.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// `run`'s command line, as clap reads it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The SPL command's options, one flag each, from [`OPTIONS`].
    #[command(flatten)]
    pub(crate) spl: SplFlags,
    /// Force the input format [default: from the content]
    #[arg(long, value_name = "csv|json|xml|evtx", value_parser = format_value)]
    pub(crate) format: Option<Format>,
    /// Result layout [default: table, aligned, or vertical when wider than 120 columns]
    #[arg(short = 'o', long, value_name = "table|vertical|csv|json", value_parser = style_value)]
    pub(crate) output: Option<Style>,
    /// On stderr, every event selected and then dropped: FILE:LINE (or
    /// FILE:chunk N:record M) and why (missing BY fields, or the process value
    /// the regex rejected)
    #[arg(long)]
    pub(crate) explain: bool,
    /// Input files (- is stdin), and options written NAME=VALUE
    #[arg(value_name = "FILE|NAME=VALUE")]
    pub(crate) args: Vec<String>,
    /// Input files only, even when they look like NAME=VALUE
    #[arg(last = true, value_name = "FILE")]
    pub(crate) files: Vec<String>,
}

/// The SPL command's options as `run` flags (`--max-groups 5`, also
/// `--max_groups`), built from [`OPTIONS`]: names, value shapes and help
/// come from the table. Holds what was given as `name=value`, in table order.
/// The options that concern splunkd are hidden flags, so that
/// [`Options::parse_offline`] can say why they are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SplFlags(pub Vec<String>);

impl clap::FromArgMatches for SplFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<SplFlags, clap::Error> {
        let mut given = Vec::new();
        for spec in &OPTIONS {
            if let Some(values) = matches.get_many::<String>(spec.name) {
                given.extend(values.map(|v| format!("{}={v}", spec.name)));
            }
        }
        Ok(SplFlags(given))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = SplFlags::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for SplFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        OPTIONS.iter().fold(cmd, |cmd, spec| {
            let default = match spec.default {
                Some(d) => format!(" [default: {d}]"),
                None => " (required)".to_string(),
            };
            let only = match spec.only {
                Some((mode, _)) => format!(" (mode={} only)", mode.name()),
                None => String::new(),
            };
            let mut arg = clap::Arg::new(spec.name)
                .long(spec.name.replace('_', "-"))
                .value_name(spec.kind.shown().replace(['<', '>'], ""))
                .help(format!("{}{only}{default}", capitalized(spec.help)))
                .help_heading("Options of the SPL command")
                // Repeats reach the option parser, which reports them.
                .action(clap::ArgAction::Append)
                .hide(!spec.offline);
            if spec.name.contains('_') {
                arg = arg.alias(spec.name);
            }
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        SplFlags::augment_args(cmd)
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn format_value(v: &str) -> Result<Format, Expected> {
    Format::parse(v).ok_or(Expected(FORMAT_EXPECTED))
}

fn style_value(v: &str) -> Result<Style, Expected> {
    Style::parse(v).ok_or(Expected(OUTPUT_EXPECTED))
}

/// A flag value that is not one of the listed ones (clap adds the flag and
/// the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected(pub &'static str);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.0)
    }
}

impl std::error::Error for Expected {}

const FORMAT_EXPECTED: &str = "csv, json, xml or evtx";
const OUTPUT_EXPECTED: &str = "table, vertical, csv or json";

/// Sets a `format=`/`output=` argument, or says why not.
fn set_once<T>(
    slot: &mut Option<T>,
    name: &'static str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Option<Problem> {
    if slot.is_some() {
        return Some(Problem::Repeated { name });
    }
    match parse(value) {
        Some(v) => {
            *slot = Some(v);
            None
        }
        None => Some(Problem::Invalid {
            name,
            value: value.to_string(),
            expected: expected.to_string(),
        }),
    }
}

/// Why `run`'s arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgsError {
    /// The SPL options, from the shared parser.
    Options(Problems),
    /// `format=` or `output=` given as an argument.
    Layout(Problem),
    /// No FILE.
    NoInput,
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Options(p) => write!(f, "{p}"),
            ArgsError::Layout(p) => write!(f, "{p}"),
            ArgsError::NoInput => f.write_str("no input: give one or more FILEs, or - for stdin"),
        }
    }
}

impl std::error::Error for ArgsError {}

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The validated command options.
    pub(crate) options: Options,
    /// A forced input format.
    pub(crate) format: Option<Format>,
    /// The result layout.
    pub(crate) style: Style,
    /// Input files; `-` is stdin.
    pub(crate) files: Vec<String>,
    /// Print why each selected event did not reach a result.
    pub(crate) explain: bool,
}

impl RunArgs {
    /// Sorts the free arguments into options and files (by the syntactic
    /// rule in `run --help`) and validates the options through
    /// [`Options::parse_offline`], like SPL arguments.
    ///
    /// # Errors
    ///
    /// Every problem at once: the options', and a missing FILE.
    pub(crate) fn resolve(self) -> Result<Run, Vec<ArgsError>> {
        let mut errors = Vec::new();
        let mut options = self.spl.0;
        let mut format = self.format;
        let mut style = self.output;
        let mut files = Vec::new();
        for arg in self.args {
            let Some((name, value)) = arg.split_once('=') else {
                files.push(arg);
                continue;
            };
            let problem = match name.to_ascii_lowercase().as_str() {
                "format" => set_once(&mut format, "format", value, Format::parse, FORMAT_EXPECTED),
                "output" => set_once(&mut style, "output", value, Style::parse, OUTPUT_EXPECTED),
                n if OptionSpec::find(n).is_some() => {
                    options.push(arg);
                    continue;
                }
                _ => {
                    files.push(arg);
                    continue;
                }
            };
            errors.extend(problem.map(ArgsError::Layout));
        }
        files.extend(self.files);
        let parsed = Options::parse_offline(&options);
        if let Err(problems) = &parsed {
            errors.insert(0, ArgsError::Options(problems.clone()));
        }
        if files.is_empty() {
            errors.push(ArgsError::NoInput);
        }
        match parsed {
            Ok(options) if errors.is_empty() => Ok(Run {
                options,
                format,
                style: style.unwrap_or(Style::Auto),
                files,
                explain: self.explain,
            }),
            _ => Err(errors),
        }
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
pub(crate) struct Runner {
    engine: Engine,
    /// Per engine field, the names to look for, most preferred first.
    names: Vec<Vec<String>>,
    time: Option<usize>,
    model: Model,
    sources: Vec<Source>,
    other_events: u64,
    kinds: std::collections::BTreeMap<Kind, u64>,
    underived: Underived,
    progress: Progress,
    explain: bool,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// The detection's result rows.
    pub(crate) table: Table,
    /// The row accounting, for stderr.
    pub(crate) summary: String,
}

impl Runner {
    /// A runner for validated options.
    pub fn new(options: &Options) -> Runner {
        let engine = Engine::new(options.config.clone());
        let schema = engine.schema();
        let names = (0..schema.len())
            .map(|i| schema.names(i).to_vec())
            .collect();
        let time = engine.fields().iter().position(|f| *f == "_time");
        Runner {
            model: Model::of(engine.config().mode),
            engine,
            names,
            time,
            sources: Vec::new(),
            other_events: 0,
            kinds: std::collections::BTreeMap::new(),
            underived: Underived::default(),
            progress: Progress::new(io::stderr().is_terminal()),
            explain: false,
        }
    }

    /// Prints, on stderr, why each selected event did not reach a result.
    pub(crate) fn explain(mut self, on: bool) -> Runner {
        self.explain = on;
        self
    }

    /// Why a selected row did not reach a result, or `None` when it did (or
    /// was never selected).
    pub(crate) fn why(&self, outcome: &Outcome, row: &OwnedRow) -> Option<String> {
        match outcome {
            Outcome::Filtered | Outcome::Kept => None,
            Outcome::MissingFields(fields) => Some(format!(
                "selected, then dropped: missing BY field{} {}",
                if fields.len() == 1 { "" } else { "s" },
                fields.join(", ")
            )),
            Outcome::RegexRejected => {
                let at = self.engine.fields().iter().position(|f| *f == "process");
                let values: Vec<String> = at
                    .and_then(|i| row.values.get(i))
                    .map(|v| {
                        v.iter()
                            .map(|x| {
                                let text = String::from_utf8_lossy(x)
                                    .replace('\n', "\\n")
                                    .replace('\r', "\\r");
                                format!("\"{text}\"")
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let shown = if values.is_empty() {
                    let fill = if self.engine.config().cim_fill {
                        "unknown"
                    } else {
                        "null"
                    };
                    format!("\"{fill}\" (no process field)")
                } else {
                    values.join(", ")
                };
                Some(format!(
                    "selected, then dropped: regex process=\"{}\" rejects process={shown}",
                    self.engine.config().binary.noargs_spl()
                ))
            }
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
    pub(crate) fn push(&mut self, item: &Item) -> Result<(), detect::Error> {
        if let Some(src) = self.sources.last_mut() {
            src.rows += 1;
            self.progress.tick(src.rows, &src.name);
        }
        if let Some(k) = item.kind {
            *self.kinds.entry(k).or_default() += 1;
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
        let outcome = self.engine.push_outcome(&row)?;
        if self.explain {
            if let Some(why) = self.why(&outcome, &row) {
                let name = self.sources.last().map_or("<input>", |s| s.name.as_str());
                self.progress.clear();
                eprintln!("explain: {name}:{}: {why}", item.place());
            }
        }
        Ok(())
    }

    /// Finishes: the result table and the summary.
    pub(crate) fn finish(mut self) -> Report {
        let table = self.engine.finish().to_table();
        let summary = self.summary(table.rows.len());
        Report { table, summary }
    }

    fn summary(&self, results: usize) -> String {
        let s = self.engine.stats();
        let mode = self.engine.config().mode;
        let mut out = String::new();
        let mut by_format: Vec<String> = Vec::new();
        for f in Format::ALL {
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
                Mode::Noargs => "not Sysmon EventID 1 or Security 4688 (Endpoint.Processes)",
            };
            line(&mut out, "  of which other events:", self.other_events, eid);
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
        if !self.kinds.is_empty() {
            let seen: Vec<String> = self
                .kinds
                .iter()
                .map(|(k, n)| format!("{n} {}", k.name()))
                .collect();
            let mut rules = vec![format!("Sysmon as the {SYSMON_ADD_ON}")];
            if self.kinds.contains_key(&Kind::SecurityProcess) {
                rules.push(format!("Security 4688 as the {WINDOWS_ADD_ON}"));
            }
            out.push_str(&format!(
                "mapping: Windows events ({}) to CIM fields: {}\n",
                seen.join(", "),
                rules.join("; ")
            ));
        }
        let u = &self.underived;
        if !u.missing.is_empty() {
            let what = match mode {
                Mode::Network => "Sysmon EventID 3",
                Mode::Noargs => "Sysmon EventID 1 and Security 4688",
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
                "note: {what} events do not provide these BY fields: {}; {effect}\n",
                list.join(", ")
            ));
        }
        out
    }
}

/// A `_time` written as a date (Splunk's CSV and JSON exports) as epoch
/// seconds; `None` when it is already a number or not a time.
pub(crate) fn time_text(v: &[u8]) -> Option<String> {
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

/// Runs `regsvcsdetect run` and returns the exit code: 0 done, 1 an
/// input could not be read, 2 bad arguments.
pub(crate) fn main(args: RunArgs) -> u8 {
    let parsed = match args.resolve() {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                let lines = match e {
                    ArgsError::Options(p) => p.messages(),
                    other => vec![other.to_string()],
                };
                for line in lines {
                    super::complain(line);
                }
            }
            super::complain("see `regsvcsdetect run --help`");
            return 2;
        }
    };
    let files = match input::expand(&parsed.files) {
        Ok(f) => f,
        Err(e) => {
            super::complain(e);
            return 1;
        }
    };
    let mut runner = Runner::new(&parsed.options).explain(parsed.explain);
    for file in &files {
        let name = if file == "-" {
            "<stdin>"
        } else {
            file.as_str()
        };
        let opened = input::open(file).and_then(|r| input::detect(r, parsed.format));
        let (format, reader) = match opened {
            Ok(x) => x,
            Err(e) => {
                super::complain(FileError::new(name, "read", e));
                return 1;
            }
        };
        if let Err(e) = runner.read(name, reader, format) {
            super::complain(e.describe(name));
            return 1;
        }
    }
    let report = runner.finish();
    let code = super::say(&table::render(&report.table, parsed.style));
    eprint!("{}", report.summary);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(list: &[&str]) -> Result<Run, Vec<ArgsError>> {
        use clap::Parser;
        let argv = std::iter::once("run").chain(list.iter().copied());
        Cli::try_parse_from(argv).unwrap().run.resolve()
    }

    fn problems(errors: &[ArgsError]) -> Vec<Problem> {
        let mut out = Vec::new();
        for e in errors {
            match e {
                ArgsError::Options(p) => out.extend(p.iter().cloned()),
                ArgsError::Layout(p) => out.push(p.clone()),
                ArgsError::NoInput => {}
            }
        }
        out
    }

    #[test]
    fn flags_and_name_value_forms_are_one() {
        for form in [
            &["--mode", "noargs", "--tz", "UTC", "x.csv"][..],
            &["--mode=noargs", "--tz=UTC", "x.csv"],
            &["mode=noargs", "tz=UTC", "x.csv"],
            &["MODE=noargs", "--tz", "UTC", "--", "x.csv"],
        ] {
            let a = parse(form).unwrap();
            assert_eq!(a.options.config.mode, Mode::Noargs);
            assert_eq!(a.files, vec!["x.csv"]);
        }
        for flag in ["--max-groups", "--max_groups"] {
            let a = parse(&["--mode", "network", flag, "5", "-"]).unwrap();
            assert_eq!(a.options.config.max_groups, 5);
            assert_eq!(a.files, vec!["-"]);
        }
        let a = parse(&["mode=network", "output=csv", "format=json", "-"]).unwrap();
        assert_eq!((a.style, a.format), (Style::Csv, Some(Format::Json)));
        assert!(!a.explain);
        let a = parse(&["--explain", "mode=noargs", "format=evtx", "x.evtx"]).unwrap();
        assert!(a.explain);
        assert_eq!(a.format, Some(Format::Evtx));
    }

    #[test]
    fn what_is_a_file_is_decided_by_syntax_alone() {
        // Neither exists; an unknown NAME=VALUE is a file, and so is
        // everything after --, whatever it looks like.
        let a = parse(&["--mode", "network", "dest=x.csv", "--", "mode=y.csv", "-o"]).unwrap();
        assert_eq!(a.files, vec!["dest=x.csv", "mode=y.csv", "-o"]);
        let cargo_toml = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let a = parse(&["mode=network", cargo_toml]).unwrap();
        assert_eq!(a.files, vec![cargo_toml]);
    }

    #[test]
    fn every_problem_is_reported_through_the_shared_parser() {
        let errors = parse(&[
            "--tz",
            "Mars/Olympus",
            "--phase",
            "map",
            "format=yaml",
            "output=table",
            "--output",
            "csv",
        ])
        .unwrap_err();
        assert_eq!(errors.last(), Some(&ArgsError::NoInput));
        let found = problems(&errors);
        assert!(found
            .iter()
            .any(|p| matches!(p, Problem::Missing { name: "mode", .. })));
        assert!(found.contains(&Problem::NotOffline { name: "phase" }));
        assert!(found.iter().any(|p| matches!(p,
            Problem::Invalid { name: "tz", value, .. } if value == "Mars/Olympus")));
        assert!(found.iter().any(|p| matches!(p,
            Problem::Invalid { name: "format", value, .. } if value == "yaml")));
        assert!(found.contains(&Problem::Repeated { name: "output" }));
        assert_eq!(found.len(), 5, "{found:#?}");
    }

    #[test]
    fn unknown_flags_and_bad_flag_values_are_clap_errors() {
        use clap::Parser;
        for argv in [
            &["run", "--nosuch", "1", "x"][..],
            &["run", "--format", "yaml", "x"],
        ] {
            let e = Cli::try_parse_from(argv).err().expect("refused");
            assert_eq!(e.exit_code(), 2, "{e}");
        }
    }

    #[test]
    fn help_lists_the_offline_options_from_the_table() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for spec in &OPTIONS {
            let flag = format!("--{}", spec.name.replace('_', "-"));
            assert_eq!(help.contains(&flag), spec.offline, "{flag} in\n{help}");
        }
        assert!(
            help.contains("Time zone of firstTime/lastTime [default: local]"),
            "{help}"
        );
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
