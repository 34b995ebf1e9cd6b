//! The console's REST API: `fn app() -> Router`, testable without a server.
//!
//! Contract: every route is under `/api` and answers JSON; `/api/openapi.json` describes
//! them all. A request is identified by its bearer token ([`crate::auth`]); a missing or
//! unknown token is 401, a role too low for the route 403. Reads need a viewer, rule
//! writes an editor, delete and import an admin. A segment's `ETag` is returned on
//! every answer about one segment; writes to one segment take it as `If-Match` (428
//! without it, 412 when stale, with the current `ETag` in the answer). Problems in rule
//! text are 422 with each problem's segment, line and column; dependents block a delete
//! or rename with 409 and their list; a busy or locked database is 503 with
//! `Retry-After`; a damaged one is 500 saying so. Repository work runs on tokio's
//! blocking pool, so a slow disk never stalls the server.

mod rules;
mod segments;
mod session;
mod users;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::{presented_token, Caller, Role, Tokens};
use crate::repository::{Actor, Repository, RepositoryError};
use crate::store::StoreError;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../../../docs/console-openapi.json");

/// The largest request body (a rule file import, mostly).
pub const MAX_BODY_BYTES: usize = 10 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The repository.
    pub repository: Arc<Repository>,
    /// Who may do what.
    pub tokens: Arc<Tokens>,
    /// What the classifiers show.
    pub live: Arc<dyn crate::live::LiveView>,
}

/// The API's routes (see the module contract).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/segments", get(segments::list).post(segments::create))
        .route(
            "/api/segments/{id}",
            get(segments::one).put(segments::save).delete(segments::delete),
        )
        .route("/api/segments/{id}/versions", get(segments::versions))
        .route("/api/segments/{id}/dependents", get(segments::dependents))
        .route("/api/segments/{id}/rollback", post(segments::rollback))
        .route("/api/segments/{id}/rename", post(segments::rename))
        .route("/api/publish", post(rules::publish))
        .route("/api/validate", post(rules::validate))
        .route("/api/vocabulary", get(rules::vocabulary))
        .route("/api/audit", get(rules::audit))
        .route("/api/export", get(rules::export))
        .route("/api/import", post(rules::import))
        .route("/api/status", get(rules::status))
        .route("/api/audiences", get(rules::audiences))
        .route("/api/dry-run", post(rules::dry_run))
        .route("/api/users/{id}", get(users::lookup))
        .route("/api/session", post(session::sign_in).delete(session::sign_out))
        .route(
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The API as an app of its own.
pub fn app(state: ApiState) -> Router {
    routes().with_state(state)
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
            headers: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    /// The answer; a server-side failure (5xx) is logged here, once, where every API
    /// error is answered (refusals of the caller's request are not: they are the
    /// caller's to read).
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self.body["error"], "console: a request failed");
        }
        let mut response = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<RepositoryError> for ApiError {
    fn from(error: RepositoryError) -> ApiError {
        let message = error.to_string();
        match error {
            RepositoryError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, message),
            RepositoryError::PreconditionRequired => ApiError::new(StatusCode::PRECONDITION_REQUIRED, message),
            RepositoryError::Stale { current, .. } => {
                let mut e = ApiError::new(StatusCode::PRECONDITION_FAILED, message);
                e.body["current_etag"] = json!(current);
                e.headers.extend(HeaderValue::from_str(&current).ok().map(|v| (header::ETAG, v)));
                e
            }
            RepositoryError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, message),
            RepositoryError::Invalid(problems) => {
                let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the rules do not check");
                e.body["problems"] = json!(problems);
                e
            }
            RepositoryError::Dependents { dependents, .. } => {
                let mut e = ApiError::new(StatusCode::CONFLICT, message);
                e.body["dependents"] = json!(dependents);
                e
            }
            RepositoryError::BadRequest(_) => ApiError::new(StatusCode::BAD_REQUEST, message),
            RepositoryError::Store(StoreError::Conflict(_)) => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, format!("{message}; reload and retry"))
            }
            RepositoryError::Store(StoreError::Busy(_)) => {
                let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message);
                e.headers.push((header::RETRY_AFTER, HeaderValue::from_static("1")));
                e
            }
            RepositoryError::Store(StoreError::Corrupt(_) | StoreError::Failed(_)) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
        }
    }
}

/// The caller of a request, identified by its token (401 if unknown).
pub struct Authenticated(pub Caller);

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let text = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let token = presented_token(text(header::AUTHORIZATION), text(header::COOKIE));
        state.tokens.identify(token).map(Authenticated).ok_or_else(|| {
            let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "a valid bearer token is needed");
            e.headers
                .push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"segstream\"")));
            e
        })
    }
}

impl Authenticated {
    /// The caller as an actor, if their role is at least `needed` (403 otherwise).
    pub fn needs(&self, needed: Role) -> Result<Actor, ApiError> {
        if self.0.role >= needed {
            Ok(Actor { name: self.0.name.clone() })
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{} is a {:?}; this needs {needed:?}", self.0.name, self.0.role).to_lowercase(),
            ))
        }
    }
}

/// Runs repository work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    state: &ApiState,
    work: impl FnOnce(&Repository) -> Result<T, RepositoryError> + Send + 'static,
) -> Result<T, ApiError> {
    let repository = state.repository.clone();
    tokio::task::spawn_blocking(move || work(&repository))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {e}")))?
        .map_err(ApiError::from)
}

/// The `If-Match` header, if any.
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// A JSON answer carrying an `ETag`.
pub fn with_etag(status: StatusCode, etag: &str, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
