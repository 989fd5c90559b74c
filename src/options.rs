//! The command's options (`name=value`): one table says what each option takes, defaults to, means and where it applies; SPL, the offline CLI and the docs' tests all read it.

use std::fmt;

use jiff::tz::TimeZone;

use crate::detect::{Binary, CidrSet, Config, InputShape, Mode, TimeRender};

/// The default `timeformat`, ESCU's `security_content_ctime`.
pub(crate) const DEFAULT_TIMEFORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// The longest single argument accepted, in bytes.
pub(crate) const MAX_ARG_BYTES: usize = 4096;

/// The most problems reported for one argument list.
pub(crate) const MAX_ERRORS: usize = 20;

/// The largest `max_groups` accepted.
pub(crate) const MAX_MAX_GROUPS: usize = 100_000_000;

/// The most `threads` accepted.
pub(crate) const MAX_THREADS: usize = 16;

/// Which side of the map/reduce split this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Filter, aggregate everything, emit on the last request (the default).
    Reduce,
    /// Filter and pre-aggregate each chunk on an indexer (`phase=map`).
    Map,
}

/// Every option, validated.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine configuration.
    pub config: Config,
    /// Map or reduce.
    pub(crate) phase: Phase,
    /// Whether the reduce process asks splunkd for a map phase on the peers.
    pub(crate) distributed: bool,
    /// Record the session's bytes into the dispatch directory.
    pub record: bool,
    /// Threads that decode and aggregate the rows of each request.
    pub(crate) threads: usize,
    /// The options as the user wrote them (name, value), in order, without
    /// `phase`: the map phase gets the same ones.
    pub(crate) given: Vec<(String, String)>,
}

