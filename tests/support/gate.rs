//! The built-in sandbox on 127.0.0.1:0 behind a gate: a middleware that records every
//! exchange, can hold one answer until the test releases it, and can leave chosen
//! authorizers out of every results page.
//!
//! A held answer has already been produced by the sandbox: a held `201` means the batch
//! exists and its checks are made, a held results page means the pages before it were
//! delivered. That is the window a crash test needs, between the server's side effect
//! and the client's receipt of it, and the test learns that the window is open from
//! [`Hold::caught`], never from a sleep.
//!
//! The sandbox's own clock runs at real speed from the system time, so that Rightfoot's
//! `submitted_at`, which the daemon adds its `result_deadline` to, agrees with the
//! daemon's clock; a test makes results appear sooner with [`GatedSandbox::advance`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use balance_monitor::sandbox::{Sandbox, SandboxConfig, SandboxHandle, Scenario};
use balance_monitor::secret::Secret;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use url::Url;

use super::daemon::PATIENCE;
use super::sandbox::SANDBOX_KEY;

/// One request and the answer the sandbox gave it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub request_body: Bytes,
    pub status: u16,
    /// The body as the client was (or, if held, would be) given it.
    pub response_body: Bytes,
    /// When the request reached the gate, on the system clock the daemon reads too.
    pub at: DateTime<Utc>,
}

impl Exchange {
    /// `POST /v1/balance_requests`.
    pub fn is_submission(&self) -> bool {
        self.method == "POST" && self.path == "/v1/balance_requests"
    }

    /// `GET /v1/balances` of a real batch: not `run-now`'s access probe, which asks for
    /// a batch that cannot exist.
    pub fn is_results_page(&self) -> bool {
        self.method == "GET" && self.path == "/v1/balances" && !self.is_access_probe()
    }

    /// The access probe `run-now` and `check-config --online` send first: a results
    /// page of the nil batch id, which Rightfoot answers 404 to an accepted key.
    pub fn is_access_probe(&self) -> bool {
        self.method == "GET"
            && self.path == "/v1/balances"
            && self.param("batchId").as_deref() == Some("00000000-0000-0000-0000-000000000000")
    }

    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or_default().as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    pub fn response_json(&self) -> Value {
        serde_json::from_slice(&self.response_body).expect("a JSON answer")
    }
}

type Matcher = Box<dyn Fn(&Exchange) -> bool + Send + Sync>;

/// A hold waiting for its exchange.
struct PendingHold {
    matches: Matcher,
    caught: oneshot::Sender<Exchange>,
    release: oneshot::Receiver<()>,
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Exchange>>,
    holds: Mutex<Vec<PendingHold>>,
    withheld: Mutex<HashSet<String>>,
    /// How many exchanges are in `log`, for waiters.
    recorded: watch::Sender<usize>,
}

/// The sandbox behind the gate; it stops serving when dropped.
pub struct GatedSandbox {
    pub url: Url,
    pub handle: SandboxHandle,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

/// A sandbox configuration for daemon tests: the one test key, its clock at the system
/// time and real speed, results spread over `processing_time`, outcomes from `scenario`.
pub fn sandbox_config(processing_time: Duration, scenario: Scenario) -> SandboxConfig {
    let mut config = SandboxConfig::new([Secret::new(SANDBOX_KEY)]);
    config.clock_start = Some(Utc::now());
    config.clock_speed = 1.0;
    config.processing_time = processing_time;
    config.scenario = scenario;
    config
}

impl GatedSandbox {
    pub async fn start(config: SandboxConfig) -> GatedSandbox {
        let sandbox = Sandbox::new(config).expect("a valid sandbox configuration");
        let handle = sandbox.handle();
        let shared = Arc::new(Shared::default());
        let layer = {
            let shared = Arc::clone(&shared);
            axum::middleware::from_fn(move |request: Request, next: Next| {
                let shared = Arc::clone(&shared);
                async move { gate(shared, request, next).await }
            })
        };
        let router = sandbox.router().layer(layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        GatedSandbox {
            url,
            handle,
            shared,
            _stop: stop,
        }
    }

    /// Holds the answer to the next request `matches` accepts, until the [`Hold`] is
    /// released or dropped. `what` names it in a timeout's message.
    pub fn hold_next(
        &self,
        what: &str,
        matches: impl Fn(&Exchange) -> bool + Send + Sync + 'static,
    ) -> Hold {
        let (caught_sender, caught) = oneshot::channel();
        let (release, release_receiver) = oneshot::channel();
        self.shared.holds.lock().unwrap().push(PendingHold {
            matches: Box::new(matches),
            caught: caught_sender,
            release: release_receiver,
        });
        Hold {
            what: what.to_string(),
            caught,
            release: Some(release),
        }
    }

    /// Leaves these authorizers out of every results page from now on: a Rightfoot
    /// whose checks of them never finish.
    pub fn withhold_results_of(&self, ids: &[&str]) {
        let mut withheld = self.shared.withheld.lock().unwrap();
        withheld.extend(ids.iter().map(|id| id.to_string()));
    }

    /// Every exchange so far, oldest first (held ones included).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn submissions(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(Exchange::is_submission)
            .collect()
    }

