//! What can go wrong talking to Rightfoot: [`ApiError`], the parsed error envelope
//! ([`ErrorEnvelope`]), and [`ClientBuildError`] for a configuration the client refuses.
//!
//! This module owns the mapping from an HTTP status and body to a typed error, lenient
//! envelope parsing (a non-JSON or truncated body still gives the status and a short,
//! cleaned excerpt), and redaction: every piece of server text that goes into an error
//! passes through a [`Redactor`] (from `crate::text`) that removes the API key and,
//! for a submission, the personal data in the request body, in case a server echoes
//! them back. It does not decide when to retry (that is `retry`), only which errors
//! are transient ([`ApiError::is_retryable`]).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::models::{ApiErrorResponseWire, value_text};
pub use crate::text::Redactor;
use crate::text::{error_chain, excerpt};

/// An error from a Rightfoot call. Messages are lowercase and never contain the API key
/// or an authorizer's personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: Rightfoot rejected the request as a whole (for a submission: the whole
    /// batch, for example more than 1,000 authorizers). Never retried.
    #[error("Rightfoot rejected the request as invalid: {0}")]
    BadRequest(Box<ErrorEnvelope>),
    /// 401: the API key is missing or wrong. Never retried.
    #[error("Rightfoot rejected the api key: {0}")]
    Unauthorized(Box<ErrorEnvelope>),
    /// 403: for example a CSV export naming a batch that is not ours. Never retried.
    #[error("Rightfoot refused access: {0}")]
    Forbidden(Box<ErrorEnvelope>),
    /// 404 outside the results endpoint's grace rule.
    #[error("not found at Rightfoot: {0}")]
    NotFound(Box<ErrorEnvelope>),
    /// 404 for a batch's results after `not_found_grace` has passed since submission.
    #[error(
        "batch {batch_id} is still not found {seconds_since_submission} s after its submission: {envelope}"
    )]
    BatchNotFound {
        batch_id: String,
        seconds_since_submission: i64,
        envelope: Box<ErrorEnvelope>,
    },
    /// Any other non-success status: 5xx, 408 and 429 are transient, the rest are not.
    #[error("Rightfoot answered {envelope}")]
    Status {
        envelope: Box<ErrorEnvelope>,
        /// The `Retry-After` header, as a delay from when the response arrived.
        retry_after: Option<Duration>,
    },
    /// The connect or request timeout passed.
    #[error("request to Rightfoot timed out: {0}")]
    Timeout(String),
    /// No connection could be made (refused, unreachable, DNS, TLS handshake).
    #[error("cannot connect to Rightfoot: {0}")]
    Connect(String),
    /// The connection failed while sending the request or reading the response.
    #[error("connection to Rightfoot failed: {0}")]
    Transport(String),
    /// A success response whose body is not what the API documents. Final for a GET;
    /// a submission is sent again within the cache window first (see `retry`).
    #[error("cannot decode the {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    /// A success response larger than the client accepts for that endpoint.
    #[error("the {what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    /// The results pages loop: a page handed back a cursor already used.
    #[error("pagination of batch {batch_id} loops: page {page} returned a page token already seen")]
    PageTokenRepeated { batch_id: String, page: u32 },
    /// More pages than the accepted count can fill.
    #[error(
        "pagination of batch {batch_id} exceeds {max_pages} pages for {accepted} accepted authorizers"
    )]
    TooManyPages {
        batch_id: String,
        max_pages: u32,
        accepted: usize,
    },
    /// The caller's arguments cannot form a valid request; nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ApiError {
    /// Whether trying the same request again later may succeed: 5xx, 408, 429,
    /// timeouts, connection and transport failures. Never 400, 401, 403 or 404.
    ///
    /// For a submission the client has already retried within the 24-hour cache window;
    /// a retryable error returned from it means attempts or the window ran out.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { envelope, .. } => is_transient_status(envelope.http_status),
            ApiError::Timeout(_) | ApiError::Connect(_) | ApiError::Transport(_) => true,
            _ => false,
        }
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn http_status(&self) -> Option<u16> {
        self.envelope().map(|e| e.http_status)
    }

    /// The parsed error body, when the server answered with an error status.
    pub fn envelope(&self) -> Option<&ErrorEnvelope> {
        match self {
            ApiError::BadRequest(e)
            | ApiError::Unauthorized(e)
            | ApiError::Forbidden(e)
            | ApiError::NotFound(e)
            | ApiError::BatchNotFound { envelope: e, .. }
            | ApiError::Status { envelope: e, .. } => Some(e),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The typed error for a non-success status and its (possibly truncated) body.
    pub(crate) fn from_status(
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
        redactor: &Redactor,
    ) -> ApiError {
        let envelope = Box::new(ErrorEnvelope::parse(status, body, redactor));
        match status {
            400 => ApiError::BadRequest(envelope),
            401 => ApiError::Unauthorized(envelope),
            403 => ApiError::Forbidden(envelope),
            404 => ApiError::NotFound(envelope),
            _ => ApiError::Status {
                envelope,
                retry_after,
            },
        }
    }

    /// The typed error for a failure below HTTP, with the URL (and its query) removed.
    pub(crate) fn from_transport(error: reqwest::Error, redactor: &Redactor) -> ApiError {
        let timeout = error.is_timeout();
        let connect = error.is_connect();
        let detail = redactor.scrub(&error_chain(&error.without_url()));
        if timeout {
            ApiError::Timeout(detail)
        } else if connect {
            ApiError::Connect(detail)
        } else {
            ApiError::Transport(detail)
        }
    }
}

/// 5xx, 408 and 429: worth another attempt.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Rightfoot's `ApiErrorResponse`, read leniently, plus the HTTP status.
///
/// When the body is not a JSON object, the structured fields are empty and
/// [`ErrorEnvelope::body_excerpt`] holds its first characters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorEnvelope {
    /// The HTTP status of the response (not the body's `status_code`).
    pub http_status: u16,
    /// `status`, usually `"error"`.
    pub status: Option<String>,
    /// `status_code` from the body.
    pub status_code: Option<i64>,
    /// `error.code`, e.g. `BAD_REQUEST`.
    pub code: Option<String>,
    /// `error.message` (or a bare string `error`, or a top-level `message`).
    pub message: Option<String>,
    /// `error.details`: an object or a string.
    pub details: Option<ErrorDetails>,
    /// `error.timestamp`, as sent.
    pub timestamp: Option<String>,
    /// `error.suggestion`.
    pub suggestion: Option<String>,
    /// `documentation_url`.
    pub documentation_url: Option<String>,
    /// The start of a body that is not an error envelope, cleaned and redacted.
    pub body_excerpt: Option<String>,
}

