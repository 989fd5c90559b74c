//! The detection engine: filters rows and group-by-aggregates them as the two ESCU searches do; no I/O, no serde, no clock.
//!
//! Rows arrive through the [`Row`] trait, one at a time, in any chunking and
//! any order; the result depends on neither. The engine keeps one group
//! table whose accumulators merge, so the same code serves a single process,
//! the map phase on each indexer ([`Engine::drain_partials`]) and the reduce
//! phase that merges their partial rows ([`Engine::finish`]).

mod aggregate;
mod event;
mod filter;
mod render;
mod spec;

pub use aggregate::{
    compare_tuples, compare_values, parse_number, Acc, GroupLimit, Groups, MAX_GROUP_KEY_BYTES,
};
pub use event::{OwnedRow, Row, Values};
pub use filter::{CidrSet, DestFilter, SYSMON_SOURCES, SYSMON_SOURCETYPE};
pub use render::{number, BadFormat, TimeRender};
pub use spec::{
    is_unprefixed, Binary, Mode, AGGREGATES, NETWORK_BY, NOARGS_BY, PARTIAL_MARKER, PREFIXES,
};

use std::collections::BTreeMap;
use std::fmt;

use regex::bytes::Regex;

use aggregate::encode_part;

/// How rows are read: raw events or pre-aggregated `stats`/`tstats` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputShape {
    /// Per row: a numeric `count` makes it pre-aggregated, else it is one event.
    Auto,
    /// Every row is one event at `_time`.
    Events,
    /// Every row is pre-aggregated (`count`, `firstTime`, `lastTime`).
    Aggregated,
}

/// Everything the engine needs, already validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which detection.
    pub mode: Mode,
    /// regsvcs.exe or regasm.exe.
    pub binary: Binary,
    /// Row shape rule.
    pub input: InputShape,
    /// Destination ranges excluded by the network mode.
    pub cidrs: CidrSet,
    /// Require the `sysmon` macro's source/sourcetype.
    pub sysmon: bool,
    /// Apply the CIM Endpoint data-model fills before selecting (noargs).
    pub cim_fill: bool,
    /// How firstTime/lastTime are written.
    pub time: TimeRender,
    /// Most groups the table may hold.
    pub max_groups: usize,
    /// Rows marked with [`PARTIAL_MARKER`] are this command's own map-phase
    /// partials, which the map already filtered: merge them without
    /// selecting again (the reduce of a distributed search). Needed
    /// for equivalence: a multivalue event can pass `dest_ip!=10.0.0.0/8`
    /// through one value and still form a group for another, and that group
    /// must not be filtered out a second time in the reduce.
    pub trusted_partials: bool,
}

/// Default for [`Config::max_groups`]: one million groups.
pub const DEFAULT_MAX_GROUPS: usize = 1_000_000;

/// Most group memberships one row may produce (the product of its multivalue
/// BY-field sizes); a row past this is refused, never truncated.
pub const MAX_MEMBERSHIPS_PER_ROW: usize = 100_000;

impl Config {
    /// The defaults of the SPL command for a mode, rendering in `tz`.
    pub fn new(mode: Mode, time: TimeRender) -> Config {
        Config {
            mode,
            binary: Binary::Regsvcs,
            input: InputShape::Auto,
            cidrs: CidrSet::Rfc1918,
            sysmon: false,
            cim_fill: false,
            time,
            max_groups: DEFAULT_MAX_GROUPS,
            trusted_partials: false,
        }
    }
}

