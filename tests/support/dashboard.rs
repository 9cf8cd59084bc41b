//! The dashboard's fixture: a week of the demo, made once per test binary, and the
//! daemon's listener serving a copy of its database.
//!
//! [`demo_week`] runs the real `balance-monitor demo` (the daemon against the built-in
//! sandbox, with its scripted drop, overdraft, closed account and recovery) for a few
//! runs into a folder every test shares read-only. [`Dashboard::start`] copies that
//! database, queues one notification that failed for good, decides one debit per
//! authorizer from its latest check (with the daemon's own `debits::decide`), and
//! serves the copy with `http::serve` on port 0, with or without `http.token`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::debits::{DecisionRules, Evidence, Observation, Outcome, decide};
use balance_monitor::domain::Cents;
use balance_monitor::http::{HttpState, WatchedMonitor, serve};
use balance_monitor::schedule::Schedule;
use balance_monitor::secret::Secret;
use balance_monitor::store::{
    AttemptOutcome, CheckOutcome, DecisionRow, NewNotification, RunId, Store,
};
use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};

use super::run_binary;

/// The token of a dashboard started with one.
pub const TOKEN: &str = "dashboard-token-5d1c9e";
/// The demo's monitor.
pub const MONITOR: &str = "morning-ach";
/// The demo's authorizers.
pub const AUTHORIZERS: [&str; 6] = ["B-1001", "B-1002", "B-1003", "B-1004", "B-1005", "B-1006"];

/// The folder of a demo of four runs, made by the first test that asks.
pub fn demo_week() -> PathBuf {
    static WEEK: OnceLock<tempfile::TempDir> = OnceLock::new();
    WEEK.get_or_init(|| {
        let scratch = tempfile::tempdir().unwrap();
        let output = run_binary(
            scratch.path(),
            &["demo", "--runs", "4", "--dir", "week"],
            &[],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the demo failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("  dashboard:   http://127.0.0.1:"),
            "the demo names its dashboard first: {stdout}"
        );
        scratch
    })
    .path()
    .join("week")
}

/// Every personal value of the demo's authorizers (names, street, city, zip, phone,
/// birth date, SSN, account and routing numbers), from its CSV.
pub fn personal_values() -> Vec<String> {
    let csv = std::fs::read_to_string(demo_week().join("authorizers.csv")).unwrap();
    let mut values = Vec::new();
    for row in csv.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        for column in [1, 2, 3, 4, 6, 8, 9, 10, 11, 12] {
            values.push(fields[column].to_string());
        }
    }
    values
}

/// The listener serving a copy of the demo's database.
pub struct Dashboard {
    pub base: String,
    pub store: Store,
    /// A notification that failed for good, for "retry now".
    pub failed_notification: i64,
    /// The date the fixture's debits settle on: the day after the last run.
    pub settles_on: NaiveDate,
    /// The decisions the fixture stored, by authorizer.
    pub decisions: Vec<DecisionRow>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Dashboard {
    /// Serves a fresh copy of the demo's week, with `http.token` set to [`TOKEN`]
    /// when `with_token`.
    pub async fn start(with_token: bool) -> Dashboard {
        let week = demo_week();
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&week).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name.starts_with("demo.db") {
                std::fs::copy(entry.path(), dir.path().join(&name)).unwrap();
            }
        }
        let store = Store::open(dir.path().join("demo.db")).unwrap();
        let failed_notification = failed_notification(&store).await;
        let (settles_on, decisions) = decide_debits(&store).await;
        let mut state = HttpState::new(store.clone(), Completions::default(), Clock::system());
        state.set_token(with_token.then(|| Secret::new(TOKEN)));
        let (_, monitors) = tokio::sync::watch::channel(Arc::new(vec![WatchedMonitor {
            name: MONITOR.to_string(),
            schedule: Schedule::parse("30 6 * * 1-5", chrono_tz::America::New_York).unwrap(),
            grace: Duration::from_secs(3600),
            jitter: Duration::ZERO,
            balance_below: Some(Cents(15_000)),
        }]));
        state.monitors = monitors;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Dashboard {
            base,
            store,
            failed_notification,
            settles_on,
            decisions,
            _dir: dir,
            stop: Some(stop),
        }
    }

    /// The demo's runs, newest first.
    pub async fn run_ids(&self) -> Vec<i64> {
        let page = self.store.runs_page(None, None, 100).await.unwrap();
        page.rows.iter().map(|run| run.id.0).collect()
    }

    /// The state of notification `id`.
    pub async fn notification_state(&self, id: i64) -> String {
        let all = self.store.notifications().await.unwrap();
        all.into_iter().find(|n| n.id == id).unwrap().state
    }
}

