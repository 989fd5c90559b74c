//! The group table: BY-tuple keys to mergeable count/min/max accumulators, and the output row order.

use std::cmp::Ordering;
use std::collections::HashMap;

/// `count`, `min(_time)`, `max(_time)` of one group. Merging two accumulators
/// equals accumulating the union of their inputs, which is what lets the map
/// phase run on many indexers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Acc {
    /// Sum of memberships (or of pre-aggregated counts).
    pub count: f64,
    /// Earliest time seen; `+inf` when none.
    pub first: f64,
    /// Latest time seen; `-inf` when none.
    pub last: f64,
}

impl Default for Acc {
    fn default() -> Acc {
        Acc {
            count: 0.0,
            first: f64::INFINITY,
            last: f64::NEG_INFINITY,
        }
    }
}

impl Acc {
    /// Folds another accumulator into this one.
    pub fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    /// The earliest time, if any was seen.
    pub fn first_time(&self) -> Option<f64> {
        self.first.is_finite().then_some(self.first)
    }

    /// The latest time, if any was seen.
    pub fn last_time(&self) -> Option<f64> {
        self.last.is_finite().then_some(self.last)
    }
}

/// The group table could not take another group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupLimit {
    /// It holds the most groups allowed.
    Count(usize),
    /// Its keys hold the most bytes allowed.
    Bytes(usize),
}

/// The most bytes of BY values the group table may hold: 1 GiB. `max_groups`
/// bounds the number of groups; this bounds their size, so a few huge values
/// times a multivalue field cannot exhaust memory.
pub const MAX_GROUP_KEY_BYTES: usize = 1 << 30;

/// Groups keyed by their encoded BY tuple.
#[derive(Debug, Clone)]
pub struct Groups {
    map: HashMap<Box<[u8]>, Acc>,
    limit: usize,
    bytes: usize,
}

impl Groups {
    /// An empty table holding at most `limit` groups.
    pub fn new(limit: usize) -> Groups {
        Groups {
            map: HashMap::new(),
            limit,
            bytes: 0,
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no groups.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Merges `acc` into the group of the encoded `key` (see [`encode_part`]).
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the key is new and the table is full; nothing is
    /// dropped silently.
    pub fn add(&mut self, key: &[u8], acc: &Acc) -> Result<(), GroupLimit> {
        if let Some(slot) = self.map.get_mut(key) {
            slot.merge(acc);
            return Ok(());
        }
        if self.map.len() >= self.limit {
            return Err(GroupLimit::Count(self.limit));
        }
        if self.bytes + key.len() > MAX_GROUP_KEY_BYTES {
            return Err(GroupLimit::Bytes(MAX_GROUP_KEY_BYTES));
        }
        self.bytes += key.len();
        self.map.insert(key.into(), *acc);
        Ok(())
    }

    /// Takes every group out, sorted by the BY tuple.
    pub fn drain_sorted(&mut self) -> Vec<(Vec<Vec<u8>>, Acc)> {
        self.bytes = 0;
        let mut rows: Vec<(Vec<Vec<u8>>, Acc)> = self
            .map
            .drain()
            .map(|(key, acc)| (decode_key(&key), acc))
            .collect();
        rows.sort_by(|a, b| compare_tuples(&a.0, &b.0));
        rows
    }
}

/// Appends one BY value to an encoded key: a 4-byte length, then the bytes.
pub fn encode_part(key: &mut Vec<u8>, value: &[u8]) {
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_le_bytes());
    key.extend_from_slice(&value[..len as usize]);
}

fn decode_key(mut key: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    while let Some((len, rest)) = key.split_first_chunk::<4>() {
        let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
        parts.push(rest[..len].to_vec());
        key = &rest[len..];
    }
    parts
}

/// Compares BY tuples field by field with [`compare_values`].
pub fn compare_tuples(a: &[Vec<u8>], b: &[Vec<u8>]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// Splunk's sort order: numeric-looking values compare numerically and come
/// before other values, which compare bytewise (so uppercase sorts before
/// lowercase). Equal numbers fall back to bytes, keeping the order total.
pub fn compare_values(a: &[u8], b: &[u8]) -> Ordering {
    match (parse_number(a), parse_number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Parses a decimal number (`12`, `-3.5`, `.5`, `1e9`); anything else, including
/// `inf`, `nan` and surrounding spaces, is not a number.
pub fn parse_number(v: &[u8]) -> Option<f64> {
    let (mut digits, mut i) = (0, 0);
    if matches!(v.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    while v.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits += 1;
    }
    if v.get(i) == Some(&b'.') {
        i += 1;
        while v.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(v.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while v.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != v.len() {
        return None;
    }
    std::str::from_utf8(v)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(parts: &[&str]) -> Vec<u8> {
        let mut k = Vec::new();
        for p in parts {
            encode_part(&mut k, p.as_bytes());
        }
        k
    }

    #[test]
    fn numbers_sort_numerically_and_before_text() {
        let mut v: Vec<&[u8]> = vec![b"b", b"10", b"9", b"B", b"-1", b"1.5", b"a"];
        v.sort_by(|a, b| compare_values(a, b));
        assert_eq!(v, vec![&b"-1"[..], b"1.5", b"9", b"10", b"B", b"a", b"b"]);
    }

    #[test]
    fn number_parsing_is_strict() {
        assert_eq!(parse_number(b"1599171244.277"), Some(1599171244.277));
        assert_eq!(parse_number(b".5"), Some(0.5));
        assert_eq!(parse_number(b"1e3"), Some(1000.0));
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"inf",
            b"NaN",
            b" 1",
            b"1 ",
            b"1e",
            b"0x10",
            b"1,000",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn group_limit_is_an_error_not_a_silent_drop() {
        let mut g = Groups::new(1);
        let acc = Acc {
            count: 1.0,
            first: 1.0,
            last: 1.0,
        };
        g.add(&key(&["a"]), &acc).unwrap();
        g.add(&key(&["a"]), &acc).unwrap();
        assert_eq!(g.add(&key(&["b"]), &acc), Err(GroupLimit::Count(1)));
    }

    #[test]
    fn keys_round_trip_including_empty_parts() {
        let mut g = Groups::new(10);
        g.add(&key(&["x", "", "y,z"]), &Acc::default()).unwrap();
        let rows = g.drain_sorted();
        assert_eq!(rows[0].0, vec![b"x".to_vec(), vec![], b"y,z".to_vec()]);
    }

    proptest! {
        #[test]
        fn merge_of_accumulations_equals_accumulation_of_union(
            a in prop::collection::vec((0u8..3, 0.0f64..1e6), 0..20),
            b in prop::collection::vec((0u8..3, 0.0f64..1e6), 0..20),
        ) {
            let fold = |rows: &[(u8, f64)]| {
                let mut g = Groups::new(100);
                for (k, t) in rows {
                    g.add(&key(&[&k.to_string()]), &Acc { count: 1.0, first: *t, last: *t }).unwrap();
                }
                g
            };
            let mut merged = fold(&a);
            for (k, acc) in fold(&b).drain_sorted() {
                let mut kk = Vec::new();
                encode_part(&mut kk, &k[0]);
                merged.add(&kk, &acc).unwrap();
            }
            let all: Vec<_> = a.iter().chain(&b).cloned().collect();
            prop_assert_eq!(merged.drain_sorted(), fold(&all).drain_sorted());
        }
    }
}
