//! Who may see the pages: the login form, the session cookie, and the CSRF token of
//! every form.
//!
//! With `http.token` set, `/login` takes the token (compared in constant time through
//! [`same_secret`](crate::http::same_secret); a wrong one is answered after a one-second
//! wait) and starts a session: 32 random bytes in a cookie that is `HttpOnly`,
//! `SameSite=Strict`, `Path=/`, and `Secure` unless the listener is on loopback. The
//! session lasts `http.session_ttl` on the monotonic clock, ends at `/logout`, and ends
//! at once when the token changes (each session remembers the digest of the token it
//! was opened with). A request with the API's bearer header passes too. Without a
//! token (loopback only) every browser gets a session on its first page, only so that
//! its forms carry a CSRF token.
//!
//! Every form that changes something is a `POST` carrying the session's CSRF token in
//! a hidden field; a `POST` without it, or with another session's, is refused (403).
//! Sessions live in memory: a restart asks for the token again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::http::{AccessKeys, HttpState, auth, same_secret};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "balance_monitor_session";

/// The most sessions kept at once; the oldest goes first beyond it.
const MOST_SESSIONS: usize = 10_000;

/// How long a wrong token waits before it is refused.
pub const WRONG_TOKEN_DELAY: Duration = Duration::from_secs(1);

/// One browser's session.
#[derive(Clone)]
pub struct Session {
    /// The token forms must carry.
    pub csrf: String,
    expires_at: Instant,
    /// The digest of the `http.token` it was opened with (`None` without a token).
    token_digest: Option<[u8; 32]>,
}

/// The sessions of this process, by the digest of their cookie. Cheap to clone.
#[derive(Clone, Default)]
pub struct Sessions {
    // A std mutex: held for a map lookup or insert, never across an `.await`.
    by_cookie: Arc<Mutex<HashMap<[u8; 32], Session>>>,
}

impl Sessions {
    /// Starts a session lasting `ttl`; returns its cookie value and the session.
    fn open(&self, keys: &AccessKeys, ttl: Duration) -> (String, Session) {
        let cookie = random_text();
        let session = Session {
            csrf: random_text(),
            expires_at: Instant::now() + ttl,
            token_digest: keys.token.as_ref().map(|t| digest(t.expose())),
        };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MOST_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(digest(&cookie), session.clone());
        (cookie, session)
    }

    /// The live session `cookie` names, if it is still valid for `keys`.
    fn find(&self, cookie: &str, keys: &AccessKeys) -> Option<Session> {
        let key = digest(cookie);
        let mut map = self.lock();
        let session = map.get(&key)?.clone();
        let token_digest = keys.token.as_ref().map(|t| digest(t.expose()));
        if session.expires_at <= Instant::now() || session.token_digest != token_digest {
            map.remove(&key);
            return None;
        }
        Some(session)
    }

    fn close(&self, cookie: &str) {
        self.lock().remove(&digest(cookie));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_cookie
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// 32 random bytes (two v4 UUIDs from the operating system's generator) as hex.
fn random_text() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    hex::encode(bytes)
}

/// The session cookie's value in `headers`, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value for `value`, lasting `max_age` seconds (0 clears it).
fn cookie_header(keys: &AccessKeys, value: &str, max_age: u64) -> HeaderValue {
    let secure = if keys.cookie_secure { "; Secure" } else { "" };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What a page handler knows about the request's browser: its session, when it has
/// one (a bearer-token client has none, and sees forms without a CSRF token).
#[derive(Clone, Default)]
pub struct Visitor {
    pub session: Option<Session>,
    /// Whether a token is configured (the pages then offer "log out").
    pub can_log_out: bool,
}

impl Visitor {
    /// The CSRF token for this visitor's forms (empty without a session).
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf.as_str())
    }

    /// Whether `given` is this visitor's CSRF token.
    pub fn csrf_matches(&self, given: &str) -> bool {
        match &self.session {
            Some(session) => !given.is_empty() && same_secret(given, &session.csrf),
            None => false,
        }
    }
}

