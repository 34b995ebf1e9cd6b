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
//!
//! [`to_segment`] is the inverse, for clients that drive a collector the way analytics
//! SDKs do (the load harness): it maps the same [`FIELDS`], drops `received_at` (the
//! collector stamps its own) and marks the message `track`. `from_segment` of
//! `to_segment` gives back the event's fields (tested).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fields::EventFields;

/// Each segstream event field and the Segment message field it travels in.
pub const FIELDS: [(&str, &str); 6] = [
    ("id", "messageId"),
    ("user", "userId"),
    ("type", "event"),
    ("time", "originalTimestamp"),
    ("sent_at", "sentAt"),
    ("properties", "properties"),
];

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

/// The Segment `track` message for one segstream event line; `None` for a line that is
/// not a JSON object (send it on its own, as a broken client would).
///
/// ```
/// use segstream_ingest::segment::to_segment;
/// let m = to_segment(r#"{"id":"e1","user":"u1","type":"app_opened","time":5}"#).unwrap();
/// assert_eq!(m["messageId"], "e1");
/// assert_eq!(m["type"], "track");
/// ```
pub fn to_segment(line: &str) -> Option<serde_json::Value> {
    use serde_json::{Map, Value};
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    let mut message = Map::new();
    message.insert("type".into(), Value::String("track".into()));
    for (from, to) in FIELDS {
        if let Some(value) = event.get(from) {
            message.insert(to.into(), value.clone());
        }
    }
    Some(Value::Object(message))
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
    fn to_segment_is_the_inverse_and_drops_received_at() {
        let event = json!({"id": "e", "user": "u", "type": "purchase", "time": "t", "sent_at": "s", "received_at": "r",
            "properties": {"amount": 1}});
        let message = to_segment(&event.to_string()).unwrap();
        assert_eq!(
            message,
            json!({"type": "track", "messageId": "e", "userId": "u", "event": "purchase",
                "originalTimestamp": "t", "sentAt": "s", "properties": {"amount": 1}})
        );
        let mut back = converted(&message, None).unwrap();
        back.as_object_mut().unwrap().insert("received_at".into(), json!("r"));
        assert_eq!(back, event);
        assert!(to_segment("{\"id\": ").is_none());
        assert!(to_segment("[1]").is_none());
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
