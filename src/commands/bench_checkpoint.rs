//! `segstream bench`'s checkpoint figures: what saving the engine's state costs the
//! worker, how large it is, and how long restoring it takes against replaying the
//! events that built it.
//!
//! Contract: [`checkpoint_cost`] takes the benchmark's engine after its events, as of
//! the tick after its last, a slice at a time exactly as the classify operator does
//! (`SnapshotClock`: slices of about a millisecond), timing every slice — each is a
//! pause of the worker, and the longest ones are the checkpoint pause; then restores it
//! (decoding and loading into a new engine, as a restarted worker does) and prints
//! both with the replay time they replace. Before it, an incremental snapshot on the
//! full one [`TicksDuringSnapshot`] took is timed alike and restored (the chain of the
//! two): what a checkpoint costs when a fifth of the events came since the last. [`TicksDuringSnapshot`] times the engine's
//! ticks while a snapshot is in progress — its copy-on-write at work — against those
//! before: the last fifth of the benchmark's ticks run with one begun, a slice saved
//! before each tick as the operator does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use segstream_dataflows::classifier::side_rows::NoSideRows;
use segstream_dataflows::classifier::{ClassifierConfig, Engine, EngineSnapshot, SnapshotKind};
use segstream_dataflows::operators::classify::{SnapshotClock, SnapshotTiming};
use segstream_rules::{Schema, UdfRegistry};

use crate::error::CommandError;

/// A snapshot taken a slice at a time as the operator does, every slice timed.
struct TimedSnapshot {
    users: usize,
    bytes: Vec<u8>,
    slices: Histogram<u64>,
    timing: SnapshotTiming,
}

impl TimedSnapshot {
    fn take(engine: &mut Engine, as_of: u64, kind: SnapshotKind) -> Result<TimedSnapshot, CommandError> {
        let invalid = |e: String| CommandError::Invalid(e);
        let mut slices = Histogram::<u64>::new(3).map_err(|e| invalid(e.to_string()))?;
        engine.begin_snapshot(as_of, kind).map_err(invalid)?;
        let mut clock = SnapshotClock::start();
        let encoded = loop {
            let slice = Instant::now();
            let done = clock.slice(engine, &mut NoSideRows);
            slices.saturating_record(slice.elapsed().as_micros() as u64);
            if let Some(done) = done {
                break done.map_err(invalid)?;
            }
        };
        Ok(TimedSnapshot {
            users: encoded.users,
            bytes: encoded.into_bytes(),
            slices,
            timing: clock.timing(),
        })
    }

    /// How it held the worker, in words.
    fn held(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        let slice_ms = |q: f64| self.slices.value_at_quantile(q) as f64 / 1_000.0;
        format!(
            "saved in {} slices of the worker (p50 {:.2} ms, p99 {:.2} ms, longest {:.2} ms; {:.0} ms in all)",
            self.timing.slices,
            slice_ms(0.5),
            slice_ms(0.99),
            ms(self.timing.longest_slice),
            ms(self.timing.working)
        )
    }
}

/// Restores a new engine from a chain of snapshots (decoded, laid over each other and
/// loaded, as a restarted worker does), checks it holds what `engine` does; how long
/// it took.
fn restore_timed(chain: &[&[u8]], engine: &Engine, schema: &Arc<Schema>, config: &ClassifierConfig) -> Result<Duration, CommandError> {
    let clock = Instant::now();
    let decoded = EngineSnapshot::from_chain(chain.iter().copied()).map_err(CommandError::Invalid)?;
    let mut restored = Engine::new(Arc::clone(schema), Arc::new(UdfRegistry::new()), *config).map_err(CommandError::Invalid)?;
    restored.restore(vec![decoded], |_| true).map_err(CommandError::Invalid)?;
    let restoring = clock.elapsed();
    if restored.user_count() != engine.user_count() || restored.dedup_len() != engine.dedup_len() {
        return Err(CommandError::Invalid(format!(
            "the restored engine holds {} users and {} ids, the saved one {} and {}",
            restored.user_count(),
            restored.dedup_len(),
            engine.user_count(),
            engine.dedup_len()
        )));
    }
    Ok(restoring)
}

