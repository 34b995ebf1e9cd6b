//! The engine's state, saved between ticks and loaded by key group.
//!
//! Contract: [`Engine::snapshot`]`(as_of)`, called between ticks once every tick
//! before `as_of` is processed and none at or after it, returns everything the
//! engine's future output depends on: the rule definitions in force, every user and dormant record tagged with its key group
//! ([`segstream_model::key_group`]) in the engine's dense order, the dormant records'
//! profile and stats rows as of `as_of` (read from the arrangements, which alone hold
//! them: with the users' own rows, a restore seeds the arrangements with every row of
//! the worker's share of the tables, and the host reads the table topics only after the
//! checkpoint), the remembered event
//! ids (whose keys carry their group, `dedup.rs`) with the tick each was first seen at,
//! and the eviction sweep's position. [`Engine::restore`] loads, into a new engine, the
//! key groups a predicate accepts from any number of snapshots as of one tick — a
//! worker's share under a new worker count is every old worker's snapshot filtered by
//! the groups it now owns ([`crate::user_key::owner`]). Window-expiry timers are saved
//! as they are, stale ones included (a timer whose user has moved on still makes the
//! engine process its tick, and which ticks are processed decides when idle users are
//! evicted).
//!
//! Given the inputs after the tick, the restored engines produce exactly the changes
//! the saved ones would have: under the same worker count always (a worker loads its
//! own snapshot, users in the same dense order, the sweep where it was); under another
//! count whenever eviction is invisible in the change stream (`eviction.rs`: rules
//! without unwindowed features), because which tick evicts an idle user depends on the
//! users a worker holds. Counters start again from zero.
//!
//! Encoding: bincode (the serde format timely itself exchanges with). A snapshot is
//! taken a slice at a time while the engine goes on (`walk.rs`, [`Engine::begin_snapshot`]);
//! each user and dormant record carries its dense index as of the snapshot, and
//! [`EngineSnapshot::from_bytes`] puts them back in that order.
//!
//! Incremental snapshots: a snapshot of [`SnapshotKind::Incremental`] holds only what
//! changed since the previous snapshot the engine began (its *base*): the users and
//! dormant records at the dense indices changed since (and how many there are), the
//! timer ticks changed since, the ids first seen since (and the tick below which ids
//! are forgotten), and the rules, last tick and sweep position in full.
//! [`EngineSnapshot::apply`] lays such a *delta* over its base's snapshot, giving the
//! snapshot a full one would have been; [`EngineSnapshot::from_chain`] decodes a full
//! snapshot and the deltas that follow it. A restore takes full snapshots only. The
//! first snapshot an engine begins (a new or restored engine) is full whatever is asked.

use serde::{Deserialize, Serialize};

use super::eviction::Dormant;
use super::*;
use crate::classifier::dedup::SavedId;
use crate::classifier::section::Section;
use segstream_model::key_group::{key_group, KeyGroup};
use tracked_map::overlay;

mod tracked_map;
mod tracked_timers;
mod walk;

pub(crate) use tracked_map::{TrackedMap, WalkOf};
pub(crate) use tracked_timers::TrackedTimers;
pub(super) use walk::SnapshotWalk;

/// An engine's state at the end of a tick (see the module contract).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// The state holds the effects of every tick before this one and of none after.
    pub as_of: u64,
    last_tick: Option<u64>,
    defs: Vec<(SegmentDef, isize)>,
    /// Users with their dense index, key group and id.
    users: Vec<(u32, KeyGroup, Box<str>, UserState)>,
    dormant: Vec<(u32, KeyGroup, Box<str>, Dormant)>,
    /// The dormant records' profile and stats rows as of `as_of`, by the same index:
    /// read from the arrangements, which hold them (a dormant record does not).
    dormant_rows: Vec<(u32, Option<PackedRow>, Option<PackedRow>)>,
    seen: Vec<SavedId>,
    timers: Vec<(u64, Vec<(KeyGroup, String)>)>,
    sweep: SweepPosition,
    /// What a delta builds on; `None` for a full snapshot.
    delta: Option<Delta>,
}