/// Decides a $120.00 debit per authorizer, settling the day after the last run, from
/// each authorizer's latest check with a $25.00 margin, and stores the decisions as
/// the last run's. The demo's week gives send, hold and unknown.
async fn decide_debits(store: &Store) -> (NaiveDate, Vec<DecisionRow>) {
    let since = DateTime::<Utc>::MIN_UTC;
    let mut last_run = None;
    let mut rows = Vec::new();
    let mut timelines = Vec::new();
    for id in AUTHORIZERS {
        let checks = store
            .authorizer_timeline(id.to_string(), since, 100)
            .await
            .unwrap()
            .expect("every demo authorizer was checked");
        last_run = last_run.max(checks.first().map(|c| (c.run, c.run_time)));
        timelines.push((id, checks));
    }
    let (run, run_time): (RunId, DateTime<Utc>) = last_run.unwrap();
    let settles_on = run_time
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap();
    let rules = DecisionRules {
        margin: Cents(2_500),
        fresh_for: Duration::from_secs(24 * 3600),
    };
    for (id, checks) in timelines {
        let latest = checks.first().map(|c| Observation {
            outcome: match (c.outcome, c.balance, c.balance_status_code) {
                (CheckOutcome::Retrieved, Some(balance), Some(0) | None) => {
                    Outcome::Balance(balance)
                }
                (CheckOutcome::Retrieved, None, Some(0) | None) => Outcome::NoBalance,
                (CheckOutcome::Retrieved, _, Some(code)) => {
                    Outcome::Failed(balance_monitor::rightfoot::BalanceStatus::from_code(code))
                }
                (CheckOutcome::NotRetrieved, _, _) => Outcome::NotRetrieved,
                _ => Outcome::Rejected,
            },
            at: c.run_time,
        });
        let evidence = Evidence {
            now: run_time + TimeDelta::hours(1),
            latest,
            last_balance: checks
                .iter()
                .find_map(|c| c.balance.map(|b| (b, c.run_time))),
            returns_in_a_row: 0,
        };
        let amount = Cents(12_000);
        let verdict = decide(amount, rules, &evidence);
        rows.push(DecisionRow {
            debit_id: format!("D-{id}"),
            authorizer_unique_id: id.to_string(),
            debit_date: settles_on,
            settles_on,
            amount,
            decision: verdict.decision,
            reason: verdict.reason,
            balance: verdict.balance,
            checked_at: verdict.checked_at,
        });
    }
    store.record_decisions(run, rows.clone()).await.unwrap();
    (settles_on, rows)
}

/// Queues a notification on the demo's email route and records it failed for good.
async fn failed_notification(store: &Store) -> i64 {
    let now = Utc::now();
    let id = store
        .queue_notification(NewNotification {
            route: "collections-email".to_string(),
            idempotency_key: "dashboard-test-failed".to_string(),
            payload: "{}".to_string(),
            monitor: Some(MONITOR.to_string()),
            created_at: now,
        })
        .await
        .unwrap();
    store
        .record_attempt(
            id,
            now,
            AttemptOutcome::Failed {
                error: "550 5.1.1 mailbox unavailable".to_string(),
            },
        )
        .await
        .unwrap();
    id
}

/// The first `name="csrf"` value in `html`.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html
        .find(marker)
        .expect("the page has a form with a CSRF token")
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}
