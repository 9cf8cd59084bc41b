//! Retention: `Store::prune` and the daemon's pass, on a real database with old and new
//! runs, alerts and notifications. Alerts and notifications are inserted with SQL, as
//! the alerting layer will write them.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::money::Cents;
use balance_monitor::store::{
    BatchState, BatchSubmitted, NewRun, PlannedChunk, ResultRow, RunId, RunPlan, RunState,
    RunStateChange, RunTrigger, ScheduleState, Store,
};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, params};
use tokio_util::sync::CancellationToken;

use crate::support::history::{Seeded, Seen, count, seed_run, seed_run_finished_at};

/// How long a test waits for something that should be immediate before failing. A
/// failure detector only: nothing waits for it to elapse.
const PATIENCE: Duration = Duration::from_secs(60);
const A_YEAR: Duration = Duration::from_secs(365 * 86_400);

fn in_2020(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 6, day, 13, 0, 0).unwrap()
}

fn external(path: &Path) -> Connection {
    let connection = Connection::open(path).unwrap();
    connection
        .pragma_update(None, "foreign_keys", true)
        .unwrap();
    connection
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    connection
}

fn rows_of_run(path: &Path, run: RunId) -> i64 {
    let connection = external(path);
    [
        "SELECT count(*) FROM runs WHERE id = ?1",
        "SELECT count(*) FROM results WHERE run_id = ?1",
        "SELECT count(*) FROM batch_members WHERE run_id = ?1",
        "SELECT count(*) FROM batches WHERE run_id = ?1",
        "SELECT count(*) FROM preflight_rejections WHERE run_id = ?1",
        "SELECT count(*) FROM batch_failed_authorizers f JOIN batches b ON b.id = f.batch_id \
         WHERE b.run_id = ?1",
    ]
    .iter()
    .map(|sql| {
        connection
            .query_row(sql, params![run.0], |row| row.get::<_, i64>(0))
            .unwrap()
    })
    .sum()
}

fn insert_alert(
    path: &Path,
    fingerprint: &str,
    state: &str,
    run: RunId,
    at: DateTime<Utc>,
    failures: i64,
) {
    let at = at.format("%Y-%m-%dT%H:%M:%S.000000Z").to_string();
    external(path)
        .execute(
            "INSERT INTO alerts (fingerprint, monitor_id, authorizer_unique_id, rule, state, \
                 severity, consecutive_failures, first_fired_at, last_fired_at, resolved_at, \
                 last_run_id) \
             VALUES (?1, 1, 'a1', 'balance_below', ?2, 'warning', ?3, ?4, ?4, \
                 CASE WHEN ?2 = 'resolved' THEN ?4 END, ?5)",
            params![fingerprint, state, failures, at, run.0],
        )
        .unwrap();
}

