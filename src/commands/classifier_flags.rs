//! Turning the classifier's command-line flags into a validated configuration.

use segstream_dataflows::classifier::ClassifierConfig;
use segstream_dataflows::time::parse_duration;

use crate::cli::ClassifierFlags;
use crate::error::CommandError;

fn millis(flag: &str, text: &str) -> Result<u64, CommandError> {
    let ms = parse_duration(text).map_err(|e| CommandError::Invalid(format!("--{flag}: {e}")))?;
    u64::try_from(ms).map_err(|_| CommandError::Invalid(format!("--{flag} must not be negative")))
}

/// The configuration the flags describe, validated.
pub fn classifier_config(flags: &ClassifierFlags) -> Result<ClassifierConfig, CommandError> {
    let config = ClassifierConfig {
        tick_ms: millis("tick", &flags.tick)?,
        max_out_of_order_ms: millis("max-out-of-order", &flags.max_out_of_order)?,
        dedup_horizon_ms: millis("dedup-horizon", &flags.dedup_horizon)?,
        future_tolerance_ms: millis("future-tolerance", &flags.future_tolerance)?,
        idle_timeout_ms: millis("idle-timeout", &flags.idle_timeout)?,
        history_ms: millis("history", &flags.history)?,
    };
    config.validate().map_err(CommandError::Invalid)?;
    Ok(config)
}
