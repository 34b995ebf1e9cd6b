//! Signed webhooks: one JSON request per batch, signed in the Standard Webhooks way.
//!
//! Contract: `POST {url}` with the body `{"type": "segment.membership", "partner": P,
//! "changes": [{"delivery_id", "user", "identifier", "segment", "audience", "change":
//! "enter"|"exit", "time", "time_ms"}…]}`, and the headers `webhook-id` (derived from
//! the delivery ids, so a retry of the same batch has the same id), `webhook-timestamp`
//! (seconds) and `webhook-signature` (`crate::signature`). The status decides.

use serde::Serialize;

use super::{change_word, Item, Planned};
use crate::config::PartnerConfig;
use crate::http::PartnerRequest;
use crate::identity::sha256_hex;
use crate::signature::{sign, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use segstream_time::format_timestamp;

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    partner: &'a str,
    changes: Vec<WebhookChange<'a>>,
}

#[derive(Serialize)]
struct WebhookChange<'a> {
    delivery_id: &'a str,
    user: &'a str,
    identifier: &'a str,
    segment: &'a str,
    audience: &'a str,
    change: &'static str,
    time: String,
    time_ms: u64,
}

/// The request for `items`, signed at `now_seconds`.
pub fn plan(config: &PartnerConfig, items: &[Item], now_seconds: u64) -> Vec<Planned> {
    let body = Body {
        kind: "segment.membership",
        partner: &config.id,
        changes: items
            .iter()
            .map(|item| WebhookChange {
                delivery_id: &item.delivery_id,
                user: &item.change.user,
                identifier: &item.identifier,
                segment: &item.change.segment,
                audience: &item.audience,
                change: change_word(&item.change),
                time: format_timestamp(item.change.tick as i64),
                time_ms: item.change.tick,
            })
            .collect(),
    };
    // Serialising plain structs cannot fail.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let ids: Vec<&str> = items.iter().map(|i| i.delivery_id.as_str()).collect();
    let mut id = sha256_hex(ids.join(",").as_bytes());
    id.truncate(32);
    let id = format!("msg_{id}");
    let signature = sign(config.secret.expose(), &id, now_seconds, &body);
    vec![Planned {
        request: PartnerRequest {
            method: "POST",
            url: config.url.clone(),
            headers: vec![
                (ID_HEADER, id),
                (TIMESTAMP_HEADER, now_seconds.to_string()),
                (SIGNATURE_HEADER, signature),
            ],
            body,
        },
        items: (0..items.len()).collect(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_partners;
    use crate::partners::audience_api::tests::item;
    use crate::signature::verify;

    #[test]
    fn a_batch_is_one_signed_request_whose_id_is_stable() {
        let text = "[[partner]]\nid = \"h\"\nkind = \"webhook\"\nurl = \"http://h/hook\"\nsegments = { s = \"a\" }\ncredentials = { env = \"S\" }\n";
        let config = parse_partners("p", text, None, &|_| Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()))
            .unwrap()
            .remove(0);
        let items = vec![item("u1", "a", true), item("u2", "a", false)];
        let first = plan(&config, &items, 1_000).remove(0);
        let again = plan(&config, &items, 2_000).remove(0);
        assert_eq!(first.request.headers[0], again.request.headers[0], "the same webhook-id on a retry");
        assert_eq!(first.items, vec![0, 1]);
        let header = |name: &str| {
            first
                .request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(
            verify(
                config.secret.expose(),
                &header(ID_HEADER),
                1_000,
                &first.request.body,
                &header(SIGNATURE_HEADER),
                1_000,
                300
            ),
            Ok(())
        );
        let body: serde_json::Value = serde_json::from_slice(&first.request.body).unwrap();
        assert_eq!(body["changes"][1]["change"], "exit");
        assert_eq!(body["changes"][0]["delivery_id"], "d-u1");
    }
}
