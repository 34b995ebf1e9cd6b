//! The fields of one event, borrowed from the request: judged, then written enriched.
//!
//! Contract: an [`EventFields`] holds the raw JSON of the fields the classifier's
//! decoder reads (`id`, `user`, `type`, `time`, `sent_at`, `properties`) and, for
//! Segment messages, `context`. [`EventFields::judge`] decides acceptance with exactly
//! the classifier's decoder ([`decode_fields`], which `decode_event` applies to a whole
//! object) on these fields plus the collector's `received_at` — what the decoder reads
//! of the whole line — and returns the user id (the
//! Kafka key). [`EventFields::write`] writes the event as segstream JSON from the raw
//! fields (nothing re-serialized) followed by the enrichment. `null` counts as absent.
//!
//! ```
//! use segstream_ingest::fields::EventFields;
//! let raw = r#"{"id": "e1", "user": "u1", "type": "app_opened", "time": 5}"#;
//! let fields: EventFields = serde_json::from_str(raw).unwrap();
//! assert_eq!(fields.write(r#""received_at":"x""#), r#"{"id":"e1","user":"u1","type":"app_opened","time":5,"received_at":"x"}"#);
//! ```

use segstream_model::event::decode::{decode_fields, EventFieldValues};
use segstream_rules::Schema;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The decoder's fields of one event, as raw JSON (see the module contract).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct EventFields<'a> {
    /// `id`.
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// `user`.
    #[serde(borrow, default)]
    pub user: Option<&'a RawValue>,
    /// `type`.
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<&'a RawValue>,
    /// `time`.
    #[serde(borrow, default)]
    pub time: Option<&'a RawValue>,
    /// `sent_at`.
    #[serde(borrow, default)]
    pub sent_at: Option<&'a RawValue>,
    /// `properties`.
    #[serde(borrow, default)]
    pub properties: Option<&'a RawValue>,
    /// `context` (Segment's device and app description), passed through unread.
    #[serde(skip)]
    pub context: Option<&'a RawValue>,
}

impl<'a> EventFields<'a> {
    fn named(&self) -> [(&'static str, Option<&'a RawValue>); 7] {
        [
            ("id", self.id),
            ("user", self.user),
            ("type", self.kind),
            ("time", self.time),
            ("sent_at", self.sent_at),
            ("properties", self.properties),
            ("context", self.context),
        ]
    }

    /// Accepted (with its user id) or rejected (with the reason), by the classifier's decoder.
    pub fn judge(&self, received_at: &Value, schema: &Schema, future_tolerance_ms: u64) -> Result<String, String> {
        let parse = |name: &str, raw: Option<&RawValue>| -> Result<Option<Value>, String> {
            raw.map(|raw| serde_json::from_str(raw.get()).map_err(|e| format!("\"{name}\": {e}")))
                .transpose()
        };
        let (id, user, kind) = (parse("id", self.id)?, parse("user", self.user)?, parse("type", self.kind)?);
        let (time, sent_at) = (parse("time", self.time)?, parse("sent_at", self.sent_at)?);
        let properties = parse("properties", self.properties)?;
        let values = EventFieldValues {
            id: id.as_ref(),
            user: user.as_ref(),
            kind: kind.as_ref(),
            time: time.as_ref(),
            sent_at: sent_at.as_ref(),
            received_at: Some(received_at),
            properties: properties.as_ref(),
        };
        decode_fields(&values, schema, future_tolerance_ms)
            .map(|event| event.user)
            .map_err(|e| e.reason)
    }

    /// The event as segstream JSON: its raw fields, then `enrichment` (`"key":value` pairs).
    pub fn write(&self, enrichment: &str) -> String {
        let present = self.named().into_iter().filter_map(|(name, raw)| raw.map(|raw| (name, raw)));
        let mut line = String::with_capacity(256);
        line.push('{');
        for (name, raw) in present {
            if line.len() > 1 {
                line.push(',');
            }
            line.push('"');
            line.push_str(name);
            line.push_str("\":");
            line.push_str(raw.get());
        }
        close_object(&mut line, enrichment);
        line
    }
}

/// The whole JSON object `object` with `fields` (`"key":value` pairs) added at its end.
pub fn append_fields(object: &str, fields: &str) -> String {
    let whole = object.trim_end();
    let open = whole.strip_suffix('}').unwrap_or(whole);
    let mut line = String::with_capacity(open.len() + fields.len() + 2);
    line.push_str(open);
    close_object(&mut line, fields);
    line
}

/// Closes the open JSON object in `line` (`{` and pairs) after adding `fields`.
fn close_object(line: &mut String, fields: &str) {
    if !fields.is_empty() {
        if !line.trim_end().ends_with('{') {
            line.push(',');
        }
        line.push_str(fields);
    }
    line.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_null_fields_are_left_out_and_raw_text_is_kept() {
        let raw = r#"{"id": 7, "user": null, "properties": {"a" : [1, 2]}, "extra": true}"#;
        let fields: EventFields = serde_json::from_str(raw).unwrap();
        assert!(fields.user.is_none());
        assert_eq!(fields.write(""), r#"{"id":7,"properties":{"a" : [1, 2]}}"#);
    }

    #[test]
    fn fields_are_appended_to_whole_and_empty_objects() {
        assert_eq!(append_fields(r#"{"a":{"c":1}} "#, r#""b":2"#), r#"{"a":{"c":1},"b":2}"#);
        assert_eq!(append_fields("{ }", r#""b":2"#), r#"{ "b":2}"#);
        assert_eq!(append_fields("{}", ""), "{}");
        assert_eq!(EventFields::default().write(""), "{}");
    }
}
