//! Map/reduce equivalence: K map engines or processes plus one reduce give exactly the single-process result.

use proptest::prelude::*;
use regsvcsdetect::body::{encode_mv, results_len, write_results};
use regsvcsdetect::command::Sink;
use regsvcsdetect::detect::{
    CidrSet, Config, Engine, InputShape, Mode, Results, Table, TimeRender, NETWORK_BY, NOARGS_BY,
    SYSMON_SOURCETYPE,
};
use serde_json::Value;

use crate::util::{parse_chunks, run, Reply};

// ---------------------------------------------------------------------------
// Generated rows

/// One generated table: a header and rows of per-column value lists (an empty
/// list is a null cell; two or more values also fill the `__mv_` column).
#[derive(Debug, Clone)]
struct Input {
    columns: Vec<String>,
    rows: Vec<Vec<Vec<String>>>,
}

impl Input {
    /// The CSV body, quoted as splunkd quotes (everything non-alphanumeric).
    fn body(&self, rows: &[Vec<Vec<String>>]) -> Vec<u8> {
        let mut header: Vec<String> = Vec::new();
        for c in &self.columns {
            header.push(c.clone());
            header.push(format!("__mv_{c}"));
        }
        let mut out = line(&header);
        for row in rows {
            let mut cells = Vec::new();
            for values in row {
                cells.push(values.join("\n"));
                cells.push(if values.len() > 1 {
                    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
                    String::from_utf8(encode_mv(&refs)).unwrap()
                } else {
                    String::new()
                });
            }
            out.extend(line(&cells));
        }
        out
    }
}

fn line(cells: &[String]) -> Vec<u8> {
    let quoted: Vec<String> = cells
        .iter()
        .map(|v| {
            if v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                v.clone()
            } else {
                format!("\"{}\"", v.replace('"', "\"\""))
            }
        })
        .collect();
    (quoted.join(",") + "\n").into_bytes()
}

/// Values for a column; the empty string stands for null.
fn pool(mode: Mode, field: &str) -> &'static [&'static str] {
    match (mode, field) {
        (_, "process_name") => &[
            "RegSvcs.exe",
            "regsvcs.exe",
            "REGSVCS.EXE",
            "chrome.exe",
            "",
        ],
        (_, "original_file_name") => &["RegSvcs.exe", "regsvcs.EXE", "other.exe", ""],
        (_, "process") => &[
            r#""C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe""#,
            r"C:\x\regsvcs.exe /u evil.dll",
            "regsvcs.exe",
            "RegSvcs.exe\n",
            "cmd.exe /c \"a,b\"",
            "",
        ],
        (Mode::Network, "dest_ip") => &[
            "8.8.8.8",
            "10.1.2.3",
            "172.16.0.1",
            "172.32.0.1",
            "192.168.255.255",
            "11.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "dest.example",
            "",
        ],
        (_, "EventID") => &["3", "3", "22", ""],
        (_, "_time") => &["1700000000", "1700000000.5", "1599171244.277", "1", ""],
        (_, "count") => &["", "", "1", "3", "0", "x"],
        (_, "firstTime" | "lastTime") => {
            &["1700000100", "1600000000.25", "", "2020-01-01T00:00:00"]
        }
        (_, "source" | "sourcetype") => &[
            "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
            "other",
        ],
        _ => &["a", "b", "B", "10", "9", "x,\"y\"", ""],
    }
}

