//! Errors in Rightfoot's `ApiErrorResponse` envelope, for every route of the read API:
//!
//! ```json
//! {"status": "error", "status_code": 400,
//!  "error": {"code": "BAD_REQUEST", "message": "…", "timestamp": "2024-09-16T12:00:00Z",
//!            "suggestion": "…"},
//!  "documentation_url": "https://github.com/balance-monitor/balance-monitor#local-http-api"}
//! ```
//!
//! The codes are Rightfoot's (`BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`,
//! `INTERNAL_SERVER_ERROR`) plus `METHOD_NOT_ALLOWED`. A store failure is logged in full
//! and answered with a generic message: the file path and SQLite's words stay in the
//! log. The envelope is `rightfoot::served`'s, the one the sandbox writes too. This
//! module shapes errors; it decides none.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::rightfoot::served::ApiErrorResponse;
use crate::store::StoreError;

/// Where the envelope's `documentation_url` points: the README's API section.
pub(crate) const DOCUMENTATION_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "#local-http-api");

/// An error answer of the read API.
#[derive(Debug)]
pub(crate) struct ApiProblem {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub suggestion: String,
}

impl ApiProblem {
    fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> ApiProblem {
        ApiProblem {
            status,
            code,
            message: message.into(),
            suggestion: suggestion.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>, suggestion: impl Into<String>) -> ApiProblem {
        ApiProblem::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message, suggestion)
    }

    pub fn not_found(message: impl Into<String>, suggestion: impl Into<String>) -> ApiProblem {
        ApiProblem::new(StatusCode::NOT_FOUND, "NOT_FOUND", message, suggestion)
    }

    pub fn forbidden(message: impl Into<String>, suggestion: impl Into<String>) -> ApiProblem {
        ApiProblem::new(StatusCode::FORBIDDEN, "FORBIDDEN", message, suggestion)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiProblem {
        ApiProblem::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            message,
            "Send the token configured as http.token in an `Authorization: Bearer <token>` header.",
        )
    }

    /// A store failure: logged here, answered without its details.
    pub fn store(error: &StoreError) -> ApiProblem {
        tracing::error!(%error, "a read API request failed in the store");
        ApiProblem::internal()
    }

    /// A failure already logged by the caller.
    pub fn internal() -> ApiProblem {
        ApiProblem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "An unexpected error occurred while answering the request.",
            "Please try again later. If the problem persists, see the daemon's log.",
        )
    }
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let envelope = ApiErrorResponse::new(
            self.status.as_u16(),
            self.code,
            self.message,
            self.suggestion,
            Utc::now(),
            DOCUMENTATION_URL,
        );
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The fallback for a path no route serves.
pub(crate) async fn unknown_route() -> ApiProblem {
    ApiProblem::not_found(
        "No such endpoint.",
        "See the Local HTTP API section of the README for the endpoints served.",
    )
}

/// The fallback for a known path with another method than GET.
pub(crate) async fn method_not_allowed() -> ApiProblem {
    ApiProblem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This endpoint only answers GET.",
        "Use GET.",
    )
}
