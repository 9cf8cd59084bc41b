//! The chaos suite: what the daemon does when everything around it misbehaves.
//!
//! - A Rightfoot that fails 30% of requests (500, 503 and 429 with `Retry-After`, 10%
//!   each), answers every request late, answers 404 for a while after a batch's 201,
//!   and cuts 10% of its good answers in half: the real `balance-monitor run` takes
//!   four monitors' runs to a terminal state (complete, partial or failed, with a
//!   reason when not complete), never panics, and exits 0 on SIGTERM. The sandbox adds
//!   the same delay to every answer (it has no random latency), so the "spikes" are
//!   its fixed latency stacked on the retries' backoff.
//! - The SMTP server and the webhook receiver down for an hour (nothing listens on
//!   their ports), then up: the outbox worker (`Outbox::run`, on paused time that moves
//!   only when the test moves it) retries on its backoff through the hour and delivers
//!   every digest, exactly once per idempotency key.
//! - A full disk: `run-now` under `ulimit -f` (RLIMIT_FSIZE, with SIGXFSZ ignored so a
//!   write past the limit fails with EFBIG instead of killing the process), which
//!   works unprivileged and as root alike (root ignores file modes, and a small tmpfs
//!   or a loop device needs privileges). It fails part-way through a run with an error
//!   naming the database and saying it cannot write; the runs stored before are intact, `integrity_check` is `ok`, and
//!   once the limit is gone the daemon resumes the interrupted run to its end.
//! - A read-only database: as root, the daemon is started in a private mount namespace
//!   (`unshare -m`) where the database's directory is bind-mounted read-only, since
//!   root ignores `chmod`; as another user, `chmod a-w` does it. Start-up fails with
//!   an error naming the database and saying it is read-only; nothing is changed, and
//!   the daemon starts normally afterwards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use balance_monitor::alerting::{Alerting, Outbox};
use balance_monitor::clock::Clock;
use balance_monitor::config;
use balance_monitor::notify::Notifier;
use balance_monitor::notify::email::message_id;
use balance_monitor::sandbox::{FaultConfig, Scenario};
use balance_monitor::secret::Environment;
use balance_monitor::store::Store;
use chrono::{DateTime, TimeDelta, Utc};
use mail_parser::MessageParser;
use rusqlite::{Connection, OpenFlags};
use tokio_util::sync::CancellationToken;

use crate::support::daemon::{
    API_KEY_ENV, ConfigSpec, Daemon, Database, MonitorSpec, PATIENCE, StoredResult, slot_due_now,
    tail, yearly_cron,
};
use crate::support::gate::{GatedSandbox, sandbox_config};
use crate::support::history::{KEY_ENV, Seen, march, seed_run};
use crate::support::receiver::Receiver;
use crate::support::sandbox::{CsvRow, SANDBOX_KEY, authorizers_csv};
use crate::support::smtp::{SmtpServer, SmtpSettings};
use crate::support::{binary, vacant_loopback_addr, write_file};

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}-{n:04}")).collect()
}

fn csv(ids: &[String]) -> String {
    let rows: Vec<CsvRow> = ids.iter().map(CsvRow::bank).collect();
    authorizers_csv(&rows, &[])
}

fn assert_no_panic(log: &[crate::support::daemon::LogLine]) {
    assert!(
        !log.iter().any(|l| l.raw.contains("panicked")),
        "{}",
        tail(log)
    );
}