/// One word of a [`Kind::Choice`] and what it sets.
pub(crate) type Word = (&'static str, fn(&mut Draft));

/// What an option takes, and how a value reaches the [`Draft`].
pub enum Kind {
    /// One of a fixed list of words (any case), each with what it sets.
    Choice(&'static [Word]),
    /// A Splunk boolean (see [`parse_bool`]).
    Bool(fn(&mut Draft, bool)),
    /// A whole number in `min..=max`.
    Count {
        /// The smallest value accepted.
        min: usize,
        /// The largest value accepted.
        max: usize,
        /// Sets it.
        set: fn(&mut Draft, usize),
    },
    /// Free text checked by `set`, which says what it expected when it refuses.
    Text {
        /// The values, as documentation shows them (`<IANA zone>|UTC|local`).
        shown: &'static str,
        /// Checks and sets it.
        set: fn(&mut Draft, &str) -> Result<(), Expected>,
    },
}

/// What a [`Kind::Text`] option takes, when it refuses a value; it becomes
/// the `expected` of [`Problem::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected(pub String);

/// One option of the command. [`OPTIONS`] lists them all.
pub struct OptionSpec {
    /// The name, lowercase (names are matched in any case).
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// The value when not given; `None` when the option is required.
    pub default: Option<&'static str>,
    /// One line of help, for `run --help`.
    pub(crate) help: &'static str,
    /// Whether `regsvcsdetect run` accepts it; the others concern splunkd
    /// (map/reduce, recording) and have no meaning offline.
    pub(crate) offline: bool,
    /// The one mode it applies to, and why; a non-default value with the
    /// other mode is a [`Problem::Conflict`].
    pub(crate) only: Option<(Mode, &'static str)>,
}

/// Every option the command accepts. The README's options table and
/// searchbnf.conf document the same names, values and defaults; a test keeps
/// them in step. Adding an option is one entry here and its field in
/// [`Config`] (or [`Options`]).
pub const OPTIONS: [OptionSpec; 13] = [
    OptionSpec {
        name: "mode",
        kind: Kind::Choice(&[
            ("network", |d| d.mode = Some(Mode::Network)),
            ("noargs", |d| d.mode = Some(Mode::Noargs)),
        ]),
        default: None,
        help: "which detection: network connections or runs without arguments",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "binary",
        kind: Kind::Choice(&[
            ("regsvcs", |d| d.config.binary = Binary::Regsvcs),
            ("regasm", |d| d.config.binary = Binary::Regasm),
        ]),
        default: Some("regsvcs"),
        help: "the binary to look for (regasm: ESCU's Regasm twins)",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "input",
        kind: Kind::Choice(&[
            ("auto", |d| d.config.input = InputShape::Auto),
            ("events", |d| d.config.input = InputShape::Events),
            ("aggregated", |d| d.config.input = InputShape::Aggregated),
        ]),
        default: Some("auto"),
        help: "whether rows are events or stats/tstats rows (auto: by a numeric count)",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "tz",
        kind: Kind::Text {
            shown: "<IANA zone>|UTC|local",
            set: |d, v| {
                d.tz = Some(time_zone(v)?);
                Ok(())
            },
        },
        default: Some("local"),
        help: "time zone of firstTime/lastTime",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "timeformat",
        kind: Kind::Text {
            shown: "<strftime>|epoch",
            set: |d, v| {
                if v.is_empty() {
                    return Err(Expected("a strftime format or epoch".to_string()));
                }
                d.timeformat = Some(v.to_string());
                Ok(())
            },
        },
        default: Some(DEFAULT_TIMEFORMAT),
        help: "strftime format of firstTime/lastTime, or epoch to keep the numbers",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "cidrs",
        kind: Kind::Choice(&[
            ("rfc1918", |d| d.config.cidrs = CidrSet::Rfc1918),
            ("extended", |d| d.config.cidrs = CidrSet::Extended),
        ]),
        default: Some("rfc1918"),
        help: "destination ranges the network mode ignores",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "sysmon",
        kind: Kind::Bool(|d, b| d.config.sysmon = b),
        default: Some("f"),
        help: "require the sysmon macro's source/sourcetype",
        offline: true,
        only: Some((
            Mode::Network,
            "the noargs search reads the Endpoint data model, which has no Sysmon source",
        )),
    },
    OptionSpec {
        name: "cim_fill",
        kind: Kind::Bool(|d, b| d.config.cim_fill = b),
        default: Some("f"),
        help: "apply the Endpoint data model's calculated fields to raw events",
        offline: true,
        only: Some((
            Mode::Noargs,
            "the Network_Traffic data model has no calculated fills",
        )),
    },
    OptionSpec {
        name: "distributed",
        kind: Kind::Bool(|d, b| d.distributed = b),
        default: Some("t"),
        help: "filter and pre-aggregate on the indexers",
        offline: false,
        only: None,
    },
    OptionSpec {
        name: "max_groups",
        kind: Kind::Count {
            min: 1,
            max: MAX_MAX_GROUPS,
            set: |d, n| d.config.max_groups = n,
        },
        default: Some("1000000"),
        help: "the most result groups; past it the search stops with an error",
        offline: true,
        only: None,
    },
    OptionSpec {
        name: "threads",
        kind: Kind::Count {
            min: 1,
            max: MAX_THREADS,
            set: |d, n| d.threads = n,
        },
        default: Some("2"),
        help: "threads that decode and aggregate each request's rows",
        offline: false,
        only: None,
    },
    OptionSpec {
        name: "record",
        kind: Kind::Bool(|d, b| d.record = b),
        default: Some("f"),
        help: "record the session into the dispatch directory",
        offline: false,
        only: None,
    },
    OptionSpec {
        name: "phase",
        kind: Kind::Choice(&[
            ("map", |d| d.phase = Phase::Map),
            ("reduce", |d| d.phase = Phase::Reduce),
        ]),
        default: Some("reduce"),
        help: "internal: set by the command itself for its indexer phase",
        offline: false,
        only: None,
    },
];

/// An option being built from its value or default. Only the setters in
/// [`OPTIONS`] write it; [`Options::parse`] turns it into [`Options`].
pub struct Draft {
    mode: Option<Mode>,
    config: Config,
    phase: Phase,
    distributed: bool,
    record: bool,
    threads: usize,
    tz: Option<TimeZone>,
    timeformat: Option<String>,
}

/// Why an argument list was refused. Each one is one ERROR message in Splunk
/// (after the command's name) or one line offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An argument longer than [`MAX_ARG_BYTES`], shown by its first characters.
    TooLong {
        /// The argument's first 40 characters.
        head: String,
        /// Its length in bytes.
        len: usize,
    },
    /// An argument that is not `name=value`.
    NotAnOption {
        /// The argument.
        arg: String,
    },
    /// A name that is no option.
    Unknown {
        /// The name, lowercased.
        name: String,
    },
    /// An option given twice.
    Repeated {
        /// The option.
        name: &'static str,
    },
    /// A value the option does not take.
    Invalid {
        /// The option.
        name: &'static str,
        /// The value given (or the default, when that cannot apply here).
        value: String,
        /// What the option takes.
        expected: String,
    },
    /// A required option not given.
    Missing {
        /// The option.
        name: &'static str,
        /// What it takes.
        expected: String,
    },
    /// An option set for the mode it does not apply to.
    Conflict {
        /// The option.
        name: &'static str,
        /// The value given.
        value: String,
        /// The mode it applies to.
        mode: Mode,
        /// Why it does not apply to the other.
        why: &'static str,
    },
    /// An option that concerns splunkd, given to `regsvcsdetect run`.
    NotOffline {
        /// The option.
        name: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooLong { head, len } => write!(
                f,
                "argument \"{head}...\" is {len} bytes long, more than the limit of {MAX_ARG_BYTES}"
            ),
            Problem::NotAnOption { arg } => write!(
                f,
                "unexpected argument \"{arg}\": options are written name=value, e.g. mode=network"
            ),
            Problem::Unknown { name } => {
                let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
                write!(
                    f,
                    "unknown option \"{name}\": expected one of {}",
                    known.join(", ")
                )
            }
            Problem::Repeated { name } => write!(f, "option {name} is given more than once"),
            Problem::Invalid {
                name,
                value,
                expected,
            } => write!(
                f,
                "invalid value \"{value}\" for {name}: expected {expected}"
            ),
            Problem::Missing { name, expected } => {
                write!(f, "{name} is required: expected {expected}")
            }
            Problem::Conflict {
                name,
                value,
                mode,
                why,
            } => write!(
                f,
                "{name}={value} applies to mode={} only: {why}",
                mode.name()
            ),
            Problem::NotOffline { name } => write!(
                f,
                "option {name} concerns splunkd (map/reduce, recording, threads) and has no meaning offline"
            ),
        }
    }
}

impl std::error::Error for Problem {}

/// Every problem with one argument list, at most [`MAX_ERRORS`] of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    list: Vec<Problem>,
    omitted: usize,
}

