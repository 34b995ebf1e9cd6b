//! `segstream classify`'s hold on its process slot, and the warm standby.
//!
//! Contract: a classifier process runs slot `--process` of its deployment only while it
//! holds that slot's lease in Redis (`segstream_redis::lease`, [`LEASE_TTL`]).
//! [`take_slot`] takes it before the workers start: a process named as before (its host
//! and slot, [`owner_name`]) takes it back at once after a restart; while another holds
//! it, the process waits — and, as every waiting process does, follows the
//! deployment's checkpoints: each newer complete checkpoint is read and decoded for the
//! process's workers ahead of time ([`Warm`]), so that when the holder's lease lapses
//! (it was killed, or stopped renewing for [`LEASE_TTL`]) the process takes over with
//! its state already decoded. `--standby` names the process apart from the primary
//! (`…/standby`), so it never reclaims the primary's slot: it only takes over once the
//! primary's lease has lapsed. [`keep_slot`] renews the lease every [`RENEW_EVERY`] on a
//! thread of its own; if another process has taken the slot (this one was paused past
//! its lease, say), it logs why and exits the process at once (exit code 3), so two
//! processes never run one slot. While Redis cannot be reached, the lease stays where
//! it is: the holder goes on (renewals are retried), and no standby can take it either;
//! a process starting then waits for Redis before it runs (logged once).

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segstream_checkpoint::{Checkpoint, CheckpointStore};
use segstream_dataflows::dataflow::Restore;
use segstream_redis::lease::{holder, renew, try_take};
use segstream_redis::Retrying;

use super::classify_checkpoints::restore_for;

/// How long a slot stays taken after its holder's last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often a waiting process looks for a newer checkpoint.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// The name a process holds its slot under: its host and slot, and `standby` for one.
pub fn owner_name(process: usize, standby: bool) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "localhost".into());
    match standby {
        true => format!("{host}/process-{process}/standby"),
        false => format!("{host}/process-{process}"),
    }
}

/// A checkpoint followed while waiting, decoded for this process's workers.
#[derive(Default)]
pub struct Warm {
    /// The checkpoint.
    pub checkpoint: Option<Checkpoint>,
    /// Each local worker's restore, taken by the worker that starts.
    pub restores: Vec<Mutex<Option<Restore>>>,
}

impl Warm {
    /// Global worker `index`'s decoded restore, if one was prepared.
    pub fn take(&self, index: usize, first: usize) -> Option<Restore> {
        let slot = self.restores.get(index.checked_sub(first)?)?;
        slot.lock().ok()?.take()
    }
}

/// Where a process stands: its deployment's slot and checkpoints.
pub struct Slot {
    /// The deployment (consumer group) and process slot.
    pub group: String,
    /// The process slot.
    pub process: usize,
    /// This process's name ([`owner_name`]).
    pub owner: String,
    /// The Redis of the deployment.
    pub redis_url: String,
}

fn ttl_ms() -> u64 {
    LEASE_TTL.as_millis() as u64
}

/// Takes the slot (see the module contract), waiting and following the checkpoints at
/// `checkpoints` (`None`: checkpoints off) for the global workers `workers` of `peers`
/// while another process holds it; what it followed.
pub fn take_slot(slot: &Slot, checkpoints: Option<&str>, (workers, peers): (Range<usize>, usize)) -> Result<Warm, String> {
    let mut redis = Retrying::new(&slot.redis_url)?;
    let reclaim = !slot.owner.ends_with("/standby");
    let mut warm = Warm::default();
    let mut followed_at = None::<Instant>;
    let mut waiting_since = None::<Instant>;
    let mut unreachable_reported = false;
    let store = checkpoints.map(CheckpointStore::open).transpose().map_err(|e| e.to_string())?;
    loop {
        match try_take(&mut redis, (&slot.group, slot.process), &slot.owner, ttl_ms(), reclaim) {
            Ok(true) => {
                if let Some(since) = waiting_since {
                    tracing::info!(
                        waited_s = since.elapsed().as_secs_f64(),
                        as_of = warm.checkpoint.as_ref().map(|c| c.manifest.as_of),
                        "classify: took over process slot {} as {}",
                        slot.process,
                        slot.owner
                    );
                }
                return Ok(warm);
            }
            Ok(false) if waiting_since.is_none() => {
                let held_by = holder(&mut redis, (&slot.group, slot.process)).ok().flatten().unwrap_or_default();
                tracing::info!(
                    "classify: process slot {} is held by {held_by:?}; following its checkpoints until its lease lapses",
                    slot.process
                );
                waiting_since = Some(Instant::now());
            }
            Ok(false) => {}
            Err(e) if !unreachable_reported => {
                unreachable_reported = true;
                tracing::warn!(error = %e, "classify: cannot reach Redis to take the process slot's lease; waiting for it");
            }
            Err(_) => {}
        }
        if let Some(store) = store.as_ref().filter(|_| followed_at.is_none_or(|at| at.elapsed() >= FOLLOW_EVERY)) {
            followed_at = Some(Instant::now());
            follow(store, &mut warm, (workers.clone(), peers))?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads and decodes the newest complete checkpoint if it is newer than the one held.
fn follow(store: &CheckpointStore, warm: &mut Warm, (workers, peers): (Range<usize>, usize)) -> Result<(), String> {
    let held = warm.checkpoint.as_ref().map(|c| c.manifest.as_of);
    let latest = match store.latest() {
        Ok(Some(latest)) if Some(latest.manifest.as_of) > held => latest,
        Ok(_) => return Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "classify: reading the checkpoints to follow failed; retrying");
            return Ok(());
        }
    };
    let decoding = Instant::now();
    let restores = workers
        .map(|index| restore_for(&latest, index, peers).map(|r| Mutex::new(Some(r))))
        .collect::<Result<Vec<_>, String>>()?;
    tracing::info!(
        as_of = latest.manifest.as_of,
        decode_ms = decoding.elapsed().as_millis() as u64,
        "classify: following the checkpoints; this one is decoded and ready"
    );
    *warm = Warm {
        checkpoint: Some(latest),
        restores,
    };
    Ok(())
}

/// Renews the slot's lease on a thread of its own (see the module contract).
pub fn keep_slot(slot: Slot) -> Result<(), String> {
    let mut redis = Retrying::new(&slot.redis_url)?;
    let slot = Arc::new(slot);
    std::thread::Builder::new()
        .name("classify-lease".into())
        .spawn(move || loop {
            std::thread::sleep(RENEW_EVERY);
            match renew(&mut redis, (&slot.group, slot.process), &slot.owner, ttl_ms()) {
                Ok(true) => {}
                Ok(false) => {
                    let taken_by = holder(&mut redis, (&slot.group, slot.process)).ok().flatten().unwrap_or_default();
                    tracing::error!(
                        "classify: process slot {} was taken over by {taken_by:?} (this process did not renew its lease in time); stopping",
                        slot.process
                    );
                    std::process::exit(3);
                }
                Err(e) => tracing::warn!(error = %e, "classify: cannot renew the process slot's lease; Redis unreachable, retrying"),
            }
        })
        .map_err(|e| format!("starting the lease thread: {e}"))?;
    Ok(())
}
