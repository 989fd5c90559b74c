//! Protocol behaviour of the real binary, written as specs over request builders.

use crate::util::*;

#[test]
fn probe_answers_getinfo_and_exits_0_without_side_effects() {
    let out = run(&getinfo(&["mode=network"]));
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    let replies = parse_chunks(&out.stdout);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].meta["type"], "reporting");
    assert!(replies[0].body.is_empty());
}

#[test]
fn empty_stream_exits_0_with_no_output() {
    let out = run(b"");
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn required_fields_are_exactly_what_network_mode_reads() {
    let replies = parse_chunks(&run(&getinfo(&["mode=network"])).stdout);
    let fields: Vec<String> = replies[0].meta["required_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for f in [
        "dest_ip",
        "process_name",
        "EventID",
        "_time",
        "All_Traffic.dest_ip",
        "count",
        "firstTime",
    ] {
        assert!(
            fields.contains(&f.to_string()),
            "{f} missing from {fields:?}"
        );
    }
    assert!(
        !fields.contains(&"process".to_string()),
        "network mode does not read process"
    );
    assert!(
        !fields.contains(&"source".to_string()),
        "source is read only with sysmon=t"
    );
}

#[test]
fn reduce_getinfo_declares_the_map_phase() {
    let replies = parse_chunks(&run(&getinfo(&["mode=noargs", "binary=regasm"])).stdout);
    assert_eq!(
        replies[0].meta["streaming_preop"],
        "regsvcsdetect phase=map mode=noargs binary=regasm"
    );
    let replies = parse_chunks(&run(&getinfo(&["mode=noargs", "distributed=f"])).stdout);
    assert!(replies[0].meta.get("streaming_preop").is_none());
    let replies = parse_chunks(&run(&getinfo(&["mode=noargs", "phase=map"])).stdout);
    assert_eq!(replies[0].meta["type"], "streaming");
    assert!(replies[0].meta.get("streaming_preop").is_none());
}

#[test]
fn bad_options_are_all_reported_in_the_getinfo_reply_then_exit_1() {
    let input = [
        getinfo(&["mode=dns", "nosuch=1", "tz=Nowhere/Land"]),
        execute(b"", true),
    ]
    .concat();
    let out = run(&input);
    assert_eq!(out.status.code(), Some(1));
    let replies = parse_chunks(&out.stdout);
    assert_eq!(replies.len(), 1, "nothing after the error reply");
    let errors = replies[0].messages();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().all(|(level, _)| level == "ERROR"));
    assert!(errors.iter().any(|(_, t)| t.contains("\"dns\"")));
    assert!(errors.iter().any(|(_, t)| t.contains("nosuch")));
    assert!(errors.iter().any(|(_, t)| t.contains("Nowhere/Land")));
    assert_eq!(replies[0].meta["finished"], true);
    assert!(replies[0].meta["error"].is_string());
}

#[test]
fn every_request_gets_exactly_one_reply_and_intermediate_replies_are_empty() {
    let body = format!("{NETWORK_HEADER}\n{}", network_row(&[]));
    let input = [
        getinfo(&["mode=network"]),
        execute(body.as_bytes(), false),
        execute(b"", false),
        execute(body.as_bytes(), true),
    ]
    .concat();
    let replies = parse_chunks(&run(&input).stdout);
    assert_eq!(replies.len(), 4);
    for r in &replies[1..3] {
        assert_eq!(r.meta, serde_json::json!({"finished": false}));
        assert!(r.body.is_empty());
    }
    let (header, rows) = replies[3].table();
    assert_eq!(header.len(), 22);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][19], "2", "both events land in one group");
}

#[test]
fn times_follow_the_tz_environment_by_default() {
    let body = format!("{NETWORK_HEADER}\n{}", network_row(&[]));
    let input = [getinfo(&["mode=network"]), execute(body.as_bytes(), true)].concat();
    let out = run_with(&input, &[], &[("TZ", "America/New_York")]);
    let (_, rows) = parse_chunks(&out.stdout)[1].table();
    assert_eq!(rows[0][20], "2023-11-14T17:13:20");
    let out = run_with(&input, &[], &[("TZ", "UTC")]);
    let (_, rows) = parse_chunks(&out.stdout)[1].table();
    assert_eq!(rows[0][20], "2023-11-14T22:13:20");
}

#[test]
fn session_key_never_reaches_any_output() {
    let body = format!("{NETWORK_HEADER}\n{}", network_row(&[]));
    for args in [&["mode=network"][..], &["mode=bad"][..]] {
        let input = [getinfo(args), execute(body.as_bytes(), true)].concat();
        let out = run(&input);
        let all = [out.stdout, out.stderr].concat();
        assert!(!String::from_utf8_lossy(&all).contains("SESSION-KEY-MUST-NOT-LEAK"));
    }
}

