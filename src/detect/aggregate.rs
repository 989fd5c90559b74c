//! The group table: BY-tuple keys to mergeable count/min/max accumulators, and the output row order.

use std::borrow::Cow;
use std::cmp::Ordering;

/// `count`, `min(_time)`, `max(_time)` of one group. Merging two accumulators
/// equals accumulating the union of their inputs, which is what lets the map
/// phase run on many indexers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Acc {
    /// Sum of memberships (or of pre-aggregated counts).
    pub(crate) count: f64,
    /// Earliest time seen; `+inf` when none.
    pub(crate) first: f64,
    /// Latest time seen; `-inf` when none.
    pub(crate) last: f64,
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
    pub(crate) fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    /// The earliest time, if any was seen.
    pub(crate) fn first_time(&self) -> Option<f64> {
        self.first.is_finite().then_some(self.first)
    }

    /// The latest time, if any was seen.
    pub(crate) fn last_time(&self) -> Option<f64> {
        self.last.is_finite().then_some(self.last)
    }
}

/// The group table could not take another group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupLimit {
    /// It holds the most groups allowed.
    Count(usize),
    /// Its keys hold the most bytes allowed.
    Bytes(usize),
}

/// The most bytes of BY values the group table may hold: 1 GiB. `max_groups`
/// bounds the number of groups; this bounds their size, so a few huge values
/// times a multivalue field cannot exhaust memory.
pub(crate) const MAX_GROUP_KEY_BYTES: usize = 1 << 30;

/// What the table keeps per group besides its key bytes, in bytes: the
/// [`Group`] record, about two hash slots at the table's load, and the
/// sort index. README "Limits" quotes it with the key bytes per group.
#[allow(
    dead_code,
    reason = "no code reads it: it is the documented figure README Limits and Config::max_groups quote"
)]
pub(crate) const GROUP_OVERHEAD_BYTES: usize = std::mem::size_of::<Group>() + 2 * 4 + 4;

/// One group: where its key lies in the arena, its hash, which of its
/// values look numeric (decided once, for the sort), and its accumulator.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: u32,
    len: u32,
    hash: u32,
    numeric: u32,
    acc: Acc,
}

/// Groups keyed by their encoded BY tuple.
///
/// Every key lives in one byte arena, back to back; a group is a small
/// fixed record pointing into it, and an open-addressing table of group
/// numbers finds a key by its hash. Nothing is allocated per group, so
/// building and dropping a table of a million groups costs a few large
/// allocations, not millions of small ones.
#[derive(Debug, Clone)]
pub(crate) struct Groups {
    arena: Vec<u8>,
    groups: Vec<Group>,
    /// Group number + 1 per slot, 0 when empty; a power of two long.
    slots: Vec<u32>,
    limit: usize,
    hasher: foldhash::fast::RandomState,
}

