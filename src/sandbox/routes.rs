//! The HTTP surface: the router, bearer authentication, and the error envelope.
//!
//! Every `/v1` route passes through one gate: authenticate the bearer token (401 in
//! the `ApiErrorResponse` envelope otherwise), then apply injected faults
//! ([`super::faults`]). The handlers themselves are in [`super::submit`] and
//! [`super::results`]. This module owns no state and no business rules.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use super::App;
use super::models::{ApiErrorBody, ApiErrorResponse, timestamp};
use super::{faults, results, submit};
use crate::rightfoot::served;

/// Rightfoot's `documentation_url`.
const DOCUMENTATION_URL: &str = "https://api.rightfoot.com/docs";

/// The largest request body read, well above 1,000 JSON authorizers or 5,000 CSV rows.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

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

/// An error answer, in the `ApiErrorResponse` envelope.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub suggestion: String,
    pub details: Option<serde_json::Value>,
    /// Adds `"batch_id": null`, as the submission endpoints' examples show.
    pub batch_id_null: bool,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            suggestion: suggestion.into(),
            details: None,
            batch_id_null: false,
            retry_after_seconds: None,
        }
    }

    pub fn bad_request(message: impl Into<String>, suggestion: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message, suggestion)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn on_submission(mut self) -> ApiError {
        self.batch_id_null = true;
        self
    }

    /// The response, time-stamped `now` on the sandbox clock.
    pub fn respond(self, now: DateTime<Utc>) -> Response {
        let body = ApiErrorResponse {
            status: "error",
            status_code: self.status.as_u16(),
            error: ApiErrorBody {
                code: self.code,
                message: self.message,
                details: self.details,
                timestamp: timestamp(now),
                suggestion: self.suggestion,
            },
            batch_id: self.batch_id_null.then_some(()),
            documentation_url: DOCUMENTATION_URL,
        };
        let mut response = (self.status, json_body(&body)).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON body with its content type. Serializing these plain structs cannot fail;
/// if it somehow did, the client would see an empty object rather than a panic.
pub fn json_body<T: serde::Serialize>(
    value: &T,
) -> ([(header::HeaderName, &'static str); 1], Vec<u8>) {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    ([(header::CONTENT_TYPE, "application/json")], bytes)
}

/// Query-string pairs, percent-decoded, in order (repeated keys kept).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name` in `pairs`.
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Parses a `limit` parameter: absent means `default`; otherwise an integer 1..=100.
pub fn parse_limit(value: Option<&str>, default: u32) -> Result<usize, ApiError> {
    let (message, suggestion) = served::INVALID_LIMIT;
    served::limit(value, default)
        .map(|limit| limit as usize)
        .ok_or_else(|| ApiError::bad_request(message, suggestion))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_1_to_100() {
        assert_eq!(parse_limit(None, 10).unwrap(), 10);
        assert_eq!(parse_limit(Some("1"), 10).unwrap(), 1);
        assert_eq!(parse_limit(Some("100"), 10).unwrap(), 100);
        for bad in [
            "0",
            "101",
            "-1",
            "ten",
            "",
            "1.5",
            "99999999999999999999999",
        ] {
            let error = parse_limit(Some(bad), 10).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn query_pairs_keep_repeats_and_decode() {
        let pairs = query_pairs(Some("batch_ids=a&batch_ids=b%20c&limit=5"));
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1].1, "b c");
        assert_eq!(query_value(&pairs, "limit"), Some("5"));
        assert_eq!(query_value(&pairs, "nope"), None);
        assert!(query_pairs(None).is_empty());
    }
}
