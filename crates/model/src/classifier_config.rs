//! Time parameters of the classifier.
//!
//! Contract: every duration is in milliseconds and positive where it must be;
//! [`ClassifierConfig::validate`] says which value is wrong. Defaults are those of
//! `docs/architecture.md`.

use serde::{Deserialize, Serialize};

use segstream_time::{MS_PER_DAY, MS_PER_MINUTE, MS_PER_SECOND};

/// How the classifier treats time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// Event times are rounded down to multiples of this (the timely timestamp).
    pub tick_ms: u64,
    /// A partition's watermark trails its highest event time by this much.
    pub max_out_of_order_ms: u64,
    /// Events are deduplicated within this much event time of the watermark; older
    /// events go to the late sideline.
    pub dedup_horizon_ms: u64,
    /// Event times are clamped to at most `received_at` plus this.
    pub future_tolerance_ms: u64,
    /// A caught-up partition silent this long stops holding the watermark back.
    pub idle_timeout_ms: u64,
    /// Raw events kept per user, so that features of a newly added rule start from the
    /// events of this much recent event time.
    pub history_ms: u64,
    /// A user with no windowed state (no pending timer) whose last input is older than
    /// this is evicted, keeping only its condition results and memberships; its next
    /// input rebuilds it from the profile and stats arrangements. Unwindowed features
    /// (`last`, `first_seen`, `last_seen`) are therefore remembered for this long after
    /// a user's last input. 0: never.
    pub user_ttl_ms: u64,
}

impl Default for ClassifierConfig {
    fn default() -> ClassifierConfig {
        ClassifierConfig {
            tick_ms: 100,
            max_out_of_order_ms: MS_PER_SECOND as u64,
            dedup_horizon_ms: MS_PER_DAY as u64,
            future_tolerance_ms: MS_PER_MINUTE as u64,
            idle_timeout_ms: 5 * MS_PER_SECOND as u64,
            history_ms: MS_PER_DAY as u64,
            user_ttl_ms: MS_PER_DAY as u64,
        }
    }
}

impl ClassifierConfig {
    /// Checks the values; the error names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.tick_ms == 0 {
            return Err("tick must be longer than zero".into());
        }
        if self.dedup_horizon_ms < self.max_out_of_order_ms {
            return Err("the dedup horizon must be at least max_out_of_order".into());
        }
        Ok(())
    }

    /// The tick a time belongs to.
    pub fn tick_of(&self, time_ms: u64) -> u64 {
        time_ms - time_ms % self.tick_ms.max(1)
    }
}
