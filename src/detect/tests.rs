//! Engine tests: the ESCU parity vectors of DETECTIONS.md, row accounting, and order independence.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;

/// A row given as field name -> values; absent names are null.
#[derive(Debug, Clone, Default)]
struct MapRow {
    names: Vec<&'static str>,
    fields: HashMap<String, Vec<String>>,
}

impl Row for MapRow {
    fn get(&self, field: usize) -> Values<'_> {
        let Some(name) = self.names.get(field) else {
            return Values::Null;
        };
        match self.fields.get(*name) {
            None => Values::Null,
            Some(list) => Values::from_list(
                list.iter()
                    .map(|v| std::borrow::Cow::Borrowed(v.as_bytes()))
                    .collect(),
            ),
        }
    }
}

fn utc() -> TimeRender {
    TimeRender::format("%Y-%m-%dT%H:%M:%S", TimeZone::UTC).unwrap()
}

fn engine(mode: Mode, tweak: impl FnOnce(&mut Config)) -> Engine {
    let mut cfg = Config::new(mode, utc());
    tweak(&mut cfg);
    Engine::new(cfg)
}

fn net_event(over: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
    let mut fields: Vec<(String, Vec<String>)> = NETWORK_BY
        .iter()
        .map(|f| (f.to_string(), vec![format!("v_{f}")]))
        .collect();
    fields.push(("_time".into(), vec!["1700000000".into()]));
    fields.push(("EventID".into(), vec!["3".into()]));
    set(&mut fields, "process_name", "RegSvcs.exe");
    set(&mut fields, "dest_ip", "93.184.216.34");
    for (k, v) in over {
        set(&mut fields, k, v);
    }
    fields
}

fn proc_event(over: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
    let mut fields: Vec<(String, Vec<String>)> = NOARGS_BY
        .iter()
        .map(|f| (f.to_string(), vec![format!("v_{f}")]))
        .collect();
    fields.push(("_time".into(), vec!["1700000000".into()]));
    set(&mut fields, "process_name", "RegSvcs.exe");
    set(&mut fields, "original_file_name", "RegSvcs.exe");
    set(
        &mut fields,
        "process",
        r#""C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe""#,
    );
    for (k, v) in over {
        set(&mut fields, k, v);
    }
    fields
}

/// Sets a field; `a\nb` written as `a|b` gives a multivalue; "" removes it.
fn set(fields: &mut Vec<(String, Vec<String>)>, name: &str, value: &str) {
    fields.retain(|(n, _)| n != name);
    if !value.is_empty() {
        fields.push((
            name.to_string(),
            value.split('|').map(String::from).collect(),
        ));
    }
}

/// `0|1|...|n-1`: a multivalue of `n` numbers.
fn numbers(n: usize) -> String {
    (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join("|")
}

/// `fields` as a row of `e`.
fn map_row(e: &Engine, fields: Vec<(String, Vec<String>)>) -> MapRow {
    MapRow {
        names: e.fields().to_vec(),
        fields: fields.into_iter().collect(),
    }
}

fn push_all(e: &mut Engine, rows: &[Vec<(String, Vec<String>)>]) {
    let names = e.fields().to_vec();
    for r in rows {
        let row = MapRow {
            names: names.clone(),
            fields: r.iter().cloned().collect(),
        };
        e.push(&row).unwrap();
    }
}

fn result(mode: Mode, rows: &[Vec<(String, Vec<String>)>]) -> (Table, Stats) {
    let mut e = engine(mode, |_| {});
    push_all(&mut e, rows);
    let stats = e.stats().clone();
    (e.finish().to_table(), stats)
}

fn col(t: &Table, name: &str) -> Vec<String> {
    let i = t.columns.iter().position(|c| c == name).unwrap();
    t.rows
        .iter()
        .map(|r| String::from_utf8_lossy(&r[i]).into_owned())
        .collect()
}

#[test]
fn network_output_columns_are_the_19_by_fields_then_aggregates() {
    let (t, _) = result(Mode::Network, &[net_event(&[])]);
    assert_eq!(t.columns.len(), 22);
    assert_eq!(t.columns[0], "action");
    assert_eq!(t.columns[18], "process_id");
    assert_eq!(&t.columns[19..], ["count", "firstTime", "lastTime"]);
}

#[test]
fn network_selection_vectors() {
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[], true),
        (&[("process_name", "regsvcs.exe")], true),
        (&[("process_name", "REGSVCS.EXE")], true),
        (&[("process_name", "regsvcs.exe.bak")], false),
        (&[("process_name", "powershell.exe")], false),
        (&[("EventID", "1")], false),
        (&[("EventID", "03")], false),
        (&[("EventID", "")], false),
        (&[("dest_ip", "10.0.0.1")], false),
        (&[("dest_ip", "172.15.0.1")], true),
        (&[("dest_ip", "172.16.0.1")], false),
        (&[("dest_ip", "172.31.255.255")], false),
        (&[("dest_ip", "172.32.0.1")], true),
        (&[("dest_ip", "11.0.0.1")], true),
        (&[("dest_ip", "192.168.10.10")], false),
        (&[("dest_ip", "192.169.0.1")], true),
        (&[("dest_ip", "::1")], true),
        (&[("dest_ip", "fe80::1")], true),
        (&[("dest_ip", "::ffff:10.0.0.1")], true),
        (&[("dest_ip", "example.com")], true),
        (&[("dest_ip", "")], false),
        (&[("protocol_version", "")], false),
        (&[("process_name", "cmd.exe|RegSvcs.exe")], true),
    ];
    for (over, kept) in cases {
        let (t, s) = result(Mode::Network, &[net_event(over)]);
        assert_eq!(!t.rows.is_empty(), *kept, "{over:?}");
        assert!(s.balanced(), "{over:?} {s:?}");
    }
}

