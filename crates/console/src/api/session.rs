//! Signing in from the browser: a token checked once and kept in an HTTP-only cookie.
//!
//! Contract: `POST /api/session {"token"}` answers 200 with the caller's name and role
//! and sets the `segstream_token` cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`), or
//! 401 for an unknown token; `DELETE /api/session` clears the cookie. The API's other
//! routes read the cookie as they read a bearer token. `SameSite=Strict` and JSON-only
//! writes keep other sites from riding on the cookie.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiState};
use crate::auth::COOKIE;

/// A token to sign in with.
#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

fn with_cookie(mut response: Response, value: &str) -> Response {
    if let Ok(cookie) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /api/session`.
pub async fn sign_in(State(state): State<ApiState>, Json(body): Json<SignIn>) -> Result<Response, ApiError> {
    let token = body.token.trim();
    let caller = state
        .tokens
        .identify(Some(token))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"))?;
    // A token is printable ASCII without separators, or it cannot be a cookie value.
    if !token.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "this token cannot be kept in a cookie; use the API with a bearer token",
        ));
    }
    let response = Json(json!({"name": caller.name, "role": caller.role})).into_response();
    Ok(with_cookie(
        response,
        &format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
    ))
}

/// `DELETE /api/session`.
pub async fn sign_out() -> Response {
    with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    )
}
