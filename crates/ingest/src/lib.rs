//! segstream-ingest: what the collector does to a request body before anything is
//! stored, as pure functions (no I/O), so it can be tested, fuzzed and benchmarked on
//! its own.
//!
//! Contract: [`body`] inflates and parses a body into borrowed JSON documents (never
//! copying an event), [`segment`] reads Segment-compatible messages, and [`events`]
//! judges every event on its own against the schema — with exactly the classifier's
//! decoder — and writes the accepted ones, enriched, as segstream event JSON. Nothing
//! here panics on any input (`fuzz/fuzz_targets/collector_request.rs`).

pub mod body;
pub mod events;
pub mod fields;
pub mod segment;
