//! `segstream generate`: write the traffic model's events to an NDJSON file.
//!
//! Contract: deterministic for a seed: the same flags give the same file. Event times
//! start at `--start` and advance at `--rate` events per second of event time, so the
//! file replays the same way however fast it is read (`segstream run --input`).

use std::io::Write;
use std::process::ExitCode;

use segstream_time::parse_timestamp;
use segstream_traffic::{Traffic, TrafficConfig};

use crate::cli::GenerateArgs;
use crate::error::CommandError;

/// Writes the file.
pub fn run(args: &GenerateArgs) -> Result<ExitCode, CommandError> {
    let start = parse_timestamp(&args.start).map_err(|e| CommandError::Invalid(format!("--start: {e}")))?;
    if args.rate <= 0.0 {
        return Err(CommandError::Invalid("--rate must be positive".into()));
    }
    let config = TrafficConfig {
        users: args.users,
        seed: args.seed,
        late_rate: args.late_rate,
        duplicate_rate: args.duplicate_rate,
        ..TrafficConfig::default()
    };
    let mut traffic = Traffic::new(config, 0, 1);
    let io = |source| CommandError::Read {
        path: args.out.clone(),
        source,
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out).map_err(io)?);
    for n in 0..args.events {
        let now = start as u64 + (n as f64 * 1000.0 / args.rate) as u64;
        writeln!(out, "{}", traffic.next_line(now)).map_err(io)?;
    }
    out.flush().map_err(io)?;
    println!("wrote {} events of {} users to {}", args.events, args.users, args.out.display());
    Ok(ExitCode::SUCCESS)
}
