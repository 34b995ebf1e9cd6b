//! `segstream topics create`: make the deployment's topics.

use std::process::ExitCode;

use crate::cli::ConfigArg;
use crate::error::CommandError;
use segstream_config::DeploymentConfig;
use segstream_kafka::admin::ensure_topics;

/// Creates the missing topics and says which.
pub fn create(args: &ConfigArg) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config)?;
    let created = ensure_topics(&config).map_err(CommandError::Invalid)?;
    if created.is_empty() {
        println!("topics: all exist");
    } else {
        println!("topics: created {}", created.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
