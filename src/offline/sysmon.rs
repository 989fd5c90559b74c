//! Windows events to the CIM fields the detections read (DETECTIONS.md §7): Sysmon EventID 3 and 1 as the Splunk Add-on for Sysmon 5.0.0/4.0.2 extracts them, Security 4688 as the Splunk Add-on for Microsoft Windows 9.1.2 does; nothing is guessed.

use std::collections::BTreeMap;

use super::xml::XmlEvent;
use super::Record;
use crate::detect::{Mode, NETWORK_BY, NOARGS_BY, SYSMON_SOURCETYPE};

/// The provider name of Sysmon events.
pub(crate) const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";

/// The provider name of Windows Security audit events.
pub(crate) const SECURITY_PROVIDER: &str = "Microsoft-Windows-Security-Auditing";

/// The sourcetype Splunk gives Windows XML events (`XmlWinEventLog`).
pub(crate) const XML_SOURCETYPE: &str = "XmlWinEventLog";

/// The `vendor_product` the Sysmon add-on sets.
pub(crate) const VENDOR_PRODUCT: &str = "Microsoft Sysmon";

/// The `vendor_product` the Windows add-on sets for Security events.
pub(crate) const WINDOWS_VENDOR_PRODUCT: &str = "Microsoft Windows";

/// The add-on whose Sysmon extractions [`map`] follows.
pub(crate) const SYSMON_ADD_ON: &str = "Splunk Add-on for Sysmon 5.0.0 (same fields as 4.0.2)";

/// The add-on whose Security 4688 extractions [`map`] follows.
pub(crate) const WINDOWS_ADD_ON: &str = "Splunk Add-on for Microsoft Windows 9.1.2";

/// `Keywords` of a successful audit (`Audit Success`), the only value the
/// Windows add-on turns into `action=allowed`.
pub(crate) const AUDIT_SUCCESS: &str = "0x8020000000000000";

/// The CIM dataset an event maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    /// Sysmon EventID 3, `Network_Traffic.All_Traffic`: input of `mode=network`.
    Traffic,
    /// Sysmon EventID 1 or Security 4688, `Endpoint.Processes`: input of `mode=noargs`.
    Processes,
    /// Any other event: only `_time`, `EventID`, `source` and `sourcetype`.
    Other,
}

impl Model {
    /// The dataset a mode's search reads.
    pub(crate) fn of(mode: Mode) -> Model {
        match mode {
            Mode::Network => Model::Traffic,
            Mode::Noargs => Model::Processes,
        }
    }

    /// The detection's BY fields this dataset should carry.
    pub(crate) fn by_fields(self) -> &'static [&'static str] {
        match self {
            Model::Traffic => &NETWORK_BY,
            Model::Processes => &NOARGS_BY,
            Model::Other => &[],
        }
    }
}

/// Which kind of event was mapped, for the summary's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Sysmon EventID 3.
    SysmonNetwork,
    /// Sysmon EventID 1.
    SysmonProcess,
    /// Security 4688.
    SecurityProcess,
    /// Anything else.
    Other,
}

impl Kind {
    /// How the summary names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::SysmonNetwork => "Sysmon EventID 3",
            Kind::SysmonProcess => "Sysmon EventID 1",
            Kind::SecurityProcess => "Security 4688",
            Kind::Other => "other events",
        }
    }
}

/// A mapped event.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The CIM fields.
    pub record: Record,
    /// The dataset.
    pub(crate) model: Model,
    /// The kind of event.
    pub kind: Kind,
}

