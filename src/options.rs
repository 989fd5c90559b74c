//! The command's options (`name=value`), parsed once for SPL and for the offline runner, with every problem reported at once.

use jiff::tz::TimeZone;

use crate::detect::{Binary, CidrSet, Config, InputShape, Mode, TimeRender, DEFAULT_MAX_GROUPS};

/// The default `timeformat`, ESCU's `security_content_ctime`.
pub const DEFAULT_TIMEFORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// The longest single argument accepted, in bytes.
pub const MAX_ARG_BYTES: usize = 4096;

/// The most problems reported for one argument list.
pub const MAX_ERRORS: usize = 20;

/// The largest `max_groups` accepted.
pub const MAX_MAX_GROUPS: usize = 100_000_000;

/// Which side of the map/reduce split this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
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
    pub phase: Phase,
    /// Whether the reduce process asks splunkd for a map phase on the peers.
    pub distributed: bool,
    /// Record the session's bytes into the dispatch directory.
    pub record: bool,
    /// The options as the user wrote them (name, value), in order, without
    /// `phase`: the map phase gets the same ones.
    pub given: Vec<(String, String)>,
}

/// One option: its name, the values it takes, and what it does. The README
/// and searchbnf.conf document the same list; a test keeps them in step.
pub struct OptionDoc {
    /// The option name.
    pub name: &'static str,
    /// Accepted values.
    pub values: &'static str,
    /// Default.
    pub default: &'static str,
}

/// Every option the command accepts.
pub const OPTIONS: [OptionDoc; 12] = [
    OptionDoc {
        name: "mode",
        values: "network|noargs",
        default: "(required)",
    },
    OptionDoc {
        name: "binary",
        values: "regsvcs|regasm",
        default: "regsvcs",
    },
    OptionDoc {
        name: "input",
        values: "auto|events|aggregated",
        default: "auto",
    },
    OptionDoc {
        name: "tz",
        values: "<IANA zone>|UTC|local",
        default: "local",
    },
    OptionDoc {
        name: "timeformat",
        values: "<strftime>|epoch",
        default: "%Y-%m-%dT%H:%M:%S",
    },
    OptionDoc {
        name: "cidrs",
        values: "rfc1918|extended",
        default: "rfc1918",
    },
    OptionDoc {
        name: "sysmon",
        values: "<bool>",
        default: "f",
    },
    OptionDoc {
        name: "cim_fill",
        values: "<bool>",
        default: "f",
    },
    OptionDoc {
        name: "distributed",
        values: "<bool>",
        default: "t",
    },
    OptionDoc {
        name: "max_groups",
        values: "<integer>",
        default: "1000000",
    },
    OptionDoc {
        name: "record",
        values: "<bool>",
        default: "f",
    },
    OptionDoc {
        name: "phase",
        values: "map|reduce",
        default: "reduce",
    },
];

/// Parses a Splunk boolean: 1/0, t/f, true/false, y/n, yes/no, any case.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Resolves `tz=`: `local` is the process's zone (the `TZ` variable, else
/// the system's), `UTC` is UTC, anything else an IANA name from the system
/// time zone database.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("local") {
        return TimeZone::try_system().map_err(|e| format!("cannot read the local time zone: {e}"));
    }
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| {
        format!("invalid value \"{name}\" for tz: expected an IANA time zone such as Europe/Paris, UTC or local")
    })
}

fn choice<T: Copy>(name: &str, value: &str, table: &[(&str, T)]) -> Result<T, String> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(value))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
            format!(
                "invalid value \"{value}\" for {name}: expected {}",
                names.join(" or ")
            )
        })
}

