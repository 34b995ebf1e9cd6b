//! Reports laid out for a terminal that must still reach a log pipeline.
//!
//! Contract: [`diagnostic`] writes a located diagnostic (a rule or partner file's
//! problem, with its source excerpt) to standard error as it is when logs are text, and
//! as one `error` event carrying it when logs are JSON; [`failure`] does the same for a
//! command's closing error (`error: …`). So every line of a JSON-logging process parses,
//! and a terminal still reads like a compiler's output.

use segstream_telemetry::logging::{format, LogFormat};

/// Reports why a command failed, once, as its last word.
pub fn failure(message: &str) {
    match format() {
        LogFormat::Text => eprintln!("error: {message}"),
        LogFormat::Json => tracing::error!(error = message, "the command failed"),
    }
}

/// Reports one located diagnostic.
pub fn diagnostic(rendered: &str) {
    match format() {
        LogFormat::Text => eprintln!("{rendered}\n"),
        LogFormat::Json => tracing::error!(diagnostic = rendered, "a problem in an input file"),
    }
}
