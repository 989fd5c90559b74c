//! The group table: BY-tuple keys to mergeable count/min/max accumulators, and the output row order.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::Range;

use crate::bytes::{self, common_prefix};

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

/// The capacity the key arena takes at once when it outgrows its first MiB:
/// address space, not memory (a page is backed only once a key is written
/// to it). glibc serves a request this large by mapping it, and grows a
/// mapping by remapping it; an arena smaller than that lives in glibc's
/// heap, where each doubling copies it (63 MB copied on A-network).
const ARENA_RESERVE: usize = 32 << 20;

/// The most bytes of BY values the group table may hold: 1 GiB. `max_groups`
/// bounds the number of groups; this bounds their size, so a few huge values
/// times a multivalue field cannot exhaust memory.
pub(crate) const MAX_GROUP_KEY_BYTES: usize = 1 << 30;

/// What the table keeps per group besides its key bytes, at its peak, in
/// bytes: the [`Group`] record twice while [`Groups::take_sorted`] gathers
/// it into output order, and its place in that order (the hash slots, two
/// to four 8-byte slots a group, are freed before). A key takes its values'
/// bytes plus 3 each, 8 more for a number ([`encode_value`]). README
/// "Performance" (Memory) and "Limits" quote both.
#[allow(
    dead_code,
    reason = "only a test reads it, pinning the figure README and Config::max_groups quote"
)]
pub(crate) const GROUP_OVERHEAD_BYTES: usize = 2 * std::mem::size_of::<Group>() + 4;

/// One group: where its key lies in the arena, its hash, the length of
/// its BY values as CSV cells (so a reply's length is known without a
/// pass), which of them are not written as they are (see [`Cells`]), and
/// its accumulator.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: u32,
    len: u32,
    hash: u64,
    csv_len: u32,
    cells: Cells,
    acc: Acc,
}

/// How a key's values become CSV cells: bit `i` is set when value `i` (of
/// the first 32) is not copied out as it is, being quoted or holding a NUL
/// (bits past 32 are taken as set). Collected from [`encode_value`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cells(u32);

impl Cells {
    /// All values written as they are.
    pub(crate) const PLAIN: Cells = Cells(0);

    /// Records value `i`'s [`Encoded::plain`].
    pub(crate) fn set(&mut self, i: usize, plain: bool) {
        // Without a branch: it runs for every value of every kept row.
        self.0 |= u32::from(!plain && i < 32) << (i % 32);
    }

    fn plain(self, i: usize) -> bool {
        i < 32 && self.0 >> i & 1 == 0
    }
}

/// What [`encode_value`] tells of one value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoded {
    /// The length of its CSV cell plus a comma.
    pub(crate) csv_len: usize,
    /// Its cell is its bytes: no quoting, no NUL.
    pub(crate) plain: bool,
}

/// An unused slot of [`Groups`]: no group number is all ones (the limit is
/// below `u32::MAX`). Not 0, so a new table is written, not taken as
/// zeroed pages: probing zero pages and then writing them copies each page
/// on its first write, with a TLB flush across every thread of the process.
const EMPTY_SLOT: u64 = u64::MAX;

/// Groups keyed by their encoded BY tuple (see [`encode_value`]).
///
/// Every key lives in one byte arena, back to back; a group is a small
/// fixed record pointing into it, and an open-addressing table of slots
/// finds a key by its hash. Nothing is allocated per group, so building
/// and dropping a table of a million groups costs a few large
/// allocations, not millions of small ones.
///
/// A slot holds a group number and 32 bits of its key's hash (the other
/// 32 place it), so a probe reads a group record and its key only when
/// those bits match: the table's random reads stay in the slot array.
#[derive(Debug, Clone)]
pub(crate) struct Groups {
    arena: Vec<u8>,
    groups: Vec<Group>,
    /// Per slot, the low 32 bits of the hash over group number + 1;
    /// [`EMPTY_SLOT`] when empty. A power of two long.
    slots: Vec<u64>,
    limit: usize,
    hasher: foldhash::fast::RandomState,
    /// The last keys added, oldest first, not yet looked up (see
    /// [`Groups::add_with`]); at most [`WAITING`] between calls.
    waiting: VecDeque<Waiting>,
}

/// How many keys wait for their lookup between calls of
/// [`Groups::add_with`]: the lines a lookup reads (the slot, then the
/// group record it names, then that group's key) are asked for one call
/// apart, so each has arrived when the next is needed.
const WAITING: usize = 3;

/// A key waiting for its lookup, and how far its lines have been asked for.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    key: Pending,
    stage: Stage,
}

/// The next line a waiting key's lookup will read, already asked for.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Its slot.
    Slot,
    /// The record of the first group whose slot matches its hash.
    Group(usize),
    /// That group's key, or nothing more (no slot matched).
    Ready,
}

