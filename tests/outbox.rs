//! The outbox's delivery guarantees: every queued notification is delivered at least once,
//! with one idempotency key for all its attempts, on the documented backoff, across
//! outages, crashes and restarts; what cannot be delivered ends `failed` where an
//! operator sees it.
//!
//! The library tests judge runs written through the store's API with [`Alerting`] and
//! drive [`Outbox::deliver_due`] one pass at a time on paused tokio time
//! ([`Clock::following_tokio`]), so each attempt and each wait can be checked. The
//! servers are real and on loopback: `support::receiver` (HTTP) and `support::smtp`,
//! started on an address where, until then, nothing listened. The backoff is read
//! from the outbox table itself (`next_attempt_at - last_attempt_at`, both taken from
//! one reading of the clock), so it is exact whatever else paused time does.
//!
//! The process tests run the real binary: `balance-monitor run` killed with SIGKILL in
//! the middle of a delivery and started again on its database, `run-now` three times
//! (three processes) for one alert's life, and `test-alert`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use balance_monitor::alerting::{Alerting, DeliveryRound, Judged, Outbox};
use balance_monitor::clock::Clock;
use balance_monitor::config;
use balance_monitor::notify::Notifier;
use balance_monitor::notify::email::message_id;
use balance_monitor::sandbox::Scenario;
use balance_monitor::secret::Environment;
use balance_monitor::store::{RunId, Store};
use chrono::{DateTime, TimeDelta, Utc};
use mail_parser::MessageParser;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::daemon::{
    API_KEY_ENV, ConfigSpec, Daemon, MonitorSpec, PATIENCE, slot_due_now, yearly_cron,
};
use crate::support::gate::sandbox_config;
use crate::support::history::{KEY_ENV, Seen, march, seed_run};
use crate::support::receiver::{ReceivedRequest, Receiver, Reply};
use crate::support::sandbox::{CsvRow, RunningSandbox, SANDBOX_KEY, authorizers_csv};
use crate::support::smtp::{SmtpServer, SmtpSettings};
use crate::support::{binary, vacant_loopback_addr, write_file};

const MONITOR: &str = "morning-ach";
const MAIL_DOMAIN: &str = "lender.example";

/// The monitor's alerting: one rule that fires below $100.00, `routes`, resolved
/// alerts announced, reminders once a day. Indented for a monitor of `monitors:`.
fn monitor_alerting(routes: &[&str]) -> String {
    format!(
        "    rules:\n      - balance_below: {{ amount: 100.00 }}\n    routes: [{}]\n    \
         repeat_interval: 24h\n    send_resolved: true\n",
        routes.join(", ")
    )
}

/// `routes:` with each (name, body) given; bodies are indented for a route.
fn routes_yaml(routes: &[(&str, String)]) -> String {
    let mut text = String::from("routes:\n");
    for (name, body) in routes {
        text.push_str(&format!("  {name}:\n{body}"));
    }
    text
}

/// A webhook route to `url`, without a secret (paused time is far from the real
/// clock a receiver checks a signature's `t` against), giving up after `give_up_after`.
fn webhook_route(url: &str, give_up_after: &str) -> String {
    format!(
        "    give_up_after: {give_up_after}\n    webhook:\n      url: {url}\n      timeout: 10s\n"
    )
}

/// The receiver's URL for a receiver (to be) started on `addr`.
fn hook_url(addr: SocketAddr) -> String {
    format!("http://{addr}/hooks/balance-alerts")
}

/// An email route through the SMTP server (to be) started on `addr`, in clear text.
fn smtp_route(addr: SocketAddr) -> String {
    format!(
        "    email:\n      transport: smtp\n      from: \"balance-monitor <alerts@{MAIL_DOMAIN}>\"\n      \
         to: [\"collections@{MAIL_DOMAIN}\"]\n      smtp_host: 127.0.0.1\n      \
         smtp_port: {}\n      tls: none\n      timeout: 10s\n",
        addr.port()
    )
}

/// Keeps paused time still until dropped, but for `tokio::time::advance`: tokio does
/// not auto-advance a paused clock while a blocking task runs, and this holds one. The
/// store's writes go through its own thread, which tokio cannot see; while one is
/// awaited the runtime looks idle, and paused time would jump to the next timer (the
/// HTTP client's idle-connection sweep, every 30 s), so that a pass could find a row
/// due again that it had just put off.
struct StillTime {
    _release: std::sync::mpsc::Sender<()>,
}

fn hold_paused_time() -> StillTime {
    let (release, released) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        // Returns when the sender is dropped.
        let _ = released.recv();
    });
    StillTime { _release: release }
}

