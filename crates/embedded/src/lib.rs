//! segstream-embedded: the pieces of the embedded deployment, which runs in one process
//! with no services.
//!
//! Contract: the in-process event log stands in for the events topic (the collector
//! publishes into it, the classifier reads it as a source); the traffic generator is a
//! classifier source; membership changes go to an NDJSON file; the size board keeps the
//! live segment sizes and the audience board their trends and hourly moves for the
//! console, whose published rule sets reach the classifier through the console link;
//! the rule watcher re-reads rule files and hands valid edits to
//! the running classifier; the in-process change log feeds the activated partners, and
//! a local partner records what they receive; a line tap shows the lake writer (and,
//! for an exact check, a line file) every input line.
#![deny(missing_docs)]

pub mod activation;
pub mod audience_board;
pub mod change_log;
pub mod change_writer;
pub mod console_link;
pub mod dry_run;
pub mod event_log;
pub mod generator_source;
pub mod line_file;
pub mod line_tap;
pub mod rule_watcher;
pub mod size_board;
