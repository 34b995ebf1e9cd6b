//! A snapshot taken a slice at a time while the engine goes on processing ticks.
//!
//! Contract: [`Engine::begin_snapshot`]`(as_of)`, called between ticks under the same
//! conditions as [`Engine::snapshot`], fixes the state to save: the rule definitions,
//! the last tick and the eviction sweep's position are encoded at once (a few hundred
//! bytes); the users, dormant records, timers and remembered ids are then saved by
//! [`Engine::continue_snapshot`], up to a budget of entries per call, while the host
//! processes later ticks in between. Every change to an entry not yet saved saves it
//! first (copy-on-write: `tracked_map.rs`, `tracked_timers.rs`, and the dedup map
//! group by group), so the bytes that come out once every entry is saved are the
//! state as of `as_of` — they decode ([`EngineSnapshot::from_bytes`]) to what
//! [`Engine::snapshot`] would have returned then, up to the order of entries in each
//! section. Once the dormant records are saved, their profile and stats rows as of
//! `as_of` are read from the host's [`SideRows`] (the arrangements, whose compaction
//! the classify operator holds below `as_of` until the snapshot is done), a budget of
//! them at a time, by the index each record was saved with. A second snapshot cannot begin before the first is done. An incremental
//! snapshot walks the same way over what changed since the previous one began (see
//! the parent module).
//!
//! *Why:* encoding 1M users in one piece held the worker 5 s (`docs/benchmarks.md`),
//! a thousand times the checkpoint pause allowed; a slice of a few hundred entries is
//! about a millisecond, and a change pays for saving one entry at most once per
//! snapshot.

use super::*;

/// A snapshot in progress: what is saved so far.
pub(in crate::classifier::engine) struct SnapshotWalk {
    as_of: u64,
    /// The rule definitions and last tick, encoded.
    head: Vec<u8>,
    sweep: SweepPosition,
    delta: Option<Delta>,
    users: Option<Section>,
    dormant: Option<Section>,
    /// The dormant records saved whose rows are still to look up, and those looked up.
    rows_to_read: Option<Vec<(u32, Box<str>)>>,
    rows_read: Section,
    dormant_rows: Option<Section>,
    seen: Option<Section>,
    timers: Option<Section>,
}

/// Advances one section's walk unless it is done; whether it is.
fn walk_section(section: &mut Option<Section>, budget: &mut usize, walk_some: impl FnOnce(usize) -> (usize, Option<Section>)) -> bool {
    if section.is_none() {
        let (left, done) = walk_some(*budget);
        *budget = left;
        *section = done;
    }
    section.is_some()
}

impl Engine {
    /// Begins a snapshot of `kind` as of `as_of` (see the module contract); an error
    /// while a tick or another snapshot is in progress, or once a tick at or after
    /// `as_of` is processed.
    pub fn begin_snapshot(&mut self, as_of: u64, kind: SnapshotKind) -> Result<(), String> {
        self.check_snapshot_tick(as_of)?;
        if let Some(walk) = &self.snapshot_walk {
            return Err(format!("the snapshot as of {} is in progress", walk.as_of));
        }
        let head =
            bincode::serialize(&(as_of, self.last_tick, Seq(self.defs.iter()))).map_err(|e| format!("encoding an engine snapshot: {e}"))?;
        let base = self.snapshot_base.replace(as_of).filter(|_| kind == SnapshotKind::Incremental);
        let delta = base.map(|base| Delta {
            base,
            // Dense indices fit 32 bits (`tracked_map.rs`).
            users: self.users.len() as u32,
            dormant: self.dormant.len() as u32,
            swept_below: self.dedup.swept_below(),
        });
        let of = if delta.is_some() { WalkOf::Changed } else { WalkOf::All };
        self.users.begin_walk(of, false);
        self.dormant.begin_walk(of, true);
        self.timers.begin_walk(of);
        self.dedup.begin_walk(base);
        self.snapshot_walk = Some(SnapshotWalk {
            as_of,
            head,
            sweep: self.sweep_position(),
            delta,
            users: None,
            dormant: None,
            rows_to_read: None,
            rows_read: Section::default(),
            dormant_rows: None,
            seen: None,
            timers: None,
        });
        Ok(())
    }

