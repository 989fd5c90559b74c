//! The detection engine: filters rows and group-by-aggregates them as the two ESCU searches do; no I/O, no serde, no clock.
//!
//! Rows arrive through the [`Row`] trait, one at a time, in any chunking and
//! any order; the result depends on neither. The engine keeps one group
//! table whose accumulators merge, so the same code serves a single process,
//! the map phase on each indexer (partial rows, [`Engine::results_of`] with
//! `partial`) and the reduce phase that merges their partial rows
//! ([`Engine::finish`]). Tables filled on several threads merge as sorted
//! runs, cut into key ranges that merge on threads of their own
//! ([`Sorted::cuts`], [`Sorted::merge_cut`]).

mod aggregate;
mod event;
mod filter;
mod render;
mod schema;
mod spec;

pub use event::{Row, Values};
pub use filter::{CidrSet, SYSMON_SOURCETYPE};
pub use render::{BadFormat, TimeRender};
pub use spec::{Binary, Mode, NETWORK_BY, NOARGS_BY, PARTIAL_MARKER, PREFIXES};

pub(crate) use aggregate::{
    csv_cell, csv_cell_len, key_csv_room, parse_number, stretches, write_key_csv_at, Acc, Cells,
    GroupLimit, Groups, Parts, Sorted, MAX_GROUP_KEY_BYTES,
};
pub(crate) use event::OwnedRow;
pub(crate) use filter::DestFilter;
pub(crate) use render::{write_number, TimeCache};
pub(crate) use schema::Schema;
pub(crate) use spec::AGGREGATES;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use regex::bytes::Regex;

use aggregate::{encode_key, max_encoded_len};

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

/// Default for [`Config::max_groups`]: one million groups. A group holds
/// its key (a little more than its output row's BY cells) plus at most
/// [`GROUP_OVERHEAD_BYTES`](aggregate::GROUP_OVERHEAD_BYTES); measured with
/// Sysmon and tstats rows, a search at this limit peaks at about 0.65 to
/// 0.75 GiB (README "Performance", Memory), which a search head can spare,
/// while more distinct groups than this is rarely a detection's output.
pub(crate) const DEFAULT_MAX_GROUPS: usize = 1_000_000;

/// Most group memberships one row may produce (the product of its multivalue
/// BY-field sizes); a row past this is refused, never truncated.
pub(crate) const MAX_MEMBERSHIPS_PER_ROW: usize = 100_000;

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
    /// Adds `other`'s counts to these.
    fn add(&mut self, other: &Stats) {
        self.rows_in += other.rows_in;
        self.rows_matched += other.rows_matched;
        self.rows_filtered += other.rows_filtered;
        self.rows_dropped_missing += other.rows_dropped_missing;
        self.rows_dropped_regex += other.rows_dropped_regex;
        self.rows_kept += other.rows_kept;
        for (field, n) in &other.missing {
            *self.missing.entry(field).or_default() += n;
        }
    }

    /// True when `rows_in = rows_kept + rows_filtered + rows_dropped_*`.
    /// [`Engine`] keeps it true by construction (one function counts every
    /// row); this is the check tests and fuzzers make.
    pub fn balanced(&self) -> bool {
        self.rows_in
            == self.rows_kept
                + self.rows_filtered
                + self.rows_dropped_missing
                + self.rows_dropped_regex
            && self.rows_matched
                == self.rows_kept + self.rows_dropped_missing + self.rows_dropped_regex
    }
}

/// What became of one row inside the engine: exactly one of these, and the
/// accounting is this value counted. Copy-sized; [`Outcome`] is its public,
/// named form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// It joined at least one group.
    Kept,
    /// It did not pass the selection (process, EventID, CIDR, sysmon), or a
    /// reader skipped it because it lacks [`Engine::needle`].
    Filtered,
    /// It passed the selection, but BY fields were null (network mode); bit
    /// `i` is set for BY field `i`.
    DroppedMissing(u32),
    /// It passed the selection, but no `process` value passed the noargs regex.
    DroppedRegex,
}

/// What became of one row pushed into the engine, for callers that explain
/// drops (`run --explain`); the accounting in [`Stats`] counts the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
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

