//! Real splunkd bytes from ../shared/fixtures/scpv2/splunkd-recorded: each recording's getinfo chunk is replaced by one for `mode=network`, its execute chunks are kept byte-exact, and every one must get exactly one well-formed reply.

use crate::util::*;

/// Splits a recorded stream into (header line, metadata, body) chunks.
fn split(mut data: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut chunks = Vec::new();
    loop {
        while data.first() == Some(&b'\n') {
            data = &data[1..];
        }
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            return (chunks, data.to_vec());
        };
        let header = std::str::from_utf8(&data[..nl]).unwrap();
        let rest = header
            .trim()
            .trim_start_matches("chunked")
            .trim()
            .trim_start_matches("1.0");
        let mut nums = rest
            .split(',')
            .skip(1)
            .map(|n| n.trim().parse::<usize>().unwrap());
        let (m, b) = (nums.next().unwrap(), nums.next().unwrap());
        let end = nl + 1 + m + b;
        if end > data.len() {
            return (chunks, data.to_vec());
        }
        chunks.push(data[..end].to_vec());
        data = &data[end..];
    }
}

fn replay(path: &str) -> (usize, Vec<Reply>, std::process::Output) {
    let file = shared_fixture(&format!("scpv2/splunkd-recorded/{path}"));
    let data = gunzip(&file);
    let (chunks, tail) = split(&data);
    assert!(tail.is_empty(), "{path}: a complete recording");
    let mut input = getinfo(&["mode=network"]);
    for c in &chunks[1..] {
        input.extend_from_slice(c);
    }
    let out = run(&input);
    let replies = parse_chunks(&out.stdout);
    (chunks.len(), replies, out)
}

fn check(path: &str) {
    let (requests, replies, out) = replay(path);
    assert!(
        out.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "{path}: stderr must stay quiet");
    assert_eq!(replies.len(), requests, "{path}: one reply per request");
    assert_eq!(replies[0].meta["type"], "reporting");
    for r in &replies[1..] {
        assert!(r.meta["finished"].is_boolean(), "{path}: {}", r.meta);
        assert!(r.meta.get("error").is_none(), "{path}: {}", r.meta);
    }
    assert_eq!(replies.last().unwrap().meta["finished"], true);
}

#[test]
#[ignore = "needs ../shared/fixtures (splunkd recordings)"]
fn splunk_8_0_3_multibyte_input_is_consumed_chunk_by_chunk() {
    check("splunk-8.0.3/multibyte_input.gz");
}

#[test]
#[ignore = "needs ../shared/fixtures (splunkd recordings)"]
fn splunk_6_3_countmatches_input_with_quoted_newlines() {
    check("splunk-6.3-dev/countmatches.input.gz");
}

#[test]
#[ignore = "needs ../shared/fixtures (splunkd recordings)"]
fn splunk_6_3_sum_map_16_mb_chunk() {
    check("splunk-6.3-dev/sum.map.input.gz");
}

#[test]
#[ignore = "needs ../shared/fixtures (splunkd recordings)"]
fn splunk_6_3_sum_reduce_input() {
    check("splunk-6.3-dev/sum.reduce.input.gz");
}

#[test]
#[ignore = "needs ../shared/fixtures (splunkd recordings)"]
fn pypygeneratetext_getinfo_with_a_stray_newline_is_a_clean_probe() {
    let file = shared_fixture("scpv2/splunkd-recorded/splunk-6.3-dev/pypygeneratetext.input.gz");
    let data = gunzip(&file);
    let (chunks, _) = split(&data);
    assert_eq!(chunks.len(), 1);
    let mut input = getinfo(&["mode=network"]);
    input.extend_from_slice(&data[chunks[0].len()..]);
    let out = run(&input);
    assert!(out.status.success());
    assert_eq!(parse_chunks(&out.stdout).len(), 1);
}

#[test]
#[ignore = "needs ../shared/fixtures (splunkd recordings)"]
fn generatehello_truncated_execute_is_an_error_reply() {
    let file = shared_fixture("scpv2/splunkd-recorded/splunk-6.3-dev/generatehello.input.gz");
    let data = gunzip(&file);
    let (chunks, tail) = split(&data);
    let mut input = getinfo(&["mode=network"]);
    input.extend_from_slice(&tail);
    assert_eq!(chunks.len(), 1);
    let out = run(&input);
    assert_eq!(out.status.code(), Some(1));
    let replies = parse_chunks(&out.stdout);
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[1].meta["finished"], true);
    assert!(replies[1].messages()[0]
        .1
        .contains("input ended inside the body"));
}