#[test]
fn missing_by_fields_drop_network_events_and_are_explained() {
    let rows = vec![
        net_event(&[("protocol_version", "")]),
        net_event(&[("protocol_version", ""), ("action", "")]),
        net_event(&[]),
        net_event(&[("dest_ip", "10.1.1.1")]),
    ];
    let mut e = engine(Mode::Network, |_| {});
    push_all(&mut e, &rows);
    let s = e.stats().clone();
    assert_eq!(s.rows_dropped_missing, 2);
    assert_eq!(s.missing.get("protocol_version"), Some(&2));
    assert_eq!(s.missing.get("action"), Some(&1));
    assert_eq!(s.rows_filtered, 1);
    assert_eq!(s.rows_kept, 1);
    assert!(s.balanced());
    let w = e.missing_field_warning().unwrap();
    assert!(
        w.starts_with("2 regsvcs.exe connections were dropped"),
        "{w}"
    );
    assert!(
        w.contains("protocol_version (2)") && w.contains("action (1)"),
        "{w}"
    );
    let one = {
        let mut e = engine(Mode::Network, |_| {});
        push_all(&mut e, &rows[..1]);
        e.missing_field_warning().unwrap()
    };
    assert!(one.contains("because protocol_version is missing"), "{one}");
}

#[test]
fn an_absent_dest_ip_is_filtered_by_rfc1918_and_dropped_for_its_by_field_by_extended() {
    let rows = [net_event(&[("dest_ip", "")])];
    let mut e = engine(Mode::Network, |_| {});
    push_all(&mut e, &rows);
    let s = e.stats().clone();
    assert_eq!((s.rows_filtered, s.rows_matched), (1, 0), "{s:?}");
    assert_eq!(s.rows_dropped_missing, 0, "{s:?}");
    assert!(s.missing.is_empty() && e.missing_field_warning().is_none());
    assert!(s.balanced());

    let mut e = engine(Mode::Network, |c| c.cidrs = CidrSet::Extended);
    push_all(&mut e, &rows);
    let s = e.stats().clone();
    assert_eq!((s.rows_filtered, s.rows_matched), (0, 1), "{s:?}");
    assert_eq!(s.rows_dropped_missing, 1, "{s:?}");
    assert_eq!(s.missing.get("dest_ip"), Some(&1));
    assert!(s.balanced());
    assert!(e.finish().to_table().rows.is_empty());
}

#[test]
fn multivalue_by_fields_form_a_cartesian_product_without_dedup() {
    let (t, s) = result(
        Mode::Network,
        &[net_event(&[("dest_port", "443|80"), ("user", "a|b|a")])],
    );
    assert_eq!(t.rows.len(), 4);
    let counts: HashMap<(String, String), String> = col(&t, "dest_port")
        .into_iter()
        .zip(col(&t, "user"))
        .zip(col(&t, "count"))
        .collect();
    assert_eq!(
        counts[&("443".into(), "a".into())],
        "2",
        "duplicates are not removed"
    );
    assert_eq!(counts[&("80".into(), "b".into())], "1");
    assert_eq!(s.rows_kept, 1);
}