/// The engine's output: groups in order, with their BY values and their
/// rendered `count`, `firstTime`, `lastTime` (and, for partial rows, the
/// [`PARTIAL_MARKER`]) cells. Held as the group tables' arenas of encoded
/// keys plus text buffers of the trailing cells, already CSV, one per
/// stretch of the groups, so writing a million rows allocates nothing per
/// row, and its length (each group keeps its CSV length) is known without
/// a pass.
#[derive(Debug, Clone, Default)]
pub struct Results {
    columns: Vec<&'static str>,
    sorted: Sorted,
    /// The trailing cells of each stretch of `sorted`.
    tails: Vec<Tails>,
}

/// The trailing cells of a stretch of result rows, as CSV, rendered by
/// [`Engine::tails`] for [`Engine::results_from`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Tails {
    /// Every row's cells, each followed by a comma (as the keys are),
    /// back to back.
    text: Vec<u8>,
    /// Where each row's cells end in `text`.
    ends: Vec<usize>,
    /// Times that could not be rendered (see [`Engine::time_warning`]).
    unrenderable: u64,
}

impl Tails {
    /// The cells of the rows `rows` of this stretch.
    fn rows_in(&self, rows: std::ops::Range<usize>) -> impl Iterator<Item = &[u8]> + '_ {
        rows.map(|n| {
            let first = if n == 0 { 0 } else { self.ends[n - 1] };
            &self.text[first..self.ends[n]]
        })
    }
}

impl Results {
    /// Column names: the BY fields, then the trailing cells.
    pub(crate) fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// True when there are no rows.
    pub(crate) fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The rows in order; each yields its cells, one per column.
    pub(crate) fn rows(
        &self,
    ) -> impl Iterator<Item = impl Iterator<Item = Cow<'_, [u8]>> + '_> + '_ {
        (self.sorted.iter().zip(self.tails_in(0..self.len())))
            .map(|((parts, _), tails)| parts.chain(Parts::new(tails)))
    }

    /// The rows `rows`, in order, as their encoded keys (see
    /// [`write_key_csv`]) and the CSV of their trailing cells, each cell
    /// followed by a comma: a row's CSV line is the key's cells then these,
    /// the last comma made the newline.
    pub(crate) fn csv_rows_in(
        &self,
        rows: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (&[u8], Cells, &[u8])> + '_ {
        (self
            .sorted
            .keys_cells_in(rows.clone())
            .zip(self.tails_in(rows)))
        .map(|((key, cells, _), tails)| (key, cells, tails))
    }

    /// Bytes of all rows' CSV lines, as [`Results::csv_rows_in`] gives them.
    pub(crate) fn csv_bytes(&self) -> usize {
        self.sorted.csv_bytes() + self.tails.iter().map(|t| t.text.len()).sum::<usize>()
    }

    /// The trailing cells of the rows `rows`.
    fn tails_in(&self, rows: std::ops::Range<usize>) -> impl Iterator<Item = &[u8]> + '_ {
        stretches(self.tails.iter().map(|t| t.ends.len()), rows)
            .flat_map(|(i, r)| self.tails[i].rows_in(r))
    }

    /// The same rows as an owned [`Table`] (for small outputs: offline
    /// rendering and tests).
    pub fn to_table(&self) -> Table {
        Table {
            columns: self.columns.iter().map(|c| c.to_string()).collect(),
            rows: self
                .rows()
                .map(|cells| cells.map(Cow::into_owned).collect())
                .collect(),
        }
    }
}

/// Where the engine's fields are, as indexes: [`Engine::fields`] positions
/// for the extra fields, BY-list positions for the BY fields the
/// predicates read. Resolved once, in [`Engine::new`].
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
    /// BY positions (both modes' lists have them; see `Engine::new`).
    process_name: usize,
    dest_ip: Option<usize>,
    original_file_name: Option<usize>,
    process: Option<usize>,
    /// BY positions the CIM fill writes (noargs only).
    fill_unknown: [Option<usize>; 4],
    fill_names: [(Option<usize>, Option<usize>); 2],
    vendor_product: Option<usize>,
}

