//! Bytes per row that splunkd serialises into each phase's process, before and after the per-phase `required_fields` (`make bench`); printed, never asserted.

// "Before" is what the getinfo replies asked for until each phase declared its own list: the map
// phase nothing, so splunkd sent every field of every event (`_raw` included), and the reduce the
// engine's fields under both data-model prefixes. "After" is what the replies ask for now
// (`Engine::required_fields`, taken from the real getinfo replies). splunkd sends the asked-for
// fields that a row has, each as a value column plus its `__mv_` twin, in CSV; the header line is
// counted once per 50,000-row chunk. The rows are realistic Sysmon events as Splunk's Sysmon
// add-on extracts them (raw EventData names, CIM aliases, Splunk's own fields, an XML `_raw`),
// a tstats export, and the map phase's own partial rows for the reduce.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use regsvcsdetect::command::Session;
use regsvcsdetect::detect::PREFIXES;

/// Rows per execute chunk, like splunkd's default `maxresultrows`.
const CHUNK_ROWS: usize = 50_000;

/// One row: (field, values). More than one value makes it multivalue.
type Row = Vec<(String, Vec<String>)>;

fn field(name: &str, value: &str) -> (String, Vec<String>) {
    (name.to_string(), vec![value.to_string()])
}

/// Splunk's own fields of an indexed Sysmon event.
fn splunk_fields(raw: &str, event_code: &str) -> Row {
    let mut row = vec![
        field("_raw", raw),
        field("_time", "1700000000.123"),
        field("_cd", "42:1234567"),
        field("_bkt", "sysmon~42~0A1B2C3D-4E5F-6789-ABCD-EF0123456789"),
        field("_indextime", "1700000003"),
        field("_serial", "0"),
        field("_si", "idx-01.corp.example\nsysmon"),
        field("_sourcetype", "XmlWinEventLog"),
        field("host", "WIN-HOST1"),
        field("index", "sysmon"),
        field("linecount", "1"),
        field("punct", "<_='://..///'><><_='--'_='{----}'/><>"),
        field(
            "source",
            "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
        ),
        field("sourcetype", "XmlWinEventLog"),
        field("splunk_server", "idx-01.corp.example"),
        field("timeendpos", "312"),
        field("timestartpos", "282"),
        field("date_hour", "22"),
        field("date_mday", "14"),
        field("date_minute", "13"),
        field("date_month", "november"),
        field("date_second", "20"),
        field("date_wday", "tuesday"),
        field("date_year", "2023"),
        field("date_zone", "0"),
        field("EventCode", event_code),
        field("EventID", event_code),
        field("EventRecordID", "1234567"),
        field("Computer", "WIN-HOST1.corp.example"),
        field("Channel", "Microsoft-Windows-Sysmon/Operational"),
        field("Version", "5"),
        field("Level", "4"),
        field("Task", event_code),
        field("Opcode", "0"),
        field("Keywords", "0x8000000000000000"),
        field("SystemTime", "2023-11-14T22:13:20.123456700Z"),
        field("ThreadID", "3456"),
        field("SecurityID", "S-1-5-18"),
        field("Guid", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"),
        field("Name", "Microsoft-Windows-Sysmon"),
        field("RuleName", "-"),
        field("UtcTime", "2023-11-14 22:13:20.123"),
        field("ProcessGuid", "{8f1c2a10-1111-4444-8888-000000000001}"),
        field("ProcessId", "4242"),
        field(
            "Image",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        field("User", r"CORP\alice"),
        field("vendor_product", "Microsoft Sysmon"),
        field("vendor", "Microsoft"),
        field("product", "Sysmon"),
        field("dvc", "WIN-HOST1.corp.example"),
        field("dest", "WIN-HOST1.corp.example"),
        field("user", r"CORP\alice"),
        field("user_id", "S-1-5-21-1004336348-1177238915-682003330-1001"),
        field("process_name", "RegSvcs.exe"),
        field("process_exec", "RegSvcs.exe"),
        field("process_guid", "{8f1c2a10-1111-4444-8888-000000000001}"),
        field("process_id", "4242"),
        field(
            "process_path",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        field("signature_id", event_code),
        (
            "eventtype".into(),
            vec!["ms-sysmon-process".into(), "ms-sysmon-network".into()],
        ),
    ];
    row.push((
        "tag".into(),
        vec!["network".into(), "communicate".into(), "process".into()],
    ));
    row
}

/// A Sysmon EventID 3 (network connection) event of RegSvcs.exe.
fn network_event() -> Row {
    let raw = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/><EventID>3</EventID><Version>5</Version><Level>4</Level><Task>3</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2023-11-14T22:13:20.123456700Z'/><EventRecordID>1234567</EventRecordID><Correlation/><Execution ProcessID='2912' ThreadID='3456'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WIN-HOST1.corp.example</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>2023-11-14 22:13:20.123</Data><Data Name='ProcessGuid'>{8f1c2a10-1111-4444-8888-000000000001}</Data><Data Name='ProcessId'>4242</Data><Data Name='Image'>C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\RegSvcs.exe</Data><Data Name='User'>CORP\\alice</Data><Data Name='Protocol'>tcp</Data><Data Name='Initiated'>true</Data><Data Name='SourceIsIpv6'>false</Data><Data Name='SourceIp'>10.1.2.3</Data><Data Name='SourceHostname'>WIN-HOST1.corp.example</Data><Data Name='SourcePort'>49712</Data><Data Name='SourcePortName'>-</Data><Data Name='DestinationIsIpv6'>false</Data><Data Name='DestinationIp'>93.184.216.34</Data><Data Name='DestinationHostname'>-</Data><Data Name='DestinationPort'>443</Data><Data Name='DestinationPortName'>https</Data></EventData></Event>";
    let mut row = splunk_fields(raw, "3");
    for (k, v) in [
        ("Protocol", "tcp"),
        ("Initiated", "true"),
        ("SourceIsIpv6", "false"),
        ("SourceIp", "10.1.2.3"),
        ("SourceHostname", "WIN-HOST1.corp.example"),
        ("SourcePort", "49712"),
        ("SourcePortName", "-"),
        ("DestinationIsIpv6", "false"),
        ("DestinationIp", "93.184.216.34"),
        ("DestinationHostname", "-"),
        ("DestinationPort", "443"),
        ("DestinationPortName", "https"),
        ("action", "allowed"),
        (
            "app",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        ("dest_ip", "93.184.216.34"),
        ("dest_port", "443"),
        ("dest_host", "-"),
        ("direction", "outbound"),
        ("protocol", "ip"),
        ("protocol_version", "ipv4"),
        ("src", "WIN-HOST1.corp.example"),
        ("src_ip", "10.1.2.3"),
        ("src_port", "49712"),
        ("src_host", "WIN-HOST1.corp.example"),
        ("transport", "tcp"),
        ("signature", "Network connection"),
    ] {
        row.push(field(k, v));
    }
    row
}

/// A Sysmon EventID 1 (process creation) event of RegSvcs.exe started without arguments.
fn process_event() -> Row {
    let raw = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2023-11-14T22:13:20.123456700Z'/><EventRecordID>1234567</EventRecordID><Correlation/><Execution ProcessID='2912' ThreadID='3456'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WIN-HOST1.corp.example</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>2023-11-14 22:13:20.123</Data><Data Name='ProcessGuid'>{8f1c2a10-1111-4444-8888-000000000001}</Data><Data Name='ProcessId'>4242</Data><Data Name='Image'>C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\RegSvcs.exe</Data><Data Name='FileVersion'>4.8.4084.0 built by: NET48REL1</Data><Data Name='Description'>Microsoft .NET Services Installation Utility</Data><Data Name='Product'>Microsoft® .NET Framework</Data><Data Name='Company'>Microsoft Corporation</Data><Data Name='OriginalFileName'>RegSvcs.exe</Data><Data Name='CommandLine'>C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\RegSvcs.exe</Data><Data Name='CurrentDirectory'>C:\\Users\\alice\\</Data><Data Name='User'>CORP\\alice</Data><Data Name='LogonGuid'>{8f1c2a10-0000-4444-8888-00000000abcd}</Data><Data Name='LogonId'>0x3e7</Data><Data Name='TerminalSessionId'>1</Data><Data Name='IntegrityLevel'>Medium</Data><Data Name='Hashes'>SHA256=0B9A8F4B3AC5D0E6A2B1C7D8E9F00112233445566778899AABBCCDDEEFF0011</Data><Data Name='ParentProcessGuid'>{8f1c2a10-1111-4444-8888-000000000000}</Data><Data Name='ParentProcessId'>4200</Data><Data Name='ParentImage'>C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe</Data><Data Name='ParentCommandLine'>powershell.exe -nop -w hidden -c IEX ...</Data><Data Name='ParentUser'>CORP\\alice</Data></EventData></Event>";
    let mut row = splunk_fields(raw, "1");
    for (k, v) in [
        ("FileVersion", "4.8.4084.0 built by: NET48REL1"),
        (
            "Description",
            "Microsoft .NET Services Installation Utility",
        ),
        ("Company", "Microsoft Corporation"),
        ("OriginalFileName", "RegSvcs.exe"),
        (
            "CommandLine",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        ("CurrentDirectory", r"C:\Users\alice\"),
        ("LogonGuid", "{8f1c2a10-0000-4444-8888-00000000abcd}"),
        ("LogonId", "0x3e7"),
        ("TerminalSessionId", "1"),
        ("IntegrityLevel", "Medium"),
        (
            "Hashes",
            "SHA256=0B9A8F4B3AC5D0E6A2B1C7D8E9F00112233445566778899AABBCCDDEEFF0011",
        ),
        (
            "ParentProcessGuid",
            "{8f1c2a10-1111-4444-8888-000000000000}",
        ),
        ("ParentProcessId", "4200"),
        (
            "ParentImage",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        ),
        (
            "ParentCommandLine",
            "powershell.exe -nop -w hidden -c IEX ...",
        ),
        ("ParentUser", r"CORP\alice"),
        ("action", "allowed"),
        ("original_file_name", "RegSvcs.exe"),
        (
            "process",
            r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\RegSvcs.exe",
        ),
        (
            "process_hash",
            "SHA256=0B9A8F4B3AC5D0E6A2B1C7D8E9F00112233445566778899AABBCCDDEEFF0011",
        ),
        ("process_integrity_level", "medium"),
        ("parent_process", "powershell.exe -nop -w hidden -c IEX ..."),
        ("parent_process_exec", "powershell.exe"),
        (
            "parent_process_guid",
            "{8f1c2a10-1111-4444-8888-000000000000}",
        ),
        ("parent_process_id", "4200"),
        ("parent_process_name", "powershell.exe"),
        (
            "parent_process_path",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        ),
        ("signature", "Process Create"),
    ] {
        row.push(field(k, v));
    }
    row
}

/// A row of the noargs saved search's tstats: 20 `Processes.*` BY fields and the aggregates.
fn tstats_row() -> Row {
    let event = process_event();
    let get = |name: &str| {
        event
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v[0].clone())
            .unwrap_or_else(|| "null".into())
    };
    let mut row: Row = regsvcsdetect::detect::NOARGS_BY
        .iter()
        .map(|f| (format!("Processes.{f}"), vec![get(f)]))
        .collect();
    row.push(field("count", "3"));
    row.push(field("firstTime", "1700000000"));
    row.push(field("lastTime", "1700000300"));
    row
}

/// Appends one CSV cell, quoted when not purely alphanumeric.
fn cell(out: &mut String, v: &str) {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.push_str(v);
    } else if !v.is_empty() {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

/// Bytes per row splunkd writes for `row` when a phase asks for `wanted` (None = everything):
/// each present field as a value column (multivalues newline-joined) and its `__mv_` twin
/// (`$a$;$b$`, empty for a single value), plus the header amortised over a chunk.
fn bytes_per_row(row: &Row, wanted: Option<&[String]>) -> (usize, f64) {
    let fields: Vec<&(String, Vec<String>)> = row
        .iter()
        .filter(|(k, _)| wanted.is_none_or(|w| w.contains(k)))
        .collect();
    let mut header = String::new();
    let mut line = String::new();
    for (i, (name, values)) in fields.iter().enumerate() {
        if i > 0 {
            header.push(',');
            line.push(',');
        }
        cell(&mut header, name);
        header.push(',');
        cell(&mut header, &format!("__mv_{name}"));
        cell(&mut line, &values.join("\n"));
        line.push(',');
        if values.len() > 1 {
            let mv: Vec<String> = values
                .iter()
                .map(|v| format!("${}$", v.replace('$', "$$")))
                .collect();
            cell(&mut line, &mv.join(";"));
        }
    }
    line.push('\n');
    header.push('\n');
    (
        fields.len(),
        line.len() as f64 + header.len() as f64 / CHUNK_ROWS as f64,
    )
}

/// Runs one in-process session and returns its reply chunks as (metadata, body).
fn session(args: &[&str], body: &[u8]) -> Vec<(serde_json::Value, Vec<u8>)> {
    let meta = serde_json::json!({
        "action": "getinfo", "preview": false,
        "searchinfo": {"args": args, "dispatch_dir": "", "sid": "1700000000.1"}
    })
    .to_string();
    let mut input = format!("chunked 1.0,{},0\n{meta}", meta.len()).into_bytes();
    let exec = r#"{"action":"execute","finished":true}"#;
    input.extend(format!("chunked 1.0,{},{}\n{exec}", exec.len(), body.len()).bytes());
    input.extend_from_slice(body);
    let mut out = Vec::new();
    Session::new(&input[..], &mut out).run();
    let mut replies = Vec::new();
    let mut rest = &out[..];
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let header = std::str::from_utf8(&rest[..nl]).unwrap();
        let (m, b) = header
            .trim_start_matches("chunked 1.0,")
            .split_once(',')
            .unwrap();
        let (m, b): (usize, usize) = (m.parse().unwrap(), b.parse().unwrap());
        let meta = serde_json::from_slice(&rest[nl + 1..nl + 1 + m]).unwrap();
        replies.push((meta, rest[nl + 1 + m..nl + 1 + m + b].to_vec()));
        rest = &rest[nl + 1 + m + b..];
    }
    replies
}

fn required(args: &[&str]) -> Vec<String> {
    session(args, b"")[0].0["required_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The reduce's list before this change: every engine field under both prefixes.
fn old_reduce_list(now: &[String], own: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in now {
        if let Some(plain) = f.strip_prefix(own) {
            for p in PREFIXES {
                out.push(format!("{p}{plain}"));
            }
        } else {
            out.push(f.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The map's partial rows for `input` rows, as bench rows.
fn partial_row(args: &[&str], input: &Row) -> Row {
    let mut body = String::new();
    let (mut header, mut line) = (Vec::new(), Vec::new());
    for (k, v) in input {
        let mut h = String::new();
        cell(&mut h, k);
        header.push(h);
        let mut c = String::new();
        cell(&mut c, &v.join("\n"));
        line.push(c);
    }
    body.push_str(&header.join(","));
    body.push('\n');
    body.push_str(&line.join(","));
    body.push('\n');
    let replies = session(args, body.as_bytes());
    let out = &replies.last().unwrap().1;
    let mut r = csv::Reader::from_reader(&out[..]);
    let names: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rec = r.records().next().expect("the map keeps the row").unwrap();
    names
        .into_iter()
        .zip(rec.iter())
        .map(|(k, v)| (k, vec![v.to_string()]))
        .collect()
}

fn main() {
    let network = network_event();
    let process = process_event();
    let tstats = tstats_row();
    println!(
        "Bytes per row splunkd serialises into each phase (value + __mv_ column per field, header / {CHUNK_ROWS} rows)\n"
    );
    println!(
        "{:<58} {:>13} {:>13} {:>13} {:>13} {:>8}",
        "phase and input", "before fields", "before B/row", "after fields", "after B/row", "saved"
    );
    let line = |what: &str, row: &Row, before: Option<&[String]>, after: &[String]| {
        let (bf, bb) = bytes_per_row(row, before);
        let (af, ab) = bytes_per_row(row, Some(after));
        println!(
            "{what:<58} {bf:>13} {bb:>13.1} {af:>13} {ab:>13.1} {:>7.1}%",
            100.0 * (bb - ab) / bb
        );
    };
    let net_map = required(&["mode=network", "phase=map"]);
    let net_reduce = required(&["mode=network"]);
    let args_map = ["mode=noargs", "phase=map"];
    let noargs_map = required(&args_map);
    let noargs_reduce = required(&["mode=noargs"]);
    let fill_map = required(&["mode=noargs", "phase=map", "cim_fill=t", "input=events"]);
    let fill_reduce = required(&["mode=noargs", "cim_fill=t", "input=events"]);
    assert!(!net_map.iter().chain(&noargs_map).any(|f| f == "_raw"));
    line(
        "map, network: Sysmon EventID 3 event",
        &network,
        None,
        &net_map,
    );
    line(
        "map, noargs cim_fill=t: Sysmon EventID 1 event",
        &process,
        None,
        &fill_map,
    );
    line(
        "map, noargs: tstats Endpoint.Processes row",
        &tstats,
        None,
        &noargs_map,
    );
    let net_partial = partial_row(&["mode=network", "phase=map", "tz=UTC"], &network);
    let fill_partial = partial_row(
        &["mode=noargs", "phase=map", "cim_fill=t", "input=events"],
        &process,
    );
    let tstats_partial = partial_row(&args_map, &tstats);
    line(
        "reduce, network: the map's partial row",
        &net_partial,
        Some(&old_reduce_list(&net_reduce, "All_Traffic.")),
        &net_reduce,
    );
    line(
        "reduce, noargs cim_fill=t: the map's partial row",
        &fill_partial,
        Some(&old_reduce_list(&fill_reduce, "Processes.")),
        &fill_reduce,
    );
    line(
        "reduce, noargs: the map's partial row",
        &tstats_partial,
        Some(&old_reduce_list(&noargs_reduce, "Processes.")),
        &noargs_reduce,
    );
    println!(
        "\nrequired_fields now: network map {} / reduce {}, noargs map {} / reduce {} names (before: map none = all, reduce {} / {})",
        net_map.len(),
        net_reduce.len(),
        noargs_map.len(),
        noargs_reduce.len(),
        old_reduce_list(&net_reduce, "All_Traffic.").len(),
        old_reduce_list(&noargs_reduce, "Processes.").len(),
    );
}