/// Strategy for a table in `mode`: every field the engine reads, each under
/// its plain or data-model-prefixed name, and rows with nulls and multivalues.
fn input(mode: Mode, mv_selection: bool) -> impl Strategy<Value = Input> {
    let by: &'static [&'static str] = match mode {
        Mode::Network => &NETWORK_BY,
        Mode::Noargs => &NOARGS_BY,
    };
    let mut fields: Vec<&'static str> = by.to_vec();
    fields.extend([
        "_time",
        "count",
        "firstTime",
        "lastTime",
        "EventID",
        "source",
        "sourcetype",
    ]);
    let prefix = match mode {
        Mode::Network => "All_Traffic.",
        Mode::Noargs => "Processes.",
    };
    let n = fields.len();
    (
        prop::collection::vec(any::<bool>(), n),
        prop::collection::vec(
            prop::collection::vec(prop::collection::vec(0usize..100, 0..3), n),
            0..24,
        ),
    )
        .prop_map(move |(prefixed, picks)| {
            let columns = fields
                .iter()
                .zip(&prefixed)
                .map(|(f, p)| {
                    let plain = matches!(
                        *f,
                        "_time"
                            | "count"
                            | "firstTime"
                            | "lastTime"
                            | "EventID"
                            | "source"
                            | "sourcetype"
                    );
                    if *p && !plain {
                        format!("{prefix}{f}")
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            let rows = picks
                .iter()
                .map(|row| {
                    fields
                        .iter()
                        .zip(row)
                        .map(|(f, pick)| {
                            let p = pool(mode, f);
                            let count = if mv_selection || multivalue_ok(f) {
                                pick.len()
                            } else {
                                pick.len().min(1)
                            };
                            pick.iter()
                                .take(count.max(1))
                                .map(|i| p[i % p.len()].to_string())
                                .filter(|v| !v.is_empty())
                                .collect()
                        })
                        .collect()
                })
                .collect();
            Input { columns, rows }
        })
}

/// Whether a field may be multivalue in the equivalence property. The fields
/// a row is selected on may not (nor `process`, from which `cim_fill=t`
/// derives `process_name`): the map gives a selected row one membership per
/// value, and the reduce selects each partial row again, so a membership
/// whose own value fails the selection (`process_name=chrome.exe` beside
/// `RegSvcs.exe`, `dest_ip=10.1.2.3` beside `8.8.8.8`) is lost. See
/// `multivalue_selection_fields_diverge`.
fn multivalue_ok(field: &str) -> bool {
    !matches!(
        field,
        "process_name" | "original_file_name" | "dest_ip" | "process"
    )
}

// ---------------------------------------------------------------------------
// Engines in one process

fn config(mode: Mode, input: InputShape, cidrs: CidrSet, cim_fill: bool) -> Config {
    let mut cfg = Config::new(mode, TimeRender::Epoch);
    cfg.input = input;
    cfg.cidrs = cidrs;
    cfg.cim_fill = cim_fill;
    cfg
}

fn sink(cfg: &Config) -> Sink {
    Sink::new(Engine::new(cfg.clone()))
}

/// Results as the command's reply body: streamed, and as long as announced.
fn csv(results: &Results) -> Vec<u8> {
    let mut out = Vec::new();
    write_results(&mut out, results).unwrap();
    assert_eq!(out.len(), results_len(results));
    out
}

fn single(cfg: &Config, data: &Input, order: &[usize]) -> Table {
    let rows: Vec<_> = order.iter().map(|&i| data.rows[i].clone()).collect();
    let mut engine = sink(cfg);
    engine.read(&data.body(&rows)).unwrap();
    engine.results().to_table()
}

/// `k` map engines, each fed its rows in chunks (a chunk ends after a row
/// whose `cut` flag is set), their partial tables written as CSV, read back
/// and merged by a reduce engine configured as the command configures it.
fn map_reduce(cfg: &Config, data: &Input, k: usize, split: &[(usize, bool)]) -> Table {
    let mut partials: Vec<Vec<u8>> = Vec::new();
    for m in 0..k {
        let mut engine = sink(cfg);
        let mut chunk = Vec::new();
        let mine = data.rows.iter().zip(split).filter(|(_, (e, _))| e % k == m);
        let mut mine = mine.peekable();
        while let Some((row, (_, cut))) = mine.next() {
            chunk.push(row.clone());
            if *cut || mine.peek().is_none() {
                engine.read(&data.body(&chunk)).unwrap();
                partials.push(csv(&engine.partials()));
                chunk.clear();
            }
        }
        partials.push(csv(&engine.partials()));
    }
    let mut reduce_cfg = cfg.clone();
    reduce_cfg.trusted_partials = true;
    let mut reduce = sink(&reduce_cfg);
    for p in &partials {
        reduce.read(p).unwrap();
    }
    reduce.results().to_table()
}

type Case = (Config, Input, usize, Vec<(usize, bool)>, u64);

fn case(mv_selection: bool) -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![Mode::Network, Mode::Noargs]),
        prop::sample::select(vec![
            InputShape::Auto,
            InputShape::Events,
            InputShape::Aggregated,
        ]),
        prop::sample::select(vec![CidrSet::Rfc1918, CidrSet::Extended]),
        any::<bool>(),
        1usize..=8,
        any::<u64>(),
    )
        .prop_flat_map(move |(mode, shape, cidrs, fill, k, seed)| {
            let cfg = config(mode, shape, cidrs, fill);
            input(mode, mv_selection).prop_flat_map(move |data| {
                let split =
                    prop::collection::vec((0usize..8, prop::bool::weighted(0.3)), data.rows.len());
                (Just(cfg.clone()), Just(data), Just(k), split, Just(seed))
            })
        })
}

