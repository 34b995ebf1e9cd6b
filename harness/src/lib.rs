//! segstream-harness: how users load-test segstream before they trust it — realistic
//! traffic, end-to-end latency against the five-second SLA, and reports.
//!
//! Contract: [`traffic`] generates the mobile-ad game's traffic deterministically from a
//! seed; drivers, latency recording and SLA verdicts are to come.
#![deny(missing_docs)]

pub mod rng;
pub mod traffic;
