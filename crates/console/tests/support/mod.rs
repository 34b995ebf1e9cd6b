//! What the console's API tests share: an app over an in-memory repository, a channel
//! that records what it is handed, three tokens, and a one-call request helper.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use segstream_console::api::{app, ApiState};
use segstream_console::auth::{Role, Tokens};
use segstream_console::repository::{Repository, RuleChannel};
use segstream_console::store::sqlite::SqliteStore;
use segstream_console::store::RuleStore;
use segstream_rules::snapshot::RulesSnapshot;
use serde_json::Value;
use tower::ServiceExt;

pub const VIEWER: &str = "viewer-token-0123456789";
pub const EDITOR: &str = "editor-token-0123456789";
pub const ADMIN: &str = "admin-token-0123456789ab";

pub const SCHEMA: &str =
    "[profile]\ncountry = \"string\"\n[stats]\n[events.ad_shown]\n[events.ad_clicked]\n[events.purchase]\namount = \"double\"\n";

/// A channel that records every set it is handed, and can be made to fail.
#[derive(Default)]
pub struct RecordingChannel {
    pub received: Mutex<Vec<RulesSnapshot>>,
    pub failing: Mutex<bool>,
}

impl RuleChannel for RecordingChannel {
    fn deliver(&self, snapshot: &RulesSnapshot) -> Result<(), String> {
        if *self.failing.lock().unwrap() {
            return Err("the channel is down".into());
        }
        self.received.lock().unwrap().push(snapshot.clone());
        Ok(())
    }

    fn describe(&self) -> String {
        "recording".into()
    }
}

pub struct Console {
    pub app: Router,
    pub channel: Arc<RecordingChannel>,
    pub store: Arc<dyn RuleStore>,
}

pub fn tokens(insecure: bool) -> Tokens {
    Tokens::new(
        vec![
            ("vic".into(), Role::Viewer, VIEWER.into()),
            ("eve".into(), Role::Editor, EDITOR.into()),
            ("ada".into(), Role::Admin, ADMIN.into()),
        ],
        insecure,
    )
    .unwrap()
}

pub fn console_with(store: Arc<dyn RuleStore>, schema: &str) -> Console {
    let channel = Arc::new(RecordingChannel::default());
    let schema = Arc::new(segstream_rules::Schema::from_toml(schema).unwrap());
    let repository = Arc::new(Repository::new(store.clone(), schema, channel.clone()));
    let state = ApiState {
        repository,
        tokens: Arc::new(tokens(false)),
        live: Arc::new(segstream_console::live::NoLive),
    };
    Console {
        app: app(state),
        channel,
        store,
    }
}

pub fn console() -> Console {
    console_with(Arc::new(SqliteStore::in_memory().unwrap()), SCHEMA)
}

/// A segment table's text.
pub fn segment(id: &str, when: &str) -> String {
    format!("[[segment]]\nid = \"{id}\"\nname = \"{id} name\"\nwhen = '''\n{when}\n'''\n")
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn etag(&self) -> String {
        self.headers
            .get(header::ETAG)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

impl Console {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, if_match: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(etag) = if_match {
            request = request.header(header::IF_MATCH, etag);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        let response = self.app.clone().oneshot(request.unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(VIEWER), None, None).await
    }

    /// Creates a segment as the editor; its ETag.
    pub async fn create(&self, id: &str, when: &str) -> String {
        let answer = self
            .call(
                Method::POST,
                "/api/segments",
                Some(EDITOR),
                None,
                Some(serde_json::json!({"text": segment(id, when)})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.etag()
    }

    /// Deletes segment `id` as the admin, at `etag`, saying why.
    pub async fn delete(&self, id: &str, etag: &str, comment: &str) -> Answer {
        let path = format!("/api/segments/{id}");
        self.call(
            Method::DELETE,
            &path,
            Some(ADMIN),
            Some(etag),
            Some(serde_json::json!({"comment": comment})),
        )
        .await
    }

    /// Saves `text` as a new draft of `id` as the editor, at `etag`.
    pub async fn save(&self, id: &str, etag: &str, text: &str, comment: &str) -> Answer {
        let path = format!("/api/segments/{id}");
        let body = serde_json::json!({"text": text, "comment": comment});
        self.call(Method::PUT, &path, Some(EDITOR), Some(etag), Some(body)).await
    }

    /// Rolls `id` back to `version` as the editor, at `etag`.
    pub async fn rollback(&self, id: &str, etag: &str, version: u32, comment: &str) -> Answer {
        let path = format!("/api/segments/{id}/rollback");
        let body = serde_json::json!({"version": version, "comment": comment});
        self.call(Method::POST, &path, Some(EDITOR), Some(etag), Some(body)).await
    }

    /// Renames `id` to `to` as the editor, at `etag`.
    pub async fn rename(&self, id: &str, etag: &str, to: &str, comment: &str) -> Answer {
        let path = format!("/api/segments/{id}/rename");
        let body = serde_json::json!({"to": to, "comment": comment});
        self.call(Method::POST, &path, Some(EDITOR), Some(etag), Some(body)).await
    }

    /// Publishes segments' newest versions at the ETags given; the answer.
    pub async fn publish(&self, items: &[(&str, &str)], comment: &str) -> Answer {
        let segments: Vec<Value> = items
            .iter()
            .map(|(id, etag)| serde_json::json!({"segment": id, "etag": etag}))
            .collect();
        self.call(
            Method::POST,
            "/api/publish",
            Some(EDITOR),
            None,
            Some(serde_json::json!({"segments": segments, "comment": comment})),
        )
        .await
    }

    /// The ids in the last set the channel received.
    pub fn delivered_ids(&self) -> Vec<String> {
        let received = self.channel.received.lock().unwrap();
        let Some(last) = received.last() else { return Vec::new() };
        last.files
            .iter()
            .flat_map(|f| segstream_console::segment_text::split_file(&f.text).unwrap().chunks)
            .map(|c| c.def.id)
            .collect()
    }
}