/// A key encoded at the end of the arena and hashed, waiting for its lookup.
#[derive(Debug, Clone, Copy)]
struct Pending {
    start: usize,
    len: usize,
    hash: u64,
    csv_len: usize,
    cells: Cells,
    acc: Acc,
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
            waiting: VecDeque::with_capacity(WAITING + 1),
        }
    }

    fn key(&self, g: &Group) -> &[u8] {
        &self.arena[g.start as usize..(g.start + g.len) as usize]
    }

    /// Merges `acc` into the group of `key`, a tuple encoded by
    /// [`encode_value`] whose values take `csv_len` bytes as CSV cells and
    /// are written out as `cells` says (what [`encode_value`] returned for
    /// them, summed and collected).
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the key is new and the table is full; nothing is
    /// dropped silently.
    #[cfg(test)] // the engine encodes straight into the arena, with add_with
    pub(crate) fn add(
        &mut self,
        key: &[u8],
        csv_len: usize,
        cells: Cells,
        acc: &Acc,
    ) -> Result<(), GroupLimit> {
        self.add_with(
            |arena| {
                arena.extend_from_slice(key);
                (csv_len, cells)
            },
            acc,
        )
    }

    /// Merges `acc` into the group of the key `encode` appends to the
    /// vector it is given (with [`encode_value`]; it returns the key's CSV
    /// length and [`Cells`]). The key is encoded where a new group's key
    /// is kept, at the arena's end, so a new group costs no copy, and an
    /// existing one is found by one probe of the slots and the bytes are
    /// given back.
    ///
    /// The lookup runs [`WAITING`] keys late, its cache misses overlapped
    /// with the rows between: this key is hashed and its slot prefetched;
    /// the key before it, whose slot has arrived, has the record of the
    /// group its slot names prefetched; the one before that, that group's
    /// key bytes; and the oldest is looked up, every line it reads already
    /// asked for. The others wait for the next call or for
    /// [`Groups::take_sorted`]. Keys wait only while the table has room for
    /// all of them as new groups, so a waiting key's lookup cannot fail;
    /// otherwise every key is looked up at once, in order, and the limit
    /// refuses the first key past it.
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the key is new and the table is full; nothing is
    /// dropped silently.
    pub(crate) fn add_with(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> (usize, Cells),
        acc: &Acc,
    ) -> Result<(), GroupLimit> {
        use std::hash::BuildHasher;
        let (len, capacity) = (self.arena.len(), self.arena.capacity());
        if capacity - len < 64 << 10 && (1 << 20..ARENA_RESERVE).contains(&capacity) {
            // Where that much address space cannot be had (a tight `ulimit
            // -v`), the arena grows as vectors do.
            let _ = self.arena.try_reserve_exact(ARENA_RESERVE - len);
        }
        let start = self.arena.len();
        let (csv_len, cells) = encode(&mut self.arena);
        let key = Pending {
            start,
            len: self.arena.len() - start,
            hash: self.hasher.hash_one(&self.arena[start..]),
            csv_len,
            cells,
            acc: *acc,
        };
        if !self.slots.is_empty() {
            let mask = self.slots.len() - 1;
            bytes::prefetch(&self.slots[(key.hash >> 32) as usize & mask]);
        }
        self.advance();
        self.waiting.push_back(Waiting {
            key,
            stage: Stage::Slot,
        });
        if self.waiting.len() > WAITING {
            self.settle_oldest()?;
        }
        let room = self.groups.len() + self.waiting.len() <= self.limit
            && key.start + key.len <= MAX_GROUP_KEY_BYTES;
        if !room {
            self.settle_waiting()?;
        }
        Ok(())
    }

    /// Asks for the next line of every waiting key's lookup (see
    /// [`Groups::add_with`]).
    fn advance(&mut self) {
        let Groups {
            arena,
            groups,
            slots,
            waiting,
            ..
        } = self;
        for w in waiting.iter_mut() {
            w.stage = match w.stage {
                Stage::Slot => match candidate(slots, w.key.hash) {
                    Some(n) => {
                        bytes::prefetch(&groups[n]);
                        Stage::Group(n)
                    }
                    None => Stage::Ready,
                },
                Stage::Group(n) => {
                    // A key's first two lines; the hardware follows the rest.
                    let start = groups[n].start as usize;
                    for at in [start, start + 64] {
                        if let Some(b) = arena.get(at) {
                            bytes::prefetch(b);
                        }
                    }
                    Stage::Ready
                }
                Stage::Ready => Stage::Ready,
            };
        }
    }

    /// Looks the oldest waiting key up (see [`Groups::settle`]); the keys
    /// after it move down if its bytes are given back.
    fn settle_oldest(&mut self) -> Result<(), GroupLimit> {
        let Some(oldest) = self.waiting.pop_front() else {
            return Ok(());
        };
        match self.settle(oldest.key) {
            Ok(false) => Ok(()),
            // Its bytes were given back.
            Ok(true) => {
                for w in &mut self.waiting {
                    w.key.start -= oldest.key.len;
                }
                Ok(())
            }
            Err(limit) => {
                // The limit stops the search: the keys after it are not looked up.
                self.arena.truncate(oldest.key.start);
                self.waiting.clear();
                Err(limit)
            }
        }
    }

    /// Looks every waiting key up, oldest first.
    fn settle_waiting(&mut self) -> Result<(), GroupLimit> {
        while !self.waiting.is_empty() {
            self.settle_oldest()?;
        }
        Ok(())
    }

    /// Looks `key` (the last bytes of the arena but for any key encoded
    /// after it) up: merges it into its group and gives its bytes back
    /// (true), or makes it a new group (false).
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the key is new and the table is full; its bytes
    /// are given back.
    fn settle(&mut self, key: Pending) -> Result<bool, GroupLimit> {
        let bytes = key.start..key.start + key.len;
        let tag = key.hash << 32;
        let same = |n: usize| bytes::equal(self.key(&self.groups[n]), &self.arena[bytes.clone()]);
        let mut empty = None;
        let found = probe(&self.slots, key.hash).find(|&(_, group)| group.is_none_or(same));
        match found {
            Some((_, Some(n))) => {
                self.groups[n].acc.merge(&key.acc);
                self.give_back(bytes);
                return Ok(true);
            }
            Some((at, None)) => empty = Some(at),
            // No table yet.
            None => {}
        }
        if self.groups.len() >= self.limit {
            self.give_back(bytes);
            return Err(GroupLimit::Count(self.limit));
        }
        if bytes.end > MAX_GROUP_KEY_BYTES {
            self.give_back(bytes);
            return Err(GroupLimit::Bytes(MAX_GROUP_KEY_BYTES));
        }
        self.groups.push(Group {
            start: key.start as u32,
            len: key.len as u32,
            hash: key.hash,
            csv_len: key.csv_len.min(u32::MAX as usize) as u32,
            cells: key.cells,
            acc: key.acc,
        });
        let n = self.groups.len() as u32;
        match empty {
            Some(at) if self.groups.len() * 2 <= self.slots.len() => {
                self.slots[at] = tag | u64::from(n);
            }
            // No table yet, or past half full: the new table places this
            // group with the others.
            _ => self.grow(),
        }
        Ok(false)
    }

    /// The groups held and their key bytes, at most (a key waiting for its
    /// lookup counts as a group).
    pub(crate) fn load(&self) -> (usize, usize) {
        (self.groups.len() + self.waiting.len(), self.arena.len())
    }

    /// Merges every group of `other` into this table, leaving `other` empty.
    ///
    /// # Errors
    ///
    /// [`GroupLimit`] when the groups of both, counted once each, are over
    /// a limit.
    pub(crate) fn absorb(&mut self, other: &mut Groups) -> Result<(), GroupLimit> {
        // Waiting with room for them, as in `take_sorted`.
        let settled = other.settle_waiting();
        debug_assert!(settled.is_ok(), "a waiting key was refused");
        if self.groups.is_empty() && self.waiting.is_empty() && self.limit == other.limit {
            std::mem::swap(self, other);
            return Ok(());
        }
        let arena = std::mem::take(&mut other.arena);
        let groups = std::mem::take(&mut other.groups);
        other.slots = Vec::new();
        for g in &groups {
            let key = &arena[g.start as usize..(g.start + g.len) as usize];
            let encode = |to: &mut Vec<u8>| {
                bytes::extend(to, key);
                (g.csv_len as usize, g.cells)
            };
            self.add_with(encode, &g.acc)?;
        }
        Ok(())
    }

    /// Removes `bytes` from the arena, moving any key encoded after them down.
    fn give_back(&mut self, bytes: std::ops::Range<usize>) {
        let len = bytes.len();
        self.arena.copy_within(bytes.end.., bytes.start);
        self.arena.truncate(self.arena.len() - len);
    }

    fn place(&mut self, hash: u64, n: u32) {
        let mask = self.slots.len() - 1;
        let mut at = (hash >> 32) as usize & mask;
        while self.slots[at] != EMPTY_SLOT {
            at = (at + 1) & mask;
        }
        self.slots[at] = hash << 32 | u64::from(n);
    }

    /// Doubles the slot table (at least 1024 slots) and re-places every
    /// group from its stored hash (the newest one included).
    fn grow(&mut self) {
        let len = (self.slots.len() * 2).max(1024);
        self.slots = vec![EMPTY_SLOT; len];
        for i in 0..self.groups.len() {
            self.place(self.groups[i].hash, i as u32 + 1);
        }
    }

    /// Takes every group out, sorted by the BY tuple; the table is left empty.
    ///
    /// The group records are moved into that order (a gather whose reads
    /// are independent, so their cache misses overlap), so everything after
    /// reads them front to back; only the keys stay where they were added.
    pub(crate) fn take_sorted(&mut self) -> Sorted {
        // Keys wait only with room for them as new groups, so these
        // lookups cannot be refused.
        let settled = self.settle_waiting();
        debug_assert!(settled.is_ok(), "a waiting key was refused");
        let arena = std::mem::take(&mut self.arena);
        let groups = std::mem::take(&mut self.groups);
        self.slots = Vec::new();
        let order = sort_groups(&arena, &groups);
        let groups = order.iter().map(|&i| groups[i as usize]).collect();
        Sorted {
            arenas: vec![arena],
            stretches: vec![Merged {
                groups,
                from: Vec::new(),
            }],
        }
    }
}

