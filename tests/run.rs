//! One run of a monitor, end to end: the run state machine against the built-in sandbox
//! served on 127.0.0.1:0, with a real SQLite store in a temporary directory.
//!
//! Time: every test runs on paused tokio time. The run reads [`Clock::following_tokio`];
//! the sandbox's own clock is frozen and a middleware in front of it moves it up to the
//! run's clock before each request, so polling, processing and deadlines take no real
//! time and the two clocks agree whenever the sandbox answers. Nothing sleeps to wait:
//! cancellation is triggered by the sandbox serving a results page.
//!
//! Crashes are simulated by writing the store directly to the state a killed process
//! would leave (the real-binary kill tests live elsewhere), then calling `resume`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use balance_monitor::authorizers::run_list::load_run_list;
use balance_monitor::clock::Clock;
use balance_monitor::config::{AuthorizerSource, CatchUp, Monitor};
use balance_monitor::rightfoot::{ClientConfig, RightfootClient, body_sha256};
use balance_monitor::run::{self, RunContext, RunError, RunSettings, RunSummary};
use balance_monitor::sandbox::{Sandbox, SandboxConfig, SandboxHandle, Scenario};
use balance_monitor::schedule::Schedule;
use balance_monitor::secret::Secret;
use balance_monitor::store::{
    BatchState, BatchSubmitted, NewRun, ResultOutcome, ResultRow, RunId, RunState, RunTrigger,
    Store,
};
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::Connection;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::support::write_file;

const KEY: &str = "rf_test_run";

const HEADER: &str = "authorizer_unique_id,first_name,last_name,street_address_line1,street_address_line2,city,state,zip_code,country,phone_number,date_of_birth,ssn,ein,account_number,routing_number,debit_card_number,cvv,expiration_month,expiration_year";

/// Personal values every generated row carries; none may reach the database.
const SSN: &str = "318527946";
const ACCOUNT: &str = "90871234565";
const LAST_NAME: &str = "Quarrington";

fn row(id: &str, ssn: &str) -> String {
    format!(
        "{id},Zebulon,{LAST_NAME},742 Evergreen Terrace,,Shelbyville,MI,49007,US,5558671309,11/23/1947,{ssn},,{ACCOUNT},021000021,,,,"
    )
}

fn ids(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("A-{n:04}")).collect()
}

/// A CSV list of valid authorizers, plus `extra` rows written as given.
fn csv(ids: &[String], extra: &[String]) -> String {
    let mut text = HEADER.to_string();
    for id in ids {
        text.push('\n');
        text.push_str(&row(id, SSN));
    }
    for line in extra {
        text.push('\n');
        text.push_str(line);
    }
    text.push('\n');
    text
}

fn settings() -> RunSettings {
    RunSettings {
        poll_interval: Duration::from_secs(30),
        result_deadline: Duration::from_secs(75 * 60),
        max_batch_size: 1000,
        max_in_flight_batches: 2,
        webhook_url: None,
        clock_skew_allowance: run::DEFAULT_CLOCK_SKEW_ALLOWANCE,
    }
}

fn sandbox_config(start: DateTime<Utc>) -> SandboxConfig {
    let mut config = SandboxConfig::new([Secret::new(KEY)]);
    config.clock_start = Some(start);
    config.clock_speed = 0.0;
    config.processing_time = Duration::from_secs(600);
    config
}

/// What the middleware saw of one `POST /v1/balance_requests`.
#[derive(Clone, Debug)]
struct PostSeen {
    body_sha256: String,
    batch_id: Option<String>,
    /// Batches created before this POST whose results were not all visible yet.
    incomplete_before: usize,
}

#[derive(Default)]
struct Seen {
    posts: Vec<PostSeen>,
    batch_ids: Vec<String>,
    result_reads: usize,
    /// Cancel this token once this many results pages have been served.
    cancel_after_reads: Option<(usize, CancellationToken)>,
    /// Called once, when the first submission's answer has been made and before the
    /// client has it.
    after_first_post: Option<Box<dyn FnOnce() + Send>>,
}

/// The sandbox on an ephemeral port, with its clock kept at the run's.
struct Served {
    base: Url,
    handle: SandboxHandle,
    seen: Arc<Mutex<Seen>>,
    _stop: oneshot::Sender<()>,
}

impl Served {
    fn posts(&self) -> Vec<PostSeen> {
        self.seen.lock().unwrap().posts.clone()
    }

    fn cancel_after_reads(&self, reads: usize, cancel: CancellationToken) {
        self.seen.lock().unwrap().cancel_after_reads = Some((reads, cancel));
    }

    fn after_first_post(&self, hook: impl FnOnce() + Send + 'static) {
        self.seen.lock().unwrap().after_first_post = Some(Box::new(hook));
    }
}

async fn serve(config: SandboxConfig, clock: Clock) -> Served {
    let sandbox = Sandbox::new(config).expect("valid sandbox config");
    let handle = sandbox.handle();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let layer = {
        let handle = handle.clone();
        let seen = seen.clone();
        axum::middleware::from_fn(move |request: Request, next: Next| {
            let handle = handle.clone();
            let seen = seen.clone();
            let clock = clock.clone();
            async move { observe(handle, seen, clock, request, next).await }
        })
    };
    let router = sandbox.router().layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Served {
        base,
        handle,
        seen,
        _stop: stop,
    }
}

