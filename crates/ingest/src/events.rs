//! From a request's documents to accepted and rejected events, one by one.
//!
//! Contract: [`accept`] splits the documents of a request by API — a Segment `batch`
//! (`{"batch": [...], "sentAt"}`), a Segment `track` message, or segstream events (an
//! object, an array, or NDJSON lines) — and judges every event on its own: too large
//! (over the per-event limit), not convertible, or not valid for the schema (exactly
//! the classifier's decoder, so what is accepted here will be classified) means
//! rejected with the reason; the rest of the request is unaffected. An accepted event
//! is enriched with `received_at` (the server clock, from which the classifier corrects
//! device clock skew: `received_at − (sent_at − time)`, clamped against the future) and
//! a `collector` object (node id, node address, client address, collector version); its
//! Kafka key is the user id. A rejected one keeps its original payload, byte for byte,
//! for the `failed-events` topic. Events are read from the request's raw text and
//! written without rebuilding them (see [`crate::fields`]); segstream events keep every
//! field they came with, and the collector's fields are appended last, so they win over
//! any a client sent under the same names.

use segstream_rules::Schema;
use segstream_time::format_timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::body::{malformed, parse_documents, BodyError};
use crate::fields::{append_fields, EventFields};
use crate::segment::from_segment;

/// Which API a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/batch` (Segment).
    Batch,
    /// `POST /v1/track` (Segment).
    Track,
    /// `POST /v1/events` (segstream's own JSON).
    Events,
}

/// What the collector adds to every event.
#[derive(Clone, Debug)]
pub struct Enrichment {
    /// The server clock when the request arrived (ms).
    pub received_at_ms: u64,
    /// This collector's node id.
    pub node: String,
    /// This collector's listening address.
    pub node_ip: String,
    /// The client's address.
    pub client_ip: String,
}

impl Enrichment {
    /// The `"received_at":…,"collector":{…}` pairs appended to every event.
    fn fields(&self, received_at: &str) -> String {
        let collector = json!({"node": self.node, "ip": self.node_ip, "client_ip": self.client_ip, "version": VERSION});
        format!(
            "\"received_at\":{},\"collector\":{collector}",
            Value::String(received_at.to_string())
        )
    }
}

/// The judgement on one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// To the events topic: key (user id) and the enriched JSON.
    Accepted {
        /// The user id.
        key: String,
        /// The enriched event.
        line: String,
    },
    /// To the failed-events topic, and reported to the client.
    Rejected {
        /// Its position in the request.
        index: usize,
        /// Its id, if it had one.
        message_id: Option<String>,
        /// Why.
        reason: String,
        /// The original payload.
        payload: String,
    },
}

/// The collector version stamped on events.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The outer shape of a Segment batch.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(borrow, default, rename = "sentAt")]
    sent_at: Option<&'a RawValue>,
}

/// The events of one request, borrowed from its body.
#[derive(Debug)]
pub struct Request<'a> {
    api: Api,
    items: Vec<&'a RawValue>,
    batch_sent_at: Option<&'a RawValue>,
}

impl Request<'_> {
    /// How many events the request holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Reads the events of a request's (inflated) body for `api`. A Segment batch is parsed
/// in one pass straight into its items; other bodies as documents (NDJSON: one per
/// line), each an event or an array of events.
pub fn parse_request(body: &[u8], ndjson: bool, api: Api) -> Result<Request<'_>, BodyError> {
    let shape = || BodyError::Shape("a batch must be a JSON object with a \"batch\" array".to_string());
    let (items, batch_sent_at) = match api {
        Api::Batch if !ndjson => match serde_json::from_slice::<Batch>(body) {
            Ok(batch) => (batch.batch, batch.sent_at),
            Err(e) if e.is_data() => return Err(shape()),
            Err(e) => return Err(malformed(1, &e)),
        },
        Api::Batch => {
            let [top] = parse_documents(body, ndjson)?[..] else {
                return Err(shape());
            };
            let batch: Batch = serde_json::from_str(top.get()).map_err(|_| shape())?;
            (batch.batch, batch.sent_at)
        }
        Api::Track => (parse_documents(body, ndjson)?, None),
        Api::Events => {
            let mut items = Vec::new();
            for document in parse_documents(body, ndjson)? {
                if document.get().starts_with('[') {
                    let inner: Vec<&RawValue> = serde_json::from_str(document.get()).map_err(|e| BodyError::Shape(e.to_string()))?;
                    items.extend(inner);
                } else {
                    items.push(document);
                }
            }
            (items, None)
        }
    };
    Ok(Request { api, items, batch_sent_at })
}

