//! segstream-traffic: the traffic model of the mobile-ad game, shared by the demo's
//! generator, `segstream generate`, the benchmarks and the load harness.
//!
//! Contract: [`Traffic`] generates events, profiles and stats deterministically from a
//! seed ([`game`]); [`tables`] lists every user's profile and stats upserts; [`rng`] is
//! the small seeded generator behind both. No I/O.
#![deny(missing_docs)]

pub mod game;
pub mod rng;
pub mod tables;

pub use game::{Traffic, TrafficConfig};
