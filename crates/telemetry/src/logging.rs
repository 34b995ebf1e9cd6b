//! Logs: every segstream process logs through `tracing`, filtered by `RUST_LOG`, as text
//! or as JSON lines.
//!
//! Contract: [`init`] installs the process's one subscriber, writing to standard error:
//! - [`LogFormat::Text`]: a line per event, `TIME LEVEL span{fields}: message key=value`,
//!   coloured only when standard error is a terminal;
//! - [`LogFormat::Json`]: one JSON object per line, with `timestamp`, `level`, `target`,
//!   `message`, the event's fields at the top level and the enclosing spans under `spans`
//!   (a request's id, a tick, a partner delivery), so a log pipeline can parse every line.
//!
//! `RUST_LOG` takes `tracing-subscriber`'s directives (e.g. `info`,
//! `segstream_kafka=debug`); unset, it is [`DEFAULT_FILTER`]; malformed, [`init`] refuses it with the
//! parser's reason rather than logging less than the operator asked for. Records of the
//! `log` crate (librdkafka's client) join the same stream. Standard output stays for a
//! command's own result (a report, a summary), never for logs.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug)]
pub struct LogSetupError(String);

impl std::fmt::Display for LogSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LogSetupError {}

/// What is logged when `RUST_LOG` is unset: segstream's own events from `info`, its
/// libraries' from `warn` (the Delta kernel narrates every snapshot at `info`). Two
/// library reports that are expected, not problems, are left out: the kernel's error
/// for a table that does not exist yet (every first `open_or_create`) and the Delta
/// writer's warning, at every commit, that binary columns get no statistics.
/// librdkafka's own log and its producers' and admin clients' global errors (broker
/// connections, TLS, all brokers down) stay; a consumer's errors are logged where its
/// polls return them, not also by the client callback
/// (`segstream_kafka::client_context`).
pub const DEFAULT_FILTER: &str = "warn,segstream=info,buoyant_kernel::snapshot::builder=off,deltalake_core::writer::stats=error";

/// The level filter: `RUST_LOG` if set, else [`DEFAULT_FILTER`].
fn filter_from(rust_log: Option<&str>) -> Result<EnvFilter, LogSetupError> {
    match rust_log {
        None => Ok(EnvFilter::new(DEFAULT_FILTER)),
        Some(directives) => EnvFilter::try_new(directives).map_err(|e| LogSetupError(format!("RUST_LOG={directives:?}: {e}"))),
    }
}

/// The format [`init`] installed.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format of this process's logs ([`LogFormat::Text`] until [`init`] chose one), for
/// the few reports that are laid out for a terminal (a rule file's located diagnostics)
/// and become log events in JSON.
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Installs the process-wide subscriber writing `format` to standard error, filtered by
/// `RUST_LOG`. Call once, first thing in `main`.
pub fn init(format: LogFormat) -> Result<(), LogSetupError> {
    let _ = FORMAT.set(format);
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter_from(rust_log.as_deref().filter(|s| !s.is_empty()))?;
    let ansi = std::io::stderr().is_terminal();
    install(format, filter, std::io::stderr, ansi)
}

/// Installs a subscriber writing to `writer` (the seam [`init`] and the tests share).
fn install<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool) -> Result<(), LogSetupError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(ansi).with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
    installed.map_err(|e| LogSetupError(format!("cannot install the log subscriber: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_the_message_the_fields_and_the_spans() {
        let captured = Captured::default();
        install(LogFormat::Json, filter_from(Some("info")).unwrap(), captured.clone(), false).unwrap();
        let span = tracing::info_span!("request", id = 7);
        span.in_scope(|| tracing::warn!(topic = "events", partition = 3, offset = 42, "cannot decode"));
        tracing::debug!("filtered out at info");
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "cannot decode");
        assert_eq!(line["topic"], "events");
        assert_eq!(line["offset"], 42);
        assert_eq!(line["spans"][0]["name"], "request");
        assert_eq!(line["spans"][0]["id"], 7);
    }

    #[test]
    fn a_malformed_rust_log_is_refused_with_its_reason() {
        let error = filter_from(Some("segstream=loud")).unwrap_err().to_string();
        assert!(error.contains("RUST_LOG=\"segstream=loud\""), "{error}");
        assert!(filter_from(None).is_ok());
    }
}