/// A permutation of `0..n` from a fixed seed (xorshift, Fisher-Yates).
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    order
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn k_map_engines_and_a_reduce_equal_one_engine((cfg, data, k, split, _) in case(true)) {
        let order: Vec<usize> = (0..data.rows.len()).collect();
        let expected = single(&cfg, &data, &order);
        prop_assert_eq!(map_reduce(&cfg, &data, k, &split), expected);
    }

    #[test]
    fn results_do_not_depend_on_row_order((cfg, data, _, _, seed) in case(true)) {
        let order: Vec<usize> = (0..data.rows.len()).collect();
        let expected = single(&cfg, &data, &order);
        prop_assert_eq!(single(&cfg, &data, &shuffled(data.rows.len(), seed | 1)), expected);
    }
}

/// One event whose `process_name` is multivalue: one process counts both
/// memberships, and the reduce must keep the `chrome.exe` partial row
/// rather than select it again.
#[test]
fn multivalue_selection_fields_survive_the_reduce() {
    let mut row: Vec<Vec<String>> = NETWORK_BY.iter().map(|_| vec!["a".to_string()]).collect();
    let at = |f: &str| NETWORK_BY.iter().position(|b| *b == f).unwrap();
    row[at("process_name")] = vec!["RegSvcs.exe".into(), "chrome.exe".into()];
    row[at("dest_ip")] = vec!["8.8.8.8".into()];
    let mut columns: Vec<String> = NETWORK_BY.iter().map(|f| f.to_string()).collect();
    columns.push("EventID".into());
    row.push(vec!["3".into()]);
    let data = Input {
        columns,
        rows: vec![row],
    };
    let cfg = config(Mode::Network, InputShape::Auto, CidrSet::Rfc1918, false);
    let expected = single(&cfg, &data, &[0]);
    assert_eq!(expected.rows.len(), 2);
    assert_eq!(map_reduce(&cfg, &data, 1, &[(0, false)]), expected);
}

/// With `sysmon=t` the map applies the source gate; partial rows carry no
/// `source`/`sourcetype`, and the reduce must not gate them again.
#[test]
fn sysmon_gate_runs_on_the_map_only() {
    let data = fixed_input(Mode::Network, 60, true);
    emulate_indexers(&["mode=network", "sysmon=t", "tz=UTC"], &data, 2);
}

// ---------------------------------------------------------------------------
// The real binary: K `phase=map` processes and one reduce process

/// Deterministic rows for the process-level test, from the same pools.
fn fixed_input(mode: Mode, rows: usize, sysmon: bool) -> Input {
    let by: &'static [&'static str] = match mode {
        Mode::Network => &NETWORK_BY,
        Mode::Noargs => &NOARGS_BY,
    };
    let mut columns: Vec<String> = by.iter().map(|f| f.to_string()).collect();
    columns.extend(["_time", "EventID", "count", "firstTime", "lastTime"].map(String::from));
    if sysmon {
        columns.extend(["source", "sourcetype"].map(String::from));
    }
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    let rows = (0..rows)
        .map(|_| {
            let aggregated = next() % 5 == 0;
            columns
                .iter()
                .map(|c| {
                    let c = c.as_str();
                    let p: &[&str] = match c {
                        // Keep the by-fields few so that groups collide.
                        "count" | "firstTime" | "lastTime" if !aggregated => &[""],
                        "count" => &["1", "4", "2"],
                        "source" | "sourcetype" => &[SYSMON_SOURCETYPE],
                        "process_name" | "dest_ip" | "original_file_name" | "process" | "_time"
                        | "EventID" | "firstTime" | "lastTime" => pool(mode, c),
                        _ => &["a", "B", "10", "x,\"y\""],
                    };
                    let n = if multivalue_ok(c) && next() % 10 == 0 {
                        2
                    } else {
                        1
                    };
                    (0..n)
                        .map(|_| p[next() % p.len()].to_string())
                        .filter(|v| !v.is_empty())
                        .collect()
                })
                .collect()
        })
        .collect();
    Input { columns, rows }
}

/// Runs one session: getinfo with `args`, then one execute chunk per body,
/// the last one `finished:true`. Returns the reply bodies after getinfo's, and
/// the getinfo reply's metadata.
fn session(args: &[&str], bodies: &[Vec<u8>]) -> (Value, Vec<Vec<u8>>) {
    let replies = replies(args, bodies);
    let info = replies[0].meta.clone();
    (info, replies.into_iter().skip(1).map(|r| r.body).collect())
}

/// Every reply of one session (see [`session`]), none of them an error.
fn replies(args: &[&str], bodies: &[Vec<u8>]) -> Vec<Reply> {
    let out = run(&crate::util::session(args, bodies));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies = parse_chunks(&out.stdout);
    assert_eq!(replies.len(), bodies.len() + 1, "{args:?}");
    for r in &replies {
        assert!(r.meta.get("error").is_none(), "{args:?}: {}", r.meta);
    }
    replies
}

