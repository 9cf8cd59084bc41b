//! Issue 15: one run per monitor at a time, judged in order, with the real binary.
//!
//! Two `run-now` of one monitor at once, or a `run-now` beside the daemon's scheduled
//! run, used to overlap: the later run was answered from Rightfoot's 24-hour body cache
//! with the earlier run's batch, its chunks "completed" at once with no results, and it
//! was judged before the earlier run, sending a false critical `run_failed`. Here the
//! first run is held mid-read by the gate (never a sleep) while the second is tried.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::daemon::{csv, ids, run_now, scenario};
use crate::support::daemon::{
    ConfigSpec, Daemon, Database, MonitorSpec, slot_due_now, tail, yearly_cron,
};
use crate::support::gate::{Exchange, GatedSandbox, sandbox_config};
use crate::support::write_file;

/// Writes the configuration with a `run_failed` rule on every monitor.
fn write_config(spec: &ConfigSpec, dir: &Path) -> PathBuf {
    let mut yaml = spec.yaml();
    let mut files: Vec<&str> = spec.monitors.iter().map(|m| m.csv.as_str()).collect();
    files.dedup();
    for file in files {
        let line = format!("    authorizers: {{ csv: {file} }}\n");
        yaml = yaml.replace(
            &line,
            &format!("{line}    rules:\n      - run_failed: {{}}\n"),
        );
    }
    write_file(dir, "config.yaml", yaml.as_bytes(), 0o600)
}

fn read_only(path: &Path) -> Connection {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    connection
}

/// Every alert row of `rule` (`run_failed`), as (monitor, state).
fn alerts_of(database: &Path, rule: &str) -> Vec<(String, String)> {
    let connection = read_only(database);
    let mut statement = connection
        .prepare(
            "SELECT m.name, a.state FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
             WHERE a.rule LIKE ?1 ORDER BY a.rowid",
        )
        .unwrap();
    statement
        .query_map([format!("{rule}%")], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Each run's id and `alerts_evaluated_at`, in id order.
fn judged_at(database: &Path) -> Vec<(i64, Option<String>)> {
    let connection = read_only(database);
    let mut statement = connection
        .prepare("SELECT id, alerts_evaluated_at FROM runs ORDER BY id")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    sandbox: GatedSandbox,
    database: PathBuf,
}

/// A sandbox taking a second over its checks, and `count` authorizers in `payroll.csv`.
async fn setup(count: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let everyone = ids("PAY", count);
    let sandbox = GatedSandbox::start(sandbox_config(
        Duration::from_secs(1),
        scenario(&everyone, &[]),
    ))
    .await;
    write_file(dir.path(), "payroll.csv", csv(&everyone).as_bytes(), 0o600);
    let database = dir.path().join("balance-monitor.db");
    Setup {
        dir,
        sandbox,
        database,
    }
}

fn spawn_run_now(
    config: &Path,
    monitor: &str,
) -> tokio::task::JoinHandle<(Option<i32>, String, String)> {
    let config = config.to_path_buf();
    let monitor = monitor.to_string();
    tokio::spawn(async move { run_now(&config, &monitor).await })
}

/// Issue 15: a second `run-now` of a monitor whose run is going is refused, names that
/// run, and sends nothing; the first completes, and no false `run_failed` is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_a_second_run_now_of_a_busy_monitor_is_refused_naming_the_run_in_progress() {
    let Setup {
        dir,
        sandbox,
        database,
    } = setup(40).await;
    let spec = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("100ms")
        .result_deadline("1m")
        .monitor(MonitorSpec::new("payroll", "0 6 * * *", "payroll.csv"));
    let config = write_config(&spec, dir.path());

    let mut held = sandbox.hold_next("the first run's first results page", |e: &Exchange| {
        e.is_results_page()
    });
    let first = spawn_run_now(&config, "payroll");
    held.caught().await;

    let (code, stdout, stderr) = run_now(&config, "payroll").await;
    assert_eq!(code, Some(1), "refused with exit 1\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("monitor payroll has run 1 in progress (started ")
            && stderr.contains("try again when it ends"),
        "{stderr}"
    );
    assert_eq!(
        sandbox.submissions().len(),
        1,
        "the refused run sent nothing"
    );

    held.release();
    let (code, stdout, stderr) = first.await.unwrap();
    assert_eq!(code, Some(0), "the first run completes\n{stdout}\n{stderr}");
    let runs = Database::new(&database).runs();
    assert_eq!(runs.len(), 1, "the refused run was never created: {runs:?}");
    assert_eq!(runs[0].state, "complete");
    assert_eq!(alerts_of(&database, "run_failed"), Vec::new());
}

/// Issue 15: `run-now` beside the daemon's scheduled run is refused; once the daemon's
/// run ends, the next `run-now` (answered from Rightfoot's cache with the same batch)
/// is judged after it, and neither raises `run_failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_run_now_beside_the_scheduled_run_is_refused_and_runs_are_judged_in_order() {
    let Setup {
        dir,
        sandbox,
        database,
    } = setup(40).await;
    let slot = slot_due_now(&database, "payroll").await;
    let spec = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("100ms")
        .result_deadline("1m")
        .monitor(MonitorSpec::new(
            "payroll",
            &yearly_cron(slot),
            "payroll.csv",
        ));
    let config = write_config(&spec, dir.path());

    let mut held = sandbox.hold_next("the scheduled run's first results page", |e: &Exchange| {
        e.is_results_page()
    });
    let mut daemon = Daemon::start(&config);
    held.caught().await;

    let (code, stdout, stderr) = run_now(&config, "payroll").await;
    assert_eq!(code, Some(1), "refused with exit 1\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("monitor payroll has run 1 in progress"),
        "{stderr}"
    );

    held.release();
    daemon
        .wait_for("the scheduled run judged", |line| {
            line.is("alert rules judged the run") && line.run() == Some(1)
        })
        .await;
    let (code, stdout, stderr) = run_now(&config, "payroll").await;
    assert_eq!(
        code,
        Some(0),
        "the second run completes\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("served from Rightfoot's 24 h cache: 40"),
        "{stdout}"
    );
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert_eq!(stopped.status.code(), Some(0), "{}", tail(&stopped.log));

    assert_eq!(alerts_of(&database, "run_failed"), Vec::new());
    let judged = judged_at(&database);
    assert_eq!(judged.len(), 2, "{judged:?}");
    let (first, second) = (judged[0].1.clone(), judged[1].1.clone());
    assert!(
        first.is_some() && second.is_some() && first <= second,
        "judged in order: {judged:?}"
    );
}

/// Issue 15: a scheduled slot that comes while `run-now` is running the monitor is
/// recorded as skipped, naming the run in progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_a_slot_coming_while_run_now_runs_the_monitor_is_skipped_as_overlapping() {
    let Setup {
        dir,
        sandbox,
        database,
    } = setup(20).await;
    let spec = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("100ms")
        .result_deadline("1m")
        .monitor(MonitorSpec::new("payroll", "0 6 * * *", "payroll.csv"));
    let config = write_config(&spec, dir.path());
    let mut held = sandbox.hold_next("run-now's first results page", |e: &Exchange| {
        e.is_results_page()
    });
    let first = spawn_run_now(&config, "payroll");
    held.caught().await;

    let slot = slot_due_now(&database, "payroll").await;
    let spec = ConfigSpec {
        monitors: vec![MonitorSpec::new(
            "payroll",
            &yearly_cron(slot),
            "payroll.csv",
        )],
        ..spec
    };
    let config = write_config(&spec, dir.path());
    let mut daemon = Daemon::start(&config);
    daemon
        .wait_for("the slot skipped", |line| {
            line.message()
                .starts_with("slot skipped: monitor payroll has run 1 in progress")
        })
        .await;
    let events = Database::new(&database).schedule_events("payroll");
    assert!(
        events
            .iter()
            .any(|(outcome, _, reason)| outcome == "skipped" && reason == "overlapping run 1"),
        "{events:?}"
    );
    held.release();
    let (code, stdout, stderr) = first.await.unwrap();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert_eq!(stopped.status.code(), Some(0), "{}", tail(&stopped.log));
    assert_eq!(Database::new(&database).runs().len(), 1);
    assert_eq!(alerts_of(&database, "run_failed"), Vec::new());
}