/// The `messageId` (Segment) or `id` (segstream) of a rejected event, if it has one.
fn message_id(item: &RawValue) -> Option<String> {
    let value: Value = serde_json::from_str(item.get()).ok()?;
    ["messageId", "id"]
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str))
        .map(String::from)
}

/// Judges one event; `Ok` is its user id and enriched line.
fn judge(
    item: &RawValue,
    api: Api,
    batch_sent_at: Option<&RawValue>,
    received_at: &Value,
    enrichment: &str,
    schema: &Schema,
    future_tolerance_ms: u64,
) -> Result<(String, String), String> {
    match api {
        Api::Batch | Api::Track => {
            let fields = from_segment(item, batch_sent_at)?;
            let user = fields.judge(received_at, schema, future_tolerance_ms)?;
            Ok((user, fields.write(enrichment)))
        }
        Api::Events => {
            if !item.get().starts_with('{') {
                return Err("an event must be a JSON object".into());
            }
            let fields: EventFields = serde_json::from_str(item.get()).map_err(|e| format!("invalid event: {e}"))?;
            let user = fields.judge(received_at, schema, future_tolerance_ms)?;
            Ok((user, append_fields(item.get(), enrichment)))
        }
    }
}

/// Judges every event of a request (see the module contract).
pub fn accept(
    request: &Request<'_>,
    schema: &Schema,
    future_tolerance_ms: u64,
    event_limit: usize,
    enrichment: &Enrichment,
) -> Vec<Outcome> {
    let Request {
        api,
        ref items,
        batch_sent_at,
    } = *request;
    let received_at = format_timestamp(enrichment.received_at_ms as i64);
    let appended = enrichment.fields(&received_at);
    // One JSON string for the whole request, not one allocation per event.
    let received_at = Value::String(received_at);
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let size = item.get().len();
            let judged = if size > event_limit {
                Err(format!("the event is {size} bytes; the limit is {event_limit}"))
            } else {
                judge(item, api, batch_sent_at, &received_at, &appended, schema, future_tolerance_ms)
            };
            match judged {
                Ok((key, line)) => Outcome::Accepted { key, line },
                Err(reason) => Outcome::Rejected {
                    index,
                    message_id: message_id(item),
                    reason,
                    payload: item.get().to_string(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use segstream_model::event::decode::{decode_event, decode_event_line};
    use serde_json::Map;

    fn schema() -> Schema {
        Schema::from_toml("[events.ad_watched]\nad_id = \"string\"\n").unwrap()
    }

    fn enrichment() -> Enrichment {
        Enrichment {
            received_at_ms: 1_800_000_010_000,
            node: "c1".into(),
            node_ip: "10.0.0.1".into(),
            client_ip: "1.2.3.4".into(),
        }
    }

    fn event(id: &str, ad: Value) -> Value {
        json!({"messageId": id, "userId": "u1", "event": "ad_watched", "properties": {"ad_id": ad},
            "originalTimestamp": 1_800_000_000_000u64, "sentAt": 1_800_000_002_000u64})
    }

    fn run(documents: &[Value], api: Api) -> Result<Vec<Outcome>, BodyError> {
        let body = documents.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
        let request = parse_request(body.as_bytes(), documents.len() > 1, api)?;
        Ok(accept(&request, &schema(), 60_000, 32_768, &enrichment()))
    }

    #[test]
    fn each_event_is_judged_alone_and_enriched() {
        let mut batch: Vec<Value> = (0..100).map(|i| event(&format!("m{i}"), json!("A"))).collect();
        for bad in [3, 50, 99] {
            batch[bad] = event(&format!("m{bad}"), json!(7));
        }
        let outcomes = run(&[json!({"batch": batch})], Api::Batch).unwrap();
        let rejected: Vec<(usize, Option<String>)> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Rejected {
                    index, message_id, reason, ..
                } => {
                    assert!(reason.contains("ad_id"), "{reason}");
                    Some((*index, message_id.clone()))
                }
                Outcome::Accepted { .. } => None,
            })
            .collect();
        assert_eq!(
            rejected,
            vec![(3, Some("m3".into())), (50, Some("m50".into())), (99, Some("m99".into()))]
        );
        let Outcome::Accepted { key, line } = &outcomes[0] else {
            panic!("accepted")
        };
        assert_eq!(key, "u1");
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["collector"]["client_ip"], "1.2.3.4");
        // The classifier's decoder corrects the device clock: 2 s of skew in sending.
        let decoded = decode_event(&line, &schema(), 60_000).unwrap();
        assert_eq!(decoded.time, 1_800_000_010_000 - 2_000);
    }

    #[test]
    fn oversized_events_and_wrong_shapes_are_refused() {
        let big = event("big", json!("x".repeat(40_000)));
        let outcomes = run(&[big], Api::Track).unwrap();
        assert!(matches!(&outcomes[0], Outcome::Rejected { reason, .. } if reason.contains("limit is 32768")));
        assert!(run(&[json!([1])], Api::Batch).is_err());
        assert!(run(&[json!({"batch": 1})], Api::Batch).is_err());
        let own = json!([{"id": "e1", "user": "u", "type": "ad_watched", "time": 5}, {"id": "e2"}, 3]);
        let outcomes = run(&[own], Api::Events).unwrap();
        assert!(matches!(outcomes[0], Outcome::Accepted { .. }));
        assert!(matches!(&outcomes[1], Outcome::Rejected { reason, .. } if reason.contains("user")));
        assert!(matches!(&outcomes[2], Outcome::Rejected { reason, payload, .. } if reason.contains("object") && payload == "3"));
    }

    #[test]
    fn a_batch_is_parsed_in_one_pass_with_syntax_and_shape_told_apart() {
        let malformed = parse_request(b"{\"batch\": [{\"a\": }]}", false, Api::Batch).unwrap_err();
        assert!(
            matches!(&malformed, BodyError::Malformed(m) if m.contains("line 1, column")),
            "{malformed}"
        );
        let shape = parse_request(b"{\"batch\": {}}", false, Api::Batch).unwrap_err();
        assert!(matches!(&shape, BodyError::Shape(m) if m.contains("\"batch\" array")), "{shape}");
        let request = parse_request(b"{\"sentAt\": 5, \"batch\": [{}, 1]}", false, Api::Batch).unwrap();
        assert_eq!((request.len(), request.batch_sent_at.map(RawValue::get)), (2, Some("5")));
    }

    #[test]
    fn segstream_events_keep_their_fields_and_the_collector_wins() {
        let own = json!({"id": "e1", "user": "u", "type": "ad_watched", "time": 5, "custom": [1], "received_at": 0});
        let Outcome::Accepted { line, .. } = &run(&[own], Api::Events).unwrap()[0] else {
            panic!("accepted")
        };
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["custom"], json!([1]));
        assert_eq!(line["received_at"], json!(format_timestamp(1_800_000_010_000)));
    }

    fn field() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(json!("u1"))),
            Just(Some(json!(""))),
            Just(Some(json!(1_800_000_000_000u64))),
            Just(Some(json!("2026-11-26T10:00:00Z"))),
            Just(Some(json!("ad_watched"))),
            Just(Some(json!({"ad_id": "A"}))),
            Just(Some(json!({"ad_id": 3}))),
            Just(Some(json!([true]))),
        ]
    }

    proptest! {
        /// The oracle: whatever the collector accepts, the classifier decodes from the
        /// line the collector wrote, to the same user; whatever it rejects, the decoder
        /// rejects when given the whole event with the same `received_at`.
        #[test]
        fn acceptance_is_exactly_the_classifiers_decoder(
            fields in proptest::collection::vec(field(), 7),
            segment in any::<bool>(),
        ) {
            let names: [&str; 7] = if segment {
                ["messageId", "userId", "event", "originalTimestamp", "sentAt", "properties", "context"]
            } else {
                ["id", "user", "type", "time", "sent_at", "properties", "context"]
            };
            let mut object = serde_json::Map::new();
            for (name, value) in names.iter().zip(&fields) {
                if let Some(value) = value {
                    object.insert(name.to_string(), value.clone());
                }
            }
            let api = if segment { Api::Track } else { Api::Events };
            let outcome = run(&[Value::Object(object.clone())], api).unwrap().remove(0);
            match outcome {
                Outcome::Accepted { key, line } => {
                    let decoded = decode_event_line(&line, &schema(), 60_000).unwrap();
                    prop_assert_eq!(decoded.user, key);
                }
                Outcome::Rejected { reason, .. } => {
                    let mut whole = Map::new();
                    let canonical = ["id", "user", "type", "time", "sent_at", "properties", "context"];
                    for (name, value) in canonical.iter().zip(&fields) {
                        if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
                            whole.insert(name.to_string(), value.clone());
                        }
                    }
                    whole.insert("received_at".into(), json!(format_timestamp(1_800_000_010_000)));
                    let decoded = decode_event(&Value::Object(whole), &schema(), 60_000);
                    prop_assert!(decoded.is_err(), "rejected ({}) but the decoder accepts", reason);
                }
            }
        }
    }
}
