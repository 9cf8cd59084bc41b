//! The real binary: `balance-monitor run` killed, stopped and reloaded, and `run-now`.
//!
//! Each test serves the built-in sandbox in process behind a gate (`support::gate`)
//! that records every exchange and can hold an answer, runs `balance-monitor` as a
//! child process against it (`support::daemon`), and learns what the daemon is doing
//! from its JSON log and the gate, never from a sleep. Crashes are real: SIGKILL, then
//! a new process on the same database. What is checked afterwards is what Rightfoot
//! saw (batches created, bodies posted) and what the database holds (one result per
//! authorizer, run and chunk states).
//!
//! The crash tests use a monitor with one slot a year whose slot has just come
//! (`slot_due_now`), so exactly one run exists and no other slot interferes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use balance_monitor::rightfoot::body_sha256;
use balance_monitor::sandbox::Scenario;
use chrono::{SubsecRound as _, TimeDelta};

use crate::support::daemon::{
    ConfigSpec, Daemon, Database, LogLine, MonitorSpec, run_finished, slot_due_now, tail,
    yearly_cron,
};
use crate::support::gate::{Exchange, GatedSandbox, sandbox_config};
use crate::support::sandbox::{CsvRow, authorizers_csv};
use crate::support::write_file;

/// Authorizer ids `<prefix>-000`, `<prefix>-001`, ...
pub(crate) fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}-{n:03}")).collect()
}

/// The balance the scenario gives the authorizer at `index`, in cents: distinct per
/// authorizer, so a result stored under the wrong id shows.
fn scripted_cents(index: usize) -> i64 {
    (100 + index as i64) * 100 + (index as i64 % 100)
}

/// A scenario giving each of `ids` its [`scripted_cents`] balance, except the
/// `failures` (id, outcome word) listed.
pub(crate) fn scenario(ids: &[String], failures: &[(&str, &str)]) -> Scenario {
    let mut text = String::from("authorizers:\n");
    for (index, id) in ids.iter().enumerate() {
        let outcome = match failures.iter().find(|(failing, _)| failing == id) {
            Some((_, word)) => (*word).to_string(),
            None => {
                let cents = scripted_cents(index);
                format!("{}.{:02}", cents / 100, cents % 100)
            }
        };
        text.push_str(&format!("  {id}: [{outcome}]\n"));
    }
    Scenario::from_yaml(&text, std::path::Path::new("scenario.yaml")).unwrap()
}

pub(crate) fn csv(ids: &[String]) -> String {
    let rows: Vec<CsvRow> = ids.iter().map(CsvRow::bank).collect();
    authorizers_csv(&rows, &[])
}

/// A sandbox behind the gate, a temporary directory with an authorizers CSV and a
/// configuration whose one monitor, `payday`, has one slot a year that has just come.
struct OneSlot {
    dir: tempfile::TempDir,
    sandbox: GatedSandbox,
    spec: ConfigSpec,
    config: PathBuf,
    database: Database,
    ids: Vec<String>,
}

const MONITOR: &str = "payday";

impl OneSlot {
    async fn new(ids: Vec<String>, processing_time: Duration, result_deadline: &str) -> OneSlot {
        let dir = tempfile::tempdir().unwrap();
        let sandbox =
            GatedSandbox::start(sandbox_config(processing_time, scenario(&ids, &[]))).await;
        write_file(dir.path(), "payday.csv", csv(&ids).as_bytes(), 0o600);
        let database = dir.path().join("balance-monitor.db");
        let slot = slot_due_now(&database, MONITOR).await;
        let spec = ConfigSpec::new(&sandbox.url, &database)
            .result_deadline(result_deadline)
            .monitor(MonitorSpec::new(MONITOR, &yearly_cron(slot), "payday.csv"));
        let config = spec.write(dir.path());
        OneSlot {
            dir,
            spec,
            sandbox,
            config,
            database: Database::new(&database),
            ids,
        }
    }

    fn start(&self) -> Daemon {
        Daemon::start(&self.config)
    }

    /// Rewrites the configuration with another `poll_interval`.
    fn set_poll_interval(&mut self, interval: &str) {
        self.spec = self.spec.clone().poll_interval(interval);
        self.spec.write(self.dir.path());
    }

