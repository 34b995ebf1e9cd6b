//! The embedded deployment: collector-less pipeline pieces that run in one process with
//! no services — the traffic generator as a source, NDJSON sinks for membership
//! changes, and the live segment-size board.

pub mod change_writer;
pub mod event_log;
pub mod generator_source;
pub mod live;
pub mod metrics_http;
pub mod rule_watcher;
pub mod size_board;
