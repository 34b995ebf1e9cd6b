//! segstream-activation: every membership change delivered to each ad partner, in a
//! pipeline of its own.
//!
//! Contract: partners are declared in a TOML file ([`config`]) and checked like rules.
//! Each partner gets its own reader of the change log, its own queue, workers, rate
//! limit, `Retry-After` pauses and circuit breaker ([`gate`]), so one partner that is
//! down, slow or throttling changes nothing for the others. A [`pipeline`] batches,
//! coalesces, identifies ([`identity`], [`identities`]), sends in the partner's kind
//! ([`partners`]: audience-list API, signed webhook ([`signature`]), Segment-shaped
//! events, Kafka topic), retries ([`retry`]) and dead-letters ([`dead_letters`]).
//! Delivery is at least once with a stable delivery id per change ([`change`]), in order
//! per (partner, user, segment); offsets are committed only past changes that are
//! delivered or dead-lettered ([`tracker`]).
#![deny(missing_docs)]

pub mod activator;
pub mod bench;
pub mod change;
pub mod config;
pub mod dead_letters;
pub mod gate;
pub mod handed;
pub mod http;
pub mod identities;
pub mod identity;
pub mod kafka;
pub mod mapping;
pub mod metrics;
pub mod metrics_text;
pub mod ndjson_files;
pub mod partners;
pub mod pipeline;
pub mod receiver;
pub mod retry;
pub mod signature;
pub mod tracker;