/// A limit was reached; the search must stop rather than lose rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// More distinct groups than [`Config::max_groups`].
    TooManyGroups {
        /// The limit.
        limit: usize,
    },
    /// One row's multivalue BY fields multiply to too many memberships.
    TooManyMemberships {
        /// Memberships the row would produce.
        count: usize,
    },
    /// The BY values of the groups would take more than [`MAX_GROUP_KEY_BYTES`].
    GroupsTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooManyGroups { limit } => write!(
                f,
                "more than {limit} distinct groups; raise max_groups or narrow the search (results are never truncated)"
            ),
            Error::TooManyMemberships { count } => write!(
                f,
                "one row's multivalue BY fields expand to {count} groups, more than the limit of {MAX_MEMBERSHIPS_PER_ROW} per row; reduce them before this command (mvdedup, mvexpand)"
            ),
            Error::GroupsTooLarge { limit } => write!(
                f,
                "the groups' BY values would take more than {limit} bytes (huge field values times multivalue fields); narrow the search or shorten the fields (results are never truncated)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Row accounting: every row read ends in exactly one of kept, filtered or
/// dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rows read.
    pub rows_in: u64,
    /// Rows that passed the detection's selection (process, EventID, CIDR, sysmon).
    pub rows_matched: u64,
    /// Rows that did not pass the selection.
    pub rows_filtered: u64,
    /// Matched rows dropped because a BY field was null (network mode).
    pub rows_dropped_missing: u64,
    /// Matched rows dropped because `process` failed the noargs regex.
    pub rows_dropped_regex: u64,
    /// Matched rows that joined at least one group.
    pub rows_kept: u64,
    /// Per BY field, matched rows in which it was null (a row may count for several).
    pub missing: BTreeMap<&'static str, u64>,
}

impl Stats {
    /// True when `rows_in = rows_kept + rows_filtered + rows_dropped_*`.
    pub fn balanced(&self) -> bool {
        self.rows_in
            == self.rows_kept
                + self.rows_filtered
                + self.rows_dropped_missing
                + self.rows_dropped_regex
            && self.rows_matched
                == self.rows_kept + self.rows_dropped_missing + self.rows_dropped_regex
    }

    /// Adds another process's or chunk's counts.
    pub fn merge(&mut self, other: &Stats) {
        self.rows_in += other.rows_in;
        self.rows_matched += other.rows_matched;
        self.rows_filtered += other.rows_filtered;
        self.rows_dropped_missing += other.rows_dropped_missing;
        self.rows_dropped_regex += other.rows_dropped_regex;
        self.rows_kept += other.rows_kept;
        for (k, v) in &other.missing {
            *self.missing.entry(k).or_default() += v;
        }
    }
}

/// What became of one row pushed into the engine, for callers that explain
/// drops (`run --explain`); the accounting in [`Stats`] counts the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not selected by the detection (process, EventID, CIDR, sysmon).
    Filtered,
    /// Selected, then dropped: these BY fields were null (network mode).
    MissingFields(Vec<&'static str>),
    /// Selected, then dropped: no `process` value matched the noargs regex.
    RegexRejected,
    /// Joined at least one group (a map-phase partial included).
    Kept,
}

/// A finished table: column names and rows of byte values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one value per column.
    pub rows: Vec<Vec<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy)]
struct Extras {
    time: usize,
    count: usize,
    first: usize,
    last: usize,
    event_id: Option<usize>,
    source: Option<usize>,
    sourcetype: Option<usize>,
    vendor: Option<usize>,
    product: Option<usize>,
    marker: Option<usize>,
}

/// The detection engine for one process.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    fields: Vec<&'static str>,
    extras: Extras,
    dest: DestFilter,
    regex: Regex,
    groups: Groups,
    stats: Stats,
    key: Vec<u8>,
    unrenderable: u64,
    untimed: u64,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Event,
    Aggregated(f64),
}

