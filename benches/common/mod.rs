//! What the benches share: where the release binary is, and their numeric settings.

use std::path::{Path, PathBuf};

/// The release binary `make bench` builds first.
pub fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("release").join("regsvcsdetect");
    assert!(
        bin.exists(),
        "{} is missing: run `make build` first (`make bench` does)",
        bin.display()
    );
    bin
}

/// A whole-number setting from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