fn insert_notification(path: &Path, key: &str, state: &str, run: RunId, at: DateTime<Utc>) {
    let at = at.format("%Y-%m-%dT%H:%M:%S.000000Z").to_string();
    external(path)
        .execute(
            "INSERT INTO outbox (route, idempotency_key, payload, created_at, next_attempt_at, \
                 attempts, state, last_error, delivered_at) \
             VALUES ('ops', ?1, ?2, ?3, ?3, 3, ?4, \
                 CASE WHEN ?4 = 'failed' THEN 'smtp 550' END, \
                 CASE WHEN ?4 = 'delivered' THEN ?3 END)",
            params![key, format!(r#"{{"run":{{"id":{}}}}}"#, run.0), at, state],
        )
        .unwrap();
}

/// A chunk of a new run that Rightfoot answered with `batch_id` from its cache.
async fn cached_now(store: &Store, batch_id: &str) -> RunId {
    let monitor = store.ensure_monitor("morning-ach").await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let now = Utc::now();
    let batch = store
        .start_run(
            run,
            now,
            RunPlan {
                rejected: Vec::new(),
                chunks: vec![PlannedChunk {
                    body_sha256: [3; 32],
                    members: vec!["a1".to_string()],
                }],
            },
        )
        .await
        .unwrap()[0];
    let owner = store
        .mark_batch_submitted(
            batch,
            BatchSubmitted {
                rightfoot_batch_id: batch_id.to_string(),
                submitted_at: now,
                accepted: 1,
                failed: Vec::new(),
                deadline: now + chrono::Duration::hours(1),
            },
        )
        .await
        .unwrap();
    assert!(owner.is_some());
    store
        .set_batch_state(batch, BatchState::Complete, None)
        .await
        .unwrap();
    store
        .set_run_state(run, RunStateChange::new(RunState::Complete, now))
        .await
        .unwrap();
    run
}

/// Every kind of old row that must go, and every reason an old run must stay.
#[tokio::test]
async fn pruning_removes_old_history_and_keeps_firing_alerts_undelivered_notifications_and_what_they_refer_to()
 {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let entries = [
        ("a1", Seen::Balance(100)),
        ("a2", Seen::Failed(3200)),
        ("a3", Seen::NotRetrieved),
        ("a4", Seen::Rejected("Invalid routing number")),
        (
            "a5",
            Seen::Preflight("Missing date of birth for authorizer(s)."),
        ),
    ];
    let old = |day, batch: &'static str| {
        let store = store.clone();
        async move { seed_run(&store, "morning-ach", in_2020(day), batch, &entries).await }
    };
    let plain = old(1, "B-PLAIN").await;
    let firing = old(2, "B-FIRING").await;
    let pending = old(3, "B-PENDING").await;
    let failed_notification = old(4, "B-FAILED-NOTE").await;
    let delivered = old(5, "B-DELIVERED").await;
    let dormant = old(6, "B-DORMANT").await;
    let counting = old(7, "B-COUNTING").await;
    let cache_owner = old(8, "B-OWNER").await;
    let positioned = old(10, "B-POSITION").await;
    let cached_later = cached_now(&store, "B-OWNER").await;
    let recent = seed_run_finished_at(
        &store,
        "morning-ach",
        Utc::now() - chrono::Duration::days(2),
        "B-RECENT",
        &entries,
        Utc::now() - chrono::Duration::days(2),
    )
    .await;
    // An old run that never finished (a crash, then the monitor was removed).
    let stuck = {
        let monitor = store.ensure_monitor("retired").await.unwrap();
        let run = store
            .create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor,
                trigger: RunTrigger::Schedule { slot: in_2020(9) },
            })
            .await
            .unwrap();
        store
            .set_run_state(run, RunStateChange::new(RunState::Running, in_2020(9)))
            .await
            .unwrap();
        run
    };

    // A monitor whose schedule position still names an old run.
    let retired = store.ensure_monitor("retired").await.unwrap();
    store
        .set_schedule_state(
            retired,
            ScheduleState {
                last_slot: in_2020(10),
                last_run: Some(positioned.run),
            },
        )
        .await
        .unwrap();
    insert_alert(&path, "fp-firing", "firing", firing.run, in_2020(2), 0);
    insert_alert(&path, "fp-dormant", "resolved", dormant.run, in_2020(6), 0);
    // Resolved, but counting failures towards firing again: not dormant.
    insert_alert(
        &path,
        "fp-counting",
        "resolved",
        counting.run,
        in_2020(7),
        1,
    );
    insert_notification(&path, "n-pending", "pending", pending.run, in_2020(3));
    insert_notification(
        &path,
        "n-failed",
        "failed",
        failed_notification.run,
        in_2020(4),
    );
    insert_notification(&path, "n-delivered", "delivered", delivered.run, in_2020(5));
    insert_notification(&path, "n-recent", "delivered", recent.run, Utc::now());

    let summary = store.prune(A_YEAR, 3).await.unwrap();

    let gone = [plain, delivered, dormant];
    let kept = [
        firing,
        pending,
        failed_notification,
        counting,
        cache_owner,
        positioned,
        recent,
    ];
    for Seeded { run, .. } in gone {
        assert_eq!(
            rows_of_run(&path, run),
            0,
            "{run} and all its rows are gone"
        );
    }
    for Seeded { run, .. } in kept {
        // 1 run + 4 results + 4 members + 1 chunk + 1 pre-flight + 1 failed authorizer
        assert_eq!(rows_of_run(&path, run), 12, "{run} is kept whole");
    }
    assert_eq!(
        rows_of_run(&path, cached_later),
        3,
        "the recent cached run stays"
    );
    assert_eq!(
        rows_of_run(&path, stuck),
        1,
        "an unfinished run is never pruned"
    );

    let alerts: Vec<String> = external(&path)
        .prepare("SELECT fingerprint FROM alerts ORDER BY fingerprint")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        alerts,
        ["fp-counting", "fp-firing"],
        "only the dormant alert went"
    );
    let notifications: Vec<String> = external(&path)
        .prepare("SELECT idempotency_key FROM outbox ORDER BY idempotency_key")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        notifications,
        ["n-failed", "n-pending", "n-recent"],
        "undelivered notifications stay, however old"
    );

    assert_eq!(summary.runs, 3);
    assert_eq!(summary.results, 12);
    assert_eq!(summary.batch_members, 12);
    assert_eq!(summary.batches, 3);
    assert_eq!(summary.preflight_rejections, 3);
    assert_eq!(summary.failed_authorizers, 3);
    assert_eq!(summary.resolved_alerts, 1);
    assert_eq!(summary.delivered_notifications, 1);
    assert_eq!(
        summary.runs_kept, 7,
        "firing, pending, failed, counting, owner, positioned, stuck"
    );
    assert!(!summary.stopped_early);
    assert!(
        summary.largest_transaction <= 3,
        "no transaction deleted more than the batch size: {summary:?}"
    );
    assert!(
        summary.transactions >= summary.deleted() / 3,
        "small transactions: {summary:?}"
    );
    assert_eq!(
        count(&path, "SELECT count(*) FROM pragma_foreign_key_check"),
        0,
        "no dangling reference"
    );

    // Nothing left to do: a second pass deletes nothing and keeps the same runs.
    let again = store.prune(A_YEAR, 3).await.unwrap();
    assert_eq!(again.deleted(), 0);
    assert_eq!(again.runs_kept, 7);
    store.close().await;
}

