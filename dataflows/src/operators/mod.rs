//! The timely operators of the classifier, one per file; each hosts pure logic from
//! `crate::classifier` and adds only scheduling, capabilities and frontiers.

pub mod classify;
pub mod durable_sink;
pub mod event_source;
pub mod trace_rows;
