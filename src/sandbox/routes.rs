//! The HTTP surface: the router and bearer authentication.
//!
//! Every `/v1` route passes through one gate: authenticate the bearer token (401 in
//! the `ApiErrorResponse` envelope otherwise), then apply injected faults
//! ([`super::faults`]). The handlers themselves are in [`super::submit`] and
//! [`super::results`]; the error envelope is [`super::error`]. This module owns no state
//! and no business rules.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use super::App;
use super::error::ApiError;
use super::request::MAX_BODY_BYTES;
use super::{faults, results, submit};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/balance_requests", post(submit::submit_json))
        .route("/v1/balance_requests/csv", post(submit::submit_csv))
        .route("/v1/balances", get(results::balances))
        .route("/v1/balances/csv", get(results::balances_csv))
        .route(
            "/v1/monitoring/authorizers/{id}/history",
            get(results::history),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), gate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// Authenticates, then lets [`faults`] interfere.
async fn gate(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let Some(key) = app.authenticate(request.headers()) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Invalid API key provided.",
            "Please check your API key.",
        )
        .respond(app.clock.now());
    };
    request.extensions_mut().insert(key);
    faults::apply(&app, request, next).await
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist.",
        "Please check the request URL.",
    )
    .respond(app.clock.now())
}