/// Appends one time cell of a row's tails and its comma: nothing for no
/// time, the epoch number in a partial row, else the rendered time (`cell`
/// is scratch). True when the time is past the calendar (a millisecond
/// epoch, say) and kept its number rather than failing the search.
fn time_cell(
    text: &mut Vec<u8>,
    t: Option<f64>,
    partial: bool,
    times: &mut TimeCache<'_>,
    cell: &mut Vec<u8>,
) -> bool {
    let mut left = false;
    match t {
        None => {}
        Some(t) if partial => write_number(text, t),
        Some(t) => {
            cell.clear();
            if times.write(t, cell).is_err() {
                left = true;
                write_number(cell, t);
            }
            csv_cell(text, cell);
        }
    }
    text.push(b',');
    left
}

/// The longest BY list ([`NOARGS_BY`]); values of one row live on the stack.
const MAX_BY: usize = 20;
const _: () = assert!(NETWORK_BY.len() <= MAX_BY && NOARGS_BY.len() <= MAX_BY);
// A key's values fit in [`Cells`], which `key_csv_room` relies on.
const _: () = assert!(MAX_BY <= 32);

/// The detection engine for one process.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    schema: Schema,
    extras: Extras,
    dest: DestFilter,
    regex: Regex,
    groups: Groups,
    stats: Stats,
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
        let by = cfg.mode.by_fields();
        let mut fields: Vec<&'static str> = by.to_vec();
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
        let at = |name: &str| by.iter().position(|f| *f == name);
        let fill = |name: &str| at(name).filter(|_| fills);
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
            // Both BY lists hold process_name (a spec.rs test pins it).
            process_name: at("process_name").unwrap_or(0),
            dest_ip: at("dest_ip"),
            original_file_name: at("original_file_name"),
            process: at("process"),
            fill_unknown: ["dest", "user", "process", "parent_process"].map(fill),
            fill_names: [
                (fill("process_name"), at("process")),
                (fill("parent_process_name"), at("parent_process")),
            ],
            vendor_product: fill("vendor_product"),
        };
        let regex = Regex::new(cfg.binary.noargs_pattern()).unwrap_or_else(|_| {
            // The two patterns are constants covered by unit tests.
            Regex::new(r"[^\s\S]").expect("an empty-match regex always compiles")
        });
        Engine {
            dest: DestFilter::new(cfg.cidrs),
            groups: Groups::new(cfg.max_groups),
            schema: Schema::new(fields, &cfg),
            cfg,
            extras,
            regex,
            stats: Stats::default(),
            unrenderable: 0,
            untimed: 0,
        }
    }

    /// An empty engine of the same configuration, to take a share of the
    /// rows on another thread; [`Engine::absorb`] adds its groups and
    /// accounting back.
    pub(crate) fn shard(&self) -> Engine {
        Engine::new(self.cfg.clone())
    }

    /// Adds `other`'s groups and accounting to this engine's, as if its rows
    /// had been pushed here, and leaves `other` empty.
    ///
    /// # Errors
    ///
    /// A group limit, now counted over both tables' groups together.
    pub(crate) fn absorb(&mut self, other: &mut Engine) -> Result<(), Error> {
        self.absorb_accounting(other);
        self.groups.absorb(&mut other.groups).map_err(Error::from)
    }

    /// Adds `other`'s accounting (rows and warnings, not groups) to this
    /// engine's, leaving `other`'s at zero.
    pub(crate) fn absorb_accounting(&mut self, other: &mut Engine) {
        self.stats.add(&std::mem::take(&mut other.stats));
        self.unrenderable += std::mem::take(&mut other.unrenderable);
        self.untimed += std::mem::take(&mut other.untimed);
    }

    /// The groups held and their key bytes, at most (a key waiting for its
    /// lookup counts as a group).
    pub(crate) fn load(&self) -> (usize, usize) {
        self.groups.load()
    }

    /// Takes every group out, sorted (for [`Engine::results_of`], once
    /// merged with other engines' by [`Sorted::merge_cut`]).
    pub(crate) fn take_sorted(&mut self) -> Sorted {
        self.groups.take_sorted()
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.cfg
    }

    /// The field names the engine reads, in the index order [`Row::get`] uses.
    pub(crate) fn fields(&self) -> &[&'static str] {
        self.schema.fields()
    }

    /// What a reader needs to hand rows to this engine: fields, the column
    /// names each may arrive under, the needle and the partial marker.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The fields splunkd must extract and send for this engine, as a
    /// getinfo `required_fields` list: every field it reads ([`Engine::fields`])
    /// plain, then under the other names the [`Schema`] says it may arrive
    /// as (the mode's data-model prefix, [`Mode::prefixes`], unless the field
    /// is never prefixed, [`is_unprefixed`](spec::is_unprefixed)). Never `_raw`: no field list
    /// holds it.
    pub(crate) fn required_fields(&self) -> Vec<String> {
        let s = &self.schema;
        let mut out = Vec::with_capacity(s.len() * 2);
        for i in 0..s.len() {
            if let Some((plain, prefixed)) = s.names(i).split_last() {
                out.push(plain.clone());
                out.extend(prefixed.iter().cloned());
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
        self.schema.needle()
    }

    /// Counts rows that a reader skipped because they lack [`Engine::needle`].
    pub fn skip(&mut self, rows: u64) {
        self.account(Admit::Filtered, rows);
    }

    /// The accounting so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Filters one row and adds its group memberships.
    ///
    /// # Errors
    ///
    /// A group or membership limit was reached.
    pub fn push<R: Row + ?Sized>(&mut self, row: &R) -> Result<(), Error> {
        self.push_admit(row).map(|_| ())
    }

    /// As [`Engine::push`], and says what became of the row.
    ///
    /// # Errors
    ///
    /// A group or membership limit was reached.
    pub(crate) fn push_outcome<R: Row + ?Sized>(&mut self, row: &R) -> Result<Outcome, Error> {
        Ok(match self.push_admit(row)? {
            Admit::Kept => Outcome::Kept,
            Admit::Filtered => Outcome::Filtered,
            Admit::DroppedRegex => Outcome::RegexRejected,
            Admit::DroppedMissing(fields) => Outcome::MissingFields(
                (self.cfg.mode.by_fields().iter().enumerate().take(32))
                    .filter(|(i, _)| fields >> i & 1 == 1)
                    .map(|(_, name)| *name)
                    .collect(),
            ),
        })
    }

    /// The admit path, then the accounting.
    fn push_admit<R: Row + ?Sized>(&mut self, row: &R) -> Result<Admit, Error> {
        let admit = self.admit(row)?;
        self.account(admit, 1);
        Ok(admit)
    }

    /// The one place rows are counted: `rows` rows that ended as `admit`.
    fn account(&mut self, admit: Admit, rows: u64) {
        let s = &mut self.stats;
        s.rows_in += rows;
        match admit {
            Admit::Filtered => s.rows_filtered += rows,
            Admit::Kept => s.rows_kept += rows,
            Admit::DroppedRegex => s.rows_dropped_regex += rows,
            Admit::DroppedMissing(fields) => {
                s.rows_dropped_missing += rows;
                let by = self.cfg.mode.by_fields();
                for (i, name) in by.iter().enumerate().take(32) {
                    if fields >> i & 1 == 1 {
                        *s.missing.entry(name).or_default() += rows;
                    }
                }
            }
        }
        if admit != Admit::Filtered {
            s.rows_matched += rows;
        }
    }

    /// The admit path every row takes, network, noargs or partial: select,
    /// read the BY values, apply the null and regex rules, join the groups.
    fn admit<R: Row + ?Sized>(&mut self, row: &R) -> Result<Admit, Error> {
        let x = self.extras;
        let partial = x.marker.is_some_and(|i| !row.get(i).is_null());
        let shape = if partial {
            Shape::Aggregated(first_number(&row.get(x.count)).unwrap_or(0.0))
        } else {
            self.shape(row)
        };
        let by = self.cfg.mode.by_fields();
        let mut values: [Values<'_>; MAX_BY] = std::array::from_fn(|i| {
            if i < by.len() {
                row.get(i)
            } else {
                Values::Null
            }
        });
        let values = &mut values[..by.len()];
        // This command's own partials were selected by the map phase.
        if !partial {
            if self.cfg.cim_fill && self.cfg.mode == Mode::Noargs {
                self.fill(row, values);
            }
            if !self.selected(row, shape, values) {
                return Ok(Admit::Filtered);
            }
        }
        // Network (stats): a null BY field drops the event. Noargs (tstats
        // fillnull_value=null): it is the string "null".
        let mut missing = 0u32;
        for (i, v) in values.iter_mut().enumerate() {
            if v.is_null() {
                match self.cfg.mode {
                    Mode::Network => missing |= 1 << i.min(31),
                    Mode::Noargs => *v = Values::One(b"null"),
                }
            }
        }
        if missing != 0 {
            return Ok(Admit::DroppedMissing(missing));
        }
        // `regex process=...` runs after stats, on each group's single
        // `process` value; filtering the values first gives the same groups.
        if let (false, Mode::Noargs, Some(p)) = (partial, self.cfg.mode, x.process) {
            let regex = &self.regex;
            values[p] = match std::mem::replace(&mut values[p], Values::Null) {
                Values::One(v) if regex.is_match(v) => Values::One(v),
                Values::Many(list) => {
                    let kept: Vec<_> = list.into_iter().filter(|v| regex.is_match(v)).collect();
                    if kept.is_empty() {
                        Values::Null
                    } else {
                        Values::Many(kept)
                    }
                }
                _ => Values::Null,
            };
            if values[p].is_null() {
                return Ok(Admit::DroppedRegex);
            }
        }
        let acc = self.row_acc(row, shape);
        self.add_memberships(values, &acc)?;
        if matches!(shape, Shape::Event) && acc.first_time().is_none() {
            self.untimed += 1;
        }
        Ok(Admit::Kept)
    }

    fn shape<R: Row + ?Sized>(&self, row: &R) -> Shape {
        let count = || first_number(&row.get(self.extras.count));
        match self.cfg.input {
            InputShape::Events => Shape::Event,
            InputShape::Aggregated => Shape::Aggregated(count().unwrap_or(1.0)),
            InputShape::Auto => count().map_or(Shape::Event, Shape::Aggregated),
        }
    }

    /// The detection's selection, before any BY-field rule.
    fn selected<R: Row + ?Sized>(&self, row: &R, shape: Shape, values: &[Values<'_>]) -> bool {
        let x = &self.extras;
        if self.cfg.sysmon {
            let get = |f: Option<usize>| f.map_or(Values::Null, |i| row.get(i));
            if !filter::sysmon(&get(x.sourcetype), &get(x.source)) {
                return false;
            }
        }
        let exe = self.cfg.binary.exe();
        let process_name = filter::equals(&values[x.process_name], exe);
        match self.cfg.mode {
            Mode::Network => {
                let event_ok = match (shape, x.event_id) {
                    (Shape::Event, Some(i)) => row.get(i).any(|v| v == b"3"),
                    _ => true,
                };
                let dest = x.dest_ip.map_or(&Values::Null, |i| &values[i]);
                // An absent dest_ip fails `dest_ip!=...` but passes `NOT dest_ip IN`.
                event_ok && process_name && self.dest.passes(dest)
            }
            Mode::Noargs => {
                let ofn = x.original_file_name.map_or(&Values::Null, |i| &values[i]);
                process_name || filter::equals(ofn, self.cfg.binary.original_file_name())
            }
        }
    }

    /// The CIM Endpoint data-model fills (`cim_fill=t`, noargs).
    fn fill<'a, R: Row + ?Sized>(&self, row: &'a R, values: &mut [Values<'a>]) {
        let x = &self.extras;
        for i in x.fill_unknown.into_iter().flatten() {
            let v = std::mem::replace(&mut values[i], Values::Null);
            values[i] = filter::unknown_if_null(v);
        }
        for (name, cmd) in x.fill_names {
            if let (Some(i), Some(c)) = (name, cmd) {
                let cmd = values[c].clone();
                let v = std::mem::replace(&mut values[i], Values::Null);
                values[i] = filter::name_from_command_line(v, &cmd);
            }
        }
        if let Some(i) = x.vendor_product {
            let get = |f: Option<usize>| f.map_or(Values::Null, |f| row.get(f));
            let (vendor, product) = (get(x.vendor), get(x.product));
            let sourcetype = get(x.sourcetype);
            let v = std::mem::replace(&mut values[i], Values::Null);
            values[i] = filter::vendor_product(v, &vendor, &product, &sourcetype);
        }
    }

    fn row_acc<R: Row + ?Sized>(&self, row: &R, shape: Shape) -> Acc {
        let numbers = |i: usize, f: &mut dyn FnMut(f64)| {
            row.get(i).iter().filter_map(parse_number).for_each(f);
        };
        let mut acc = Acc::default();
        match shape {
            Shape::Event => {
                acc.count = 1.0;
                numbers(self.extras.time, &mut |t| {
                    acc.first = acc.first.min(t);
                    acc.last = acc.last.max(t);
                });
            }
            Shape::Aggregated(count) => {
                acc.count = count;
                numbers(self.extras.first, &mut |t| acc.first = acc.first.min(t));
                numbers(self.extras.last, &mut |t| acc.last = acc.last.max(t));
            }
        }
        acc
    }

    fn add_memberships(&mut self, values: &[Values<'_>], acc: &Acc) -> Result<(), Error> {
        // The memberships (the product of the value counts) and the longest
        // key they can make, in one pass; a single value, most fields of
        // most rows, needs no iterator.
        let (mut total, mut widest) = (Some(1usize), 0usize);
        for v in values {
            let (n, longest) = match v {
                Values::One(x) => (1, x.len()),
                _ => (v.len(), v.iter().map(<[u8]>::len).max().unwrap_or(0)),
            };
            total = total.and_then(|t| t.checked_mul(n));
            widest += max_encoded_len(longest);
        }
        let total = total.unwrap_or(usize::MAX);
        if total > MAX_MEMBERSHIPS_PER_ROW {
            return Err(Error::TooManyMemberships { count: total });
        }
        // Refuse before building keys whose sizes alone would pass the cap.
        if widest.saturating_mul(total) > MAX_GROUP_KEY_BYTES {
            return Err(Error::GroupsTooLarge {
                limit: MAX_GROUP_KEY_BYTES,
            });
        }
        if total == 1 {
            // Every value single, as in most rows: one key, no odometer.
            let encode = |key: &mut Vec<u8>| encode_key(key, values.iter().map(|v| v.nth(0)));
            self.groups.add_with(encode, acc)?;
            return Ok(());
        }
        let mut index = [0usize; MAX_BY];
        let index = &mut index[..values.len()];
        for _ in 0..total {
            let encode = |key: &mut Vec<u8>| {
                encode_key(key, values.iter().zip(index.iter()).map(|(v, &i)| v.nth(i)))
            };
            self.groups.add_with(encode, acc)?;
            // Odometer over the value lists: the cartesian product, no dedup.
            for (slot, v) in index.iter_mut().zip(values).rev() {
                *slot += 1;
                if *slot < v.len() {
                    break;
                }
                *slot = 0;
            }
        }
        Ok(())
    }

    fn columns(&self, partial: bool) -> Vec<&'static str> {
        let by = self.cfg.mode.by_fields().iter();
        let marker = partial.then_some(PARTIAL_MARKER);
        by.chain(AGGREGATES.iter()).copied().chain(marker).collect()
    }

    /// Takes the groups accumulated so far as partial rows for the reduce
    /// phase: the BY fields, `count`, `firstTime`/`lastTime` as epoch
    /// seconds, and [`PARTIAL_MARKER`] = 1. The table is left empty. (The
    /// command takes them through [`Engine::results_of`], with its helper
    /// threads' tables.)
    #[cfg(test)]
    pub(crate) fn drain_partials(&mut self) -> Results {
        self.results(true)
    }

    /// The final result: every group, sorted by its BY tuple, with
    /// `firstTime`/`lastTime` rendered. The table is left empty. A time the
    /// format cannot render keeps its epoch number (see
    /// [`Engine::time_warning`]).
    pub fn finish(&mut self) -> Results {
        self.results(false)
    }

    fn results(&mut self, partial: bool) -> Results {
        let sorted = self.groups.take_sorted();
        self.results_of(sorted, partial)
    }

    /// The result rows of `sorted`, this engine's groups and maybe others'
    /// (see [`Engine::results`]): partial rows for the reduce phase, or the
    /// final ones.
    pub(crate) fn results_of(&mut self, sorted: Sorted, partial: bool) -> Results {
        let stretches = sorted.stretches().iter();
        let tails = stretches
            .map(|s| self.tails(s.accs(), s.len(), partial))
            .collect();
        self.results_from(sorted, tails, partial)
    }

    /// The result rows of `sorted`, whose trailing cells `tails` rendered
    /// stretch by stretch ([`Engine::tails`]).
    pub(crate) fn results_from(
        &mut self,
        sorted: Sorted,
        tails: Vec<Tails>,
        partial: bool,
    ) -> Results {
        debug_assert!(
            (sorted.stretches().iter().map(|s| s.len())).eq(tails.iter().map(|t| t.ends.len())),
            "the tails of every stretch"
        );
        self.unrenderable += tails.iter().map(|t| t.unrenderable).sum::<u64>();
        Results {
            columns: self.columns(partial),
            sorted,
            tails,
        }
    }

    /// The trailing cells (`count`, the times and, in partial rows, the
    /// marker) of the `len` groups whose accumulators are `accs`, in
    /// order. It reads only the configuration, so stretches of one result
    /// can be rendered on threads of their own.
    pub(crate) fn tails<'a>(
        &self,
        accs: impl Iterator<Item = &'a Acc>,
        len: usize,
        partial: bool,
    ) -> Tails {
        let mut text = Vec::with_capacity(len * 48);
        let mut ends = Vec::with_capacity(len);
        let mut unrenderable = 0u64;
        let mut times = TimeCache::new(&self.cfg.time, 2 * len);
        let mut cell = Vec::new();
        for acc in accs {
            write_number(&mut text, acc.count);
            text.push(b',');
            let (first, last) = (acc.first_time(), acc.last_time());
            let from = text.len();
            let left = time_cell(&mut text, first, partial, &mut times, &mut cell);
            unrenderable += u64::from(left);
            if first.is_some() && first.map(f64::to_bits) == last.map(f64::to_bits) {
                // A group of one event, say: the same time, the same cell.
                text.extend_from_within(from..);
                unrenderable += u64::from(left);
            } else {
                let left = time_cell(&mut text, last, partial, &mut times, &mut cell);
                unrenderable += u64::from(left);
            }
            if partial {
                text.extend_from_slice(b"1,");
            }
            ends.push(text.len());
        }
        Tails {
            text,
            ends,
            unrenderable,
        }
    }

    /// A WARN text when some firstTime/lastTime could not be rendered and
    /// were left as epoch numbers.
    pub(crate) fn time_warning(&self) -> Option<String> {
        (self.unrenderable > 0).then(|| {
            format!(
                "{} firstTime/lastTime values are outside the calendar and were left as epoch seconds (is _time in milliseconds?)",
                self.unrenderable
            )
        })
    }

    /// A WARN text when kept events had no numeric `_time`: they count, but
    /// a group made only of such events shows firstTime/lastTime empty.
    pub(crate) fn untimed_warning(&self) -> Option<String> {
        let n = self.untimed;
        (n > 0).then(|| {
            let noun = if n == 1 { "event has" } else { "events have" };
            format!("{n} kept {noun} no numeric _time; they are counted, and groups made only of them show firstTime and lastTime empty")
        })
    }

    /// A WARN text when matched rows were dropped only because BY fields were
    /// missing, naming the fields and counts.
    pub(crate) fn missing_field_warning(&self) -> Option<String> {
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

impl From<GroupLimit> for Error {
    fn from(limit: GroupLimit) -> Error {
        match limit {
            GroupLimit::Count(limit) => Error::TooManyGroups { limit },
            GroupLimit::Bytes(limit) => Error::GroupsTooLarge { limit },
        }
    }
}

/// The first value, as a number.
fn first_number(v: &Values<'_>) -> Option<f64> {
    match v {
        Values::One(v) => parse_number(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