/// The slots a lookup of `hash` reads, in order: each whose 32 bits of
/// hash match, as its place and group number, then the first empty one, as
/// its place and `None` (nothing for a table with no slots yet).
fn probe(slots: &[u64], hash: u64) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
    let mask = slots.len().wrapping_sub(1);
    let tag = hash << 32;
    let mut at = (!slots.is_empty()).then_some((hash >> 32) as usize & mask);
    std::iter::from_fn(move || loop {
        let here = at?;
        let slot = slots[here];
        if slot == EMPTY_SLOT {
            at = None;
            return Some((here, None));
        }
        at = Some((here + 1) & mask);
        if slot & !0xffff_ffff == tag {
            return Some((here, Some((slot & 0xffff_ffff) as usize - 1)));
        }
    })
}

/// The group the first slot matching `hash` names ([`probe`]); `None`
/// when an empty slot comes first.
fn candidate(slots: &[u64], hash: u64) -> Option<usize> {
    probe(slots, hash).next().and_then(|(_, group)| group)
}

/// How many groups ahead [`Sorted::keys_cells`] prefetches keys.
const AHEAD: usize = 16;

/// The most sorted runs [`Sorted::merge_cut`] takes: one per thread, and
/// [`crate::options`] allows 16.
pub(crate) const MAX_RUNS: usize = 64;

/// One key range of a merge of sorted runs ([`Sorted::cuts`]): per run,
/// the range of its groups that falls in it.
pub(crate) type Cut = Vec<Range<usize>>;

/// Groups in output order, as records that say where each one's key lies:
/// one sorted table's groups, or one [`Cut`] of several merged
/// ([`Sorted::merge_cut`]). Its keys are in the arenas of the [`Sorted`]
/// that holds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Merged {
    groups: Vec<Group>,
    /// Per group, which arena holds its key; empty when all are in the first.
    from: Vec<u8>,
}

impl Merged {
    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The groups' accumulators, in order.
    pub(crate) fn accs(&self) -> impl Iterator<Item = &Acc> + '_ {
        self.groups.iter().map(|g| &g.acc)
    }

    /// The arena that holds group `n`'s key.
    fn arena_of(&self, n: usize) -> usize {
        self.from.get(n).map_or(0, |&a| usize::from(a))
    }

    /// The key of group `n`, in `arenas`.
    fn key<'a>(&self, arenas: &'a [Vec<u8>], n: usize) -> &'a [u8] {
        let g = &self.groups[n];
        &arenas[self.arena_of(n)][g.start as usize..(g.start + g.len) as usize]
    }

    /// Prefetches every cache line of group `n`'s key, if there is one.
    fn prefetch(&self, arenas: &[Vec<u8>], n: usize) {
        if n < self.groups.len() {
            let key = self.key(arenas, n);
            key.iter()
                .step_by(64)
                .chain(key.last())
                .for_each(bytes::prefetch);
        }
    }

    /// The first of the groups from `from` on whose key is not less than `key`.
    fn lower_bound(&self, arenas: &[Vec<u8>], from: usize, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (from, self.groups.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if bytes::compare(self.key(arenas, mid), key).is_lt() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// [`Sorted::keys_cells`] of the groups `range` of this stretch.
    fn keys_cells_in<'a>(
        &'a self,
        arenas: &'a [Vec<u8>],
        range: Range<usize>,
    ) -> impl Iterator<Item = (&'a [u8], Cells, &'a Acc)> + 'a {
        let first = range.start;
        for n in first..(first + AHEAD).min(range.end) {
            self.prefetch(arenas, n);
        }
        self.groups[range].iter().enumerate().map(move |(i, g)| {
            let n = first + i;
            self.prefetch(arenas, n + AHEAD);
            (self.key(arenas, n), g.cells, &g.acc)
        })
    }
}

