//! Row accounting on the final reply: for every session,
//! `rows_in = rows_kept + rows_filtered + rows_dropped_missing_field + rows_dropped_regex`,
//! whatever the rows are (prefilter-skipped, ragged, multivalue, spread over chunks).

use crate::util::*;

fn final_reply(args: &[&str], bodies: &[Vec<u8>]) -> Reply {
    let out = run(&session(args, bodies));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_chunks(&out.stdout).pop().expect("a final reply")
}

fn metric(r: &Reply, name: &str) -> u64 {
    r.metric(name)
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: {:?}", r.meta))
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One network-mode row of a random kind.
fn network_line(g: &mut Lcg, mv: bool) -> String {
    let line = match g.next(9) {
        0 => network_row(&[]),
        1 => network_row(&[("src_port", "1")]),
        // Prefilter-skipped: no regsvcs.exe anywhere in the row.
        2 => network_row(&[("process_name", "notepad.exe"), ("app", "notepad.exe")]),
        // Decoded but filtered: the needle is elsewhere in the row.
        3 => network_row(&[("process_name", "cmd.exe")]),
        4 => network_row(&[("dest_ip", "10.9.8.7")]),
        5 => network_row(&[("EventID", "1")]),
        // Matched, dropped for a missing BY field.
        6 => network_row(&[("protocol_version", "")]),
        // Ragged: too few and too many fields.
        7 => "1700000000,3,allowed,RegSvcs.exe\n".to_string(),
        _ => network_row(&[]).replace('\n', ",surplus\n"),
    };
    if mv {
        let cell = if g.next(2) == 0 {
            "\"$10.0.0.1$;$10.0.0.2$\"".to_string()
        } else {
            String::new()
        };
        line.trim_end_matches('\n').to_string() + "," + &cell + "\n"
    } else {
        line
    }
}

#[test]
fn network_sessions_balance_over_varied_rows() {
    let mut g = Lcg(7);
    for session in 0..12 {
        let mv = session % 2 == 1;
        let header = if mv {
            format!("{NETWORK_HEADER},__mv_src_ip\n")
        } else {
            format!("{NETWORK_HEADER}\n")
        };
        let chunks = 1 + g.next(4) as usize;
        let mut total = 0;
        let bodies: Vec<Vec<u8>> = (0..chunks)
            .map(|_| {
                let rows = g.next(40) as usize;
                total += rows;
                let mut b = header.clone();
                for _ in 0..rows {
                    b.push_str(&network_line(&mut g, mv));
                }
                b.into_bytes()
            })
            .collect();
        let r = final_reply(&["mode=network"], &bodies);
        assert_balanced(&format!("session {session}"), &r);
        assert_eq!(metric(&r, "rows_in"), total as u64, "session {session}");
    }
}

#[test]
fn noargs_sessions_balance_with_regex_drops() {
    let mut g = Lcg(11);
    for session in 0..6 {
        let mut body = process_header("Processes.");
        let rows = 10 + g.next(30);
        for _ in 0..rows {
            body.push_str(&match g.next(5) {
                0 => process_row(&[]),
                1 => process_row(&[("process", "RegSvcs.exe /u evil.dll")]),
                2 => process_row(&[
                    ("process_name", "cmd.exe"),
                    ("original_file_name", "Cmd.Exe"),
                    ("process", "cmd.exe"),
                    ("process_path", "C:\\cmd.exe"),
                    ("process_exec", "cmd.exe"),
                ]),
                3 => process_row(&[("process_name", "cmd.exe"), ("process", "cmd /c x")]),
                _ => "1700000000,allowed,h,RegSvcs.exe\n".to_string(),
            });
        }
        let r = final_reply(&["mode=noargs"], &[body.into_bytes()]);
        assert_balanced(&format!("noargs {session}"), &r);
        assert_eq!(metric(&r, "rows_in"), rows, "noargs {session}");
    }
}

#[test]
fn every_bucket_is_exercised() {
    let body = [
        format!("{NETWORK_HEADER}\n"),
        network_row(&[]),
        network_row(&[("process_name", "notepad.exe"), ("app", "notepad.exe")]),
        network_row(&[("protocol_version", "")]),
    ]
    .concat();
    let r = final_reply(&["mode=network"], &[body.into_bytes()]);
    assert_balanced("network", &r);
    assert_eq!(metric(&r, "rows_in"), 3);
    assert_eq!(metric(&r, "rows_kept"), 1);
    assert_eq!(metric(&r, "rows_filtered"), 1);
    assert_eq!(metric(&r, "rows_dropped_missing_field"), 1);
    let body = [
        process_header("Processes."),
        process_row(&[]),
        process_row(&[("process", "RegSvcs.exe /u x.dll")]),
    ]
    .concat();
    let r = final_reply(&["mode=noargs"], &[body.into_bytes()]);
    assert_balanced("noargs", &r);
    assert_eq!(metric(&r, "rows_dropped_regex"), 1);
    assert_eq!(metric(&r, "rows_kept"), 1);
}

#[test]
fn map_phase_reports_balanced_accounting_on_the_last_reply() {
    let body = [
        format!("{NETWORK_HEADER}\n"),
        network_row(&[]),
        network_row(&[("process_name", "x.exe"), ("app", "x.exe")]),
    ]
    .concat()
    .into_bytes();
    let r = final_reply(
        &["mode=network", "phase=map"],
        &[body.clone(), body.clone(), vec![]],
    );
    assert_balanced("map", &r);
    assert_eq!(metric(&r, "rows_in"), 4);
}

#[test]
fn the_balance_check_can_fail() {
    let r = Reply {
        meta: serde_json::json!({"inspector": {
            "metric.rows_in": 3, "metric.rows_kept": 1, "metric.rows_filtered": 1,
            "metric.rows_matched": 1, "metric.rows_dropped_missing_field": 0,
            "metric.rows_dropped_regex": 0}}),
        body: vec![],
    };
    assert!(std::panic::catch_unwind(|| assert_balanced("x", &r)).is_err());
}
