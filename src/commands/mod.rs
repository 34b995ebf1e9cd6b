//! Dispatch from a parsed command line to the command implementations.

mod activate;
mod bench;
mod bench_checkpoint;
mod bench_churn;
mod broker_bench;
mod cache_sync;
mod classifier_flags;
mod classify;
mod classify_checkpoints;
mod classify_lease;
mod collector;
mod console;
mod console_setup;
mod demo;
mod demo_checkpoints;
mod demo_console;
mod demo_lake;
mod demo_stats;
mod dry_runs;
mod generate;
mod lake_compact;
mod lake_write;
mod move_reports;
mod partners_source;
mod questions;
mod redis_writer;
mod replay;
pub(crate) mod report;
mod rules_acks;
mod rules_check;
mod rules_eval;
mod rules_publish;
mod rules_source;
mod run_file;
mod size_reports;
mod stats;
mod topics;
mod upsert_file;
mod user_lookups;

use std::process::ExitCode;

use crate::cli::{Cli, Command, LakeCommand, RulesCommand, TopicsCommand};
use crate::error::CommandError;

/// Runs a command; the exit code says whether its input was valid.
pub fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    match cli.command {
        Command::Rules(RulesCommand::Check(args)) => rules_check::run(&args),
        Command::Rules(RulesCommand::Eval(args)) => rules_eval::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Run(args) => run_file::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::BrokerBench(args) => broker_bench::run(&args),
        Command::Rules(RulesCommand::Publish(args)) => rules_publish::run(&args),
        Command::Classify(args) => classify::run(&args),
        Command::Collector(args) => collector::run(&args),
        Command::Console(args) => console::run(&args),
        Command::CacheSync(args) => cache_sync::run(&args),
        Command::Activate(command) => activate::run(&command),
        Command::Topics(TopicsCommand::Create(args)) => topics::create(&args),
        Command::Lake(LakeCommand::Write(args)) => lake_write::run(&args),
        Command::Lake(LakeCommand::Compact(args)) => lake_compact::run(&args),
        Command::Stats(args) => stats::run(&args),
    }
}