/// Moves the sandbox clock up to the run's, then records what the request was.
async fn observe(
    handle: SandboxHandle,
    seen: Arc<Mutex<Seen>>,
    clock: Clock,
    request: Request,
    next: Next,
) -> Response {
    let behind = clock.now() - handle.clock().now();
    if behind > TimeDelta::zero() {
        handle.clock().advance(behind.to_std().unwrap());
    }
    let is_post =
        request.method() == Method::POST && request.uri().path() == "/v1/balance_requests";
    let is_read = request.method() == Method::GET && request.uri().path() == "/v1/balances";
    if !is_post {
        let response = next.run(request).await;
        if is_read {
            let mut seen = seen.lock().unwrap();
            seen.result_reads += 1;
            if let Some((after, cancel)) = &seen.cancel_after_reads
                && seen.result_reads >= *after
            {
                cancel.cancel();
            }
        }
        return response;
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let incomplete_before = {
        let seen = seen.lock().unwrap();
        seen.batch_ids
            .iter()
            .filter_map(|id| handle.batch(id))
            .filter(|batch| batch.visible < batch.accepted)
            .count()
    };
    let body_sha256 = body_sha256(&bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let batch_id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["batch_id"].as_str().map(str::to_string));
    {
        let mut seen = seen.lock().unwrap();
        if let Some(id) = &batch_id
            && !seen.batch_ids.contains(id)
        {
            seen.batch_ids.push(id.clone());
        }
        seen.posts.push(PostSeen {
            body_sha256,
            batch_id,
            incomplete_before,
        });
        if let Some(hook) = seen.after_first_post.take() {
            hook();
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A store, a served sandbox, a run context and a monitor over a CSV list.
struct Harness {
    directory: tempfile::TempDir,
    store: Store,
    served: Served,
    ctx: RunContext,
    monitor: Monitor,
    list: PathBuf,
    start: DateTime<Utc>,
}

fn monitor(name: &str, list: &Path) -> Monitor {
    Monitor {
        name: name.to_string(),
        schedule: Schedule::parse("0 6 * * *", chrono_tz::UTC).unwrap(),
        catch_up: CatchUp::Skip,
        grace: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        authorizers: AuthorizerSource::Csv(list.to_path_buf()),
        rules: Vec::new(),
        routes: Vec::new(),
        repeat_interval: Duration::from_secs(86_400),
        send_resolved: false,
        alert_fields: Vec::new(),
        alert_labels: Vec::new(),
        debits: None,
    }
}

fn client(base: &Url) -> RightfootClient {
    RightfootClient::new(ClientConfig::new(base.clone(), Secret::new(KEY))).unwrap()
}

async fn harness_with(list_text: &str, sandbox: SandboxConfig, settings: RunSettings) -> Harness {
    // The run's log lines, shown for a failing test (filter with RUST_LOG).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let start = sandbox.clock_start.unwrap();
    let clock = Clock::following_tokio(start);
    let served = serve(sandbox, clock.clone()).await;
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("state.db")).unwrap();
    let list = write_file(
        directory.path(),
        "authorizers.csv",
        list_text.as_bytes(),
        0o600,
    );
    let ctx = RunContext::new(
        store.clone(),
        client(&served.base),
        clock,
        settings,
        directory.path().join("config.yaml"),
    );
    Harness {
        monitor: monitor("payroll", &list),
        directory,
        store,
        served,
        ctx,
        list,
        start,
    }
}

async fn harness(list_text: &str) -> Harness {
    harness_with(list_text, sandbox_config(Utc::now()), settings()).await
}

impl Harness {
    fn database(&self) -> Connection {
        Connection::open(self.directory.path().join("state.db")).unwrap()
    }

    fn count(&self, sql: &str, run: RunId) -> i64 {
        self.database()
            .query_row(sql, [run.0], |row| row.get(0))
            .unwrap()
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

    async fn execute(&self, cancel: CancellationToken) -> Result<RunSummary, RunError> {
        run::execute(&self.ctx, &self.monitor, RunTrigger::Manual, cancel)
            .await
            .map(|outcome| outcome.summary)
    }

    /// A pending run, planned and started exactly as `execute` would, but without
    /// sending anything: the state a crash right after planning leaves.
    async fn planned_run(&self) -> (RunId, run::Plan) {
        let monitor_id = self.store.ensure_monitor(&self.monitor.name).await.unwrap();
        let run = self
            .store
            .create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor: monitor_id,
                trigger: RunTrigger::Manual,
            })
            .await
            .unwrap();
        let list = load_run_list(&self.monitor.authorizers, &self.ctx.config_file).unwrap();
        let plan = run::plan::plan(list, self.ctx.settings.max_batch_size, None, |_| {}).unwrap();
        self.store
            .start_run(run, self.ctx.clock.now(), plan.to_store_plan())
            .await
            .unwrap();
        (run, plan)
    }

    /// Asserts that no personal value of the generated rows is anywhere in the database.
    fn assert_no_personal_data(&self) {
        let dump: String = {
            let connection = self.database();
            let tables: Vec<String> = connection
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut text = String::new();
            for table in tables {
                let mut statement = connection
                    .prepare(&format!("SELECT * FROM \"{table}\""))
                    .unwrap();
                let columns = statement.column_count();
                let mut rows = statement.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    for column in 0..columns {
                        let value: rusqlite::types::Value = row.get(column).unwrap();
                        text.push_str(&format!("{value:?}\n"));
                    }
                }
            }
            text
        };
        for value in [SSN, ACCOUNT, LAST_NAME, "5558671309", "Evergreen"] {
            assert!(!dump.contains(value), "the database holds {value:?}");
        }
    }
}

fn scenario(text: &str) -> Scenario {
    Scenario::from_yaml(text, Path::new("scenario.yaml")).unwrap()
}

// --- A run from start to end ---------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_complete_run_stores_exactly_one_result_per_authorizer() {
    let list = ids(2500);
    let mut config = sandbox_config(Utc::now());
    config.scenario = scenario("authorizers:\n  A-0007: [closed]\n  A-1500: [{code: 4242}]\n");
    let h = harness_with(&csv(&list, &[]), config, settings()).await;

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.state, RunState::Complete, "{summary:?}");
    assert_eq!(summary.reason, None);
    assert_eq!(summary.chunks, 3);
    assert_eq!(summary.accepted, 2500);
    // The sandbox's random walk fails about 5% of checks; the scenario adds two more.
    assert_eq!(summary.succeeded + summary.failed_checks(), 2500);
    assert_eq!(summary.failed_by_code.get(&4242), Some(&1));
    assert!(summary.failed_by_code.contains_key(&3200));
    assert!(summary.succeeded > 2000, "{summary:?}");
    let stored_failures = h.count(
        "SELECT count(*) FROM results WHERE run_id = ?1 AND balance_status_code <> 0 \
         AND balance_cents IS NULL",
        summary.run,
    );
    assert_eq!(stored_failures, i64::from(summary.failed_checks()));
    assert_eq!(
        (
            summary.rejected_preflight,
            summary.rejected_by_api,
            summary.not_retrieved
        ),
        (0, 0, 0)
    );
    assert!(!summary.served_from_cache);
    assert!(
        summary.duration >= Duration::from_secs(600),
        "{:?}",
        summary.duration
    );
    assert_eq!(h.results(summary.run), (2500, 2500));
    assert_eq!(
        h.count(
            "SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'retrieved'",
            summary.run
        ),
        2500
    );
    let batches = h.store.run_batches(summary.run).await.unwrap();
    let sizes: Vec<u32> = batches.iter().map(|b| b.members).collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert!(batches.iter().all(|b| b.state == BatchState::Complete));
    assert_eq!(h.served.handle.batches_created(), 3);
    assert_eq!(h.served.handle.checks_performed(), 2500);
    let record = h.store.run(summary.run).await.unwrap().unwrap();
    assert_eq!(record.state, RunState::Complete);
    h.assert_no_personal_data();
}

