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
//! Kafka key is the user id. A rejected one keeps its original payload for the
//! `failed-events` topic.

use segstream_dataflows::event::decode::decode_event;
use segstream_dataflows::rules::Schema;
use segstream_dataflows::time::format_timestamp;
use serde_json::{json, Value};

use super::segment::from_segment;

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

fn items(documents: Vec<Value>, api: Api) -> Result<(Vec<Value>, Option<Value>), String> {
    match api {
        Api::Batch => {
            let [Value::Object(mut top)] = <[Value; 1]>::try_from(documents).map_err(|_| "expected one JSON object".to_string())? else {
                return Err("a batch must be a JSON object with a \"batch\" array".into());
            };
            let sent_at = top.remove("sentAt");
            match top.remove("batch") {
                Some(Value::Array(batch)) => Ok((batch, sent_at)),
                _ => Err("a batch must be a JSON object with a \"batch\" array".into()),
            }
        }
        Api::Track => Ok((documents, None)),
        Api::Events => Ok((
            documents
                .into_iter()
                .flat_map(|d| match d {
                    Value::Array(items) => items,
                    other => vec![other],
                })
                .collect(),
            None,
        )),
    }
}

/// Judges every event of a request (see the module contract). `Err` means the request
/// as a whole has the wrong shape.
pub fn accept(
    documents: Vec<Value>,
    api: Api,
    schema: &Schema,
    future_tolerance_ms: u64,
    event_limit: usize,
    enrichment: &Enrichment,
) -> Result<Vec<Outcome>, String> {
    let (items, batch_sent_at) = items(documents, api)?;
    let received_at = format_timestamp(enrichment.received_at_ms as i64);
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let payload = item.to_string();
            let message_id = ["messageId", "id"]
                .iter()
                .find_map(|k| item.get(*k).and_then(Value::as_str))
                .map(String::from);
            let reject = |reason: String| Outcome::Rejected {
                index,
                message_id: message_id.clone(),
                reason,
                payload: payload.clone(),
            };
            if payload.len() > event_limit {
                return reject(format!("the event is {} bytes; the limit is {event_limit}", payload.len()));
            }
            let converted = match api {
                Api::Events => Ok(item),
                Api::Batch | Api::Track => from_segment(&item, batch_sent_at.as_ref()),
            };
            let mut event = match converted {
                Ok(event) => event,
                Err(reason) => return reject(reason),
            };
            if let Value::Object(fields) = &mut event {
                fields.insert("received_at".into(), Value::String(received_at.clone()));
                fields.insert(
                    "collector".into(),
                    json!({"node": enrichment.node, "ip": enrichment.node_ip, "client_ip": enrichment.client_ip, "version": VERSION}),
                );
            }
            match decode_event(&event, schema, future_tolerance_ms) {
                Ok(decoded) => Outcome::Accepted {
                    key: decoded.user,
                    line: event.to_string(),
                },
                Err(e) => reject(e.reason),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn each_event_is_judged_alone_and_enriched() {
        let mut batch: Vec<Value> = (0..100).map(|i| event(&format!("m{i}"), json!("A"))).collect();
        for bad in [3, 50, 99] {
            batch[bad] = event(&format!("m{bad}"), json!(7));
        }
        let outcomes = accept(vec![json!({"batch": batch})], Api::Batch, &schema(), 60_000, 32_768, &enrichment()).unwrap();
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
        let outcomes = accept(vec![big], Api::Track, &schema(), 60_000, 32_768, &enrichment()).unwrap();
        assert!(matches!(&outcomes[0], Outcome::Rejected { reason, .. } if reason.contains("limit is 32768")));
        assert!(accept(vec![json!([1])], Api::Batch, &schema(), 60_000, 32_768, &enrichment()).is_err());
        let own = json!([{"id": "e1", "user": "u", "type": "ad_watched", "time": 5}, {"id": "e2"}]);
        let outcomes = accept(vec![own], Api::Events, &schema(), 60_000, 32_768, &enrichment()).unwrap();
        assert!(matches!(outcomes[0], Outcome::Accepted { .. }));
        assert!(matches!(&outcomes[1], Outcome::Rejected { reason, .. } if reason.contains("user")));
    }
}