/// Maps one event. Sysmon EventID 3 and 1 follow DETECTIONS.md §7.2 and
/// §7.3 ([`SYSMON_ADD_ON`]); Security 4688 follows §7.3b ([`WINDOWS_ADD_ON`]).
/// Empty values are not extracted (null), as in Splunk.
pub fn map(ev: &XmlEvent) -> Mapped {
    let mut out = Out::default();
    let event_id = ev.system("EventID").map(str::trim).unwrap_or_default();
    out.set("EventID", event_id);
    out.set("EventCode", event_id);
    if let Some(t) = ev.system("TimeCreated.SystemTime").and_then(epoch) {
        out.set("_time", &t);
    }
    let channel = ev.system("Channel").unwrap_or_default();
    let provider = ev.system("Provider.Name").unwrap_or_default();
    let sysmon = provider == SYSMON_PROVIDER;
    let security = provider == SECURITY_PROVIDER || channel.eq_ignore_ascii_case("Security");
    let source = if sysmon || channel.is_empty() {
        SYSMON_SOURCETYPE.to_string()
    } else {
        format!("{XML_SOURCETYPE}:{channel}")
    };
    out.set("source", &source);
    out.set("sourcetype", XML_SOURCETYPE);
    let computer = ev.system("Computer").unwrap_or_default();
    let d = |name: &str| ev.data(name).unwrap_or_default();
    let (model, kind) = match (sysmon, security, event_id) {
        (true, _, "3") => {
            out.set("action", "allowed");
            out.set("app", d("Image"));
            out.set(
                "dest",
                or_dash(d("DestinationHostname"), d("DestinationIp")),
            );
            out.set("dest_ip", d("DestinationIp"));
            out.set("dest_port", d("DestinationPort"));
            // eval `Initiated=="true"` is case-sensitive: old Sysmon's "True" is inbound.
            let outbound = d("Initiated") == "true";
            out.set("direction", if outbound { "outbound" } else { "inbound" });
            out.set("dvc", computer);
            out.set("protocol", "ip");
            let ipv6 = d("DestinationIsIpv6") == "true";
            out.set("protocol_version", if ipv6 { "ipv6" } else { "ipv4" });
            out.set("src", or_dash(d("SourceHostname"), not_dash(d("SourceIp"))));
            out.set("src_ip", d("SourceIp"));
            out.set("src_port", d("SourcePort"));
            out.set("transport", d("Protocol"));
            out.set("user", d("User"));
            out.set("vendor_product", VENDOR_PRODUCT);
            out.set("process_name", image_name(d("Image")));
            out.set("process_exec", image_name(d("Image")));
            out.set("process_guid", d("ProcessGuid"));
            out.set("process_id", d("ProcessId"));
            (Model::Traffic, Kind::SysmonNetwork)
        }
        (true, _, "1") => {
            out.set("action", "allowed");
            out.set("dest", computer);
            out.set("original_file_name", not_dash(d("OriginalFileName")));
            out.set("parent_process", d("ParentCommandLine"));
            out.set("parent_process_exec", image_name(d("ParentImage")));
            out.set("parent_process_guid", d("ParentProcessGuid"));
            out.set("parent_process_id", d("ParentProcessId"));
            out.set("parent_process_name", image_name(d("ParentImage")));
            out.set("parent_process_path", d("ParentImage"));
            out.set("process", d("CommandLine"));
            out.set("process_exec", image_name(d("Image")));
            out.set("process_guid", d("ProcessGuid"));
            out.set("process_hash", d("Hashes"));
            out.set("process_id", d("ProcessId"));
            out.set("process_integrity_level", d("IntegrityLevel"));
            out.set("process_name", image_name(d("Image")));
            out.set("process_path", d("Image"));
            out.set("user", d("User"));
            // From the Windows add-on's `UserID AS user_id`.
            out.set("user_id", ev.system("Security.UserID").unwrap_or_default());
            out.set("vendor_product", VENDOR_PRODUCT);
            (Model::Processes, Kind::SysmonProcess)
        }
        (false, true, "4688") => {
            // The Windows add-on extracts by regex over the raw event: XML
            // entities stay as written.
            let r = |name: &str| ev.data_raw(name).unwrap_or_default();
            let action = match ev.system("Keywords").map(str::trim) {
                Some(AUDIT_SUCCESS) => "allowed",
                Some(k) if !k.is_empty() => "failure",
                _ => "",
            };
            out.set("action", action);
            out.set("dest", computer);
            let parent = r("ParentProcessName");
            out.set("parent_process", parent);
            out.set("parent_process_name", basename(parent));
            out.set("parent_process_path", parent);
            out.set("parent_process_id", r("ProcessId"));
            let new = r("NewProcessName");
            out.set(
                "process",
                &security_process(r("CommandLine"), new).unwrap_or_default(),
            );
            out.set("process_exec", basename(new));
            out.set("process_name", basename(new));
            out.set("process_path", new);
            out.set("process_id", r("NewProcessId"));
            out.set("user", or_dash(r("TargetUserName"), r("SubjectUserName")));
            out.set("user_id", ev.system("Security.UserID").unwrap_or_default());
            out.set("vendor_product", WINDOWS_VENDOR_PRODUCT);
            (Model::Processes, Kind::SecurityProcess)
        }
        _ => (Model::Other, Kind::Other),
    };
    Mapped {
        record: out.0,
        model,
        kind,
    }
}