/// The middleware in front of every page: with a token, a valid session or the bearer
/// header passes and anything else is sent to `/login`; without one, a browser without
/// a session gets one. The handler finds the [`Visitor`] in the request's extensions.
pub async fn require_session(
    State(state): State<HttpState>,
    mut request: Request,
    next: Next,
) -> Response {
    let keys = state.access.keys();
    let found = session_cookie(request.headers()).and_then(|c| state.sessions.find(c, &keys));
    let can_log_out = keys.token.is_some();
    if let Some(session) = found {
        request.extensions_mut().insert(Visitor {
            session: Some(session),
            can_log_out,
        });
        return next.run(request).await;
    }
    if keys.token.is_some() {
        let has_bearer = request
            .headers()
            .contains_key(axum::http::header::AUTHORIZATION);
        if has_bearer {
            return match auth::refusal(&state, request.headers()) {
                Some(refused) => refused,
                None => {
                    request.extensions_mut().insert(Visitor::default());
                    next.run(request).await
                }
            };
        }
        return Redirect::to("/login").into_response();
    }
    let (cookie, session) = state.sessions.open(&keys, keys.session_ttl);
    request.extensions_mut().insert(Visitor {
        session: Some(session),
        can_log_out,
    });
    let mut response = next.run(request).await;
    let header = cookie_header(&keys, &cookie, keys.session_ttl.as_secs());
    response.headers_mut().append(SET_COOKIE, header);
    response
}

/// What `POST /login` read: the token typed in.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub token: String,
}

/// The outcome of a login attempt.
pub enum Login {
    /// No token is configured: there is nothing to log in to.
    NotNeeded,
    /// The token was right: the response sets this cookie.
    Accepted(HeaderValue),
    /// The token was wrong (after the wait).
    Refused,
}

/// Checks a typed token and opens a session for it.
pub async fn log_in(state: &HttpState, given: &str) -> Login {
    let keys = state.access.keys();
    let Some(expected) = &keys.token else {
        return Login::NotNeeded;
    };
    if !same_secret(given, expected.expose()) {
        tracing::warn!("dashboard login with a wrong token refused");
        tokio::time::sleep(WRONG_TOKEN_DELAY).await;
        return Login::Refused;
    }
    let (cookie, _) = state.sessions.open(&keys, keys.session_ttl);
    Login::Accepted(cookie_header(&keys, &cookie, keys.session_ttl.as_secs()))
}

/// Ends the request's session and answers with a cleared cookie and a redirect to
/// `/login` (to `/` without a token).
pub fn log_out(state: &HttpState, headers: &HeaderMap) -> Response {
    let keys = state.access.keys();
    if let Some(cookie) = session_cookie(headers) {
        state.sessions.close(cookie);
    }
    let to = if keys.token.is_some() { "/login" } else { "/" };
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, cookie_header(&keys, "", 0));
    response
}

/// The 403 for a form without the right CSRF token.
pub fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form is out of date or was not sent from the dashboard: reload the page and try again\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn keys(token: Option<&str>) -> AccessKeys {
        AccessKeys {
            token: token.map(Secret::new),
            ..AccessKeys::default()
        }
    }

    #[test]
    fn a_session_ends_when_the_token_changes_or_it_is_closed() {
        let sessions = Sessions::default();
        let (cookie, session) = sessions.open(&keys(Some("a")), Duration::from_secs(60));
        assert_eq!(session.csrf.len(), 64);
        assert!(sessions.find(&cookie, &keys(Some("a"))).is_some());
        assert!(sessions.find("other", &keys(Some("a"))).is_none());
        assert!(sessions.find(&cookie, &keys(Some("b"))).is_none());
        // Refused once, it is gone for the old token too.
        assert!(sessions.find(&cookie, &keys(Some("a"))).is_none());
        let (cookie, _) = sessions.open(&keys(Some("a")), Duration::from_secs(60));
        sessions.close(&cookie);
        assert!(sessions.find(&cookie, &keys(Some("a"))).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_expires_after_its_ttl() {
        let sessions = Sessions::default();
        let (cookie, _) = sessions.open(&keys(Some("a")), Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(sessions.find(&cookie, &keys(Some("a"))).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(sessions.find(&cookie, &keys(Some("a"))).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_off_loopback() {
        let mut k = keys(Some("a"));
        let local = cookie_header(&k, "v", 5);
        assert_eq!(
            local.to_str().unwrap(),
            "balance_monitor_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=5"
        );
        k.cookie_secure = true;
        assert!(
            cookie_header(&k, "v", 5)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; balance_monitor_session=xyz; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("xyz"));
    }
}