/// The stretches of `lens` (one after another) that `range` of the whole
/// covers: each stretch's number and its part of the range, from its start.
pub(crate) fn stretches(
    lens: impl Iterator<Item = usize>,
    range: Range<usize>,
) -> impl Iterator<Item = (usize, Range<usize>)> {
    lens.scan(0, |start, len| {
        let lo = std::mem::replace(start, *start + len);
        Some(lo..lo + len)
    })
    .enumerate()
    .filter_map(move |(i, whole)| {
        let (from, to) = (range.start.max(whole.start), range.end.min(whole.end));
        (from < to).then(|| (i, from - whole.start..to - whole.start))
    })
}

/// Groups in output order, taken out of one [`Groups`] table (a run, of one
/// stretch) or merged from several ([`Sorted::merge_cut`]): the tables' key
/// arenas, and the groups as stretches of records, one after another.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sorted {
    /// The key arenas of the tables the groups came from.
    arenas: Vec<Vec<u8>>,
    /// The group records, in output order, in stretches.
    stretches: Vec<Merged>,
}

impl Sorted {
    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.stretches.iter().map(Merged::len).sum()
    }

    /// True when there are no groups.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stretches, in order.
    pub(crate) fn stretches(&self) -> &[Merged] {
        &self.stretches
    }

    /// The groups of a run, as one table's [`Groups::take_sorted`] gives
    /// them: its only stretch.
    fn run(&self) -> &Merged {
        debug_assert!(self.stretches.len() == 1, "a run is one stretch");
        &self.stretches[0]
    }

    /// The merge of non-empty `runs` (each as its table's
    /// [`Groups::take_sorted`] gives it, at most [`MAX_RUNS`]) cut into `parts` key ranges, in
    /// order, of about as many groups each: a range is bounded by keys of
    /// the longest run and holds the same keys in every run, so equal keys
    /// always share a cut. Each cut can be merged on its own
    /// ([`Sorted::merge_cut`]).
    pub(crate) fn cuts(runs: &[Sorted], parts: usize) -> Vec<Cut> {
        let longest = runs.iter().max_by_key(|r| r.len());
        let mut starts = vec![0; runs.len()];
        let mut cuts = Vec::with_capacity(parts);
        for i in 1..=parts.max(1) {
            let pivot = longest
                .filter(|_| i < parts)
                .map(|l| l.run().key(&l.arenas, l.len() * i / parts));
            let ends: Vec<usize> = match pivot {
                Some(key) => (runs.iter().zip(&starts))
                    .map(|(r, &s)| r.run().lower_bound(&r.arenas, s, key))
                    .collect(),
                None => runs.iter().map(Sorted::len).collect(),
            };
            cuts.push(starts.iter().zip(&ends).map(|(&s, &e)| s..e).collect());
            starts = ends;
        }
        cuts
    }

    /// The groups of one cut of `runs`, merged, reading every run in order
    /// (their keys prefetched [`AHEAD`] groups on, as [`Sorted::keys_cells`]
    /// does). Of equal keys the earliest run's group stays, the others'
    /// accumulators merged into it in run order. Its arenas are numbered
    /// as [`Sorted::join`] keeps them.
    pub(crate) fn merge_cut(runs: &[Sorted], cut: &[Range<usize>]) -> Merged {
        debug_assert!(runs.len() <= MAX_RUNS, "at most {MAX_RUNS} runs");
        // Run r's arenas are numbered after those of the runs before it.
        let bases: Vec<usize> = (runs.iter())
            .scan(0, |n, r| Some(std::mem::replace(n, *n + r.arenas.len())))
            .collect();
        debug_assert!(runs.iter().map(|r| r.arenas.len()).sum::<usize>() <= 256);
        let key = |r: usize, n: usize| runs[r].run().key(&runs[r].arenas, n);
        let prefetch = |r: usize, n: usize| {
            if n < cut[r].end {
                runs[r].run().prefetch(&runs[r].arenas, n);
            }
        };
        let mut at: Vec<usize> = cut.iter().map(|r| r.start).collect();
        let total = cut.iter().map(ExactSizeIterator::len).sum();
        let (mut groups, mut from) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for (r, range) in cut.iter().enumerate() {
            (range.start..range.start + AHEAD).for_each(|n| prefetch(r, n));
        }
        loop {
            // The run whose next key is least, and the later runs whose
            // next key equals it.
            let (mut least, mut ties) = (None::<usize>, 0u64);
            for r in (0..runs.len()).filter(|&r| at[r] < cut[r].end) {
                let Some(b) = least else {
                    least = Some(r);
                    continue;
                };
                match bytes::compare(key(r, at[r]), key(b, at[b])) {
                    Ordering::Less => (least, ties) = (Some(r), 0),
                    Ordering::Equal => ties |= 1 << r,
                    Ordering::Greater => {}
                }
            }
            let Some(b) = least else {
                break;
            };
            let run = runs[b].run();
            let mut g = run.groups[at[b]];
            from.push((run.arena_of(at[b]) + bases[b]) as u8);
            for r in std::iter::once(b).chain((b + 1..runs.len()).filter(|r| ties >> r & 1 == 1)) {
                if r != b {
                    g.acc.merge(&runs[r].run().groups[at[r]].acc);
                }
                at[r] += 1;
                prefetch(r, at[r] + AHEAD);
            }
            groups.push(g);
        }
        Merged { groups, from }
    }

    /// The runs' groups merged cut by cut ([`Sorted::merge_cut`] of each
    /// of [`Sorted::cuts`], in order): the cuts are its stretches, and it
    /// keeps the runs' arenas. Nothing is copied.
    pub(crate) fn join(runs: Vec<Sorted>, merged: Vec<Merged>) -> Sorted {
        Sorted {
            arenas: runs.into_iter().flat_map(|r| r.arenas).collect(),
            stretches: merged,
        }
    }

    /// The groups in order: each one's BY values and accumulator.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (KeyValues<'_>, &Acc)> + '_ {
        self.keys_cells()
            .map(|(key, _, acc)| (KeyValues { rest: key }, acc))
    }

    /// The groups in order: each one's encoded key, how its values are
    /// written out (for [`write_key_csv`]) and its accumulator.
    ///
    /// Sorted order visits the arena at random, one cache miss or more per
    /// key. So the iterator reads ahead: while it yields one group, it
    /// prefetches every cache line of the key [`AHEAD`] groups on, and the
    /// lines arrive while the groups in between are written.
    pub(crate) fn keys_cells(&self) -> impl Iterator<Item = (&[u8], Cells, &Acc)> + '_ {
        self.keys_cells_in(0..self.len())
    }

    /// [`Sorted::keys_cells`] of the groups `range` only.
    pub(crate) fn keys_cells_in(
        &self,
        range: Range<usize>,
    ) -> impl Iterator<Item = (&[u8], Cells, &Acc)> + '_ {
        stretches(self.stretches.iter().map(Merged::len), range)
            .flat_map(move |(i, r)| self.stretches[i].keys_cells_in(&self.arenas, r))
    }

    /// The bytes of all groups' BY values as CSV cells, each followed by a
    /// comma (what [`write_key_csv`] writes for every key).
    pub(crate) fn csv_bytes(&self) -> usize {
        let groups = self.stretches.iter().flat_map(|s| &s.groups);
        groups.map(|g| g.csv_len as usize).sum()
    }
}