impl Problems {
    fn new(found: Vec<Problem>) -> Problems {
        let mut list: Vec<Problem> = Vec::new();
        for p in found {
            if !list.contains(&p) {
                list.push(p);
            }
        }
        let omitted = list.len().saturating_sub(MAX_ERRORS);
        list.truncate(MAX_ERRORS);
        Problems { list, omitted }
    }

    /// The problems reported, in argument order.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.list.iter()
    }

    /// How many problems past [`MAX_ERRORS`] were left out.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// One message per problem, plus one counting those left out.
    pub(crate) fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = self.list.iter().map(Problem::to_string).collect();
        if self.omitted > 0 {
            out.push(format!(
                "and {} more problems with the arguments",
                self.omitted
            ));
        }
        out
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.messages().join("; "))
    }
}

impl std::error::Error for Problems {}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl Kind {
    /// The values, as usage and searchbnf show them: `network|noargs`,
    /// `<bool>`, `<integer>`, or the text's own description.
    pub fn shown(&self) -> String {
        match self {
            Kind::Choice(choices) => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                names.join("|")
            }
            Kind::Bool(_) => "<bool>".to_string(),
            Kind::Count { .. } => "<integer>".to_string(),
            Kind::Text { shown, .. } => shown.to_string(),
        }
    }

    /// The literal words among the values (`network`, `noargs`; `UTC`,
    /// `local`; none for a boolean or a number).
    pub fn literals(&self) -> Vec<&'static str> {
        match self {
            Kind::Choice(choices) => choices.iter().map(|(n, _)| *n).collect(),
            Kind::Bool(_) | Kind::Count { .. } => Vec::new(),
            Kind::Text { shown, .. } => shown.split('|').filter(|w| !w.starts_with('<')).collect(),
        }
    }

    /// What a value must look like, for [`Problem::Invalid`].
    fn expected(&self) -> Expected {
        Expected(match self {
            Kind::Choice(choices) => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                names.join(" or ")
            }
            Kind::Bool(_) => "a boolean (t/f, true/false, yes/no, 1/0)".to_string(),
            Kind::Count { min, max, .. } => format!("a whole number from {min} to {max}"),
            Kind::Text { shown, .. } => shown.replace('|', " or "),
        })
    }

    /// Checks `value` and sets it; `Err` says what was expected.
    fn apply(&self, draft: &mut Draft, value: &str) -> Result<(), Expected> {
        match self {
            Kind::Choice(choices) => {
                match choices.iter().find(|(n, _)| n.eq_ignore_ascii_case(value)) {
                    Some((_, set)) => {
                        set(draft);
                        Ok(())
                    }
                    None => Err(self.expected()),
                }
            }
            Kind::Bool(set) => parse_bool(value)
                .map(|b| set(draft, b))
                .ok_or_else(|| self.expected()),
            Kind::Count { min, max, set } => match value.parse::<usize>() {
                Ok(n) if (*min..=*max).contains(&n) => {
                    set(draft, n);
                    Ok(())
                }
                _ => Err(self.expected()),
            },
            Kind::Text { set, .. } => set(draft, value),
        }
    }

    /// Whether two values mean the same.
    fn same(&self, a: &str, b: &str) -> bool {
        match self {
            Kind::Bool(_) => parse_bool(a) == parse_bool(b),
            Kind::Choice(_) => a.eq_ignore_ascii_case(b),
            Kind::Count { .. } | Kind::Text { .. } => a == b,
        }
    }
}