impl Groups {
    /// An empty table holding at most `limit` groups.
    pub(crate) fn new(limit: usize) -> Groups {
        Groups {
            arena: Vec::new(),
            groups: Vec::new(),
            slots: Vec::new(),
            limit: limit.min(u32::MAX as usize - 1),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn key(&self, g: &Group) -> &[u8] {
        &self.arena[g.start as usize..(g.start + g.len) as usize]
    }

    /// Merges `acc` into the group of the encoded `key` (see [`encode_part`]).
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the key is new and the table is full; nothing is
    /// dropped silently.
    #[cfg(test)] // the engine always knows the classes and calls add_classified
    pub(crate) fn add(&mut self, key: &[u8], acc: &Acc) -> Result<(), GroupLimit> {
        self.add_classified(key, acc, || numeric_bits(Parts::new(key)))
    }

    /// Merges `acc` into the group of the encoded `key` (see [`encode_part`]), with the number-or-text class of the key's values
    /// (bit `i` set when value `i` is a number, for the first 32) given by
    /// `numeric`, called only when the key is new: the caller holds the
    /// decoded values, so the key is not decoded again to classify them.
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the key is new and the table is full; nothing is
    /// dropped silently.
    pub(crate) fn add_classified(
        &mut self,
        key: &[u8],
        acc: &Acc,
        numeric: impl FnOnce() -> u32,
    ) -> Result<(), GroupLimit> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(key);
        let tag = (hash >> 32) as u32;
        if !self.slots.is_empty() {
            let mask = self.slots.len() - 1;
            let mut at = hash as usize & mask;
            loop {
                let slot = self.slots[at];
                if slot == 0 {
                    break;
                }
                let g = self.groups[slot as usize - 1];
                if g.hash == tag && self.key(&g) == key {
                    self.groups[slot as usize - 1].acc.merge(acc);
                    return Ok(());
                }
                at = (at + 1) & mask;
            }
        }
        if self.groups.len() >= self.limit {
            return Err(GroupLimit::Count(self.limit));
        }
        if self.arena.len() + key.len() > MAX_GROUP_KEY_BYTES {
            return Err(GroupLimit::Bytes(MAX_GROUP_KEY_BYTES));
        }
        if (self.groups.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let numeric = numeric();
        let group = Group {
            start: self.arena.len() as u32,
            len: key.len() as u32,
            hash: tag,
            numeric,
            acc: *acc,
        };
        self.arena.extend_from_slice(key);
        self.groups.push(group);
        let n = self.groups.len() as u32;
        self.place(hash, n);
        Ok(())
    }

    fn place(&mut self, hash: u64, n: u32) {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = n;
    }

    /// Doubles the slot table (at least 1024 slots) and re-places every group.
    fn grow(&mut self) {
        use std::hash::BuildHasher;
        let len = (self.slots.len() * 2).max(1024);
        self.slots = vec![0; len];
        for i in 0..self.groups.len() {
            let hash = self.hasher.hash_one(self.key(&self.groups[i]));
            self.place(hash, i as u32 + 1);
        }
    }

    /// Takes every group out, sorted by the BY tuple; the table is left empty.
    pub(crate) fn take_sorted(&mut self) -> Sorted {
        let arena = std::mem::take(&mut self.arena);
        let groups = std::mem::take(&mut self.groups);
        self.slots = Vec::new();
        let order = sort_groups(&arena, &groups);
        Sorted {
            arena,
            groups,
            order,
        }
    }
}

/// Bit `i` set when value `i` (of the first 32) is a number.
pub(crate) fn numeric_bits<V: AsRef<[u8]>>(values: impl Iterator<Item = V>) -> u32 {
    values.take(32).enumerate().fold(0u32, |m, (i, v)| {
        m | (u32::from(parse_number(v.as_ref()).is_some()) << i)
    })
}

/// Groups in output order, taken out of a [`Groups`] table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sorted {
    arena: Vec<u8>,
    groups: Vec<Group>,
    order: Vec<u32>,
}

impl Sorted {
    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// True when there are no groups.
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The groups in order: each one's BY values and accumulator.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Parts<'_>, &Acc)> + '_ {
        self.keys().map(|(key, acc)| (Parts::new(key), acc))
    }

    /// The groups in order: each one's key (its BY values as CSV cells,
    /// each followed by a comma; see [`encode_part`]) and accumulator.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&[u8], &Acc)> + '_ {
        self.order.iter().map(|&i| {
            let g = &self.groups[i as usize];
            let key = &self.arena[g.start as usize..(g.start + g.len) as usize];
            (key, &g.acc)
        })
    }

    /// The bytes of all keys.
    pub(crate) fn key_bytes(&self) -> usize {
        self.arena.len()
    }
}