/// Which state a snapshot saves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SnapshotKind {
    /// All of it.
    Full,
    /// What changed since the previous snapshot begun (full if there is none).
    Incremental,
}

/// What a delta needs of its base to be laid over it (see the module contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Delta {
    /// The base's tick.
    base: u64,
    /// Users and dormant records now.
    users: u32,
    dormant: u32,
    /// Ids first seen before this tick are forgotten.
    swept_below: u64,
}

/// Where the eviction sweep stands.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct SweepPosition {
    next_sweep: u64,
    below: Option<usize>,
    inputs_since: u64,
}

/// A snapshot as bytes ([`Engine::begin_snapshot`], [`Engine::encoded_snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedSnapshot {
    /// Its tick (see [`EngineSnapshot::as_of`]).
    pub as_of: u64,
    /// The tick of the snapshot it is a delta on; `None` for a full snapshot.
    pub base: Option<u64>,
    /// Users (live and dormant) in it: all of them, or for a delta those changed.
    pub users: usize,
    /// The bytes [`EngineSnapshot::from_bytes`] reads, in pieces to write one after the
    /// other (joining a gigabyte on the worker would be a pause of its own).
    pub chunks: Vec<Vec<u8>>,
}

impl EncodedSnapshot {
    /// The snapshot's size in bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// Whether it has no bytes (never: a snapshot has a head).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in one piece.
    pub fn into_bytes(self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// A sequence serialized from an iterator, without collecting it (`Clone`: serde's
/// `Serialize` takes `&self`).
struct Seq<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// The entries of the key groups `owns` accepts, by id.
fn owned<'a, V: 'a>(
    entries: Vec<(u32, KeyGroup, Box<str>, V)>,
    owns: &'a impl Fn(KeyGroup) -> bool,
) -> impl Iterator<Item = (Box<str>, V)> + 'a {
    entries
        .into_iter()
        .filter(|(_, group, ..)| owns(*group))
        .map(|(_, _, name, value)| (name, value))
}

impl EngineSnapshot {
    /// The snapshot as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        bincode::serialize(self).map_err(|e| format!("encoding an engine snapshot: {e}"))
    }

    /// A snapshot from [`EngineSnapshot::to_bytes`]'s or [`EncodedSnapshot`]'s bytes,
    /// its users and dormant records in their dense order.
    pub fn from_bytes(bytes: &[u8]) -> Result<EngineSnapshot, String> {
        let mut snapshot: EngineSnapshot = bincode::deserialize(bytes).map_err(|e| format!("decoding an engine snapshot: {e}"))?;
        snapshot.users.sort_unstable_by_key(|(index, ..)| *index);
        snapshot.dormant.sort_unstable_by_key(|(index, ..)| *index);
        snapshot.dormant_rows.sort_unstable_by_key(|(index, ..)| *index);
        Ok(snapshot)
    }

    /// Users (live and dormant) in the snapshot (for a delta: those changed).
    pub fn user_count(&self) -> usize {
        self.users.len() + self.dormant.len()
    }

    /// The tick of the snapshot this one is a delta on; `None` for a full snapshot.
    pub fn base(&self) -> Option<u64> {
        self.delta.map(|d| d.base)
    }