/// `error.details`, which Rightfoot sends as a string or as an object.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorDetails {
    Text(String),
    Structured(Value),
}

impl fmt::Display for ErrorDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorDetails::Text(text) => f.write_str(text),
            ErrorDetails::Structured(value) => write!(f, "{value}"),
        }
    }
}

/// How many characters of a non-envelope body an error keeps.
const EXCERPT_CHARS: usize = 200;

impl ErrorEnvelope {
    /// Parses an error body. Never fails: whatever the body, the result names the status.
    /// Every text it keeps is scrubbed by `redactor`. The client calls it on every error
    /// answer; it is public so that it can be driven with arbitrary bytes (the
    /// `rightfoot_responses` fuzz target).
    pub fn parse(http_status: u16, body: &[u8], redactor: &Redactor) -> ErrorEnvelope {
        let mut envelope = ErrorEnvelope {
            http_status,
            ..ErrorEnvelope::default()
        };
        let wire = match serde_json::from_slice::<Value>(body) {
            Ok(value @ Value::Object(_)) => {
                serde_json::from_value::<ApiErrorResponseWire>(value).unwrap_or_default()
            }
            _ => {
                envelope.body_excerpt = excerpt(body, redactor, EXCERPT_CHARS);
                return envelope;
            }
        };
        let text = |v: &Option<Value>| v.as_ref().and_then(value_text).map(|t| redactor.scrub(&t));
        envelope.status = text(&wire.status);
        envelope.status_code = wire.status_code.as_ref().and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        envelope.documentation_url = text(&wire.documentation_url);
        match wire.error {
            Some(Value::Object(error)) => {
                let field = |name: &str| {
                    error
                        .get(name)
                        .and_then(value_text)
                        .map(|t| redactor.scrub(&t))
                };
                envelope.code = field("code");
                envelope.message = field("message");
                envelope.timestamp = field("timestamp");
                envelope.suggestion = field("suggestion");
                envelope.details = match error.get("details") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(ErrorDetails::Text(redactor.scrub(s))),
                    Some(other) => Some(ErrorDetails::Structured(redactor.scrub_value(other))),
                };
            }
            Some(other) => envelope.message = value_text(&other).map(|t| redactor.scrub(&t)),
            None => {}
        }
        if envelope.message.is_none() {
            envelope.message = text(&wire.message);
        }
        if envelope.code.is_none() && envelope.message.is_none() && envelope.details.is_none() {
            // A JSON object, but not an envelope: keep its start so the error says something.
            envelope.body_excerpt = excerpt(body, redactor, EXCERPT_CHARS);
        }
        envelope
    }
}