impl Engine {
    /// A new engine with an empty group table.
    pub fn new(cfg: Config) -> Engine {
        let mut fields: Vec<&'static str> = cfg.mode.by_fields().to_vec();
        let mut push = |name: &'static str| {
            fields.push(name);
            fields.len() - 1
        };
        let time = push("_time");
        let count = push("count");
        let first = push("firstTime");
        let last = push("lastTime");
        let event_id = (cfg.mode == Mode::Network).then(|| push("EventID"));
        let fills = cfg.cim_fill && cfg.mode == Mode::Noargs;
        let source = cfg.sysmon.then(|| push("source"));
        let sourcetype = (cfg.sysmon || fills).then(|| push("sourcetype"));
        let (vendor, product) = if fills {
            (Some(push("vendor")), Some(push("product")))
        } else {
            (None, None)
        };
        let marker = cfg.trusted_partials.then(|| push(PARTIAL_MARKER));
        let extras = Extras {
            time,
            count,
            first,
            last,
            event_id,
            source,
            sourcetype,
            vendor,
            product,
            marker,
        };
        let regex = Regex::new(cfg.binary.noargs_pattern()).unwrap_or_else(|_| {
            // The two patterns are constants covered by unit tests.
            Regex::new(r"[^\s\S]").expect("an empty-match regex always compiles")
        });
        Engine {
            dest: DestFilter::new(cfg.cidrs),
            groups: Groups::new(cfg.max_groups),
            cfg,
            fields,
            extras,
            regex,
            stats: Stats::default(),
            key: Vec::new(),
            unrenderable: 0,
            untimed: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The field names the engine reads, in the index order [`Row::get`] uses.
    pub fn fields(&self) -> &[&'static str] {
        &self.fields
    }

    /// The fields splunkd must extract and send for this engine, as a
    /// getinfo `required_fields` list: every field it reads ([`Engine::fields`])
    /// plain, then, unless it is never prefixed ([`is_unprefixed`]), under the
    /// mode's data-model prefix ([`Mode::prefixes`]). Never `_raw`: no field
    /// list holds it.
    pub fn required_fields(&self) -> Vec<String> {
        let prefixes = self.cfg.mode.prefixes();
        let mut out = Vec::with_capacity(self.fields.len() * (1 + prefixes.len()));
        for field in &self.fields {
            out.push(field.to_string());
            if !is_unprefixed(field) {
                out.extend(prefixes.iter().map(|p| format!("{p}{field}")));
            }
        }
        out
    }

    /// A literal that every row able to match contains, ASCII case aside
    /// (`regsvcs.exe` or `regasm.exe`): both detections select on
    /// `process_name` (or `original_file_name`) equal to it, and the CIM
    /// fill derives `process_name` from `process`. Readers use it to skip rows
    /// without decoding them; such rows go to [`Engine::skip`].
    pub fn needle(&self) -> &'static str {
        self.cfg.binary.exe()
    }

    /// Counts rows that a reader skipped because they lack [`Engine::needle`].
    pub fn skip(&mut self, rows: u64) {
        self.stats.rows_in += rows;
        self.stats.rows_filtered += rows;
    }

    /// The accounting so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of groups held.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Filters one row and adds its group memberships.
    ///
    /// # Errors
    ///
    /// A group or membership limit was reached.
    pub fn push<R: Row + ?Sized>(&mut self, row: &R) -> Result<(), Error> {
        self.push_outcome(row).map(|_| ())
    }

    /// As [`Engine::push`], and says what became of the row.
    ///
    /// # Errors
    ///
    /// A group or membership limit was reached.
    pub fn push_outcome<R: Row + ?Sized>(&mut self, row: &R) -> Result<Outcome, Error> {
        self.stats.rows_in += 1;
        let shape = self.shape(row);
        if self.extras.marker.is_some_and(|i| !row.get(i).is_null()) {
            let count = match row.get(self.extras.count) {
                Values::One(v) => parse_number(v).unwrap_or(0.0),
                _ => 0.0,
            };
            return self.push_partial(row, Shape::Aggregated(count));
        }
        let x = self.extras;
        if self.cfg.sysmon {
            let st = x.sourcetype.map_or(Values::Null, |i| row.get(i));
            let src = x.source.map_or(Values::Null, |i| row.get(i));
            if !filter::sysmon(&st, &src) {
                self.stats.rows_filtered += 1;
                return Ok(Outcome::Filtered);
            }
        }
        match self.cfg.mode {
            Mode::Network => self.push_network(row, shape),
            Mode::Noargs => self.push_noargs(row, shape),
        }
    }

    fn shape<R: Row + ?Sized>(&self, row: &R) -> Shape {
        let count = || match row.get(self.extras.count) {
            Values::One(v) => parse_number(v),
            _ => None,
        };
        match self.cfg.input {
            InputShape::Events => Shape::Event,
            InputShape::Aggregated => Shape::Aggregated(count().unwrap_or(1.0)),
            InputShape::Auto => count().map_or(Shape::Event, Shape::Aggregated),
        }
    }