    /// The run of the slot: the only run in the database.
    fn the_run(&self) -> i64 {
        let runs = self.database.runs();
        assert_eq!(runs.len(), 1, "one slot, one run: {runs:#?}");
        assert_eq!(runs[0].monitor, MONITOR);
        assert_eq!(runs[0].trigger, "schedule");
        runs[0].id
    }

    /// Asserts that run `run` holds exactly one retrieved result per authorizer, with
    /// the scripted balance, and that no other run holds any result.
    fn assert_one_scripted_result_each(&self, run: i64) {
        let results = self.database.results();
        let mut per_authorizer: BTreeMap<&str, usize> = BTreeMap::new();
        for result in &results {
            *per_authorizer.entry(&result.authorizer).or_default() += 1;
            assert_eq!(result.run, run, "a result outside the run: {result:?}");
        }
        let expected: BTreeMap<&str, usize> = self.ids.iter().map(|id| (id.as_str(), 1)).collect();
        assert_eq!(
            per_authorizer, expected,
            "exactly one result per authorizer"
        );
        for (index, id) in self.ids.iter().enumerate() {
            let result = results.iter().find(|r| &r.authorizer == id).unwrap();
            assert_eq!(
                (
                    result.outcome.as_str(),
                    result.status_code,
                    result.balance_cents
                ),
                ("retrieved", Some(0), Some(scripted_cents(index))),
                "{id}"
            );
        }
    }
}

/// Stops a daemon with SIGTERM and checks that it exits 0 without a forced stop.
async fn stop(daemon: Daemon) {
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert_eq!(
        stopped.status.code(),
        Some(0),
        "SIGTERM is a clean stop:\n{}",
        tail(&stopped.log)
    );
}

/// The daemon is killed after Rightfoot created the batch and before the 201 reached
/// it, so the database has the chunk in `submitting` with no batch id. The next start
/// sends the very same bytes, Rightfoot's 24-hour body cache answers with the same
/// batch, and the run completes with one batch and one result per authorizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_rightfoots_201_and_storing_the_batch_id_resends_identical_bytes_and_makes_one_batch()
 {
    let setup = OneSlot::new(ids("K", 7), Duration::ZERO, "10m").await;
    let mut held = setup
        .sandbox
        .hold_next("the first submission", Exchange::is_submission);
    let daemon = setup.start();
    let first = held.caught().await;
    assert_eq!(first.status, 201);
    assert_eq!(
        setup.sandbox.handle.batches_created(),
        1,
        "the batch exists before the 201 leaves"
    );
    daemon.kill().await;
    held.release();

    let run = setup.the_run();
    assert_eq!(setup.database.run(run).state, "running");
    let chunks = setup.database.chunks(run);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].state, "submitting", "{chunks:?}");
    assert!(
        chunks[0].first_attempt_at.is_some(),
        "the attempt was recorded before the POST"
    );
    assert_eq!(chunks[0].rightfoot_batch_id, None, "the 201 never arrived");
    assert!(setup.database.results().is_empty());

    let mut daemon = setup.start();
    daemon
        .wait_for("run 1 resumed", |l| {
            l.is("run resumed") && l.run() == Some(run)
        })
        .await;
    let end = daemon
        .wait_for("the end of the run", run_finished(run))
        .await;
    assert_eq!(
        end.text("state").as_deref(),
        Some("complete"),
        "{}",
        end.raw
    );
    stop(daemon).await;

    let posts = setup.sandbox.submissions();
    assert_eq!(posts.len(), 2, "one POST per process");
    assert_eq!(
        body_sha256(&posts[1].request_body),
        body_sha256(&posts[0].request_body),
        "the resent body is byte-for-byte the first"
    );
    let batch_id = first.response_json()["batch_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(posts[1].response_json()["batch_id"], batch_id.as_str());
    assert_eq!(
        setup.sandbox.handle.batches_created(),
        1,
        "one batch, not two"
    );
    assert_eq!(setup.sandbox.handle.checks_performed(), 7);
    let chunks = setup.database.chunks(run);
    assert_eq!(chunks[0].state, "complete");
    assert_eq!(
        chunks[0].rightfoot_batch_id.as_deref(),
        Some(batch_id.as_str())
    );
    assert_eq!(chunks[0].cached_from, None, "the run owns its batch");
    assert_eq!(setup.the_run(), run);
    setup.assert_one_scripted_result_each(run);
}

