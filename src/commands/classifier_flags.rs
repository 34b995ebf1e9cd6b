//! Turning the classifier's command-line flags into a validated configuration.

use segstream_dataflows::classifier::ClassifierConfig;

use crate::cli::ClassifierFlags;
use crate::error::CommandError;
use segstream_config::ClassifierSection;

/// The configuration the flags describe, validated like the `[classifier]` section.
pub fn classifier_config(flags: &ClassifierFlags) -> Result<ClassifierConfig, CommandError> {
    let section = ClassifierSection {
        tick: flags.tick.clone(),
        max_out_of_order: flags.max_out_of_order.clone(),
        dedup_horizon: flags.dedup_horizon.clone(),
        future_tolerance: flags.future_tolerance.clone(),
        idle_timeout: flags.idle_timeout.clone(),
        history: flags.history.clone(),
        user_ttl: flags.user_ttl.clone(),
    };
    Ok(section.resolve(|key| format!("--{}", key.replace('_', "-")))?)
}