fn emulate_indexers(args: &[&str], data: &Input, k: usize) {
    // One process with no map phase, over all rows in chunks of 7.
    let chunks: Vec<Vec<u8>> = data.rows.chunks(7).map(|c| data.body(c)).collect();
    let mut single_args = args.to_vec();
    single_args.push("distributed=f");
    let (info, replies) = session(&single_args, &chunks);
    assert!(info.get("streaming_preop").is_none());
    let expected = replies.last().cloned().unwrap_or_default();

    // The reduce's getinfo names the map search; splunkd splits it on whitespace.
    let (info, _) = session(args, &[]);
    let preop = info["streaming_preop"]
        .as_str()
        .expect("a streaming_preop")
        .to_string();
    let mut words = preop.split_whitespace();
    assert_eq!(words.next(), Some("regsvcsdetect"));
    let map_args: Vec<&str> = words.collect();
    assert!(map_args.contains(&"phase=map"), "{preop}");

    // K indexers, each with every k-th row, in chunks of 5.
    let mut partials = Vec::new();
    for m in 0..k {
        let mine: Vec<_> = data.rows.iter().skip(m).step_by(k).cloned().collect();
        let bodies: Vec<Vec<u8>> = mine.chunks(5).map(|c| data.body(c)).collect();
        let (info, replies) = session(&map_args, &bodies);
        assert_eq!(info["type"], "streaming", "{preop}");
        partials.extend(replies);
    }
    partials.push(Vec::new());
    let (info, replies) = session(args, &partials);
    assert_eq!(info["type"], "reporting");
    let got = replies.last().cloned().unwrap_or_default();
    assert!(
        !expected.is_empty(),
        "{args:?}: the data should produce groups"
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected),
        "{args:?} with {k} indexers"
    );
}

#[test]
fn k_map_processes_and_a_reduce_process_equal_one_process() {
    let network = fixed_input(Mode::Network, 300, false);
    let noargs = fixed_input(Mode::Noargs, 300, false);
    let cases: [(&[&str], &Input); 6] = [
        (&["mode=network", "tz=UTC"], &network),
        (
            &["mode=network", "cidrs=extended", "input=events"],
            &network,
        ),
        (&["mode=network", "timeformat=epoch"], &network),
        (&["mode=noargs"], &noargs),
        (&["mode=noargs", "cim_fill=t", "tz=UTC"], &noargs),
        (
            &["mode=noargs", "input=aggregated", "timeformat=%s"],
            &noargs,
        ),
    ];
    for (args, data) in cases {
        for k in [1, 3] {
            emulate_indexers(args, data, k);
        }
    }
}

/// The execute replies of one session run with `threads=<n>` added, the
/// getinfo reply (whose map-phase search names the option) left out.
fn execute_replies(args: &[&str], threads: usize, bodies: &[Vec<u8>]) -> Vec<(Value, Vec<u8>)> {
    let threads = format!("threads={threads}");
    let args = [args, &[threads.as_str()]].concat();
    let replies = replies(&args, bodies).into_iter().skip(1);
    replies.map(|r| (r.meta, r.body)).collect()
}

#[test]
fn threads_answer_as_one_thread_over_bodies_of_many_windows() {
    // Two bodies of 12,000 network rows (about 5 MiB each, more than a
    // window), a tenth of them repeating a group, some with quoted newlines.
    let bodies: Vec<Vec<u8>> = (0..2)
        .map(|b| {
            let rows: Vec<String> = (0..12_000)
                .map(|i| {
                    let n = (b * 12_000 + i) % 21_600;
                    let ip = format!("93.184.{}.{}", n / 250, n % 250);
                    let user = if i % 97 == 0 {
                        format!("CORP\\line\nbreak {n}")
                    } else {
                        format!("CORP\\u{n}")
                    };
                    crate::util::network_row(&[("dest_ip", &ip), ("user", &user)])
                })
                .collect();
            crate::util::net_body(&rows)
        })
        .collect();
    for args in [
        &["mode=network", "tz=UTC"][..],
        &["mode=network", "tz=UTC", "phase=map"][..],
    ] {
        let one = execute_replies(args, 1, &bodies);
        let rows = |replies: &[(Value, Vec<u8>)]| -> usize {
            replies
                .iter()
                .map(|(_, body)| crate::util::table(body).1.len())
                .sum()
        };
        assert!(rows(&one) > 20_000, "{args:?}: {} rows", rows(&one));
        for threads in [2, 3, 16] {
            assert!(
                execute_replies(args, threads, &bodies) == one,
                "{args:?}, threads={threads}"
            );
        }
    }
}