/// The group numbers in Splunk's order: the keys' encoded bytes in
/// bytewise order (see [`encode_value`]).
///
/// A most-significant-digit radix sort, sixteen bytes at a time: each run
/// of keys that agree so far first skips the bytes all of them share (one
/// comparison per key against the run's first), then is sorted by the next
/// sixteen bytes, and each run of equal ones goes on from there. A level
/// reads each key once at one place; small runs finish with a comparison
/// sort of the remaining bytes.
fn sort_groups(arena: &[u8], groups: &[Group]) -> Vec<u32> {
    let mut items: Vec<Item> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| Item {
            digit: 0,
            start: g.start,
            len: g.len,
            index: i as u32,
        })
        .collect();
    let key = |i: &Item| &arena[i.start as usize..(i.start + i.len) as usize];
    // (start, end, depth) of the runs still to sort; their keys agree up to depth.
    let mut runs = vec![(0usize, items.len(), 0usize)];
    while let Some((start, end, depth)) = runs.pop() {
        let run = &mut items[start..end];
        if run.len() < 2 {
            continue;
        }
        // Every key of the run is read at `depth` next: asking for all those
        // lines first keeps many misses in flight at once, and the passes
        // below find the bytes in cache.
        for i in run.iter() {
            if let Some(b) = key(i).get(depth) {
                bytes::prefetch(b);
            }
        }
        if run.len() <= SMALL_RUN {
            run.sort_unstable_by(|a, b| bytes::compare(tail(key(a), depth), tail(key(b), depth)));
            continue;
        }
        let first = tail(key(&run[0]), depth);
        let shared = run[1..].iter().fold(first.len(), |n, i| {
            common_prefix(first, tail(key(i), depth), n)
        });
        let depth = depth + shared;
        if run.iter().all(|i| i.len as usize <= depth) {
            // Equal keys (a table never holds two, but the sort needs no such promise).
            continue;
        }
        for item in run.iter_mut() {
            item.digit = digit(tail(key(item), depth));
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

/// Runs this short are sorted by comparing their keys' remaining bytes.
const SMALL_RUN: usize = 24;

/// `key` from `depth` on (empty past its end).
fn tail(key: &[u8], depth: usize) -> &[u8] {
    key.get(depth..).unwrap_or(&[])
}

/// The first sixteen bytes of `bytes` as a big-endian number, zeros past
/// its end. Keys are never a prefix of one another (every value ends in a
/// terminator), so the padding never makes two different keys equal.
fn digit(bytes: &[u8]) -> u128 {
    if let Some(b) = bytes.first_chunk::<16>() {
        return u128::from_be_bytes(*b);
    }
    let mut b = [0u8; 16];
    for (d, &s) in b.iter_mut().zip(bytes) {
        *d = s;
    }
    u128::from_be_bytes(b)
}

/// One group being sorted: its current digit and where its key is.
#[derive(Debug, Clone, Copy)]
struct Item {
    digit: u128,
    start: u32,
    len: u32,
    index: u32,
}

/// Class byte of a value that is a number; numbers sort before text.
const NUMBER: u8 = 1;
/// Class byte of a value that is text.
const TEXT: u8 = 2;

/// Appends one BY value to an encoded key and says how [`write_key_csv`]
/// will write it.
///
/// The encoding is the value's order-preserving form, so comparing two keys
/// bytewise compares their tuples as [`compare_values`] does, field by
/// field: a class byte ([`NUMBER`] or [`TEXT`]); for a number, its `f64`
/// in eight big-endian total-order bytes; then the value's bytes with
/// `0x00` written `00 01`; then the terminator `00 00`, which sorts below
/// every byte, so a shorter value sorts first and equal numbers fall back
/// to their bytes. It is also unambiguous, so equal keys are equal tuples.
#[inline(always)]
pub(crate) fn encode_value(key: &mut Vec<u8>, value: &[u8]) -> Encoded {
    match parse_number(value) {
        Some(n) => {
            let bits = n.to_bits();
            let bits = if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            };
            key.push(NUMBER);
            key.extend_from_slice(&bits.to_be_bytes());
        }
        None => key.push(TEXT),
    }
    // Every byte that makes a cell more than a copy (NUL, quote, comma, line
    // breaks, the whitespace of padding) is below `-`.
    if !bytes::has_byte_below(value, b'-') {
        // No byte below `-`: no NUL, nothing to quote, no padding.
        bytes::extend(key, value);
        key.extend_from_slice(&[0, 0]);
        return Encoded {
            csv_len: value.len() + 1,
            plain: true,
        };
    }
    // NUL is the one byte below 1.
    let nul = bytes::has_byte_below(value, 1);
    if nul {
        for &b in value {
            key.push(b);
            if b == 0 {
                key.push(1);
            }
        }
    } else {
        bytes::extend(key, value);
    }
    key.extend_from_slice(&[0, 0]);
    let cell = csv_cell_len(value);
    Encoded {
        csv_len: cell + 1,
        plain: !nul && cell == value.len(),
    }
}

/// The most bytes [`encode_value`] appends for a value of `len` bytes: the
/// class byte, a number's eight, every byte escaped, the terminator.
pub(crate) const fn max_encoded_len(len: usize) -> usize {
    1 + 8 + 2 * len + 2
}

/// Appends a tuple to an encoded key, value by value with
/// [`encode_value`], and returns what [`Groups::add_with`] asks of an
/// encoder: the values' CSV length and which are written as they are.
pub(crate) fn encode_key<'v>(
    key: &mut Vec<u8>,
    values: impl IntoIterator<Item = &'v [u8]>,
) -> (usize, Cells) {
    let (mut csv, mut cells) = (0, Cells::PLAIN);
    for (n, v) in values.into_iter().enumerate() {
        let e = encode_value(key, v);
        csv += e.csv_len;
        cells.set(n, e.plain);
    }
    (csv, cells)
}

