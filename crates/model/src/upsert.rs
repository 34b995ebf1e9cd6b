//! Profile and stats upserts: the records that keep the classifier's side inputs.
//!
//! Contract: on a topic (`user-profiles`, `user-stats`) an upsert is a message keyed by
//! the user id whose value is a JSON object of fields, or no value (a tombstone) to
//! delete; [`decode_row`] reads the value. In a file (`segstream run --profiles`,
//! `--stats`) it is a line `{"user": "...", "time": <RFC 3339 or ms, optional>,
//! "<record>": {...} | null}` with `<record>` `profile` or `stats`; [`decode_upsert_line`]
//! reads it, and without `time` the upsert holds from the start. Fields are typed by the
//! schema's [`FieldSet`]. Decoders never panic; they say what is wrong.
//!
//! ```
//! # use segstream_rules::Schema;
//! # let schema = Schema::from_toml("[profile]\ncountry = \"string\"\n[events.app_opened]\n").unwrap();
//! use segstream_model::upsert::{decode_row, decode_upsert_line};
//! let row = decode_row(Some(br#"{"country": "FR"}"#), &schema.profile).unwrap();
//! assert!(row.is_some());
//! let (time, user, row) = decode_upsert_line(r#"{"user": "u1", "profile": null}"#, "profile", &schema.profile).unwrap();
//! assert_eq!((time, user.as_str(), row), (0, "u1", None));
//! ```

use segstream_rules::FieldSet;
use segstream_time::parse_timestamp;
use serde_json::Value;

use crate::event::Row;

/// The fields of an upsert's value, or `None` for a tombstone (no value).
pub fn decode_row(payload: Option<&[u8]>, fields: &FieldSet) -> Result<Option<Row>, String> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    let json: Value = serde_json::from_slice(payload).map_err(|e| format!("malformed JSON at column {}: {e}", e.column()))?;
    match json {
        Value::Object(map) => Ok(Some(fields.read_json(&map)?)),
        _ => Err("expected a JSON object of fields".into()),
    }
}

/// One upsert line of a file: `(time in epoch ms, user, row or delete)`.
pub fn decode_upsert_line(line: &str, record: &str, fields: &FieldSet) -> Result<(u64, String, Option<Row>), String> {
    let json: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let user = json
        .get("user")
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
        .ok_or("missing \"user\"")?;
    let time = match json.get("time") {
        None | Some(Value::Null) => 0,
        Some(Value::String(text)) => u64::try_from(parse_timestamp(text)?).map_err(|_| "\"time\" before 1970")?,
        Some(Value::Number(n)) => n.as_u64().ok_or("\"time\" must be whole epoch milliseconds")?,
        Some(_) => return Err("\"time\" must be an RFC 3339 string or epoch milliseconds".into()),
    };
    let row = match json.get(record) {
        None => return Err(format!("missing \"{record}\" (an object, or null to delete)")),
        Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(fields.read_json(map).map_err(|e| format!("{record}: {e}"))?),
        Some(_) => return Err(format!("\"{record}\" must be an object or null")),
    };
    Ok((time, user.to_string(), row))
}
