//! The crash suite: the real `balance-monitor run` killed with SIGKILL at random
//! points of runs over 2,000 authorizers whose alert rules fire and resolve, restarted
//! on the same database each time, and held to the invariants a crash must not break.
//!
//! Each iteration is one scheduled run (a monitor with one slot a year, due when the
//! daemon starts, as in `tests/daemon.rs`) of 2,000 valid authorizers in four chunks of
//! 500, plus three rows that fail pre-flight. The sandbox scripts every balance: the
//! first 60 authorizers fall below the $100.00 rule every third check, so every run
//! fires and resolves alerts, and every run sends one digest to a real webhook
//! receiver. The daemon is killed at a point tied to observable progress, never to the
//! machine's speed: while the sandbox holds its answer to the n-th request (the side
//! effect done, the answer not received), right after that answer went out, while the
//! receiver holds the digest unanswered, or as the daemon logs a step (a run starting,
//! the k-th chunk's batch id stored, the run finished, judged, a digest delivered). An
//! iteration in four is killed a second time during its recovery. The last start runs
//! until the run is judged and its digests are delivered, then stops with SIGTERM.
//!
//! After every iteration:
//! - every authorizer of every run has exactly one result row, with the balance the
//!   scenario gave that check, or a pre-flight rejection (`results`,
//!   `preflight_rejections`, read with a read-only connection);
//! - the sandbox made no second check: 2,000 checks and four batches per run, and each
//!   distinct POST body was answered with one batch id (a resent body is answered from
//!   the 24-hour cache);
//! - every digest reached the receiver at least once, and after dropping repeats by
//!   `Idempotency-Key` exactly once, with exactly the fired and resolved transitions the
//!   scenario implies; every outbox row is delivered; the firing alerts are the
//!   expected ones;
//! - `PRAGMA integrity_check` is `ok` and `PRAGMA foreign_key_check` finds nothing.
//!
//! The kill points come from a seeded RNG: the seed is printed (`crash seed N`) and
//! `BALANCE_MONITOR_CRASH_SEED=N` replays it. CI runs 20 iterations;
//! `BALANCE_MONITOR_CRASH_ITERATIONS=200` is the long mode. The sandbox's body cache
//! lasts an hour of its clock, which the test moves two hours between iterations, so
//! each run checks afresh while a resend within a run hits the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use balance_monitor::money::Cents;
use balance_monitor::rightfoot::body_sha256;
use balance_monitor::sandbox::{Outcome, Scenario};
use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;

use crate::support::daemon::{
    ConfigSpec, Daemon, Database, LogLine, MonitorSpec, PATIENCE, slot_due_now, tail, yearly_cron,
};
use crate::support::gate::{Exchange, GatedSandbox, sandbox_config};
use crate::support::receiver::{ReceivedRequest, Receiver, Reply};
use crate::support::sandbox::{CsvRow, authorizers_csv};
use crate::support::write_file;

const MONITOR: &str = "crash";
/// Valid authorizers per run.
const AUTHORIZERS: usize = 2_000;
/// Rows that fail pre-flight (a routing number of five digits).
const REJECTED: [&str; 3] = ["C-BAD-1", "C-BAD-2", "C-BAD-3"];
/// The first this many authorizers fall below the rule's $100.00 every third check.
const ALERTING: usize = 60;
const CHUNK: usize = 500;
const CHUNKS: usize = AUTHORIZERS / CHUNK;

fn id(index: usize) -> String {
    format!("C-{index:04}")
}

/// Whether authorizer `index`'s check number `check` (0-based) is below $100.00.
fn below(index: usize, check: usize) -> bool {
    index < ALERTING && (index + check).is_multiple_of(3)
}

/// The balance the scenario gives authorizer `index` at check `check`, in cents:
/// distinct per authorizer and, modulo 100, per check, so a result stored under the
/// wrong id or from another check shows.
fn scripted_cents(index: usize, check: usize) -> i64 {
    let (index, check) = (index as i64, check as i64);
    if below(index as usize, check as usize) {
        5_000 + index * 10 + check % 10
    } else {
        100_000 + index * 100 + check % 100
    }
}