/// The group numbers in Splunk's order.
///
/// A radix sort over each group's key in an order-preserving byte form (see
/// [`digit`]), sixteen bytes at a time: sort by the next sixteen bytes, then
/// each run of equal ones by the sixteen after, skipping the bytes a run
/// shares. Each level reads a group's key once, so the sort touches the
/// arena a few times per group, not once per comparison; deep runs (long
/// shared values) finish with the comparison sort.
fn sort_groups(arena: &[u8], groups: &[Group]) -> Vec<u32> {
    // What a level needs of a group, in the item itself: one random read
    // (its key bytes) per group per level.
    let mut items: Vec<Item> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| Item {
            digit: 0,
            start: g.start,
            len: g.len,
            numeric: g.numeric,
            index: i as u32,
            resume: Resume::default(),
        })
        .collect();
    let key = |i: &Item| &arena[i.start as usize..(i.start + i.len) as usize];
    // (start, end, depth) of the runs still to sort.
    let mut runs = vec![(0usize, items.len(), 0usize)];
    while let Some((start, end, mut depth)) = runs.pop() {
        let run = &mut items[start..end];
        if run.len() < 2 {
            continue;
        }
        if depth <= MAX_DEPTH {
            depth = skip_shared(arena, run, depth);
        }
        if depth > MAX_DEPTH {
            run.sort_unstable_by(|a, b| {
                compare_groups(arena, &groups[a.index as usize], &groups[b.index as usize])
            });
            continue;
        }
        loop {
            for item in run.iter_mut() {
                item.digit = digit(key(item), item.numeric, depth, &mut item.resume);
            }
            // Skip sixteen bytes at a time while the whole run shares them.
            if run.iter().all(|i| i.digit == run[0].digit) && depth <= MAX_DEPTH {
                depth += 16;
                continue;
            }
            break;
        }
        run.sort_unstable_by_key(|i| i.digit);
        let mut i = 0;
        while i < run.len() {
            let mut j = i + 1;
            while j < run.len() && run[j].digit == run[i].digit {
                j += 1;
            }
            if j - i > 1 {
                runs.push((start + i, start + j, depth + 16));
            }
            i = j;
        }
    }
    items.into_iter().map(|i| i.index).collect()
}

/// How deep into the keys' forms the radix sort goes; runs still equal
/// there finish with the comparison sort.
const MAX_DEPTH: usize = 4096;

/// The depth a run's keys can skip to: the end of the last whole value all
/// of them share. Found by one bytewise common-prefix pass over their raw
/// keys (equal values are equal cells, as [`encode_part`] writes them),
/// so a long shared prefix (an install path, a host) costs one comparison
/// per key, not one [`digit`] per sixteen bytes. Every item's [`Resume`]
/// moves to that value; returns `depth` when nothing whole is shared past it.
fn skip_shared(arena: &[u8], run: &mut [Item], depth: usize) -> usize {
    let key = |i: &Item| &arena[i.start as usize..(i.start + i.len) as usize];
    let first = key(&run[0]);
    let mut shared = first.len();
    for item in &run[1..] {
        shared = common_prefix(first, key(item), shared);
        if shared <= run[0].resume.key_at as usize {
            return depth;
        }
    }
    // Walk the first key's whole values inside the shared bytes. The items
    // of a run share their form up to `depth`, hence the values before it,
    // hence their resume points.
    let mut resume = run[0].resume;
    let mut parts = Parts::new(&first[resume.key_at as usize..]);
    let numeric = run[0].numeric;
    let mut i = resume.part as usize;
    while let Some(v) = parts.next() {
        let used = first.len() - parts.rest.len();
        if used > shared {
            break;
        }
        let number = if i < 32 {
            numeric >> i & 1 == 1
        } else {
            parse_number(&v).is_some()
        };
        let nuls = memchr::memchr_iter(0, &v).count();
        let len = 1 + if number { 8 } else { 0 } + v.len() + nuls + 2;
        i += 1;
        resume = Resume {
            part: i as u32,
            key_at: used as u32,
            form_at: resume.form_at + len as u32,
        };
    }
    if resume.form_at as usize <= depth {
        return depth;
    }
    for item in run.iter_mut() {
        item.resume = resume;
    }
    resume.form_at as usize
}

/// The length of the common prefix of `a` and `b`, at most `limit`,
/// compared eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8], limit: usize) -> usize {
    let n = limit.min(a.len()).min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        let diff = word(x) ^ word(y);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// One group being sorted: its current digit and where its key is.
#[derive(Debug, Clone, Copy)]
struct Item {
    digit: u128,
    start: u32,
    len: u32,
    numeric: u32,
    index: u32,
    resume: Resume,
}

