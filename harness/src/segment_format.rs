//! segstream event JSON to Segment `track` messages, for driving collectors the way
//! analytics SDKs do.
//!
//! Contract: [`to_segment`] maps `id` → `messageId`, `user` → `userId`, `type` → `event`,
//! `time` → `originalTimestamp`, `sent_at` → `sentAt`, `properties` as they are, and
//! drops `received_at` (the collector stamps its own). `None` for a line that is not a
//! JSON object: such a record is sent on its own, as a broken client would.
//!
//! ```
//! use segstream_harness::segment_format::to_segment;
//! let m = to_segment(r#"{"id":"e1","user":"u1","type":"app_opened","time":5}"#).unwrap();
//! assert_eq!(m["messageId"], "e1");
//! assert_eq!(m["type"], "track");
//! ```

use serde_json::{Map, Value};

/// The Segment message for one event line (see the module contract).
pub fn to_segment(line: &str) -> Option<Value> {
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    let mut message = Map::new();
    message.insert("type".into(), Value::String("track".into()));
    for (from, to) in [
        ("id", "messageId"),
        ("user", "userId"),
        ("type", "event"),
        ("time", "originalTimestamp"),
        ("sent_at", "sentAt"),
        ("properties", "properties"),
    ] {
        if let Some(value) = event.get(from) {
            message.insert(to.into(), value.clone());
        }
    }
    Some(Value::Object(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_and_received_at_is_dropped() {
        let line = r#"{"id":"e","user":"u","type":"purchase","time":"t","sent_at":"s","received_at":"r","properties":{"amount":1}}"#;
        let m = to_segment(line).unwrap();
        assert_eq!(
            m,
            serde_json::json!({"type": "track", "messageId": "e", "userId": "u", "event": "purchase",
                "originalTimestamp": "t", "sentAt": "s", "properties": {"amount": 1}})
        );
        assert!(to_segment("{\"id\": ").is_none());
        assert!(to_segment("[1]").is_none());
    }
}
