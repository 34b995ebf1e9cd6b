//! segstream-harness: how users load-test segstream before they trust it — realistic
//! traffic, end-to-end latency against the five-second SLA, and reports.
//!
//! Contract: [`traffic`] generates the mobile-ad game's traffic deterministically from a
//! seed; [`latency`] records latencies in HDR histograms; [`report`] writes a run's
//! Markdown report and plots. The `segstream-harness` binary drives a deployment.
#![deny(missing_docs)]

pub mod changes;
pub mod check;
pub mod drivers;
pub mod http_client;
pub mod latency;
pub mod matcher;
pub mod report;
pub mod rng;
pub mod rule_files;
pub mod run;
pub mod schedule;
pub mod scrape;
pub mod segment_format;
pub mod tables;
pub mod traffic;