#[test]
fn closed_stdout_ends_the_process_quietly() {
    let cmd = std::process::Command::new(bin());
    let out = run_child(
        "closed stdout",
        cmd,
        &getinfo(&["mode=network"]),
        Feed::All,
        true,
    );
    assert_eq!(out.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_map_process_started_from_the_whole_preop_text_still_runs() {
    let replies = parse_chunks(&run(&getinfo(&["mode=network"])).stdout);
    let preop = replies[0].meta["streaming_preop"]
        .as_str()
        .unwrap()
        .to_string();
    let args: Vec<&str> = preop.split_whitespace().collect();
    assert_eq!(args[0], "regsvcsdetect");
    let replies = parse_chunks(&run(&getinfo(&args)).stdout);
    assert_eq!(replies[0].meta["type"], "streaming");
    assert_eq!(replies[0].meta["run_in_preview"], false);
}

/// The `required_fields` of a getinfo reply for `args`.
fn required_fields(args: &[&str]) -> Vec<String> {
    let replies = parse_chunks(&run(&getinfo(args)).stdout);
    replies[0].meta["required_fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{args:?}: no required_fields in {}", replies[0].meta))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_phase_and_mode_asks_only_for_what_it_reads() {
    use regsvcsdetect::detect::{NETWORK_BY, NOARGS_BY, PARTIAL_MARKER};
    for (mode, by, own, other) in [
        (
            "mode=network",
            &NETWORK_BY[..],
            "All_Traffic.",
            "Processes.",
        ),
        ("mode=noargs", &NOARGS_BY[..], "Processes.", "All_Traffic."),
    ] {
        let map = required_fields(&[mode, "phase=map"]);
        let reduce = required_fields(&[mode]);
        for fields in [&map, &reduce] {
            assert!(!fields.iter().any(|f| f == "_raw"), "{mode}: {fields:?}");
            assert!(
                !fields.iter().any(|f| f.starts_with(other)),
                "{mode} asks for {other}*: {fields:?}"
            );
            for f in fields {
                let plain = f.strip_prefix(own).unwrap_or(f);
                assert!(
                    f == plain || fields.contains(&plain.to_string()),
                    "{mode}: {f} without {plain}"
                );
            }
            for f in by {
                assert!(fields.contains(&f.to_string()), "{mode}: {f}");
                assert!(fields.contains(&format!("{own}{f}")), "{mode}: {own}{f}");
            }
            for f in ["_time", "count", "firstTime", "lastTime"] {
                assert!(fields.contains(&f.to_string()), "{mode}: {f}");
                assert!(!fields.contains(&format!("{own}{f}")), "{mode}: {own}{f}");
            }
        }
        // The map reads events only; the reduce adds the column its partial rows carry.
        assert!(!map.iter().any(|f| f == PARTIAL_MARKER), "{mode}: {map:?}");
        let mut extra: Vec<&String> = reduce.iter().filter(|f| !map.contains(f)).collect();
        extra.sort();
        assert_eq!(extra, [PARTIAL_MARKER], "{mode}");
        assert_eq!(map.len() + 1, reduce.len(), "{mode}");
        // 2 names per BY field, the 4 time/count fields, and EventID (twice) for network.
        let event_id = if mode == "mode=network" { 2 } else { 0 };
        assert_eq!(map.len(), 2 * by.len() + 4 + event_id, "{mode}: {map:?}");
    }
    // Optional reads are asked for only when an option needs them.
    let sysmon = required_fields(&["mode=network", "phase=map", "sysmon=t"]);
    for f in ["source", "sourcetype", "All_Traffic.sourcetype"] {
        assert!(sysmon.contains(&f.to_string()), "sysmon=t: {f}");
    }
    let fill = required_fields(&["mode=noargs", "phase=map", "cim_fill=t"]);
    for f in ["vendor", "product", "sourcetype", "Processes.vendor"] {
        assert!(fill.contains(&f.to_string()), "cim_fill=t: {f}");
    }
    // Without a map phase the reduce reads raw rows only: no marker.
    let single = required_fields(&["mode=noargs", "distributed=f"]);
    assert!(!single.iter().any(|f| f == PARTIAL_MARKER), "{single:?}");
}

#[test]
fn neither_getinfo_reply_asks_to_run_in_preview() {
    for args in [
        &["mode=network"][..],
        &["mode=network", "phase=map"],
        &["mode=noargs"],
        &["mode=noargs", "phase=map"],
        &["mode=noargs", "distributed=f"],
    ] {
        let replies = parse_chunks(&run(&getinfo(args)).stdout);
        assert_eq!(replies[0].meta["run_in_preview"], false, "{args:?}");
    }
}

#[test]
fn a_preview_getinfo_gets_a_normal_reply_and_leaves_no_file() {
    let dir = std::env::temp_dir().join(format!("regsvcsdetect-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let body = format!("{NETWORK_HEADER}\n{}", network_row(&[]));
    let session = |preview: bool| {
        let mut meta = getinfo_meta(&["mode=network", "record=t", "tz=UTC"]);
        meta["preview"] = serde_json::json!(preview);
        meta["searchinfo"]["dispatch_dir"] = serde_json::json!(dir.to_str().unwrap());
        [
            chunk(meta.to_string().as_bytes(), b""),
            execute(body.as_bytes(), true),
        ]
        .concat()
    };
    let preview = run(&session(true));
    assert!(preview.status.success());
    let files = || std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files(),
        0,
        "a preview process writes nothing into dispatch_dir"
    );
    // The same session without preview records (so the check above can fail) and answers alike.
    let normal = run(&session(false));
    assert!(normal.status.success());
    assert_eq!(files(), 2, "record=t writes its input and output files");
    assert_eq!(
        preview.stdout, normal.stdout,
        "same replies with and without preview"
    );
    let replies = parse_chunks(&preview.stdout);
    assert_eq!(replies[0].meta["type"], "reporting");
    assert_eq!(replies[0].meta["run_in_preview"], false);
    assert_eq!(replies.last().unwrap().table().1.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