fn integrity_check(database: &Path) -> String {
    let connection =
        Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

const FAULTY_MONITORS: usize = 4;

/// Four monitors, each with one slot due now and 250 authorizers in three chunks,
/// against a sandbox that fails, delays, 404s and truncates: every run ends in a
/// terminal state, with a reason unless complete; the faults did happen; no panic;
/// SIGTERM exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rightfoot_failing_30_percent_of_requests_leaves_every_run_terminal_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(Duration::from_secs(1), Scenario::default());
    config.seed = std::env::var("BALANCE_MONITOR_CHAOS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!(
        "chaos seed {0} (BALANCE_MONITOR_CHAOS_SEED={0} repeats the sandbox's draws)",
        config.seed
    );
    config.faults = FaultConfig {
        error_500_percent: 10,
        error_503_percent: 10,
        error_429_percent: 10,
        retry_after: Duration::from_secs(1),
        latency: Duration::from_millis(30),
        not_found_after_create: Duration::from_secs(2),
        malformed_percent: 10,
    };
    let sandbox = GatedSandbox::start(config).await;
    let database = dir.path().join("balance-monitor.db");
    let mut spec = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("1s")
        .result_deadline("60s");
    for n in 0..FAULTY_MONITORS {
        let name = format!("chaos-{n}");
        let csv_name = format!("{name}.csv");
        write_file(
            dir.path(),
            &csv_name,
            csv(&ids(&format!("X{n}"), 250)).as_bytes(),
            0o600,
        );
        let slot = slot_due_now(&database, &name).await;
        spec = spec.monitor(MonitorSpec::new(&name, &yearly_cron(slot), &csv_name));
    }
    let text = spec
        .yaml()
        .replacen("rightfoot:\n", "rightfoot:\n  max_batch_size: 100\n", 1);
    let config = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);

    let mut daemon = Daemon::start(&config);
    for _ in 0..FAULTY_MONITORS {
        daemon
            .wait_for("a run finishing", |l| l.is("run finished"))
            .await;
    }
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert_eq!(stopped.status.code(), Some(0), "{}", tail(&stopped.log));
    assert_no_panic(&stopped.log);

    let db = Database::new(&database);
    let runs = db.runs();
    assert_eq!(runs.len(), FAULTY_MONITORS, "{runs:#?}");
    for run in &runs {
        assert!(
            ["complete", "partial", "failed"].contains(&run.state.as_str()),
            "{run:?}"
        );
        if run.state != "complete" {
            assert!(
                run.reason.as_deref().is_some_and(|r| !r.is_empty()),
                "a run that is not complete says why: {run:?}"
            );
        }
        // Each authorizer once: a result, or (a chunk never accepted) none at all.
        let results = db.results_of(run.id);
        let distinct: BTreeSet<&str> = results.iter().map(|r| r.authorizer.as_str()).collect();
        assert_eq!(distinct.len(), results.len());
        assert!(results.len() <= 250);
        eprintln!(
            "run {} of {}: {} {:?}, {} results",
            run.id,
            run.monitor,
            run.state,
            run.reason,
            results.len()
        );
    }
    assert_eq!(integrity_check(&database), "ok");

    // The faults happened.
    let exchanges = sandbox.exchanges();
    for status in [500, 503, 429] {
        assert!(
            exchanges.iter().any(|e| e.status == status),
            "no {status} was injected"
        );
    }
    assert!(
        exchanges
            .iter()
            .any(|e| e.is_results_page() && e.status == 404),
        "no 404 after a create"
    );
    assert!(
        exchanges.iter().any(|e| e.status < 300
            && serde_json::from_slice::<serde_json::Value>(&e.response_body).is_err()),
        "no answer was cut short"
    );
}

const MONITOR: &str = "morning-ach";
const MAIL_DOMAIN: &str = "lender.example";

/// Keeps paused time still but for `tokio::time::advance` (see `tests/outbox.rs`).
struct StillTime {
    _release: std::sync::mpsc::Sender<()>,
}

fn hold_paused_time() -> StillTime {
    let (release, released) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = released.recv();
    });
    StillTime { _release: release }
}

/// One outbox row: (route, key, state, attempts, next attempt, last error).
type Row = (String, String, String, u32, DateTime<Utc>, Option<String>);

fn outbox_rows(database: &Path) -> Vec<Row> {
    let connection =
        Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT route, idempotency_key, state, attempts, next_attempt_at, last_error \
             FROM outbox ORDER BY id",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            let next: String = row.get(4)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                DateTime::parse_from_rfc3339(&next).unwrap().to_utc(),
                row.get(5)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Waits, with paused time held still, until the outbox rows satisfy `done`: the worker
/// runs on this thread, the store's writer on its own, so this yields and checks again
/// (with a short real pause on the blocking pool) for at most 20 s of real time.
async fn until_rows(database: &Path, what: &str, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let started = Instant::now();
    loop {
        let rows = outbox_rows(database);
        if done(&rows) {
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s of real time: {rows:#?}"
        );
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)))
            .await
            .unwrap();
    }
}