/// When the library tests' clock starts: after the seeded runs of March 10th.
fn queued_at() -> DateTime<Utc> {
    march(10, 16)
}

/// A store, the configuration of [`MONITOR`] with `routes`, and the alerting and
/// outbox over them, on a clock that follows paused tokio time from [`queued_at`].
struct Library {
    dir: tempfile::TempDir,
    store: Store,
    clock: Clock,
    alerting: Alerting,
    outbox: Outbox,
}

impl Library {
    async fn new(routes: &[(&str, String)]) -> Library {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<&str> = routes.iter().map(|(name, _)| *name).collect();
        let text = format!(
            "rightfoot:\n  api_key_env: {KEY_ENV}\nstorage:\n  path: state.db\nmonitors:\n  \
             - name: {MONITOR}\n    schedule: \"0 9 * * 1-5\"\n    authorizers: {{ csv: authorizers.csv }}\n{}{}",
            monitor_alerting(&names),
            routes_yaml(routes)
        );
        let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
        let env = Environment::from_pairs([(KEY_ENV, "rf_test_key")]);
        let config = config::load(&path, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let store = Store::open(dir.path().join("state.db")).unwrap();
        let clock = Clock::following_tokio(queued_at());
        let alerting = Alerting::new(store.clone(), clock.clone(), Arc::new(config));
        let outbox = Outbox::new(alerting.clone(), Notifier::new(clock.clone()).unwrap());
        Library {
            dir,
            store,
            clock,
            alerting,
            outbox,
        }
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// Judges every finished run of the monitor, which must all succeed.
    async fn judge(&self) -> Vec<Judged> {
        self.alerting
            .judge_pending(MONITOR)
            .await
            .into_iter()
            .map(|judged| judged.expect("the run is judged"))
            .collect()
    }

    /// One pass of the delivery worker.
    async fn deliver_due(&self) -> DeliveryRound {
        self.outbox
            .deliver_due(&CancellationToken::new())
            .await
            .unwrap()
    }

    /// Moves paused time to the moment every pending notification is due, after
    /// checking that none is due a millisecond before its `next_attempt_at`.
    async fn advance_until_all_due(&self) {
        let pending: Vec<OutboxRow> = outbox_rows(&self.database())
            .into_iter()
            .filter(|row| row.state == "pending")
            .collect();
        let first = pending.iter().map(|row| row.next_attempt_at).min().unwrap();
        let last = pending.iter().map(|row| row.next_attempt_at).max().unwrap();
        let early = first - TimeDelta::milliseconds(1);
        assert!(
            self.store
                .due_notifications(early, 100)
                .await
                .unwrap()
                .is_empty(),
            "nothing is due before its next_attempt_at"
        );
        assert_eq!(
            self.store
                .due_notifications(first, 100)
                .await
                .unwrap()
                .len(),
            pending
                .iter()
                .filter(|r| r.next_attempt_at == first)
                .count()
        );
        if let Ok(wait) = (last - self.clock.now()).to_std() {
            tokio::time::advance(wait).await;
        }
    }
}

/// One outbox row as the table holds it, delivery bookkeeping included.
#[derive(Clone, Debug)]
struct OutboxRow {
    route: String,
    key: String,
    state: String,
    attempts: u32,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    run_id: Option<i64>,
}

/// Every outbox row, oldest first, read with a read-only connection as an operator's
/// `sqlite3` would.
fn outbox_rows(database: &Path) -> Vec<OutboxRow> {
    let connection = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the database opens read-only");
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    let time = |text: Option<String>| {
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .unwrap()
                .with_timezone(&Utc)
        })
    };
    let mut statement = connection
        .prepare(
            "SELECT route, idempotency_key, state, attempts, last_attempt_at, next_attempt_at, \
                    last_error, delivered_at, json_extract(payload, '$.run_id') \
             FROM outbox ORDER BY id",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            Ok(OutboxRow {
                route: row.get(0)?,
                key: row.get(1)?,
                state: row.get(2)?,
                attempts: row.get(3)?,
                last_attempt_at: time(row.get(4)?),
                next_attempt_at: time(row.get(5)?).unwrap(),
                last_error: row.get(6)?,
                delivered_at: time(row.get(7)?),
                run_id: row.get(8)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Asserts that every row is pending after `attempts` attempts and waits `base` (plus
/// at most the 10% jitter) after its latest attempt.
fn assert_backoff(rows: &[OutboxRow], attempts: u32, base: Duration) {
    let base = TimeDelta::from_std(base).unwrap();
    for row in rows {
        assert_eq!(
            (row.state.as_str(), row.attempts),
            ("pending", attempts),
            "{row:?}"
        );
        let wait = row.next_attempt_at - row.last_attempt_at.expect("an attempt was made");
        // Both times are stored to the microsecond.
        let slack = TimeDelta::microseconds(1);
        assert!(
            wait >= base - slack && wait <= base + base / 10 + slack,
            "attempt {attempts}: the next one {wait} later, not {base} (+10%): {row:?}"
        );
    }
}

/// The webhook payload of a request.
fn payload(request: &ReceivedRequest) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON payload")
}

/// One alert of a payload: (transition, authorizer id, balance after in cents).
type Announced = (String, String, Option<i64>);

/// Each alert of a payload.
fn alerts_of(payload: &Value) -> Vec<Announced> {
    payload["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| {
            (
                alert["transition"].as_str().unwrap().to_string(),
                alert["authorizer_id"].as_str().unwrap().to_string(),
                alert["balance_after_cents"].as_i64(),
            )
        })
        .collect()
}

/// The requests by idempotency key, each key's requests in arrival order.
fn by_key(requests: &[ReceivedRequest]) -> BTreeMap<String, Vec<ReceivedRequest>> {
    let mut keys: BTreeMap<String, Vec<ReceivedRequest>> = BTreeMap::new();
    for request in requests {
        let key = request
            .idempotency_key
            .clone()
            .expect("every request has an Idempotency-Key");
        keys.entry(key).or_default().push(request.clone());
    }
    keys
}

/// Seeds three runs of [`MONITOR`] on March 10th: A-1 falls below $100 (fires), then A-2
/// does (fires; A-1 is still firing and not announced again), then A-1 recovers
/// (resolves). Each run announces one change, so each queues one digest per route.
async fn seed_three_runs(store: &Store) -> Vec<RunId> {
    let plan: [(u32, [(&str, Seen); 2]); 3] = [
        (
            13,
            [
                ("A-1", Seen::Balance(5_000)),
                ("A-2", Seen::Balance(50_000)),
            ],
        ),
        (
            14,
            [("A-1", Seen::Balance(4_000)), ("A-2", Seen::Balance(9_000))],
        ),
        (
            15,
            [
                ("A-1", Seen::Balance(60_000)),
                ("A-2", Seen::Balance(8_000)),
            ],
        ),
    ];
    let mut runs = Vec::new();
    for (hour, entries) in plan {
        let batch = format!("BATCH-{hour}");
        let seeded = seed_run(store, MONITOR, march(10, hour), &batch, &entries).await;
        runs.push(seeded.run);
    }
    runs
}

/// A webhook receiver that is down (connection refused) for two attempts and answers
/// 503 to two more: each of three runs' digests arrives, under one key for all five of
/// its attempts, waits 30 s, 1 min, 2 min and 4 min (+ jitter) between them, and ends
/// `delivered` with its five attempts counted. After dropping repeats by key, each run's
/// digest is there exactly once.
#[tokio::test(start_paused = true)]
async fn a_webhook_outage_delays_each_digest_but_loses_none_and_keeps_its_key() {
    let _still = hold_paused_time();
    let addr = vacant_loopback_addr();
    let library = Library::new(&[("hook", webhook_route(&hook_url(addr), "24h"))]).await;
    let runs = seed_three_runs(&library.store).await;
    let judged = library.judge().await;
    let announced: Vec<(RunId, usize, usize, Vec<String>)> = judged
        .iter()
        .map(|j| (j.run, j.fired, j.resolved, j.queued.clone()))
        .collect();
    let hook = vec!["hook".to_string()];
    assert_eq!(
        announced,
        [
            (runs[0], 1, 0, hook.clone()),
            (runs[1], 1, 0, hook.clone()),
            (runs[2], 0, 1, hook.clone())
        ]
    );
    let queued = outbox_rows(&library.database());
    assert_eq!(queued.len(), 3, "one digest per run for the one route");
    let keys: Vec<String> = queued.iter().map(|row| row.key.clone()).collect();
    assert_eq!(
        keys.iter().collect::<BTreeSet<_>>().len(),
        3,
        "every notification has its own key: {keys:?}"
    );

    // Attempts 1 and 2: nothing listens at the route's address.
    for (attempt, wait) in [(1, 30), (2, 60)] {
        if attempt > 1 {
            library.advance_until_all_due().await;
        }
        assert_eq!(
            library.deliver_due().await,
            DeliveryRound {
                retrying: 3,
                ..DeliveryRound::default()
            }
        );
        let rows = outbox_rows(&library.database());
        assert_backoff(&rows, attempt, Duration::from_secs(wait));
        let error = rows[0].last_error.as_deref().unwrap();
        assert!(
            error.starts_with("route hook: webhook request failed"),
            "{error}"
        );
        assert_eq!(
            library.deliver_due().await,
            DeliveryRound::default(),
            "nothing is sent again before its time"
        );
    }

    // Attempts 3 and 4: the receiver is up on that address, in maintenance.
    let receiver = Receiver::start_on(addr, None, vec![Reply::status(503, "maintenance"); 6]).await;
    for (attempt, wait) in [(3, 120), (4, 240)] {
        library.advance_until_all_due().await;
        assert_eq!(
            library.deliver_due().await,
            DeliveryRound {
                retrying: 3,
                ..DeliveryRound::default()
            }
        );
        let rows = outbox_rows(&library.database());
        assert_backoff(&rows, attempt, Duration::from_secs(wait));
        assert_eq!(
            rows[0].last_error.as_deref(),
            Some("route hook: webhook answered http 503 Service Unavailable: maintenance")
        );
    }
    assert_eq!(receiver.requests().len(), 6);

    // Attempt 5: it answers 200.
    library.advance_until_all_due().await;
    assert_eq!(
        library.deliver_due().await,
        DeliveryRound {
            delivered: 3,
            ..DeliveryRound::default()
        }
    );
    let now = library.clock.now();
    let rows = outbox_rows(&library.database());
    for row in &rows {
        assert_eq!(
            (row.state.as_str(), row.attempts),
            ("delivered", 5),
            "{row:?}"
        );
        let delivered_at = row.delivered_at.unwrap();
        assert!(
            delivered_at <= now && now - delivered_at < TimeDelta::seconds(1),
            "{row:?}"
        );
    }
    assert_eq!(library.deliver_due().await, DeliveryRound::default());

    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        9,
        "three attempts reached each digest's receiver"
    );
    let received = by_key(&requests);
    assert_eq!(
        received.keys().collect::<Vec<_>>(),
        keys.iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>(),
        "the keys the outbox gave its rows, and no other"
    );
    let mut digests: BTreeMap<i64, Vec<Announced>> = BTreeMap::new();
    for (key, attempts) in &received {
        assert_eq!(
            attempts.len(),
            3,
            "{key}: one request per attempt that got through"
        );
        assert!(
            attempts.iter().all(|a| a.body == attempts[0].body),
            "{key}: every retry sends the same body"
        );
        let body = payload(&attempts[0]);
        let run = body["run"]["id"].as_i64().unwrap();
        assert!(
            digests.insert(run, alerts_of(&body)).is_none(),
            "run {run}: one digest after dropping repeats by key"
        );
    }
    let expected: BTreeMap<i64, Vec<Announced>> = [
        (runs[0].0, vec![("fired".into(), "A-1".into(), Some(5_000))]),
        (runs[1].0, vec![("fired".into(), "A-2".into(), Some(9_000))]),
        (
            runs[2].0,
            vec![("resolved".into(), "A-1".into(), Some(60_000))],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(digests, expected);
    for run in runs {
        let notifications = library.store.run_notifications(run).await.unwrap();
        assert_eq!(
            (
                notifications.counts.delivered,
                notifications.counts.failed,
                notifications.counts.pending
            ),
            (1, 0, 0),
            "run {run:?}"
        );
    }
}

/// The worker itself (`Outbox::run`) on paused time, left to run on its own: woken by
/// a judged run, it retries a 503 no sooner than 30 s and then 1 min later, honours a
/// 429's `Retry-After: 600` over its own 2 min, and delivers at the fourth attempt.
/// (Paused time may run ahead while the store writes, so only lower bounds are exact
/// here; the tests above check each wait to the microsecond.)
#[tokio::test(start_paused = true)]
async fn the_worker_never_retries_early_and_honours_retry_after() {
    let receiver = Receiver::start(
        None,
        vec![
            Reply::status(503, "busy"),
            Reply::status(503, "busy"),
            Reply::Status(429, "slow down".into(), vec![("retry-after", "600".into())]),
        ],
    )
    .await;
    let library = Library::new(&[("hook", webhook_route(receiver.url().as_str(), "24h"))]).await;
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(library.outbox.clone().run(cancel.clone()));
    seed_run(
        &library.store,
        MONITOR,
        march(10, 13),
        "BATCH-13",
        &[("A-1", Seen::Balance(5_000))],
    )
    .await;
    assert_eq!(library.judge().await.len(), 1);

    receiver.wait_for_requests(4).await;
    // The fourth answer (200) is on its way to the store; paused time waits for it.
    let mut row = outbox_rows(&library.database()).remove(0);
    for _ in 0..1000 {
        if row.state == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        row = outbox_rows(&library.database()).remove(0);
    }
    cancel.cancel();
    worker.await.unwrap();
    assert_eq!(
        (row.state.as_str(), row.attempts),
        ("delivered", 4),
        "{row:?}"
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(by_key(&requests).len(), 1, "one key for every attempt");
    let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    let slack = Duration::from_millis(1);
    for (gap, least) in gaps.iter().zip([30, 60, 600]) {
        let least = Duration::from_secs(least);
        assert!(
            *gap + slack >= least,
            "a retry came {gap:?} after the attempt before it, sooner than {least:?}: {gaps:?}"
        );
    }
}

/// The SMTP server is down (nothing listens on its port) for two attempts, then comes
/// up on that port, takes the digest and hangs up before confirming it, then confirms
/// the next one: the digest arrives, and both copies carry the same `Message-ID`, the
/// one the notification's idempotency key gives, so the duplicate can be dropped.
#[tokio::test(start_paused = true)]
async fn an_smtp_outage_delays_the_digest_and_every_copy_has_one_message_id() {
    let _still = hold_paused_time();
    let addr = vacant_loopback_addr();
    let library = Library::new(&[("mail", smtp_route(addr))]).await;
    seed_run(
        &library.store,
        MONITOR,
        march(10, 13),
        "BATCH-13",
        &[("A-1", Seen::Balance(5_000)), ("A-2", Seen::Balance(7_500))],
    )
    .await;
    assert_eq!(library.judge().await[0].fired, 2);
    let key = outbox_rows(&library.database())[0].key.clone();

    for (attempt, wait) in [(1, 30), (2, 60)] {
        if attempt > 1 {
            library.advance_until_all_due().await;
        }
        assert_eq!(library.deliver_due().await.retrying, 1);
        let rows = outbox_rows(&library.database());
        assert_backoff(&rows, attempt, Duration::from_secs(wait));
        let error = rows[0].last_error.as_deref().unwrap();
        assert!(error.starts_with("route mail: smtp: "), "{error}");
    }

    let server = SmtpServer::start_on(addr, SmtpSettings::default(), 1).await;
    library.advance_until_all_due().await;
    assert_eq!(
        library.deliver_due().await.retrying,
        1,
        "a message the server never confirmed is not delivered"
    );
    assert_backoff(
        &outbox_rows(&library.database()),
        3,
        Duration::from_secs(120),
    );
    assert_eq!(server.mails().len(), 1);

    library.advance_until_all_due().await;
    assert_eq!(library.deliver_due().await.delivered, 1);
    let row = outbox_rows(&library.database()).remove(0);
    assert_eq!((row.state.as_str(), row.attempts), ("delivered", 4));
    assert_eq!(row.key, key, "the key never changes");

    let mails = server.mails();
    assert_eq!(mails.len(), 2, "the unconfirmed copy and the confirmed one");
    let expected = message_id(&key, MAIL_DOMAIN);
    for mail in &mails {
        assert_eq!(mail.to, [format!("collections@{MAIL_DOMAIN}")]);
        let message = MessageParser::default().parse(&mail.data).unwrap();
        assert_eq!(
            message.message_id().map(|id| format!("<{id}>")),
            Some(expected.clone())
        );
        assert_eq!(
            message.subject(),
            Some("2 warning: morning-ach [balance-monitor]")
        );
    }
    let text = |data: &[u8]| {
        let message = MessageParser::default().parse(data).unwrap();
        message.body_text(0).unwrap().into_owned()
    };
    assert!(
        text(&mails[0].data) == text(&mails[1].data),
        "the same digest in both copies"
    );
}

/// A route that never recovers is given up at its `give_up_after` (5 min: attempts at
/// 0, ~30 s, ~1.5 min, ~3.5 min and the deadline itself), and a 400 answer fails at
/// once, never retried. Both failures show: `failed` rows naming their attempts,
/// `balance_monitor_outbox_failed` in the metrics snapshot, the run's notifications,
/// and `balance-monitor runs show`.
#[tokio::test(start_paused = true)]
async fn a_route_past_give_up_after_and_a_400_end_failed_and_visible() {
    let _still = hold_paused_time();
    let down = vacant_loopback_addr();
    let refusing = Receiver::start(
        None,
        vec![Reply::status(400, "{\"error\":\"unknown monitor\"}")],
    )
    .await;
    let library = Library::new(&[
        ("down", webhook_route(&hook_url(down), "5m")),
        ("strict", webhook_route(refusing.url().as_str(), "24h")),
    ])
    .await;
    let run = seed_run(
        &library.store,
        MONITOR,
        march(10, 13),
        "BATCH-13",
        &[("A-1", Seen::Balance(5_000))],
    )
    .await
    .run;
    assert_eq!(library.judge().await[0].queued, ["down", "strict"]);

    assert_eq!(
        library.deliver_due().await,
        DeliveryRound {
            retrying: 1,
            failed: 1,
            ..DeliveryRound::default()
        }
    );
    let mut rounds = 1;
    while outbox_rows(&library.database())
        .iter()
        .any(|row| row.state == "pending")
    {
        assert!(rounds < 10, "the route is given up within its 5 minutes");
        library.advance_until_all_due().await;
        library.deliver_due().await;
        rounds += 1;
    }
    assert_eq!(
        library.clock.now() - queued_at(),
        TimeDelta::minutes(5),
        "the last attempt is at the deadline itself"
    );
    assert_eq!(refusing.requests().len(), 1, "a 400 is not retried");

    let rows = outbox_rows(&library.database());
    let failed: Vec<(&str, &str, u32)> = rows
        .iter()
        .map(|row| (row.route.as_str(), row.state.as_str(), row.attempts))
        .collect();
    assert_eq!(failed, [("down", "failed", 5), ("strict", "failed", 1)]);
    let down_error = rows[0].last_error.as_deref().unwrap();
    assert!(
        down_error
            .starts_with("gave up after 5 attempt(s) over 5m: route down: webhook request failed"),
        "{down_error}"
    );
    let strict_error = rows[1].last_error.as_deref().unwrap();
    assert_eq!(
        strict_error,
        "route strict: webhook answered http 400 Bad Request: {\"error\":\"unknown monitor\"}"
    );
    assert!(rows.iter().all(|row| row.run_id == Some(run.0)));

    let metrics = library.store.metrics_snapshot().await.unwrap();
    assert_eq!((metrics.outbox_failed, metrics.outbox_pending), (2, 0));
    let notifications = library.store.run_notifications(run).await.unwrap();
    assert_eq!(
        (
            notifications.counts.delivered,
            notifications.counts.failed,
            notifications.counts.pending
        ),
        (0, 2, 0)
    );
    let undelivered: Vec<(&str, &str, u32, Option<&str>)> = notifications
        .undelivered
        .iter()
        .map(|n| {
            (
                n.route.as_str(),
                n.state.as_str(),
                n.attempts,
                n.last_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        undelivered,
        [
            ("down", "failed", 5, Some(down_error)),
            ("strict", "failed", 1, Some(strict_error))
        ]
    );

    let output = crate::support::run_binary(
        library.dir.path(),
        &[
            "--config",
            "config.yaml",
            "runs",
            "show",
            &run.0.to_string(),
        ],
        &[(KEY_ENV, "rf_test_key")],
    );
    let shown = crate::support::history::stdout_of(&output);
    for line in [
        "  notifications: 0 sent, 2 failed, 0 pending".to_string(),
        format!("    down failed after 5 attempts: {down_error}"),
        format!("    strict failed after 1 attempt: {strict_error}"),
    ] {
        assert!(shown.lines().any(|l| l == line), "{line:?} in:\n{shown}");
    }
}

/// Runs the binary with `args` in `dir` with a clean environment plus `env`, to its end
/// (at most [`PATIENCE`]): (exit code, stdout, stderr).
async fn cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = tokio::process::Command::new(binary());
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .expect("the command ends")
        .expect("the command starts");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A sandbox whose scenario gives `id` the balances `balances`, one per check, and a
/// directory with the monitor's CSV listing that one authorizer.
async fn sandbox_for(dir: &Path, id: &str, balances: &str) -> RunningSandbox {
    let scenario = Scenario::from_yaml(
        &format!("authorizers:\n  {id}: [{balances}]\n"),
        Path::new("scenario.yaml"),
    )
    .unwrap();
    let csv = authorizers_csv(&[CsvRow::bank(id)], &[]);
    write_file(dir, "payday.csv", csv.as_bytes(), 0o600);
    RunningSandbox::start(sandbox_config(Duration::ZERO, scenario)).await
}

/// The real daemon is killed (SIGKILL) while its first route's receiver holds the
/// digest unanswered, and the second route's digest is still queued. Started again on
/// the same database, it does not judge the run again; it sends the first digest again
/// with the same `Idempotency-Key` and the second for the first time: after dropping
/// repeats, each route got the run's digest exactly once, and both rows are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_delivery_resends_with_the_same_key_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox_for(dir.path(), "K-1", "50.00").await;
    let hanging = Receiver::start(None, vec![Reply::Hang]).await;
    let second = Receiver::start(None, Vec::new()).await;
    let database = dir.path().join("balance-monitor.db");
    let slot = slot_due_now(&database, MONITOR).await;
    let spec = ConfigSpec::new(&sandbox.url, &database).monitor(MonitorSpec::new(
        MONITOR,
        &yearly_cron(slot),
        "payday.csv",
    ));
    // The hanging receiver is never given up on before the kill.
    let slow_hook = format!(
        "    webhook:\n      url: {}\n      timeout: 5m\n",
        hanging.url()
    );
    let text = format!(
        "{}{}{}",
        spec.yaml(),
        monitor_alerting(&["first", "second"]),
        routes_yaml(&[
            ("first", slow_hook),
            ("second", webhook_route(second.url().as_str(), "24h")),
        ])
    );
    let config = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);

    let daemon = Daemon::start(&config);
    tokio::time::timeout(PATIENCE, hanging.wait_for_requests(1))
        .await
        .expect("the first route's receiver gets the digest");
    let stopped = daemon.kill().await;
    assert!(
        stopped
            .find(|line| line.is("alert rules judged the run"))
            .is_some()
    );
    let rows = outbox_rows(&database);
    let states: Vec<(&str, &str, u32)> = rows
        .iter()
        .map(|row| (row.route.as_str(), row.state.as_str(), row.attempts))
        .collect();
    assert_eq!(
        states,
        [("first", "pending", 0), ("second", "pending", 0)],
        "killed mid-send: nothing recorded, nothing lost"
    );
    assert!(
        second.requests().is_empty(),
        "the worker sends one at a time"
    );

    let mut daemon = Daemon::start(&config);
    for _ in 0..2 {
        daemon
            .wait_for("a notification delivered", |line| {
                line.is("notification delivered")
            })
            .await;
    }
    // Stopped now, the worker still records the attempt it made.
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    let rows = outbox_rows(&database);
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert!(
        stopped
            .find(|line| line.is("alert rules judged the run"))
            .is_none(),
        "the run was judged once, before the kill"
    );

    let states: Vec<(&str, &str, u32)> = rows
        .iter()
        .map(|row| (row.route.as_str(), row.state.as_str(), row.attempts))
        .collect();
    assert_eq!(
        states,
        [("first", "delivered", 1), ("second", "delivered", 1)]
    );
    let run = rows[0].run_id.expect("a digest names its run");
    assert_eq!(rows[1].run_id, Some(run));

    let first = hanging.requests();
    assert_eq!(first.len(), 2, "sent, killed, sent again");
    assert_eq!(
        first[0].idempotency_key.as_deref(),
        Some(rows[0].key.as_str())
    );
    assert_eq!(first[1].idempotency_key, first[0].idempotency_key);
    assert_eq!(first[1].body, first[0].body);
    let second = second.requests();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].idempotency_key.as_deref(),
        Some(rows[1].key.as_str())
    );
    for requests in [&first, &second] {
        let received = by_key(requests);
        assert_eq!(
            received.len(),
            1,
            "after dropping repeats, one digest per route"
        );
        let body = payload(&requests[0]);
        assert_eq!(body["run"]["id"].as_i64(), Some(run));
        assert_eq!(
            alerts_of(&body),
            [("fired".to_string(), "K-1".to_string(), Some(5_000))]
        );
    }
}

/// Three `run-now` processes on one database (a restart between each run): A-1 at
/// $50.00, $50.00, then $600.00. The first run fires and announces the alert; the second,
/// a new process, knows it is firing and within its repeat interval, so announces
/// nothing; the third resolves it and announces that. The receiver gets exactly those
/// two digests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_between_runs_neither_repeat_nor_lose_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox_for(dir.path(), "A-1", "50.00, 50.00, 600.00").await;
    let receiver = Receiver::start(None, Vec::new()).await;
    let database = dir.path().join("balance-monitor.db");
    let spec = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("100ms")
        .monitor(MonitorSpec::new(MONITOR, "0 6 * * *", "payday.csv"));
    let text = format!(
        "{}{}{}",
        spec.yaml(),
        monitor_alerting(&["hook"]),
        routes_yaml(&[("hook", webhook_route(receiver.url().as_str(), "24h"))])
    );
    write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);

    let expected: [&[&str]; 3] = [
        &[
            "  alerts (run 1):            1 fired, 0 reminded, 0 resolved; 1 firing now",
            "  notifications:             1 delivered, 0 to retry, 0 failed",
        ],
        &["  alerts (run 2):            0 fired, 0 reminded, 0 resolved; 1 firing now"],
        &[
            "  alerts (run 3):            0 fired, 0 reminded, 1 resolved; 0 firing now",
            "  notifications:             1 delivered, 0 to retry, 0 failed",
        ],
    ];
    for (run, lines) in expected.iter().enumerate() {
        if run > 0 {
            // Past Rightfoot's 24-hour body cache, so the same list is checked afresh.
            sandbox.advance(Duration::from_secs(25 * 3600));
        }
        let (code, stdout, stderr) = cli(
            dir.path(),
            &["--config", "config.yaml", "run-now", MONITOR],
            &[(API_KEY_ENV, SANDBOX_KEY)],
        )
        .await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(
            stdout.starts_with(&format!("run {} of {MONITOR}: complete\n", run + 1)),
            "{stdout}"
        );
        let alert_lines: Vec<&str> = stdout
            .lines()
            .filter(|line| line.starts_with("  alerts") || line.starts_with("  notifications"))
            .collect();
        assert_eq!(alert_lines, *lines, "run {}:\n{stdout}", run + 1);
    }

    let requests = receiver.requests();
    let digests: Vec<(Option<i64>, Vec<Announced>)> = requests
        .iter()
        .map(|request| {
            let body = payload(request);
            (body["run"]["id"].as_i64(), alerts_of(&body))
        })
        .collect();
    assert_eq!(
        digests,
        [
            (Some(1), vec![("fired".into(), "A-1".into(), Some(5_000))]),
            (
                Some(3),
                vec![("resolved".into(), "A-1".into(), Some(60_000))]
            ),
        ]
    );
    assert_eq!(by_key(&requests).len(), 2);
    let rows = outbox_rows(&database);
    assert!(
        rows.iter()
            .all(|row| row.state == "delivered" && row.attempts == 1),
        "{rows:?}"
    );
}

/// `test-alert` as an operator runs it: a marked test digest, signed, to a webhook (exit
/// 0, the answer printed); to an SMTP server (its 250 printed); a 500 answer (exit 1,
/// the answer on stderr); a route that does not exist (exit 2, with a suggestion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_sends_a_marked_digest_and_reports_the_answer() {
    const SECRET: &str = "whsec_test_alert_0123456789";
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Some(SECRET), Vec::new()).await;
    let failing = Receiver::start(None, vec![Reply::status(500, "upstream down")]).await;
    let smtp = SmtpServer::start(SmtpSettings::default()).await;
    let signed_hook = format!(
        "    webhook:\n      url: {}\n      secret_env: HOOK_SECRET\n",
        receiver.url()
    );
    let text = format!(
        "rightfoot:\n  api_key_env: {KEY_ENV}\nstorage:\n  path: state.db\nmonitors:\n  \
         - name: {MONITOR}\n    schedule: \"0 9 * * 1-5\"\n    authorizers: {{ csv: authorizers.csv }}\n{}{}",
        monitor_alerting(&["los-webhook", "failing", "mail"]),
        routes_yaml(&[
            ("los-webhook", signed_hook),
            ("failing", webhook_route(failing.url().as_str(), "24h")),
            ("mail", smtp_route(smtp.addr)),
        ])
    );
    write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let env = [(KEY_ENV, "rf_test_key"), ("HOOK_SECRET", SECRET)];
    let test_alert = |route: &'static str| {
        let dir = dir.path().to_path_buf();
        async move {
            cli(
                &dir,
                &["--config", "config.yaml", "test-alert", route],
                &env,
            )
            .await
        }
    };

    let (code, stdout, stderr) = test_alert("los-webhook").await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        "test notification sent through los-webhook: webhook answered http 200 OK: ok\n"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].signature_valid, Some(true));
    let body = payload(&requests[0]);
    assert_eq!(body["test"], Value::Bool(true));
    assert_eq!(body["run"]["id"], Value::Null);
    assert!(!alerts_of(&body).is_empty());
    assert!(
        !String::from_utf8_lossy(&requests[0].body).contains(SECRET)
            && !stdout.contains(SECRET)
            && !stderr.contains(SECRET)
    );

    let (code, stdout, stderr) = test_alert("mail").await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let message = MessageParser::default().parse(&mails[0].data).unwrap();
    let subject = message.subject().unwrap_or_default();
    assert!(subject.contains("[TEST]"), "{subject}");
    let id = format!("<{}>", message.message_id().unwrap());
    assert_eq!(
        stdout,
        format!(
            "test notification sent through mail: smtp server accepted {id} for 1 recipient(s): 250 OK\n"
        )
    );

    let (code, stdout, stderr) = test_alert("failing").await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(
            "error: the test notification was not delivered: route failing: webhook answered http 500 Internal Server Error: upstream down"
        ),
        "{stderr}"
    );
    assert_eq!(failing.requests().len(), 1, "test-alert does not retry");

    let (code, stdout, stderr) = test_alert("los-webhok").await;
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no route named `los-webhok`, did you mean `los-webhook`?"),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 1, "nothing more was sent");
    assert!(
        !dir.path().join("state.db").exists(),
        "test-alert queues nothing in the database"
    );
}
