//! The daemon's local HTTP listener: the read API, health, metrics, Rightfoot's
//! completion webhook, and the web dashboard (`pages`).
//!
//! `serve(listener, state, shutdown)` takes its listener and shutdown signal as
//! parameters, so tests bind port 0 and stop it when they like. This module owns the
//! routes, their parameters, authentication and the shapes of the answers. It decides
//! nothing about runs and writes nothing but the webhook's `event_uuid` and, from the
//! dashboard's forms, a silence or a notification's next attempt: every answer is read
//! from the store (or, for `/metrics`, from the client's request recorder).
//!
//! | route | answers | module |
//! |---|---|---|
//! | `GET /healthz` | `ok`: the process serves HTTP (never authenticated); its role (`leader` or `standby`) in a header | here |
//! | `GET /readyz` | the store takes writes and no monitor's schedule is overdue | `health` |
//! | `GET /metrics` | Prometheus text | `metrics` |
//! | `GET /v1/monitoring/authorizers/{id}/history` | Rightfoot's `AuthorizerHistoryResponse` | `history` |
//! | `GET /v1/balances?batchId=` | Rightfoot's `BatchBalancesResponse` | `balances` |
//! | `GET /v1/balances/csv?batch_ids=` | Rightfoot's CSV export, streamed | `balances` |
//! | `GET /v1/runs`, `GET /v1/runs/{id}` | runs, one run with its counts and chunks | `runs` |
//! | `GET /v1/alerts?state=` | the `alerts` table | `runs` |
//! | `GET /v1/debits?date=&authorizer=&monitor=&decision=` | the payment calendar's latest decisions | `debits` |
//! | `/`, `/monitors/..`, `/runs/..`, `/authorizers/..`, `/debits`, `/alerts`, `/outbox`, `/login` | the dashboard's pages, behind a session | `pages` |
//!
//! The Rightfoot-shaped routes answer exactly as Rightfoot's read endpoints do, errors
//! included (the `ApiErrorResponse` envelope, `error`), so code written against
//! Rightfoot works against the lender's own host. With `http.token` set, every route
//! but `/healthz` and the completion webhook needs `Authorization: Bearer <token>`
//! (`auth`); pages use opaque keyset cursors (`cursor`).
//!
//! The completion webhook (`BALANCE_BATCH_COMPLETED`):
//! - is served at the path of `rightfoot.completion_webhook.public_url`, so a reverse
//!   proxy can forward that URL unchanged;
//! - is authenticated by the secret `token` query parameter that the daemon put in the
//!   `webhook_url` it gave Rightfoot (Rightfoot signs nothing, and cannot send our
//!   bearer token);
//! - does not show that it exists: every method but `POST`, and a `POST` with a wrong
//!   or missing token, is answered exactly as the same request to a path that is not
//!   served (401 from the bearer layer when `http.token` is set and the request does
//!   not carry it, the unknown-route 404 otherwise);
//! - accepts any content type, as long as the body is the documented JSON;
//! - is deduplicated on `event_uuid`, and always answered 200 once understood, so that
//!   Rightfoot stops retrying.
//!
//! The `http.token`, and the webhook's path and token, are read on each request from
//! the daemon's live configuration ([`Access::Live`]): after a reload the new tokens
//! are accepted and the old ones refused at once, with no restart of the listener.

mod auth;
mod balances;
mod cursor;
mod debits;
mod error;
mod health;
mod history;
mod metrics;
pub mod pages;
mod params;
mod runs;
mod wire;

pub use health::WatchedMonitor;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::completions::Completions;
use crate::config::Config;
use crate::domain::RoleView;
use crate::rightfoot::RequestMetrics;
use crate::secret::Secret;
use crate::store::Store;

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub completions: Completions,
    pub clock: Clock,
    /// Where the tokens come from: read on each request.
    pub access: Access,
    /// The monitors' schedules, for `/readyz`. The daemon sends the new list on reload.
    pub monitors: watch::Receiver<Arc<Vec<WatchedMonitor>>>,
    /// Durations of the requests to Rightfoot, for `/metrics`: the recorder the daemon
    /// gives every client it builds.
    pub rightfoot_metrics: RequestMetrics,
    /// When the daemon started. `/readyz` holds the schedule to account only for slots
    /// after it: older ones are the scheduler's catch-up business at start.
    pub started_at: DateTime<Utc>,
    /// The dashboard's sessions, shared by every clone.
    pub sessions: pages::Sessions,
    /// Wakes the outbox after "retry now" (the daemon's `Alerting::wake_outbox`); none
    /// in tools and tests, where the outbox finds the row on its next round.
    pub wake_outbox: Option<Arc<dyn Fn() + Send + Sync>>,
    /// This daemon's role, for `/metrics` and `/healthz`: always the leader in tools
    /// and on SQLite.
    pub role: watch::Receiver<RoleView>,
}