impl Options {
    /// Parses `name=value` arguments.
    ///
    /// # Errors
    ///
    /// Every problem found, one message each: unknown options, arguments
    /// without `=`, repeated options, a missing `mode`, and bad values.
    ///
    /// # Examples
    ///
    /// ```
    /// use regsvcsdetect::options::Options;
    /// let args = vec!["mode=network".to_string(), "tz=UTC".to_string()];
    /// assert!(Options::parse(&args).is_ok());
    /// let errors = Options::parse(&["nosuch=1".to_string()]).unwrap_err();
    /// assert_eq!(errors.len(), 2); // unknown option, and mode is missing
    /// ```
    pub fn parse(args: &[String]) -> Result<Options, Vec<String>> {
        let mut errors = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for arg in args {
            // Messages quote arguments back; keep a hostile one from flooding them.
            if arg.len() > MAX_ARG_BYTES {
                let head: String = arg.chars().take(40).collect();
                errors.push(format!(
                    "argument \"{head}...\" is {} bytes long, more than the limit of {MAX_ARG_BYTES}",
                    arg.len()
                ));
                continue;
            }
            let Some((name, value)) = arg.split_once('=') else {
                errors.push(format!(
                    "unexpected argument \"{arg}\": options are written name=value, e.g. mode=network"
                ));
                continue;
            };
            // Option names are case-insensitive, as searchbnf shows them in capitals.
            let name = name.trim().to_ascii_lowercase();
            let name = name.as_str();
            if !OPTIONS.iter().any(|o| o.name == name) {
                let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
                errors.push(format!(
                    "unknown option \"{name}\": expected one of {}",
                    known.join(", ")
                ));
                continue;
            }
            if seen.iter().any(|(n, _)| n == name) {
                errors.push(format!("option {name} is given more than once"));
                continue;
            }
            // `args` arrive unquoted from splunkd; a value still wrapped in
            // quotes (raw tokens from another driver) is unquoted here.
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(_) if value.len() >= 2 => unquote(value),
                _ => value.to_string(),
            };
            seen.push((name.to_string(), value));
        }
        let get = |name: &str| {
            seen.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let mut check = |r: Result<(), String>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };

        let mut mode = Mode::Network;
        match get("mode") {
            None => check(Err(
                "mode is required: mode=network or mode=noargs".to_string()
            )),
            Some(v) => check(
                choice(
                    "mode",
                    v,
                    &[("network", Mode::Network), ("noargs", Mode::Noargs)],
                )
                .map(|m| mode = m),
            ),
        }
        let mut time = TimeRender::Epoch;
        let mut cfg = Config::new(mode, TimeRender::Epoch);
        if let Some(v) = get("binary") {
            check(
                choice(
                    "binary",
                    v,
                    &[("regsvcs", Binary::Regsvcs), ("regasm", Binary::Regasm)],
                )
                .map(|b| cfg.binary = b),
            );
        }
        if let Some(v) = get("input") {
            check(
                choice(
                    "input",
                    v,
                    &[
                        ("auto", InputShape::Auto),
                        ("events", InputShape::Events),
                        ("aggregated", InputShape::Aggregated),
                    ],
                )
                .map(|s| cfg.input = s),
            );
        }
        if let Some(v) = get("cidrs") {
            check(
                choice(
                    "cidrs",
                    v,
                    &[
                        ("rfc1918", CidrSet::Rfc1918),
                        ("extended", CidrSet::Extended),
                    ],
                )
                .map(|c| cfg.cidrs = c),
            );
        }
        let flag = |name: &str, default: bool, errors: &mut Vec<String>| {
            match get(name) {
            None => default,
            Some(v) => parse_bool(v).unwrap_or_else(|| {
                errors.push(format!(
                    "invalid value \"{v}\" for {name}: expected a boolean (t/f, true/false, yes/no, 1/0)"
                ));
                default
            }),
        }
        };
        cfg.sysmon = flag("sysmon", false, &mut errors);
        cfg.cim_fill = flag("cim_fill", false, &mut errors);
        let distributed = flag("distributed", true, &mut errors);
        let record = flag("record", false, &mut errors);
        let mut check = |r: Result<(), String>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        if let Some(v) = get("max_groups") {
            check(match v.parse::<usize>() {
                Ok(n) if (1..=MAX_MAX_GROUPS).contains(&n) => {
                    cfg.max_groups = n;
                    Ok(())
                }
                _ => Err(format!(
                    "invalid value \"{v}\" for max_groups: expected a whole number from 1 to {MAX_MAX_GROUPS}"
                )),
            });
        } else {
            cfg.max_groups = DEFAULT_MAX_GROUPS;
        }
        let mut phase = Phase::Reduce;
        if let Some(v) = get("phase") {
            check(
                choice(
                    "phase",
                    v,
                    &[("reduce", Phase::Reduce), ("map", Phase::Map)],
                )
                .map(|p| phase = p),
            );
        }
        let tz = time_zone(get("tz").unwrap_or("local"));
        match get("timeformat") {
            Some(f) if f.eq_ignore_ascii_case("epoch") => {
                check(tz.map(|_| ()));
            }
            format => match tz {
                Err(e) => check(Err(e)),
                Ok(tz) => {
                    let format = format.unwrap_or(DEFAULT_TIMEFORMAT);
                    check(if format.is_empty() {
                        Err("invalid value \"\" for timeformat: expected a strftime format or epoch".to_string())
                    } else {
                        TimeRender::format(format, tz)
                            .map(|t| time = t)
                            .map_err(|e| {
                                format!("invalid value \"{format}\" for timeformat: {}", e.0)
                            })
                    });
                }
            },
        }
        if cfg.sysmon && mode == Mode::Noargs {
            errors.push("sysmon=t applies to mode=network only: the noargs search reads the Endpoint data model, which has no Sysmon source".to_string());
        }
        if cfg.cim_fill && mode == Mode::Network {
            errors.push("cim_fill=t applies to mode=noargs only: the Network_Traffic data model has no calculated fills".to_string());
        }
        if !errors.is_empty() {
            let mut unique: Vec<String> = Vec::new();
            for e in errors {
                if !unique.contains(&e) {
                    unique.push(e);
                }
            }
            if unique.len() > MAX_ERRORS {
                let more = unique.len() - MAX_ERRORS;
                unique.truncate(MAX_ERRORS);
                unique.push(format!("and {more} more problems with the arguments"));
            }
            return Err(unique);
        }
        cfg.time = time;
        cfg.mode = mode;
        Ok(Options {
            config: cfg,
            phase,
            distributed,
            record,
            given: seen.into_iter().filter(|(n, _)| n != "phase").collect(),
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
pub fn quote(value: &str) -> String {
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

    #[test]
    fn all_problems_are_reported_at_once() {
        let errors = Options::parse(&args(&[
            "nosuch=1",
            "positional",
            "sysmon=perhaps",
            "cidrs=all",
            "tz=Mars/Olympus",
            "max_groups=0",
        ]))
        .unwrap_err();
        assert_eq!(errors.len(), 7, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("mode is required")));
        assert!(errors.iter().any(|e| e.contains("\"nosuch\"")));
        assert!(errors.iter().any(|e| e.contains("Mars/Olympus")));
    }

    #[test]
    fn bad_mode_and_repeated_option() {
        let errors = Options::parse(&args(&["mode=dns", "mode=network"])).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:#?}");
    }

    #[test]
    fn mode_specific_options_are_refused_elsewhere() {
        assert!(Options::parse(&args(&["mode=noargs", "sysmon=t"])).is_err());
        assert!(Options::parse(&args(&["mode=network", "cim_fill=t"])).is_err());
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
        let errors = Options::parse(&[long]).unwrap_err();
        assert!(errors.iter().all(|e| e.len() < 300), "{errors:?}");
        let many: Vec<String> = (0..5000).map(|i| format!("x{i}=1")).collect();
        assert_eq!(Options::parse(&many).unwrap_err().len(), MAX_ERRORS + 1);
        let dup = vec!["tz=UTC".to_string(); 1000];
        assert!(Options::parse(&dup).unwrap_err().len() <= 3);
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
