//! `regsvcsdetect demo`: plays splunkd over the bundled samples through the real protocol path (getinfo, execute chunks, in-process), for both modes, and explains the result.

use std::io::Cursor;

use serde_json::json;

use super::input::{self, InputError, Item};
use super::replay::{describe_reply, split};
use super::run::time_text;
use super::sysmon::Model;
use super::Record;
use crate::body::write_records;
use crate::command::{stderr_line, Outcome, Session};
use crate::detect::Mode;

/// A bundled sample: its path in the repository and its bytes.
pub(crate) struct Sample {
    /// Path under the repository root.
    pub(crate) path: &'static str,
    /// The file, compiled in.
    pub(crate) bytes: &'static [u8],
    /// The mode whose search would read it.
    pub(crate) mode: Mode,
    /// What it holds.
    pub(crate) about: &'static str,
}

/// The samples, written for this project (no third-party data).
/// One entry of [`SAMPLES`]: the file below `samples/`, compiled in.
macro_rules! sample {
    ($file:literal, $mode:expr, $about:literal) => {
        Sample {
            path: concat!("samples/", $file),
            bytes: include_bytes!(concat!("../../samples/", $file)),
            mode: $mode,
            about: $about,
        }
    };
}

pub(crate) const SAMPLES: [Sample; 6] = [
    sample!(
        "sysmon_eid3.xml",
        Mode::Network,
        "Sysmon XmlWinEventLog, one event per line, mapped to CIM here"
    ),
    sample!(
        "network_events.csv",
        Mode::Network,
        "Splunk CSV export of Network_Traffic fields, with a __mv_ column"
    ),
    sample!(
        "sysmon_eid1.xml",
        Mode::Noargs,
        "Sysmon XmlWinEventLog, one event per line, mapped to CIM here"
    ),
    sample!(
        "sysmon_eid1_evtx.xml.gz",
        Mode::Noargs,
        "python-evtx rendering of one event, gzip-compressed"
    ),
    sample!(
        "security_4688.xml",
        Mode::Noargs,
        "Windows Security XmlWinEventLog (4688 and a 4624), mapped to CIM here"
    ),
    sample!(
        "processes.jsonl",
        Mode::Noargs,
        "Splunk JSON export (result-wrapped, Processes.* names) and flat lines"
    ),
];

const NETWORK_STORY: &str = "\
what happened:
  - RegSvcs.exe to 185.199.110.153 (raw-objects.example.net), from Sysmon XML: a hit, with
    all 19 BY fields mapped as the Splunk Add-on for Sysmon 5.0.0 does (action=allowed,
    protocol=ip, protocol_version from DestinationIsIpv6).
  - RegSvcs.exe to 45.137.21.9 (files.dropzone-share.net), from a CSV export: a hit.
  - RegSvcs.exe to 104.18.32.47 with a multivalue dest: one result row per dest value.
  - RegSvcs.exe to 172.16.4.20 and to 10.20.1.15: private destinations, filtered.
  - rundll32.exe and powershell.exe connections: other processes, filtered.
";

const NOARGS_STORY: &str = "\
what happened:
  - RegSvcs.exe without arguments, started by invoice_8812.exe and by wscript.exe (Sysmon)
    and by setup_helper.exe (Security 4688, process built from NewProcessName): hits.
  - RegSvcs.exe /u (python-evtx rendering, gzip): a flag-only run still ends within
    .{0,4} of regsvcs.exe, so it is a hit too.
  - RegSvcs.exe /fc ... and /c ... on build machines (Sysmon and 4688): selected, then
    dropped by the regex (rows_dropped_regex): they have arguments.
  - msbuild_helper.exe, a renamed RegSvcs.exe: selected by original_file_name, but its
    command line does not name regsvcs.exe, so the regex drops it too (a known blind spot).
  - cmd.exe running regsvcs.exe in its command line, and notepad.exe: filtered.
  - a 4624 logon: not a process event, so the search never sees it.
";

/// The events a mode's search would hand the command, from the samples.
///
/// # Errors
///
/// A sample does not parse (a build with broken samples).
pub(crate) fn events(mode: Mode) -> Result<Vec<(&'static str, Record)>, InputError> {
    let mut out = Vec::new();
    for s in SAMPLES.iter().filter(|s| s.mode == mode) {
        input::read_bytes(s.bytes, None, &mut |item: Item| {
            // `sysmon EventID=3` / Endpoint.Processes see only their events.
            if item.model.is_some_and(|m| m != Model::of(mode)) {
                return Ok(());
            }
            let mut record = item.record;
            for (name, values) in record.iter_mut() {
                if name == "_time" {
                    for v in values.iter_mut() {
                        if let Some(t) = time_text(v) {
                            *v = t.into_bytes();
                        }
                    }
                }
            }
            out.push((s.path, record));
            Ok(())
        })
        .map_err(|error| InputError {
            name: s.path.to_string(),
            error,
        })?;
    }
    Ok(out)
}