impl OptionSpec {
    /// The option by name (lowercase).
    pub(crate) fn find(name: &str) -> Option<&'static OptionSpec> {
        OPTIONS.iter().find(|o| o.name == name)
    }
}

/// Parses a Splunk boolean: 1/0, t/f, true/false, y/n, yes/no, any case.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Resolves `tz=`: `local` is the process's zone (the `TZ` variable, else
/// the system's), `UTC` is UTC, anything else an IANA name from the system
/// time zone database.
fn time_zone(name: &str) -> Result<TimeZone, Expected> {
    if name.eq_ignore_ascii_case("local") {
        return TimeZone::try_system().map_err(|e| {
            Expected(format!(
                "UTC or an IANA time zone: the local time zone cannot be read ({e})"
            ))
        });
    }
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name)
        .map_err(|_| Expected("an IANA time zone such as Europe/Paris, UTC or local".to_string()))
}

impl Options {
    /// Parses SPL `name=value` arguments.
    ///
    /// # Errors
    ///
    /// Every problem found, at once: unknown options, arguments without
    /// `=`, repeated options, a missing `mode`, bad values and options set
    /// for the other mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use regsvcsdetect::options::{Options, Problem};
    /// let args = vec!["mode=network".to_string(), "tz=UTC".to_string()];
    /// assert!(Options::parse(&args).is_ok());
    /// let problems = Options::parse(&["nosuch=1".to_string()]).unwrap_err();
    /// let found: Vec<&Problem> = problems.iter().collect();
    /// assert!(matches!(found[0], Problem::Unknown { name } if name == "nosuch"));
    /// assert!(matches!(found[1], Problem::Missing { name: "mode", .. }));
    /// ```
    pub fn parse(args: &[String]) -> Result<Options, Problems> {
        Options::parse_in(args, false)
    }

    /// Parses the options of `regsvcsdetect run`: as [`Options::parse`],
    /// and the options that concern splunkd are refused.
    ///
    /// # Errors
    ///
    /// As [`Options::parse`], plus [`Problem::NotOffline`].
    pub(crate) fn parse_offline(args: &[String]) -> Result<Options, Problems> {
        Options::parse_in(args, true)
    }