/// The values of an encoded key, in order (borrowed unless a value holds
/// a NUL byte).
#[derive(Debug, Clone)]
pub(crate) struct KeyValues<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for KeyValues<'a> {
    type Item = Cow<'a, [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        let (&class, rest) = self.rest.split_first()?;
        let rest = if class == NUMBER {
            rest.get(8..).unwrap_or(&[])
        } else {
            rest
        };
        // A NUL is escaped as `00 01`; `00 00` ends the value.
        let (value, end) = unescape(rest, 0, 1);
        self.rest = rest.get(end + 2..).unwrap_or(&[]);
        Some(value)
    }
}

/// Writes an encoded key's values as CSV cells, each followed by a comma:
/// the front of the group's output row (appended to `out`).
#[cfg(test)] // the writer renders rows in place, with write_key_csv_at
pub(crate) fn write_key_csv(out: &mut Vec<u8>, key: &[u8], cells: Cells) {
    let at = out.len();
    out.resize(at + key_csv_room(key, cells), 0);
    let end = write_key_csv_at(out, at, key, cells);
    out.truncate(end);
}

/// The room [`write_key_csv_at`] needs after its start to write `key`: its
/// cells, and eight bytes of scratch past them. A plain value's
/// cell and comma are shorter than its encoding (a class byte, the
/// terminator), and a quoted value's at most twice as long. (Keys of the
/// engine have at most 32 values, all of which [`Cells`] describes.)
pub(crate) fn key_csv_room(key: &[u8], cells: Cells) -> usize {
    if cells == Cells::PLAIN {
        key.len() + 8
    } else {
        2 * key.len() + 8
    }
}

/// Writes an encoded key's values as CSV cells, each followed by a comma,
/// into `out` from `at`, which has [`key_csv_room`] bytes there; returns
/// where they end (the bytes after that are scratch). A value `cells` says
/// is plain is copied sixteen bytes at a time, each block stored whole and
/// the output advanced to the terminator's `00` once a block holds it (a
/// short copy and one zero-byte compare a block, no search set up per
/// value; a block is stored only where the key has sixteen bytes left,
/// which a cell's shorter text keeps inside the room); any other is
/// decoded and quoted.
pub(crate) fn write_key_csv_at(out: &mut [u8], mut at: usize, key: &[u8], cells: Cells) -> usize {
    let mut k = 0;
    let mut i = 0;
    while let Some(&class) = key.get(k) {
        let value = k + if class == NUMBER { 9 } else { 1 };
        if !cells.plain(i) {
            let mut values = KeyValues { rest: &key[k..] };
            if let Some(v) = values.next() {
                at = write_quoted_at(out, at, &v);
            }
            k = key.len() - values.rest.len();
        } else {
            k = value;
            while let Some(block) = key.get(k..).and_then(<[u8]>::first_chunk::<16>) {
                out[at..at + 16].copy_from_slice(block);
                if let Some(n) = bytes::first_zero_in_16(block) {
                    // The terminator.
                    (at, k) = (at + n, k + n);
                    break;
                }
                (at, k) = (at + 16, k + 16);
            }
            if key.get(k) != Some(&0) {
                // Fewer than sixteen bytes were left in the key.
                let n = bytes::first_nul(&key[k..]);
                bytes::copy(&mut out[at..at + n], &key[k..k + n]);
                (at, k) = (at + n, k + n);
            }
            k += 2;
        }
        out[at] = b',';
        at += 1;
        i += 1;
    }
    at
}

/// Writes `value` as [`csv_cell`] does into `out` from `at`, which has
/// room for twice its length and two quotes; returns where it ends.
fn write_quoted_at(out: &mut [u8], mut at: usize, value: &[u8]) -> usize {
    if !needs_quotes(value) {
        bytes::copy(&mut out[at..at + value.len()], value);
        return at + value.len();
    }
    out[at] = b'"';
    at += 1;
    let mut rest = value;
    while let Some(q) = memchr::memchr(b'"', rest) {
        bytes::copy(&mut out[at..=at + q], &rest[..=q]);
        out[at + q + 1] = b'"';
        at += q + 2;
        rest = &rest[q + 1..];
    }
    bytes::copy(&mut out[at..at + rest.len()], rest);
    out[at + rest.len()] = b'"';
    at + rest.len() + 1
}

