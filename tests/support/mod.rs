//! Running the `segstream` binary from integration tests, and scratch files for them.
#![allow(dead_code)]

pub mod deployment;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `segstream` with `args` in the project directory.
pub fn segstream(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!("cannot run segstream: {e}"),
    }
}

/// A path in this test binary's scratch directory `dir`.
pub fn scratch_path(dir: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir.join(name)
}
