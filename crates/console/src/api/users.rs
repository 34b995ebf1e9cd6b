//! The user lookup route: one user as the running classifier holds them.
//!
//! Contract: `GET /api/users/{id}` (viewer) answers the [`UserReport`] of the worker
//! holding the user: every segment in force with the user's membership, the
//! condition's last result and the value of each input it reads, exact at the event
//! time `as_of_ms`. 404 when no worker holds the user, 400 for an id that no collector
//! would accept (empty or longer than [`MAX_USER_ID_BYTES`]), 503 when no classifier
//! answers.
//!
//! [`UserReport`]: segstream_model::user_report::UserReport

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{blocking, ApiError, ApiState, Authenticated};
use crate::auth::Role;

/// The longest user id looked up.
pub const MAX_USER_ID_BYTES: usize = 256;

/// `GET /api/users/{id}`.
pub async fn lookup(State(state): State<ApiState>, caller: Authenticated, Path(user): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.needs(Role::Viewer)?;
    if user.is_empty() || user.len() > MAX_USER_ID_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("a user id is 1 to {MAX_USER_ID_BYTES} bytes"),
        ));
    }
    let live = state.live.clone();
    let asked = user.clone();
    let answer = blocking(&state, move |_| Ok(live.lookup(&asked))).await?;
    match answer {
        Ok(Some(report)) => Ok(Json(json!(report))),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no classifier worker holds user {user:?} (never seen, or every trace of them expired)"),
        )),
        Err(e) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e)),
    }
}