#[tokio::test(start_paused = true)]
async fn no_more_chunks_are_in_flight_than_allowed() {
    let list = ids(250);
    let h = harness_with(
        &csv(&list, &[]),
        sandbox_config(Utc::now()),
        RunSettings {
            max_batch_size: 50,
            max_in_flight_batches: 2,
            ..settings()
        },
    )
    .await;

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.state, RunState::Complete);
    let posts = h.served.posts();
    assert_eq!(posts.len(), 5);
    // A batch whose results are not all visible cannot have been read to its end, so
    // its chunk still held a slot when the next POST went out.
    let most = posts.iter().map(|p| p.incomplete_before).max().unwrap();
    assert_eq!(most, 1, "{posts:?}");
}

#[tokio::test(start_paused = true)]
async fn preflight_rejections_are_recorded_with_reasons_and_counted() {
    let list = ids(20);
    let bad = vec![
        // No date of birth.
        format!(
            "B-1,Zebulon,{LAST_NAME},742 Evergreen Terrace,,Shelbyville,MI,49007,US,5558671309,,{SSN},,{ACCOUNT},021000021,,,,"
        ),
        // A routing number of eight digits.
        format!(
            "B-2,Zebulon,{LAST_NAME},742 Evergreen Terrace,,Shelbyville,MI,49007,US,5558671309,11/23/1947,{SSN},,{ACCOUNT},02100002,,,,"
        ),
    ];
    let h = harness(&csv(&list, &bad)).await;

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.state, RunState::Partial);
    assert_eq!(summary.rejected_preflight, 2);
    assert_eq!(summary.accepted, 20);
    assert_eq!(summary.succeeded + summary.failed_checks(), 20);
    assert_eq!(summary.reason.as_deref(), Some("2 rejected by pre-flight"));
    let rejections = h.store.preflight_rejections(summary.run).await.unwrap();
    let recorded: Vec<(&str, &str)> = rejections
        .iter()
        .map(|r| (r.authorizer_unique_id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        recorded,
        vec![
            ("B-1", "Missing date of birth for authorizer(s)."),
            (
                "B-2",
                "Invalid routing number for authorizer(s). Routing number must be 9 digits long."
            ),
        ]
    );
    assert!(
        rejections[0].source.ends_with("authorizers.csv row 22"),
        "{:?}",
        rejections[0].source
    );
    assert_eq!(
        h.served.handle.checks_performed(),
        20,
        "rejected rows are not sent"
    );
    h.assert_no_personal_data();
}