/// Where [`digit`] starts reading a key: the first value whose form ends
/// past the depth last asked for (depths only grow, so the values before it
/// are never read again), its byte offset in the key and its offset in
/// the form.
#[derive(Debug, Clone, Copy, Default)]
struct Resume {
    part: u32,
    key_at: u32,
    form_at: u32,
}

/// Sixteen bytes, from `depth` on, of a key's order-preserving form, as a
/// big-endian number (zeros past its end). The form: per value, a class
/// byte (0 for a number, 1 for text, as numbers sort first), for a number
/// its `f64` in eight total-order bytes, then the value's bytes with `0x00`
/// written as `00 01`, then `00 00`. Comparing forms bytewise is comparing
/// the tuples with [`compare_values`]: the terminator sorts below every
/// byte, so a shorter value sorts first, and equal numbers fall back to
/// their bytes.
fn digit(key: &[u8], numeric: u32, depth: usize, resume: &mut Resume) -> u128 {
    let mut d = Digit {
        out: 0,
        filled: 0,
        pos: resume.form_at as usize,
        depth,
    };
    let mut parts = Parts::new(&key[resume.key_at as usize..]);
    let mut i = resume.part as usize;
    while let Some(v) = parts.next() {
        let v = &*v;
        let number = if i < 32 {
            numeric >> i & 1 == 1
        } else {
            parse_number(v).is_some()
        };
        let nuls = if memchr::memchr(0, v).is_some() {
            memchr::memchr_iter(0, v).count()
        } else {
            0
        };
        let len = 1 + if number { 8 } else { 0 } + v.len() + nuls + 2;
        if d.pos + len <= depth {
            d.pos += len;
            i += 1;
            // Depths only grow: this value is never read again.
            let used = key.len() - parts.rest.len();
            *resume = Resume {
                part: i as u32,
                key_at: used as u32,
                form_at: d.pos as u32,
            };
            continue;
        }
        d.emit(u8::from(!number));
        if number {
            let bits = parse_number(v).unwrap_or(0.0).to_bits();
            let bits = if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            };
            for b in bits.to_be_bytes() {
                d.emit(b);
            }
        }
        // Skip straight to `depth` inside a NUL-free value.
        let mut rest = v;
        if nuls == 0 && d.pos < depth {
            let skip = (depth - d.pos).min(rest.len());
            d.pos += skip;
            rest = &rest[skip..];
        }
        for &b in rest {
            d.emit(b);
            if b == 0 {
                d.emit(1);
            }
            if d.filled == 16 {
                return d.out;
            }
        }
        d.emit(0);
        d.emit(0);
        if d.filled == 16 {
            return d.out;
        }
        i += 1;
    }
    d.out
}

/// The state of one [`digit`]: bytes are counted from the form's start and
/// kept from `depth` on.
struct Digit {
    out: u128,
    filled: usize,
    pos: usize,
    depth: usize,
}

impl Digit {
    #[inline]
    fn emit(&mut self, b: u8) {
        if self.pos >= self.depth && self.filled < 16 {
            self.out |= u128::from(b) << (120 - 8 * self.filled);
            self.filled += 1;
        }
        self.pos += 1;
    }
}

/// Two groups in Splunk's order, with each value's number-or-text class
/// taken from the group (decided once when it was added), so a comparison
/// parses a number only when two different numeric values meet.
fn compare_groups(arena: &[u8], a: &Group, b: &Group) -> Ordering {
    let key = |g: &Group| Parts::new(&arena[g.start as usize..(g.start + g.len) as usize]);
    let (mut x, mut y) = (key(a), key(b));
    let mut i = 0u32;
    loop {
        let (u, v) = match (x.next(), y.next()) {
            (Some(u), Some(v)) => (u, v),
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
        };
        let (u, v) = (&*u, &*v);
        let class = |g: &Group, v: &[u8]| {
            if i < 32 {
                g.numeric >> i & 1 == 1
            } else {
                parse_number(v).is_some()
            }
        };
        let o = match (class(a, u), class(b, v)) {
            (true, true) if u == v => Ordering::Equal,
            (true, true) => compare_numbers(u, v),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => u.cmp(v),
        };
        if o.is_ne() {
            return o;
        }
        i += 1;
    }
}

