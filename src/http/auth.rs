//! Bearer-token authentication for the read API, health and metrics routes.
//!
//! With `http.token` configured, a request needs `Authorization: Bearer <token>`; the
//! comparison goes through SHA-256 digests and a constant-time fold
//! ([`same_secret`](super::same_secret)), so timing says nothing about how much of a
//! guess was right. A missing or wrong token is a 401 in the `ApiErrorResponse`
//! envelope with `WWW-Authenticate: Bearer`, and nothing of the request is processed.
//! Without a token (allowed only on a loopback `listen`, which configuration validation
//! enforces) every request passes. `/healthz` and the completion webhook are routed
//! outside this layer: a liveness probe carries no secret, and Rightfoot cannot send
//! ours (the webhook has its own token in its URL).

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::error::ApiProblem;

/// The middleware: passes the request on, or answers 401.
pub(crate) async fn require_token(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&state, request.headers()) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// The 401 for a request without the right bearer token, or `None` when it may pass
/// (it carries the token, or no `http.token` is set).
pub(crate) fn refusal(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    let expected = state.access.keys().token?;
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    match given {
        Some(given) if super::same_secret(given, expected.expose()) => None,
        Some(_) => Some(ApiProblem::unauthorized("Invalid token provided.").into_response()),
        None => Some(ApiProblem::unauthorized("No bearer token was provided.").into_response()),
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is
/// case-insensitive, as RFC 9110 says).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn only_a_non_empty_bearer_credential_is_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
