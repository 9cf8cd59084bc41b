//! Store faults (issue 15): a store that stops taking writes in the middle of a run is
//! waited out by the running daemon, which resumes the run and judges every borrower
//! without a restart, while `/readyz` and `/metrics` show the fault; and a corrupt
//! database is refused at start-up, by the daemon and by `run-now`, before any request
//! reaches Rightfoot.
//!
//! The disk-full fault is injected in the store layer (`support::faulty_store`: a
//! backend that delegates to SQLite and fails every write with the store's own
//! disk-full error while a switch is on), so it needs nothing from the machine. The
//! corrupt database is a real SQLite file with pages in its middle overwritten.

use std::io::{Seek as _, SeekFrom, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use balance_monitor::alerting::Alerting;
use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::config;
use balance_monitor::daemon::{Launcher, LiveConfig, STORE_RETRY};
use balance_monitor::domain::{RunId, RunTrigger};
use balance_monitor::http::{Access, AccessKeys, HttpState, WatchedMonitor};
use balance_monitor::rightfoot::RequestMetrics;
use balance_monitor::sandbox::{Sandbox, SandboxConfig};
use balance_monitor::scheduler::{LaunchRequest, RunLauncher as _};
use balance_monitor::secret::{Environment, Secret};
use balance_monitor::store::Store;
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::support::daemon::{
    API_KEY_ENV, ConfigSpec, Daemon, MonitorSpec, slot_due_now, tail, yearly_cron,
};
use crate::support::faulty_store::{DiskFullSwitch, open_faulty};
use crate::support::gate::{GatedSandbox, sandbox_config};
use crate::support::paused::settle;
use crate::support::sandbox::{CsvRow, SANDBOX_KEY, authorizers_csv};
use crate::support::write_file;

const MONITOR: &str = "payday";

/// Fills the database with rows, then overwrites the middle third of its pages with
/// garbage, leaving the header page intact so that the file still opens.
async fn corrupt_database(database: &Path) {
    let store = Store::open(database).unwrap();
    store.close().await;
    {
        let connection = rusqlite::Connection::open(database).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB);
                 CREATE INDEX filler_by_body ON filler (body);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
                 INSERT INTO filler (body) SELECT randomblob(600) FROM n;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
    }
    let size = std::fs::metadata(database).unwrap().len();
    let page = 4096;
    let pages = size / page;
    assert!(pages > 30, "the file has {pages} pages");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(database)
        .unwrap();
    for index in pages / 3..2 * pages / 3 {
        file.seek(SeekFrom::Start(index * page)).unwrap();
        file.write_all(&[0xA5; 4096]).unwrap();
    }
    file.sync_all().unwrap();
}

/// Regression (issue 15): a corrupt database was not detected at start-up; the daemon
/// scheduled its runs and submitted paid checks, then failed every judgement, and
/// `run-now` submitted before failing. Now both exit 1 with a message naming the file
/// and saying to restore a backup, and Rightfoot never hears from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_stops_the_daemon_and_run_now_before_any_request_to_rightfoot() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = GatedSandbox::start(sandbox_config(Duration::ZERO, Default::default())).await;
    let rows: Vec<CsvRow> = (1..=5).map(|n| CsvRow::bank(format!("C-{n}"))).collect();
    write_file(
        dir.path(),
        "payday.csv",
        authorizers_csv(&rows, &[]).as_bytes(),
        0o600,
    );
    let database = dir.path().join("balance-monitor.db");
    corrupt_database(&database).await;
    // A slot due at once, so a daemon that started would run it straight away.
    let slot = slot_due_now(&database, MONITOR).await;
    let config = ConfigSpec::new(&sandbox.url, &database)
        .monitor(MonitorSpec::new(MONITOR, &yearly_cron(slot), "payday.csv"))
        .write(dir.path());
    let path = database.display().to_string();

    let daemon = Daemon::start(&config).exit().await;
    let said = tail(&daemon.log);
    assert_eq!(daemon.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&path) && said.contains("corrupt") && said.contains("restore"),
        "the message names the file and what to do:\n{said}"
    );
    assert!(
        sandbox.exchanges().is_empty(),
        "the daemon sent nothing to Rightfoot"
    );

    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        let config = config.clone();
        move || {
            crate::support::run_binary(
                &dir,
                &["--config", config.to_str().unwrap(), "run-now", MONITOR],
                &[(API_KEY_ENV, SANDBOX_KEY)],
            )
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&path) && stderr.contains("corrupt") && stderr.contains("restore"),
        "{stderr}"
    );
    assert!(
        sandbox.exchanges().is_empty(),
        "run-now sent nothing to Rightfoot"
    );
}

