//! regsvcsdetect: the ESCU regsvcs.exe detections (MITRE T1218.009) as one Splunk chunked search command.
//!
//! `| regsvcsdetect mode=network` is "Detect Regsvcs with Network Connection"
//! and `| regsvcsdetect mode=noargs` is "Detect Regsvcs with No Command Line
//! Arguments", row for row. The binary speaks splunkd's chunked external
//! search command protocol (SCP v2) on stdin/stdout, including the map/reduce
//! split, and runs the same detections offline over event files.
//!
//! # Layout
//!
//! - [`protocol`]: chunk framing and metadata types, nothing else.
//! - [`body`]: CSV bodies to rows (with `__mv_` and a literal prefilter) and back.
//! - [`detect`]: the detection engine, with no I/O.
//! - [`options`]: the command's `name=value` options, for SPL and the CLI alike.
//! - [`command`]: the connection to splunkd: getinfo to a plan, execute bodies through one
//!   [`command::Sink`] into the engine, `record=t` as a tee; the one place errors become replies.
//! - [`offline`]: `run` over event files (CSV, JSON lines, Sysmon XML), `replay` and `demo`.
//! - [`alloc`]: the process allocator, asking Linux for huge pages for large blocks.
//! - `bytes`: short copies, comparisons and byte scans kept inline (for the static musl build), and the prefetch hint.
//! - [`cli`]: the offline subcommands (`run`, `replay`, `demo`); the protocol starts at [`command::serve`].

pub mod alloc;
pub mod body;
mod bytes;
pub mod cli;
pub mod command;
pub mod detect;
pub mod offline;
pub mod options;
pub mod protocol;
