//! segstream's rules repository and web console.
//!
//! Marketers edit segments in a browser; every edit is a version in a durable
//! repository ([`store`]), guarded by `ETag`s, audited, checked as the whole set it would
//! put in force ([`repository`]), and handed to the classifiers' rule channel when
//! published. [`api`] serves the REST API (`fn app() -> Router`, testable without a
//! server) with bearer-token roles ([`auth`]); [`segment_text`] keeps rule files' text
//! byte for byte, so rules can live in git too.

pub mod api;
pub mod auth;
pub mod live;
pub mod pages;
pub mod repository;
pub mod segment_text;
pub mod server;
pub mod store;