    /// Waits until an exchange `matches` accepts has been recorded, and returns the
    /// first such.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Exchange) -> bool) -> Exchange {
        let mut recorded = self.shared.recorded.subscribe();
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(found) = self.exchanges().into_iter().find(|e| matches(e)) {
                    return found;
                }
                recorded
                    .changed()
                    .await
                    .expect("the gate outlives its waiters");
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "{what} did not reach the sandbox within {PATIENCE:?}; exchanges: {:#?}",
                self.exchanges()
            )
        })
    }

    /// Moves the sandbox clock forward, so that results appear sooner.
    pub fn advance(&self, by: Duration) {
        self.handle.clock().advance(by);
    }
}

/// One held answer. Dropping it releases the answer too.
pub struct Hold {
    what: String,
    caught: oneshot::Receiver<Exchange>,
    release: Option<oneshot::Sender<()>>,
}

impl Hold {
    /// Waits until the answer is being held, and returns its exchange.
    pub async fn caught(&mut self) -> Exchange {
        match tokio::time::timeout(PATIENCE, &mut self.caught).await {
            Ok(Ok(exchange)) => exchange,
            Ok(Err(_)) => panic!("the hold on {} was dropped by the gate", self.what),
            Err(_) => panic!(
                "{} did not reach the sandbox within {PATIENCE:?}",
                self.what
            ),
        }
    }

    /// Lets the answer go (to a client that may be gone).
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

/// Records the exchange, withholds results, and holds the answer if a hold asks.
async fn gate(shared: Arc<Shared>, request: Request, next: Next) -> Response {
    let at = Utc::now();
    let (parts, body) = request.into_parts();
    let request_body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let response = next
        .run(Request::from_parts(parts, Body::from(request_body.clone())))
        .await;
    let (mut parts, body) = response.into_parts();
    let mut response_body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let mut exchange = Exchange {
        method,
        path,
        query,
        request_body,
        status: parts.status.as_u16(),
        response_body: Bytes::new(),
        at,
    };
    if exchange.is_results_page() && exchange.status == 200 {
        let withheld = shared.withheld.lock().unwrap().clone();
        if !withheld.is_empty() {
            response_body = without_results_of(&response_body, &withheld);
            parts.headers.remove(header::CONTENT_LENGTH);
        }
    }
    exchange.response_body = response_body.clone();
    let hold = {
        let mut holds = shared.holds.lock().unwrap();
        holds
            .iter()
            .position(|hold| (hold.matches)(&exchange))
            .map(|index| holds.remove(index))
    };
    let count = {
        let mut log = shared.log.lock().unwrap();
        log.push(exchange.clone());
        log.len()
    };
    shared.recorded.send_replace(count);
    if let Some(hold) = hold {
        let _ = hold.caught.send(exchange);
        // Released, or the test dropped the hold: either way the answer goes out.
        let _ = hold.release.await;
    }
    Response::from_parts(parts, Body::from(response_body))
}

/// A results page without the rows of `ids`.
fn without_results_of(body: &Bytes, ids: &HashSet<String>) -> Bytes {
    let mut page: Value = serde_json::from_slice(body).expect("a JSON results page");
    if let Some(rows) = page["balances"].as_array_mut() {
        rows.retain(|row| {
            row["authorizer_unique_id"]
                .as_str()
                .is_none_or(|id| !ids.contains(id))
        });
    }
    Bytes::from(serde_json::to_vec(&page).unwrap())
}
