//! The classifier: from events, profiles, stats and rules to exact segment membership.
//!
//! The pure, per-worker logic lives here — [`Engine`] processes one complete tick at a
//! time and is testable without timely; the timely operators that host it are in
//! `crate::operators`, and [`crate::dataflow`] wires them.

pub mod active_rules;
pub mod dedup;
pub mod engine;
pub mod feature_slots;
pub mod feature_state;
pub mod membership;
pub mod merged_source;
pub mod metrics;
pub mod metrics_text;
pub mod placement;
pub mod side_rows;
pub mod source;
pub mod user_state;
pub mod watermark;

pub use engine::{Engine, EngineCounters, UserInput};
pub use membership::Policy;
pub use segstream_model::change::MembershipChange;
pub use segstream_model::ClassifierConfig;
