//! segstream-model: the records that flow between segstream's components, each with its
//! one encoder and decoder.
//!
//! Contract: [`event`] is the behaviour event as the classifier sees it and its decoder
//! (the collector judges events with the same code); [`change`] is a membership change
//! and its record on `segment-changes` and in NDJSON files; [`upsert`] reads profile and
//! stats upserts from topics and files; [`classifier_config`] holds the event-time
//! parameters every reader of these records shares (tick, out-of-order bound, dedup
//! horizon, future tolerance); [`partitioning`] is the stable key → partition map;
//! [`key_group`] the stable user → key group map the classifier's state is organised by;
//! [`user_report`] is what a classifier holds about one user (the console's lookup).
//! Pure computation: no I/O, no timely.
#![deny(missing_docs)]

pub mod change;
pub mod classifier_config;
pub mod event;
pub mod key_group;
pub mod partitioning;
pub mod upsert;
pub mod user_report;

pub use change::MembershipChange;
pub use classifier_config::ClassifierConfig;
pub use event::{Event, Row};