#[tokio::test]
async fn a_cache_owner_goes_once_the_run_that_links_to_it_has_gone() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let owner = seed_run(
        &store,
        "morning-ach",
        in_2020(1),
        "B-1",
        &[("a1", Seen::Balance(1))],
    )
    .await;
    // The linking run, also old, finished later than its owner.
    let linker = {
        let monitor = store.ensure_monitor("morning-ach").await.unwrap();
        let run = store
            .create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor,
                trigger: RunTrigger::Schedule { slot: in_2020(2) },
            })
            .await
            .unwrap();
        let batch = store
            .start_run(
                run,
                in_2020(2),
                RunPlan {
                    rejected: Vec::new(),
                    chunks: vec![PlannedChunk {
                        body_sha256: [1; 32],
                        members: vec!["a1".to_string()],
                    }],
                },
            )
            .await
            .unwrap()[0];
        store
            .mark_batch_submitted(
                batch,
                BatchSubmitted {
                    rightfoot_batch_id: "B-1".to_string(),
                    submitted_at: in_2020(1),
                    accepted: 1,
                    failed: Vec::new(),
                    deadline: in_2020(3),
                },
            )
            .await
            .unwrap()
            .expect("linked to the owner");
        store
            .set_run_state(run, RunStateChange::new(RunState::Complete, in_2020(2)))
            .await
            .unwrap();
        run
    };
    let summary = store.prune(A_YEAR, 1).await.unwrap();
    assert_eq!(summary.runs, 2, "{summary:?}");
    assert_eq!(
        rows_of_run(&path, owner.run) + rows_of_run(&path, linker),
        0
    );
    assert_eq!(summary.largest_transaction, 1);
    store.close().await;
}

