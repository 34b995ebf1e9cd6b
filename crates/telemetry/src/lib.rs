//! segstream-telemetry: how segstream's components show operators what they do.
//!
//! Contract: [`logging`] sets up the process's structured logs (`tracing`, text or JSON,
//! `RUST_LOG`); [`exposition`] renders a component's metrics with `prometheus-client`;
//! [`metrics_http`] serves them (axum) on a listener the caller binds; [`streak`] keeps a
//! repeating failure from flooding the log. It depends on no
//! other segstream crate, so every component can use it; the engine takes only
//! [`exposition`] (`default-features = false`), so it stays free of I/O.
#![deny(missing_docs)]

pub mod exposition;
#[cfg(feature = "logs")]
pub mod logging;
#[cfg(feature = "http")]
pub mod metrics_http;
pub mod streak;
