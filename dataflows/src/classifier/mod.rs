//! The classifier: from events, profiles, stats and rules to exact segment membership.
//!
//! The pure, per-worker logic lives here ([`config`], [`membership`], the incremental
//! engine); the timely operators that host it are in `crate::operators`.

pub mod change;
pub mod config;
pub mod membership;
pub mod oracle;

pub use change::MembershipChange;
pub use config::ClassifierConfig;
pub use membership::Policy;
