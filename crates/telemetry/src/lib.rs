//! segstream-telemetry: how segstream's components show operators what they do.
//!
//! Contract: [`metrics_http`] serves a component's metrics, rendered by the component in
//! the Prometheus text format, over HTTP on a listener the caller binds. It depends on no
//! other segstream crate, so every component can use it.
#![deny(missing_docs)]

pub mod metrics_http;
