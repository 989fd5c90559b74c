//! One integration binary (one link step on a 2-core machine); each module is one concern.

#![allow(clippy::unwrap_used)]

// Shared machinery: request builders, the one child-process runner, the judge of a run, reply parsing.
mod util;

// Golden protocol sessions: tests/fixtures/sessions/<name>.in against <name>.out.
mod sessions;
// Real splunkd recordings from ../shared, with the getinfo chunk replaced (ignored: needs ../shared).
mod recordings;
// Protocol behaviour of the real binary, as specs.
mod protocol;
// Results independent of chunking, through the whole protocol path.
mod parity;
// Offline use: run over event files, record=t, replay and demo.
mod offline;
// The Splunk app's .conf files against the code, and the packaged binaries (ignored before `make package`).
mod app;
// Bundle replication and splunkd's platform lookup per deployment kind and tier, over the built packages.
mod deploy;
// The README options table and searchbnf.conf against options::OPTIONS.
mod docs;
// Map/reduce equivalence: K map engines (and K map processes) plus a reduce equal one process.
mod mapreduce;
// Malformed request streams and their expected outcomes, with hang and memory guards.
mod malformed;
// No network, no subprocess, files only in dispatch_dir, no session key in any output.
mod safety;
// Row accounting balances on every final reply.
mod accounting;