/// The daemon is killed while a later results page is on its way: the pages before it
/// are stored, the rest are not. The next start reads the batch again (without posting
/// again) and every authorizer ends with exactly one result, the one Rightfoot gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_reading_result_pages_the_restart_reads_them_again_and_keeps_one_result_per_authorizer()
 {
    let seed = std::env::var("BALANCE_MONITOR_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("seed {seed} (set BALANCE_MONITOR_TEST_SEED={seed} to repeat)");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Pages hold 100 results: two to four pages, killed before one of the later ones.
    let count = rng.usize(150..400);
    let pages = count.div_ceil(100);
    let held_page = rng.usize(2..=pages);
    eprintln!("{count} authorizers in {pages} pages; holding page {held_page}");

    let setup = OneSlot::new(ids("P", count), Duration::ZERO, "10m").await;
    let later_pages = Arc::new(AtomicUsize::new(0));
    let mut held = {
        let later_pages = Arc::clone(&later_pages);
        setup
            .sandbox
            .hold_next("the held results page", move |exchange| {
                exchange.is_results_page()
                    && exchange.param("nextPageToken").is_some()
                    && later_pages.fetch_add(1, Ordering::SeqCst) + 2 == held_page
            })
    };
    let daemon = setup.start();
    let page = held.caught().await;
    assert_eq!(page.status, 200);
    let run = setup.the_run();
    assert_eq!(
        setup.database.results_of(run).len(),
        (held_page - 1) * 100,
        "each page is stored before the next is asked for"
    );
    daemon.kill().await;
    held.release();
    assert_eq!(setup.database.chunks(run)[0].state, "reading");
    assert_eq!(setup.database.run(run).state, "running");

    let mut daemon = setup.start();
    daemon
        .wait_for("run 1 resumed", |l| {
            l.is("run resumed") && l.run() == Some(run)
        })
        .await;
    let end = daemon
        .wait_for("the end of the run", run_finished(run))
        .await;
    assert_eq!(
        end.text("state").as_deref(),
        Some("complete"),
        "{}",
        end.raw
    );
    stop(daemon).await;

    assert_eq!(
        setup.sandbox.submissions().len(),
        1,
        "the batch was not posted again"
    );
    assert_eq!(setup.sandbox.handle.batches_created(), 1);
    setup.assert_one_scripted_result_each(run);
    assert_eq!(setup.database.chunks(run)[0].state, "complete");
}

/// Results that never complete (the sandbox takes an hour, the deadline is three
/// seconds): half appear before the first read, the daemon is killed while its read at
/// the deadline is on the wire, and the next start ends the run `partial` with the
/// missing half recorded `not_retrieved`, each authorizer once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_the_result_deadline_the_restart_records_the_missing_not_retrieved_once_and_ends_partial()
 {
    const DEADLINE: TimeDelta = TimeDelta::seconds(3);
    let mut setup = OneSlot::new(ids("D", 10), Duration::from_secs(3600), "3s").await;
    // Polling as often as the deadline: one read right after the 201, one at the
    // deadline.
    setup.set_poll_interval("3s");
    let mut created = setup
        .sandbox
        .hold_next("the submission", Exchange::is_submission);
    // The first read the daemon sends at or after its deadline (Rightfoot's
    // `submitted_at`, whole seconds on the wire, plus `result_deadline`): the one
    // after which it gives up.
    let mut at_deadline = {
        let sandbox = setup.sandbox.handle.clone();
        setup
            .sandbox
            .hold_next("the read at the deadline", move |exchange| {
                exchange.is_results_page()
                    && exchange
                        .param("batchId")
                        .and_then(|id| sandbox.batch(&id))
                        .is_some_and(|batch| {
                            exchange.at >= batch.submitted_at.trunc_subsecs(0) + DEADLINE
                        })
            })
    };
    let daemon = setup.start();
    assert_eq!(created.caught().await.status, 201);
    // Results appear one by one over the hour: half of them after 30 minutes.
    setup.sandbox.advance(Duration::from_secs(1800));
    created.release();
    let read = at_deadline.caught().await;
    let run = setup.the_run();
    // Reads are sequential: the one right after the 201 is stored by now.
    let before = setup.database.results_of(run);
    assert_eq!(
        before.len(),
        5,
        "the first read stored what was there: {before:#?}"
    );
    assert!(
        before.iter().all(|r| r.outcome == "retrieved"),
        "nothing is given up before the deadline: {before:#?}"
    );
    daemon.kill().await;
    at_deadline.release();
    assert_eq!(setup.database.chunks(run)[0].state, "reading");

    let mut daemon = setup.start();
    let end = daemon
        .wait_for("the end of the run", run_finished(run))
        .await;
    assert_eq!(end.text("state").as_deref(), Some("partial"), "{}", end.raw);
    daemon
        .log()
        .iter()
        .find(|l| l.is("result deadline passed") && l.run() == Some(run))
        .unwrap_or_else(|| panic!("the deadline was logged:\n{}", tail(daemon.log())));
    stop(daemon).await;

    // The results Rightfoot had at the deadline are the ones the held read carried.
    let visible: BTreeSet<String> = read.response_json()["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["authorizer_unique_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(visible.len(), 5, "half the results after half the hour");
    let results = setup.database.results();
    assert_eq!(results.len(), 10, "one row per authorizer: {results:#?}");
    let stored: BTreeSet<&str> = results.iter().map(|r| r.authorizer.as_str()).collect();
    assert_eq!(stored, setup.ids.iter().map(String::as_str).collect());
    for result in &results {
        assert_eq!(result.run, run);
        if visible.contains(&result.authorizer) {
            assert_eq!(result.outcome, "retrieved", "{result:?}");
        } else {
            assert_eq!(result.outcome, "not_retrieved", "{result:?}");
            assert!(
                result.reason.as_deref().unwrap_or("").contains("deadline"),
                "{result:?}"
            );
        }
    }
    let stored_run = setup.database.run(run);
    assert_eq!(stored_run.state, "partial");
    assert!(
        stored_run
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("5 not retrieved"),
        "{stored_run:?}"
    );
    assert_eq!(setup.sandbox.submissions().len(), 1);
    assert_eq!(setup.sandbox.handle.batches_created(), 1);
}

/// SIGTERM while the POST is on the wire: the daemon lets the POST finish and records
/// its 201 before it exits 0, so the next start only reads the batch. Rightfoot sees
/// one POST in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_posting_records_the_201_exits_0_and_the_next_start_completes_without_posting_again()
 {
    let setup = OneSlot::new(ids("T", 5), Duration::ZERO, "10m").await;
    let mut held = setup
        .sandbox
        .hold_next("the submission", Exchange::is_submission);
    let mut daemon = setup.start();
    let post = held.caught().await;
    daemon.signal("TERM");
    daemon
        .wait_for("the stop", |l| l.message().starts_with("stopping"))
        .await;
    held.release();
    let stopped = daemon.exit().await;
    assert_eq!(
        stopped.status.code(),
        Some(0),
        "SIGTERM exits 0:\n{}",
        tail(&stopped.log)
    );
    assert!(
        stopped
            .find(|l| l.message().contains("did not stop within"))
            .is_none(),
        "the run reached a durable step in time"
    );
    let run = setup.the_run();
    assert!(
        stopped
            .find(|l| l.message().starts_with("run stopped at a durable step")
                && l.run() == Some(run))
            .is_some(),
        "{}",
        tail(&stopped.log)
    );
    assert_eq!(setup.database.run(run).state, "running", "resumable");
    let batch_id = post.response_json()["batch_id"]
        .as_str()
        .unwrap()
        .to_string();
    let chunks = setup.database.chunks(run);
    assert_eq!(chunks[0].state, "submitted", "{chunks:?}");
    assert_eq!(
        chunks[0].rightfoot_batch_id.as_deref(),
        Some(batch_id.as_str())
    );

    let mut daemon = setup.start();
    let end = daemon
        .wait_for("the end of the run", run_finished(run))
        .await;
    assert_eq!(
        end.text("state").as_deref(),
        Some("complete"),
        "{}",
        end.raw
    );
    stop(daemon).await;
    assert_eq!(setup.sandbox.submissions().len(), 1, "no second POST");
    assert_eq!(setup.sandbox.handle.batches_created(), 1);
    setup.assert_one_scripted_result_each(run);
}

/// SIGTERM while the daemon waits for results that take an hour: it stops at once,
/// exits 0, and leaves the run resumable; once Rightfoot has the results, the next
/// start reads them, completing the run without a second batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_waiting_for_results_exits_0_and_the_next_start_completes_the_run() {
    let setup = OneSlot::new(ids("W", 6), Duration::from_secs(3600), "2h").await;
    let mut daemon = setup.start();
    daemon
        .wait_for("the 201 recorded", |l| l.is("chunk submitted"))
        .await;
    setup
        .sandbox
        .wait_for("a read", Exchange::is_results_page)
        .await;
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert_eq!(
        stopped.status.code(),
        Some(0),
        "SIGTERM exits 0:\n{}",
        tail(&stopped.log)
    );
    let run = setup.the_run();
    assert_eq!(setup.database.run(run).state, "running", "resumable");
    assert_eq!(setup.database.chunks(run)[0].state, "reading");
    assert!(setup.database.results().is_empty());

    setup.sandbox.advance(Duration::from_secs(3600));
    let mut daemon = setup.start();
    let end = daemon
        .wait_for("the end of the run", run_finished(run))
        .await;
    assert_eq!(
        end.text("state").as_deref(),
        Some("complete"),
        "{}",
        end.raw
    );
    stop(daemon).await;
    assert_eq!(setup.sandbox.submissions().len(), 1, "no second POST");
    assert_eq!(setup.sandbox.handle.batches_created(), 1);
    setup.assert_one_scripted_result_each(run);
}

/// The next line, after the last one waited for, about a run of `monitor` starting.
async fn next_run_start(daemon: &mut Daemon, monitor: &str) -> LogLine {
    daemon
        .wait_for(&format!("a run of {monitor} starting"), |l| {
            l.is("starting a run") && l.monitor() == Some(monitor)
        })
        .await
}

/// SIGHUP with a broken configuration is refused with the file, line and column of the
/// problem, and the daemon keeps running the schedule it had (the new monitor in the
/// refused file never runs). SIGHUP with a good configuration applies it: the new
/// monitor starts running on its schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_keeps_the_running_config_when_the_new_one_is_bad_and_applies_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let alpha = ids("ALPHA", 2);
    let beta = ids("BETA", 3);
    let everyone: Vec<String> = alpha.iter().chain(&beta).cloned().collect();
    let sandbox =
        GatedSandbox::start(sandbox_config(Duration::ZERO, scenario(&everyone, &[]))).await;
    write_file(dir.path(), "alpha.csv", csv(&alpha).as_bytes(), 0o600);
    write_file(dir.path(), "beta.csv", csv(&beta).as_bytes(), 0o600);
    let database = dir.path().join("balance-monitor.db");
    let every_second = "* * * * * *";
    let running = ConfigSpec::new(&sandbox.url, &database).monitor(MonitorSpec::new(
        "alpha",
        every_second,
        "alpha.csv",
    ));
    let config = running.write(dir.path());
    let mut daemon = Daemon::start(&config);
    next_run_start(&mut daemon, "alpha").await;

    // Beta's cron has an hour 25.
    let bad = running
        .clone()
        .monitor(MonitorSpec::new("beta", "0 25 * * *", "beta.csv"));
    let bad_text = bad.yaml();
    write_file(dir.path(), "config.yaml", bad_text.as_bytes(), 0o600);
    let (line, column) = position_of(&bad_text, "\"0 25 * * *\"");
    daemon.signal("HUP");
    let refusal = daemon
        .wait_for("the refusal", |l| l.message().starts_with("reload refused"))
        .await;
    let expected = format!(
        "{}:{line}:{column}: monitors[1].schedule:",
        config.display()
    );
    assert!(
        refusal.message().contains(&expected),
        "the refusal names the file, line and column: {} (expected {expected})",
        refusal.message()
    );
    assert_eq!(refusal.level(), "ERROR");
    // The old schedule goes on: two more runs of alpha, and none of beta meanwhile.
    next_run_start(&mut daemon, "alpha").await;
    next_run_start(&mut daemon, "alpha").await;
    assert!(
        !daemon.log().iter().any(|l| l.monitor() == Some("beta")),
        "the refused configuration was not applied:\n{}",
        tail(daemon.log())
    );

    let good = running
        .clone()
        .monitor(MonitorSpec::new("beta", every_second, "beta.csv"));
    good.write(dir.path());
    daemon.signal("HUP");
    let reloaded = daemon
        .wait_for("the reload", |l| l.is("configuration reloaded"))
        .await;
    assert_eq!(
        reloaded.text("added").as_deref(),
        Some("beta"),
        "{}",
        reloaded.raw
    );
    next_run_start(&mut daemon, "beta").await;
    let beta_run = daemon
        .wait_for("a run of beta finishing", |l| {
            l.is("run finished") && l.monitor() == Some("beta")
        })
        .await;
    assert_eq!(
        beta_run.text("state").as_deref(),
        Some("complete"),
        "{}",
        beta_run.raw
    );
    assert_eq!(
        beta_run.field("succeeded").and_then(|v| v.as_u64()),
        Some(3)
    );
    next_run_start(&mut daemon, "alpha").await;
    stop(daemon).await;
}

