//! A completion webhook, end to end: the sandbox posts `BALANCE_BATCH_COMPLETED` to the
//! daemon's HTTP listener, which wakes the run reading that batch; without a usable
//! webhook the run still completes, by polling.
//!
//! The pieces are the daemon's own: an in-process sandbox, `http::serve` on port 0 with
//! the completion webhook configured, and a [`RunContext`] whose `webhook_url` is the
//! listener's URL with its token and whose `completions` the listener shares.
//!
//! Time: the run reads [`Clock::following_tokio`] on paused tokio time and polls once
//! an hour. Inside [`frozen`], a blocking task stops paused time from auto-advancing
//! (tokio documents this; `settle` in `tests/scheduler.rs` uses the same guard), so
//! the run's clock does not move and its next poll never comes due: only a wake-up can
//! explain a second read. The sandbox's clock is frozen as well; a middleware moves it
//! past the batch's processing time right after the first results page is served, so
//! the batch completes while its reader waits, and the sandbox's own webhook worker
//! then delivers the event. The fallback tests afterwards let paused time run, and
//! their runs complete at the next poll, an hour of run time later.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::config::{AuthorizerSource, CatchUp, Monitor};
use balance_monitor::http::{self, HttpState};
use balance_monitor::run::{self, RunContext, RunSettings, RunSummary};
use balance_monitor::sandbox::{Sandbox, SandboxHandle, WebhookStatus};
use balance_monitor::schedule::Schedule;
use balance_monitor::secret::Secret;
use balance_monitor::store::{RunId, RunState, RunTrigger, Store};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use url::Url;

use crate::support::paused::settle;
use crate::support::sandbox::{
    CsvRow, PROCESSING_TIME, SANDBOX_KEY, authorizers_csv, fast_client_config,
    frozen_sandbox_config, sandbox_start_time,
};
use crate::support::write_file;

/// How long a frozen wait may take in real time before the test fails.
/// Far longer than anything a test waits for while time is frozen.
const POLL_INTERVAL: Duration = Duration::from_secs(3600);
const WEBHOOK_PATH: &str = "/rightfoot/batch-completed";
const TOKEN: &str = "wake-token-3f9a1c";
const AUTHORIZERS: usize = 25;

