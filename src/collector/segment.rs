//! Segment-compatible messages to segstream events.
//!
//! Contract: [`from_segment`] maps one message of the Segment HTTP tracking API (a
//! `track` call, or an item of a `batch`) to segstream's event JSON: `messageId` → `id`,
//! `userId` (else `anonymousId`) → `user`, `event` → `type`, `properties` as they are,
//! `originalTimestamp` (else `timestamp`) → `time`, `sentAt` → `sent_at`, and `context`
//! kept. A batch-level `sentAt` applies to items without their own. Items of other
//! types (`identify`, `page`, `screen`, …) are rejected with that reason, so the
//! client learns they are not tracked here. Field errors are left to the event decoder.

use serde_json::{Map, Value};

/// Converts one Segment message (see the module contract).
pub fn from_segment(message: &Value, batch_sent_at: Option<&Value>) -> Result<Value, String> {
    let Value::Object(m) = message else {
        return Err("a message must be a JSON object".into());
    };
    match m.get("type").and_then(Value::as_str) {
        None | Some("track") => {}
        Some(other) => return Err(format!("message type {other:?} is not tracked (only \"track\")")),
    }
    let mut event = Map::new();
    let mut copy = |to: &str, from: &[&str]| {
        if let Some(v) = from.iter().find_map(|k| m.get(*k).filter(|v| !v.is_null())) {
            event.insert(to.to_string(), v.clone());
        }
    };
    copy("id", &["messageId"]);
    copy("user", &["userId", "anonymousId"]);
    copy("type", &["event"]);
    copy("properties", &["properties"]);
    copy("time", &["originalTimestamp", "timestamp"]);
    copy("sent_at", &["sentAt"]);
    copy("context", &["context"]);
    if !event.contains_key("sent_at") {
        if let Some(sent_at) = batch_sent_at.filter(|v| !v.is_null()) {
            event.insert("sent_at".into(), sent_at.clone());
        }
    }
    Ok(Value::Object(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_track_call_maps_field_by_field() {
        let message = json!({"type": "track", "messageId": "m1", "anonymousId": "a1", "event": "ad_watched",
            "properties": {"ad_id": "A"}, "originalTimestamp": "2026-11-26T10:00:00Z", "context": {"os": {"name": "iOS"}}});
        let event = from_segment(&message, Some(&json!("2026-11-26T10:00:02Z"))).unwrap();
        assert_eq!(
            event,
            json!({"id": "m1", "user": "a1", "type": "ad_watched", "properties": {"ad_id": "A"},
                "time": "2026-11-26T10:00:00Z", "sent_at": "2026-11-26T10:00:02Z", "context": {"os": {"name": "iOS"}}})
        );
    }

    #[test]
    fn user_id_wins_and_other_types_are_refused() {
        let event = from_segment(&json!({"userId": "u", "anonymousId": "a", "timestamp": 5}), None).unwrap();
        assert_eq!(event["user"], "u");
        assert_eq!(event["time"], 5);
        assert!(from_segment(&json!({"type": "identify"}), None).unwrap_err().contains("identify"));
        assert!(from_segment(&json!([1]), None).is_err());
    }
}
