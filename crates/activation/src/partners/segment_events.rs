//! Segment-shaped track events: "Audience Entered" / "Audience Exited", the way
//! Segment Engage sends audiences to event destinations.
//!
//! Contract: `POST {url}` (a Segment-compatible `/v1/batch`) with `{"batch": [{"type":
//! "track", "event": "Audience Entered"|"Audience Exited", "userId": identifier,
//! "messageId": delivery id, "timestamp": the change's time, "properties": {"audience_key":
//! segment, "audience_id": …, "segment": …}}…]}` and, when configured, HTTP Basic auth
//! with the write key as the user name. The status decides.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use super::{Item, Planned};
use crate::config::PartnerConfig;
use crate::http::PartnerRequest;
use segstream_time::format_timestamp;

/// The request for `items`.
pub fn plan(config: &PartnerConfig, items: &[Item]) -> Vec<Planned> {
    let batch: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            json!({
                "type": "track",
                "event": if item.change.entered { "Audience Entered" } else { "Audience Exited" },
                "userId": item.identifier,
                "messageId": item.delivery_id,
                "timestamp": format_timestamp(item.change.tick as i64),
                "properties": {"audience_key": item.change.segment, "audience_id": item.audience, "segment": item.change.segment},
            })
        })
        .collect();
    let mut headers = Vec::new();
    if !config.secret.is_empty() {
        headers.push((
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{}:", config.secret.expose()))),
        ));
    }
    vec![Planned {
        request: PartnerRequest {
            method: "POST",
            url: config.url.clone(),
            headers,
            body: json!({ "batch": batch }).to_string().into_bytes(),
        },
        items: (0..items.len()).collect(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_partners;
    use crate::partners::audience_api::tests::item;

    #[test]
    fn entries_and_exits_become_track_events_with_the_delivery_id() {
        let text = "[[partner]]\nid = \"seg\"\nkind = \"segment\"\nurl = \"http://h/v1/batch\"\nsegments = { s = \"a\" }\ncredentials = { env = \"K\" }\n";
        let config = parse_partners("p", text, None, &|_| Some("wk".into())).unwrap().remove(0);
        let planned = plan(&config, &[item("u1", "a", true), item("u2", "a", false)]).remove(0);
        let body: serde_json::Value = serde_json::from_slice(&planned.request.body).unwrap();
        assert_eq!(body["batch"][0]["event"], "Audience Entered");
        assert_eq!(body["batch"][1]["event"], "Audience Exited");
        assert_eq!(body["batch"][1]["messageId"], "d-u2");
        assert_eq!(body["batch"][0]["properties"]["audience_id"], "a");
        assert_eq!(planned.request.headers, vec![("authorization", "Basic d2s6".to_string())]);
    }
}
