//! The command-line surface, declared as data with clap.
//!
//! Contract: every command and flag is declared here with its help text and default;
//! `commands` turns a parsed [`Cli`] into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// segstream: real-time user segmentation on timely dataflow.
#[derive(Debug, Parser)]
#[command(name = "segstream", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, preview and manage segment rules.
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// `segstream rules …`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files against the schema and print every error like a compiler.
    Check(CheckArgs),
    /// Evaluate rules against a sample user view (JSON) and show what they read.
    Eval(EvalArgs),
}

/// Where the schema is.
#[derive(Debug, Args)]
pub struct SchemaArg {
    /// The schema of events, profile and stats.
    #[arg(long, default_value = "configs/schema.toml")]
    pub schema: PathBuf,
}

/// `segstream rules check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rule files or directories of `*.toml` rule files.
    #[arg(default_value = "configs/rules")]
    pub paths: Vec<PathBuf>,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// One JSON object per segment, per line.
    Json,
}

/// `segstream rules eval`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A rule file or a directory of rule files (use the directory when parents are in other files).
    #[arg(long)]
    pub rule: Vec<PathBuf>,
    /// The user view: JSON with now, profile, stats and events (see docs/rules.md).
    #[arg(long)]
    pub view: PathBuf,
    /// Only this segment.
    #[arg(long)]
    pub segment: Option<String>,
    /// The tick that event times are rounded down to, e.g. 100ms.
    #[arg(long, default_value = "100ms")]
    pub tick: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}