    fn parse_in(args: &[String], offline: bool) -> Result<Options, Problems> {
        let mut problems = Vec::new();
        let mut given: Vec<(&'static OptionSpec, String)> = Vec::new();
        for arg in args {
            // Messages quote arguments back; keep a hostile one from flooding them.
            if arg.len() > MAX_ARG_BYTES {
                let head = arg.chars().take(40).collect();
                problems.push(Problem::TooLong {
                    head,
                    len: arg.len(),
                });
                continue;
            }
            let Some((name, value)) = arg.split_once('=') else {
                problems.push(Problem::NotAnOption { arg: arg.clone() });
                continue;
            };
            // Option names are case-insensitive, as searchbnf shows them in capitals.
            let name = name.trim().to_ascii_lowercase();
            let Some(spec) = OptionSpec::find(&name) else {
                problems.push(Problem::Unknown { name });
                continue;
            };
            if given.iter().any(|(s, _)| s.name == spec.name) {
                problems.push(Problem::Repeated { name: spec.name });
                continue;
            }
            if offline && !spec.offline {
                problems.push(Problem::NotOffline { name: spec.name });
                continue;
            }
            // `args` arrive unquoted from splunkd; a value still wrapped in
            // quotes (raw tokens from another driver) is unquoted here.
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(_) if value.len() >= 2 => unquote(value),
                _ => value.to_string(),
            };
            given.push((spec, value));
        }

        let mut draft = Draft {
            mode: None,
            config: Config::new(Mode::Network, TimeRender::Epoch),
            phase: Phase::Reduce,
            distributed: true,
            record: false,
            threads: 1,
            tz: None,
            timeformat: None,
        };
        for spec in &OPTIONS {
            let value = given
                .iter()
                .find(|(s, _)| s.name == spec.name)
                .map(|(_, v)| v.as_str())
                .or(spec.default);
            let Some(value) = value else {
                problems.push(Problem::Missing {
                    name: spec.name,
                    expected: spec.kind.expected().0,
                });
                continue;
            };
            if let Err(Expected(expected)) = spec.kind.apply(&mut draft, value) {
                problems.push(Problem::Invalid {
                    name: spec.name,
                    value: value.to_string(),
                    expected,
                });
            }
        }
        // The format is checked in its zone, so only once the zone is known.
        if let (Some(tz), Some(format)) = (draft.tz.take(), draft.timeformat.take()) {
            if format.eq_ignore_ascii_case("epoch") {
                draft.config.time = TimeRender::Epoch;
            } else {
                match TimeRender::format(&format, tz) {
                    Ok(t) => draft.config.time = t,
                    Err(e) => problems.push(Problem::Invalid {
                        name: "timeformat",
                        value: format,
                        expected: format!("a strftime format or epoch ({})", e.0),
                    }),
                }
            }
        }
        if let Some(mode) = draft.mode {
            for (spec, value) in &given {
                let Some((only, why)) = spec.only else {
                    continue;
                };
                let default = spec.default.unwrap_or_default();
                if only != mode && !spec.kind.same(value, default) {
                    problems.push(Problem::Conflict {
                        name: spec.name,
                        value: value.clone(),
                        mode: only,
                        why,
                    });
                }
            }
        }
        let Some(mode) = draft.mode.filter(|_| problems.is_empty()) else {
            return Err(Problems::new(problems));
        };
        draft.config.mode = mode;
        Ok(Options {
            config: draft.config,
            phase: draft.phase,
            distributed: draft.distributed,
            record: draft.record,
            threads: draft.threads,
            given: given
                .into_iter()
                .filter(|(s, _)| s.name != "phase")
                .map(|(s, v)| (s.name.to_string(), v))
                .collect(),
        })
    }

    /// The map-phase search for `streaming_preop`: `regsvcsdetect phase=map`
    /// followed by the user's options, quoted where splunkd's tokenizer needs it.
    pub fn preop(&self, command: &str) -> String {
        let mut s = format!("{command} phase=map");
        // The reduce alone records; two processes writing the same files
        // would garble them.
        for (name, value) in self.given.iter().filter(|(n, _)| n != "record") {
            s.push(' ');
            s.push_str(name);
            s.push('=');
            s.push_str(&quote(value));
        }
        s
    }
}

