//! The classifier's acknowledgement of the rule set it applied (`segstream classify`).
//!
//! Contract: worker 0 calls [`RulesAcker::observe`] after every step with what its side
//! inputs last applied (rule-set version, rule-input time) and the durable frontier.
//! Once the frontier has passed that time (every worker of every process has applied
//! the set and made its changes durable), the acknowledgement is handed to a writer
//! thread, which writes it to Redis (`segstream_redis::rules_live`), trying again once
//! a second until Redis takes it; a newer acknowledgement replaces one not yet written.
//! The worker never waits on Redis.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use segstream_redis::rules_live::{try_write, RulesLive};
use segstream_redis::Retrying;

/// How long after a failed write the next one is tried.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Worker 0's acknowledgements (see the module contract).
pub struct RulesAcker {
    writer: Sender<RulesLive>,
    workers: u64,
    acked: Option<(u64, u64)>,
}

/// Writes the newest acknowledgement until Redis takes it; ends with the acker.
fn write_acknowledgements(mut redis: Retrying, group: String, acks: Receiver<RulesLive>) {
    let mut pending: Option<RulesLive> = None;
    let mut reported = false;
    loop {
        let next = match pending {
            Some(_) => acks.recv_timeout(RETRY_AFTER),
            None => acks.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(live) => pending = Some(live),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(newer) = acks.try_recv() {
            pending = Some(newer);
        }
        let Some(live) = pending else { continue };
        match try_write(&mut redis, &group, live) {
            Ok(()) => (pending, reported) = (None, false),
            Err(e) if !reported => {
                eprintln!("redis: acknowledging rule-set v{}: {e}; trying again", live.version);
                reported = true;
            }
            Err(_) => {}
        }
    }
}

impl RulesAcker {
    /// Acknowledgements for `workers` workers of deployment `group`, to Redis at `url`.
    pub fn new(url: &str, group: &str, workers: u64) -> Result<RulesAcker, String> {
        let redis = Retrying::new(url)?;
        let (writer, acks) = channel();
        let group = group.to_string();
        std::thread::Builder::new()
            .name("rules-acks".into())
            .spawn(move || write_acknowledgements(redis, group, acks))
            .map_err(|e| format!("starting the rules acknowledgement writer: {e}"))?;
        Ok(RulesAcker {
            writer,
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
