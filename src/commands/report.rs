//! Reports laid out for a terminal that must still reach a log pipeline.
//!
//! Contract: [`diagnostic`] writes a located diagnostic (a rule or partner file's
//! problem, with its source excerpt) to standard error as it is when logs are text, and
//! as one `error` event carrying it when logs are JSON, so every line of a JSON-logging
//! process parses.

use segstream_telemetry::logging::{format, LogFormat};

/// Reports one located diagnostic.
pub fn diagnostic(rendered: &str) {
    match format() {
        LogFormat::Text => eprintln!("{rendered}\n"),
        LogFormat::Json => tracing::error!(diagnostic = rendered, "a problem in an input file"),
    }
}
