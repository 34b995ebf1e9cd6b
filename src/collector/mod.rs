//! The collector: the HTTP endpoint mobile clients send events to (`segstream collector`).
//!
//! Contract: stateless — several collectors can run behind any load balancer. Each
//! request is authenticated, read (limits, gzip), split into events judged one by one
//! against the schema, enriched, and published: accepted events to the events topic
//! keyed by user, rejected ones with their reason to `failed-events`. The client is
//! answered only after the log acknowledged everything (see [`api`]). Built so far:
//! the API, validation, enrichment, write keys, acknowledged publishing to Kafka or
//! the in-process log, metrics, the OpenAPI document. Not yet: the disk spool for
//! broker outages, per-key rate limits (the remaining parts).

pub mod api;
pub mod auth;
pub mod body;
pub mod events;
pub mod metrics;
pub mod publish;
pub mod segment;

#[cfg(test)]
mod api_tests;
