//! The routes about one segment: list, create, read, save a draft, delete, versions,
//! dependents, rollback, rename.
//!
//! Contract: see the API's contract; every answer about one segment carries its `ETag`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, if_match, with_etag, ApiError, ApiState, Authenticated};
use crate::auth::Role;
use crate::repository::{Actor, Edit, SegmentView};

/// A segment's text and why it changed.
#[derive(Deserialize)]
pub struct TextBody {
    text: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    file: Option<String>,
}

/// Why (for deletes).
#[derive(Deserialize, Default)]
pub struct CommentBody {
    #[serde(default)]
    comment: String,
}

/// A rollback target.
#[derive(Deserialize)]
pub struct RollbackBody {
    version: u32,
    #[serde(default)]
    comment: String,
}

/// A new id.
#[derive(Deserialize)]
pub struct RenameBody {
    to: String,
    #[serde(default)]
    comment: String,
}

/// The edit a request to one segment makes.
fn edit<'a>(actor: &'a Actor, id: &'a str, if_match: &'a Option<String>, comment: &'a str) -> Edit<'a> {
    Edit {
        actor,
        segment: id,
        if_match: if_match.as_deref(),
        comment,
    }
}

fn answer(status: StatusCode, view: &SegmentView) -> Response {
    with_etag(status, &view.etag, json!(view))
}

/// `GET /api/segments`.
pub async fn list(State(state): State<ApiState>, caller: Authenticated) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let segments = blocking(&state, |r| r.list()).await?;
    Ok(Json(json!({ "segments": segments })))
}

/// `POST /api/segments`.
pub async fn create(State(state): State<ApiState>, caller: Authenticated, Json(body): Json<TextBody>) -> Result<Response, ApiError> {
    let actor = caller.needs(Role::Editor)?;
    let view = blocking(&state, move |r| r.create(&actor, &body.text, body.file.as_deref(), &body.comment)).await?;
    Ok(answer(StatusCode::CREATED, &view))
}

/// `GET /api/segments/{id}`.
pub async fn one(State(state): State<ApiState>, caller: Authenticated, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.needs(Role::Viewer)?;
    let view = blocking(&state, move |r| r.get(&id)).await?;
    Ok(answer(StatusCode::OK, &view))
}

/// `PUT /api/segments/{id}`: saves a draft.
pub async fn save(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<TextBody>,
) -> Result<Response, ApiError> {
    let actor = caller.needs(Role::Editor)?;
    let expected = if_match(&headers);
    let view = blocking(&state, move |r| {
        r.save_draft(edit(&actor, &id, &expected, &body.comment), &body.text)
    })
    .await?;
    Ok(answer(StatusCode::OK, &view))
}

/// `DELETE /api/segments/{id}`.
pub async fn delete(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Option<Json<CommentBody>>,
) -> Result<Response, ApiError> {
    let actor = caller.needs(Role::Admin)?;
    let expected = if_match(&headers);
    let comment = body.map(|Json(b)| b.comment).unwrap_or_default();
    let view = blocking(&state, move |r| r.delete(edit(&actor, &id, &expected, &comment))).await?;
    Ok(answer(StatusCode::OK, &view))
}

/// `GET /api/segments/{id}/versions`.
pub async fn versions(State(state): State<ApiState>, caller: Authenticated, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let versions = blocking(&state, move |r| r.versions(&id)).await?;
    Ok(Json(json!({ "versions": versions })))
}

/// `GET /api/segments/{id}/dependents`.
pub async fn dependents(State(state): State<ApiState>, caller: Authenticated, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let dependents = blocking(&state, move |r| r.get(&id).and_then(|_| r.dependents(&id))).await?;
    Ok(Json(json!({ "dependents": dependents })))
}

/// `POST /api/segments/{id}/rollback`.
pub async fn rollback(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RollbackBody>,
) -> Result<Response, ApiError> {
    let actor = caller.needs(Role::Editor)?;
    let expected = if_match(&headers);
    let view = blocking(&state, move |r| {
        r.rollback(edit(&actor, &id, &expected, &body.comment), body.version)
    })
    .await?;
    Ok(answer(StatusCode::OK, &view))
}

/// `POST /api/segments/{id}/rename`.
pub async fn rename(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RenameBody>,
) -> Result<Response, ApiError> {
    let actor = caller.needs(Role::Editor)?;
    let expected = if_match(&headers);
    let view = blocking(&state, move |r| r.rename(edit(&actor, &id, &expected, &body.comment), &body.to)).await?;
    Ok(answer(StatusCode::OK, &view))
}