    /// The tick of the snapshot in progress, if any.
    pub fn snapshot_in_progress(&self) -> Option<u64> {
        self.snapshot_walk.as_ref().map(|w| w.as_of)
    }

    /// Saves up to about `budget` entries of the snapshot in progress, reading the
    /// dormant records' rows as of the snapshot's tick from `side`; once every entry is
    /// saved, the snapshot (the walk is then over), or the error that spoiled it.
    pub fn continue_snapshot(&mut self, mut budget: usize, side: &mut dyn SideRows) -> Option<Result<EncodedSnapshot, String>> {
        let walk = self.snapshot_walk.as_mut()?;
        let done = walk_section(&mut walk.users, &mut budget, |b| self.users.walk_some(b))
            && walk_section(&mut walk.dormant, &mut budget, |b| self.dormant.walk_some(b))
            && walk.read_dormant_rows(&mut budget, || self.dormant.take_saved_names(), side)
            && walk_section(&mut walk.seen, &mut budget, |b| self.dedup.walk_some(b))
            && walk_section(&mut walk.timers, &mut budget, |b| self.timers.walk_some(b));
        if !done {
            return None;
        }
        let walk = self.snapshot_walk.take()?;
        Some(walk.finish())
    }

    /// The state as of `as_of`, encoded in one piece (a snapshot begun and finished at
    /// once; the same errors as [`Engine::begin_snapshot`]).
    pub fn encoded_snapshot(&mut self, as_of: u64, kind: SnapshotKind, side: &mut dyn SideRows) -> Result<EncodedSnapshot, String> {
        self.begin_snapshot(as_of, kind)?;
        self.continue_snapshot(usize::MAX, side)
            .unwrap_or_else(|| Err("a snapshot in one piece did not finish".into()))
    }
}

impl SnapshotWalk {
    /// Reads the rows, as of the snapshot's tick, of up to `budget` of the dormant
    /// records saved (`saved` names them, once their section is done); whether every one
    /// is read.
    fn read_dormant_rows(&mut self, budget: &mut usize, saved: impl FnOnce() -> Vec<(u32, Box<str>)>, side: &mut dyn SideRows) -> bool {
        if self.dormant_rows.is_some() {
            return true;
        }
        let to_read = self.rows_to_read.get_or_insert_with(saved);
        while *budget > 0 {
            let Some((index, name)) = to_read.pop() else {
                self.dormant_rows = Some(std::mem::take(&mut self.rows_read));
                return true;
            };
            let (profile, stats) = side.rows_before(&name, self.as_of);
            self.rows_read.push(&(index, profile, stats));
            *budget -= 1;
        }
        false
    }

    /// The snapshot's bytes, in [`EngineSnapshot`]'s field order.
    fn finish(self) -> Result<EncodedSnapshot, String> {
        let mut chunks = vec![self.head];
        // Those saved: every one for a full snapshot, those changed for a delta.
        let users = [&self.users, &self.dormant]
            .iter()
            .map(|s| s.as_ref().map_or(0, Section::len))
            .sum::<u64>() as usize;
        for section in [self.users, self.dormant, self.dormant_rows, self.seen, self.timers] {
            chunks.extend(section.unwrap_or_default().into_chunks()?);
        }
        let tail = bincode::serialize(&(self.sweep, self.delta)).map_err(|e| format!("encoding an engine snapshot: {e}"))?;
        chunks.push(tail);
        Ok(EncodedSnapshot {
            as_of: self.as_of,
            base: self.delta.map(|d| d.base),
            users,
            chunks,
        })
    }
}