    /// This snapshot with `delta` laid over it: the full snapshot as of the delta's tick
    /// (see the module contract); an error if `delta` is not a delta on this one.
    pub fn apply(mut self, delta: EngineSnapshot) -> Result<EngineSnapshot, String> {
        let Some(of) = delta.delta.filter(|d| d.base == self.as_of && self.delta.is_none()) else {
            return Err(format!(
                "the snapshot as of {} is not a delta on the full snapshot as of {}",
                delta.as_of, self.as_of
            ));
        };
        let at = |what: &str, e: String| format!("the delta as of {} on {}: {what}: {e}", delta.as_of, self.as_of);
        overlay(&mut self.users, delta.users, of.users as usize, |u| u.0).map_err(|e| at("users", e))?;
        overlay(&mut self.dormant, delta.dormant, of.dormant as usize, |d| d.0).map_err(|e| at("dormant records", e))?;
        overlay(&mut self.dormant_rows, delta.dormant_rows, of.dormant as usize, |d| d.0).map_err(|e| at("dormant rows", e))?;
        // The delta's ids first: the stable sort keeps them before the base's of the same
        // key, and `dedup` keeps the first.
        let mut seen = delta.seen;
        seen.extend(self.seen);
        seen.sort_by_key(|(key, _)| *key);
        seen.dedup_by_key(|(key, _)| *key);
        seen.retain(|(_, first_seen)| *first_seen >= of.swept_below);
        let mut timers: BTreeMap<u64, Vec<(KeyGroup, String)>> = self.timers.into_iter().collect();
        for (tick, users) in delta.timers {
            match users.is_empty() {
                true => timers.remove(&tick),
                false => timers.insert(tick, users),
            };
        }
        Ok(EngineSnapshot {
            as_of: delta.as_of,
            last_tick: delta.last_tick,
            defs: delta.defs,
            users: self.users,
            dormant: self.dormant,
            dormant_rows: self.dormant_rows,
            seen,
            timers: timers.into_iter().collect(),
            sweep: delta.sweep,
            delta: None,
        })
    }

    /// The full snapshot a chain of encoded snapshots gives: a full one, then deltas,
    /// each on the one before (see [`EngineSnapshot::apply`]).
    pub fn from_chain<'a>(chain: impl IntoIterator<Item = &'a [u8]>) -> Result<EngineSnapshot, String> {
        let mut chain = chain.into_iter();
        let first = EngineSnapshot::from_bytes(chain.next().ok_or("an empty chain of snapshots")?)?;
        if let Some(base) = first.base() {
            return Err(format!("the chain begins with a delta (as of {} on {base})", first.as_of));
        }
        chain.try_fold(first, |full, bytes| full.apply(EngineSnapshot::from_bytes(bytes)?))
    }
}

impl Engine {
    /// The engine's state as of tick `as_of` (see the module contract), the dormant
    /// records' rows read from `side`; an error while a tick is in progress or once a
    /// tick at or after `as_of` is processed.
    pub fn snapshot(&self, as_of: u64, side: &mut dyn SideRows) -> Result<EngineSnapshot, String> {
        self.check_snapshot_tick(as_of)?;
        Ok(EngineSnapshot {
            as_of,
            last_tick: self.last_tick,
            defs: self.defs.iter().map(|(def, n)| (def.clone(), *n)).collect(),
            users: self
                .users
                .iter()
                .enumerate()
                .map(|(index, (name, state))| (index as u32, key_group(name), name.clone(), state.clone()))
                .collect(),
            dormant: self
                .dormant
                .iter()
                .enumerate()
                .map(|(index, (name, record))| (index as u32, key_group(name), name.clone(), record.clone()))
                .collect(),
            dormant_rows: self
                .dormant
                .keys()
                .enumerate()
                .map(|(index, name)| {
                    let (profile, stats) = side.rows_before(name, as_of);
                    (index as u32, profile, stats)
                })
                .collect(),
            seen: self.dedup.saved(|_| true),
            timers: self
                .timers
                .iter()
                .map(|(tick, users)| (*tick, users.iter().map(|user| (key_group(user), user.clone())).collect()))
                .collect(),
            sweep: self.sweep_position(),
            delta: None,
        })
    }

    fn sweep_position(&self) -> SweepPosition {
        SweepPosition {
            next_sweep: self.next_eviction_sweep,
            below: self.sweep_below,
            inputs_since: self.inputs_since_sweep,
        }
    }

    fn check_snapshot_tick(&self, as_of: u64) -> Result<(), String> {
        if let Some(tick) = self.tick_in_progress() {
            return Err(format!("a snapshot is taken between ticks, and tick {tick} is in progress"));
        }
        if let Some(walk) = self.snapshot_in_progress() {
            return Err(format!("the snapshot as of {walk} is in progress"));
        }
        match self.last_tick.filter(|last| *last >= as_of) {
            Some(last) => Err(format!("a snapshot as of tick {as_of} is too late: tick {last} is processed")),
            None => Ok(()),
        }
    }