/// `process` of a 4688 event (§7.3b): the whole command line when its first
/// token (a quoted string, or the run up to whitespace) holds a backslash;
/// otherwise `NewProcessName`, quoted when it has whitespace, then a space
/// and the arguments; `NewProcessName` alone without a command line or
/// without arguments.
pub(crate) fn security_process(command_line: &str, new_process_name: &str) -> Option<String> {
    if command_line.is_empty() {
        return (!new_process_name.is_empty()).then(|| new_process_name.to_string());
    }
    // Leading blanks are not part of the first token.
    let line = command_line.trim_start();
    let token_end = match line.strip_prefix('"') {
        Some(rest) => rest.find('"').map_or(line.len(), |i| i + 2),
        None => line.find(char::is_whitespace).unwrap_or(line.len()),
    };
    let (token, rest) = line.split_at(token_end);
    if token.contains('\\') || new_process_name.is_empty() {
        return Some(command_line.to_string());
    }
    let args = rest.trim_start();
    if args.is_empty() {
        return Some(new_process_name.to_string());
    }
    if new_process_name.contains(char::is_whitespace) {
        Some(format!("\"{new_process_name}\" {args}"))
    } else {
        Some(format!("{new_process_name} {args}"))
    }
}

/// Builds a record, leaving empty values out (empty is null).
#[derive(Default)]
struct Out(Record);

impl Out {
    fn set(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.0
                .push((name.to_string(), vec![value.as_bytes().to_vec()]));
        }
    }
}

/// `first` when present and not `-`, else `second`.
fn or_dash<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() || first == "-" {
        second
    } else {
        first
    }
}

/// The value, or nothing for `-`.
fn not_dash(value: &str) -> &str {
    if value == "-" {
        ""
    } else {
        value
    }
}

/// The text after the last backslash, original case kept (the Windows
/// add-on's basename of a 4688 path).
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or(path)
}

/// `process_name` from a Sysmon `Image`, as the Sysmon add-on's
/// `replace(Image, "(.*\\)(?=.*(\.\w*)$|(\w+)$)", "")` gives it: the text
/// after the last backslash when it ends in a dot and word characters or is
/// all word characters (ASCII, as PCRE without UCP); otherwise the whole
/// value unchanged.
pub(crate) fn image_name(image: &str) -> &str {
    let line = image.strip_suffix('\n').unwrap_or(image);
    // `.` stops at a newline: the match must start on the last line.
    let start = line.rfind('\n').map_or(0, |i| i + 1);
    let Some(slash) = line[start..].rfind('\\').map(|i| start + i) else {
        return image;
    };
    let tail = &line[slash + 1..];
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let suffix_start = tail
        .char_indices()
        .rev()
        .take_while(|(_, c)| word(*c))
        .last()
        .map_or(tail.len(), |(i, _)| i);
    let dotted = tail[..suffix_start].ends_with('.');
    let all_word = !tail.is_empty() && suffix_start == 0;
    if dotted || all_word {
        &image[slash + 1..]
    } else {
        image
    }
}

/// `SystemTime` as epoch seconds with microseconds, as Splunk's `_time`:
/// `2022-09-15T12:56:22.958249300Z` (Windows) or
/// `2019-07-19 14:46:19.484316+00:00` (python-evtx).
pub(crate) fn epoch(system_time: &str) -> Option<String> {
    let ts: jiff::Timestamp = system_time.trim().parse().ok()?;
    let micros = ts.as_microsecond();
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    Some(format!("{secs}.{frac:06}"))
}

/// Per BY field, how many events of a mode's dataset lacked it after the
/// mapping: what the XML could not provide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Underived {
    /// Events of the dataset seen.
    pub(crate) events: u64,
    /// Field name to events without it.
    pub(crate) missing: BTreeMap<&'static str, u64>,
}