/// Both routes' servers are down for an hour: the worker tries every digest on its
/// backoff (30 s, 1 min, 2 min... 30 min), recording each failure and failing none;
/// then both come up on their ports and every digest is delivered, the webhook's under
/// its `Idempotency-Key` and the email's under the `Message-ID` the key gives, each
/// exactly once.
#[tokio::test(start_paused = true)]
async fn smtp_and_webhook_down_for_an_hour_then_every_digest_is_delivered_once() {
    let _still = hold_paused_time();
    let hook_addr = vacant_loopback_addr();
    let smtp_addr = vacant_loopback_addr();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "rightfoot:\n  api_key_env: {KEY_ENV}\nstorage:\n  path: state.db\nmonitors:\n  \
         - name: {MONITOR}\n    schedule: \"0 9 * * 1-5\"\n    authorizers: {{ csv: authorizers.csv }}\n    \
         rules:\n      - balance_below: {{ amount: 100.00 }}\n    routes: [hook, mail]\n    \
         send_resolved: true\nroutes:\n  hook:\n    webhook:\n      url: http://{hook_addr}/hooks/balance-alerts\n      \
         timeout: 10s\n  mail:\n    email:\n      transport: smtp\n      from: \"balance-monitor <alerts@{MAIL_DOMAIN}>\"\n      \
         to: [\"collections@{MAIL_DOMAIN}\"]\n      smtp_host: 127.0.0.1\n      smtp_port: {}\n      tls: none\n      \
         timeout: 10s\n",
        smtp_addr.port()
    );
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let env = Environment::from_pairs([(KEY_ENV, "rf_test_key")]);
    let config = config::load(&path, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let database = dir.path().join("state.db");
    let store = Store::open(&database).unwrap();
    let start = march(10, 16);
    let clock = Clock::following_tokio(start);
    let alerting = Alerting::new(store.clone(), clock.clone(), Arc::new(config));
    let outbox = Outbox::new(alerting.clone(), Notifier::new(clock.clone()).unwrap());
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(outbox.run(cancel.clone()));

    // Three runs, each announcing something: A-1 fires, A-2 fires, A-1 resolves.
    for (hour, a1, a2) in [(13, 5_000, 50_000), (14, 4_000, 9_000), (15, 60_000, 8_000)] {
        seed_run(
            &store,
            MONITOR,
            march(10, hour),
            &format!("BATCH-{hour}"),
            &[("A-1", Seen::Balance(a1)), ("A-2", Seen::Balance(a2))],
        )
        .await;
    }
    let judged = alerting.judge_pending(MONITOR).await;
    assert_eq!(judged.len(), 3);
    assert!(judged.iter().all(Result::is_ok), "{judged:?}");

    let mut attempts = 1;
    let rows = loop {
        let rows = until_rows(&database, &format!("attempt {attempts}"), |rows| {
            rows.len() == 6
                && rows
                    .iter()
                    .all(|row| row.2 == "pending" && row.3 == attempts)
        })
        .await;
        for (route, _, _, _, _, error) in &rows {
            let error = error.as_deref().unwrap_or_default();
            let expected = match route.as_str() {
                "hook" => "route hook: webhook request failed",
                _ => "route mail: smtp: ",
            };
            assert!(error.starts_with(expected), "{error}");
        }
        if clock.now() - start >= TimeDelta::hours(1) {
            break rows;
        }
        let next = rows.iter().map(|row| row.4).max().unwrap();
        tokio::time::advance((next - clock.now()).to_std().unwrap()).await;
        attempts += 1;
    };
    // 0, 30 s, 1.5 min, 3.5 min, 7.5 min, 15.5 min, 31.5 min, 61.5 min (+ jitter).
    assert_eq!(attempts, 8, "attempts through the hour");

    let receiver = Receiver::start_on(hook_addr, None, Vec::new()).await;
    let smtp = SmtpServer::start_on(smtp_addr, SmtpSettings::default(), 0).await;
    let next = rows.iter().map(|row| row.4).max().unwrap();
    assert!(
        next - clock.now() <= TimeDelta::minutes(33),
        "the next attempt is at most 30 min (+ jitter) away"
    );
    tokio::time::advance((next - clock.now()).to_std().unwrap()).await;
    let rows = until_rows(&database, "every digest delivered", |rows| {
        rows.iter().all(|row| row.2 == "delivered")
    })
    .await;
    cancel.cancel();
    worker.await.unwrap();
    assert!(rows.iter().all(|row| row.3 == attempts + 1), "{rows:#?}");

    let keys = |route: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|row| row.0 == route)
            .map(|row| row.1.clone())
            .collect()
    };
    let requests = receiver.requests();
    let received: Vec<String> = requests
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(received.len(), 3, "one request per digest: {received:?}");
    assert_eq!(received.into_iter().collect::<BTreeSet<_>>(), keys("hook"));
    let mails: Vec<String> = smtp
        .mails()
        .iter()
        .map(|mail| {
            let message = MessageParser::default().parse(&mail.data).unwrap();
            format!("<{}>", message.message_id().unwrap())
        })
        .collect();
    assert_eq!(mails.len(), 3, "one message per digest: {mails:?}");
    let expected: BTreeSet<String> = keys("mail")
        .iter()
        .map(|key| message_id(key, MAIL_DOMAIN))
        .collect();
    assert_eq!(mails.into_iter().collect::<BTreeSet<_>>(), expected);
    let metrics = store.metrics_snapshot().await.unwrap();
    assert_eq!((metrics.outbox_failed, metrics.outbox_pending), (0, 0));
}