    fn push_network<R: Row + ?Sized>(&mut self, row: &R, shape: Shape) -> Result<Outcome, Error> {
        let exe = self.cfg.binary.exe();
        let event_ok = match (shape, self.extras.event_id) {
            (Shape::Event, Some(i)) => row.get(i).any(|v| v == b"3"),
            _ => true,
        };
        let by = self.cfg.mode.by_fields();
        let dest_ip = by.iter().position(|f| *f == "dest_ip").map(|i| row.get(i));
        let process_name = by
            .iter()
            .position(|f| *f == "process_name")
            .map(|i| row.get(i));
        let selected = event_ok
            && process_name.is_some_and(|p| filter::equals(&p, exe))
            && dest_ip.is_some_and(|d| d.is_null() || self.dest.passes(&d));
        if !selected {
            self.stats.rows_filtered += 1;
            return Ok(Outcome::Filtered);
        }
        self.stats.rows_matched += 1;
        let values: Vec<Values<'_>> = (0..by.len()).map(|i| row.get(i)).collect();
        let mut missing = Vec::new();
        for (name, v) in by.iter().zip(&values) {
            if v.is_null() {
                *self.stats.missing.entry(name).or_default() += 1;
                missing.push(*name);
            }
        }
        if !missing.is_empty() {
            self.stats.rows_dropped_missing += 1;
            return Ok(Outcome::MissingFields(missing));
        }
        let acc = self.row_acc(row, shape);
        let lists: Vec<Vec<&[u8]>> = values.iter().map(|v| v.iter().collect()).collect();
        self.add_memberships(&lists, &acc)?;
        self.note_untimed(shape, &acc);
        self.stats.rows_kept += 1;
        Ok(Outcome::Kept)
    }

    /// Merges one map-phase partial row: its BY fields are final values.
    fn push_partial<R: Row + ?Sized>(&mut self, row: &R, shape: Shape) -> Result<Outcome, Error> {
        self.stats.rows_matched += 1;
        let by = self.cfg.mode.by_fields();
        let values: Vec<Values<'_>> = (0..by.len()).map(|i| row.get(i)).collect();
        let null_fill = self.cfg.mode == Mode::Noargs;
        let mut missing = Vec::new();
        let lists: Vec<Vec<&[u8]>> = by
            .iter()
            .zip(&values)
            .map(|(name, v)| {
                if v.is_null() {
                    if !null_fill {
                        *self.stats.missing.entry(name).or_default() += 1;
                        missing.push(*name);
                    }
                    vec![&b"null"[..]]
                } else {
                    v.iter().collect()
                }
            })
            .collect();
        if !missing.is_empty() {
            self.stats.rows_dropped_missing += 1;
            return Ok(Outcome::MissingFields(missing));
        }
        let acc = self.row_acc(row, shape);
        self.add_memberships(&lists, &acc)?;
        self.stats.rows_kept += 1;
        Ok(Outcome::Kept)
    }

    fn push_noargs<R: Row + ?Sized>(&mut self, row: &R, shape: Shape) -> Result<Outcome, Error> {
        let by = self.cfg.mode.by_fields();
        let mut values: Vec<Values<'_>> = (0..by.len()).map(|i| row.get(i)).collect();
        if self.cfg.cim_fill {
            self.fill(row, &mut values);
        }
        let at = |name: &str| by.iter().position(|f| *f == name);
        let (Some(pn), Some(ofn), Some(proc_i)) =
            (at("process_name"), at("original_file_name"), at("process"))
        else {
            // Unreachable with the noargs field list; the books still balance.
            self.stats.rows_filtered += 1;
            return Ok(Outcome::Filtered);
        };
        let selected = filter::equals(&values[pn], self.cfg.binary.exe())
            || filter::equals(&values[ofn], self.cfg.binary.original_file_name());
        if !selected {
            self.stats.rows_filtered += 1;
            return Ok(Outcome::Filtered);
        }
        self.stats.rows_matched += 1;
        // tstats fillnull_value=null: a null BY field is the string "null".
        let mut lists: Vec<Vec<&[u8]>> = values
            .iter()
            .map(|v| {
                if v.is_null() {
                    vec![&b"null"[..]]
                } else {
                    v.iter().collect()
                }
            })
            .collect();
        // `regex process=...` runs after stats, on each group's single
        // `process` value; filtering the values first gives the same groups.
        lists[proc_i].retain(|p| self.regex.is_match(p));
        if lists[proc_i].is_empty() {
            self.stats.rows_dropped_regex += 1;
            return Ok(Outcome::RegexRejected);
        }
        let acc = self.row_acc(row, shape);
        self.add_memberships(&lists, &acc)?;
        self.note_untimed(shape, &acc);
        self.stats.rows_kept += 1;
        Ok(Outcome::Kept)
    }

