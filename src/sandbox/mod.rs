//! The built-in Rightfoot simulator behind `balance-monitor sandbox`.
//!
//! Rightfoot has no public sandbox and no test key, so the project serves its own: the
//! tests, the demo, and lenders trying a configuration before production all talk to
//! this module. It implements the endpoints balance-monitor uses, as Rightfoot's pages
//! describe them, with the same bodies, status codes, error envelope and traps (the
//! 24-hour body-hash cache, results that appear progressively with no completeness
//! flag, 404s for a just-created batch, pagination tokens, retried webhooks). See
//! [`ABOUT`] for what it simulates and what it cannot know.
//!
//! Layout:
//! - [`config`]: [`SandboxConfig`], what the CLI or a test asks for, and its validation.
//! - [`clock`]: [`SandboxClock`], the injectable time every rule reads.
//! - [`scenario`]: scenario files that script outcomes per authorizer and set faults.
//! - [`outcomes`]: the default deterministic random walk, status names and messages.
//! - `state`: batches, results, the body-hash cache, history and webhook bookkeeping.
//! - `routes`: the router and bearer authentication; `submit` and `results` hold the
//!   handlers, `csv_upload` reads uploaded files, `validation` decides which rows are
//!   rejected, `models` shapes the bodies, `error` is the error envelope (`ApiError`)
//!   and the JSON writer, `request` the body limit and the query string.
//! - `faults`: what may be injected ([`FaultConfig`]): 500/503/429s, latency and
//!   cut-off bodies.
//! - `webhook`: the completion webhook's worker and retry schedule.
//!
//! Layers: each file uses only files of the layers before it (and `App`, here).
//!
//! 1. `clock`, `models`, `outcomes`, `validation`: each on its own.
//! 2. `error`, then `request`, then `faults`: answering, reading a request, interfering.
//! 3. `scenario` (outcomes and fault overrides), then `state` (the memory), then
//!    `config` (the settings a server runs with).
//! 4. `csv_upload` and `webhook`, on `state`.
//! 5. The handlers, `results` and `submit`, then `routes`, which ties them together.
//!
//! Concurrency: all mutable state is one `State` behind one `std::sync::Mutex`. Every
//! handler locks it, reads or changes a few maps, and unlocks before any `.await`, so a
//! blocking mutex is correct and cheaper than `tokio::sync::Mutex`; a poisoned lock is
//! recovered rather than turned into a panic, since no invariant spans a panic point.
//! One background task, the webhook worker, sleeps until the next delivery is due on
//! the sandbox clock and is woken early by `watch` channels when the clock jumps or a
//! batch is created. It and its deliveries belong to one `CancellationToken` and one
//! `TaskTracker`, so shutdown stops them and waits for them.
//!
//! What this module does not do: TLS (it serves plain HTTP, meant for loopback), email,
//! Rightfoot's hosted monitoring schedules, persistence (state is in memory and gone on
//! restart), or anything with personal data beyond validating it.

pub mod clock;
pub mod config;
mod csv_upload;
mod error;
mod faults;
mod models;
pub mod outcomes;
mod request;
mod results;
mod routes;
pub mod scenario;
mod state;
mod submit;
mod validation;
mod webhook;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use clock::SandboxClock;
pub use config::{SandboxConfig, SandboxConfigError};
pub use faults::FaultConfig;
pub use outcomes::Outcome;
pub use scenario::{FaultOverrides, Scenario, ScenarioError};
pub use state::{WebhookAttempt, WebhookStatus};

use config::Settings;
use state::{KeyId, State};

/// The key the sandbox accepts when none is named: it guards nothing real.
pub const SANDBOX_DEFAULT_KEY: &str = "rf_sandbox_key";

/// The long help for `balance-monitor sandbox --help`.
pub const ABOUT: &str = "\
Runs a local simulator of Rightfoot's balance-check API, so that balance-monitor can be
tried, demonstrated and tested without a Rightfoot account. Point the daemon's
rightfoot.base_url at it and give it one of the sandbox's API keys.

What it simulates, as Rightfoot's documentation describes the real service:
  POST /v1/balance_requests       up to 1,000 authorizers; invalid rows come back in
                                  failed_authorizers with Rightfoot's exact messages
                                  while valid rows are accepted; an identical body
                                  within 24 hours returns the first response (same
                                  batch_id, no new check)
  POST /v1/balance_requests/csv   a Rightfoot-format CSV upload (file, webhook_url),
                                  up to 5,000 rows, meta_* columns kept as metadata
  GET  /v1/balances               results appear one by one over the processing time;
                                  there is no 'complete' flag, as with the real API
  GET  /v1/balances/csv           the dashboard-style export of one or more batches
  GET  /v1/monitoring/authorizers/{id}/history
  the BALANCE_BATCH_COMPLETED webhook, retried after 1, 2, 4... minutes for 30 minutes
