//! The classifier: from events, profiles, stats and rules to exact segment membership.
//!
//! The pure, per-worker logic lives here — [`Engine`] processes one complete tick at a
//! time and is testable without timely; the timely operators that host it are in
//! `crate::operators`, and [`crate::dataflow`] wires them.

pub mod active_rules;
pub mod bits;
pub mod dedup;
pub mod emitted;
pub mod engine;
pub mod feature_slots;
pub mod feature_state;
pub mod membership;
pub mod merged_source;
pub mod metrics;
pub mod metrics_text;
pub mod placement;
pub(crate) mod section;
pub mod side_rows;
pub mod source;
pub mod user_state;
pub mod watermark;

pub use engine::{EncodedSnapshot, Engine, EngineCounters, EngineSnapshot, SnapshotKind, UserInput};

/// The hasher of the engine's maps (users, dormant records, event ids): foldhash, seeded
/// at random per map. The std default, SipHash-1-3, was 5.4 % of the engine's time
/// (`perf`, 1M users); a random seed keeps the buckets of ids that clients choose
/// unpredictable, and no output depends on it (an `IndexMap` iterates in insertion
/// order; the dedup map is only looked up).
pub(crate) type FastHash = foldhash::fast::RandomState;

/// The id prefix of the hidden *shadow* segments a dry run inserts next to the rules in
/// force (the console refuses ids starting with `__`). The engine evaluates them like
/// any segment; hosts divert their changes, and user lookups do not show them.
pub const SHADOW_PREFIX: &str = "__dry_run_";

/// Whether `segment` is a dry run's shadow.
pub fn is_shadow(segment: &str) -> bool {
    segment.starts_with(SHADOW_PREFIX)
}
pub use membership::Policy;
pub use segstream_model::change::MembershipChange;
pub use segstream_model::ClassifierConfig;
