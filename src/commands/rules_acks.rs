//! The classifier's acknowledgement of the rule set it applied (`segstream classify`).
//!
//! Contract: worker 0 calls [`RulesAcker::observe`] after every step with what its side
//! inputs last applied (rule-set version, rule-input time) and the durable frontier.
//! Once the frontier has passed that time (every worker of every process has applied
//! the set and made its changes durable), the acknowledgement goes to a writer thread
//! ([`super::redis_writer`]) that writes it to Redis (`segstream_redis::rules_live`);
//! a newer one replaces one not yet written. The worker never waits on Redis.

use std::sync::mpsc::SyncSender;

use segstream_redis::rules_live::{try_write, RulesLive};
use segstream_redis::Retrying;

use super::redis_writer::{spawn, Pending};

impl Pending for RulesLive {
    fn merge(&mut self, newer: Self) {
        *self = newer;
    }

    fn write(&self, redis: &mut Retrying, group: &str) -> Result<(), String> {
        try_write(redis, group, *self)
    }

    fn what(&self) -> String {
        format!("the acknowledgement of rule-set v{}", self.version)
    }
}

/// Worker 0's acknowledgements (see the module contract).
pub struct RulesAcker {
    writer: SyncSender<RulesLive>,
    workers: u64,
    acked: Option<(u64, u64)>,
}

impl RulesAcker {
    /// Acknowledgements for `workers` workers of deployment `group`, to Redis at `url`.
    pub fn new(url: &str, group: &str, workers: u64) -> Result<RulesAcker, String> {
        Ok(RulesAcker {
            writer: spawn("rules-acks", url, group)?,
            workers,
            acked: None,
        })
    }

    /// Acknowledges `applied` once `durable_frontier` has passed its time.
    pub fn observe(&mut self, applied: Option<(u64, u64)>, durable_frontier: u64) {
        let Some((version, at)) = applied else { return };
        if self.acked == Some((version, at)) || durable_frontier <= at {
            return;
        }
        let live = RulesLive {
            version,
            workers: self.workers,
            at_ms: segstream_time::wall_clock_ms(),
        };
        if self.writer.send(live).is_ok() {
            self.acked = Some((version, at));
        }
    }
}
