//! The event model: a behaviour event as the classifier sees it, typed against the schema.
//!
//! Contract: an [`Event`] has a non-empty id and user (at most [`MAX_ID_BYTES`] bytes
//! each), a known event type (schema id), properties in its type's slot order, and an
//! event time in epoch milliseconds that has been corrected for device clock skew (see
//! [`skew`]). It derives everything timely and differential need to exchange and
//! arrange it (serde, `Ord`, `Hash`). Decoding from JSON lives in [`decode`].

pub mod decode;
pub mod skew;

use serde::{Deserialize, Serialize};

use segstream_rules::FieldValue;

/// Field values of one record in schema slot order (profile, stats, or event properties).
pub type Row = Vec<Option<FieldValue>>;

/// The longest event or user id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// One behaviour event of one user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Event {
    /// Event time in epoch ms, corrected for clock skew (first, so events sort by time).
    pub time: u64,
    /// Unique event id (dedup key).
    pub id: String,
    /// The user it belongs to.
    pub user: String,
    /// Event type id in the schema.
    pub event_type: u32,
    /// Properties by slot of the event type.
    pub properties: Row,
    /// The device's own timestamp of the event, epoch ms.
    pub client_time: i64,
    /// When the device sent it (epoch ms); equals `client_time` when unknown.
    pub sent_at: i64,
    /// When the collector received it (epoch ms); equals `client_time` when unknown.
    pub received_at: i64,
}

/// The user of an event line, the key of its record on the events topic (empty when the
/// line has none: a malformed record is still published, to be rejected downstream).
pub fn user_of(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["user"].as_str().map(String::from))
        .unwrap_or_default()
}