/// Measures and prints the checkpoint of `engine` as of `as_of` (see the module contract):
/// first a delta on `base` (the full snapshot [`TicksDuringSnapshot`] took, `events`
/// events before), then a full one; `replayed` is how long building the state from its
/// events took.
pub fn checkpoint_cost(
    engine: &mut Engine,
    (as_of, base): (u64, Option<(Vec<u8>, u64)>),
    schema: &Arc<Schema>,
    config: &ClassifierConfig,
    replayed: Duration,
) -> Result<(), CommandError> {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    if let Some((base, events)) = base {
        let delta = TimedSnapshot::take(engine, as_of, SnapshotKind::Incremental)?;
        let restoring = restore_timed(&[&base, &delta.bytes], engine, schema, config)?;
        println!(
            "incremental checkpoint after {events} events: {} of {} users changed, {:.1} MiB = {:.1} % of the full one before it, {}; restoring the full one and it {:.0} ms",
            delta.users,
            engine.user_count(),
            delta.bytes.len() as f64 / 1_048_576.0,
            100.0 * delta.bytes.len() as f64 / base.len().max(1) as f64,
            delta.held(),
            ms(restoring)
        );
    }
    let full = TimedSnapshot::take(engine, as_of, SnapshotKind::Full)?;
    let restoring = restore_timed(&[&full.bytes], engine, schema, config)?;
    println!(
        "checkpoint of {} users: {:.0} MiB = {:.0} bytes per user, {}; restoring it (decode and load) {:.0} ms, against {:.1} s replaying its events",
        full.users,
        full.bytes.len() as f64 / 1_048_576.0,
        full.bytes.len() as f64 / full.users.max(1) as f64,
        full.held(),
        ms(restoring),
        replayed.as_secs_f64()
    );
    Ok(())
}

/// Ticks timed apart while a snapshot is in progress (see the module contract).
pub struct TicksDuringSnapshot {
    begin_at: usize,
    clock: Option<SnapshotClock>,
    /// The snapshot once taken, and the events since it began.
    taken: Option<Vec<u8>>,
    events_since: u64,
    /// Events and tick time with no snapshot in progress, and with one.
    quiet: (u64, Duration),
    saving: (u64, Duration),
}

impl TicksDuringSnapshot {
    /// For a run of `ticks` ticks.
    pub fn new(ticks: usize) -> TicksDuringSnapshot {
        TicksDuringSnapshot {
            begin_at: ticks * 4 / 5,
            clock: None,
            taken: None,
            events_since: 0,
            quiet: (0, Duration::ZERO),
            saving: (0, Duration::ZERO),
        }
    }

    /// Before the `n`th tick, at `tick`: begins the snapshot there, or saves a slice of it.
    pub fn before_tick(&mut self, engine: &mut Engine, n: usize, tick: u64) -> Result<(), CommandError> {
        if n == self.begin_at {
            engine.begin_snapshot(tick, SnapshotKind::Full).map_err(CommandError::Invalid)?;
            self.clock = Some(SnapshotClock::start());
        }
        if let Some(done) = self.clock.as_mut().and_then(|clock| clock.slice(engine, &mut NoSideRows)) {
            self.taken = Some(done.map_err(CommandError::Invalid)?.into_bytes());
            self.clock = None;
        }
        Ok(())
    }

    /// A tick of `events` events took `took`.
    pub fn tick_done(&mut self, events: usize, took: Duration) {
        if self.taken.is_some() || self.clock.is_some() {
            self.events_since += events as u64;
        }
        let (count, time) = if self.clock.is_some() { &mut self.saving } else { &mut self.quiet };
        *count += events as u64;
        *time += took;
    }

    /// Finishes the snapshot in progress, if any, and prints the two rates; the snapshot
    /// and the events since it began (the base of [`checkpoint_cost`]'s delta).
    pub fn finish(mut self, engine: &mut Engine) -> Result<Option<(Vec<u8>, u64)>, CommandError> {
        if self.clock.take().is_some() {
            let done = engine
                .continue_snapshot(usize::MAX, &mut NoSideRows)
                .unwrap_or_else(|| Err("a snapshot did not finish".into()))
                .map_err(CommandError::Invalid)?;
            self.taken = Some(done.into_bytes());
        }
        let rate = |(events, time): (u64, Duration)| events as f64 / time.as_secs_f64().max(1e-9);
        println!(
            "engine while a snapshot is saved (copy-on-write): {:.0} events/s over {} events, against {:.0} events/s with none",
            rate(self.saving),
            self.saving.0,
            rate(self.quiet)
        );
        Ok(self.taken.map(|bytes| (bytes, self.events_since)))
    }
}