/// Runs the binary (through `sh -c PREFIX`, which ends with `exec "$@"`) with `args`
/// in `dir`: (exit code, stdout, stderr).
async fn binary_through(dir: &Path, prefix: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(prefix)
        .arg("sh")
        .arg(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(API_KEY_ENV, SANDBOX_KEY)
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .expect("the command ends")
        .expect("sh starts");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A directory with a monitor of `count` authorizers against a fresh sandbox, and one
/// complete `run-now` stored in its database.
struct Stored {
    dir: tempfile::TempDir,
    sandbox: GatedSandbox,
    database: PathBuf,
    results: Vec<StoredResult>,
}

impl Stored {
    async fn new(count: usize) -> Stored {
        let dir = tempfile::tempdir().unwrap();
        let sandbox =
            GatedSandbox::start(sandbox_config(Duration::ZERO, Scenario::default())).await;
        write_file(
            dir.path(),
            "disk.csv",
            csv(&ids("D", count)).as_bytes(),
            0o600,
        );
        let database = dir.path().join("balance-monitor.db");
        ConfigSpec::new(&sandbox.url, &database)
            .poll_interval("100ms")
            .monitor(MonitorSpec::new("disk", "0 6 * * *", "disk.csv"))
            .write(dir.path());
        let (code, stdout, stderr) = binary_through(
            dir.path(),
            "exec \"$@\"",
            &["--config", "config.yaml", "run-now", "disk"],
        )
        .await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        let results = Database::new(&database).results();
        assert_eq!(results.len(), count);
        Stored {
            dir,
            sandbox,
            database,
            results,
        }
    }

    /// The daemon, without limits, until every run is finished; then SIGTERM.
    async fn recover(&self) {
        let mut daemon = Daemon::start(&self.dir.path().join("config.yaml"));
        daemon
            .wait_for("the start", |l| l.is("balance-monitor started"))
            .await;
        let db = Database::new(&self.database);
        daemon
            .wait_until("every run finished", |_| {
                db.runs()
                    .iter()
                    .all(|run| !["pending", "running"].contains(&run.state.as_str()))
            })
            .await;
        daemon.signal("TERM");
        let stopped = daemon.exit().await;
        assert_eq!(stopped.status.code(), Some(0), "{}", tail(&stopped.log));
        assert_no_panic(&stopped.log);
    }
}

/// A disk that fills up during a run: `run-now` of 2,000 authorizers with files
/// limited to about 200 KiB more than they hold fails part-way with exit 1 and an
/// error naming the database and saying it cannot write to the disk. The run stored
/// before is intact and `integrity_check` is `ok`; with the limit gone, the daemon
/// resumes the interrupted run to its end and Rightfoot checks nobody twice.
///
/// Regression: SQLite reports a write refused by the file size limit (EFBIG) as
/// `SQLITE_IOERR_WRITE`, which read "disk I/O error: disk I/O error: disk I/O error:
/// Error code 778: disk I/O error" and did not say that nothing more could be saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_clear_error_and_the_daemon_recovers_once_space_returns() {
    let stored = Stored::new(2_000).await;
    let checks_before = stored.sandbox.handle.checks_performed();
    // The stored run is still in the write-ahead log (`run-now` ends without a
    // checkpoint), which new writes are appended to: room for about 200 KiB more in
    // any one file, less than the run's plan and results need.
    let largest = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", stored.database.display())).ok()
        })
        .map(|metadata| metadata.len())
        .max()
        .unwrap();
    let blocks = (largest + 200 * 1024) / 512;
    // Past Rightfoot's body cache, so the same list is checked again.
    stored.sandbox.advance(Duration::from_secs(25 * 3600));

    // `ulimit -f` counts 512-byte blocks in POSIX sh (dash).
    let (code, stdout, stderr) = binary_through(
        stored.dir.path(),
        &format!("ulimit -f {blocks} && trap '' XFSZ && exec \"$@\""),
        &["--config", "config.yaml", "run-now", "disk"],
    )
    .await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("panicked"),
        "a full disk is an error, not a panic:\n{stderr}"
    );
    let path = stored.database.display().to_string();
    let error = stderr
        .lines()
        .find(|line| line.contains("error"))
        .unwrap_or_else(|| panic!("an error line in:\n{stderr}"));
    assert!(
        error.contains(&path)
            && (error.contains("the disk is full") || error.contains("cannot write to the disk")),
        "the error names the database and the cause: {error}\n{stderr}"
    );

    assert_eq!(integrity_check(&stored.database), "ok");
    let db = Database::new(&stored.database);
    assert_eq!(
        db.results_of(1),
        stored.results,
        "the run stored before is intact"
    );
    assert_eq!(db.run(1).state, "complete");

    stored.recover().await;
    assert_eq!(integrity_check(&stored.database), "ok");
    assert_eq!(db.results_of(1), stored.results);
    let runs = db.runs();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[1].state, "complete", "{runs:#?}");
    let results = db.results_of(runs[1].id);
    assert_eq!(results.len(), 2_000);
    assert_eq!(
        stored.sandbox.handle.checks_performed(),
        checks_before + 2_000,
        "nobody checked twice"
    );
}