fn chunk(meta: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n{meta}", meta.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The request stream splunkd would send for `| regsvcsdetect <args>` over
/// `records`, in two execute chunks.
pub(crate) fn requests(args: &[&str], records: &[Record]) -> Vec<u8> {
    let getinfo = json!({
        "action": "getinfo",
        "preview": false,
        "streaming_command_will_restart": false,
        "searchinfo": {
            "args": args,
            "raw_args": args,
            "dispatch_dir": "",
            "sid": "demo",
            "app": "search",
            "owner": "admin",
            "username": "admin",
            "splunk_version": "9.2.1",
            "command": "regsvcsdetect",
            "maxresultrows": 50000
        }
    });
    let mut stream = chunk(&getinfo.to_string(), b"");
    let half = records.len().div_ceil(2);
    let (first, second) = records.split_at(half);
    stream.extend(chunk(
        r#"{"action":"execute","finished":false}"#,
        &write_records(first),
    ));
    stream.extend(chunk(
        r#"{"action":"execute","finished":true}"#,
        &write_records(second),
    ));
    stream
}

/// The demo's text for one mode and whether the session succeeded.
pub(crate) fn play(mode: Mode) -> (String, bool) {
    let mut out = String::new();
    let args = [format!("mode={}", mode.name()), "tz=UTC".to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let title = crate::detect::Binary::Regsvcs.detection(mode);
    out.push_str(&format!(
        "== | regsvcsdetect {}   (ESCU \"{title}\")\n",
        args.join(" ")
    ));
    let events = match events(mode) {
        Ok(e) => e,
        Err(e) => {
            let line = stderr_line(format_args!("cannot read a bundled sample: {e}"));
            return (format!("{out}{line}\n"), false);
        }
    };
    for s in SAMPLES.iter().filter(|s| s.mode == mode) {
        let n = events.iter().filter(|(p, _)| *p == s.path).count();
        out.push_str(&format!("  {:<30} {n} events  {}\n", s.path, s.about));
    }
    let records: Vec<Record> = events.into_iter().map(|(_, r)| r).collect();
    let stream = requests(&args, &records);
    let mut replies = Vec::new();
    let outcome = Session::new(Cursor::new(&stream), &mut replies).run();
    let (requests, _) = split(&stream);
    let (replies, _) = split(&replies);
    out.push_str(&format!(
        "splunkd sends {} chunks (getinfo, then {} events in {} execute chunks); the command answers each:\n",
        requests.len(),
        records.len(),
        requests.len().saturating_sub(1)
    ));
    for (i, reply) in replies.iter().enumerate() {
        let what = if i == 0 { "getinfo" } else { "execute" };
        out.push_str(&format!("reply {} ({what}):\n", i + 1));
        out.push_str(&describe_reply(&reply.metadata, &reply.body, true));
    }
    out.push_str(match mode {
        Mode::Network => NETWORK_STORY,
        Mode::Noargs => NOARGS_STORY,
    });
    (out, outcome == Outcome::Done)
}

/// Runs `regsvcsdetect demo`: both modes, 0 when both sessions succeed.
pub(crate) fn main() -> u8 {
    let mut text = String::from(
        "regsvcsdetect demo: splunkd's side of the chunked protocol, played in this process over\nthe bundled samples (times in UTC).\n\n",
    );
    let mut ok = true;
    for mode in [Mode::Network, Mode::Noargs] {
        let (t, good) = play(mode);
        text.push_str(&t);
        text.push('\n');
        ok &= good;
    }
    let code = super::say(&text);
    if ok {
        code
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_parses_and_feeds_its_mode() {
        assert_eq!(events(Mode::Network).unwrap().len(), 7);
        assert_eq!(events(Mode::Noargs).unwrap().len(), 11);
    }

    #[test]
    fn network_demo_shows_an_xml_hit_and_a_filter() {
        let (text, ok) = play(Mode::Network);
        assert!(ok, "{text}");
        assert!(text.contains("raw-objects.example.net"), "{text}");
        assert!(text.contains("45.137.21.9"), "{text}");
        assert!(text.contains("cdn-edge.contoso-cdn.net"), "{text}");
        assert!(!text.contains("WARN"), "{text}");
        assert!(text.contains("rows_dropped_missing_field=0"), "{text}");
        assert!(text.contains("groups_out=4"), "{text}");
    }

    #[test]
    fn noargs_demo_flags_runs_without_arguments_only() {
        let (text, ok) = play(Mode::Noargs);
        assert!(ok, "{text}");
        assert!(text.contains("groups_out=4"), "{text}");
        assert!(text.contains("setup_helper.exe"), "{text}");
        assert!(text.contains("rows_dropped_regex=4"), "{text}");
        assert!(text.contains("rows_filtered=3"), "{text}");
        assert!(!text.contains("Contoso.Billing.Interop.dll\"  "), "{text}");
    }
}