/// The secrets a request is checked against, and how the dashboard's session cookie
/// is made.
#[derive(Clone, Debug)]
pub struct AccessKeys {
    /// `http.token`: when set, every route but `/healthz` and the completion webhook
    /// needs it as a bearer token.
    pub token: Option<Secret>,
    /// The completion webhook's path and token, when it is configured.
    pub completion_webhook: Option<(String, Secret)>,
    /// How long a dashboard session lasts (`http.session_ttl`).
    pub session_ttl: std::time::Duration,
    /// Whether the session cookie is `Secure`: whenever the listener is not on loopback.
    pub cookie_secure: bool,
}

impl Default for AccessKeys {
    /// No token, no webhook, 12-hour sessions, cookies for loopback.
    fn default() -> AccessKeys {
        AccessKeys {
            token: None,
            completion_webhook: None,
            session_ttl: crate::config::DEFAULT_SESSION_TTL,
            cookie_secure: false,
        }
    }
}

impl AccessKeys {
    /// The keys `config` sets.
    pub fn of(config: &Config) -> AccessKeys {
        AccessKeys {
            token: config.http.token.clone(),
            session_ttl: config.http.session_ttl,
            cookie_secure: !config.http.listen.ip().is_loopback(),
            completion_webhook: config
                .rightfoot
                .completion_webhook
                .as_ref()
                .map(|hook| (hook.public_url.path().to_string(), hook.token.clone())),
        }
    }
}

/// Where the listener's secrets come from.
#[derive(Clone, Debug)]
pub enum Access {
    /// Set once (tests, tools).
    Fixed(AccessKeys),
    /// The daemon's live configuration, read on each request, so a reload changes the
    /// tokens at once.
    Live(watch::Receiver<Arc<Config>>),
}

impl Access {
    /// The keys as they are now.
    pub fn keys(&self) -> AccessKeys {
        match self {
            Access::Fixed(keys) => keys.clone(),
            Access::Live(config) => AccessKeys::of(&config.borrow()),
        }
    }
}

impl HttpState {
    /// A state with no webhook, no token, no monitors and a fresh metrics recorder,
    /// started now on `clock`.
    pub fn new(store: Store, completions: Completions, clock: Clock) -> HttpState {
        let (_, monitors) = watch::channel(Arc::new(Vec::new()));
        HttpState {
            store,
            completions,
            started_at: clock.now(),
            clock,
            access: Access::Fixed(AccessKeys::default()),
            monitors,
            rightfoot_metrics: RequestMetrics::default(),
            sessions: pages::Sessions::default(),
            wake_outbox: None,
            role: watch::channel(RoleView::sole_leader()).1,
        }
    }

    /// Fixes the bearer token (`http.token`).
    pub fn set_token(&mut self, token: Option<Secret>) {
        let mut keys = self.access.keys();
        keys.token = token;
        self.access = Access::Fixed(keys);
    }

    /// Fixes the completion webhook's path and token.
    pub fn set_completion_webhook(&mut self, webhook: Option<(String, Secret)>) {
        let mut keys = self.access.keys();
        keys.completion_webhook = webhook;
        self.access = Access::Fixed(keys);
    }
}

/// The router, for tests and for [`serve`].
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route(
            "/v1/monitoring/authorizers/{id}/history",
            get(history::authorizer_history),
        )
        .route("/v1/balances", get(balances::balances))
        .route("/v1/balances/csv", get(balances::balances_csv))
        .route("/v1/runs", get(runs::runs))
        .route("/v1/runs/{id}", get(runs::run))
        .route("/v1/alerts", get(runs::alerts))
        .route("/v1/debits", get(debits::debits))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(pages::router(state.clone()))
        .merge(api)
        // Outside the bearer token's layer: the webhook's path is the configuration's
        // of the moment, so it is matched on each request rather than routed once.
        .layer(from_fn_with_state(state.clone(), completion_webhook_route))
        .with_state(state)
}

