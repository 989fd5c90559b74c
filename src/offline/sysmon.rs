//! Sysmon XML events to the CIM fields the detections read (DETECTIONS.md §7): EventID 3 to Network_Traffic, EventID 1 to Endpoint.Processes, as the Sysmon add-on extracts them; nothing is guessed.

use std::collections::BTreeMap;

use super::xml::XmlEvent;
use super::Record;
use crate::detect::{Mode, NETWORK_BY, NOARGS_BY, SYSMON_SOURCETYPE};

/// The provider name of Sysmon events.
pub const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";

/// The sourcetype Splunk gives Windows XML events (`XmlWinEventLog`).
pub const XML_SOURCETYPE: &str = "XmlWinEventLog";

/// The `vendor_product` the Sysmon add-on sets.
pub const VENDOR_PRODUCT: &str = "Microsoft Sysmon";

/// The CIM dataset an event maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Sysmon EventID 3, `Network_Traffic.All_Traffic`: input of `mode=network`.
    Traffic,
    /// Sysmon EventID 1, `Endpoint.Processes`: input of `mode=noargs`.
    Processes,
    /// Any other event: only `_time`, `EventID`, `source` and `sourcetype`.
    Other,
}

impl Model {
    /// The dataset a mode's search reads.
    pub fn of(mode: Mode) -> Model {
        match mode {
            Mode::Network => Model::Traffic,
            Mode::Noargs => Model::Processes,
        }
    }

    /// The detection's BY fields this dataset should carry.
    pub fn by_fields(self) -> &'static [&'static str] {
        match self {
            Model::Traffic => &NETWORK_BY,
            Model::Processes => &NOARGS_BY,
            Model::Other => &[],
        }
    }
}

/// A mapped event.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The CIM fields.
    pub record: Record,
    /// The dataset.
    pub model: Model,
}

