//! A thread that writes the newest state to Redis for the console, so a classifier
//! worker never waits on Redis.
//!
//! Contract: [`spawn`] starts a thread with a connection of its own. Values sent to it
//! are merged into what is pending ([`Pending::merge`]) and written
//! ([`Pending::write`]) until Redis takes them, trying again once a second; a failure
//! is reported once per outage. The queue is bounded (senders wait when it is full).
//! The thread ends when the sender is dropped.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use segstream_redis::Retrying;

/// Values queued before a sender waits: the thread drains and merges everything
/// queued between writes (each write takes at most Redis's I/O timeout), so a sender
/// of a few values a second never waits, and a runaway one is held back.
const QUEUE_VALUES: usize = 256;

/// How long after a failed write the next one is tried.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// State for the console that only its newest value matters of.
pub trait Pending: Send + Sized + 'static {
    /// Folds a newer value into this one.
    fn merge(&mut self, newer: Self);
    /// Writes it once.
    fn write(&self, redis: &mut Retrying, group: &str) -> Result<(), String>;
    /// What it is, for the outage message.
    fn what(&self) -> String;
}

fn write_until_taken<T: Pending>(mut redis: Retrying, group: String, values: Receiver<T>) {
    let mut pending: Option<T> = None;
    let mut reported = false;
    loop {
        let next = match pending {
            Some(_) => values.recv_timeout(RETRY_AFTER),
            None => values.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let mut fold = |newer: T| match pending.as_mut() {
            Some(value) => value.merge(newer),
            None => pending = Some(newer),
        };
        match next {
            Ok(value) => fold(value),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(newer) = values.try_recv() {
            fold(newer);
        }
        let Some(value) = pending.as_ref() else { continue };
        match value.write(&mut redis, &group) {
            Ok(()) => (pending, reported) = (None, false),
            Err(e) if !reported => {
                tracing::warn!(error = %e, "redis: writing {} failed; trying again", value.what());
                reported = true;
            }
            Err(_) => {}
        }
    }
}

/// Starts the writer thread `name` for deployment `group` on Redis at `url`.
pub fn spawn<T: Pending>(name: &str, url: &str, group: &str) -> Result<SyncSender<T>, String> {
    let redis = Retrying::new(url)?;
    let (sender, values) = sync_channel(QUEUE_VALUES);
    let group = group.to_string();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || write_until_taken(redis, group, values))
        .map_err(|e| format!("starting the {name} writer: {e}"))?;
    Ok(sender)
}
