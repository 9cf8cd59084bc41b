//! The live configuration and the one run pipeline (issue 14): what a reload reaches,
//! and whose metadata a run's alerts show.
//!
//! The first three tests run the real binary (`balance-monitor run`) against an
//! in-process sandbox at real speed and send it SIGHUP; every wait is for an event (a
//! log line, a request), bounded by `PATIENCE`, never a sleep. The last one plays a
//! crash between a run's end and its judgement in-process: the run is driven with
//! `run::execute` alone, and a fresh `Alerting` (the next process) judges it.
//!
//! - Regression: after a reload, the HTTP listener kept the `http.token` and the
//!   completion webhook's token it started with, so Rightfoot's completion calls were
//!   refused and runs fell back to polling.
//! - Regression: a reload built a second in-flight bound beside the first, so a run
//!   straddling it and the runs after it could have twice `max_in_flight_batches`
//!   batches in flight.
//! - Regression: a run that a previous process finished but did not judge was judged
//!   with the authorizer file as it was at the next start, not as the run planned it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use balance_monitor::alerting::Alerting;
use balance_monitor::clock::Clock;
use balance_monitor::config;
use balance_monitor::rightfoot::RequestMetrics;
use balance_monitor::run::{self, RunContext, RunSettings};
use balance_monitor::sandbox::Scenario;
use balance_monitor::secret::Environment;
use balance_monitor::store::{RunState, RunTrigger, Store};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::support::daemon::{
    API_KEY_ENV, Daemon, LogLine, PATIENCE, slot_due_now, tail, yearly_cron,
};
use crate::support::gate::{GatedSandbox, sandbox_config};
use crate::support::receiver::Receiver;
use crate::support::sandbox::{CsvRow, RunningSandbox, SANDBOX_KEY, authorizers_csv};
use crate::support::{vacant_loopback_addr, write_file};

const EVERY_SECOND: &str = "* * * * * *";
/// A schedule with no slot during any test.
const NEW_YEAR: &str = "0 0 0 1 1 *";
const WEBHOOK_PATH: &str = "/rightfoot/done";

/// A monitor of a test configuration, as YAML lines.
fn monitor_yaml(name: &str, schedule: &str, csv: &Path, extra: &str) -> String {
    format!(
        "  - name: {name}\n    schedule: \"{schedule}\"\n    timezone: UTC\n    authorizers: {{ csv: {} }}\n{extra}",
        csv.display()
    )
}

/// `count` bank-account authorizers `<prefix>-000`, ... as a CSV file in `dir`.
fn csv_file(dir: &Path, prefix: &str, count: usize) -> PathBuf {
    let rows: Vec<CsvRow> = (0..count)
        .map(|n| CsvRow::bank(format!("{prefix}-{n:03}")))
        .collect();
    let name = format!("{prefix}.csv");
    write_file(dir, &name, authorizers_csv(&rows, &[]).as_bytes(), 0o600)
}

fn started(monitor: &'static str) -> impl Fn(&LogLine) -> bool {
    move |line| line.is("run started") && line.monitor() == Some(monitor)
}

fn finished(run: i64) -> impl Fn(&LogLine) -> bool {
    move |line| line.is("run finished") && line.run() == Some(run)
}

// --- Tokens follow a reload ----------------------------------------------------------

/// The listener's tokens, as a client sees them.
struct Listener {
    http: reqwest::Client,
    base: Url,
}