/// Regression (issue 15): a 100,000-character id and a NUL byte in a name were sent to
/// the API. Each such row is now rejected by pre-flight on its own, with its row
/// number, its id left out when the id is the problem; the rest of the list runs.
#[tokio::test(start_paused = true)]
async fn rows_beyond_the_text_limits_are_rejected_by_row_and_never_sent() {
    let long_id = "L".repeat(100_000);
    let bad = vec![
        row(&long_id, SSN),
        format!(
            "B-2,Zeb\u{0}ulon,{LAST_NAME},742 Evergreen Terrace,,Shelbyville,MI,49007,US,5558671309,11/23/1947,{SSN},,{ACCOUNT},021000021,,,,"
        ),
        row("B-3\u{1}", SSN),
    ];
    let h = harness(&csv(&ids(5), &bad)).await;

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.rejected_preflight, 3);
    assert_eq!(summary.accepted, 5);
    let rejections = h.store.preflight_rejections(summary.run).await.unwrap();
    let recorded: Vec<(&str, &str, &str)> = rejections
        .iter()
        .map(|r| {
            let row = r.source.rsplit_once(' ').map_or("", |(_, row)| row);
            (row, r.authorizer_unique_id.as_str(), r.reason.as_str())
        })
        .collect();
    assert_eq!(
        recorded,
        vec![
            (
                "7",
                "",
                "`authorizer_unique_id` is longer than 128 characters"
            ),
            ("8", "B-2", "`first_name` holds a control character"),
            ("9", "", "`authorizer_unique_id` holds a control character"),
        ]
    );
    assert_eq!(
        h.served.handle.checks_performed(),
        5,
        "rejected rows are not sent"
    );
    h.assert_no_personal_data();
}

#[tokio::test(start_paused = true)]
async fn an_authorizer_file_that_cannot_be_loaded_fails_the_run_with_its_reason() {
    let h = harness(&csv(&ids(3), &[])).await;
    std::fs::write(&h.list, "not,a,rightfoot,header\n1,2,3,4\n").unwrap();

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.state, RunState::Failed);
    let reason = summary.reason.unwrap();
    assert!(
        reason.starts_with("cannot load the authorizers: "),
        "{reason}"
    );
    assert!(reason.contains("authorizers.csv"), "{reason}");
    assert_eq!(h.served.handle.batches_created(), 0);
}

#[tokio::test(start_paused = true)]
async fn results_missing_at_the_deadline_are_not_retrieved_and_the_run_is_partial() {
    let list = ids(40);
    let mut config = sandbox_config(Utc::now());
    // Results trickle in over two hours; the run waits one.
    config.processing_time = Duration::from_secs(2 * 3600);
    let h = harness_with(
        &csv(&list, &[]),
        config,
        RunSettings {
            result_deadline: Duration::from_secs(3600),
            ..settings()
        },
    )
    .await;

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.state, RunState::Partial, "{summary:?}");
    assert!(
        summary.not_retrieved > 0 && summary.not_retrieved < 40,
        "{summary:?}"
    );
    assert_eq!(
        summary.succeeded + summary.failed_checks() + summary.not_retrieved,
        40
    );
    assert_eq!(
        summary.reason.as_deref(),
        Some(format!("{} not retrieved", summary.not_retrieved).as_str())
    );
    assert_eq!(h.results(summary.run), (40, 40));
    let reasons: Vec<String> = h
        .database()
        .prepare("SELECT DISTINCT reason FROM results WHERE outcome = 'not_retrieved'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reasons,
        vec!["no result from Rightfoot by the deadline (submitted_at + result_deadline)"]
    );
    let batch = &h.store.run_batches(summary.run).await.unwrap()[0];
    assert_eq!(batch.state, BatchState::Complete);
    assert_eq!(
        batch.reason.as_deref(),
        Some(
            format!(
                "deadline passed with {} authorizers not retrieved",
                summary.not_retrieved
            )
            .as_str()
        )
    );
    // The run stopped waiting at the deadline, not when the results were all in.
    let finished = h
        .store
        .run(summary.run)
        .await
        .unwrap()
        .unwrap()
        .finished_at
        .unwrap();
    assert!(finished < h.start + TimeDelta::hours(2), "{finished}");
}

// --- Rightfoot's 24-hour body cache --------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_list_checked_twice_within_24_hours_is_served_from_the_cache_and_not_counted_twice() {
    let list = ids(1200);
    let h = harness(&csv(&list, &[])).await;
    let first = h.execute(CancellationToken::new()).await.unwrap();
    assert_eq!(first.state, RunState::Complete);
    assert!(!first.served_from_cache);
    let (batches, checks) = (
        h.served.handle.batches_created(),
        h.served.handle.checks_performed(),
    );
    assert_eq!((batches, checks), (2, 1200));

    tokio::time::advance(Duration::from_secs(6 * 3600)).await;
    let second = h.execute(CancellationToken::new()).await.unwrap();

    assert!(second.served_from_cache);
    assert_eq!(second.state, RunState::Complete, "{second:?}");
    assert_eq!(second.cached, 1200);
    assert_eq!((second.succeeded, second.not_retrieved), (0, 0));
    assert!(
        second
            .reason
            .as_deref()
            .unwrap()
            .contains("served from Rightfoot's 24-hour body cache"),
        "{second:?}"
    );
    assert_eq!(h.served.handle.batches_created(), batches, "no new batch");
    assert_eq!(h.served.handle.checks_performed(), checks, "no new check");
    assert_eq!(h.results(second.run), (0, 0), "no result is copied");
    // Each chunk points at the chunk of the first run that holds its results.
    let earlier = h.store.run_batches(first.run).await.unwrap();
    let later = h.store.run_batches(second.run).await.unwrap();
    for (earlier, later) in earlier.iter().zip(&later) {
        assert_eq!(later.rightfoot_batch_id, earlier.rightfoot_batch_id);
        let owner = later.cached_from.expect("linked to the earlier chunk");
        assert_eq!((owner.run, owner.batch), (first.run, earlier.id));
        assert_eq!(later.state, BatchState::Complete);
    }
    // History counts each check once.
    for id in ["A-0000", "A-0999", "A-1199"] {
        let history = h.store.authorizer_history(id, 10).await.unwrap();
        assert_eq!(history.len(), 1, "{id}: {history:?}");
        assert_eq!(history[0].run, first.run);
        assert_eq!(history[0].outcome, ResultOutcome::Retrieved);
    }
}