    fn note_untimed(&mut self, shape: Shape, acc: &Acc) {
        if matches!(shape, Shape::Event) && acc.first_time().is_none() {
            self.untimed += 1;
        }
    }

    fn fill<'a, R: Row + ?Sized>(&self, row: &'a R, values: &mut [Values<'a>]) {
        let by = self.cfg.mode.by_fields();
        let at = |name: &str| by.iter().position(|f| *f == name);
        for name in ["dest", "user", "process", "parent_process"] {
            if let Some(i) = at(name) {
                let v = std::mem::replace(&mut values[i], Values::Null);
                values[i] = filter::unknown_if_null(v);
            }
        }
        for (name, cmd) in [
            ("process_name", "process"),
            ("parent_process_name", "parent_process"),
        ] {
            if let (Some(i), Some(c)) = (at(name), at(cmd)) {
                let cmd = values[c].clone();
                let v = std::mem::replace(&mut values[i], Values::Null);
                values[i] = filter::name_from_command_line(v, &cmd);
            }
        }
        if let Some(i) = at("vendor_product") {
            let get = |f: Option<usize>| f.map_or(Values::Null, |f| row.get(f));
            let (vendor, product) = (get(self.extras.vendor), get(self.extras.product));
            let sourcetype = get(self.extras.sourcetype);
            let v = std::mem::replace(&mut values[i], Values::Null);
            values[i] = filter::vendor_product(v, &vendor, &product, &sourcetype);
        }
    }

    fn row_acc<R: Row + ?Sized>(&self, row: &R, shape: Shape) -> Acc {
        let numbers = |i: usize| {
            let v = row.get(i);
            let list: Vec<f64> = v.iter().filter_map(parse_number).collect();
            list
        };
        let mut acc = Acc::default();
        match shape {
            Shape::Event => {
                acc.count = 1.0;
                for t in numbers(self.extras.time) {
                    acc.first = acc.first.min(t);
                    acc.last = acc.last.max(t);
                }
            }
            Shape::Aggregated(count) => {
                acc.count = count;
                for t in numbers(self.extras.first) {
                    acc.first = acc.first.min(t);
                }
                for t in numbers(self.extras.last) {
                    acc.last = acc.last.max(t);
                }
            }
        }
        acc
    }

    fn add_memberships(&mut self, lists: &[Vec<&[u8]>], acc: &Acc) -> Result<(), Error> {
        let total = lists
            .iter()
            .try_fold(1usize, |n, l| n.checked_mul(l.len()))
            .unwrap_or(usize::MAX);
        if total > MAX_MEMBERSHIPS_PER_ROW {
            return Err(Error::TooManyMemberships { count: total });
        }
        // Refuse before building keys whose sizes alone would pass the cap.
        let widest: usize = lists
            .iter()
            .map(|l| 4 + l.iter().map(|v| v.len()).max().unwrap_or(0))
            .sum();
        if widest.saturating_mul(total) > MAX_GROUP_KEY_BYTES {
            return Err(Error::GroupsTooLarge {
                limit: MAX_GROUP_KEY_BYTES,
            });
        }
        let mut index = vec![0usize; lists.len()];
        for _ in 0..total {
            self.key.clear();
            for (list, &i) in lists.iter().zip(&index) {
                encode_part(&mut self.key, list[i]);
            }
            self.groups
                .add(&self.key, acc)
                .map_err(|limit| match limit {
                    GroupLimit::Count(limit) => Error::TooManyGroups { limit },
                    GroupLimit::Bytes(limit) => Error::GroupsTooLarge { limit },
                })?;
            // Odometer over the value lists: the cartesian product, no dedup.
            for (slot, list) in index.iter_mut().zip(lists).rev() {
                *slot += 1;
                if *slot < list.len() {
                    break;
                }
                *slot = 0;
            }
        }
        Ok(())
    }

