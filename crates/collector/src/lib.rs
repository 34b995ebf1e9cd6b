//! segstream-collector: the HTTP endpoint mobile clients send events to (`segstream collector`).
//!
//! Contract: stateless — several collectors can run behind any load balancer. Each
//! request is authenticated, read (limits, gzip), split into events judged one by one
//! against the schema, enriched, and published: accepted events to the events topic
//! keyed by user, rejected ones with their reason to `failed-events`. The client is
//! answered only after the log acknowledged everything or it is fsynced in the local
//! spool (see [`api`], [`failover`], [`spool`]); [`server`] runs it. It has the API, validation,
//! enrichment, write keys, acknowledged publishing to Kafka or the in-process log, the
//! spool with its drainer, per-key rate limits, metrics, the OpenAPI document. Reading
//! and judging request bodies is the `segstream-ingest` crate's (no I/O, fuzzed).
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod client_address;
pub mod failover;
pub mod group_commit;
pub mod metrics;
pub mod publish;
pub mod rate_limit;
pub mod server;
pub mod spool;

#[cfg(test)]
mod api_tests;
