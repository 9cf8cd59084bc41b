//! Silences end to end, and the operator's `status` and `alerts` after real runs.
//!
//! The daemon's scheduler, launcher, judgement and outbox run in one process on paused
//! time against the sandbox's scripted week of `alerting` (a drop, an overdraft, a
//! closed account, a recovery), delivering to a real webhook receiver. Before the first
//! run, an operator silences A-3's `check_failed` alerts until between the second run
//! and the third, and sets four silences whose matchers must not reach any alert that
//! fires (another rule of A-1, another monitor for A-4, an authorizer whose id merely
//! starts like A-4's, another ordinal of A-2's rule).
//!
//! Then the real binary reads the same database: `alerts` (table and JSON), `alerts
//! show`, `silence add`, `list` and `expire`, and `status` with the daemon's listener up
//! and with nothing listening.

use std::sync::Arc;
use std::time::{Duration, Instant};

use balance_monitor::alerting::silences::SilenceRequest;
use balance_monitor::alerting::{Alerting, Outbox};
use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::config::{self, Config};
use balance_monitor::daemon::{Launcher, LiveConfig};
use balance_monitor::http::{HttpState, serve};
use balance_monitor::rightfoot::RequestMetrics;
use balance_monitor::scheduler::{MonitorStatus, RunLauncher, Scheduler, SchedulerOptions};
use balance_monitor::secret::Environment;
use balance_monitor::store::{NewSilence, Store};
use chrono::{Duration as Span, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{KEY, Row, payload_rows, rows, serve_sandbox, start};
use crate::support::paused::{advance_to, settle};
use crate::support::receiver::Receiver;
use crate::support::sandbox::{CsvRow, authorizers_csv};
use crate::support::{run_binary, vacant_loopback_addr, write_file};

fn config_text(base: &str, hook: &str, listen: std::net::SocketAddr) -> String {
    format!(
        "\
rightfoot:
  base_url: {base}
  api_key_env: RIGHTFOOT_API_KEY
  poll_interval: 30s
  result_deadline: 2h
storage:
  path: state.db
http:
  listen: {listen}
routes:
  hook:
    webhook:
      url: {hook}
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
    routes: [hook]
    repeat_interval: 96h
    send_resolved: true
    alert_fields: [loan_id]
"
    )
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

#[tokio::test(start_paused = true)]
async fn a_silenced_rule_is_left_out_until_its_silence_ends_and_nothing_else_is() {
    let clock = Clock::following_tokio(start());
    let (base, _sandbox) = serve_sandbox(clock.clone()).await;
    let receiver = Receiver::start(None, Vec::new()).await;
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
    // The daemon's listener, for `status`; and a configuration pointing at nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = listener.local_addr().unwrap();
    let base = base.to_string();
    let hook = receiver.url().to_string();
    let config_path = write_file(
        directory.path(),
        "config.yaml",
        config_text(&base, &hook, listen).as_bytes(),
        0o600,
    );
    write_file(
        directory.path(),
        "down.yaml",
        config_text(&base, &hook, vacant_loopback_addr()).as_bytes(),
        0o600,
    );
    let env = Environment::from_pairs([("RIGHTFOOT_API_KEY", KEY)]);
    let config = Arc::new(config::load(&config_path, &env).expect("the configuration is valid"));
    let store = Store::open(&config.storage.path).unwrap();

    // The silence under test, through the command's own function, at the paused start.
    let mut printed = Vec::new();
    let silence = balance_monitor::report::silences::add(
        &config,
        SilenceRequest {
            authorizer: "A-3".into(),
            monitor: Some("e2e".into()),
            rule: Some("check_failed".into()),
            // Until Thursday 2026-11-05 00:00: after the second run, before the third.
            duration: Span::hours(84),
            comment: "payment plan".into(),
        },
        "ops".into(),
        start(),
        &mut printed,
    )
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8(printed).unwrap(),
        format!("{}\n", silence.id)
    );
    assert_eq!(silence.silence.created_by, "ops");
    assert_eq!(silence.silence.starts_at, start());
    // Silences that must not match any alert that fires.
    for (authorizer, monitor, rule) in [
        ("A-1", None, Some("balance_below")),
        ("A-4", Some("another-monitor"), None),
        ("A-40", None, None),
        ("A-2", None, Some("balance_below#2")),
    ] {
        store
            .add_silence(NewSilence {
                authorizer_unique_id: authorizer.into(),
                monitor: monitor.map(str::to_string),
                rule: rule.map(str::to_string),
                starts_at: start(),
                ends_at: start() + Span::days(14),
                created_by: "ops".into(),
                comment: String::new(),
            })
            .await
            .unwrap();
    }

    // What `balance-monitor run` builds, on the paused clock.
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
        settle(&format!("the digest of run {}", n + 1), async {
            while receiver.requests().len() <= n {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
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

    let digests: Vec<Vec<Row>> = receiver
        .requests()
        .iter()
        .map(|r| sorted(payload_rows(&r.body).1))
        .collect();
    let expected = [
        // A-4's alert is not silenced by a silence of another monitor, nor by A-40's.
        rows(&[("fired", "A-4", "balance_below")]),
        // A-3's closed account fires, silenced; A-1's drop is another rule than its
        // silence's.
        rows(&[("fired", "A-1", "drop_percent")]),
        // The silence has ended: A-3's alert, still firing, comes with the next digest.
        // A-2's balance_below#1 is not the silenced balance_below#2.
        rows(&[
            ("fired", "A-2", "balance_below"),
            ("fired", "A-2", "drop_percent"),
            ("fired", "A-2", "negative_balance"),
            ("fired", "A-3", "check_failed"),
            ("resolved", "A-1", "drop_percent"),
            ("resolved", "A-4", "balance_below"),
        ]),
        rows(&[
            ("reminder", "A-3", "check_failed"),
            ("resolved", "A-2", "balance_below"),
            ("resolved", "A-2", "drop_percent"),
            ("resolved", "A-2", "negative_balance"),
        ]),
    ];
    assert_eq!(digests.len(), expected.len(), "{digests:?}");
    // The alert the silence held comes back with its alert_fields and its latest balance.
    let third: serde_json::Value = serde_json::from_slice(&receiver.requests()[2].body).unwrap();
    let carried = third["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["authorizer_id"] == "A-3")
        .expect("the third digest carries A-3's held alert");
    assert_eq!(carried["metadata"]["loan_id"], "L-300", "{carried}");
    assert!(
        carried["reason"]
            .as_str()
            .unwrap()
            .ends_with("(held by a silence that has ended)"),
        "{carried}"
    );
    for (n, (got, want)) in digests.iter().zip(&expected).enumerate() {
        assert_eq!(got, &sorted(want.clone()), "digest {}", n + 1);
    }
    // The silenced alert fired in the store at the second run, while silenced.
    let firing = store
        .alerts_page(
            Some(balance_monitor::store::AlertStateFilter::Firing),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(firing.rows.len(), 1);
    let closed = &firing.rows[0];
    assert_eq!(closed.authorizer_unique_id.as_deref(), Some("A-3"));
    assert_eq!(closed.first_fired_at, slots[1]);
    assert!(
        store
            .held_alerts(store.ensure_monitor("e2e").await.unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    // The operator's terminal, on the same database, with the daemon's listener up.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        HttpState::new(store.clone(), Completions::default(), Clock::system()),
        async move {
            let _ = stopped.await;
        },
    ));
    let dir = directory.path().to_path_buf();
    let cli = move |args: &[&str]| {
        let dir = dir.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let started = Instant::now();
                let output = run_binary(
                    &dir,
                    &args,
                    &[("RIGHTFOOT_API_KEY", KEY), ("USER", "collections")],
                );
                (output, started.elapsed())
            })
            .await
            .unwrap()
        }
    };
    let text = |output: &std::process::Output| String::from_utf8_lossy(&output.stdout).to_string();

    let (alerts, _) = cli(&["--config", "config.yaml", "alerts"]).await;
    assert!(alerts.status.success(), "{alerts:?}");
    let table = text(&alerts);
    assert!(table.starts_with("e2e · critical (1)\n"), "{table}");
    assert!(
        table.contains("A-3") && table.contains("check_failed#1"),
        "{table}"
    );
    assert!(
        !table.contains("A-2"),
        "resolved alerts are left out: {table}"
    );

    let (all, _) = cli(&["--config", "config.yaml", "alerts", "--all", "--json"]).await;
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let all = all.as_array().unwrap();
    // By severity, then authorizer: A-2's overdraft and A-3's closed account first.
    let listed: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|a| {
            (
                a["authorizer_id"].as_str().unwrap(),
                a["rule"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("A-2", "negative_balance#1", "resolved"),
            ("A-3", "check_failed#1", "firing"),
            ("A-1", "drop_percent#1", "resolved"),
            ("A-2", "balance_below#1", "resolved"),
            ("A-2", "drop_percent#1", "resolved"),
            ("A-4", "balance_below#1", "resolved"),
        ]
    );
    let (filtered, _) = cli(&[
        "--config",
        "config.yaml",
        "alerts",
        "--all",
        "--json",
        "--rule",
        "drop_percent",
        "--severity",
        "warning",
    ])
    .await;
    let filtered: serde_json::Value = serde_json::from_slice(&filtered.stdout).unwrap();
    let authorizers: Vec<&str> = filtered
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["authorizer_id"].as_str().unwrap())
        .collect();
    assert_eq!(authorizers, ["A-1", "A-2"]);

    // The closed account's timeline: fired while silenced, carried after, reminded.
    let id = closed.id.to_string();
    let (show, _) = cli(&["--config", "config.yaml", "alerts", "show", &id]).await;
    let timeline = text(&show);
    assert!(show.status.success(), "{show:?}");
    let lines: Vec<&str> = timeline.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "alert {id}: e2e · A-3 · check_failed#1 (critical), firing"
        )),
        "{timeline}"
    );
    let events: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.split_once(" UTC)  ").map(|(_, event)| event))
        .collect();
    assert_eq!(events.len(), 3, "{timeline}");
    assert!(events[0].starts_with("fired: "), "{timeline}");
    assert!(
        events[1].starts_with("fired sent to hook: delivered"),
        "{timeline}"
    );
    assert!(
        events[2].starts_with("reminder sent to hook: delivered"),
        "{timeline}"
    );

    // Silences from the command line, in real time.
    let (added, _) = cli(&[
        "--config",
        "config.yaml",
        "silence",
        "add",
        "--authorizer",
        "A-3",
        "--for",
        "14d",
        "--comment",
        "payment plan, acct 123456789",
    ])
    .await;
    assert!(added.status.success(), "{added:?}");
    let new_id = text(&added).trim().to_string();
    assert!(new_id.parse::<i64>().is_ok(), "{new_id}");
    let (listed, _) = cli(&["--config", "config.yaml", "silence", "list", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the paused-time silences are over: {listed:?}"
    );
    assert_eq!(listed[0]["created_by"], "collections");
    assert_eq!(listed[0]["comment"], "payment plan, acct [digits removed]");
    let (alerts, _) = cli(&["--config", "config.yaml", "alerts", "--json"]).await;
    let alerts: serde_json::Value = serde_json::from_slice(&alerts.stdout).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["silenced"], true);
    assert_eq!(alerts[0]["silence_id"].to_string(), new_id);
    let (expired, _) = cli(&["--config", "config.yaml", "silence", "expire", &new_id]).await;
    assert_eq!(text(&expired), format!("silence {new_id} expired\n"));
    let (again, _) = cli(&["--config", "config.yaml", "silence", "expire", &new_id]).await;
    assert_eq!(
        text(&again),
        format!("silence {new_id} had already ended\n")
    );
    let (unknown, _) = cli(&[
        "--config",
        "config.yaml",
        "silence",
        "add",
        "--authorizer",
        "A-3",
        "--for",
        "1d",
        "--rule",
        "below",
    ])
    .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("--rule: \"below\""),
        "{unknown:?}"
    );

    // `status` with the daemon up: healthy.
    let (status, _) = cli(&["--config", "config.yaml", "status"]).await;
    let report = text(&status);
    assert!(status.status.success(), "{status:?}");
    assert!(
        report.starts_with(&format!(
            "daemon:    running (/healthz at {listen} answered)"
        )),
        "{report}"
    );
    assert!(report.contains("  last run:  run 4 complete"), "{report}");
    assert!(
        report.contains("  alerts:    1 critical firing"),
        "{report}"
    );
    assert!(report.contains("  next run:  "), "{report}");
    assert!(report.ends_with("status: healthy\n"), "{report}");
    let (json, _) = cli(&["--config", "config.yaml", "status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["daemon"]["running"], true);
    assert_eq!(json["monitors"][0]["last_run"]["state"], "complete");
    assert_eq!(json["monitors"][0]["firing"]["critical"], 1);
    assert_eq!(json["outbox"]["pending"], 0);
    assert!(json["database"]["bytes"].as_u64().unwrap() > 0);

    // Nothing listening: "not running", within two seconds.
    let (down, took) = cli(&["--config", "down.yaml", "status"]).await;
    let report = text(&down);
    assert!(report.starts_with("daemon:    not running"), "{report}");
    assert!(took < Duration::from_secs(2), "took {took:?}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    tracker.close();
    tracker.wait().await;
    store.close().await;
}
