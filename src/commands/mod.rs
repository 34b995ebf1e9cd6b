//! Dispatch from a parsed command line to the command implementations.

mod rules_check;
mod rules_eval;
mod schema;

use std::process::ExitCode;

use crate::cli::{Cli, Command, RulesCommand};
use crate::error::CommandError;

/// Runs a command; the exit code says whether its input was valid.
pub fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    match cli.command {
        Command::Rules(RulesCommand::Check(args)) => rules_check::run(&args),
        Command::Rules(RulesCommand::Eval(args)) => rules_eval::run(&args),
    }
}