/// Maps one event. Values follow the Sysmon add-on's extractions (TA 8.1.0
/// props.conf, field names confirmed for 4.0.2/5.0.1); fields with no
/// source in the event (EventID 3's `action` and `protocol_version`) are
/// left out, so the engine counts them as missing.
pub fn map(ev: &XmlEvent) -> Mapped {
    let mut out = Out::default();
    let event_id = ev.system("EventID").map(str::trim).unwrap_or_default();
    out.set("EventID", event_id);
    out.set("EventCode", event_id);
    if let Some(t) = ev.system("TimeCreated.SystemTime").and_then(epoch) {
        out.set("_time", &t);
    }
    let channel = ev.system("Channel").unwrap_or_default();
    let sysmon = ev.system("Provider.Name") == Some(SYSMON_PROVIDER);
    let source = if sysmon || channel.is_empty() {
        SYSMON_SOURCETYPE.to_string()
    } else {
        format!("{XML_SOURCETYPE}:{channel}")
    };
    out.set("source", &source);
    out.set("sourcetype", XML_SOURCETYPE);
    let d = |name: &str| ev.data(name).unwrap_or_default();
    let model = match (sysmon, event_id) {
        (true, "3") => {
            let initiated = d("Initiated") == "true";
            out.set("dest_ip", d("DestinationIp"));
            out.set("dest_port", d("DestinationPort"));
            out.set("dest", or(d("DestinationHostname"), d("DestinationIp")));
            out.set("src_ip", d("SourceIp"));
            out.set("src_port", d("SourcePort"));
            out.set("src", or(d("SourceHostname"), d("SourceIp")));
            // eval `Initiated=="true"` is case-sensitive: old Sysmon's "True" is inbound.
            out.set("direction", if initiated { "outbound" } else { "inbound" });
            out.set(
                "protocol",
                if initiated {
                    d("DestinationPortName")
                } else {
                    d("SourcePortName")
                },
            );
            out.set("transport", d("Protocol"));
            out.set("app", d("Image"));
            out.set("dvc", ev.system("Computer").unwrap_or_default());
            out.set("user", d("User"));
            out.set("vendor_product", VENDOR_PRODUCT);
            out.set("process_name", basename(d("Image")));
            out.set("process_exec", basename(d("Image")));
            out.set("process_guid", d("ProcessGuid"));
            out.set("process_id", d("ProcessId"));
            Model::Traffic
        }
        (true, "1") => {
            out.set("action", "allowed");
            out.set("dest", ev.system("Computer").unwrap_or_default());
            out.set("original_file_name", d("OriginalFileName"));
            out.set("parent_process", d("ParentCommandLine"));
            out.set("parent_process_exec", basename(d("ParentImage")));
            out.set("parent_process_guid", d("ParentProcessGuid"));
            out.set("parent_process_id", d("ParentProcessId"));
            out.set("parent_process_name", basename(d("ParentImage")));
            out.set("parent_process_path", d("ParentImage"));
            out.set("process", d("CommandLine"));
            out.set("process_exec", basename(d("Image")));
            out.set("process_guid", d("ProcessGuid"));
            out.set("process_hash", d("Hashes"));
            out.set("process_id", d("ProcessId"));
            out.set("process_integrity_level", d("IntegrityLevel"));
            out.set("process_name", basename(d("Image")));
            out.set("process_path", d("Image"));
            out.set("process_current_directory", d("CurrentDirectory"));
            out.set("user", d("User"));
            out.set("user_id", ev.system("Security.UserID").unwrap_or_default());
            out.set("vendor_product", VENDOR_PRODUCT);
            Model::Processes
        }
        _ => Model::Other,
    };
    Mapped {
        record: out.0,
        model,
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

fn or<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() {
        second
    } else {
        first
    }
}

/// The file name of a Windows or POSIX path, original case kept.
pub fn basename(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// `SystemTime` as epoch seconds with microseconds, as Splunk's `_time`:
/// `2022-09-15T12:56:22.958249300Z` (Windows) or
/// `2019-07-19 14:46:19.484316+00:00` (python-evtx).
pub fn epoch(system_time: &str) -> Option<String> {
    let ts: jiff::Timestamp = system_time.trim().parse().ok()?;
    let micros = ts.as_microsecond();
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    Some(format!("{secs}.{frac:06}"))
}

/// Per BY field, how many events of a mode's dataset lacked it after the
/// mapping: what the XML could not provide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Underived {
    /// Events of the dataset seen.
    pub events: u64,
    /// Field name to events without it.
    pub missing: BTreeMap<&'static str, u64>,
}

impl Underived {
    /// Counts the BY fields of `model` absent from `record`.
    pub fn add(&mut self, model: Model, record: &Record) {
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

    fn event(eid: &str, data: &[(&str, &str)]) -> XmlEvent {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        XmlEvent {
            line: 1,
            system: vec![
                s("Provider.Name", SYSMON_PROVIDER),
                s("EventID", eid),
                s("TimeCreated.SystemTime", "2019-07-19 14:46:19.484316+00:00"),
                s("Computer", "HOST"),
                s("Security.UserID", "S-1-5-18"),
            ],
            data: data.iter().map(|(a, b)| s(a, b)).collect(),
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
            "3",
            &[
                ("Image", r"C:\x\RegSvcs.exe"),
                ("Initiated", "True"),
                ("DestinationIp", "93.184.216.34"),
                ("DestinationHostname", ""),
                ("DestinationPortName", "https"),
                ("SourcePortName", ""),
                ("SourceIp", "10.0.0.2"),
                ("SourceHostname", "h.local"),
                ("Protocol", "tcp"),
            ],
        ));
        assert_eq!(m.model, Model::Traffic);
        let r = &m.record;
        assert_eq!(get(r, "dest"), Some("93.184.216.34"));
        assert_eq!(get(r, "src"), Some("h.local"));
        assert_eq!(get(r, "direction"), Some("inbound"));
        assert_eq!(get(r, "protocol"), None);
        assert_eq!(get(r, "transport"), Some("tcp"));
        assert_eq!(get(r, "process_name"), Some("RegSvcs.exe"));
        assert_eq!(get(r, "dvc"), Some("HOST"));
        assert_eq!(get(r, "_time"), Some("1563547579.484316"));
        assert_eq!(get(r, "action"), None);
        let mut u = Underived::default();
        u.add(m.model, r);
        assert_eq!(u.missing.get("protocol_version"), Some(&1));
        assert_eq!(u.missing.get("protocol"), Some(&1));
        assert_eq!(u.missing.get("dest_ip"), None);
    }

    #[test]
    fn eid1_follows_the_data_source_mapping() {
        let m = map(&event(
            "1",
            &[
                ("Image", r"C:\x\RegSvcs.exe"),
                ("CommandLine", r#""C:\x\regsvcs.exe" T1121.dll"#),
                ("ParentImage", r"C:\w\powershell.exe"),
            ],
        ));
        assert_eq!(m.model, Model::Processes);
        assert_eq!(get(&m.record, "process_name"), Some("RegSvcs.exe"));
        assert_eq!(
            get(&m.record, "parent_process_name"),
            Some("powershell.exe")
        );
        assert_eq!(get(&m.record, "user_id"), Some("S-1-5-18"));
        assert_eq!(get(&m.record, "action"), Some("allowed"));
        assert_eq!(get(&m.record, "dest"), Some("HOST"));
    }

    #[test]
    fn other_events_carry_only_generic_fields() {
        let m = map(&event("13", &[("Image", r"C:\x\regsvcs.exe")]));
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
