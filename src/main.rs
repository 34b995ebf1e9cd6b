//! The `segstream` command: parses the command line and runs the chosen command.
//!
//! Contract: a thin binary. `cli` declares every command and flag as data; `commands`
//! wires the crates together for each one (the engine is `segstream-dataflows`, the
//! connectors are `segstream-kafka`, `segstream-redis` and `segstream-collector`, the
//! embedded deployment is `segstream-embedded`); it holds no protocol, storage or engine
//! logic of its own.
//!
//! Exit codes: 0 success, 1 the input was checked and found wrong (e.g. rule errors),
//! 2 the command could not run (bad flags, unreadable files).

use std::process::ExitCode;

use clap::Parser;
use segstream_telemetry::logging::LogFormat;

mod cli;
mod commands;
mod error;
mod heap;

/// mimalloc: the classifier allocates many small, short-lived values per event, which
/// glibc's allocator serves markedly slower (see docs/benchmarks.md); counting live
/// bytes per thread for the bench (`heap.rs`).
#[global_allocator]
static ALLOCATOR: heap::CountingMiMalloc = heap::CountingMiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let format = LogFormat::from(cli.log_format);
    if let Err(error) = segstream_telemetry::logging::init(format) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // The edge where a command's error is reported, once.
            commands::report::failure(&error.to_string());
            ExitCode::from(2)
        }
    }
}
