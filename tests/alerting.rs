//! Alerting end to end, in one process on paused time: the daemon's own scheduler,
//! launcher, alert judgement and outbox worker, against the built-in sandbox with a
//! scripted scenario, delivering to a real webhook receiver and a real SMTP server on
//! loopback.
//!
//! Four scheduled runs (Monday, Wednesday, Friday and Sunday at 11:00 UTC, 48 hours
//! apart so that Rightfoot's 24-hour body cache never answers) see a balance drop, an
//! overdraft, a closed account and a recovery. Each route must receive exactly one
//! digest per run that announced something, in run order, with exactly the rows the
//! rules call for: no storm, no duplicate, no loss.
//!
//! Time: the run, the scheduler and the outbox read `Clock::following_tokio`; the
//! sandbox's own clock is frozen and moved up to the run's before each request, so the
//! two agree. Paused time moves only when the test moves it, to each slot in turn; while
//! the test waits for a run's digests, a blocking task keeps tokio from auto-advancing
//! (which it would do whenever the runtime sat idle waiting for the store's writer
//! thread, firing send timeouts that real time would never reach). The sandbox shows
//! every result at once, so a run needs no time to pass.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use balance_monitor::alerting::{Alerting, Outbox};
use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::config;
use balance_monitor::config::Config;
use balance_monitor::daemon::{Launcher, LiveConfig};
use balance_monitor::rightfoot::RequestMetrics;
use balance_monitor::sandbox::{Sandbox, SandboxConfig, SandboxHandle, Scenario};
use balance_monitor::scheduler::{MonitorStatus, RunLauncher, Scheduler, SchedulerOptions};
use balance_monitor::secret::{Environment, Secret};
use balance_monitor::store::Store;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mail_parser::MessageParser;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::support::paused::{advance_to, settle};
use crate::support::receiver::Receiver;
use crate::support::sandbox::{CsvRow, authorizers_csv};
use crate::support::smtp::{SmtpServer, SmtpSettings};
use crate::support::write_file;

pub(crate) const KEY: &str = "rf_test_alerting";

/// Sunday 2026-11-01 12:00 UTC; the first slot is Monday 11:00.
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// Each authorizer's balance at each of the four checks.
const SCENARIO: &str = "\
authorizers:
  A-1: [1000.00, 400.00, 400.00, 400.00]     # drops 60% at the second run
  A-2: [500.00, 500.00, -20.50, 300.00]      # overdrawn at the third, back at the fourth
  A-3: [800.00, closed]                      # closed from the second run on
  A-4: [50.00, 50.00, 600.00, 600.00]        # low at first, recovers at the third
  A-5: [700.00]                              # steady
";

/// Serves the sandbox on 127.0.0.1:0, moving its frozen clock up to `clock` before
/// each request.
pub(crate) async fn serve_sandbox(clock: Clock) -> (Url, SandboxHandle) {
    let mut config = SandboxConfig::new([Secret::new(KEY)]);
    config.clock_start = Some(start());
    config.clock_speed = 0.0;
    config.processing_time = Duration::ZERO;
    config.scenario = Scenario::from_yaml(SCENARIO, std::path::Path::new("scenario.yaml"))
        .expect("the scenario parses");
    let sandbox = Sandbox::new(config).expect("valid sandbox config");
    let handle = sandbox.handle();
    let follow = {
        let handle = handle.clone();
        axum::middleware::from_fn(move |request: Request, next: Next| {
            let handle = handle.clone();
            let clock = clock.clone();
            async move {
                let behind = clock.now() - handle.clock().now();
                if behind > TimeDelta::zero() {
                    handle.clock().advance(behind.to_std().unwrap());
                }
                next.run(request).await
            }
        })
    };
    let router = sandbox.router().layer(follow);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, handle)
}

/// One alert of a webhook payload: (transition, authorizer, rule).
pub(crate) type Row = (String, String, String);