Errors use Rightfoot's ApiErrorResponse envelope; a missing or wrong bearer token is a
401; another key's batch is a 404 (a 403 in the CSV export).

Balances are made up. Unless a scenario file scripts an authorizer, its balance is a
deterministic random walk seeded by its id and the day: the same authorizer on the same
sandbox day always gets the same answer, some balances are negative (overdrawn), and
about 5% of checks fail with Rightfoot's codes (3000, 3100, 3200, 3300, 3400, 9000).
A scenario file lists exact outcomes per authorizer, check by check, for example
    authorizers:
      A-1: [1200.00, 1150.00, 90.00, closed, unsupported, 2000.00]
and may set fault injection (500/503/429 shares, Retry-After, latency, a 404 window
after each create, cut-off bodies) to exercise a client's retries.

The sandbox has its own clock. It can run faster than real time, so that a batch's
processing and a webhook's 30 minutes of retries pass in seconds during a demo.

What it cannot know: how real banks and Rightfoot's data providers behave (which
institutions are supported, how often and why checks fail, real balances), real
latencies and processing times (Rightfoot promises an SLA of one hour, nothing more),
real rate limits, and edge cases the pages do not document (which occurrence of a
duplicate id is rejected, how a CSV upload interacts with the body-hash cache, how the
Status column maps codes). Where the pages are silent the sandbox makes a documented
choice; a client that works against it can still meet surprises in production.

It serves plain HTTP (the real API is HTTPS only), keeps everything in memory, and
keeps no personal data: authorizers are validated and then reduced to their ids, so
the export's Phone and Zip columns are empty.";

/// State shared by every request handler and the webhook worker.
pub(crate) struct App {
    /// SHA-256 of each accepted API key, compared without early exit.
    key_digests: Vec<[u8; 32]>,
    pub(crate) clock: SandboxClock,
    pub(crate) settings: Settings,
    pub(crate) scenario: Scenario,
    // std::sync::Mutex: never held across an `.await` (see the module docs).
    state: Mutex<State>,
    /// Bumped when a batch is created or a delivery finishes: wakes the worker.
    pub(crate) state_changed: watch::Sender<u64>,
    /// The number of webhook attempts recorded so far, for tests to wait on.
    pub(crate) attempts_recorded: watch::Sender<usize>,
    pub(crate) http: reqwest::Client,
}

impl App {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn notify_state_changed(&self) {
        self.state_changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Which configured key the request's `Authorization: Bearer <key>` names.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Option<KeyId> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let mut found = None;
        for (index, known) in self.key_digests.iter().enumerate() {
            let difference = known
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 && found.is_none() {
                found = Some(KeyId(index));
            }
        }
        found
    }
}

/// A configured sandbox, not yet serving.
pub struct Sandbox {
    app: Arc<App>,
}

/// Why [`serve`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox configuration: {0}")]
    Config(#[from] SandboxConfigError),
    #[error("sandbox server failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Sandbox {
    /// Validates `config` and builds the sandbox's state.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxConfigError> {
        let settings = config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(settings.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "balance-monitor-sandbox/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| SandboxConfigError::HttpClient(e.to_string()))?;
        let clock = SandboxClock::new(
            config.clock_start.unwrap_or_else(Utc::now),
            config.clock_speed,
        );
        let app = App {
            key_digests: config
                .api_keys
                .iter()
                .map(|key| Sha256::digest(key.expose().as_bytes()).into())
                .collect(),
            clock,
            state: Mutex::new(
                State::new(settings.seed).with_body_cache_ttl(settings.body_cache_ttl),
            ),
            settings,
            scenario: config.scenario,
            state_changed: watch::channel(0).0,
            attempts_recorded: watch::channel(0).0,
            http,
        };
        Ok(Sandbox { app: Arc::new(app) })
    }

    /// A handle to inspect and steer the sandbox while it serves.
    pub fn handle(&self) -> SandboxHandle {
        SandboxHandle {
            app: Arc::clone(&self.app),
        }
    }

    /// The HTTP routes alone. Webhooks are sent only while [`Sandbox::serve`] (or
    /// [`Sandbox::webhook_worker`]) runs.
    pub fn router(&self) -> Router {
        routes::router(Arc::clone(&self.app))
    }

    /// The webhook worker, for callers that serve [`Sandbox::router`] themselves. It
    /// runs until `cancel` is cancelled; deliveries are spawned on `tracker`.
    pub fn webhook_worker(
        &self,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> impl Future<Output = ()> + Send + 'static {
        webhook::run_worker(Arc::clone(&self.app), cancel, tracker)
    }

    /// Serves on `listener` until `shutdown` completes, then stops the webhook worker
    /// and waits (at most five seconds) for deliveries in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(self.webhook_worker(cancel.clone(), tracker.clone()));
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "sandbox listening");
        }
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        cancel.cancel();
        tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("sandbox webhook deliveries did not stop within 5 seconds");
        }
        result
    }
}

