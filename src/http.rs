//! The daemon's local HTTP listener: health, and Rightfoot's completion webhook.
//!
//! `serve(listener, state, shutdown)` takes its listener and shutdown signal as
//! parameters, so tests bind port 0 and stop it when they like. This module owns
//! request parsing and authentication for these endpoints; it stores nothing itself
//! but the webhook's `event_uuid` (through the store) and decides nothing about runs:
//! a completion only wakes the reader of that batch ([`Completions`]).
//!
//! The completion webhook (`BALANCE_BATCH_COMPLETED`):
//! - is served at the path of `rightfoot.completion_webhook.public_url`, so a reverse
//!   proxy can forward that URL unchanged;
//! - is authenticated by the secret `token` query parameter that the daemon put in the
//!   `webhook_url` it gave Rightfoot (Rightfoot signs nothing); a wrong or missing token
//!   gets 404, as if the endpoint did not exist;
//! - accepts any content type, as long as the body is the documented JSON;
//! - is deduplicated on `event_uuid`, and always answered 200 once understood, so that
//!   Rightfoot stops retrying.

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::completions::Completions;
use crate::secret::Secret;
use crate::store::Store;

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub completions: Completions,
    pub clock: Clock,
    /// The completion webhook's path and token, when it is configured.
    pub completion_webhook: Option<(String, Secret)>,
}

/// The router, for tests and for [`serve`].
pub fn router(state: HttpState) -> Router {
    let mut router = Router::new().route("/healthz", get(healthz));
    if let Some((path, _)) = &state.completion_webhook {
        let path = if path.is_empty() { "/" } else { path.as_str() };
        router = router.route(path, post(completion_webhook));
    }
    router.with_state(state)
}

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

async fn healthz() -> &'static str {
    "ok\n"
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

async fn completion_webhook(
    State(state): State<HttpState>,
    Query(query): Query<TokenQuery>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let Some((_, expected)) = &state.completion_webhook else {
        return (StatusCode::NOT_FOUND, "not found\n");
    };
    let given = query.token.unwrap_or_default();
    if !same_secret(&given, expected.expose()) {
        tracing::warn!("completion webhook with a missing or wrong token refused");
        return (StatusCode::NOT_FOUND, "not found\n");
    }
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
fn same_secret(given: &str, expected: &str) -> bool {
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