/// Issue 15: a chunk answered from the cache with a batch another monitor's run is
/// still reading waits for those results instead of completing empty: its run is not
/// judged as having none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_a_chunk_linked_to_a_batch_still_being_read_waits_for_its_results() {
    let Setup {
        dir,
        sandbox,
        database,
    } = setup(30).await;
    let spec = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("100ms")
        .result_deadline("1m")
        .monitor(MonitorSpec::new("alpha", "0 6 * * *", "payroll.csv"))
        .monitor(MonitorSpec::new("beta", "0 6 * * *", "payroll.csv"));
    let config = write_config(&spec, dir.path());
    let mut held = sandbox.hold_next("alpha's first results page", |e: &Exchange| {
        e.is_results_page()
    });
    let mut alpha = spawn_run_now(&config, "alpha");
    tokio::select! {
        _ = held.caught() => {}
        ended = &mut alpha => panic!("alpha ended before reading its results: {ended:?}"),
    }
    let mut beta = spawn_run_now(&config, "beta");
    sandbox
        .wait_for("beta's submission", |e| {
            e.is_submission() && sandbox.submissions().len() >= 2
        })
        .await;
    // Answered from the cache with alpha's batch, which alpha is still reading: beta
    // must not end meanwhile (it used to end at once, with none of the results).
    let early = tokio::time::timeout(Duration::from_secs(3), &mut beta).await;
    assert!(
        early.is_err(),
        "beta ended before alpha's results existed: {early:?}"
    );
    held.release();
    let (code, stdout, stderr) = alpha.await.unwrap();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let (code, stdout, stderr) = beta.await.unwrap();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("served from Rightfoot's 24 h cache: 30"),
        "{stdout}"
    );
    assert_eq!(alerts_of(&database, "run_failed"), Vec::new());
}
