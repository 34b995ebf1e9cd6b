//! The JSON records segstream writes to and reads from topics.
//!
//! Contract: each format has one encoder and (where segstream reads it back) one
//! decoder here, so writers and readers cannot drift apart. Decoders never panic; they
//! say what is wrong.
//! - `segment-changes`: `{"time", "time_ms", "user", "segment", "change": "enter"|"exit", "emitted_at"}`
//!   (the same line the embedded pipeline writes to its NDJSON file).
//! - `segment-rules`: `{"published_at", "files": [{"name", "text"}]}`, a whole rule set.
//! - `dead-letter`: `{"topic", "partition", "offset", "reason", "payload", "at"}`.
//! - progress: `{"group", "durable_frontier_ms", "at"}`.

use segstream_dataflows::rules::SourceText;
use segstream_dataflows::time::format_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One membership change as JSON.
pub fn change_json(user: &str, segment: &str, tick: u64, entered: bool, emitted_at_ms: u64) -> Value {
    json!({
        "time": format_timestamp(tick as i64),
        "time_ms": tick,
        "user": user,
        "segment": segment,
        "change": if entered { "enter" } else { "exit" },
        "emitted_at": format_timestamp(emitted_at_ms as i64),
    })
}

/// A change read back: `(user, segment, tick, entered)`.
pub type ChangeKey = (String, String, u64, bool);

/// Decodes a change record.
pub fn decode_change(payload: &[u8]) -> Result<ChangeKey, String> {
    #[derive(Deserialize)]
    struct Change {
        time_ms: u64,
        user: String,
        segment: String,
        change: String,
    }
    let change: Change = serde_json::from_slice(payload).map_err(|e| format!("not a change record: {e}"))?;
    let entered = match change.change.as_str() {
        "enter" => true,
        "exit" => false,
        other => return Err(format!("\"change\" must be \"enter\" or \"exit\", not {other:?}")),
    };
    Ok((change.user, change.segment, change.time_ms, entered))
}

/// A published rule set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RulesSnapshot {
    /// When it was published (ms since the epoch).
    pub published_at: u64,
    /// The rule files.
    pub files: Vec<RuleFile>,
}

/// One rule file of a snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleFile {
    /// Its name (path relative to where it was published from).
    pub name: String,
    /// Its TOML text.
    pub text: String,
}

impl RulesSnapshot {
    /// The files as rule-loader sources.
    pub fn sources(&self) -> Vec<SourceText> {
        self.files
            .iter()
            .map(|f| SourceText {
                name: f.name.clone(),
                text: f.text.clone(),
            })
            .collect()
    }
}

/// A record that could not be used, with where it came from and why.
pub fn dead_letter_json(topic: &str, partition: i32, offset: i64, reason: &str, payload: Option<&[u8]>, at_ms: u64) -> Value {
    json!({
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "payload": payload.map(String::from_utf8_lossy),
        "at": format_timestamp(at_ms as i64),
    })
}

/// The durable frontier of a classifier group.
pub fn progress_json(group: &str, durable_frontier_ms: u64, at_ms: u64) -> Value {
    json!({"group": group, "durable_frontier_ms": durable_frontier_ms, "at": format_timestamp(at_ms as i64)})
}

/// Reads the frontier from a progress record.
pub fn decode_progress(payload: &[u8]) -> Result<u64, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not a progress record: {e}"))?;
    value
        .get("durable_frontier_ms")
        .and_then(Value::as_u64)
        .ok_or_else(|| "progress record without \"durable_frontier_ms\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_as_written() {
        let bytes = change_json("u1", "whales", 1_700, true, 9).to_string();
        assert_eq!(decode_change(bytes.as_bytes()), Ok(("u1".into(), "whales".into(), 1_700, true)));
        assert!(decode_change(br#"{"time_ms":1,"user":"u","segment":"s","change":"maybe"}"#)
            .unwrap_err()
            .contains("maybe"));
        assert!(decode_change(b"").is_err());
    }

    #[test]
    fn progress_reads_back_and_rejects_junk() {
        assert_eq!(decode_progress(progress_json("g", 42, 0).to_string().as_bytes()), Ok(42));
        assert!(decode_progress(b"{}").is_err());
    }
}