impl Underived {
    /// Counts the BY fields of `model` absent from `record`.
    pub(crate) fn add(&mut self, model: Model, record: &Record) {
        self.events += 1;
        for field in model.by_fields() {
            if !record.iter().any(|(n, _)| n == field) {
                *self.missing.entry(field).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(provider: &str, eid: &str, data: &[(&str, &str)]) -> XmlEvent {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        XmlEvent {
            line: 1,
            system: vec![
                s("Provider.Name", provider),
                s("EventID", eid),
                s("TimeCreated.SystemTime", "2019-07-19 14:46:19.484316+00:00"),
                s("Keywords", AUDIT_SUCCESS),
                s("Computer", "HOST"),
                s("Security.UserID", "S-1-5-18"),
            ],
            data: data.iter().map(|(a, b)| s(a, b)).collect(),
            data_raw: data.iter().map(|(a, b)| s(a, b)).collect(),
        }
    }

    fn get<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
        r.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(&v[0]).ok())
    }

    #[test]
    fn eid3_follows_the_add_on() {
        let m = map(&event(
            SYSMON_PROVIDER,
            "3",
            &[
                ("Image", r"C:\x\RegSvcs.exe"),
                ("Initiated", "True"),
                ("DestinationIp", "93.184.216.34"),
                ("DestinationHostname", "-"),
                ("DestinationIsIpv6", "false"),
                ("DestinationPortName", "https"),
                ("SourceIp", "10.0.0.2"),
                ("SourceHostname", "-"),
                ("Protocol", "tcp"),
            ],
        ));
        assert_eq!(m.model, Model::Traffic);
        let r = &m.record;
        assert_eq!(get(r, "action"), Some("allowed"));
        assert_eq!(get(r, "dest"), Some("93.184.216.34"));
        assert_eq!(get(r, "src"), Some("10.0.0.2"));
        assert_eq!(get(r, "direction"), Some("inbound"));
        assert_eq!(get(r, "protocol"), Some("ip"));
        assert_eq!(get(r, "protocol_version"), Some("ipv4"));
        assert_eq!(get(r, "transport"), Some("tcp"));
        assert_eq!(get(r, "process_name"), Some("RegSvcs.exe"));
        assert_eq!(get(r, "app"), Some(r"C:\x\RegSvcs.exe"));
        assert_eq!(get(r, "dvc"), Some("HOST"));
        assert_eq!(get(r, "_time"), Some("1563547579.484316"));
        let m = map(&event(
            SYSMON_PROVIDER,
            "3",
            &[
                ("Initiated", "true"),
                ("DestinationIsIpv6", "true"),
                ("DestinationHostname", "h.example"),
                ("SourceIp", "-"),
            ],
        ));
        assert_eq!(get(&m.record, "direction"), Some("outbound"));
        assert_eq!(get(&m.record, "protocol_version"), Some("ipv6"));
        assert_eq!(get(&m.record, "dest"), Some("h.example"));
        assert_eq!(get(&m.record, "src"), None);
        let mut u = Underived::default();
        u.add(m.model, &m.record);
        assert_eq!(u.missing.get("src"), Some(&1));
        assert_eq!(u.missing.get("protocol_version"), None);
    }

    #[test]
    fn eid1_follows_the_add_on() {
        let m = map(&event(
            SYSMON_PROVIDER,
            "1",
            &[
                ("Image", r"C:\x\RegSvcs.exe"),
                ("CommandLine", r#""C:\x\regsvcs.exe" T1121.dll"#),
                ("ParentImage", r"C:\w\powershell.exe"),
                ("OriginalFileName", "-"),
            ],
        ));
        assert_eq!(m.model, Model::Processes);
        assert_eq!(m.kind, Kind::SysmonProcess);
        assert_eq!(get(&m.record, "process_name"), Some("RegSvcs.exe"));
        assert_eq!(
            get(&m.record, "parent_process_name"),
            Some("powershell.exe")
        );
        assert_eq!(get(&m.record, "original_file_name"), None);
        assert_eq!(get(&m.record, "user_id"), Some("S-1-5-18"));
        assert_eq!(get(&m.record, "action"), Some("allowed"));
        assert_eq!(get(&m.record, "dest"), Some("HOST"));
    }

    #[test]
    fn image_names_follow_the_add_on_regex() {
        assert_eq!(image_name(r"C:\x\RegSvcs.exe"), "RegSvcs.exe");
        assert_eq!(image_name(r"C:\x y\my tool.exe"), "my tool.exe");
        assert_eq!(image_name(r"C:\x\noext"), "noext");
        assert_eq!(image_name(r"C:\x\a.b c"), r"C:\x\a.b c");
        assert_eq!(image_name(r"C:\x\tool-1"), r"C:\x\tool-1");
        assert_eq!(image_name(r"C:\x\"), r"C:\x\");
        assert_eq!(image_name("RegSvcs.exe"), "RegSvcs.exe");
        assert_eq!(image_name("/usr/bin/curl"), "/usr/bin/curl");
    }

    #[test]
    fn security_4688_follows_the_windows_add_on() {
        let mut ev = event(
            SECURITY_PROVIDER,
            "4688",
            &[
                ("SubjectUserName", "WS1$"),
                ("TargetUserName", "-"),
                ("NewProcessId", "0x1a2b"),
                (
                    "NewProcessName",
                    r"C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe",
                ),
                ("ProcessId", "0x4d0"),
                ("CommandLine", "regsvcs.exe  /u x.dll"),
                ("ParentProcessName", r"C:\Windows\System32\cmd.exe"),
            ],
        );
        let m = map(&ev);
        assert_eq!(m.model, Model::Processes);
        assert_eq!(m.kind, Kind::SecurityProcess);
        let r = &m.record;
        assert_eq!(get(r, "action"), Some("allowed"));
        assert_eq!(
            get(r, "process"),
            Some(r"C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe /u x.dll")
        );
        assert_eq!(get(r, "process_name"), Some("RegSvcs.exe"));
        assert_eq!(get(r, "process_id"), Some("0x1a2b"));
        assert_eq!(get(r, "parent_process_id"), Some("0x4d0"));
        assert_eq!(get(r, "parent_process_name"), Some("cmd.exe"));
        assert_eq!(get(r, "user"), Some("WS1$"));
        assert_eq!(get(r, "vendor_product"), Some("Microsoft Windows"));
        assert_eq!(get(r, "original_file_name"), None);
        assert_eq!(get(r, "process_guid"), None);
        ev.system[3].1 = "0x8010000000000000".to_string();
        assert_eq!(get(&map(&ev).record, "action"), Some("failure"));
        let other = map(&event(SECURITY_PROVIDER, "4624", &[]));
        assert_eq!(other.model, Model::Other);
    }

    #[test]
    fn security_process_is_built_from_the_command_line() {
        let new = r"C:\P F\RegSvcs.exe";
        assert_eq!(security_process("", new).as_deref(), Some(new));
        assert_eq!(security_process("regsvcs.exe", new).as_deref(), Some(new));
        assert_eq!(
            security_process("regsvcs.exe   ", new).as_deref(),
            Some(new)
        );
        assert_eq!(
            security_process("regsvcs.exe /u", new).as_deref(),
            Some(r#""C:\P F\RegSvcs.exe" /u"#)
        );
        assert_eq!(
            security_process(r#""C:\P F\regsvcs.exe" a"#, new).as_deref(),
            Some(r#""C:\P F\regsvcs.exe" a"#)
        );
        assert_eq!(
            security_process(r#""regsvcs.exe" a b"#, r"C:\x\RegSvcs.exe").as_deref(),
            Some(r"C:\x\RegSvcs.exe a b")
        );
        assert_eq!(security_process("", ""), None);
        assert_eq!(security_process("  regsvcs.exe", new).as_deref(), Some(new));
        assert_eq!(
            security_process("&quot;C:\\x\\regsvcs.exe&quot;", new).as_deref(),
            Some("&quot;C:\\x\\regsvcs.exe&quot;"),
            "entities stay: the first token runs to whitespace and has a backslash"
        );
    }

    #[test]
    fn other_events_carry_only_generic_fields() {
        let m = map(&event(
            SYSMON_PROVIDER,
            "13",
            &[("Image", r"C:\x\regsvcs.exe")],
        ));
        assert_eq!(m.model, Model::Other);
        assert_eq!(get(&m.record, "process_name"), None);
        assert_eq!(get(&m.record, "EventID"), Some("13"));
    }

    #[test]
    fn both_time_renderings_parse() {
        assert_eq!(
            epoch("2022-09-15T12:56:22.958249300Z").as_deref(),
            Some("1663246582.958249")
        );
        assert_eq!(epoch("not a time"), None);
    }
}
