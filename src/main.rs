//! The `segstream` command: parses the command line and runs the chosen command.
//!
//! Exit codes: 0 success, 1 the input was checked and found wrong (e.g. rule errors),
//! 2 the command could not run (bad flags, unreadable files).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the classifier allocates many small, short-lived values per event, which
/// glibc's allocator serves markedly slower (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = segstream::cli::Cli::parse();
    match segstream::commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