fn scenario(checks: usize) -> Scenario {
    let mut scenario = Scenario::default();
    for index in 0..AUTHORIZERS {
        let outcomes = (0..checks)
            .map(|check| Outcome::Balance(Cents(scripted_cents(index, check))))
            .collect();
        scenario.authorizers.insert(id(index), outcomes);
    }
    scenario
}

fn csv() -> String {
    let rows: Vec<CsvRow> = (0..AUTHORIZERS).map(|n| CsvRow::bank(id(n))).collect();
    let mut text = authorizers_csv(&rows, &[]);
    for bad in REJECTED {
        text.push_str(&format!(
            "{bad},Jane,Doe,1 Main St,Anytown,CA,94107,US,5551234567,01/31/1980,123456789,200000000,12345,,,,\n"
        ));
    }
    text
}

/// Where the daemon is killed.
#[derive(Clone, Debug)]
enum KillPoint {
    /// While the sandbox holds its answer to the n-th request of this process.
    SandboxHeld(usize),
    /// Right after the sandbox's answer to the n-th request went out.
    SandboxAnswered(usize),
    /// While the receiver holds the digest unanswered.
    ReceiverHeld,
    /// As the daemon logs the `nth` line with this message.
    Logged(&'static str, usize),
}

impl KillPoint {
    fn draw(rng: &mut fastrand::Rng, requests: usize, receiver: bool) -> KillPoint {
        let steps = [
            ("starting a run", 1),
            ("chunk submitted", CHUNKS),
            ("run finished", 1),
            ("alert rules judged the run", 1),
            ("notification delivered", 1),
        ];
        match rng.usize(0..if receiver { 8 } else { 7 }) {
            0..=2 => KillPoint::SandboxHeld(rng.usize(1..=requests)),
            3..=4 => KillPoint::SandboxAnswered(rng.usize(1..=requests)),
            5..=6 => {
                let (message, most) = steps[rng.usize(0..steps.len())];
                KillPoint::Logged(message, rng.usize(1..=most))
            }
            _ => KillPoint::ReceiverHeld,
        }
    }
}

/// The sandbox, the receivers so far and the database, across iterations.
struct Bench {
    dir: tempfile::TempDir,
    sandbox: GatedSandbox,
    database: PathBuf,
    /// Every request every iteration's receiver got.
    received: Vec<ReceivedRequest>,
    /// The run of each iteration.
    runs: Vec<i64>,
}

impl Bench {
    async fn new(iterations: usize) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let mut config = sandbox_config(Duration::from_secs(1), scenario(iterations));
        config.body_cache_ttl = Duration::from_secs(3600);
        let sandbox = GatedSandbox::start(config).await;
        write_file(dir.path(), "crash.csv", csv().as_bytes(), 0o600);
        let database = dir.path().join("balance-monitor.db");
        Bench {
            dir,
            sandbox,
            database,
            received: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Writes a configuration whose slot is due now, digests going to `receiver`.
    async fn configure(&self, receiver: &Receiver) -> PathBuf {
        let slot = slot_due_now(&self.database, MONITOR).await;
        let spec = ConfigSpec::new(&self.sandbox.url, &self.database)
            .poll_interval("1s")
            .result_deadline("10m")
            .monitor(MonitorSpec::new(MONITOR, &yearly_cron(slot), "crash.csv"));
        let text = format!(
            "{}    rules:\n      - balance_below: {{ amount: 100.00 }}\n    routes: [hook]\n    \
             repeat_interval: 24h\n    send_resolved: true\nroutes:\n  hook:\n    max_rows: 10000\n    \
             webhook:\n      url: {}\n      timeout: 10s\n",
            spec.yaml().replacen(
                "rightfoot:\n",
                &format!("rightfoot:\n  max_batch_size: {CHUNK}\n"),
                1
            ),
            receiver.url()
        );
        write_file(self.dir.path(), "config.yaml", text.as_bytes(), 0o600)
    }

    fn connection(&self) -> Connection {
        let connection =
            Connection::open_with_flags(&self.database, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        connection.busy_timeout(Duration::from_secs(10)).unwrap();
        connection
    }

    /// Whether the latest run is finished and judged and no digest waits.
    fn settled(&self, runs_before: usize) -> bool {
        let connection = self.connection();
        let unsettled: i64 = connection
            .query_row(
                "SELECT (SELECT count(*) FROM runs WHERE alerts_evaluated_at IS NULL) \
                      + (SELECT count(*) FROM outbox WHERE state <> 'delivered')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        let runs: i64 = connection
            .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
            .unwrap();
        unsettled == 0 && runs as usize > runs_before
    }
}

/// Starts a daemon and kills it at `point`, or once the iteration has settled if the
/// point never comes (a step already done before an earlier kill, fewer requests than
/// drawn); answers where it was killed, for the log.
async fn start_and_kill(
    bench: &Bench,
    config: &Path,
    point: &KillPoint,
    receiver: &Receiver,
) -> String {
    let runs_before = bench.runs.len();
    let mut daemon = Daemon::start(config);
    let happened = match point {
        KillPoint::SandboxHeld(nth) | KillPoint::SandboxAnswered(nth) => {
            let nth = *nth;
            let counter = Arc::new(AtomicUsize::new(0));
            let mut hold = bench
                .sandbox
                .hold_next("the chosen request", move |_: &Exchange| {
                    counter.fetch_add(1, Ordering::SeqCst) + 1 == nth
                });
            let caught = tokio::select! {
                exchange = hold.caught() => Some(exchange),
                _ = daemon.wait_until("settled", |_| bench.settled(runs_before)) => None,
            };
            match caught {
                Some(exchange) => {
                    let what = format!(
                        "{} {} -> {}",
                        exchange.method, exchange.path, exchange.status
                    );
                    if matches!(point, KillPoint::SandboxAnswered(_)) {
                        hold.release();
                        format!("after the answer to {what}")
                    } else {
                        // Dropped after the kill, which lets the answer go.
                        let stopped = daemon.kill().await;
                        drop(hold);
                        assert_no_panic(&stopped.log);
                        return format!("holding the answer to {what}");
                    }
                }
                None => "once settled (fewer requests than drawn)".to_string(),
            }
        }
        KillPoint::ReceiverHeld => {
            tokio::time::timeout(PATIENCE, receiver.wait_for_requests(1))
                .await
                .expect("the digest reaches the receiver");
            "holding the digest at the receiver".to_string()
        }
        KillPoint::Logged(message, nth) => {
            let mut seen = false;
            daemon
                .wait_until(message, |log| {
                    seen = log.iter().filter(|l| l.is(message)).count() >= *nth;
                    seen || bench.settled(runs_before)
                })
                .await;
            if seen {
                format!("at the log line {message:?} #{nth}")
            } else {
                "once settled (the step was not logged again)".to_string()
            }
        }
    };
    let stopped = daemon.kill().await;
    assert_no_panic(&stopped.log);
    happened
}

fn assert_no_panic(log: &[LogLine]) {
    assert!(
        !log.iter().any(|l| l.raw.contains("panicked")),
        "{}",
        tail(log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_of_runs_with_alerts_loses_and_repeats_nothing() {
    let seed = std::env::var("BALANCE_MONITOR_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let iterations: usize = std::env::var("BALANCE_MONITOR_CRASH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    eprintln!(
        "crash seed {seed} (BALANCE_MONITOR_CRASH_SEED={seed} repeats it), {iterations} iterations"
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bench = Bench::new(iterations).await;
    let started = Instant::now();
    // The range the n-th request is drawn in: the fewest requests an iteration made,
    // which is at least a whole run's.
    let mut requests = 30;
    for iteration in 0..iterations {
        let exchanges_before = bench.sandbox.exchanges().len();
        let kills = if rng.usize(0..4) == 0 { 2 } else { 1 };
        let first = KillPoint::draw(&mut rng, requests, true);
        let receiver = Receiver::start(
            None,
            if matches!(first, KillPoint::ReceiverHeld) {
                vec![Reply::Hang]
            } else {
                Vec::new()
            },
        )
        .await;
        let config = bench.configure(&receiver).await;
        let mut points = vec![first];
        for _ in 1..kills {
            points.push(KillPoint::draw(&mut rng, requests, false));
        }
        for point in &points {
            let happened = start_and_kill(&bench, &config, point, &receiver).await;
            eprintln!("iteration {iteration}: {point:?}: killed {happened}");
        }

        let mut daemon = Daemon::start(&config);
        let runs_before = bench.runs.len();
        // Its signal handlers are in place once it says so.
        daemon
            .wait_for("the start", |l| l.is("balance-monitor started"))
            .await;
        daemon
            .wait_until("the run judged and its digest delivered", |_| {
                bench.settled(runs_before)
            })
            .await;
        daemon.signal("TERM");
        let stopped = daemon.exit().await;
        assert_eq!(
            stopped.status.code(),
            Some(0),
            "SIGTERM is a clean stop:\n{}",
            tail(&stopped.log)
        );
        assert_no_panic(&stopped.log);
        bench.received.extend(receiver.requests());
        let run = Database::new(&bench.database)
            .runs()
            .last()
            .expect("a run")
            .id;
        bench.runs.push(run);
        check_invariants(&bench, iteration, exchanges_before);
        requests = requests.min(bench.sandbox.exchanges().len() - exchanges_before);
        // Past the sandbox's one-hour body cache: the next run checks afresh.
        bench.sandbox.advance(Duration::from_secs(2 * 3600));
    }
    eprintln!(
        "{iterations} iterations in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The invariants, after iteration `iteration` (0-based) settled.
fn check_invariants(bench: &Bench, iteration: usize, exchanges_before: usize) {
    let database = Database::new(&bench.database);
    let connection = bench.connection();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken_keys: i64 = connection
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(broken_keys, 0, "foreign_key_check");

    // One run per iteration, each complete, each authorizer once.
    let runs = database.runs();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        bench.runs,
        "one run per iteration: {runs:#?}"
    );
    let results_per_run: Vec<(i64, i64)> = {
        let mut statement = connection
            .prepare("SELECT run_id, count(*) FROM results GROUP BY run_id ORDER BY run_id")
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(
        results_per_run,
        bench
            .runs
            .iter()
            .map(|&run| (run, AUTHORIZERS as i64))
            .collect::<Vec<_>>()
    );
    for (check, stored) in runs.iter().enumerate() {
        // Partial only because of the rows pre-flight rejected.
        assert_eq!(
            (stored.state.as_str(), stored.reason.as_deref()),
            ("partial", Some("3 rejected by pre-flight")),
            "{stored:?}"
        );
        // Earlier runs were read row by row when they were made, and the counts
        // above show a later crash did not touch them.
        if check < iteration {
            continue;
        }
        let results = database.results_of(stored.id);
        let rejections = database.preflight_rejections(stored.id);
        let rejected: Vec<&str> = rejections.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(rejected, REJECTED, "run {}", stored.id);
        assert_eq!(results.len(), AUTHORIZERS, "run {}", stored.id);
        for (index, result) in results.iter().enumerate() {
            assert_eq!(
                (
                    result.authorizer.as_str(),
                    result.outcome.as_str(),
                    result.balance_cents
                ),
                (
                    id(index).as_str(),
                    "retrieved",
                    Some(scripted_cents(index, check))
                ),
                "run {} (check {check})",
                stored.id
            );
        }
        let chunks = database.chunks(stored.id);
        assert_eq!(chunks.len(), CHUNKS);
        for chunk in &chunks {
            assert_eq!(
                (chunk.state.as_str(), chunk.cached_from),
                ("complete", None),
                "{chunk:?}"
            );
        }
    }

    // The sandbox checked each authorizer once per run.
    let handle = &bench.sandbox.handle;
    assert_eq!(
        handle.checks_performed(),
        ((iteration + 1) * AUTHORIZERS) as u64,
        "no second check"
    );
    assert_eq!(handle.batches_created(), (iteration + 1) * CHUNKS);
    // This iteration's POSTs: the same list makes the same bodies run after run, so
    // the body cache's window is the iteration.
    let mut batches_by_body: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let exchanges = bench.sandbox.exchanges();
    for post in exchanges[exchanges_before..]
        .iter()
        .filter(|e| e.is_submission())
    {
        if post.status == 201 {
            let batch = post.response_json()["batch_id"]
                .as_str()
                .unwrap()
                .to_string();
            batches_by_body
                .entry(hex::encode(body_sha256(&post.request_body)))
                .or_default()
                .insert(batch);
        }
    }
    assert_eq!(batches_by_body.len(), CHUNKS);
    for (body, batches) in &batches_by_body {
        assert_eq!(batches.len(), 1, "body {body} made {batches:?}");
    }

    // Every digest delivered, exactly once after dropping repeats by key, with the
    // transitions the scenario implies.
    let outbox: Vec<(String, String, i64)> = {
        let mut statement = connection
            .prepare(
                "SELECT idempotency_key, state, json_extract(payload, '$.run_id') FROM outbox ORDER BY id",
            )
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert!(
        outbox.iter().all(|(_, state, _)| state == "delivered"),
        "{outbox:?}"
    );
    let mut by_key: BTreeMap<String, Vec<&ReceivedRequest>> = BTreeMap::new();
    for request in &bench.received {
        let key = request.idempotency_key.clone().expect("an Idempotency-Key");
        by_key.entry(key).or_default().push(request);
    }
    assert_eq!(
        by_key.keys().cloned().collect::<BTreeSet<_>>(),
        outbox
            .iter()
            .map(|(key, _, _)| key.clone())
            .collect::<BTreeSet<_>>(),
        "the receivers got the outbox's keys and no other"
    );
    let mut digest_of_run: BTreeMap<i64, Value> = BTreeMap::new();
    for (key, copies) in &by_key {
        assert!(
            copies.iter().all(|copy| copy.body == copies[0].body),
            "{key}: every copy is the same digest"
        );
        let payload: Value = serde_json::from_slice(&copies[0].body).unwrap();
        let run = payload["run"]["id"].as_i64().unwrap();
        assert!(
            digest_of_run.insert(run, payload).is_none(),
            "run {run}: one digest after dropping repeats"
        );
    }
    for (check, run) in bench.runs.iter().enumerate().skip(iteration) {
        let payload = digest_of_run
            .get(run)
            .unwrap_or_else(|| panic!("run {run} sent its digest"));
        let announced: BTreeSet<(String, String)> = payload["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| {
                (
                    alert["transition"].as_str().unwrap().to_string(),
                    alert["authorizer_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut expected = BTreeSet::new();
        for index in 0..ALERTING {
            let before = check > 0 && below(index, check - 1);
            match (before, below(index, check)) {
                (false, true) => expected.insert(("fired".to_string(), id(index))),
                (true, false) => expected.insert(("resolved".to_string(), id(index))),
                _ => false,
            };
        }
        assert_eq!(announced, expected, "run {run} (check {check})");
        assert_eq!(payload["omitted"], 0);
    }
    let firing: BTreeSet<String> = {
        let mut statement = connection
            .prepare("SELECT authorizer_unique_id FROM alerts WHERE state = 'firing'")
            .unwrap();
        statement
            .query_map(params![], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let expected: BTreeSet<String> = (0..ALERTING)
        .filter(|&index| below(index, iteration))
        .map(id)
        .collect();
    assert_eq!(
        firing, expected,
        "the alerts firing after check {iteration}"
    );
}
