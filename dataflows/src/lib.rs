//! segstream-dataflows: the classifier engine. Per-user state (dedup, windowed
//! features, membership), its timely operators, the classification dataflow, and the
//! runners that drive it bounded (files, tests) or live (demo, distributed).
//!
//! Contract: this crate does no I/O. It takes events, side inputs and rule sets
//! (`segstream-model`, `segstream-rules`) through sources and input handles, and hands
//! membership changes out through streams and sinks; the connector crates do the
//! reading, writing and networking.
#![deny(missing_docs)]

pub mod bounded;
pub mod classifier;
pub mod dataflow;
pub mod live;
pub mod operators;
pub mod rule_mailbox;
pub mod user_key;
pub mod user_lookup;
