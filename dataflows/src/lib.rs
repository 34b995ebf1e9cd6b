//! segstream's pure computation: the event model, event time, the rule language and the
//! timely/differential classification dataflow.
//!
//! Contract: this crate does no I/O. It takes texts and streams in and hands values and
//! streams out; the `segstream` crate does the reading, writing and networking.
#![deny(missing_docs)]

pub mod bounded;
pub mod classifier;
pub mod dataflow;
pub mod event;
pub mod operators;
pub mod rules;
pub mod time;