#[tokio::test(start_paused = true)]
async fn a_cached_batch_whose_first_run_gave_up_on_results_fills_only_those_gaps() {
    let list = ids(40);
    let mut config = sandbox_config(Utc::now());
    config.processing_time = Duration::from_secs(2 * 3600);
    let h = harness_with(
        &csv(&list, &[]),
        config,
        RunSettings {
            result_deadline: Duration::from_secs(3600),
            ..settings()
        },
    )
    .await;
    let first = h.execute(CancellationToken::new()).await.unwrap();
    assert_eq!(first.state, RunState::Partial);
    let missing = first.not_retrieved;
    assert!(missing > 0 && missing < 40, "{first:?}");

    // Three hours later every result is at Rightfoot; the same list gets the same batch.
    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    let second = h.execute(CancellationToken::new()).await.unwrap();

    assert!(second.served_from_cache);
    assert_eq!(second.state, RunState::Complete, "{second:?}");
    assert_eq!(
        second.cached,
        40 - missing,
        "the first run's results stay its own"
    );
    assert_eq!(second.succeeded + second.failed_checks(), missing);
    assert_eq!(second.not_retrieved, 0);
    assert_eq!(h.served.handle.checks_performed(), 40, "no new check");
    // Across both runs, every authorizer has exactly one retrieved result.
    let (retrieved, authorizers): (i64, i64) = h
        .database()
        .query_row(
            "SELECT count(*), count(DISTINCT authorizer_unique_id) FROM results \
             WHERE outcome = 'retrieved'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((retrieved, authorizers), (40, 40));
    let batch = &h.store.run_batches(second.run).await.unwrap()[0];
    assert_eq!(batch.state, BatchState::Complete);
    assert!(
        batch
            .reason
            .as_deref()
            .unwrap()
            .ends_with(&format!("reading the {missing} results it lacks")),
        "{:?}",
        batch.reason
    );
}

#[tokio::test(start_paused = true)]
async fn a_cached_batch_this_database_has_never_seen_is_flagged_and_stored_once() {
    let list = ids(30);
    let h = harness(&csv(&list, &[])).await;
    // Another database (a restored backup, a second installation with the same key)
    // submitted the same list first.
    let other_directory = tempfile::tempdir().unwrap();
    let other_store = Store::open(other_directory.path().join("other.db")).unwrap();
    let other = RunContext::new(
        other_store,
        client(&h.served.base),
        h.ctx.clock.clone(),
        settings(),
        h.ctx.config_file.clone(),
    );
    let elsewhere = run::execute(
        &other,
        &h.monitor,
        RunTrigger::Manual,
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .summary;
    assert_eq!(elsewhere.state, RunState::Complete);

    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert!(summary.served_from_cache);
    assert_eq!(summary.state, RunState::Complete);
    assert_eq!(summary.cached, 0);
    assert_eq!(summary.succeeded + summary.failed_checks(), 30);
    assert_eq!(h.results(summary.run), (30, 30));
    assert_eq!(h.served.handle.checks_performed(), 30, "no new check");
    assert_eq!(
        summary.reason.as_deref(),
        Some("served from Rightfoot's 24-hour body cache: results are older than the run")
    );
}

// --- Crash recovery --------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn resume_resends_a_chunk_caught_in_submitting_with_identical_bytes() {
    let list = ids(1500);
    let h = harness(&csv(&list, &[])).await;
    let (run, plan) = h.planned_run().await;
    let batches = h.store.run_batches(run).await.unwrap();
    // The process sent chunk 0 and died before recording Rightfoot's answer.
    let first = h
        .store
        .record_first_attempt(batches[0].id, h.ctx.clock.now())
        .await
        .unwrap();
    h.ctx
        .client
        .submit_chunk(&plan.chunks[0].body().unwrap(), first)
        .await
        .unwrap();
    assert_eq!(h.served.handle.batches_created(), 1);

    tokio::time::advance(Duration::from_secs(20 * 60)).await;
    let summary = run::resume(&h.ctx, Some(&h.monitor), run, CancellationToken::new())
        .await
        .unwrap()
        .summary;

    assert_eq!(summary.state, RunState::Complete, "{summary:?}");
    assert!(
        !summary.served_from_cache,
        "the run's own batch is not a stale one"
    );
    let posts = h.served.posts();
    let chunk0 = hex::encode(plan.chunks[0].body_sha256());
    let chunk1 = hex::encode(plan.chunks[1].body_sha256());
    let shas: Vec<&str> = posts.iter().map(|p| p.body_sha256.as_str()).collect();
    assert_eq!(
        shas.iter().filter(|s| **s == chunk0).count(),
        2,
        "chunk 0 sent again"
    );
    assert_eq!(shas.iter().filter(|s| **s == chunk1).count(), 1);
    assert_eq!(posts.len(), 3);
    let chunk0_batches: Vec<&Option<String>> = posts
        .iter()
        .filter(|p| p.body_sha256 == chunk0)
        .map(|p| &p.batch_id)
        .collect();
    assert_eq!(
        chunk0_batches[0], chunk0_batches[1],
        "the cache answered the resend"
    );
    assert_eq!(
        h.served.handle.batches_created(),
        2,
        "nobody was checked twice"
    );
    assert_eq!(h.served.handle.checks_performed(), 1500);
    assert_eq!(h.results(run), (1500, 1500));
    assert_eq!(summary.succeeded + summary.failed_checks(), 1500);
}

#[tokio::test(start_paused = true)]
async fn resume_finishes_reading_a_chunk_left_mid_read() {
    let list = ids(450);
    let h = harness(&csv(&list, &[])).await;
    let (run, plan) = h.planned_run().await;
    let batch = h.store.run_batches(run).await.unwrap()[0].clone();
    let now = h.ctx.clock.now();
    let first = h.store.record_first_attempt(batch.id, now).await.unwrap();
    let outcome = h
        .ctx
        .client
        .submit_chunk(&plan.chunks[0].body().unwrap(), first)
        .await
        .unwrap();
    h.store
        .mark_batch_submitted(
            batch.id,
            BatchSubmitted {
                rightfoot_batch_id: outcome.batch_id.clone(),
                submitted_at: outcome.submitted_at,
                accepted: 450,
                failed: Vec::new(),
                deadline: outcome.submitted_at + TimeDelta::minutes(75),
            },
        )
        .await
        .unwrap();
    h.store
        .set_batch_state(batch.id, BatchState::Reading, None)
        .await
        .unwrap();
    // Half the processing time later, one page was read and stored; then the crash.
    tokio::time::advance(Duration::from_secs(300)).await;
    let mut pages = h
        .ctx
        .client
        .balance_pages(&outcome.batch_id, 450, outcome.submitted_at);
    let page = pages.next_page().await.unwrap().unwrap();
    assert!(page.has_more, "more results are visible than one page");
    let rows: Vec<ResultRow> = page
        .results
        .iter()
        .map(|r| ResultRow {
            authorizer_unique_id: r.authorizer_unique_id.clone(),
            balance: r.balance,
            balance_status_code: r.status.code(),
            retrieved_at: r.timestamp.unwrap(),
        })
        .collect();
    h.store.upsert_results(run, batch.id, &rows).await.unwrap();
    assert_eq!(h.results(run), (100, 100));

    let unfinished = run::resume_unfinished(
        &h.ctx,
        std::slice::from_ref(&h.monitor),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    assert_eq!(unfinished.len(), 1);
    let (resumed, summary) = &unfinished[0];
    let summary = &summary.as_ref().unwrap().summary;
    assert_eq!(*resumed, run);
    assert_eq!(summary.state, RunState::Complete, "{summary:?}");
    assert_eq!(h.results(run), (450, 450));
    assert_eq!(h.served.posts().len(), 1, "nothing is sent again");
    assert_eq!(h.served.handle.checks_performed(), 450);
}

#[tokio::test(start_paused = true)]
async fn a_chunk_in_submitting_for_more_than_24_hours_is_unknown_and_never_resent() {
    let list = ids(10);
    let h = harness(&csv(&list, &[])).await;
    let (run, _plan) = h.planned_run().await;
    let batch = h.store.run_batches(run).await.unwrap()[0].clone();
    // Sent (or perhaps sent) 25 hours ago, and no answer was recorded.
    h.store
        .record_first_attempt(batch.id, h.ctx.clock.now() - TimeDelta::hours(25))
        .await
        .unwrap();

    let summary = run::resume(&h.ctx, Some(&h.monitor), run, CancellationToken::new())
        .await
        .unwrap()
        .summary;

    assert_eq!(h.served.posts().len(), 0, "never resent");
    assert_eq!(h.served.handle.checks_performed(), 0);
    let batch = h.store.run_batches(run).await.unwrap()[0].clone();
    assert_eq!(batch.state, BatchState::Unknown);
    assert!(
        batch
            .reason
            .as_deref()
            .unwrap()
            .contains("longer ago than Rightfoot's 24-hour body cache covers"),
        "{:?}",
        batch.reason
    );
    assert_eq!(summary.state, RunState::Failed);
    let reason = summary.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("no result was retrieved; 10 not retrieved; 1 chunk unknown; first: chunk 0 unknown: first sent at "),
        "{reason}"
    );
    assert_eq!(summary.not_retrieved, 10, "every member is accounted for");
    assert_eq!(h.results(run), (10, 10));
}

#[tokio::test(start_paused = true)]
async fn a_changed_authorizer_file_closes_submitting_chunks_without_sending_anything() {
    let list = ids(20);
    let h = harness_with(
        &csv(&list, &[]),
        sandbox_config(Utc::now()),
        RunSettings {
            max_batch_size: 10,
            ..settings()
        },
    )
    .await;
    let (run, _plan) = h.planned_run().await;
    let batches = h.store.run_batches(run).await.unwrap();
    // Chunk 0 may have reached Rightfoot before the crash; chunk 1 was never sent.
    h.store
        .record_first_attempt(batches[0].id, h.ctx.clock.now())
        .await
        .unwrap();
    // Meanwhile the lender corrects one SSN in each chunk.
    let mut text = csv(&list, &[]);
    for id in ["A-0003", "A-0015"] {
        text = text.replace(&row(id, SSN), &row(id, "318527947"));
    }
    std::fs::write(&h.list, text).unwrap();

    let summary = run::resume(&h.ctx, Some(&h.monitor), run, CancellationToken::new())
        .await
        .unwrap()
        .summary;

    assert_eq!(
        h.served.posts().len(),
        0,
        "nothing sent with different data"
    );
    let batches = h.store.run_batches(run).await.unwrap();
    assert_eq!(batches[0].state, BatchState::Unknown);
    assert_eq!(batches[1].state, BatchState::Failed);
    for batch in &batches {
        assert!(
            batch
                .reason
                .as_deref()
                .unwrap()
                .contains("exact body cannot be rebuilt"),
            "{:?}",
            batch.reason
        );
    }
    assert_eq!(summary.state, RunState::Failed);
    assert_eq!(summary.not_retrieved, 20);
}

/// Issue 21: the list is held as ids and offsets into the file, and each chunk's
/// records are read again when it is sent. A file changed after the first chunk was
/// sent fails the run, naming the file; nothing is sent from the changed file under the
/// old plan; the next run plans from the file as it now is, its unchanged first chunk
/// answered from Rightfoot's cache.
#[tokio::test(start_paused = true)]
async fn a_file_changed_mid_run_fails_the_run_and_nothing_is_sent_from_it() {
    let list = ids(2500);
    let h = harness_with(
        &csv(&list, &[]),
        sandbox_config(Utc::now()),
        RunSettings {
            max_in_flight_batches: 1,
            ..settings()
        },
    )
    .await;
    // The lender corrects one SSN in the last chunk while the first one is in flight
    // (same length, so only the modification time or the record itself can tell).
    let corrected = csv(&list, &[]).replace(&row("A-2400", SSN), &row("A-2400", "318527947"));
    let path = h.list.clone();
    let text = corrected.clone();
    h.served
        .after_first_post(move || std::fs::write(&path, text).unwrap());

    let summary = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(summary.state, RunState::Failed, "{summary:?}");
    let reason = summary.reason.as_deref().unwrap();
    let file = h.list.display().to_string();
    assert!(
        reason.starts_with(&format!("the authorizers file {file} ")),
        "{reason}"
    );
    assert!(
        reason.contains("nothing more is sent under that plan"),
        "{reason}"
    );
    assert!(
        !reason.contains(SSN) && !reason.contains("318527947"),
        "{reason}"
    );
    // The sandbox saw the first chunk only: 1,000 checks, one batch.
    assert_eq!(h.served.posts().len(), 1);
    assert_eq!(h.served.handle.batches_created(), 1);
    assert_eq!(h.served.handle.checks_performed(), 1000);
    let batches = h.store.run_batches(summary.run).await.unwrap();
    let states: Vec<BatchState> = batches.iter().map(|b| b.state).collect();
    assert_eq!(
        states,
        [BatchState::Complete, BatchState::Failed, BatchState::Failed]
    );
    for batch in &batches[1..] {
        let reason = batch.reason.as_deref().unwrap();
        assert!(
            reason.starts_with("not sent: the authorizers file "),
            "{reason}"
        );
        assert_eq!(batch.first_attempt_at, None, "never sent");
    }
    assert_eq!(summary.not_retrieved, 1500);
    assert_eq!(h.results(summary.run), (2500, 2500));
    h.assert_no_personal_data();

    // The next run plans from the file as it is now.
    let next = h.execute(CancellationToken::new()).await.unwrap();

    assert_eq!(next.state, RunState::Complete, "{next:?}");
    assert!(
        next.served_from_cache,
        "the unchanged first chunk costs nothing"
    );
    assert_eq!(next.cached, 1000);
    let posts = h.served.posts();
    assert_eq!(posts.len(), 4);
    assert_eq!(
        posts[1].body_sha256, posts[0].body_sha256,
        "chunk 0 unchanged"
    );
    let old_plan = &batches[2].body_sha256;
    let new_plan = &h.store.run_batches(next.run).await.unwrap()[2].body_sha256;
    assert_ne!(
        old_plan, new_plan,
        "the corrected record is in the new plan"
    );
    assert_eq!(&posts[3].body_sha256, new_plan);
    assert_eq!(h.served.handle.checks_performed(), 2500);
}

#[tokio::test(start_paused = true)]
async fn cancellation_leaves_a_resumable_run_that_resume_completes() {
    let list = ids(300);
    let h = harness_with(
        &csv(&list, &[]),
        sandbox_config(Utc::now()),
        RunSettings {
            max_batch_size: 100,
            max_in_flight_batches: 1,
            ..settings()
        },
    )
    .await;
    let cancel = CancellationToken::new();
    // Shut down as soon as the first results page has been served.
    h.served.cancel_after_reads(1, cancel.clone());

    let error = h.execute(cancel).await.unwrap_err();

    let RunError::Cancelled { run } = error else {
        panic!("{error}")
    };
    let record = h.store.run(run).await.unwrap().unwrap();
    assert_eq!(record.state, RunState::Running);
    let batches = h.store.run_batches(run).await.unwrap();
    let states: Vec<BatchState> = batches.iter().map(|b| b.state).collect();
    assert_eq!(
        states,
        vec![
            BatchState::Reading,
            BatchState::Submitting,
            BatchState::Submitting
        ]
    );
    assert!(batches[0].rightfoot_batch_id.is_some());
    assert_eq!(
        batches[1].first_attempt_at, None,
        "not started after the cancel"
    );
    assert_eq!(h.served.handle.batches_created(), 1);

    let unfinished = run::resume_unfinished(
        &h.ctx,
        std::slice::from_ref(&h.monitor),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let summary = &unfinished[0].1.as_ref().unwrap().summary;

    assert_eq!(summary.run, run);
    assert_eq!(summary.state, RunState::Complete, "{summary:?}");
    assert_eq!(h.served.handle.batches_created(), 3);
    assert_eq!(h.served.handle.checks_performed(), 300);
    assert_eq!(h.results(run), (300, 300));
}

#[tokio::test(start_paused = true)]
async fn a_finished_run_resumes_to_its_summary_unchanged() {
    let h = harness(&csv(&ids(5), &[])).await;
    let summary = h.execute(CancellationToken::new()).await.unwrap();

    let again = run::resume(
        &h.ctx,
        Some(&h.monitor),
        summary.run,
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .summary;

    assert_eq!(again, summary);
    assert_eq!(h.served.posts().len(), 1);
}

// --- Rightfoot's refusals --------------------------------------------------------------

/// A scripted Rightfoot on 127.0.0.1:0 that refuses the rows with the given ids (as the
/// real service may for reasons pre-flight cannot see; the sandbox validates exactly as
/// pre-flight does, so it never refuses a row the run sends) and returns every other
/// row's result at once, in one page.
async fn refusing_rightfoot(
    refused: &'static [&'static str],
    clock: Clock,
) -> (Url, oneshot::Sender<()>) {
    use axum::Json;
    use axum::extract::Query;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use serde_json::{Value, json};
    use std::collections::HashMap;

    let accepted: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let submit = {
        let accepted = accepted.clone();
        let clock = clock.clone();
        move |Json(body): Json<Value>| {
            let accepted = accepted.clone();
            let clock = clock.clone();
            async move {
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                for authorizer in body["authorizers"].as_array().unwrap() {
                    let id = authorizer["authorizer_unique_id"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    if refused.contains(&id.as_str()) {
                        failed.push(json!({
                            "authorizer_unique_id": id,
                            // A server that echoes a personal value: it must not be stored.
                            "error": format!("Invalid account number {ACCOUNT}."),
                            "account_type": "ACCOUNT_NUMBER",
                        }));
                    } else {
                        ok.push(id);
                    }
                }
                let mut batches = accepted.lock().unwrap();
                let batch_id = format!("BATCH-{}", 98765 + batches.len());
                batches.insert(batch_id.clone(), ok);
                (
                    StatusCode::CREATED,
                    Json(json!({
                        "batch_id": batch_id,
                        "submitted_at": clock.now().to_rfc3339(),
                        "message": "Batch has been successfully submitted and is pending processing.",
                        "failed_authorizers": failed,
                    })),
                )
            }
        }
    };
    let balances = move |Query(query): Query<HashMap<String, String>>| {
        let accepted = accepted.clone();
        let clock = clock.clone();
        async move {
            let ids = accepted.lock().unwrap()[&query["batchId"]].clone();
            let rows: Vec<Value> = ids
                .iter()
                .map(|id| {
                    json!({
                        "authorizer_unique_id": id,
                        "balance": 12.34,
                        "balance_status_code": 0,
                        "timestamp": clock.now().to_rfc3339(),
                    })
                })
                .collect();
            Json(json!({
                "batch_id": query["batchId"],
                "total_processed": rows.len(),
                "balances": rows,
                "has_more": false,
                "next_page_token": null,
            }))
        }
    };
    let router = axum::Router::new()
        .route("/v1/balance_requests", post(submit))
        .route("/v1/balances", get(balances));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (base, stop)
}

#[tokio::test(start_paused = true)]
async fn api_rejections_are_recorded_with_reasons_and_counted() {
    let list = ids(12);
    let h = harness(&csv(&list, &[])).await;
    let (base, _stop) = refusing_rightfoot(&["A-0002", "A-0011"], h.ctx.clock.clone()).await;
    let ctx = RunContext::new(
        h.store.clone(),
        client(&base),
        h.ctx.clock.clone(),
        RunSettings {
            max_batch_size: 5,
            ..settings()
        },
        h.ctx.config_file.clone(),
    );

    let summary = run::execute(
        &ctx,
        &h.monitor,
        RunTrigger::Manual,
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .summary;

    assert_eq!(summary.state, RunState::Partial, "{summary:?}");
    assert_eq!(summary.rejected_by_api, 2);
    assert_eq!(summary.accepted, 10);
    assert_eq!(summary.succeeded, 10);
    assert_eq!(summary.reason.as_deref(), Some("2 rejected by Rightfoot"));
    assert_eq!(h.results(summary.run), (12, 12));
    for id in ["A-0002", "A-0011"] {
        let history = h.store.authorizer_history(id, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].outcome, ResultOutcome::Rejected);
        assert_eq!(
            history[0].reason.as_deref(),
            Some("Invalid account number [digits removed].")
        );
    }
    h.assert_no_personal_data();
}
