//! Results through the whole protocol path do not depend on how rows are chunked, for both modes and several option sets.

use proptest::prelude::*;
use regsvcsdetect::command::Session;

use crate::util::*;

fn replies(input: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    Session::new(input, &mut out).run();
    parse_chunks(&out)
}

fn net_rows() -> impl Strategy<Value = Vec<String>> {
    let row = (
        prop::sample::select(vec!["RegSvcs.exe", "regsvcs.exe", "cmd.exe"]),
        prop::sample::select(vec![
            "8.8.8.8",
            "10.0.0.1",
            "172.32.0.1",
            "192.169.1.1",
            "::1",
            "fe80::2",
            "host",
        ]),
        prop::sample::select(vec!["3", "1"]),
        prop::sample::select(vec!["ipv4", ""]),
        0u32..4,
        0u64..1000,
    )
        .prop_map(|(p, ip, eid, pv, port, t)| {
            let port = port.to_string();
            let t = format!("{}.{}", 1_700_000_000 + t, t % 10);
            network_row(&[
                ("process_name", p),
                ("dest_ip", ip),
                ("EventID", eid),
                ("protocol_version", pv),
                ("src_port", &port),
                ("_time", &t),
            ])
        });
    prop::collection::vec(row, 0..60)
}

fn proc_rows() -> impl Strategy<Value = Vec<String>> {
    let row = (
        prop::sample::select(vec!["RegSvcs.exe", "cmd.exe", ""]),
        prop::sample::select(vec![
            r#""C:\Windows\RegSvcs.exe""#,
            "RegSvcs.exe /u",
            "regsvcs.exe x.dll",
            "",
            "regsvcs.exe\n",
        ]),
        prop::sample::select(vec!["S-1-5-18", ""]),
        0u64..1000,
    )
        .prop_map(|(p, cmd, uid, t)| {
            let t = (1_700_000_000 + t).to_string();
            process_row(&[
                ("process_name", p),
                ("process", cmd),
                ("user_id", uid),
                ("_time", &t),
            ])
        });
    prop::collection::vec(row, 0..60)
}

fn run_chunked(
    args: &[&str],
    header: &str,
    rows: &[String],
    cuts: &[usize],
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
    bounds.push(0);
    bounds.push(rows.len());
    bounds.sort_unstable();
    let mut input = getinfo(args);
    let n = bounds.len() - 1;
    for (i, w) in bounds.windows(2).enumerate() {
        let body = format!("{header}{}", rows[w[0]..w[1]].concat());
        input.extend(execute(body.as_bytes(), i + 1 == n));
    }
    let r = replies(&input);
    assert_eq!(r.len(), n + 1, "one reply per request");
    for mid in &r[1..n] {
        assert!(mid.body.is_empty());
    }
    r[n].table()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn network_results_do_not_depend_on_chunking(rows in net_rows(), cuts in prop::collection::vec(0usize..100, 0..6)) {
        let header = format!("{NETWORK_HEADER}\n");
        for args in [&["mode=network", "tz=UTC"][..], &["mode=network", "cidrs=extended", "timeformat=epoch"][..]] {
            let whole = run_chunked(args, &header, &rows, &[]);
            prop_assert_eq!(run_chunked(args, &header, &rows, &cuts), whole);
        }
    }

    #[test]
    fn noargs_results_do_not_depend_on_chunking(rows in proc_rows(), cuts in prop::collection::vec(0usize..100, 0..6)) {
        let header = process_header("Processes.");
        for args in [&["mode=noargs", "tz=UTC"][..], &["mode=noargs", "cim_fill=t", "tz=UTC"][..]] {
            let whole = run_chunked(args, &header, &rows, &[]);
            prop_assert_eq!(run_chunked(args, &header, &rows, &cuts), whole);
        }
    }
}