pub(crate) fn payload_rows(body: &[u8]) -> (i64, Vec<Row>) {
    let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["version"], "1");
    assert_eq!(payload["monitor"], "e2e");
    let rows = payload["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| {
            (
                alert["transition"].as_str().unwrap().to_string(),
                alert["authorizer_id"].as_str().unwrap().to_string(),
                alert["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (payload["run"]["id"].as_i64().unwrap(), rows)
}

pub(crate) fn rows(expected: &[(&str, &str, &str)]) -> Vec<Row> {
    expected
        .iter()
        .map(|(t, a, r)| (t.to_string(), a.to_string(), r.to_string()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn four_scheduled_runs_give_exactly_the_expected_digests_in_order() {
    let _log = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let clock = Clock::following_tokio(start());
    let (base, _sandbox) = serve_sandbox(clock.clone()).await;
    let receiver = Receiver::start(None, Vec::new()).await;
    let smtp = SmtpServer::start(SmtpSettings::default()).await;

    let directory = tempfile::tempdir().unwrap();
    let list: Vec<CsvRow> = (1..=5)
        .map(|n| CsvRow::bank(format!("A-{n}")).meta("loan_id", &format!("L-{n}00")))
        .collect();
    write_file(
        directory.path(),
        "authorizers.csv",
        authorizers_csv(&list, &["loan_id"]).as_bytes(),
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
      url: {hook}
  mail:
    email:
      from: \"balance-monitor <alerts@lender.example>\"
      to: [\"collections@lender.example\"]
      smtp_host: 127.0.0.1
      smtp_port: {smtp_port}
      tls: none
monitors:
  - name: e2e
    schedule: \"0 11 * * 0,1,3,5\"
    timezone: UTC
    catch_up: skip
    authorizers:
      csv: authorizers.csv
    rules:
      - balance_below: {{ amount: 100.00 }}
      - negative_balance: {{}}
      - drop_percent: {{ percent: 50 }}
      - check_failed: {{ codes: any, consecutive: 1, severity: critical }}
    routes: [hook, mail]
    repeat_interval: 96h
    send_resolved: true
    alert_fields: [loan_id]
",
        hook = receiver.url(),
        smtp_port = smtp.addr.port(),
    );
    let config_path = write_file(
        directory.path(),
        "config.yaml",
        config_text.as_bytes(),
        0o600,
    );
    let env = Environment::from_pairs([("RIGHTFOOT_API_KEY", KEY)]);
    let config = Arc::new(config::load(&config_path, &env).expect("the configuration is valid"));

    // What `balance-monitor run` builds, on the paused clock.
    let store = Store::open(&config.storage.path).unwrap();
    let live = Arc::new(
        LiveConfig::new(
            Config::clone(&config),
            store.clone(),
            clock.clone(),
            Completions::default(),
            RequestMetrics::default(),
        )
        .unwrap(),
    );
    let alerting = Alerting::live(store.clone(), clock.clone(), live.subscribe());
    let notifier = balance_monitor::notify::Notifier::new(clock.clone()).unwrap();
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(Outbox::new(alerting.clone(), notifier).run(cancel.clone()));
    let launcher: Arc<dyn RunLauncher> = Arc::new(Launcher::new(
        live,
        alerting,
        balance_monitor::systemd::Notifier::from_environment(
            &Environment::from_pairs::<&str, &str>([]),
        ),
    ));
    let mut scheduler = Scheduler::new(
        store.clone(),
        clock.clone(),
        launcher,
        cancel.clone(),
        tracker.clone(),
        SchedulerOptions::default(),
    );
    let mut statuses = scheduler.statuses();
    scheduler.apply(&config.monitors).await.unwrap();

    // Each slot in turn: the run, its judgement and both routes' digests.
    let slots = [2, 4, 6, 8].map(|day| Utc.with_ymd_and_hms(2026, 11, day, 11, 0, 0).unwrap());
    for (n, slot) in slots.into_iter().enumerate() {
        settle(
            &format!("the loop waiting for {slot}"),
            statuses
                .wait_for(|statuses| statuses.get("e2e") == Some(&MonitorStatus::Waiting { slot })),
        )
        .await
        .unwrap();
        advance_to(&clock, slot).await;
        settle(&format!("the digests of run {}", n + 1), async {
            while receiver.requests().len() <= n || smtp.mails().len() <= n {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
    // The last attempt's outcome is recorded just after the server's answer.
    settle("the outbox recording its deliveries", async {
        while !store
            .notifications()
            .await
            .unwrap()
            .iter()
            .all(|n| n.state == "delivered")
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    cancel.cancel();
    scheduler.stop().await;
    tracker.close();
    tracker.wait().await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 4, "one webhook digest per announcing run");
    let mut keys: Vec<_> = requests
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "every digest has its own idempotency key");

    let digests: Vec<(i64, Vec<Row>)> = requests.iter().map(|r| payload_rows(&r.body)).collect();
    let runs: Vec<i64> = digests.iter().map(|(run, _)| *run).collect();
    assert!(
        runs.windows(2).all(|w| w[0] < w[1]),
        "digests arrive in run order: {runs:?}"
    );
    let expected = [
        rows(&[("fired", "A-4", "balance_below")]),
        rows(&[
            ("fired", "A-3", "check_failed"),
            ("fired", "A-1", "drop_percent"),
        ]),
        rows(&[
            ("fired", "A-2", "negative_balance"),
            ("fired", "A-2", "balance_below"),
            ("fired", "A-2", "drop_percent"),
            ("resolved", "A-1", "drop_percent"),
            ("resolved", "A-4", "balance_below"),
        ]),
        rows(&[
            ("reminder", "A-3", "check_failed"),
            ("resolved", "A-2", "negative_balance"),
            ("resolved", "A-2", "balance_below"),
            ("resolved", "A-2", "drop_percent"),
        ]),
    ];
    for (n, ((run, got), want)) in digests.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "digest {} (run {run})", n + 1);
    }

    // The same rows carry what a person needs: money, metadata and a reason.
    let third: serde_json::Value = serde_json::from_slice(&requests[2].body).unwrap();
    let overdraft = &third["alerts"][0];
    assert_eq!(overdraft["balance_before"], "500.00");
    assert_eq!(overdraft["balance_after_cents"], -2050);
    assert_eq!(overdraft["metadata"]["loan_id"], "L-200");
    // Firing after the run: A-2's three new alerts and A-3's, still firing from run 2.
    assert_eq!(third["counts"]["firing"], 4);
    assert_eq!(third["counts"]["new"], 3);
    assert_eq!(third["counts"]["still_firing"], 1);
    assert_eq!(third["counts"]["reminded"], 0);
    assert_eq!(third["counts"]["resolved"], 2);
    assert_eq!(third["run"]["time"], "2026-11-06T11:00:00Z");

    // The email route got the same four digests, with subjects that thread.
    let subjects: Vec<String> = smtp
        .mails()
        .iter()
        .map(|mail| {
            MessageParser::default()
                .parse(&mail.data)
                .unwrap()
                .subject()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        subjects,
        [
            "1 warning: e2e [balance-monitor]",
            "1 critical, 2 warning: e2e [balance-monitor]",
            "2 critical, 2 warning, 2 resolved: e2e [balance-monitor]",
            "1 critical, 3 resolved: e2e [balance-monitor]",
        ]
    );

    // The store agrees: every notification delivered, the closed account still firing.
    let notifications = store.notifications().await.unwrap();
    assert_eq!(notifications.len(), 8);
    assert!(notifications.iter().all(|n| n.state == "delivered"));
    let firing = store
        .alerts_page(
            Some(balance_monitor::store::AlertStateFilter::Firing),
            None,
            100,
        )
        .await
        .unwrap();
    let reason = firing.rows[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("3200 account closed"), "{reason}");
    let firing: Vec<(Option<String>, String)> = firing
        .rows
        .iter()
        .map(|a| (a.authorizer_unique_id.clone(), a.rule.clone()))
        .collect();
    assert_eq!(
        firing,
        [(Some("A-3".to_string()), "check_failed#1".to_string())]
    );
    store.close().await;
}
