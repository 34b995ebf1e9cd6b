//! The routes about the rule set as a whole: publish, validate, vocabulary, audit,
//! export, import and status.
//!
//! Contract: see the API's contract. Validation answers 200 with `valid` and the
//! problems located in the given text (it is a question, not a write). The vocabulary
//! is what a guided builder offers: event types with their properties, profile and
//! stats fields with their types, and the functions.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, ApiError, ApiState, Authenticated};
use crate::auth::Role;
use crate::repository::{ImportedFile, PublishItem, RepositoryError};

/// Segments to publish together.
#[derive(Deserialize)]
pub struct PublishBody {
    segments: Vec<PublishItem>,
    #[serde(default)]
    comment: String,
}

/// A text to check.
#[derive(Deserialize)]
pub struct ValidateBody {
    text: String,
    #[serde(default)]
    segment: Option<String>,
}

/// Files to import.
#[derive(Deserialize)]
pub struct ImportBody {
    files: Vec<ImportedFile>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    publish: bool,
}

/// Which audit rows.
#[derive(Deserialize)]
pub struct AuditQuery {
    segment: Option<String>,
}

/// `POST /api/publish`.
pub async fn publish(State(state): State<ApiState>, caller: Authenticated, Json(body): Json<PublishBody>) -> Result<Json<Value>, ApiError> {
    let actor = caller.needs(Role::Editor)?;
    let (segments, delivery) = blocking(&state, move |r| {
        let segments = r.publish(&actor, &body.segments, &body.comment)?;
        Ok((segments, r.delivery().state()))
    })
    .await?;
    Ok(Json(json!({ "segments": segments, "delivery": delivery })))
}

/// `POST /api/validate`.
pub async fn validate(
    State(state): State<ApiState>,
    caller: Authenticated,
    Json(body): Json<ValidateBody>,
) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let outcome = blocking(&state, move |r| match r.validate(&body.text, body.segment.as_deref()) {
        Ok(def) => Ok(json!({ "valid": true, "problems": [], "id": def.id, "name": def.name })),
        Err(RepositoryError::Invalid(problems)) => Ok(json!({ "valid": false, "problems": problems })),
        Err(other) => Err(other),
    })
    .await?;
    Ok(Json(outcome))
}

/// `GET /api/vocabulary`.
pub async fn vocabulary(State(state): State<ApiState>, caller: Authenticated) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let schema = state.repository.schema();
    let fields = |set: &segstream_rules::FieldSet| -> Vec<Value> {
        set.iter()
            .map(|(name, ty)| json!({ "name": name, "type": ty.ty.to_string() }))
            .collect()
    };
    let events: Vec<Value> = (0..schema.event_count())
        .map(|id| {
            let properties = schema.event_properties(id).map(fields).unwrap_or_default();
            json!({ "name": schema.event_name(id), "properties": properties })
        })
        .collect();
    Ok(Json(json!({
        "events": events,
        "profile": fields(&schema.profile),
        "stats": fields(&schema.stats),
        "segmentation_functions": segstream_rules::SEGMENTATION_FUNCTIONS,
        "functions": segstream_rules::OTHER_BUILTINS,
        "kinds": ["dynamic", "sticky"],
    })))
}

/// `GET /api/audit`.
pub async fn audit(State(state): State<ApiState>, caller: Authenticated, Query(query): Query<AuditQuery>) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let rows = blocking(&state, move |r| r.audit(query.segment.as_deref())).await?;
    Ok(Json(json!({ "audit": rows })))
}

/// `GET /api/export`.
pub async fn export(State(state): State<ApiState>, caller: Authenticated) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let snapshot = blocking(&state, |r| r.published_snapshot()).await?;
    Ok(Json(json!({ "version": snapshot.version, "files": snapshot.files })))
}

/// `POST /api/import`.
pub async fn import(State(state): State<ApiState>, caller: Authenticated, Json(body): Json<ImportBody>) -> Result<Json<Value>, ApiError> {
    let actor = caller.needs(Role::Admin)?;
    let report = blocking(&state, move |r| r.import(&actor, &body.files, &body.comment, body.publish)).await?;
    Ok(Json(json!(report)))
}

/// `GET /api/status`: the rule-set version, what the channel has, and which version
/// each classifier worker applied.
pub async fn status(State(state): State<ApiState>, caller: Authenticated) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let live = state.live.clone();
    let (version, delivery, applied) = blocking(&state, move |r| {
        Ok((r.published_snapshot()?.version, r.delivery().state(), live.applied()))
    })
    .await?;
    let live = applied.iter().filter(|v| **v >= version && version > 0).count();
    Ok(Json(json!({
        "ruleset_version": version,
        "delivery": delivery,
        "workers": applied,
        "live_workers": live,
        "caller": {"name": caller.0.name, "role": caller.0.role},
    })))
}

/// `GET /api/audiences`: sizes, hourly moves and trends.
pub async fn audiences(State(state): State<ApiState>, caller: Authenticated) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let live = state.live.clone();
    let audiences = blocking(&state, move |_| Ok(live.audiences())).await?;
    Ok(Json(json!({ "audiences": audiences })))
}

/// `POST /api/dry-run`: the draft `text` (of segment `segment`, if it exists) against
/// every user now, compared with the version in force. 422 if the text does not check,
/// 503 if no classifier can answer.
pub async fn dry_run(
    State(state): State<ApiState>,
    caller: Authenticated,
    Json(body): Json<ValidateBody>,
) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    let live = state.live.clone();
    let outcome = blocking(&state, move |r| {
        let draft = r.validate(&body.text, body.segment.as_deref())?;
        r.check_dry_run(&draft)?;
        let published = r.published_def(&draft.id)?;
        Ok(live.dry_run(&draft, published.as_ref()))
    })
    .await?;
    outcome
        .map(|run| Json(json!(run)))
        .map_err(|e| ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e))
}
