//! The classifier's acknowledgement of the rule set it applied (`segstream classify`).
//!
//! Contract: worker 0 calls [`RulesAcker::observe`] after every step with what its side
//! inputs last applied (rule-set version, rule-input time) and the durable frontier.
//! Once the frontier has passed that time (every worker of every process has applied
//! the set and made its changes durable), it writes the acknowledgement to Redis
//! (`segstream_redis::rules_live`). A failed write is tried again at most once a second,
//! so a Redis outage never holds the worker.

use std::time::{Duration, Instant};

use segstream_redis::rules_live::{try_write, RulesLive};
use segstream_redis::Retrying;

/// How long after a failed write the next one is tried.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Worker 0's acknowledgements (see the module contract).
pub struct RulesAcker {
    redis: Retrying,
    group: String,
    workers: u64,
    acked: Option<(u64, u64)>,
    failed_at: Option<Instant>,
}

impl RulesAcker {
    /// Acknowledgements for `workers` workers of deployment `group`, to Redis at `url`.
    pub fn new(url: &str, group: &str, workers: u64) -> Result<RulesAcker, String> {
        Ok(RulesAcker {
            redis: Retrying::new(url)?,
            group: group.to_string(),
            workers,
            acked: None,
            failed_at: None,
        })
    }

    /// Acknowledges `applied` once `durable_frontier` has passed its time.
    pub fn observe(&mut self, applied: Option<(u64, u64)>, durable_frontier: u64) {
        let Some((version, at)) = applied else { return };
        let due = self.acked != Some((version, at)) && durable_frontier > at;
        if !due || self.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return;
        }
        let live = RulesLive {
            version,
            workers: self.workers,
            at_ms: segstream_time::wall_clock_ms(),
        };
        match try_write(&mut self.redis, &self.group, live) {
            Ok(()) => {
                self.acked = Some((version, at));
                self.failed_at = None;
            }
            Err(e) => {
                if self.failed_at.is_none() {
                    eprintln!("redis: acknowledging rule-set v{version}: {e}; trying again");
                }
                self.failed_at = Some(Instant::now());
            }
        }
    }
}