impl Listener {
    async fn api_status(&self, bearer: &str) -> u16 {
        self.http
            .get(self.base.join("/v1/runs").unwrap())
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn webhook_status(&self, token: &str) -> u16 {
        let mut url = self.base.join(WEBHOOK_PATH).unwrap();
        url.query_pairs_mut().append_pair("token", token);
        let body = serde_json::json!({
            "event_uuid": uuid::Uuid::new_v4().to_string(),
            "type": "BALANCE_BATCH_COMPLETED",
            "batch_id": "no-such-batch",
        });
        self.http
            .post(url)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn a_sighup_swaps_the_http_and_webhook_tokens_and_a_callback_with_the_new_one_wakes_the_reader()
 {
    let dir = tempfile::tempdir().unwrap();
    // Each check completes over two seconds: the first results page comes back short,
    // and the reader then waits for an hour's poll unless the webhook wakes it.
    let sandbox =
        RunningSandbox::start(sandbox_config(Duration::from_secs(2), Scenario::default())).await;
    let listen = vacant_loopback_addr();
    let (old, new) = ("http-token-A-4b1d0c9e7f2a", "http-token-B-93e5a7c1d4f8");
    let (old_hook, new_hook) = ("hook-token-A-71c2e9", "hook-token-B-0d4f6b");
    let http_token = write_file(dir.path(), "http-token", old.as_bytes(), 0o600);
    let hook_token = write_file(dir.path(), "hook-token", old_hook.as_bytes(), 0o600);
    let list = csv_file(dir.path(), "W", 5);
    let database = dir.path().join("state.db");
    let config_text = |schedule: &str| {
        format!(
            "rightfoot:\n  base_url: {}\n  api_key_env: {API_KEY_ENV}\n  poll_interval: 1h\n  result_deadline: 2h\n  completion_webhook:\n    public_url: http://{listen}{WEBHOOK_PATH}\n    token_file: {}\nstorage:\n  path: {}\nhttp:\n  listen: {listen}\n  token_file: {}\nmonitors:\n{}",
            sandbox.url,
            hook_token.display(),
            database.display(),
            http_token.display(),
            monitor_yaml("wake", schedule, &list, ""),
        )
    };
    let config = write_file(
        dir.path(),
        "config.yaml",
        config_text(NEW_YEAR).as_bytes(),
        0o600,
    );
    let mut daemon = Daemon::start(&config);
    daemon
        .wait_for("the start", |l| l.is("balance-monitor started"))
        .await;
    let listener = Listener {
        http: reqwest::Client::new(),
        base: Url::parse(&format!("http://{listen}")).unwrap(),
    };
    assert_eq!(listener.api_status(old).await, 200);
    assert_eq!(listener.api_status(new).await, 401);
    assert_eq!(listener.webhook_status(old_hook).await, 200);

    // Both secrets change, and the monitor now runs every second.
    write_file(dir.path(), "http-token", new.as_bytes(), 0o600);
    write_file(dir.path(), "hook-token", new_hook.as_bytes(), 0o600);
    write_file(
        dir.path(),
        "config.yaml",
        config_text(EVERY_SECOND).as_bytes(),
        0o600,
    );
    daemon.signal("HUP");
    daemon
        .wait_for("the reload", |l| l.is("configuration reloaded"))
        .await;

    assert_eq!(listener.api_status(new).await, 200, "the new bearer token");
    assert_eq!(listener.api_status(old).await, 401, "the old bearer token");
    assert_eq!(
        listener.webhook_status(new_hook).await,
        200,
        "the new webhook token"
    );
    // A wrong webhook token is answered as the same request to a path that is not
    // served (http.rs): with `http.token` set and no bearer sent, that is the bearer
    // layer's 401.
    assert_eq!(
        listener.webhook_status(old_hook).await,
        401,
        "the old webhook token gets the unknown-path answer"
    );

    // The next run gives Rightfoot the new token in its webhook URL; the sandbox calls
    // back when the batch completes, and the reader, with an hour to its next poll,
    // wakes at once and finishes.
    let run = daemon
        .wait_for("the first run after the reload", started("wake"))
        .await
        .run()
        .unwrap();
    let end = daemon.wait_for("that run's end", finished(run)).await;
    assert_eq!(
        end.text("state").as_deref(),
        Some("complete"),
        "{}",
        end.raw
    );
    assert_eq!(end.field("succeeded").and_then(|v| v.as_u64()), Some(5));
    let woken = daemon.log().iter().any(|l| {
        l.is("Rightfoot reported a batch complete")
            && l.field("watched").and_then(|v| v.as_bool()) == Some(true)
    });
    assert!(
        woken,
        "the callback reached a waiting reader:\n{}",
        tail(daemon.log())
    );
    assert!(
        sandbox
            .handle
            .webhook_attempts()
            .iter()
            .any(|attempt| attempt.http_status == Some(200)),
        "the sandbox's callback was accepted: {:?}",
        sandbox.handle.webhook_attempts()
    );
    daemon.signal("TERM");
    assert!(daemon.exit().await.status.success());
}

// --- One in-flight bound across a reload ---------------------------------------------

#[tokio::test]
async fn a_run_straddling_a_reload_never_has_more_batches_in_flight_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = RunningSandbox::start(sandbox_config(
        Duration::from_millis(600),
        Scenario::default(),
    ))
    .await;
    let alpha = csv_file(dir.path(), "ALPHA", 8);
    let beta = csv_file(dir.path(), "BETA", 8);
    let database = dir.path().join("state.db");
    let config_text = |monitors: &str| {
        format!(
            "rightfoot:\n  base_url: {}\n  api_key_env: {API_KEY_ENV}\n  poll_interval: 100ms\n  result_deadline: 10m\n  max_batch_size: 1\n  max_in_flight_batches: 2\nstorage:\n  path: {}\nhttp:\n  listen: 127.0.0.1:0\nmonitors:\n{monitors}",
            sandbox.url,
            database.display(),
        )
    };
    let config = write_file(
        dir.path(),
        "config.yaml",
        config_text(&monitor_yaml("alpha", EVERY_SECOND, &alpha, "")).as_bytes(),
        0o600,
    );
    let mut daemon = Daemon::start(&config);
    let straddling = daemon
        .wait_for("a run of alpha", started("alpha"))
        .await
        .run()
        .unwrap();

    // While alpha's eight one-authorizer chunks go two at a time, beta joins.
    let both = monitor_yaml("alpha", EVERY_SECOND, &alpha, "")
        + &monitor_yaml("beta", EVERY_SECOND, &beta, "");
    write_file(
        dir.path(),
        "config.yaml",
        config_text(&both).as_bytes(),
        0o600,
    );
    daemon.signal("HUP");
    daemon
        .wait_for("the reload", |l| l.is("configuration reloaded"))
        .await;
    let beta_run = daemon
        .wait_for("a run of beta", started("beta"))
        .await
        .run()
        .unwrap();
    let overlapped = !daemon.log().iter().any(finished(straddling));
    daemon
        .wait_for("alpha's run straddling the reload", finished(straddling))
        .await;
    daemon.wait_for("beta's run", finished(beta_run)).await;
    daemon.signal("TERM");
    assert!(daemon.exit().await.status.success());

    assert!(
        overlapped,
        "beta's run started while the run that straddled the reload was in flight"
    );
    assert_eq!(
        sandbox.handle.most_batches_in_flight(),
        2,
        "batches in flight at once, between their POST and their last results page"
    );
}

// --- Alerts show the run's own metadata ----------------------------------------------

/// A list whose `O-001` has a negative balance, with each authorizer's `branch`.
fn branch_csv(dir: &Path, branch: &str) -> PathBuf {
    let rows: Vec<CsvRow> = (0..3)
        .map(|n| CsvRow::bank(format!("O-{n:03}")).meta("branch", branch))
        .collect();
    write_file(
        dir,
        "branches.csv",
        authorizers_csv(&rows, &["branch"]).as_bytes(),
        0o600,
    )
}

fn negative_scenario() -> Scenario {
    Scenario::from_yaml(
        "authorizers:\n  O-000: [120.00]\n  O-001: [-45.10]\n  O-002: [80.00]\n",
        Path::new("scenario.yaml"),
    )
    .unwrap()
}

const RULES: &str =
    "    rules:\n      - negative_balance: {}\n    routes: [hook]\n    alert_fields: [branch]\n";

fn alert_config(base: &Url, database: &Path, hook: &Url, monitor: &str) -> String {
    format!(
        "rightfoot:\n  base_url: {base}\n  api_key_env: {API_KEY_ENV}\n  poll_interval: 200ms\n  result_deadline: 10m\nstorage:\n  path: {}\nhttp:\n  listen: 127.0.0.1:0\nroutes:\n  hook:\n    webhook:\n      url: {hook}\nmonitors:\n{monitor}",
        database.display()
    )
}

/// The `branch` values the queued digests show, from the outbox as stored.
fn digest_branches(database: &Path) -> Vec<String> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let payloads: Vec<String> = connection
        .prepare("SELECT payload FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut branches = Vec::new();
    for payload in payloads {
        for word in ["north", "south"] {
            if payload.contains(word) {
                branches.push(word.to_string());
            }
        }
    }
    branches
}

/// How many authorizers' judgement fields the store keeps, across the parts.
fn kept_fields(database: &Path) -> i64 {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    connection
        .query_row(
            "SELECT coalesce(sum(json_array_length(fields)), 0) FROM judgement_fields",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn alerts_show_the_metadata_of_the_runs_own_plan_when_the_file_changes_before_the_judgement()
{
    let dir = tempfile::tempdir().unwrap();
    let sandbox = GatedSandbox::start(sandbox_config(Duration::ZERO, negative_scenario())).await;
    let receiver = Receiver::start(None, Vec::new()).await;
    let list = branch_csv(dir.path(), "north");
    let database = dir.path().join("state.db");
    let slot = slot_due_now(&database, "branches").await;
    let monitor = monitor_yaml("branches", &yearly_cron(slot), &list, RULES);
    let config = write_file(
        dir.path(),
        "config.yaml",
        alert_config(&sandbox.url, &database, &receiver.url(), &monitor).as_bytes(),
        0o600,
    );
    // The run is planned and its chunk sent; its results wait until the file changed.
    let mut results = sandbox.hold_next("the first results page", |e| e.is_results_page());
    let daemon = Daemon::start(&config);
    results.caught().await;
    branch_csv(dir.path(), "south");
    results.release();

    tokio::time::timeout(PATIENCE, receiver.wait_for_requests(1))
        .await
        .unwrap_or_else(|_| panic!("no digest arrived:\n{}", tail(daemon.log())));
    daemon.signal("TERM");
    assert!(daemon.exit().await.status.success());
    let body = String::from_utf8_lossy(&receiver.requests()[0].body).into_owned();
    assert!(body.contains("O-001"), "{body}");
    assert!(body.contains("north"), "the run's own metadata: {body}");
    assert!(!body.contains("south"), "not the edited file's: {body}");
    assert_eq!(digest_branches(&database), ["north"]);
    assert_eq!(kept_fields(&database), 0, "forgotten once judged");
}

#[tokio::test]
async fn a_run_finished_but_not_judged_is_judged_by_the_next_process_with_its_stored_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = RunningSandbox::start(sandbox_config(Duration::ZERO, negative_scenario())).await;
    let list = branch_csv(dir.path(), "north");
    let database = dir.path().join("state.db");
    let monitor = monitor_yaml("branches", NEW_YEAR, &list, RULES);
    let hook = Url::parse("http://127.0.0.1:9/unused").unwrap();
    let config_path = write_file(
        dir.path(),
        "config.yaml",
        alert_config(&sandbox.url, &database, &hook, &monitor).as_bytes(),
        0o600,
    );
    let env = Environment::from_pairs([(API_KEY_ENV, SANDBOX_KEY)]);
    let config = config::load(&config_path, &env).unwrap();

    // The first process: the run ends, and the process dies before judging it.
    let store = Store::open(&database).unwrap();
    let ctx = RunContext::new(
        store.clone(),
        balance_monitor::daemon::client_for(&config.rightfoot, RequestMetrics::default()).unwrap(),
        Clock::system(),
        RunSettings::from_config(&config.rightfoot),
        config.file.clone(),
    );
    let outcome = run::execute(
        &ctx,
        &config.monitors[0],
        RunTrigger::Manual,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.summary.state, RunState::Complete);
    drop(outcome);
    store.close().await;
    assert_eq!(kept_fields(&database), 3, "kept from the plan");

    // The file changes; the next process judges what the first left unjudged.
    branch_csv(dir.path(), "south");
    let store = Store::open(&database).unwrap();
    let alerting = Alerting::new(store.clone(), Clock::system(), Arc::new(config));
    let judged = alerting.judge_pending("branches").await;
    store.close().await;
    assert_eq!(judged.len(), 1, "{judged:?}");
    let judged = judged.into_iter().next().unwrap().unwrap();
    assert_eq!(judged.fired, 1);
    assert_eq!(digest_branches(&database), ["north"]);
    assert_eq!(kept_fields(&database), 0, "forgotten once judged");
}
