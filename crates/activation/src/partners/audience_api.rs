//! An audience-list API in the shape of a custom-audience endpoint (Meta's
//! `/{audience}/users`, X's custom audience users).
//!
//! Contract: a batch becomes one request per (audience, operation): `POST
//! {url}/{audience}/users` adds and `DELETE` of the same path removes, with the body
//! `{"schema": S, "data": [ids…], "delivery_ids": [ids…]}` where `S` names the
//! identifier (`MADID_SHA256`, `EMAIL_SHA256`, …) and ids are normalised and hashed per
//! the partner's rules. A bearer token is sent when configured. A 2xx answer may name
//! items it refused — `{"invalid": [{"index": i, "reason": "…"}]}` — and only those are
//! dead-lettered; other answers decide for the whole request by their status. A request
//! refused whole is bisected by the pipeline, so one bad id cannot fail 10,000.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use super::{outcome_of_status, Item, Outcome, Planned};
use crate::config::PartnerConfig;
use crate::http::{PartnerRequest, PartnerResponse};
use crate::identity::{Hashing, Normalisation};

/// The identifier schema named in requests.
pub fn schema_name(config: &PartnerConfig) -> String {
    let kind = match (config.identifier.field.as_deref(), config.identifier.normalise) {
        (_, Normalisation::Madid) => "MADID",
        (_, Normalisation::Email) => "EMAIL",
        (_, Normalisation::Phone) => "PHONE",
        (None, Normalisation::None) => "EXTERN_ID",
        (Some(_), Normalisation::None) => "EXTERN_ID",
    };
    match config.identifier.hash {
        Hashing::Sha256 => format!("{kind}_SHA256"),
        Hashing::None => kind.to_string(),
    }
}

/// The requests for `items`, indices into `items`.
pub fn plan(config: &PartnerConfig, items: &[Item]) -> Vec<Planned> {
    let mut groups: BTreeMap<(&str, bool), Vec<usize>> = BTreeMap::new();
    for (index, item) in items.iter().enumerate() {
        groups.entry((item.audience.as_str(), item.change.entered)).or_default().push(index);
    }
    let schema = schema_name(config);
    let mut headers = Vec::new();
    if !config.secret.is_empty() {
        headers.push(("authorization", format!("Bearer {}", config.secret.expose())));
    }
    groups
        .into_iter()
        .map(|((audience, add), indices)| {
            let body = json!({
                "schema": schema,
                "data": indices.iter().map(|&i| items[i].identifier.as_str()).collect::<Vec<_>>(),
                "delivery_ids": indices.iter().map(|&i| items[i].delivery_id.as_str()).collect::<Vec<_>>(),
            });
            Planned {
                request: PartnerRequest {
                    method: if add { "POST" } else { "DELETE" },
                    url: format!("{}/{}/users", config.url.trim_end_matches('/'), audience),
                    headers: headers.clone(),
                    body: body.to_string().into_bytes(),
                },
                items: indices,
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct Invalid {
    index: usize,
    #[serde(default)]
    reason: String,
}

/// What an answer means for a request of `count` items.
pub fn interpret(response: &PartnerResponse, count: usize) -> Outcome {
    match outcome_of_status(response) {
        Outcome::Delivered => match serde_json::from_str::<Answer>(&response.body) {
            Ok(answer) if !answer.invalid.is_empty() => {
                let rejected: Vec<(usize, String)> = answer
                    .invalid
                    .into_iter()
                    .filter(|i| i.index < count)
                    .map(|i| (i.index, format!("the partner refused the id: {}", i.reason)))
                    .collect();
                if rejected.is_empty() {
                    Outcome::Delivered
                } else {
                    Outcome::PartlyRejected(rejected)
                }
            }
            // A 2xx without a readable list of refused items accepted them all.
            _ => Outcome::Delivered,
        },
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::change::{Change, Position};
    use crate::config::parse_partners;

    pub(crate) fn item(user: &str, audience: &str, entered: bool) -> Item {
        Item {
            change: Change {
                user: user.into(),
                segment: "s".into(),
                tick: 1,
                entered,
                position: Position { partition: 0, offset: 0 },
                read_at_ms: 0,
            },
            delivery_id: format!("d-{user}"),
            identifier: format!("id-{user}"),
            audience: audience.into(),
        }
    }

    fn config() -> PartnerConfig {
        let text = "[[partner]]\nid = \"m\"\nkind = \"audience_api\"\nurl = \"http://h/aud/\"\nsegments = { s = \"a1\" }\nidentifier = { field = \"deviceId\", normalise = \"madid\", hash = \"sha256\" }\ncredentials = { env = \"T\" }\n";
        parse_partners("p", text, None, &|_| Some("tok".into())).unwrap().remove(0)
    }

    #[test]
    fn adds_and_removes_go_to_their_audience_in_separate_requests() {
        let items = vec![item("u1", "a1", true), item("u2", "a2", false), item("u3", "a1", true)];
        let planned = plan(&config(), &items);
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0].request.method, "POST");
        assert_eq!(planned[0].request.url, "http://h/aud/a1/users");
        assert_eq!(planned[0].items, vec![0, 2]);
        let body: serde_json::Value = serde_json::from_slice(&planned[0].request.body).unwrap();
        assert_eq!(body["schema"], "MADID_SHA256");
        assert_eq!(body["data"], serde_json::json!(["id-u1", "id-u3"]));
        assert_eq!(planned[1].request.method, "DELETE");
        assert_eq!(planned[1].request.headers, vec![("authorization", "Bearer tok".to_string())]);
    }

    #[test]
    fn item_errors_are_honoured_and_other_answers_decide_by_status() {
        let ok = |body: &str| PartnerResponse {
            status: 200,
            retry_after: None,
            body: body.into(),
        };
        assert_eq!(interpret(&ok("{}"), 3), Outcome::Delivered);
        assert_eq!(interpret(&ok("garbage"), 3), Outcome::Delivered);
        assert_eq!(
            interpret(&ok(r#"{"invalid": [{"index": 1, "reason": "bad id"}, {"index": 9}]}"#), 3),
            Outcome::PartlyRejected(vec![(1, "the partner refused the id: bad id".into())])
        );
        let refused = PartnerResponse {
            status: 400,
            retry_after: None,
            body: "bad batch".into(),
        };
        assert!(matches!(interpret(&refused, 3), Outcome::Rejected(r) if r.contains("bad batch")));
    }
}
