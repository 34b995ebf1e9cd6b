//! Segment-compatible messages to segstream events.
//!
//! Contract: [`from_segment`] maps one message of the Segment HTTP tracking API (a
//! `track` call, or an item of a `batch`) to the fields of a segstream event:
//! `messageId` → `id`, `userId` (else `anonymousId`) → `user`, `event` → `type`,
//! `properties` as they are, `originalTimestamp` (else `timestamp`) → `time`, `sentAt`
//! → `sent_at`, and `context` kept. A batch-level `sentAt` applies to items without
//! their own; `null` counts as absent. Items of other types (`identify`, `page`,
//! `screen`, …) are rejected with that reason, so the client learns they are not
//! tracked here. Field errors are left to the event decoder. Values are borrowed from
//! the request, never copied.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fields::EventFields;

/// The fields of a Segment message that segstream reads.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "messageId")]
    message_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "userId")]
    user_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "anonymousId")]
    anonymous_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    properties: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "originalTimestamp")]
    original_timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "sentAt")]
    sent_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    context: Option<&'a RawValue>,
}

/// Converts one Segment message (see the module contract).
pub fn from_segment<'a>(message: &'a RawValue, batch_sent_at: Option<&'a RawValue>) -> Result<EventFields<'a>, String> {
    if !message.get().starts_with('{') {
        return Err("a message must be a JSON object".into());
    }
    let m: Message<'a> = serde_json::from_str(message.get()).map_err(|e| format!("invalid message: {e}"))?;
    match m.kind.as_deref() {
        None | Some("track") => {}
        Some(other) => return Err(format!("message type {other:?} is not tracked (only \"track\")")),
    }
    Ok(EventFields {
        id: m.message_id,
        user: m.user_id.or(m.anonymous_id),
        kind: m.event,
        time: m.original_timestamp.or(m.timestamp),
        sent_at: m.sent_at.or(batch_sent_at.filter(|s| s.get() != "null")),
        properties: m.properties,
        context: m.context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn raw(value: &Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }

    fn converted(message: &Value, sent_at: Option<&Value>) -> Result<Value, String> {
        let (message, sent_at) = (raw(message), sent_at.map(raw));
        from_segment(&message, sent_at.as_deref()).map(|fields| serde_json::from_str(&fields.write("")).unwrap())
    }

    #[test]
    fn a_track_call_maps_field_by_field() {
        let message = json!({"type": "track", "messageId": "m1", "anonymousId": "a1", "event": "ad_watched",
            "properties": {"ad_id": "A"}, "originalTimestamp": "2026-11-26T10:00:00Z", "context": {"os": {"name": "iOS"}}});
        let event = converted(&message, Some(&json!("2026-11-26T10:00:02Z"))).unwrap();
        assert_eq!(
            event,
            json!({"id": "m1", "user": "a1", "type": "ad_watched", "properties": {"ad_id": "A"},
                "time": "2026-11-26T10:00:00Z", "sent_at": "2026-11-26T10:00:02Z", "context": {"os": {"name": "iOS"}}})
        );
    }

    #[test]
    fn user_id_wins_nulls_are_absent_and_other_types_are_refused() {
        let event = converted(&json!({"userId": "u", "anonymousId": "a", "timestamp": 5, "event": null}), None).unwrap();
        assert_eq!(event, json!({"user": "u", "time": 5}));
        let event = converted(&json!({"userId": null, "anonymousId": "a"}), Some(&Value::Null)).unwrap();
        assert_eq!(event, json!({"user": "a"}));
        assert!(converted(&json!({"type": "identify"}), None).unwrap_err().contains("identify"));
        assert!(converted(&json!([1]), None).unwrap_err().contains("JSON object"));
        assert!(converted(&json!({"type": 3}), None).unwrap_err().contains("invalid message"));
    }
}
