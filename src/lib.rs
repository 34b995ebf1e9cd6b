//! segstream: real-time user segmentation. This crate holds the services and
//! connectors around the pure computation in `segstream-dataflows`: the command line,
//! reading configuration and rule files, and (to come) the collector, Kafka and Redis
//! connectors, activation and the console.
#![deny(missing_docs)]

pub mod cli;
pub mod clock;
pub mod collector;
pub mod commands;
pub mod config;
pub mod embedded;
pub mod error;
pub mod kafka;
pub mod redis_store;
pub mod sources;
pub mod writer_thread;
