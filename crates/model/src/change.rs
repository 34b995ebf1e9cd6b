//! What the classifier emits: membership changes, and their one record format.
//!
//! Contract: a [`MembershipChange`] says that at event time `time` (a tick) `user`
//! entered or exited `segment`. For each user and segment, changes alternate enter,
//! exit, enter, … in time order. Changes order by time, then user, then segment.
//!
//! The change record — a line of the embedded NDJSON file and a `segment-changes`
//! message alike — is `{"time", "time_ms", "user", "segment", "change":
//! "enter"|"exit", "emitted_at"}` with RFC 3339 times; [`change_json`] writes it and
//! [`decode_change`] reads it back (never panicking; it says what is wrong).
//!
//! ```
//! use segstream_model::change::{change_json, decode_change};
//! let line = change_json("u1", "whales", 1_700, true, 9).to_string();
//! assert_eq!(decode_change(line.as_bytes()), Ok(("u1".into(), "whales".into(), 1_700, true)));
//! ```

use segstream_time::format_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One user entering or leaving one segment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MembershipChange {
    /// The tick at which it holds.
    pub time: u64,
    /// The user.
    pub user: String,
    /// The segment id.
    pub segment: String,
    /// `true` for enter, `false` for exit.
    pub entered: bool,
}

impl MembershipChange {
    /// Changes from a differential update of `(user, segment)` with a diff (+1 enter, −1 exit).
    pub fn from_update(user: &str, segment: &str, time: u64, diff: isize) -> MembershipChange {
        MembershipChange {
            time,
            user: user.to_string(),
            segment: segment.to_string(),
            entered: diff > 0,
        }
    }
}

/// One membership change as its JSON record.
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
}
