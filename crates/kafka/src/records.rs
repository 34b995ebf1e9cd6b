//! The JSON records segstream writes to and reads from topics.
//!
//! Contract: each format has one encoder and (where segstream reads it back) one
//! decoder here, so writers and readers cannot drift apart. Decoders never panic; they
//! say what is wrong. The records other components share (membership changes, rule
//! snapshots, upserts) are `segstream-model`'s.
//! - `dead-letter`: `{"topic", "partition", "offset", "reason", "payload", "at"}`.
//! - a sidelined event's summary (a dead letter's payload): `{"user", "id", "time", "received_at"}`.
//! - progress: `{"group", "durable_frontier_ms", "at"}`.

use segstream_time::format_timestamp;
use serde_json::{json, Value};

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

/// What a dead letter of a sidelined event carries: enough to find and judge it (the
/// whole record stays at its offset in the events topic).
pub fn sidelined_json(event: &segstream_model::event::Event) -> Value {
    json!({"user": event.user, "id": event.id, "time": event.time, "received_at": event.received_at})
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
    fn progress_reads_back_and_rejects_junk() {
        assert_eq!(decode_progress(progress_json("g", 42, 0).to_string().as_bytes()), Ok(42));
        assert!(decode_progress(b"{}").is_err());
    }
}
