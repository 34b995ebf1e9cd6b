//! Reading profile or stats upserts from NDJSON for `segstream run`.
//!
//! Contract: each line is `{"user": "...", "time": <RFC 3339 or ms, optional>, "<record>":
//! {...} | null}` where `<record>` is `profile` or `stats`; `null` deletes. Fields are typed
//! by the schema; a bad line is an error naming its line number and reason (upserts are
//! state, so a partly read file is not used). Without `time` the upsert holds from the
//! start.

use std::io::BufRead;
use std::path::Path;

use segstream_dataflows::classifier::ClassifierConfig;
use segstream_dataflows::event::Row;
use segstream_dataflows::rules::FieldSet;
use segstream_dataflows::time::parse_timestamp;

use crate::error::CommandError;

/// One upsert: (tick, user, row or delete).
pub type Upsert = (u64, String, Option<Row>);

fn parse_line(line: &str, record: &str, fields: &FieldSet, config: &ClassifierConfig) -> Result<Upsert, String> {
    let json: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let user = json
        .get("user")
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
        .ok_or("missing \"user\"")?;
    let time = match json.get("time") {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::String(text)) => u64::try_from(parse_timestamp(text)?).map_err(|_| "\"time\" before 1970")?,
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or("\"time\" must be whole epoch milliseconds")?,
        Some(_) => return Err("\"time\" must be an RFC 3339 string or epoch milliseconds".into()),
    };
    let row = match json.get(record) {
        None => return Err(format!("missing \"{record}\" (an object, or null to delete)")),
        Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => Some(fields.read_json(map).map_err(|e| format!("{record}: {e}"))?),
        Some(_) => return Err(format!("\"{record}\" must be an object or null")),
    };
    Ok((config.tick_of(time), user.to_string(), row))
}

/// Reads every upsert of a file.
pub fn read_upserts(path: &Path, record: &str, fields: &FieldSet, config: &ClassifierConfig) -> Result<Vec<Upsert>, CommandError> {
    let file = std::fs::File::open(path).map_err(|source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut upserts = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| CommandError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let upsert = parse_line(&line, record, fields, config)
            .map_err(|reason| CommandError::Invalid(format!("{}:{}: {reason}", path.display(), number + 1)))?;
        upserts.push(upsert);
    }
    Ok(upserts)
}