#[test]
fn counts_and_times_aggregate_numerically_and_floor_when_rendered() {
    let rows = vec![
        net_event(&[("_time", "1700000000.9")]),
        net_event(&[("_time", "1600000000.5")]),
        net_event(&[("_time", "1800000000")]),
        net_event(&[("_time", "")]),
    ];
    let (t, _) = result(Mode::Network, &rows);
    assert_eq!(col(&t, "count"), ["4"]);
    assert_eq!(col(&t, "firstTime"), ["2020-09-13T12:26:40"]);
    assert_eq!(col(&t, "lastTime"), ["2027-01-15T08:00:00"]);
}

#[test]
fn rows_without_time_render_empty_times() {
    let (t, _) = result(Mode::Network, &[net_event(&[("_time", "")])]);
    assert_eq!(col(&t, "firstTime"), [""]);
}

#[test]
fn rows_sort_by_the_by_tuple_numbers_first() {
    let rows = vec![
        net_event(&[("action", "b")]),
        net_event(&[("action", "B")]),
        net_event(&[("action", "10")]),
        net_event(&[("action", "9")]),
        net_event(&[("action", "a")]),
    ];
    let (t, _) = result(Mode::Network, &rows);
    assert_eq!(col(&t, "action"), ["9", "10", "B", "a", "b"]);
}