/// Where the sandbox is told to send the completion webhook.
enum Receiver {
    /// The listener, with the right token.
    Listener,
    /// The listener, with a token it does not accept.
    ListenerWithToken(&'static str),
    /// A port nothing listens on.
    Unreachable,
}

/// A sandbox, the daemon's listener, a store and a run context wired as the daemon
/// wires them.
struct Harness {
    directory: tempfile::TempDir,
    ctx: RunContext,
    monitor: Monitor,
    sandbox: SandboxHandle,
    /// `GET /v1/balances` requests the sandbox has answered.
    results_reads: Arc<AtomicUsize>,
    /// The listener's completion webhook URL with the right token.
    webhook_url: String,
    start: DateTime<Utc>,
    _stop: DropGuard,
}

async fn harness(receiver: Receiver) -> Harness {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let stop = CancellationToken::new();
    let start = sandbox_start_time();
    let clock = Clock::following_tokio(start);

    // The sandbox, frozen; the batch completes right after its first results page.
    let sandbox = Sandbox::new(frozen_sandbox_config()).unwrap();
    let handle = sandbox.handle();
    let results_reads = Arc::new(AtomicUsize::new(0));
    let layer = {
        let handle = handle.clone();
        let reads = results_reads.clone();
        axum::middleware::from_fn(move |request: Request, next: Next| {
            let handle = handle.clone();
            let reads = reads.clone();
            async move { complete_after_first_read(handle, reads, request, next).await }
        })
    };
    let router = sandbox.router().layer(layer);
    tokio::spawn(sandbox.webhook_worker(stop.clone(), TaskTracker::new()));
    let sandbox_url = serve_on_port_0(router, stop.clone()).await;

    // The daemon's listener, sharing `completions` with the run.
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("state.db")).unwrap();
    let completions = Completions::default();
    let mut state = HttpState::new(store.clone(), completions.clone(), clock.clone());
    state.set_completion_webhook(Some((WEBHOOK_PATH.to_string(), Secret::new(TOKEN))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = Url::parse(&format!(
        "http://{}{WEBHOOK_PATH}",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    tokio::spawn(http::serve(listener, state, stop.clone().cancelled_owned()));
    let webhook_url = http::completion_webhook_url(&public, &Secret::new(TOKEN));
    let sent_url = match receiver {
        Receiver::Listener => webhook_url.clone(),
        Receiver::ListenerWithToken(token) => {
            http::completion_webhook_url(&public, &Secret::new(token))
        }
        Receiver::Unreachable => {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = closed.local_addr().unwrap();
            drop(closed);
            format!("http://{address}{WEBHOOK_PATH}?token={TOKEN}")
        }
    };

    let rows: Vec<CsvRow> = (0..AUTHORIZERS)
        .map(|n| CsvRow::bank(format!("W-{n:03}")))
        .collect();
    let list = write_file(
        directory.path(),
        "authorizers.csv",
        authorizers_csv(&rows, &[]).as_bytes(),
        0o600,
    );
    let settings = RunSettings {
        poll_interval: POLL_INTERVAL,
        result_deadline: 3 * POLL_INTERVAL,
        max_batch_size: 1000,
        max_in_flight_batches: 1,
        webhook_url: Some(Secret::new(sent_url)),
        clock_skew_allowance: run::DEFAULT_CLOCK_SKEW_ALLOWANCE,
    };
    let client = balance_monitor::rightfoot::RightfootClient::new(fast_client_config(
        &sandbox_url,
        SANDBOX_KEY,
    ))
    .unwrap();
    let mut ctx = RunContext::new(
        store,
        client,
        clock,
        settings,
        directory.path().join("config.yaml"),
    );
    ctx.completions = completions;
    Harness {
        monitor: monitor(list),
        directory,
        ctx,
        sandbox: handle,
        results_reads,
        webhook_url,
        start,
        _stop: stop.drop_guard(),
    }
}

/// Serves the sandbox's routes until `stop`, and answers with their base URL.
async fn serve_on_port_0(router: axum::Router, stop: CancellationToken) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    url
}

/// Counts results reads, and completes every batch once the first one is answered.
async fn complete_after_first_read(
    handle: SandboxHandle,
    reads: Arc<AtomicUsize>,
    request: Request,
    next: Next,
) -> Response {
    let is_read = request.method() == Method::GET && request.uri().path() == "/v1/balances";
    let response = next.run(request).await;
    if is_read && reads.fetch_add(1, Ordering::SeqCst) == 0 {
        handle.clock().advance(PROCESSING_TIME);
    }
    response
}

fn monitor(list: PathBuf) -> Monitor {
    Monitor {
        name: "payroll".to_string(),
        schedule: Schedule::parse("0 6 * * *", chrono_tz::UTC).unwrap(),
        catch_up: CatchUp::Skip,
        grace: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        authorizers: AuthorizerSource::Csv(list),
        rules: Vec::new(),
        routes: Vec::new(),
        repeat_interval: Duration::from_secs(86_400),
        send_resolved: false,
        alert_fields: Vec::new(),
        alert_labels: Vec::new(),
        debits: None,
    }
}

impl Harness {
    fn database(&self) -> Connection {
        Connection::open(self.directory.path().join("state.db")).unwrap()
    }

    /// Result rows of `run`, and how many distinct authorizers they are for.
    fn results(&self, run: RunId) -> (i64, i64) {
        self.database()
            .query_row(
                "SELECT count(*), count(DISTINCT authorizer_unique_id) FROM results WHERE run_id = ?1",
                [run.0],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
    }

    /// The recorded completion events, as (event_uuid, batch id).
    fn webhook_events(&self) -> Vec<(String, Option<String>)> {
        self.database()
            .prepare("SELECT event_uuid, rightfoot_batch_id FROM webhook_events")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// How much time passed on the run's clock.
    fn run_time_elapsed(&self) -> Duration {
        (self.ctx.clock.now() - self.start).to_std().unwrap()
    }

    fn reads(&self) -> usize {
        self.results_reads.load(Ordering::SeqCst)
    }

    /// The run, started in the background.
    fn spawn_run(&self) -> tokio::task::JoinHandle<RunSummary> {
        let ctx = self.ctx.clone();
        let monitor = self.monitor.clone();
        tokio::spawn(async move {
            run::execute(&ctx, &monitor, RunTrigger::Manual, CancellationToken::new())
                .await
                .unwrap()
                .summary
        })
    }

    /// Asserts that the run completed with one result for every authorizer.
    fn assert_complete(&self, summary: &RunSummary) {
        assert_eq!(summary.state, RunState::Complete, "{summary:?}");
        assert_eq!(summary.accepted as usize, AUTHORIZERS);
        assert_eq!(
            (summary.succeeded + summary.failed_checks()) as usize,
            AUTHORIZERS
        );
        assert_eq!(summary.not_retrieved, 0);
        let expected = AUTHORIZERS as i64;
        assert_eq!(self.results(summary.run), (expected, expected));
    }

    /// Posts a completion event to the listener, as Rightfoot would.
    async fn deliver(&self, url: &str, event_uuid: &str, batch_id: &str) -> (u16, String) {
        let body = serde_json::json!({
            "event_uuid": event_uuid,
            "type": "BALANCE_BATCH_COMPLETED",
            "batch_id": batch_id,
        });
        let response = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

/// The acceptance test: the run's reader is woken by the webhook, not by time. Run time
/// stands still, so the hourly poll never comes due, and yet the run completes with
/// every result after exactly two reads (the first poll, and the one the webhook
/// triggered). Rightfoot's redelivery of the same event is a duplicate.
#[tokio::test(start_paused = true)]
async fn a_completion_webhook_wakes_the_reader_long_before_the_next_poll() {
    let h = harness(Receiver::Listener).await;

    let summary = settle("the run", h.spawn_run()).await.unwrap();

    h.assert_complete(&summary);
    assert!(
        h.run_time_elapsed() < POLL_INTERVAL && summary.duration < POLL_INTERVAL,
        "the run completed {:?} into run time: a poll, not the webhook, read the results",
        h.run_time_elapsed()
    );
    assert_eq!(
        h.reads(),
        2,
        "the first poll, then the read the webhook triggered"
    );
    let attempts = h.sandbox.webhook_attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].http_status, Some(200));
    let event = &attempts[0];
    assert_eq!(
        h.sandbox.webhook_status(&event.batch_id),
        Some(WebhookStatus::Delivered {
            event_uuid: event.event_uuid.clone(),
            attempts: 1
        })
    );
    assert_eq!(
        h.webhook_events(),
        vec![(event.event_uuid.clone(), Some(event.batch_id.clone()))],
        "the event is recorded once"
    );

    // Rightfoot retries deliveries; the same event_uuid is a duplicate and stays one row.
    let again = settle(
        "the redelivery",
        h.deliver(&h.webhook_url, &event.event_uuid, &event.batch_id),
    )
    .await;
    assert_eq!(again, (200, "duplicate\n".to_string()));
    assert_eq!(h.webhook_events().len(), 1);
}

/// A webhook whose token the listener does not accept (here: the token in the body's
/// `webhook_url` is stale) is refused with 404, records nothing and wakes nobody: the
/// reader stays asleep until its poll comes due, an hour of run time later.
#[tokio::test(start_paused = true)]
async fn a_webhook_with_a_wrong_token_wakes_nothing_and_the_poll_completes_the_run() {
    let h = harness(Receiver::ListenerWithToken("stale-token")).await;
    let running = h.spawn_run();

    settle(
        "the webhook attempt",
        h.sandbox.wait_for_webhook_attempts(1),
    )
    .await;
    let attempts = h.sandbox.webhook_attempts();
    assert_eq!(attempts[0].http_status, Some(404), "{attempts:?}");
    assert_eq!(h.reads(), 1, "only the first poll: nothing woke the reader");
    assert!(h.webhook_events().is_empty());

    // Let run time pass: the hourly poll reads the batch.
    let summary = running.await.unwrap();
    h.assert_complete(&summary);
    assert_eq!(h.reads(), 2);
    assert!(
        h.run_time_elapsed() >= POLL_INTERVAL,
        "the run completed {:?} into run time, before its poll was due: something woke it",
        h.run_time_elapsed()
    );
    assert!(h.webhook_events().is_empty());
}

/// Delivery is not guaranteed: with the receiver unreachable, the run completes by
/// polling, the fallback.
#[tokio::test(start_paused = true)]
async fn with_the_webhook_receiver_unreachable_the_run_completes_by_polling() {
    let h = harness(Receiver::Unreachable).await;
    let running = h.spawn_run();

    settle(
        "the webhook attempt",
        h.sandbox.wait_for_webhook_attempts(1),
    )
    .await;
    let attempts = h.sandbox.webhook_attempts();
    assert_eq!(attempts[0].http_status, None, "{attempts:?}");
    assert_eq!(h.reads(), 1);

    let summary = running.await.unwrap();
    h.assert_complete(&summary);
    assert_eq!(h.reads(), 2);
    assert!(h.run_time_elapsed() >= POLL_INTERVAL);
    assert!(
        matches!(
            h.sandbox.webhook_status(&attempts[0].batch_id),
            Some(WebhookStatus::Scheduled { attempts: 1, .. })
        ),
        "the sandbox will retry on its own clock"
    );
}