/// Sunday 2026-11-01 11:00 UTC: the run's slot, and the sandbox's frozen time.
fn slot() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 11, 0, 0).unwrap()
}

/// Serves the sandbox on 127.0.0.1:0, frozen at [`slot`]; the first submission it
/// receives fills the disk (turns `switch` on) before it is answered, so the run's
/// next write, the one that records Rightfoot's 201, fails.
async fn serve_sandbox_filling(switch: Option<DiskFullSwitch>) -> Url {
    let mut config = SandboxConfig::new([Secret::new(SANDBOX_KEY)]);
    config.clock_start = Some(slot());
    config.clock_speed = 0.0;
    config.processing_time = Duration::ZERO;
    let sandbox = Sandbox::new(config).expect("valid sandbox config");
    let filled = Arc::new(AtomicBool::new(false));
    let fill = axum::middleware::from_fn(move |request: Request, next: Next| {
        let switch = switch.clone();
        let filled = Arc::clone(&filled);
        async move {
            if let Some(switch) = switch
                && request.method() == axum::http::Method::POST
                && !filled.swap(true, Ordering::SeqCst)
            {
                switch.fill();
            }
            next.run(request).await
        }
    });
    let router = sandbox.router().layer(fill);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// `GET path` on the daemon's listener: (status, body).
async fn get(listening: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{listening}{path}"))
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of an unlabelled sample in a Prometheus exposition.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in:\n{text}"))
        .parse()
        .unwrap()
}

/// Where the disk fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FullAt {
    /// At the run's first submission: the write recording Rightfoot's 201 fails.
    Submission,
    /// When the finished run's judgement is committed.
    Judgement,
}

/// Regression (issue 15): a run hit by a store error (the disk filled during the run)
/// stayed `pending` or `running` until a restart, a later run was linked through the
/// cache to its batches and left most borrowers unjudged, and `/readyz` stayed 200.
/// Now the launcher's run waits for the store (the monitor busy all along), `/readyz`
/// answers 503 naming the full disk and the waiting run, the errors are counted in
/// `/metrics`, and once space is freed the same run resumes from its journal and every
/// borrower is checked once and judged, without a restart.
#[tokio::test(start_paused = true)]
async fn a_run_stopped_by_a_full_disk_resumes_once_space_is_freed_and_judges_every_borrower() {
    heal_through_a_full_disk(FullAt::Submission).await;
}

/// Regression (issue 15): a judgement that failed on a store error was not retried by
/// the running daemon. Now it is retried once the store takes writes again.
#[tokio::test(start_paused = true)]
async fn a_judgement_stopped_by_a_full_disk_is_retried_once_space_is_freed() {
    heal_through_a_full_disk(FullAt::Judgement).await;
}

