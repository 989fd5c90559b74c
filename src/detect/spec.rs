//! The two ESCU detections as data: by-field lists, the fields each mode reads, and the binary names.

/// Which ESCU detection to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// "Detect Regsvcs with Network Connection" (Sysmon EventID 3).
    Network,
    /// "Detect Regsvcs with No Command Line Arguments" (Endpoint.Processes).
    Noargs,
}

/// Which .NET registration utility the detection looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// regsvcs.exe (the ESCU regsvcs detections).
    Regsvcs,
    /// regasm.exe (ESCU's twin "Detect Regasm ..." detections).
    Regasm,
}

impl Binary {
    /// The `process_name` value, compared case-insensitively.
    pub fn exe(self) -> &'static str {
        match self {
            Binary::Regsvcs => "regsvcs.exe",
            Binary::Regasm => "regasm.exe",
        }
    }

    /// The `original_file_name` value of the `process_<binary>` macro.
    pub(crate) fn original_file_name(self) -> &'static str {
        match self {
            Binary::Regsvcs => "RegSvcs.exe",
            Binary::Regasm => "RegAsm.exe",
        }
    }

    /// The ESCU `regex process=...` of the noargs detection, translated from
    /// PCRE to the `regex` crate: `.` is "any character but `\n`" in both, and
    /// PCRE's `$` (no /m) also matches before one final `\n`, hence `\n?\z`.
    /// Case folding is ASCII-only (`-u` on the literal part).
    pub(crate) fn noargs_pattern(self) -> &'static str {
        match self {
            Binary::Regsvcs => r"(?i-u:regsvcs\.exe)[^\n]{0,4}\n?\z",
            Binary::Regasm => r"(?i-u:regasm\.exe)[^\n]{0,4}\n?\z",
        }
    }

    /// The noargs regex as the ESCU search writes it (`regex process="…"`).
    pub(crate) fn noargs_spl(self) -> &'static str {
        match self {
            Binary::Regsvcs => r"(?i)(regsvcs\.exe.{0,4}$)",
            Binary::Regasm => r"(?i)(regasm\.exe.{0,4}$)",
        }
    }

    /// The ESCU detection name for a mode, as used in saved searches and filter macros.
    pub fn detection(self, mode: Mode) -> &'static str {
        match (self, mode) {
            (Binary::Regsvcs, Mode::Network) => "Detect Regsvcs with Network Connection",
            (Binary::Regsvcs, Mode::Noargs) => "Detect Regsvcs with No Command Line Arguments",
            (Binary::Regasm, Mode::Network) => "Detect Regasm with Network Connection",
            (Binary::Regasm, Mode::Noargs) => "Detect Regasm with no Command Line Arguments",
        }
    }
}

/// The 19 BY fields of the network detection, in output order.
pub const NETWORK_BY: [&str; 19] = [
    "action",
    "app",
    "dest",
    "dest_ip",
    "dest_port",
    "direction",
    "dvc",
    "protocol",
    "protocol_version",
    "src",
    "src_ip",
    "src_port",
    "transport",
    "user",
    "vendor_product",
    "process_name",
    "process_exec",
    "process_guid",
    "process_id",
];

/// The 20 BY fields of the noargs detection (`Processes.` dropped), in output order.
pub const NOARGS_BY: [&str; 20] = [
    "action",
    "dest",
    "original_file_name",
    "parent_process",
    "parent_process_exec",
    "parent_process_guid",
    "parent_process_id",
    "parent_process_name",
    "parent_process_path",
    "process",
    "process_exec",
    "process_guid",
    "process_hash",
    "process_id",
    "process_integrity_level",
    "process_name",
    "process_path",
    "user",
    "user_id",
    "vendor_product",
];

/// Aggregate columns that follow the BY fields in every output row.
pub const AGGREGATES: [&str; 3] = ["count", "firstTime", "lastTime"];

/// Data-model prefixes accepted on input field names; a prefixed value wins
/// over an unprefixed one. Each mode reads only its own data model's
/// ([`Mode::prefixes`]).
pub const PREFIXES: [&str; 2] = ["Processes.", "All_Traffic."];

/// The column that marks this command's own map-phase partial rows, so the
/// reduce merges them without filtering them again.
pub const PARTIAL_MARKER: &str = "regsvcsdetect_partial";

/// Fields that are never prefixed (`_time`, the stats aggregates, the partial marker).
pub fn is_unprefixed(field: &str) -> bool {
    field == "_time" || field == PARTIAL_MARKER || AGGREGATES.contains(&field)
}

impl Mode {
    /// The BY fields, in output order.
    pub fn by_fields(self) -> &'static [&'static str] {
        match self {
            Mode::Network => &NETWORK_BY,
            Mode::Noargs => &NOARGS_BY,
        }
    }

    /// The data-model prefix this mode's data can carry: `All_Traffic.`
    /// (Network_Traffic) for network, `Processes.` (Endpoint.Processes) for
    /// noargs. A field is read under it or plain, never under the other
    /// model's prefix, so `required_fields` never asks splunkd for it.
    pub(crate) fn prefixes(self) -> [&'static str; 1] {
        match self {
            Mode::Network => [PREFIXES[1]],
            Mode::Noargs => [PREFIXES[0]],
        }
    }

    /// The SPL name of the mode.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Network => "network",
            Mode::Noargs => "noargs",
        }
    }
}
