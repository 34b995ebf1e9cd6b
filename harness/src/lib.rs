//! segstream-harness: how users load-test segstream before they trust it — realistic
//! traffic, end-to-end latency against the five-second SLA, and reports.
//!
//! Contract: it drives a deployment from outside, as its users would: traffic from
//! `segstream-traffic` goes out through [`drivers`] on a [`schedule`]; [`changes`] reads
//! what came out, [`matcher`] pairs changes with the events that caused them,
//! [`latency`] records latencies in HDR histograms, [`check`] compares sampled users
//! with `segstream-oracle` run on what the classifier was given ([`arrivals`]), and [`report`] writes a run's Markdown report and plots.
//! The `segstream-harness` binary runs it. No production crate depends on this one.
#![deny(missing_docs)]

pub mod arrivals;
pub mod changes;
pub mod check;
pub mod drivers;
pub mod http_client;
pub mod latency;
pub mod matcher;
#[cfg(test)]
mod mock_http;
pub mod partner;
pub mod report;
pub mod run;
pub mod schedule;
pub mod scrape;
pub mod tables;
pub mod whole;