#[test]
fn noargs_selection_null_fill_and_regex() {
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[], true),
        (&[("process", r"C:\x\RegSvcs.exe")], true),
        (&[("process", r#""C:\x\RegSvcs.exe"  "#)], true),
        (&[("process", r#""C:\x\RegSvcs.exe"     "#)], false),
        (&[("process", "RegSvcs.exe /u")], true),
        (&[("process", "RegSvcs.exe /u x")], false),
        (&[("process", "regsvcs.exe\r\n")], true),
        (&[("process", "regsvcs.exe\n\n")], false),
        (&[("process", r#""C:\x\regsvcs.exe" T1121.dll"#)], false),
        (&[("process", "")], false),
        (&[("process_name", "cmd.exe")], true),
        (
            &[
                ("process_name", "cmd.exe"),
                ("original_file_name", "Cmd.Exe"),
            ],
            false,
        ),
        (
            &[("process_name", ""), ("original_file_name", "regsvcs.EXE")],
            true,
        ),
        (&[("user_id", ""), ("process_hash", "")], true),
    ];
    for (over, kept) in cases {
        let (t, s) = result(Mode::Noargs, &[proc_event(over)]);
        assert_eq!(!t.rows.is_empty(), *kept, "{over:?}");
        assert!(s.balanced(), "{over:?}");
    }
    let (t, _) = result(Mode::Noargs, &[proc_event(&[("user_id", "")])]);
    assert_eq!(col(&t, "user_id"), ["null"]);
    assert_eq!(t.columns.len(), 23);
}

#[test]
fn regasm_twins() {
    let mut e = engine(Mode::Noargs, |c| c.binary = Binary::Regasm);
    push_all(
        &mut e,
        &[
            proc_event(&[]),
            proc_event(&[
                ("process_name", "RegAsm.exe"),
                ("original_file_name", "RegAsm.exe"),
                ("process", "RegAsm.exe"),
            ]),
        ],
    );
    let t = e.finish().to_table();
    assert_eq!(col(&t, "process"), ["RegAsm.exe"]);
    let mut e = engine(Mode::Network, |c| c.binary = Binary::Regasm);
    push_all(
        &mut e,
        &[net_event(&[]), net_event(&[("process_name", "regasm.exe")])],
    );
    assert_eq!(col(&e.finish().to_table(), "process_name"), ["regasm.exe"]);
}

#[test]
fn cim_fill_derives_process_name_and_unknowns() {
    let row = vec![
        ("_time".to_string(), vec!["1".to_string()]),
        ("process".to_string(), vec!["regsvcs.exe".to_string()]),
    ];
    let mut plain = engine(Mode::Noargs, |_| {});
    push_all(&mut plain, std::slice::from_ref(&row));
    assert_eq!(
        plain.finish().to_table().rows.len(),
        0,
        "without fills there is no process_name"
    );
    let mut filled = engine(Mode::Noargs, |c| c.cim_fill = true);
    push_all(&mut filled, &[row]);
    let t = filled.finish().to_table();
    assert_eq!(col(&t, "process_name"), ["regsvcs.exe"]);
    assert_eq!(col(&t, "dest"), ["unknown"]);
    assert_eq!(col(&t, "parent_process_name"), ["unknown"]);
    assert_eq!(col(&t, "vendor_product"), ["unknown"]);
    assert_eq!(col(&t, "action"), ["null"]);
}

#[test]
fn sysmon_gate() {
    let mut e = engine(Mode::Network, |c| c.sysmon = true);
    let mut ok = net_event(&[]);
    set(
        &mut ok,
        "source",
        "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
    );
    let mut bad = net_event(&[("src_port", "1")]);
    set(&mut bad, "source", "WinEventLog:Security");
    push_all(&mut e, &[ok, bad, net_event(&[("src_port", "2")])]);
    assert_eq!(e.stats().rows_filtered, 2);
    assert_eq!(e.finish().to_table().rows.len(), 1);
}

#[test]
fn aggregated_rows_add_counts_and_skip_the_event_id_gate() {
    let mut agg = net_event(&[("EventID", ""), ("_time", "")]);
    set(&mut agg, "count", "5");
    set(&mut agg, "firstTime", "1600000000");
    set(&mut agg, "lastTime", "1600000500");
    let mut rendered = agg.clone();
    set(&mut rendered, "firstTime", "2020-09-13T12:26:40");
    set(&mut rendered, "count", "2");
    let (t, _) = result(Mode::Network, &[agg.clone(), net_event(&[]), rendered]);
    assert_eq!(col(&t, "count"), ["8"]);
    assert_eq!(col(&t, "firstTime"), ["2020-09-13T12:26:40"]);
    assert_eq!(col(&t, "lastTime"), ["2023-11-14T22:13:20"]);
    let mut events = engine(Mode::Network, |c| c.input = InputShape::Events);
    push_all(&mut events, &[agg]);
    assert_eq!(
        events.stats().rows_filtered,
        1,
        "input=events keeps the EventID gate"
    );
}

#[test]
fn group_limit_stops_instead_of_truncating() {
    let mut e = engine(Mode::Network, |c| c.max_groups = 2);
    let names = e.fields().to_vec();
    let mut last = Ok(());
    for port in ["1", "2", "3"] {
        let row = MapRow {
            names: names.clone(),
            fields: net_event(&[("src_port", port)]).into_iter().collect(),
        };
        last = e.push(&row);
    }
    assert_eq!(last, Err(Error::TooManyGroups { limit: 2 }));
}

#[test]
fn huge_values_times_multivalue_are_refused_before_allocating() {
    let big = "U".repeat(5_000_000);
    let many = numbers(1000);
    let mut e = engine(Mode::Network, |_| {});
    let row = map_row(&e, net_event(&[("user", &big), ("src_port", &many)]));
    assert!(matches!(e.push(&row), Err(Error::GroupsTooLarge { .. })));
}

#[test]
fn membership_explosion_is_refused() {
    let many = numbers(100);
    let mut e = engine(Mode::Network, |_| {});
    let over = [("src_port", &*many), ("dest_port", &many), ("user", &many)];
    let row = map_row(&e, net_event(&over));
    assert!(matches!(
        e.push(&row),
        Err(Error::TooManyMemberships { count: 1_000_000 })
    ));
}

#[test]
fn map_partials_merge_to_the_single_process_result_even_for_multivalue() {
    let rows = vec![
        net_event(&[("dest_ip", "10.1.1.1|8.8.8.8")]),
        net_event(&[
            ("process_name", "RegSvcs.exe|other.exe"),
            ("_time", "1600000000"),
        ]),
        net_event(&[("_time", "1800000000")]),
    ];
    let (single, _) = result(Mode::Network, &rows);
    let mut reduce = engine(Mode::Network, |c| c.trusted_partials = true);
    let names = reduce.fields().to_vec();
    for part in [&rows[..1], &rows[1..]] {
        let mut map = engine(Mode::Network, |_| {});
        push_all(&mut map, part);
        let partial = map.drain_partials().to_table();
        for r in &partial.rows {
            let fields = partial
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.clone(), vec![String::from_utf8_lossy(v).into_owned()]))
                .filter(|(_, v)| !v[0].is_empty())
                .collect();
            reduce
                .push(&MapRow {
                    names: names.clone(),
                    fields,
                })
                .unwrap();
        }
    }
    assert_eq!(reduce.finish().to_table(), single);
    assert_eq!(
        single.rows.len(),
        4,
        "10.1.1.1 and other.exe groups exist, as in SPL"
    );
}

fn arb_net_row() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
    (
        prop::sample::select(vec![
            "RegSvcs.exe",
            "regsvcs.exe",
            "cmd.exe",
            "RegSvcs.exe|x.exe",
        ]),
        prop::sample::select(vec![
            "8.8.8.8",
            "10.0.0.1",
            "172.20.1.1",
            "::1",
            "8.8.8.8|10.0.0.1",
            "",
        ]),
        prop::sample::select(vec!["3", "1"]),
        prop::sample::select(vec!["a", "b", "", "a|b"]),
        0u32..5,
        1_600_000_000u64..1_600_000_100,
    )
        .prop_map(|(p, ip, eid, user, port, t)| {
            let port = port.to_string();
            let t = t.to_string();
            net_event(&[
                ("process_name", p),
                ("dest_ip", ip),
                ("EventID", eid),
                ("user", user),
                ("src_port", &port),
                ("_time", &t),
            ])
        })
}

proptest! {
    #[test]
    fn results_do_not_depend_on_row_order(rows in prop::collection::vec(arb_net_row(), 0..40), seed in any::<u64>()) {
        let (expected, stats) = result(Mode::Network, &rows);
        prop_assert!(stats.balanced());
        let mut shuffled = rows.clone();
        let n = shuffled.len();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(result(Mode::Network, &shuffled).0, expected);
    }

    #[test]
    fn map_reduce_over_any_partition_equals_one_process(rows in prop::collection::vec(arb_net_row(), 0..40), cuts in prop::collection::vec(0usize..40, 0..7)) {
        let (expected, _) = result(Mode::Network, &rows);
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
        bounds.push(0);
        bounds.push(rows.len());
        bounds.sort_unstable();
        let mut reduce = engine(Mode::Network, |c| c.trusted_partials = true);
        let names = reduce.fields().to_vec();
        for w in bounds.windows(2) {
            let mut map = engine(Mode::Network, |_| {});
            push_all(&mut map, &rows[w[0]..w[1]]);
            let partial = map.drain_partials().to_table();
            for r in &partial.rows {
                let fields = partial.columns.iter().zip(r)
                    .map(|(c, v)| (c.clone(), vec![String::from_utf8_lossy(v).into_owned()]))
                    .filter(|(_, v)| !v[0].is_empty())
                    .collect();
                reduce.push(&MapRow { names: names.clone(), fields }).unwrap();
            }
        }
        prop_assert_eq!(reduce.finish().to_table(), expected);
    }
}

#[test]
fn kept_events_without_a_numeric_time_warn_and_show_empty_times() {
    let untimed = net_event(&[("_time", ""), ("src_port", "1")]);
    let rendered = net_event(&[("_time", "2023-11-14 22:13:20"), ("src_port", "2")]);
    let timed = net_event(&[("src_port", "3")]);
    let mut e = engine(Mode::Network, |_| {});
    assert!(e.untimed_warning().is_none());
    push_all(&mut e, &[untimed, rendered, timed]);
    let warning = e.untimed_warning().unwrap();
    assert!(
        warning.starts_with("2 kept events have no numeric _time"),
        "{warning}"
    );
    let t = e.finish().to_table();
    assert_eq!(col(&t, "firstTime"), ["", "", "2023-11-14T22:13:20"]);
    assert_eq!(col(&t, "lastTime"), ["", "", "2023-11-14T22:13:20"]);
    assert_eq!(col(&t, "count"), ["1", "1", "1"]);
}

#[test]
fn push_says_what_became_of_each_row_and_the_books_balance() {
    let mut e = engine(Mode::Network, |_| {});
    let names = e.fields().to_vec();
    let mut push = |fields: Vec<(String, Vec<String>)>| {
        e.push_outcome(&MapRow {
            names: names.clone(),
            fields: fields.into_iter().collect(),
        })
        .unwrap()
    };
    assert_eq!(push(net_event(&[])), Outcome::Kept);
    assert_eq!(
        push(net_event(&[("process_name", "cmd.exe")])),
        Outcome::Filtered
    );
    let missing = push(net_event(&[("user", ""), ("dest", "")]));
    assert_eq!(missing, Outcome::MissingFields(vec!["dest", "user"]));
    e.skip(2);
    let s = e.stats();
    assert!(s.balanced(), "{s:?}");
    assert_eq!((s.rows_in, s.rows_kept, s.rows_filtered), (5, 1, 3));
    assert_eq!(s.missing.get("user"), Some(&1));
    let mut n = engine(Mode::Noargs, |_| {});
    let names = n.fields().to_vec();
    let row = MapRow {
        names,
        fields: proc_event(&[("process", "RegSvcs.exe /u x.dll")])
            .into_iter()
            .collect(),
    };
    assert_eq!(n.push_outcome(&row).unwrap(), Outcome::RegexRejected);
}