    /// The profile and stats rows of every user held, and after a restore those of the
    /// dormant records restored: every row of the worker's share of the tables, in force
    /// before the checkpoint's tick, which the host seeds the arrangements with (and then
    /// frees, [`Engine::forget_restored_rows`]).
    pub fn held_rows(&self) -> impl Iterator<Item = (&str, Option<&PackedRow>, Option<&PackedRow>)> {
        let held = self
            .users
            .iter()
            .map(|(name, state)| (&**name, state.profile.as_ref(), state.stats.as_ref()));
        let dormant = self
            .restored_dormant_rows
            .iter()
            .map(|(name, profile, stats)| (&**name, profile.as_ref(), stats.as_ref()));
        held.chain(dormant)
    }

    /// Frees the restored dormant records' rows once the arrangements hold them.
    pub fn forget_restored_rows(&mut self) {
        self.restored_dormant_rows = Vec::new();
    }

    /// Loads the key groups `owns` accepts from `snapshots` into this new engine (see
    /// the module contract). An error, leaving the engine unusable, if the engine has
    /// state already, the snapshots are of different ticks or rule sets, or their rules
    /// no longer compile against the schema.
    pub fn restore(&mut self, snapshots: Vec<EngineSnapshot>, owns: impl Fn(KeyGroup) -> bool) -> Result<(), String> {
        if self.last_tick.is_some() || !self.users.is_empty() || !self.dormant.is_empty() || !self.dedup.is_empty() {
            return Err("only a new engine can be restored".into());
        }
        let Some(first) = snapshots.first() else { return Ok(()) };
        if let Some(delta) = snapshots.iter().find(|s| s.delta.is_some()) {
            return Err(format!("the snapshot as of {} is a delta: apply it to its base first", delta.as_of));
        }
        if let Some(other) = snapshots.iter().find(|s| s.as_of != first.as_of || s.defs != first.defs) {
            return Err(format!(
                "snapshots as of different ticks or with different rules (as of {} and {}) cannot be restored together",
                first.as_of, other.as_of
            ));
        }
        let active = first.defs.iter().filter(|(_, n)| *n > 0).map(|(def, _)| def.clone()).collect();
        self.rules = ActiveRules::new(&self.schema, &self.udfs, active).map_err(|e| format!("the saved rules: {e}"))?;
        self.defs = first.defs.iter().cloned().collect();
        self.last_tick = snapshots.iter().filter_map(|s| s.last_tick).max();
        let sweep = first.sweep;
        (self.next_eviction_sweep, self.sweep_below, self.inputs_since_sweep) = (sweep.next_sweep, sweep.below, sweep.inputs_since);
        for snapshot in snapshots {
            let expected = snapshot.users.len();
            self.users.extend(owned(snapshot.users, &owns), expected);
            for (tick, users) in snapshot.timers {
                let owned: Vec<String> = users.into_iter().filter(|(group, _)| owns(*group)).map(|(_, user)| user).collect();
                if !owned.is_empty() {
                    self.timers.extend_at(tick, owned);
                }
            }
            let expected = snapshot.dormant.len();
            if snapshot.dormant_rows.len() != expected {
                return Err(format!(
                    "the snapshot as of {} has {expected} dormant records but rows for {}",
                    snapshot.as_of,
                    snapshot.dormant_rows.len()
                ));
            }
            // The two are dense by the same index (`from_bytes`, `apply`).
            let rows = snapshot.dormant.iter().zip(snapshot.dormant_rows);
            self.restored_dormant_rows.extend(
                rows.filter(|((_, group, ..), (_, profile, stats))| owns(*group) && (profile.is_some() || stats.is_some()))
                    .map(|((_, _, name, _), (_, profile, stats))| (name.clone(), profile, stats)),
            );
            self.dormant.extend(owned(snapshot.dormant, &owns), expected);
            self.dedup.load(snapshot.seen, &owns);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::engine::test_support::{engine, rule, watched};
    use crate::classifier::side_rows::NoSideRows;
    use segstream_rules::SegmentKind;

    fn evicting() -> Engine {
        engine(ClassifierConfig {
            user_ttl_ms: 10_000,
            ..ClassifierConfig::default()
        })
    }

    /// The sweep's schedule comes along: a restored engine evicts at the ticks the
    /// saved one would have, not at the first tick it processes.
    #[test]
    fn a_restored_engine_sweeps_when_the_saved_one_would_have() {
        let mut saved = evicting();
        let mut out = Vec::new();
        let ever = rule("ever", SegmentKind::Sticky, r#"count("ad_watched", "1s") >= 1"#);
        saved.process_tick(0, vec![ever], vec![watched("ann", "a", 0)], &mut NoSideRows, &mut out);
        assert_eq!(saved.next_timer(), Some(1_000), "ann's window closes");
        saved.process_tick(1_000, vec![], vec![], &mut NoSideRows, &mut out);
        // A sweep runs at the end of this tick (ann is not idle yet); the next is due at 10,525.
        saved.process_tick(9_900, vec![], vec![watched("bob", "b", 9_900)], &mut NoSideRows, &mut out);
        let encoded = saved
            .encoded_snapshot(10_000, SnapshotKind::Full, &mut NoSideRows)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_bytes();
        let copied = saved
            .snapshot(10_000, &mut NoSideRows)
            .and_then(|s| s.to_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(encoded, copied, "encoded straight from the engine or from a copy: the same bytes");
        let bytes = encoded;
        let mut restored = evicting();
        let loaded = EngineSnapshot::from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
        restored.restore(vec![loaded], |_| true).unwrap_or_else(|e| panic!("{e}"));
        for tick in [10_100, 10_600] {
            for engine in [&mut saved, &mut restored] {
                let before = engine.counters.evictions;
                engine.process_tick(
                    tick,
                    vec![],
                    vec![watched("bob", &format!("b{tick}"), tick)],
                    &mut NoSideRows,
                    &mut out,
                );
                let evicted = engine.counters.evictions - before;
                assert_eq!(
                    evicted,
                    u64::from(tick == 10_600),
                    "at {tick}: ann is idle, and the sweep waits until 10,525"
                );
            }
        }
    }

    /// The state a snapshot holds, section by section, in one order: ids and each
    /// tick's users sorted.
    fn normalized(mut snapshot: EngineSnapshot) -> Vec<(&'static str, Vec<u8>)> {
        snapshot.seen.sort_unstable();
        snapshot.timers.iter_mut().for_each(|(_, users)| users.sort());
        let bytes = |value: &dyn erased::Encode| value.encode();
        vec![
            ("head", bytes(&(snapshot.as_of, snapshot.last_tick, &snapshot.defs, snapshot.sweep))),
            ("users", bytes(&snapshot.users)),
            ("dormant", bytes(&snapshot.dormant)),
            ("seen", bytes(&snapshot.seen)),
            ("timers", bytes(&snapshot.timers)),
        ]
    }

    mod erased {
        /// A value's bincode bytes, through a trait object.
        pub trait Encode {
            fn encode(&self) -> Vec<u8>;
        }

        impl<T: serde::Serialize> Encode for T {
            fn encode(&self) -> Vec<u8> {
                bincode::serialize(self).unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    /// A delta laid over its base is, state for state, the full snapshot at its tick:
    /// users changed, added, evicted (moved by `swap_remove`) and revived, timers set
    /// and fired, ids seen and swept, a rule edited — some while each snapshot walks.
    #[test]
    fn a_full_snapshot_and_a_delta_give_the_full_snapshot_at_the_delta() {
        let config = ClassifierConfig {
            user_ttl_ms: 10_000,
            dedup_horizon_ms: 20_000,
            ..ClassifierConfig::default()
        };
        let mut walking = engine(config);
        let mut out = Vec::new();
        let ever = rule("ever", SegmentKind::Dynamic, r#"count("ad_watched", "1s") >= 1"#);
        let many = rule("many", SegmentKind::Dynamic, r#"count("ad_watched", "2s") >= 1"#);
        let users: Vec<String> = (0..40).map(|n| format!("user-{n}")).collect();
        let (mut chain, mut direct) = (Vec::new(), None);
        for tick in (0..60_000u64).step_by(1_000) {
            let rules = match tick {
                0 => vec![ever.clone()],
                31_000 => vec![many.clone()],
                _ => vec![],
            };
            // Half the users go quiet for a while (and are evicted), then come back.
            let quiet = |n: usize| n.is_multiple_of(2) && (14_000..40_000).contains(&tick);
            let active = users
                .iter()
                .enumerate()
                .filter(|(n, _)| (tick / 1_000 + *n as u64).is_multiple_of(7) && !quiet(*n));
            let inputs: Vec<_> = active
                .map(|(_, user)| watched(user, &format!("e{}", tick % 25_000), tick))
                .collect();
            walking.process_tick(tick, rules, inputs, &mut NoSideRows, &mut out);
            if let Some(done) = walking.continue_snapshot(200, &mut NoSideRows) {
                chain.push(done.unwrap_or_else(|e| panic!("{e}")).into_bytes());
            }
            let kind = match tick {
                9_000 => SnapshotKind::Full,
                44_000 => SnapshotKind::Incremental,
                _ => continue,
            };
            // The state as of the delta, copied at once (the first walk is over by then).
            direct =
                (kind == SnapshotKind::Incremental).then(|| walking.snapshot(tick + 1, &mut NoSideRows).unwrap_or_else(|e| panic!("{e}")));
            walking.begin_snapshot(tick + 1, kind).unwrap_or_else(|e| panic!("{e}"));
        }
        let delta = walking
            .continue_snapshot(usize::MAX, &mut NoSideRows)
            .unwrap_or_else(|| Err("not begun".into()));
        chain.push(delta.unwrap_or_else(|e| panic!("{e}")).into_bytes());
        assert!(walking.counters.evictions > 0, "evictions");
        assert!(walking.dedup.swept_below() > 9_001, "a sweep since the base");
        let applied = EngineSnapshot::from_chain(chain.iter().map(Vec::as_slice)).unwrap_or_else(|e| panic!("{e}"));
        let direct = normalized(direct.unwrap_or_else(|| panic!("taken at 44,000")));
        for ((section, applied), (_, direct)) in normalized(applied).into_iter().zip(direct) {
            assert!(
                applied == direct,
                "the {section} differ: {} bytes against {}",
                applied.len(),
                direct.len()
            );
        }
        assert!(EngineSnapshot::from_chain([chain[1].as_slice()]).is_err(), "a chain begins full");
    }

    #[test]
    fn a_snapshot_is_refused_mid_tick_too_late_or_into_an_engine_with_state() {
        let mut engine = evicting();
        let mut out = Vec::new();
        engine.process_tick(500, vec![], vec![watched("ann", "a", 500)], &mut NoSideRows, &mut out);
        assert!(engine.snapshot(500, &mut NoSideRows).is_err(), "tick 500 is processed");
        let snapshot = engine.snapshot(600, &mut NoSideRows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snapshot.user_count(), 1);
        assert!(engine.restore(vec![snapshot.clone()], |_| true).is_err(), "the engine holds ann");
        let mut other = evicting();
        other.process_tick(0, vec![], vec![], &mut NoSideRows, &mut out);
        let mut later = other.snapshot(700, &mut NoSideRows).unwrap_or_else(|e| panic!("{e}"));
        later.as_of = 700;
        assert!(evicting().restore(vec![snapshot, later], |_| true).is_err(), "as of 600 and 700");
        assert!(EngineSnapshot::from_bytes(b"not a snapshot").is_err());
    }
}
