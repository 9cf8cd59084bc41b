//! Answers in Rightfoot's shape: [`ApiError`], an error in the `ApiErrorResponse`
//! envelope, and [`json_body`], the one writer of a JSON answer (the envelope's and every
//! endpoint's own).
//!
//! The envelope itself is `rightfoot::served`'s, shared with the daemon's local API;
//! this module fills it in and owns `Retry-After` and `documentation_url`. Which error a
//! request earns is its handler's business.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::rightfoot::served::ApiErrorResponse;

/// Rightfoot's `documentation_url`.
const DOCUMENTATION_URL: &str = "https://api.rightfoot.com/docs";

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
        let mut body = ApiErrorResponse::new(
            self.status.as_u16(),
            self.code,
            self.message,
            self.suggestion,
            now,
            DOCUMENTATION_URL,
        );
        body.error.details = self.details;
        body.batch_id = self.batch_id_null.then_some(());
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