    fn columns(&self) -> Vec<String> {
        self.cfg
            .mode
            .by_fields()
            .iter()
            .chain(AGGREGATES.iter())
            .map(|s| s.to_string())
            .collect()
    }

    /// Takes the groups accumulated so far as partial rows for the reduce
    /// phase: the BY fields, `count`, `firstTime`/`lastTime` as epoch
    /// seconds, and [`PARTIAL_MARKER`] = 1. The table is left empty.
    pub fn drain_partials(&mut self) -> Table {
        let mut columns = self.columns();
        columns.push(PARTIAL_MARKER.to_string());
        let rows = self
            .groups
            .drain_sorted()
            .into_iter()
            .map(|(mut key, acc)| {
                key.push(number(acc.count).into_bytes());
                key.push(
                    acc.first_time()
                        .map(number)
                        .unwrap_or_default()
                        .into_bytes(),
                );
                key.push(acc.last_time().map(number).unwrap_or_default().into_bytes());
                key.push(b"1".to_vec());
                key
            })
            .collect();
        Table { columns, rows }
    }

    /// The final result: every group, sorted by its BY tuple, with
    /// `firstTime`/`lastTime` rendered. The table is left empty.
    ///
    /// # Errors
    ///
    /// A time cannot be rendered in the configured format.
    pub fn finish(&mut self) -> Result<Table, Error> {
        let mut rows = Vec::with_capacity(self.groups.len());
        let mut unrenderable = 0u64;
        for (mut key, acc) in self.groups.drain_sorted() {
            let mut render = |t: Option<f64>| -> Vec<u8> {
                match t.map(|t| (t, self.cfg.time.time(t))) {
                    None => Vec::new(),
                    Some((_, Ok(text))) => text.into_bytes(),
                    // A time past the calendar (a millisecond epoch, say)
                    // keeps its number rather than failing the search.
                    Some((t, Err(_))) => {
                        unrenderable += 1;
                        number(t).into_bytes()
                    }
                }
            };
            let (first, last) = (render(acc.first_time()), render(acc.last_time()));
            key.push(number(acc.count).into_bytes());
            key.push(first);
            key.push(last);
            rows.push(key);
        }
        self.unrenderable += unrenderable;
        Ok(Table {
            columns: self.columns(),
            rows,
        })
    }

    /// A WARN text when some firstTime/lastTime could not be rendered and
    /// were left as epoch numbers.
    pub fn time_warning(&self) -> Option<String> {
        (self.unrenderable > 0).then(|| {
            format!(
                "{} firstTime/lastTime values are outside the calendar and were left as epoch seconds (is _time in milliseconds?)",
                self.unrenderable
            )
        })
    }

    /// A WARN text when matched rows were dropped only because BY fields were
    /// missing, naming the fields and counts.
    pub fn missing_field_warning(&self) -> Option<String> {
        let s = &self.stats;
        if s.rows_dropped_missing == 0 {
            return None;
        }
        let exe = self.cfg.binary.exe();
        let mut fields: Vec<(&str, u64)> = s.missing.iter().map(|(k, v)| (*k, *v)).collect();
        fields.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let what = if fields.len() == 1 {
            format!("{} is missing", fields[0].0)
        } else {
            let list: Vec<String> = fields.iter().map(|(f, n)| format!("{f} ({n})")).collect();
            format!("BY fields are missing: {}", list.join(", "))
        };
        let n = s.rows_dropped_missing;
        let noun = if n == 1 {
            "connection was"
        } else {
            "connections were"
        };
        Some(format!(
            "{n} {exe} {noun} dropped because {what}; check the Sysmon add-on version and its CIM field extractions"
        ))
    }
}

#[cfg(test)]
mod tests;
