//! Which rule-set version every classifier worker of a deployment has applied.
//!
//! Contract: the classifier's worker 0 writes the hash `segstream:{group}:rules-live`
//! (`version`, `workers`, `at_ms`) once the deployment's durable frontier has passed the
//! rule-input time the set went in at. The frontier is global, so every worker of every
//! process has then applied the set and made its changes durable. A write is tried
//! once ([`try_write`]); the caller (a writer thread of its own) retries. The console reads it back with [`read`] and shows "live on N of M
//! workers at vK".

use std::collections::HashMap;

use crate::Retrying;

/// The hash of a deployment (its consumer group).
pub fn key(group: &str) -> String {
    format!("segstream:{group}:rules-live")
}

/// A rule-set version live on every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RulesLive {
    /// The rule-set version (0: published from files).
    pub version: u64,
    /// The deployment's workers, all processes together.
    pub workers: u64,
    /// When it was acknowledged (ms since the epoch).
    pub at_ms: u64,
}

/// Writes `live` once; whether Redis took it.
pub fn try_write(redis: &mut Retrying, group: &str, live: RulesLive) -> Result<(), String> {
    let mut pipeline = redis::pipe();
    pipeline.hset_multiple(
        key(group),
        &[("version", live.version), ("workers", live.workers), ("at_ms", live.at_ms)],
    );
    redis.query::<()>(&pipeline)
}

/// What the deployment last acknowledged, if anything.
pub fn read(redis: &mut Retrying, group: &str) -> Result<Option<RulesLive>, String> {
    let mut pipeline = redis::pipe();
    pipeline.hgetall(key(group));
    let (fields,): (HashMap<String, u64>,) = redis.query(&pipeline)?;
    let field = |name: &str| fields.get(name).copied();
    Ok(match (field("version"), field("workers"), field("at_ms")) {
        (Some(version), Some(workers), Some(at_ms)) => Some(RulesLive { version, workers, at_ms }),
        _ => None,
    })
}