/// Writes `value` as one CSV cell: quoted when it holds a comma, quote or
/// line break, or starts or ends with whitespace (splunkd strips unquoted
/// padding, SDK issue #336); `"` is doubled inside quotes.
pub(crate) fn csv_cell(out: &mut Vec<u8>, value: &[u8]) {
    if !needs_quotes(value) {
        bytes::extend(out, value);
        return;
    }
    let at = out.len();
    out.resize(at + 2 * value.len() + 2, 0);
    let end = write_quoted_at(out, at, value);
    out.truncate(end);
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

/// The values of a run of CSV cells, each followed by a comma, as
/// [`csv_cell`] writes them (borrowed unless a value holds a `"`).
#[derive(Debug, Clone)]
pub(crate) struct Parts<'a> {
    rest: &'a [u8],
}

impl<'a> Parts<'a> {
    /// The values of `key`, CSV cells each followed by a comma.
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
        // A quoted cell: `""` is a quote; a quote then the comma ends it.
        let (value, end) = unescape(&rest[1..], b'"', b'"');
        self.rest = rest.get(1 + end + 2..).unwrap_or(&[]);
        Some(value)
    }
}

/// The value at the front of `text` up to its first `mark` not followed by
/// `escape` (a `mark` `escape` pair is the mark byte itself), and where that
/// mark is (the text's length when there is none, as in bytes this
/// crate did not write: the rest is taken as the value). Borrowed unless
/// the value holds an escape. Both of the engine's encodings read this
/// way: a key's NUL-terminated values ([`encode_value`]) and quoted CSV
/// cells ([`csv_cell`]).
#[inline]
fn unescape(text: &[u8], mark: u8, escape: u8) -> (Cow<'_, [u8]>, usize) {
    let mut owned: Option<Vec<u8>> = None;
    let mut from = 0;
    loop {
        let Some(at) = memchr::memchr(mark, &text[from..]).map(|at| from + at) else {
            let value = match owned {
                None => Cow::Borrowed(text),
                Some(mut buf) => {
                    buf.extend_from_slice(&text[from..]);
                    Cow::Owned(buf)
                }
            };
            return (value, text.len());
        };
        if text.get(at + 1) == Some(&escape) {
            owned
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&text[from..=at]);
            from = at + 2;
            continue;
        }
        let value = match owned {
            None => Cow::Borrowed(&text[..at]),
            Some(mut buf) => {
                buf.extend_from_slice(&text[from..at]);
                Cow::Owned(buf)
            }
        };
        return (value, at);
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

/// Splunk's sort order (the oracle [`encode_value`]'s form is tested
/// against): numeric-looking values compare numerically and come
/// before other values, which compare bytewise (so uppercase sorts before
/// lowercase). Equal numbers fall back to bytes, keeping the order total.
#[cfg(test)]
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
#[inline]
pub(crate) fn parse_number(v: &[u8]) -> Option<f64> {
    // Most values are text, and a number starts with a digit, a sign or a
    // point: that test is made where the value is, without a call.
    let &first = v.first()?;
    if !first.is_ascii_digit() && !matches!(first, b'+' | b'-' | b'.') {
        return None;
    }
    parse_decimal(v)
}

/// [`parse_number`] past its first byte's test.
fn parse_decimal(v: &[u8]) -> Option<f64> {
    let (mut digits, mut i) = (0, 0);
    let negative = v.first() == Some(&b'-');
    if matches!(v.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    // The significant digits as an integer while they fit exactly, for the
    // fast path below.
    let mut mantissa = 0u64;
    let mut fraction = 0usize;
    while let Some(d) = v.get(i).filter(|d| d.is_ascii_digit()) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
        digits += 1;
    }
    if v.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = v.get(i).filter(|d| d.is_ascii_digit()) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            i += 1;
            digits += 1;
            fraction += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    let mut exponent = false;
    if matches!(v.get(i), Some(b'e' | b'E')) {
        exponent = true;
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
    // Clinger's fast path: at most 15 digits are an exact integer in an
    // f64, and so is 10^fraction up to 10^22; IEEE division rounds
    // correctly, so the quotient is the value the full parser returns.
    if !exponent && digits <= 15 && fraction <= 22 {
        let n = mantissa as f64 / POWERS_OF_TEN[fraction];
        return Some(if negative { -n } else { n });
    }
    std::str::from_utf8(v)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

/// 10^0 to 10^22, every one exact in an f64.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn add<P: AsRef<[u8]>>(g: &mut Groups, parts: &[P], acc: &Acc) -> Result<(), GroupLimit> {
        let mut k = Vec::new();
        let (csv, cells) = encode_key(&mut k, parts.iter().map(AsRef::as_ref));
        g.add(&k, csv, cells, acc)
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
        fn the_fast_number_path_is_the_full_parse(v in "[+-]?[0-9]{0,17}(\\.[0-9]{0,8})?") {
            let full = std::str::from_utf8(v.as_bytes()).ok().and_then(|s| s.parse::<f64>().ok());
            let full = full.filter(|n| n.is_finite() && v.bytes().any(|b| b.is_ascii_digit()));
            prop_assert_eq!(parse_number(v.as_bytes()).map(f64::to_bits), full.map(f64::to_bits));
        }

        #[test]
        fn short_values_parse_as_the_full_parse_does(
            v in prop::collection::vec(prop::sample::select(b"0123456789/:.+-eE a\x80".to_vec()), 0..11),
        ) {
            // Digits beside the bytes either side of them, signs, points and
            // exponents anywhere: only the strict forms are numbers.
            let full = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<f64>().ok());
            let full = full.filter(|n| n.is_finite() && v.iter().any(u8::is_ascii_digit));
            prop_assert_eq!(parse_number(&v).map(f64::to_bits), full.map(f64::to_bits));
        }

        #[test]
        fn adding_keys_merges_and_refuses_as_a_map_does(
            keys in prop::collection::vec(0u8..6, 0..40),
            limit in 1usize..8,
        ) {
            // The model: a map merged key by key, full at `limit` keys. Keys
            // differ in length, so a merged key's bytes given back move the
            // next key's (added after it, looked up before it) down.
            let text = |k: u8| vec![b'a' + k; 1 + 7 * usize::from(k)];
            let mut model: std::collections::BTreeMap<u8, f64> = Default::default();
            let mut g = Groups::new(limit);
            for (i, k) in keys.iter().enumerate() {
                let acc = Acc { count: 1.0, first: i as f64, last: i as f64 };
                let want = if model.contains_key(k) || model.len() < limit {
                    *model.entry(*k).or_default() += 1.0;
                    Ok(())
                } else {
                    Err(GroupLimit::Count(limit))
                };
                let got = add(&mut g, &[text(*k)], &acc);
                prop_assert_eq!(got, want);
                if got.is_err() {
                    break;
                }
            }
            let got: Vec<(Vec<u8>, f64)> = drain(&mut g).into_iter().map(|(v, a)| (v[0].clone(), a.count)).collect();
            let want: Vec<(Vec<u8>, f64)> = model.into_iter().map(|(k, n)| (text(k), n)).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn keys_decode_and_write_as_their_values(
            values in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![b'a', b'0', b'.', b'-', b' ', b',', b'"', b'\n', b'\r', 0u8, 1, 0xe9]), 0..30),
                1..6,
            ),
        ) {
            let mut key = Vec::new();
            let (csv, cells) = encode_key(&mut key, values.iter().map(Vec::as_slice));
            prop_assert!(key.len() <= values.iter().map(|v| max_encoded_len(v.len())).sum());
            let decoded: Vec<Vec<u8>> = KeyValues { rest: &key }.map(Cow::into_owned).collect();
            prop_assert_eq!(&decoded, &values);
            let mut want = Vec::new();
            for v in &values {
                csv_cell(&mut want, v);
                want.push(b',');
            }
            let mut got = Vec::new();
            write_key_csv(&mut got, &key, cells);
            prop_assert_eq!(got.len(), csv);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn needs_quotes_is_the_bytewise_rule(v in prop::collection::vec(prop::sample::select(vec![b'a', b' ', b',', b'"', b'\n', b'\r', b'\t', 0u8, 0x80, 0xac, 0x2d]), 0..40)) {
            let special = v.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            let padded = v.first().is_some_and(u8::is_ascii_whitespace) || v.last().is_some_and(u8::is_ascii_whitespace);
            prop_assert_eq!(needs_quotes(&v), special || padded);
        }
    }

    #[test]
    fn the_overhead_per_group_is_the_figure_the_readme_quotes() {
        assert_eq!(
            GROUP_OVERHEAD_BYTES, 100,
            "README Performance (Memory) and Limits quote it"
        );
    }

    #[test]
    fn group_limit_is_an_error_not_a_silent_drop() {
        let mut g = Groups::new(1);
        let acc = Acc {
            count: 1.0,
            first: 1.0,
            last: 1.0,
        };
        add(&mut g, &["a"], &acc).unwrap();
        add(&mut g, &["a"], &acc).unwrap();
        assert_eq!(add(&mut g, &["b"], &acc), Err(GroupLimit::Count(1)));
    }

    #[test]
    fn keys_round_trip_including_empty_parts() {
        let mut g = Groups::new(10);
        let long = "l".repeat(300);
        add(&mut g, &["x", "", "y,z", &long], &Acc::default()).unwrap();
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
                add(&mut g, &[x, y], &Acc::default()).unwrap();
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
                add(&mut g, &parts, &Acc::default()).unwrap();
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
        fn runs_merged_in_cuts_are_the_one_table_of_all_rows(
            tables in prop::collection::vec(
                prop::collection::vec((0usize..7, 0usize..3, 0.0f64..1e6), 0..40),
                1..5,
            ),
            parts in 1usize..6,
        ) {
            // Numbers and text in both fields, so cuts fall between sort classes.
            let values = ["10", "9", "-1", "a", "B", "1.5", ""];
            let fold = |rows: &[(usize, usize, f64)]| {
                let mut g = Groups::new(1000);
                for &(a, b, t) in rows {
                    let acc = Acc { count: 1.0, first: t, last: t };
                    add(&mut g, &[values[a], values[b]], &acc).unwrap();
                }
                g
            };
            let all: Vec<_> = tables.iter().flatten().copied().collect();
            let want = drain(&mut fold(&all));
            let runs = || tables.iter().map(|t| fold(t).take_sorted()).filter(|r| !r.is_empty());
            let runs: Vec<Sorted> = runs().collect();
            let cuts = Sorted::cuts(&runs, parts);
            prop_assert_eq!(cuts.len(), parts);
            let merged = cuts.iter().map(|c| Sorted::merge_cut(&runs, c)).collect();
            let sorted = Sorted::join(runs, merged);
            let got: Vec<_> = sorted.iter().map(|(v, a)| (v.map(Cow::into_owned).collect(), *a)).collect();
            prop_assert_eq!(&got, &want);
        }

        #[test]
        fn merge_of_accumulations_equals_accumulation_of_union(
            a in prop::collection::vec((0u8..3, 0.0f64..1e6), 0..20),
            b in prop::collection::vec((0u8..3, 0.0f64..1e6), 0..20),
        ) {
            let fold = |rows: &[(u8, f64)]| {
                let mut g = Groups::new(100);
                for (k, t) in rows {
                    add(&mut g, &[&k.to_string()], &Acc { count: 1.0, first: *t, last: *t }).unwrap();
                }
                g
            };
            let mut merged = fold(&a);
            for (k, acc) in drain(&mut fold(&b)) {
                add(&mut merged, &k[..1], &acc).unwrap();
            }
            let all: Vec<_> = a.iter().chain(&b).cloned().collect();
            prop_assert_eq!(drain(&mut merged), drain(&mut fold(&all)));
        }
    }
}