/// Validates `config` and serves the sandbox on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SandboxError> {
    Sandbox::new(config)?.serve(listener, shutdown).await?;
    Ok(())
}

/// Inspects and steers a running sandbox (tests, the demo). Cheap to clone.
#[derive(Clone)]
pub struct SandboxHandle {
    app: Arc<App>,
}

/// What the handle reports about one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchSummary {
    pub batch_id: String,
    pub submitted_at: DateTime<Utc>,
    /// Authorizers accepted (submitted minus `failed_authorizers`).
    pub accepted: usize,
    /// Results that have appeared by now.
    pub visible: usize,
    /// When the last result appears.
    pub completes_at: DateTime<Utc>,
}

impl SandboxHandle {
    /// The sandbox clock: `advance` it to make time pass, `set_speed` to compress it.
    pub fn clock(&self) -> &SandboxClock {
        &self.app.clock
    }

    /// Batches created (cached replays do not count).
    pub fn batches_created(&self) -> usize {
        self.app.lock().batches_created()
    }

    /// The most batches in flight at once so far: each from its creation to the results
    /// page that served its last row.
    pub fn most_batches_in_flight(&self) -> usize {
        self.app.lock().most_open_batches()
    }

    /// Authorizer checks made (one per accepted authorizer of each new batch).
    pub fn checks_performed(&self) -> u64 {
        self.app.lock().checks_performed()
    }

    pub fn batch(&self, batch_id: &str) -> Option<BatchSummary> {
        let now = self.app.clock.now();
        let state = self.app.lock();
        let batch = state.batch(batch_id)?;
        Some(BatchSummary {
            batch_id: batch.id.clone(),
            submitted_at: batch.submitted_at,
            accepted: batch.rows.len(),
            visible: batch.visible(now),
            completes_at: batch.completes_at,
        })
    }

    /// Every webhook delivery attempt so far, oldest first.
    pub fn webhook_attempts(&self) -> Vec<WebhookAttempt> {
        self.app.lock().webhook_log().to_vec()
    }

    /// Where a batch's completion webhook stands (`None` without a webhook).
    pub fn webhook_status(&self, batch_id: &str) -> Option<WebhookStatus> {
        let state = self.app.lock();
        Some(state.batch(batch_id)?.webhook.as_ref()?.status.clone())
    }

    /// Waits until at least `count` webhook attempts have been recorded (each is
    /// recorded after its answer, with the next attempt already scheduled).
    pub async fn wait_for_webhook_attempts(&self, count: usize) {
        let mut recorded = self.app.attempts_recorded.subscribe();
        // The sender lives in `App`, which this handle keeps alive, so this cannot fail.
        let _ = recorded.wait_for(|n| *n >= count).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serve_refuses_a_config_that_cannot_run() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = serve(listener, SandboxConfig::new([]), async {}).await;
        assert!(matches!(
            result,
            Err(SandboxError::Config(SandboxConfigError::NoApiKeys))
        ));
    }

    #[test]
    fn only_configured_bearer_keys_authenticate() {
        let sandbox = Sandbox::new(SandboxConfig::new([
            crate::secret::Secret::new("rf_a"),
            crate::secret::Secret::new("rf_b"),
        ]))
        .unwrap();
        let key = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            sandbox.app.authenticate(&headers)
        };
        assert_eq!(key("Bearer rf_a"), Some(KeyId(0)));
        assert_eq!(key("bearer rf_b"), Some(KeyId(1)));
        assert_eq!(key("Bearer rf_c"), None);
        assert_eq!(key("Bearer rf_a_longer"), None);
        assert_eq!(key("Basic rf_a"), None);
        assert_eq!(key("rf_a"), None);
        assert_eq!(sandbox.app.authenticate(&HeaderMap::new()), None);
    }
}