/// `http 400 BAD_REQUEST: message (details: …; suggestion: …)`, or with a body excerpt.
impl fmt::Display for ErrorEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http {}", self.http_status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        match &self.message {
            Some(message) => write!(f, ": {message}")?,
            None => {
                if let Some(reason) = reqwest::StatusCode::from_u16(self.http_status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                {
                    write!(f, " ({})", reason.to_lowercase())?;
                }
            }
        }
        let mut extras = Vec::new();
        if let Some(details) = &self.details {
            extras.push(format!("details: {details}"));
        }
        if let Some(suggestion) = &self.suggestion {
            extras.push(format!("suggestion: {suggestion}"));
        }
        if !extras.is_empty() {
            write!(f, " ({})", extras.join("; "))?;
        }
        match &self.body_excerpt {
            Some(excerpt) => write!(f, "; body: {excerpt:?}"),
            None if self.message.is_none() && self.code.is_none() => f.write_str("; empty body"),
            None => Ok(()),
        }
    }
}

/// Why [`super::RightfootClient::new`] refused its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error(
        "Rightfoot base url {0} must use https (plain http is accepted only for loopback hosts such as the sandbox)"
    )]
    InsecureBaseUrl(String),
    #[error("Rightfoot base url must not carry a user name or password")]
    CredentialsInBaseUrl,
    #[error("Rightfoot base url {0} cannot take a path")]
    NotABaseUrl(String),
    #[error("the Rightfoot api key is empty")]
    EmptyApiKey,
    #[error("the Rightfoot api key contains characters that cannot go in an http header")]
    ApiKeyNotHeaderSafe,
    #[error("{0} must be greater than zero")]
    ZeroSetting(&'static str),
    #[error("page_limit must be between 1 and 100, not {0}")]
    PageLimit(u32),
    #[error("cannot build the http client: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> ErrorEnvelope {
        ErrorEnvelope::parse(
            status,
            body.as_bytes(),
            &Redactor::for_secret("rf_live_k3y"),
        )
    }

    #[test]
    fn envelope_with_details_as_object_and_as_string() {
        let object = parse(
            400,
            r#"{"status":"error","status_code":400,"error":{"code":"BAD_REQUEST",
            "message":"Invalid batch size.","details":{"max":1000,"got":1001},
            "timestamp":"2024-09-16T12:00:00Z","suggestion":"Split the batch."},
            "batch_id":null,"documentation_url":"https://api.rightfoot.com/docs"}"#,
        );
        assert_eq!(object.status.as_deref(), Some("error"));
        assert_eq!(object.status_code, Some(400));
        assert_eq!(object.code.as_deref(), Some("BAD_REQUEST"));
        assert_eq!(object.message.as_deref(), Some("Invalid batch size."));
        assert_eq!(
            object.details,
            Some(ErrorDetails::Structured(
                serde_json::json!({"max":1000,"got":1001})
            ))
        );
        assert_eq!(object.timestamp.as_deref(), Some("2024-09-16T12:00:00Z"));
        assert_eq!(object.suggestion.as_deref(), Some("Split the batch."));
        assert_eq!(
            object.documentation_url.as_deref(),
            Some("https://api.rightfoot.com/docs")
        );
        assert_eq!(object.body_excerpt, None);
        let shown = object.to_string();
        assert!(
            shown.starts_with("http 400 BAD_REQUEST: Invalid batch size."),
            "{shown}"
        );
        assert!(shown.contains(r#""max":1000"#), "{shown}");

        let string = parse(
            404,
            r#"{"status":"error","status_code":"404","error":{"code":"NOT_FOUND",
            "message":"No such batch.","details":"batch BATCH-1 unknown"}}"#,
        );
        assert_eq!(string.status_code, Some(404));
        assert_eq!(
            string.details,
            Some(ErrorDetails::Text("batch BATCH-1 unknown".into()))
        );
        assert!(
            string
                .to_string()
                .contains("details: batch BATCH-1 unknown")
        );
    }

    #[test]
    fn non_json_truncated_and_empty_bodies_still_say_something() {
        let html = parse(502, "<html>\n<body>Bad gateway</body></html>");
        assert_eq!(
            html.body_excerpt.as_deref(),
            Some("<html> <body>Bad gateway</body></html>")
        );
        assert!(
            html.to_string()
                .starts_with("http 502 (bad gateway); body: ")
        );

        let truncated = parse(500, r#"{"status":"error","error":{"code":"INTERNAL_SE"#);
        assert_eq!(truncated.code, None);
        assert!(
            truncated
                .body_excerpt
                .unwrap()
                .starts_with(r#"{"status":"error""#)
        );

        let empty = parse(503, "");
        assert_eq!(
            empty.to_string(),
            "http 503 (service unavailable); empty body"
        );

        let long = parse(500, &"x".repeat(10_000));
        assert_eq!(
            long.body_excerpt.unwrap().chars().count(),
            EXCERPT_CHARS + 1
        );

        let bare = parse(429, r#"{"error":"Too many requests"}"#);
        assert_eq!(bare.message.as_deref(), Some("Too many requests"));
    }

    #[test]
    fn the_key_and_body_values_are_scrubbed() {
        let body = br#"{"authorizers":[{"authorizer_unique_id":"a-1","ssn":"123456789",
            "first_name":"Jane","address":{"state":"CA"}}],"webhook_url":"https://x.example/h?s=abcd"}"#;
        let redactor = Redactor::for_secret("rf_live_k3y").with_body_strings(body);
        let envelope = ErrorEnvelope::parse(
            400,
            br#"{"error":{"message":"bad ssn 123456789 for Jane (a-1) in CA, key rf_live_k3y",
            "details":{"echo":"https://x.example/h?s=abcd"}}}"#,
            &redactor,
        );
        let shown = format!("{envelope} {envelope:?}");
        for secret in ["123456789", "Jane", "rf_live_k3y", "s=abcd"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("(a-1) in CA"), "{shown}");
        assert!(!format!("{redactor:?}").contains("Jane"));
    }

    #[test]
    fn only_transient_statuses_are_retryable() {
        let redactor = Redactor::default();
        for (status, retryable) in [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (409, false),
            (408, true),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
        ] {
            let error = ApiError::from_status(status, None, b"", &redactor);
            assert_eq!(error.is_retryable(), retryable, "{status}");
            assert_eq!(error.http_status(), Some(status));
        }
    }
}
