//! `segstream bench`'s checkpoint figures: what saving the engine's state costs the
//! worker, how large it is, and how long restoring it takes against replaying the
//! events that built it.
//!
//! Contract: [`checkpoint_cost`] takes the benchmark's engine after its events, as of
//! the tick after its last: the encoded snapshot (`Engine::encoded_snapshot`, the
//! pause the classify operator takes between two ticks, in one piece), and, for
//! comparison, a copy of the state (`Engine::snapshot`) and its encoding; then a
//! restore (decoding and loading into a new engine, as a restarted worker does); and
//! prints them with the replay time they replace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use segstream_dataflows::classifier::{ClassifierConfig, Engine, EngineSnapshot};
use segstream_rules::{Schema, UdfRegistry};

use crate::error::CommandError;

/// Measures and prints the checkpoint of `engine` as of `as_of` (see the module contract);
/// `replayed` is how long building the state from its events took.
pub fn checkpoint_cost(
    engine: &Engine,
    as_of: u64,
    schema: &Arc<Schema>,
    config: &ClassifierConfig,
    replayed: Duration,
) -> Result<(), CommandError> {
    let clock = Instant::now();
    let encoded = engine.encoded_snapshot(as_of).map_err(CommandError::Invalid)?;
    let pause = clock.elapsed();
    let (users, bytes) = (encoded.users, encoded.bytes);
    let clock = Instant::now();
    let copy = engine.snapshot(as_of).map_err(CommandError::Invalid)?;
    let copying = clock.elapsed();
    let clock = Instant::now();
    let copy_bytes = copy.to_bytes().map_err(CommandError::Invalid)?.len();
    let encoding_the_copy = clock.elapsed();
    drop(copy);
    let clock = Instant::now();
    let decoded = EngineSnapshot::from_bytes(&bytes).map_err(CommandError::Invalid)?;
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
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "checkpoint of {users} users: encoding the state held the worker {:.0} ms, {:.0} MiB = {:.0} bytes per user (a copy first: {:.0} ms, and {:.0} ms encoding it, {copy_bytes} bytes); restoring it (decode and load) {:.0} ms, against {:.1} s replaying its events",
        ms(pause),
        bytes.len() as f64 / 1_048_576.0,
        bytes.len() as f64 / users.max(1) as f64,
        ms(copying),
        ms(encoding_the_copy),
        ms(restoring),
        replayed.as_secs_f64()
    );
    Ok(())
}