/// Quotes an SPL argument value when it holds spaces, quotes or pipes.
pub(crate) fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\\' | '|' | '[' | ']' | '=' | '`'));
    if plain {
        return value.to_string();
    }
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Removes one level of SPL quoting from a `raw_args` token:
/// `name="a \"b\""` becomes `name=a "b"`.
pub fn unquote(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn booleans_accept_every_splunk_spelling() {
        for t in ["1", "t", "T", "true", "TRUE", "y", "Yes"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "False", "n", "NO"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    fn problems(list: &[&str]) -> Vec<Problem> {
        Options::parse(&args(list))
            .unwrap_err()
            .iter()
            .cloned()
            .collect()
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let found = problems(&[
            "nosuch=1",
            "positional",
            "sysmon=perhaps",
            "cidrs=all",
            "tz=Mars/Olympus",
            "max_groups=0",
        ]);
        assert_eq!(found.len(), 7, "{found:#?}");
        assert_eq!(
            found[0],
            Problem::Unknown {
                name: "nosuch".into()
            }
        );
        assert_eq!(
            found[1],
            Problem::NotAnOption {
                arg: "positional".into()
            }
        );
        assert!(found.contains(&Problem::Missing {
            name: "mode",
            expected: "network or noargs".into()
        }));
        for (name, value) in [
            ("sysmon", "perhaps"),
            ("cidrs", "all"),
            ("tz", "Mars/Olympus"),
            ("max_groups", "0"),
        ] {
            assert!(
                found.iter().any(|p| matches!(p,
                    Problem::Invalid { name: n, value: v, .. } if *n == name && v == value)),
                "{name}={value} not refused: {found:#?}"
            );
        }
    }

    #[test]
    fn bad_mode_and_repeated_option() {
        let found = problems(&["mode=dns", "mode=network"]);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0], Problem::Repeated { name: "mode" });
        assert!(matches!(
            &found[1],
            Problem::Invalid { name: "mode", value, expected } if value == "dns" && expected == "network or noargs"
        ));
    }

    #[test]
    fn problems_read_as_one_sentence_each() {
        let p = Problem::Invalid {
            name: "cidrs",
            value: "all".into(),
            expected: "rfc1918 or extended".into(),
        };
        assert_eq!(
            p.to_string(),
            "invalid value \"all\" for cidrs: expected rfc1918 or extended"
        );
        let p = Problem::Conflict {
            name: "sysmon",
            value: "t".into(),
            mode: Mode::Network,
            why: "no Sysmon source",
        };
        assert_eq!(
            p.to_string(),
            "sysmon=t applies to mode=network only: no Sysmon source"
        );
    }

    #[test]
    fn splunkd_options_are_refused_offline_only() {
        for name in ["phase=map", "record=t", "distributed=f"] {
            let list = args(&["mode=network", name]);
            assert!(Options::parse(&list).is_ok(), "{name}");
            let found: Vec<Problem> = Options::parse_offline(&list)
                .unwrap_err()
                .iter()
                .cloned()
                .collect();
            assert!(
                matches!(found[..], [Problem::NotOffline { name: n }] if name.starts_with(n)),
                "{found:?}"
            );
        }
    }

    #[test]
    fn every_listed_value_is_accepted_and_defaults_apply() {
        for spec in &OPTIONS {
            let mode = if spec.only.map(|(m, _)| m) == Some(Mode::Noargs) {
                "mode=noargs"
            } else {
                "mode=network"
            };
            for word in spec.kind.literals() {
                let mut list = Vec::new();
                if spec.name != "mode" {
                    list.push(mode.to_string());
                }
                if spec.name != "tz" {
                    list.push("tz=UTC".to_string());
                }
                list.push(format!("{}={word}", spec.name));
                assert!(Options::parse(&list).is_ok(), "{list:?}");
            }
            if let Some(default) = spec.default {
                let list = args(&["mode=network", &format!("{}={default}", spec.name)]);
                assert!(Options::parse(&list).is_ok(), "{list:?}");
            }
            let bogus = args(&["mode=network", &format!("{}=bogus%", spec.name)]);
            assert!(Options::parse(&bogus).is_err(), "{bogus:?}");
        }
        assert_eq!(
            OptionSpec::find("max_groups").and_then(|s| s.default),
            Some(crate::detect::DEFAULT_MAX_GROUPS.to_string().as_str())
        );
    }

    #[test]
    fn mode_specific_options_are_refused_elsewhere() {
        let found = problems(&["mode=noargs", "sysmon=yes"]);
        assert!(
            matches!(&found[..], [Problem::Conflict { name: "sysmon", value, mode: Mode::Network, .. }] if value == "yes"),
            "{found:?}"
        );
        let found = problems(&["mode=network", "cim_fill=t"]);
        assert!(
            matches!(
                &found[..],
                [Problem::Conflict {
                    name: "cim_fill",
                    mode: Mode::Noargs,
                    ..
                }]
            ),
            "{found:?}"
        );
        assert!(Options::parse(&args(&["mode=noargs", "sysmon=no"])).is_ok());
        assert!(Options::parse(&args(&["mode=network", "sysmon=t", "cim_fill=f"])).is_ok());
    }

    #[test]
    fn preop_leaves_recording_to_the_reduce() {
        let o = Options::parse(&args(&["mode=network", "record=t"])).unwrap();
        assert_eq!(
            o.preop("regsvcsdetect"),
            "regsvcsdetect phase=map mode=network"
        );
    }

    #[test]
    fn option_names_ignore_case() {
        let o = Options::parse(&args(&["MODE=noargs", "Tz=UTC"])).unwrap();
        assert_eq!(o.config.mode, Mode::Noargs);
        assert_eq!(o.given[0], ("mode".to_string(), "noargs".to_string()));
    }

    #[test]
    fn hostile_argument_lists_give_short_reports() {
        let long = format!("mode={}", "n".repeat(50_000));
        let messages = Options::parse(&[long]).unwrap_err().messages();
        assert!(messages.iter().all(|e| e.len() < 300), "{messages:?}");
        let many: Vec<String> = (0..5000).map(|i| format!("x{i}=1")).collect();
        let problems = Options::parse(&many).unwrap_err();
        assert_eq!(problems.iter().count(), MAX_ERRORS);
        assert_eq!(problems.omitted(), 5001 - MAX_ERRORS);
        assert_eq!(problems.messages().len(), MAX_ERRORS + 1);
        let dup = vec!["tz=UTC".to_string(); 1000];
        let found: Vec<Problem> = Options::parse(&dup).unwrap_err().iter().cloned().collect();
        assert!(
            matches!(
                found[..],
                [
                    Problem::Repeated { name: "tz" },
                    Problem::Missing { name: "mode", .. }
                ]
            ),
            "{found:?}"
        );
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let o = Options::parse(&args(&[
            "mode=\"network\"",
            "timeformat=\"%Y %m\"",
            "tz=UTC",
        ]))
        .unwrap();
        assert_eq!(o.config.time.time(0.0).unwrap(), "1970 01");
    }

    #[test]
    fn defaults() {
        let o = Options::parse(&args(&["mode=noargs"])).unwrap();
        assert_eq!(o.config.mode, Mode::Noargs);
        assert_eq!(o.config.binary, Binary::Regsvcs);
        assert!(o.distributed);
        assert!(!o.record);
        assert_eq!(o.phase, Phase::Reduce);
        assert!(matches!(o.config.time, TimeRender::Format { .. }));
    }

    #[test]
    fn timeformat_epoch_and_custom() {
        let o = Options::parse(&args(&["mode=network", "timeformat=epoch"])).unwrap();
        assert!(matches!(o.config.time, TimeRender::Epoch));
        let o = Options::parse(&args(&[
            "mode=network",
            "timeformat=%d/%m/%Y %H:%M",
            "tz=UTC",
        ]))
        .unwrap();
        assert_eq!(o.config.time.time(0.0).unwrap(), "01/01/1970 00:00");
        assert!(Options::parse(&args(&["mode=network", "timeformat=%Q%"])).is_err());
    }

    #[test]
    fn preop_carries_the_users_options_quoted() {
        let o = Options::parse(&args(&[
            "mode=network",
            "timeformat=%Y %m",
            "tz=UTC",
            "phase=reduce",
        ]))
        .unwrap();
        assert_eq!(
            o.preop("regsvcsdetect"),
            "regsvcsdetect phase=map mode=network timeformat=\"%Y %m\" tz=UTC"
        );
    }
}