/// Two values that both parse as numbers, as [`compare_values`] orders
/// them: short runs of plain digits (exact in an `f64`) as integers, anything
/// else parsed.
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let digits = |v: &[u8]| v.len() <= 15 && v.iter().all(u8::is_ascii_digit);
    if digits(a) && digits(b) {
        let int = |v: &[u8]| v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        return int(a).cmp(&int(b)).then_with(|| a.cmp(b));
    }
    compare_values(a, b)
}

/// Appends one BY value to an encoded key: the value as a CSV cell, then
/// a comma. The key is thus the front of the group's output row, ready to
/// be copied out; CSV cells decode unambiguously, so it is also a faithful
/// key. A cell is quoted when the value holds a comma, quote or line break,
/// or starts or ends with whitespace (splunkd strips unquoted padding, SDK
/// issue #336); `"` is doubled inside quotes.
pub(crate) fn encode_part(key: &mut Vec<u8>, value: &[u8]) {
    csv_cell(key, value);
    key.push(b',');
}

/// Writes `value` as one CSV cell, quoted as [`encode_part`] describes.
pub(crate) fn csv_cell(out: &mut Vec<u8>, value: &[u8]) {
    if !needs_quotes(value) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    let mut rest = value;
    while let Some(q) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=q]);
        out.push(b'"');
        rest = &rest[q + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// The length [`csv_cell`] writes for `value`.
pub(crate) fn csv_cell_len(value: &[u8]) -> usize {
    if needs_quotes(value) {
        2 + value.len() + memchr::memchr_iter(b'"', value).count()
    } else {
        value.len()
    }
}

fn needs_quotes(value: &[u8]) -> bool {
    if value.first().is_some_and(u8::is_ascii_whitespace)
        || value.last().is_some_and(u8::is_ascii_whitespace)
    {
        return true;
    }
    // Eight bytes at a time: a word holds a special byte when one of its
    // bytes XOR that byte is zero (the exact has-zero-byte test).
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = value.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        let hit = zero(w ^ (ONES * u64::from(b',')))
            | zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\n')))
            | zero(w ^ (ONES * u64::from(b'\r')));
        if hit != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// The values of an encoded key, in order, decoded from their CSV cells
/// (borrowed unless a value holds a `"`).
#[derive(Debug, Clone)]
pub(crate) struct Parts<'a> {
    rest: &'a [u8],
}

impl<'a> Parts<'a> {
    /// The values of `key`, an encoded key (or any run of CSV cells, each
    /// followed by a comma).
    pub(crate) fn new(key: &'a [u8]) -> Parts<'a> {
        Parts { rest: key }
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = Cow<'a, [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        if rest[0] != b'"' {
            let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
            self.rest = rest.get(end + 1..).unwrap_or(&[]);
            return Some(Cow::Borrowed(&rest[..end]));
        }
        // A quoted cell: it ends at a quote followed by the comma.
        let mut owned: Option<Vec<u8>> = None;
        let mut from = 1;
        loop {
            let Some(q) = memchr::memchr(b'"', &rest[from..]).map(|q| from + q) else {
                // Not written by `encode_part`; take what is there.
                self.rest = &[];
                return Some(Cow::Borrowed(&rest[1..]));
            };
            if rest.get(q + 1) == Some(&b'"') {
                owned
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&rest[from..=q]);
                from = q + 2;
                continue;
            }
            self.rest = rest.get(q + 2..).unwrap_or(&[]);
            return Some(match owned {
                None => Cow::Borrowed(&rest[1..q]),
                Some(mut buf) => {
                    buf.extend_from_slice(&rest[from..q]);
                    Cow::Owned(buf)
                }
            });
        }
    }
}

