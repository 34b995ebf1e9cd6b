//! Decoding events from segstream's JSON format, validated against the schema.
//!
//! Contract: [`decode_event`] turns one JSON object into an [`Event`] or a
//! [`DecodeError`] whose message says exactly what is wrong (missing or oversized ids,
//! unknown event types, out-of-range timestamps, properties of the wrong type). Unknown
//! properties are ignored, so newer clients do not lose events. Never panics.
//!
//! ```json
//! {"id": "e1", "user": "u1", "type": "ad_watched", "time": "2026-11-26T10:00:00Z",
//!  "sent_at": "2026-11-26T10:00:02Z", "received_at": "2026-11-26T10:00:03Z",
//!  "properties": {"ad_id": "A7"}}
//! ```
//! Times are RFC 3339 strings or epoch milliseconds. With `received_at`, the event time
//! is corrected for clock skew ([`super::skew`]).

use serde_json::Value;

use super::skew::corrected_event_time;
use super::{Event, Row, MAX_ID_BYTES};
use segstream_rules::{FieldSet, FieldValue, Schema};
use segstream_time::parse_timestamp;

/// The latest accepted time, 2200-01-01T00:00:00Z: later timestamps are bugs.
pub const MAX_TIME_MS: i64 = 7_258_118_400_000;

/// Why an event was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    /// What is wrong, naming the field.
    pub reason: String,
}

fn fail<T>(reason: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError { reason: reason.into() })
}

/// The fields of an event object that the decoder reads, by reference: what
/// [`decode_fields`] judges. [`decode_event`] takes them from a parsed object; the
/// collector from the request's raw text, without building the object.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventFieldValues<'a> {
    /// `id`.
    pub id: Option<&'a Value>,
    /// `user`.
    pub user: Option<&'a Value>,
    /// `type`.
    pub kind: Option<&'a Value>,
    /// `time`.
    pub time: Option<&'a Value>,
    /// `sent_at`.
    pub sent_at: Option<&'a Value>,
    /// `received_at`.
    pub received_at: Option<&'a Value>,
    /// `properties`.
    pub properties: Option<&'a Value>,
}

impl<'a> EventFieldValues<'a> {
    /// The fields of a parsed event object.
    pub fn of(object: &'a serde_json::Map<String, Value>) -> EventFieldValues<'a> {
        EventFieldValues {
            id: object.get("id"),
            user: object.get("user"),
            kind: object.get("type"),
            time: object.get("time"),
            sent_at: object.get("sent_at"),
            received_at: object.get("received_at"),
            properties: object.get("properties"),
        }
    }
}

fn id_field(value: Option<&Value>, key: &str) -> Result<String, DecodeError> {
    match value {
        None | Some(Value::Null) => fail(format!("missing \"{key}\"")),
        Some(Value::String(s)) if s.is_empty() => fail(format!("\"{key}\" is empty")),
        Some(Value::String(s)) if s.len() > MAX_ID_BYTES => {
            fail(format!("\"{key}\" is {} bytes long; the limit is {MAX_ID_BYTES}", s.len()))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => fail(format!("\"{key}\" must be a string")),
    }
}

fn time_field(value: Option<&Value>, key: &str) -> Result<Option<i64>, DecodeError> {
    let ms = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => parse_timestamp(s).map_err(|reason| DecodeError {
            reason: format!("\"{key}\": {reason}"),
        })?,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(ms) => ms,
            None => return fail(format!("\"{key}\" must be whole epoch milliseconds")),
        },
        Some(_) => return fail(format!("\"{key}\" must be an RFC 3339 string or epoch milliseconds")),
    };
    if !(0..=MAX_TIME_MS).contains(&ms) {
        return fail(format!("\"{key}\" is out of range (before 1970 or after 2200)"));
    }
    Ok(Some(ms))
}

/// Reads an event's properties by slot, ignoring unknown keys.
fn properties(schema: &Schema, event_type: usize, value: Option<&Value>) -> Result<Row, DecodeError> {
    let no_properties = FieldSet::default();
    // Borrowed: a clone per event (a Vec of owned names) was one of two allocations
    // per event that together cost ~5 % of a collector request (docs/benchmarks.md).
    let fields = schema.event_properties(event_type).unwrap_or(&no_properties);
    let mut row: Row = vec![None; fields.len()];
    let object = match value {
        None | Some(Value::Null) => return Ok(row),
        Some(Value::Object(object)) => object,
        Some(_) => return fail("\"properties\" must be an object"),
    };
    for (key, json) in object {
        let Some((slot, ft)) = fields.lookup(key) else { continue };
        if json.is_null() {
            continue;
        }
        row[slot] = Some(FieldValue::from_json(json, &ft.ty, ft.is_date).map_err(|e| DecodeError {
            reason: format!("property \"{key}\": {e}"),
        })?);
    }
    Ok(row)
}

/// Decodes one event object.
pub fn decode_event(json: &Value, schema: &Schema, future_tolerance_ms: u64) -> Result<Event, DecodeError> {
    let Value::Object(object) = json else {
        return fail("an event must be a JSON object");
    };
    decode_fields(&EventFieldValues::of(object), schema, future_tolerance_ms)
}