/// A run in flight writes while pruning is under way: between two of the prune's
/// transactions nothing is locked, so the write completes at once, and the prune then
/// carries on to the end.
#[tokio::test]
async fn a_run_in_flight_writes_while_pruning_is_under_way() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let members: Vec<String> = (0..600).map(|i| format!("old-{i:03}")).collect();
    let entries: Vec<(&str, Seen)> = members
        .iter()
        .map(|id| (id.as_str(), Seen::Balance(100)))
        .collect();
    for day in 1..=3 {
        seed_run(
            &store,
            "morning-ach",
            in_2020(day),
            &format!("B-{day}"),
            &entries,
        )
        .await;
    }
    // The run in flight: started, one chunk submitted, results not yet stored.
    let (live_run, live_batch) = {
        let monitor = store.ensure_monitor("morning-ach").await.unwrap();
        let run = store
            .create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor,
                trigger: RunTrigger::Manual,
            })
            .await
            .unwrap();
        let batch = store
            .start_run(
                run,
                Utc::now(),
                RunPlan {
                    rejected: Vec::new(),
                    chunks: vec![PlannedChunk {
                        body_sha256: [5; 32],
                        members: vec!["live".to_string()],
                    }],
                },
            )
            .await
            .unwrap()[0];
        store
            .mark_batch_submitted(
                batch,
                BatchSubmitted {
                    rightfoot_batch_id: "B-LIVE".to_string(),
                    submitted_at: Utc::now(),
                    accepted: 1,
                    failed: Vec::new(),
                    deadline: Utc::now() + chrono::Duration::hours(1),
                },
            )
            .await
            .unwrap();
        (run, batch)
    };

    let (paused_tx, mut paused) = tokio::sync::mpsc::channel::<u64>(1);
    let (resume, resume_rx) = tokio::sync::oneshot::channel::<()>();
    let pruning = tokio::spawn({
        let store = store.clone();
        let cutoff = Utc::now() - chrono::Duration::days(365);
        async move {
            let mut resume_rx = Some(resume_rx);
            store
                .prune_before(cutoff, 500, move |so_far| {
                    // After the first transaction: say so, and wait for the test.
                    let first = resume_rx.take().map(|rx| (rx, so_far.deleted()));
                    let paused_tx = paused_tx.clone();
                    async move {
                        if let Some((rx, deleted)) = first {
                            paused_tx.send(deleted).await.unwrap();
                            rx.await.unwrap();
                        }
                        ControlFlow::Continue(())
                    }
                })
                .await
                .unwrap()
        }
    });
    let deleted_so_far = tokio::time::timeout(PATIENCE, paused.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        deleted_so_far, 500,
        "one transaction of 500 rows, then the pause"
    );
    assert!(
        count(&path, "SELECT count(*) FROM results WHERE batch_id <= 3") > 0,
        "the prune is under way, not done"
    );

    let written = tokio::time::timeout(
        PATIENCE,
        store.upsert_results(
            live_run,
            live_batch,
            &[ResultRow {
                authorizer_unique_id: "live".to_string(),
                balance: Some(Cents(4_200)),
                balance_status_code: 0,
                retrieved_at: Utc::now(),
            }],
        ),
    )
    .await
    .expect("the run's write is not blocked by the prune")
    .unwrap();
    assert_eq!(written.written, 1);

    resume.send(()).unwrap();
    let summary = tokio::time::timeout(PATIENCE, pruning)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.runs, 3);
    assert_eq!(summary.results, 1800);
    assert!(summary.largest_transaction <= 500, "{summary:?}");
    assert!(summary.transactions >= 8, "{summary:?}");
    assert_eq!(
        count(
            &path,
            "SELECT balance_cents FROM results WHERE authorizer_unique_id = 'live'"
        ),
        4_200,
        "the live run's result is stored and untouched"
    );
    store.close().await;
}

/// The daemon's pass stops between two transactions once its token is cancelled, and
/// the next pass finishes the job.
#[tokio::test]
async fn the_daemons_pass_stops_between_batches_on_cancel_and_resumes_next_time() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let members: Vec<String> = (0..3000).map(|i| format!("old-{i:04}")).collect();
    let entries: Vec<(&str, Seen)> = members
        .iter()
        .map(|id| (id.as_str(), Seen::Balance(100)))
        .collect();
    seed_run(&store, "morning-ach", in_2020(1), "B-1", &entries).await;
    let clock = Clock::system();

    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let first = balance_monitor::retention::prune_once(&store, &clock, A_YEAR, &cancelled)
        .await
        .unwrap();
    assert!(first.stopped_early);
    assert_eq!(first.transactions, 1);
    assert_eq!(
        first.deleted(),
        balance_monitor::retention::PRUNE_BATCH as u64
    );
    assert_eq!(first.runs_kept, 1, "the run is partly pruned, still there");

    let second =
        balance_monitor::retention::prune_once(&store, &clock, A_YEAR, &CancellationToken::new())
            .await
            .unwrap();
    assert!(!second.stopped_early);
    assert_eq!(second.runs, 1);
    assert_eq!(first.results + second.results, 3000);
    assert_eq!(count(&path, "SELECT count(*) FROM runs"), 0);
    store.close().await;
}

/// The periodic task ends when the daemon stops, even before its first pass, and a zero
/// retention prunes nothing.
#[tokio::test(start_paused = true)]
async fn the_periodic_task_ends_on_cancel_and_a_zero_retention_never_prunes() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("state.db")).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(balance_monitor::retention::prune_periodically(
        store.clone(),
        Clock::system(),
        A_YEAR,
        cancel.clone(),
    ));
    cancel.cancel();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();

    let zero = tokio::spawn(balance_monitor::retention::prune_periodically(
        store.clone(),
        Clock::system(),
        Duration::ZERO,
        CancellationToken::new(),
    ));
    tokio::time::timeout(PATIENCE, zero)
        .await
        .expect("returns without waiting for a cancel")
        .unwrap();
    store.close().await;
}