async fn heal_through_a_full_disk(full_at: FullAt) {
    const BORROWERS: usize = 1_500;
    let _log = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let clock = Clock::following_tokio(slot() - TimeDelta::seconds(1));
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("state.db");
    let (store, switch) = open_faulty(&database);
    let base = match full_at {
        FullAt::Submission => serve_sandbox_filling(Some(switch.clone())).await,
        FullAt::Judgement => {
            switch.fill_at_next_judgement();
            serve_sandbox_filling(None).await
        }
    };

    let rows: Vec<CsvRow> = (1..=BORROWERS)
        .map(|n| CsvRow::bank(format!("F-{n:04}")))
        .collect();
    write_file(
        dir.path(),
        "payday.csv",
        authorizers_csv(&rows, &[]).as_bytes(),
        0o600,
    );
    let config_text = format!(
        "\
rightfoot:
  base_url: {base}
  api_key_env: RIGHTFOOT_API_KEY
  poll_interval: 30s
  result_deadline: 2h
storage:
  path: state.db
routes:
  hook:
    webhook:
      url: http://{hook}/
monitors:
  - name: {MONITOR}
    schedule: \"0 11 * * *\"
    timezone: UTC
    authorizers:
      csv: payday.csv
    rules:
      - balance_below: {{ amount: 100.00 }}
    routes: [hook]
",
        hook = crate::support::vacant_loopback_addr(),
    );
    let config_path = write_file(dir.path(), "config.yaml", config_text.as_bytes(), 0o600);
    let env = Environment::from_pairs([("RIGHTFOOT_API_KEY", SANDBOX_KEY)]);
    let config = config::load(&config_path, &env).expect("the configuration is valid");
    let monitor = Arc::new(config.monitors[0].clone());

    // What `balance-monitor run` builds, on the paused clock, over the faulty store.
    let live = Arc::new(
        LiveConfig::new(
            config,
            store.clone(),
            clock.clone(),
            Completions::default(),
            RequestMetrics::default(),
        )
        .unwrap(),
    );
    let alerting = Alerting::live(store.clone(), clock.clone(), live.subscribe());
    let launcher = Arc::new(Launcher::new(
        live,
        alerting,
        balance_monitor::systemd::Notifier::from_environment(
            &Environment::from_pairs::<&str, &str>([]),
        ),
    ));
    let cancel = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listening = listener.local_addr().unwrap();
    let (_monitors, watched) = tokio::sync::watch::channel(WatchedMonitor::list(&[]));
    tokio::spawn(balance_monitor::http::serve(
        listener,
        HttpState {
            store: store.clone(),
            completions: Completions::default(),
            clock: clock.clone(),
            access: Access::Fixed(AccessKeys::default()),
            monitors: watched,
            rightfoot_metrics: RequestMetrics::default(),
            started_at: clock.now(),
            sessions: Default::default(),
            wake_outbox: None,
            role: tokio::sync::watch::channel(balance_monitor::domain::RoleView::sole_leader()).1,
        },
        cancel.clone().cancelled_owned(),
    ));
    let (status, _) = settle("/readyz before the run", get(listening, "/readyz")).await;
    assert_eq!(status, 200);

    let monitor_id = store.ensure_monitor(MONITOR).await.unwrap();
    let launched = tokio::spawn(launcher.launch(LaunchRequest {
        monitor,
        monitor_id,
        trigger: RunTrigger::Schedule { slot: slot() },
        shutdown: cancel.clone(),
    }));

    // The disk fills; the run (or its judgement) stops on the next write.
    settle("the run stopping on the full disk", async {
        while store.health().stuck_runs().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(switch.is_full());
    let (status, body) = settle("/readyz during the fault", get(listening, "/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    let checks = readiness["checks"].as_array().unwrap();
    let store_check = checks.iter().find(|c| c["check"] == "store").unwrap();
    assert_eq!(store_check["ok"], false, "{body}");
    assert!(
        store_check["detail"]
            .as_str()
            .unwrap()
            .contains("the disk is full"),
        "{body}"
    );
    let run_check = checks
        .iter()
        .find(|c| c["check"] == "run")
        .unwrap_or_else(|| panic!("the waiting run is listed: {body}"));
    assert_eq!(run_check["monitor"], MONITOR, "{body}");
    let detail = run_check["detail"].as_str().unwrap();
    assert!(
        detail.contains("run 1") && detail.contains("the disk is full"),
        "{body}"
    );
    if full_at == FullAt::Judgement {
        assert!(detail.contains("the judgement stopped"), "{body}");
    }
    let (status, metrics) = settle("/metrics during the fault", get(listening, "/metrics")).await;
    assert_eq!(status, 200, "{metrics}");
    assert!(sample(&metrics, "balance_monitor_store_errors_total") >= 1);
    assert!(
        !launched.is_finished(),
        "the launch (and so the monitor's busy mark) lasts while the run waits"
    );

    // Space is freed: the same run resumes and is judged, with no restart.
    // Paused time is held still while the store's writer thread works (`settle`), so
    // it moves only here: past the longest wait between two tries of the store.
    switch.free();
    tokio::time::advance(STORE_RETRY.cap).await;
    settle("the run resuming and its judgement", launched)
        .await
        .unwrap();
    let (status, body) = settle("/readyz after the fault", get(listening, "/readyz")).await;
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = settle("/metrics after the fault", get(listening, "/metrics")).await;
    assert!(sample(&metrics, "balance_monitor_store_errors_total") >= 1);

    let runs = store.recent_runs(None, 10).await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "one run, resumed, not a second one: {runs:#?}"
    );
    let run = &runs[0];
    assert_eq!(run.run.state.as_str(), "complete", "{run:#?}");
    let checks = store.run_checks(RunId(1)).await.unwrap();
    assert_eq!(checks.len(), BORROWERS, "every borrower has a result");
    assert_eq!(
        store.next_unjudged_run(monitor_id).await.unwrap(),
        None,
        "the run is judged"
    );
    cancel.cancel();
}