/// Decodes an event from its fields: the whole of [`decode_event`]'s judgement.
pub fn decode_fields(fields: &EventFieldValues<'_>, schema: &Schema, future_tolerance_ms: u64) -> Result<Event, DecodeError> {
    let id = id_field(fields.id, "id")?;
    let user = id_field(fields.user, "user")?;
    let type_name = match fields.kind {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return fail("missing \"type\""),
        Some(_) => return fail("\"type\" must be a string"),
    };
    let Some(event_type) = schema.event_type(type_name) else {
        return fail(format!("unknown event type {type_name:?}"));
    };
    let Some(client_time) = time_field(fields.time, "time")? else {
        return fail("missing \"time\"");
    };
    let sent_at = time_field(fields.sent_at, "sent_at")?.unwrap_or(client_time);
    let received_at = time_field(fields.received_at, "received_at")?;
    let time = match received_at {
        Some(received) => corrected_event_time(
            client_time,
            sent_at,
            received,
            i64::try_from(future_tolerance_ms).unwrap_or(i64::MAX),
        ),
        None => client_time,
    };
    Ok(Event {
        time: u64::try_from(time.max(0)).unwrap_or(0),
        id,
        user,
        event_type: u32::try_from(event_type).unwrap_or(u32::MAX),
        properties: properties(schema, event_type, fields.properties)?,
        client_time,
        sent_at,
        received_at: received_at.unwrap_or(client_time),
    })
}

/// The fields of an event object, parsed straight from the text: no map of every key is
/// built, and unknown keys are skipped without being allocated.
#[derive(serde::Deserialize)]
struct ParsedFields {
    id: Option<Value>,
    user: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    time: Option<Value>,
    sent_at: Option<Value>,
    received_at: Option<Value>,
    properties: Option<Value>,
}

/// Decodes one line of NDJSON.
///
/// A well-formed object is parsed into its fields directly (measured: see
/// `docs/benchmarks.md`, "JSON decode"); anything else — malformed JSON, not an object,
/// a key given twice — is parsed as a JSON value, so that the judgement and its message
/// are [`decode_event`]'s, the same on every path.
pub fn decode_event_line(line: &str, schema: &Schema, future_tolerance_ms: u64) -> Result<Event, DecodeError> {
    if let Ok(parsed) = serde_json::from_str::<ParsedFields>(line) {
        let fields = EventFieldValues {
            id: parsed.id.as_ref(),
            user: parsed.user.as_ref(),
            kind: parsed.kind.as_ref(),
            time: parsed.time.as_ref(),
            sent_at: parsed.sent_at.as_ref(),
            received_at: parsed.received_at.as_ref(),
            properties: parsed.properties.as_ref(),
        };
        return decode_fields(&fields, schema, future_tolerance_ms);
    }
    let json: Value = serde_json::from_str(line).map_err(|e| DecodeError {
        reason: format!("malformed JSON at column {}: {e}", e.column()),
    })?;
    decode_event(&json, schema, future_tolerance_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SCHEMA: &str = "[events.purchase]\namount = \"double\"\nitem = \"string\"\n[events.app_opened]\n";

    fn schema() -> Schema {
        Schema::from_toml(SCHEMA).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// The slow path: the line as a JSON value, judged by `decode_event`.
    fn by_value(line: &str, schema: &Schema) -> Result<Event, DecodeError> {
        let json: Value = serde_json::from_str(line).map_err(|e| DecodeError {
            reason: format!("malformed JSON at column {}: {e}", e.column()),
        })?;
        decode_event(&json, schema, 60_000)
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            Just("\"e1\"".to_string()),
            Just("\"\"".to_string()),
            Just("\"purchase\"".to_string()),
            Just("\"app_opened\"".to_string()),
            Just("\"2026-11-26T10:00:00Z\"".to_string()),
            Just("1764151200000".to_string()),
            Just("-5".to_string()),
            Just("1.5".to_string()),
            Just("true".to_string()),
            Just("[1, 2]".to_string()),
            Just("{\"amount\": 4.99, \"item\": \"gems\"}".to_string()),
            Just("{\"amount\": \"free\"}".to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("id"),
            Just("user"),
            Just("type"),
            Just("time"),
            Just("sent_at"),
            Just("received_at"),
            Just("properties"),
            Just("other"),
            Just("\\u0069d"),
        ]
        .prop_map(String::from)
    }

    proptest! {
        /// The direct parse decides exactly as the value path does, messages included:
        /// any keys (unknown, escaped, repeated), any values, and broken text.
        #[test]
        fn the_direct_parse_agrees_with_the_value_path(
            pairs in proptest::collection::vec((key(), value()), 0..9),
            cut in proptest::option::weighted(0.1, 0usize..200),
        ) {
            let schema = schema();
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            let mut line = format!("{{{}}}", body.join(", "));
            if let Some(at) = cut {
                line.truncate(at.min(line.len()));
            }
            prop_assert_eq!(decode_event_line(&line, &schema, 60_000), by_value(&line, &schema), "{}", line);
        }
    }

    #[test]
    fn a_complete_event_decodes_on_the_direct_path() {
        let line = r#"{"id": "e1", "user": "u1", "type": "purchase", "time": 1764151200000, "properties": {"amount": 4.99}, "extra": [1]}"#;
        let event = decode_event_line(line, &schema(), 60_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (event.id.as_str(), event.user.as_str(), event.time),
            ("e1", "u1", 1_764_151_200_000)
        );
        assert_eq!(event.properties[0], Some(FieldValue::Double(4.99)));
    }
}