/// Hands a `POST` with the right token at the completion webhook's current path to
/// [`completion_webhook`]. Any other request to that path (another method, a wrong or
/// missing token) gets [`unknown_path_answer`], so the path cannot be told from one
/// that is not served; requests to other paths go on to the routes.
async fn completion_webhook_route(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    let webhook = state.access.keys().completion_webhook;
    let Some((path, token)) = webhook else {
        return next.run(request).await;
    };
    let path = if path.is_empty() { "/" } else { path.as_str() };
    if request.uri().path() != path {
        return next.run(request).await;
    }
    if request.method() != Method::POST {
        return unknown_path_answer(state, request).await;
    }
    let given = match Query::<TokenQuery>::try_from_uri(request.uri()) {
        Ok(Query(query)) => query.token.unwrap_or_default(),
        Err(_) => String::new(),
    };
    if !same_secret(&given, token.expose()) {
        tracing::warn!("completion webhook with a missing or wrong token refused");
        return unknown_path_answer(state, request).await;
    }
    let body = match axum::body::to_bytes(request.into_body(), WEBHOOK_BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "too large\n").into_response(),
    };
    completion_webhook(&state, body).await.into_response()
}

/// What `request` would get at a path that is not served: the bearer layer's 401 when
/// `http.token` is set and the request lacks it, the unknown-route 404 otherwise. The
/// same two functions as [`router`]'s layer and fallback, so the answers cannot drift
/// apart.
async fn unknown_path_answer(state: HttpState, request: Request) -> Response {
    match auth::refusal(&state, request.headers()) {
        Some(refused) => refused,
        None => error::unknown_route().await.into_response(),
    }
}

/// The largest completion webhook body read (axum's default body limit).
/// The header of `/healthz`'s answer that names the daemon's role.
pub const ROLE_HEADER: &str = "balance-monitor-role";
/// The header of `/healthz`'s answer that holds the leader's epoch.
pub const EPOCH_HEADER: &str = "balance-monitor-epoch";

const WEBHOOK_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `ok`, with this daemon's role in the [`ROLE_HEADER`] (and its epoch in
/// [`EPOCH_HEADER`] while it leads through a lease), for `status`.
async fn healthz(State(state): State<HttpState>) -> Response {
    let view = state.role.borrow().clone();
    let mut response = "ok\n".into_response();
    let headers = response.headers_mut();
    headers.insert(ROLE_HEADER, HeaderValue::from_static(view.role.as_str()));
    if let Some(epoch) = view.epoch {
        headers.insert(EPOCH_HEADER, HeaderValue::from(epoch));
    }
    response
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct CompletionEvent {
    event_uuid: String,
    #[serde(rename = "type")]
    kind: String,
    batch_id: String,
}

/// A `POST` whose token is right: record the event once and wake its reader.
async fn completion_webhook(state: &HttpState, body: Bytes) -> (StatusCode, &'static str) {
    let event: CompletionEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "expected {\"event_uuid\", \"type\", \"batch_id\"}\n",
            );
        }
    };
    if event.kind != "BALANCE_BATCH_COMPLETED" {
        tracing::info!(kind = %event.kind, "completion webhook of another type ignored");
        return (StatusCode::OK, "ignored\n");
    }
    let now = state.clock.now();
    match state
        .store
        .record_webhook_event(&event.event_uuid, Some(&event.batch_id), now)
        .await
    {
        Ok(true) => {
            let watched = state.completions.signal(&event.batch_id);
            tracing::info!(batch_id = %event.batch_id, watched, "Rightfoot reported a batch complete");
            (StatusCode::OK, "ok\n")
        }
        Ok(false) => (StatusCode::OK, "duplicate\n"),
        Err(error) => {
            // Rightfoot retries a failed delivery; polling covers it meanwhile.
            tracing::error!(%error, "completion webhook not recorded");
            (StatusCode::SERVICE_UNAVAILABLE, "try again\n")
        }
    }
}

/// Compares secrets through their digests, so the time taken says nothing about how
/// much of the token was right.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The query parameter that carries the completion webhook's token in the
/// `webhook_url` sent to Rightfoot.
pub const WEBHOOK_TOKEN_PARAMETER: &str = "token";

/// The `webhook_url` to give Rightfoot: the public URL with the token as a query
/// parameter. It goes into request bodies, so it is stable for a given configuration.
pub fn completion_webhook_url(public_url: &url::Url, token: &Secret) -> String {
    let mut url = public_url.clone();
    url.query_pairs_mut()
        .append_pair(WEBHOOK_TOKEN_PARAMETER, token.expose());
    url.to_string()
}