/// Whether this process runs as root (who ignores file modes).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// A database on a read-only file system (or, for a user other than root, a read-only
/// file in a read-only directory): the daemon refuses to start with exit 1 and an
/// error naming the database and saying it is read-only; the file is unchanged
/// (`integrity_check` ok, the run stored before intact), and once writable again the
/// daemon starts and stops normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_is_a_clear_error_and_nothing_changes() {
    use std::os::unix::fs::PermissionsExt as _;
    let stored = Stored::new(20).await;
    let dir = stored.dir.path();
    let bytes_before = std::fs::read(&stored.database).unwrap();
    let args = ["--config", "config.yaml", "run"];
    let (code, stdout, stderr) = if running_as_root() {
        let prefix = format!(
            "exec unshare -m sh -c 'mount --bind -o ro {0} {0} && exec \"$@\"' sh \"$@\"",
            dir.display()
        );
        binary_through(dir, &prefix, &args).await
    } else {
        let mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        mode(&stored.database, 0o444);
        mode(dir, 0o555);
        let answer = binary_through(dir, "exec \"$@\"", &args).await;
        mode(dir, 0o755);
        mode(&stored.database, 0o644);
        answer
    };
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let path = stored.database.display().to_string();
    let error = stderr
        .lines()
        .find(|line| line.contains("error"))
        .unwrap_or_else(|| panic!("an error line in:\n{stderr}"));
    assert!(
        error.contains(&path) && error.contains("read-only"),
        "the error names the database and the cause: {error}\n{stderr}"
    );
    assert_eq!(
        std::fs::read(&stored.database).unwrap(),
        bytes_before,
        "the file is unchanged"
    );
    assert_eq!(integrity_check(&stored.database), "ok");
    stored.recover().await;
    assert_eq!(Database::new(&stored.database).results(), stored.results);
}