/// The 1-based line and column where `needle` first appears in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(index, line)| line.find(needle).map(|column| (index + 1, column + 1)))
        .unwrap_or_else(|| panic!("{needle} is in the text"))
}

/// Runs `balance-monitor run-now MONITOR` to its end: (exit code, stdout, stderr).
pub(crate) async fn run_now(
    config: &std::path::Path,
    monitor: &str,
) -> (Option<i32>, String, String) {
    let mut command = tokio::process::Command::new(crate::support::binary());
    command
        .arg("--config")
        .arg(config)
        .args(["run-now", monitor])
        .current_dir(config.parent().unwrap())
        .env_clear()
        .env(
            crate::support::daemon::API_KEY_ENV,
            crate::support::sandbox::SANDBOX_KEY,
        )
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    let output = tokio::time::timeout(crate::support::daemon::PATIENCE, command.output())
        .await
        .expect("run-now ends")
        .expect("run-now starts");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `run-now` prints what its run did, records it as a manual run, and exits 0 only for
/// a complete run: 1 for a partial one, 2 for a monitor that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_prints_its_summary_records_a_manual_run_and_exits_0_1_or_2() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = ids("MIX", 5);
    let clean = ids("CLEAN", 3);
    let everyone: Vec<String> = mixed.iter().chain(&clean).cloned().collect();
    let sandbox = GatedSandbox::start(sandbox_config(
        Duration::ZERO,
        scenario(&everyone, &[("MIX-001", "closed")]),
    ))
    .await;
    // Rightfoot never finishes checking MIX-004.
    sandbox.withhold_results_of(&["MIX-004"]);
    // Row 7 of the file (the header is row 1) fails pre-flight: a routing number must
    // have nine digits.
    let mut mixed_csv = csv(&mixed);
    mixed_csv.push_str(
        "MIX-BAD,Jane,Doe,1 Main St,Anytown,CA,94107,US,5551234567,01/31/1980,123456789,200000000,12345,,,,\n",
    );
    write_file(dir.path(), "mixed.csv", mixed_csv.as_bytes(), 0o600);
    write_file(dir.path(), "clean.csv", csv(&clean).as_bytes(), 0o600);
    let database = dir.path().join("balance-monitor.db");
    let config = ConfigSpec::new(&sandbox.url, &database)
        .poll_interval("100ms")
        .result_deadline("1s")
        .monitor(MonitorSpec::new("mixed", "0 6 * * *", "mixed.csv"))
        .monitor(MonitorSpec::new("clean", "0 6 * * *", "clean.csv"))
        .write(dir.path());
    let db = Database::new(&database);

    let (code, stdout, stderr) = run_now(&config, "mixed").await;
    assert_eq!(code, Some(1), "a partial run exits 1\n{stdout}\n{stderr}");
    let expected_lines = [
        "run 1 of mixed: partial",
        "  accepted by Rightfoot:     5",
        "  rejected by pre-flight:    1",
        "  rejected by the API:       0",
        "  succeeded:                 3",
        "  failed checks:             1",
        "    3200 account closed: 1",
        "  not retrieved:             1",
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in expected_lines {
        assert!(lines.contains(&expected), "{expected:?} in:\n{stdout}");
    }
    let reason = lines
        .iter()
        .find(|l| l.starts_with("  reason: "))
        .unwrap_or_else(|| panic!("a reason in:\n{stdout}"));
    assert!(
        reason.contains("1 rejected by pre-flight") && reason.contains("1 not retrieved"),
        "{reason}"
    );
    assert!(
        stderr.contains("error: run 1 of mixed ended partial"),
        "{stderr}"
    );

    let run = db.run(1);
    let stored_duration = {
        let time = |text: &Option<String>| {
            chrono::DateTime::parse_from_rfc3339(text.as_deref().expect("a time")).unwrap()
        };
        (time(&run.finished_at) - time(&run.started_at)).as_seconds_f64()
    };
    let duration = format!("  duration:                  {stored_duration:.1}s");
    assert!(
        lines.contains(&duration.as_str()),
        "the run's stored duration, {duration:?}, in:\n{stdout}"
    );
    assert_eq!(
        (
            run.monitor.as_str(),
            run.trigger.as_str(),
            run.state.as_str()
        ),
        ("mixed", "manual", "partial")
    );
    assert_eq!(run.scheduled_for, None, "a manual run takes no slot");
    let results: BTreeMap<String, (String, Option<i64>, Option<i64>)> = db
        .results_of(1)
        .into_iter()
        .map(|r| (r.authorizer, (r.outcome, r.status_code, r.balance_cents)))
        .collect();
    let retrieved = |index: usize| {
        (
            "retrieved".to_string(),
            Some(0),
            Some(scripted_cents(index)),
        )
    };
    let expected: BTreeMap<String, (String, Option<i64>, Option<i64>)> = [
        ("MIX-000", retrieved(0)),
        ("MIX-001", ("retrieved".to_string(), Some(3200), None)),
        ("MIX-002", retrieved(2)),
        ("MIX-003", retrieved(3)),
        ("MIX-004", ("not_retrieved".to_string(), None, None)),
    ]
    .into_iter()
    .map(|(id, result)| (id.to_string(), result))
    .collect();
    assert_eq!(results, expected);
    let rejections = db.preflight_rejections(1);
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    let (id, source, reason) = &rejections[0];
    assert_eq!(id, "MIX-BAD");
    assert!(
        source.ends_with("mixed.csv row 7"),
        "the rejection names its file and row: {source}"
    );
    assert_eq!(
        reason, "Invalid routing number for authorizer(s). Routing number must be 9 digits long.",
        "Rightfoot's own message"
    );

    let (code, stdout, stderr) = run_now(&config, "clean").await;
    assert_eq!(code, Some(0), "a complete run exits 0\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("run 2 of clean: complete\n"), "{stdout}");
    assert!(
        stdout.contains("  succeeded:                 3\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  not retrieved:             0\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("reason:"), "{stdout}");
    assert_eq!(db.run(2).state, "complete");
    assert_eq!(db.results_of(2).len(), 3);

    let (code, stdout, stderr) = run_now(&config, "claen").await;
    assert_eq!(
        code,
        Some(2),
        "an unknown monitor is a configuration error\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("no monitor named `claen`, did you mean `clean`?"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(db.runs().len(), 2, "nothing was recorded for it");
}

/// Regression: a run resumed at start did not hold its monitor in the scheduler, so
/// the next slot of a frequent schedule started a second run of the same monitor
/// beside it (and, with an identical body, Rightfoot's cache could hand that run the
/// resumed run's batch). A resumed run holds its monitor like any scheduled run: the
/// slots that come meanwhile are skipped, and the schedule goes on once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_at_start_is_not_overlapped_by_the_next_slot() {
    let dir = tempfile::tempdir().unwrap();
    let busy = ids("BUSY", 4);
    let sandbox = GatedSandbox::start(sandbox_config(
        Duration::from_secs(3600),
        scenario(&busy, &[]),
    ))
    .await;
    write_file(dir.path(), "busy.csv", csv(&busy).as_bytes(), 0o600);
    let database = dir.path().join("balance-monitor.db");
    let config = ConfigSpec::new(&sandbox.url, &database)
        .result_deadline("2h")
        .monitor(MonitorSpec::new("busy", "* * * * * *", "busy.csv"))
        .write(dir.path());
    let db = Database::new(&database);
    let mut daemon = Daemon::start(&config);
    let submitted = daemon
        .wait_for("the 201 recorded", |l| l.is("chunk submitted"))
        .await;
    let run = submitted.run().unwrap();
    daemon.kill().await;

    let mut daemon = Daemon::start(&config);
    daemon
        .wait_for("the run resumed", |l| {
            l.is("run resumed") && l.run() == Some(run)
        })
        .await;
    // The resumed run waits an hour for its results, so the next slot comes during it.
    let next = daemon
        .wait_for("the next slot skipped or started", |l| {
            l.monitor() == Some("busy")
                && (l.is("slot skipped: the previous run is still going")
                    || l.is("starting a run")
                    || l.is("run finished"))
        })
        .await;
    assert!(
        !next.is("run finished"),
        "the resumed run ended before any slot came:\n{}",
        tail(daemon.log())
    );
    assert!(
        next.is("slot skipped: the previous run is still going"),
        "a slot came while run {run} was being resumed, and another run started beside it:\n{}",
        tail(daemon.log())
    );

    sandbox.advance(Duration::from_secs(3600));
    let end = daemon
        .wait_for("the end of the run", run_finished(run))
        .await;
    assert_eq!(
        end.text("state").as_deref(),
        Some("complete"),
        "{}",
        end.raw
    );
    next_run_start(&mut daemon, "busy").await;
    stop(daemon).await;

    let finished = db.run(run).finished_at.unwrap();
    for other in db.runs().into_iter().filter(|r| r.id != run) {
        assert!(
            other.created_at >= finished,
            "run {} started at {} while run {run} went on until {finished}",
            other.id,
            other.created_at
        );
    }
    // The skipped slot is in the store, accounted for once.
    let skipped_slot =
        chrono::NaiveDateTime::parse_from_str(&next.text("slot").unwrap(), "%Y-%m-%d %H:%M:%S UTC")
            .unwrap()
            .and_utc();
    let events: Vec<_> = db
        .schedule_events("busy")
        .into_iter()
        .filter(|(_, first_slot, _)| {
            chrono::DateTime::parse_from_rfc3339(first_slot).unwrap() == skipped_slot
        })
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "skipped");
    assert!(events[0].2.contains("was still going"), "{events:?}");
    assert_eq!(sandbox.handle.batches_created(), 1);
}

/// Regression: the daemon installed its signal handlers only after starting the
/// scheduler, logging "balance-monitor started" and telling systemd READY=1. Runs
/// resumed at start were already going by then, and a SIGTERM (or a `systemctl
/// reload`'s SIGHUP) in that window took the default action: the process died by the
/// signal instead of stopping cleanly. The handlers now come first: a SIGTERM as soon
/// as a resumed run is under way stops the daemon with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_while_the_daemon_is_still_starting_is_a_clean_stop() {
    let mut setup = OneSlot::new(ids("S", 3), Duration::from_secs(3600), "2h").await;
    // Forty more monitors, new to the database, to register at start: the daemon is
    // still starting for a while after the resumed run is under way.
    for n in 0..40 {
        setup.spec = setup.spec.clone().monitor(MonitorSpec::new(
            &format!("quiet-{n}"),
            "0 0 1 1 *",
            "payday.csv",
        ));
    }
    setup.spec.write(setup.dir.path());
    let mut daemon = setup.start();
    daemon
        .wait_for("the 201 recorded", |l| l.is("chunk submitted"))
        .await;
    daemon.kill().await;

    let mut daemon = setup.start();
    daemon
        .wait_for("the run resumed", |l| l.is("run resumed"))
        .await;
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert_eq!(
        stopped.status.code(),
        Some(0),
        "SIGTERM during start-up is a clean stop, not death by signal ({:?}):\n{}",
        stopped.status,
        tail(&stopped.log)
    );
    assert_eq!(
        setup.database.run(setup.the_run()).state,
        "running",
        "resumable"
    );
}