/// Compares BY tuples field by field with [`compare_values`].
#[cfg(test)] // the oracle the radix sort is tested against
pub(crate) fn compare_tuples(a: &[Vec<u8>], b: &[Vec<u8>]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// Splunk's sort order: numeric-looking values compare numerically and come
/// before other values, which compare bytewise (so uppercase sorts before
/// lowercase). Equal numbers fall back to bytes, keeping the order total.
pub(crate) fn compare_values(a: &[u8], b: &[u8]) -> Ordering {
    match (parse_number(a), parse_number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Parses a decimal number (`12`, `-3.5`, `.5`, `1e9`); anything else, including
/// `inf`, `nan` and surrounding spaces, is not a number.
pub(crate) fn parse_number(v: &[u8]) -> Option<f64> {
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

    proptest! {
        #[test]
        fn needs_quotes_is_the_bytewise_rule(v in prop::collection::vec(prop::sample::select(vec![b'a', b' ', b',', b'"', b'\n', b'\r', b'\t', 0u8, 0x80, 0xac, 0x2d]), 0..40)) {
            let special = v.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            let padded = v.first().is_some_and(u8::is_ascii_whitespace) || v.last().is_some_and(u8::is_ascii_whitespace);
            prop_assert_eq!(needs_quotes(&v), special || padded);
        }

        #[test]
        fn common_prefix_is_the_bytewise_one(a in prop::collection::vec(0u8..3, 0..40), b in prop::collection::vec(0u8..3, 0..40), limit in 0usize..50) {
            let want = a.iter().zip(&b).take_while(|(x, y)| x == y).count().min(limit);
            prop_assert_eq!(common_prefix(&a, &b, limit), want);
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
        let long = "l".repeat(300);
        g.add(&key(&["x", "", "y,z", &long]), &Acc::default())
            .unwrap();
        let rows = drain(&mut g);
        assert_eq!(
            rows[0].0,
            vec![b"x".to_vec(), vec![], b"y,z".to_vec(), long.into_bytes()]
        );
    }

    fn drain(g: &mut Groups) -> Vec<(Vec<Vec<u8>>, Acc)> {
        g.take_sorted()
            .iter()
            .map(|(parts, acc)| (parts.map(|p| p.into_owned()).collect(), *acc))
            .collect()
    }

    #[test]
    fn groups_sort_as_compare_tuples_orders_them() {
        let values = [
            "10",
            "9",
            "-1",
            "1e1",
            "010",
            "b",
            "B",
            "",
            "1.5",
            "a b",
            "99999999999999999",
        ];
        let mut g = Groups::new(1000);
        let mut want = Vec::new();
        for x in values {
            for y in values {
                g.add(&key(&[x, y]), &Acc::default()).unwrap();
                want.push(vec![x.as_bytes().to_vec(), y.as_bytes().to_vec()]);
            }
        }
        want.sort_by(|a, b| compare_tuples(a, b));
        let got: Vec<Vec<Vec<u8>>> = drain(&mut g).into_iter().map(|r| r.0).collect();
        assert_eq!(got, want);
    }

    proptest! {
        #[test]
        fn the_radix_sort_orders_as_compare_tuples(
            rows in prop::collection::vec(
                prop::collection::vec(
                    prop::sample::select(vec!["", "0", "-0", "1", "01", "1.0", "10", "9", "-2.5", "1e3", "a", "A", "ab", "a\0", "a\0b", "aaaaaaaaaaaa", "aaaaaaaaaaab", "x y", "12345678901234567890"]),
                    3,
                ),
                0..60,
            ),
        ) {
            let mut g = Groups::new(1000);
            let mut want: Vec<Vec<Vec<u8>>> = Vec::new();
            for r in &rows {
                let parts: Vec<&str> = r.to_vec();
                g.add(&key(&parts), &Acc::default()).unwrap();
                let t: Vec<Vec<u8>> = parts.iter().map(|p| p.as_bytes().to_vec()).collect();
                if !want.contains(&t) {
                    want.push(t);
                }
            }
            want.sort_by(|a, b| compare_tuples(a, b));
            let got: Vec<Vec<Vec<u8>>> = drain(&mut g).into_iter().map(|r| r.0).collect();
            prop_assert_eq!(got, want);
        }

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
            for (k, acc) in drain(&mut fold(&b)) {
                let mut kk = Vec::new();
                encode_part(&mut kk, &k[0]);
                merged.add(&kk, &acc).unwrap();
            }
            let all: Vec<_> = a.iter().chain(&b).cloned().collect();
            prop_assert_eq!(drain(&mut merged), drain(&mut fold(&all)));
        }
    }
}
