//! The shared suite: the store's behaviour, written once against its interface.
//!
//! Every test here is generic over [`OpenStore`] and gets its store only from it, so
//! that it runs unchanged on every backend; `mod.rs` instantiates the list for each
//! one. Nothing here opens a file, reads SQL or names a backend: what only one backend
//! can show (its files, pragmas, schema, locks) belongs in that backend's module.

use balance_monitor::money::Cents;
use balance_monitor::store::{
    AlertWrite, BatchRowId, BatchState, BatchSubmitted, FailedAuthorizer, Judgement, MonitorId,
    NewRun, NewSilence, OpenAlertRow, OpenPhase, PlannedChunk, ResultOutcome, ResultRow,
    RunCheckOutcome, RunId, RunState, RunStateChange, RunTrigger, ScheduleState, SilenceRecord,
    Store, StoreError,
};
use chrono::{DateTime, TimeZone, Utc};

use super::OpenStore;
pub(super) use super::leadership::the_leadership_lease_is_taken_when_free_with_the_next_epoch;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, hour, minute, 0).unwrap()
}

/// A chunk with this body hash and these members.
pub(super) fn chunk(body_sha256: [u8; 32], members: Vec<String>) -> PlannedChunk {
    PlannedChunk {
        body_sha256,
        members,
    }
}

fn ids(members: &[&str]) -> Vec<String> {
    members.iter().map(|member| member.to_string()).collect()
}

pub(super) fn result(id: &str, cents: Option<i64>, code: i64) -> ResultRow {
    ResultRow {
        authorizer_unique_id: id.to_string(),
        balance: cents.map(Cents),
        balance_status_code: code,
        retrieved_at: at(9, 5),
    }
}

pub(super) fn submitted(batch_id: &str, accepted: u32, failed: &[(&str, &str)]) -> BatchSubmitted {
    BatchSubmitted {
        rightfoot_batch_id: batch_id.to_string(),
        submitted_at: at(9, 0),
        accepted,
        failed: failed
            .iter()
            .map(|(id, reason)| FailedAuthorizer {
                authorizer_unique_id: id.to_string(),
                reason: reason.to_string(),
            })
            .collect(),
        deadline: at(10, 15),
    }
}

/// A monitor with a manual run and one chunk of `members`, submitted as `batch_id`.
pub(super) async fn run_with_chunk(
    store: &Store,
    monitor: &str,
    members: &[&str],
    batch_id: &str,
) -> (MonitorId, RunId, BatchRowId) {
    let monitor = store.ensure_monitor(monitor).await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    store
        .set_run_state(run, RunStateChange::new(RunState::Running, at(9, 0)))
        .await
        .unwrap();
    let batch = store
        .begin_batch(run, 0, chunk([7; 32], ids(members)))
        .await
        .unwrap();
    store
        .mark_batch_submitted(batch, submitted(batch_id, members.len() as u32, &[]))
        .await
        .unwrap();
    (monitor, run, batch)
}

fn planned(members: &[&str], sha: u8) -> PlannedChunk {
    PlannedChunk {
        body_sha256: [sha; 32],
        members: ids(members),
    }
}

async fn manual_run(store: &Store, monitor: &str) -> RunId {
    let monitor = store.ensure_monitor(monitor).await.unwrap();
    store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap()
}

// --- Runs and slots ------------------------------------------------------------------

pub(super) async fn a_slot_runs_at_most_once_per_monitor<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let payroll = store.ensure_monitor("payroll").await.unwrap();
    let rent = store.ensure_monitor("rent").await.unwrap();
    let slot = at(9, 0);

    let first = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: payroll,
            trigger: RunTrigger::Schedule { slot },
        })
        .await
        .unwrap();
    // A catch-up for the same slot, even after the first run failed, is refused.
    store
        .set_run_state(
            first,
            RunStateChange::new(RunState::Failed, at(9, 1)).because("rightfoot down"),
        )
        .await
        .unwrap();
    let error = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: payroll,
            trigger: RunTrigger::CatchUp { slot },
        })
        .await
        .unwrap_err();
    match &error {
        StoreError::SlotTaken {
            existing, monitor, ..
        } => {
            assert_eq!((*existing, monitor.as_str()), (first, "payroll"));
        }
        other => panic!("expected SlotTaken, got {other}"),
    }
    assert!(
        error
            .to_string()
            .contains("for the slot 2025-03-14 09:00:00 UTC"),
        "{error}"
    );

    // Another monitor, another slot, and manual runs are all free to run.
    let other_monitor = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: rent,
            trigger: RunTrigger::Schedule { slot },
        })
        .await
        .unwrap();
    let next_slot = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: payroll,
            trigger: RunTrigger::Schedule { slot: at(10, 0) },
        })
        .await
        .unwrap();
    let manual_1 = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: payroll,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let manual_2 = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: payroll,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let ids = [first, other_monitor, next_slot, manual_1, manual_2];
    for window in ids.windows(2) {
        assert!(window[0] < window[1]);
    }
    let record = store.run(first).await.unwrap().unwrap();
    assert_eq!(record.trigger, RunTrigger::Schedule { slot });
    assert_eq!(record.reason.as_deref(), Some("rightfoot down"));

    let missing = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor: MonitorId(999),
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), "monitor 999 does not exist");
}

pub(super) async fn run_states_only_move_forward<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let monitor = store.ensure_monitor("payroll").await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    store
        .set_run_state(run, RunStateChange::new(RunState::Running, at(9, 0)))
        .await
        .unwrap();
    // Idempotent: the same state again changes nothing, not even started_at.
    store
        .set_run_state(run, RunStateChange::new(RunState::Running, at(9, 30)))
        .await
        .unwrap();
    store
        .set_run_state(
            run,
            RunStateChange::new(RunState::Partial, at(10, 0)).because("2 not retrieved"),
        )
        .await
        .unwrap();
    let record = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.started_at, record.finished_at),
        (RunState::Partial, Some(at(9, 0)), Some(at(10, 0)))
    );
    for state in [RunState::Running, RunState::Complete, RunState::Pending] {
        let error = store
            .set_run_state(run, RunStateChange::new(state, at(11, 0)))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("run {} is partial and cannot become {state}", run.0)
        );
    }
    assert!(store.run(RunId(run.0 + 100)).await.unwrap().is_none());
}

/// A run that Ctrl-C stopped on `run-now` is recorded `interrupted`: not finished, listed
/// for the daemon to resume, and back to `running` when it does.
pub(super) async fn an_interrupted_run_is_unfinished_and_resumes_to_running<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let run = {
        let store = B::open(directory.path()).await;
        let (monitor, run, _) = run_with_chunk(&store, "payroll", &["a1", "a2"], "B-1").await;
        store
            .set_run_state(run, RunStateChange::new(RunState::Interrupted, at(9, 5)))
            .await
            .unwrap();
        // Only a run that has started can be interrupted.
        let pending = store
            .create_run(NewRun {
                monitor,
                trigger: RunTrigger::Manual,
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        let error = store
            .set_run_state(
                pending,
                RunStateChange::new(RunState::Interrupted, at(9, 6)),
            )
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("run {} is pending and cannot become interrupted", pending.0)
        );
        store
            .set_run_state(pending, RunStateChange::new(RunState::Failed, at(9, 7)))
            .await
            .unwrap();
        store.close().await;
        run
    };

    let store = B::open(directory.path()).await;
    let record = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.started_at, record.finished_at),
        (RunState::Interrupted, Some(at(9, 0)), None)
    );
    let unfinished = store.unfinished_runs().await.unwrap();
    let listed: Vec<(RunId, RunState, usize)> = unfinished
        .iter()
        .map(|u| (u.run.id, u.run.state, u.batches.len()))
        .collect();
    assert_eq!(listed, vec![(run, RunState::Interrupted, 1)]);

    store
        .set_run_state(run, RunStateChange::new(RunState::Running, at(11, 0)))
        .await
        .unwrap();
    let record = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.started_at),
        (RunState::Running, Some(at(9, 0))),
        "resuming keeps the run's first start"
    );
    store
        .set_run_state(run, RunStateChange::new(RunState::Complete, at(11, 30)))
        .await
        .unwrap();
    assert!(store.unfinished_runs().await.unwrap().is_empty());
    let error = store
        .set_run_state(run, RunStateChange::new(RunState::Interrupted, at(12, 0)))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("run {} is complete and cannot become interrupted", run.0)
    );
}

// --- Chunks and results --------------------------------------------------------------

pub(super) async fn reading_the_same_page_twice_stores_one_row_per_authorizer<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let (_, run, batch) = run_with_chunk(&store, "payroll", &["a1", "a2", "a3"], "B-1").await;
    let page = [
        result("a1", Some(-8368), 0),
        result("a2", Some(385_109), 0),
        result("a3", None, 3300),
    ];

    let first = store.upsert_results(run, batch, &page).await.unwrap();
    assert_eq!((first.written, first.unchanged), (3, 0));
    let again = store.upsert_results(run, batch, &page).await.unwrap();
    assert_eq!((again.written, again.unchanged), (0, 3));
    assert_eq!(store.run_tally(run).await.unwrap().retrieved(), 3);

    // An unknown status code is kept as it came.
    let odd = store
        .upsert_results(run, batch, &[result("a3", None, 4242)])
        .await
        .unwrap();
    assert_eq!((odd.written, odd.unchanged), (1, 0));
    let history = store.authorizer_history("a3", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].outcome,
            history[0].balance,
            history[0].balance_status_code
        ),
        (ResultOutcome::Retrieved, None, Some(4242))
    );
    let a1 = store.authorizer_history("a1", 10).await.unwrap();
    assert_eq!(
        a1[0].balance,
        Some(Cents(-8368)),
        "money is kept as integer cents"
    );

    // A row for someone not in the chunk is reported, not stored, and does not cost
    // the rest of the page.
    let stray = store
        .upsert_results(
            run,
            batch,
            &[result("intruder", Some(1), 0), result("a1", Some(-8368), 0)],
        )
        .await
        .unwrap();
    assert_eq!(stray.not_members, vec!["intruder".to_string()]);
    assert_eq!(stray.unchanged, 1);
    assert_eq!(store.run_tally(run).await.unwrap().retrieved(), 3);
}

pub(super) async fn not_retrieved_fills_only_the_gaps_and_a_late_result_replaces_it<
    B: OpenStore,
>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let (_, run, batch) = run_with_chunk(&store, "payroll", &["a1", "a2", "a3"], "B-1").await;
    store
        .upsert_results(run, batch, &[result("a1", Some(100), 0)])
        .await
        .unwrap();
    assert_eq!(
        store.members_without_result(batch).await.unwrap(),
        vec!["a2".to_string(), "a3".to_string()]
    );
    let marked = store
        .mark_not_retrieved(batch, "no result by the deadline")
        .await
        .unwrap();
    assert_eq!(marked, 2);
    assert_eq!(store.mark_not_retrieved(batch, "again").await.unwrap(), 0);
    assert!(
        store
            .members_without_result(batch)
            .await
            .unwrap()
            .is_empty()
    );

    let a1 = store.authorizer_history("a1", 10).await.unwrap();
    assert_eq!(
        (a1[0].outcome, a1[0].balance),
        (ResultOutcome::Retrieved, Some(Cents(100)))
    );
    let a2 = store.authorizer_history("a2", 10).await.unwrap();
    assert_eq!(a2[0].outcome, ResultOutcome::NotRetrieved);
    assert_eq!(a2[0].reason.as_deref(), Some("no result by the deadline"));

    let late = store
        .upsert_results(run, batch, &[result("a2", Some(-5), 0)])
        .await
        .unwrap();
    assert_eq!(late.written, 1);
    let a2 = store.authorizer_history("a2", 10).await.unwrap();
    assert_eq!(
        (a2.len(), a2[0].outcome, a2[0].balance, a2[0].reason.clone()),
        (1, ResultOutcome::Retrieved, Some(Cents(-5)), None)
    );
}

pub(super) async fn refused_authorizers_get_a_rejected_result_with_the_reason<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let monitor = store.ensure_monitor("payroll").await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let batch = store
        .begin_batch(run, 0, chunk([1; 32], ids(&["a1", "a2"])))
        .await
        .unwrap();
    let answer = submitted(
        "5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83",
        1,
        &[
            ("a2", "Missing date of birth for authorizer(s)."),
            ("a2", "Invalid routing number for authorizer(s)."),
            ("not-ours", "Invalid account number 000123456789."),
        ],
    );
    store
        .mark_batch_submitted(batch, answer.clone())
        .await
        .unwrap();
    // The same 201 recorded twice (a retry after a crash) changes nothing.
    store.mark_batch_submitted(batch, answer).await.unwrap();

    let a2 = store.authorizer_history("a2", 10).await.unwrap();
    assert_eq!(a2.len(), 1);
    assert_eq!(a2[0].outcome, ResultOutcome::Rejected);
    assert_eq!(
        a2[0].reason.as_deref(),
        Some("Missing date of birth for authorizer(s).; Invalid routing number for authorizer(s).")
    );
    assert_eq!(store.run_tally(run).await.unwrap().api_rejected, 1);
    assert_eq!(
        store.members_without_result(batch).await.unwrap(),
        vec!["a1".to_string()]
    );

    let other = store
        .mark_batch_submitted(batch, submitted("BATCH-98765", 2, &[]))
        .await
        .unwrap_err();
    assert!(
        other.to_string().contains("already has batch id"),
        "{other}"
    );
}

pub(super) async fn a_chunk_is_begun_once_per_body_and_an_authorizer_is_in_one_chunk<
    B: OpenStore,
>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let monitor = store.ensure_monitor("payroll").await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let first = store
        .begin_batch(run, 0, chunk([1; 32], ids(&["a1", "a2"])))
        .await
        .unwrap();
    // Resuming after a crash: same chunk, same body, same row.
    let again = store
        .begin_batch(run, 0, chunk([1; 32], ids(&["a1", "a2"])))
        .await
        .unwrap();
    assert_eq!(first, again);
    let changed = store
        .begin_batch(run, 0, chunk([2; 32], ids(&["a1", "a2"])))
        .await
        .unwrap_err();
    assert!(
        matches!(changed, StoreError::ChunkBodyChanged { chunk_index: 0, .. }),
        "{changed}"
    );
    assert!(changed.to_string().contains(&"01".repeat(32)), "{changed}");

    let twice = store
        .begin_batch(run, 1, chunk([3; 32], ids(&["a3", "a1"])))
        .await
        .unwrap_err();
    assert_eq!(
        twice.to_string(),
        format!("run {}: authorizer \"a1\" is in more than one chunk", run.0)
    );
    // The refused chunk left nothing behind: a3 can still go in chunk 1.
    store
        .begin_batch(run, 1, chunk([3; 32], ids(&["a3"])))
        .await
        .unwrap();
    assert!(matches!(
        store.begin_batch(run, 2, chunk([4; 32], Vec::new())).await,
        Err(StoreError::InvalidInput { .. })
    ));

    store
        .set_run_state(run, RunStateChange::new(RunState::Failed, at(9, 0)))
        .await
        .unwrap();
    let late = store
        .begin_batch(run, 2, chunk([4; 32], ids(&["a4"])))
        .await
        .unwrap_err();
    assert!(
        matches!(
            late,
            StoreError::RunFinished {
                state: RunState::Failed,
                ..
            }
        ),
        "{late}"
    );
}

pub(super) async fn a_batch_id_seen_in_an_earlier_run_is_reported<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let (_, morning, _) = run_with_chunk(&store, "payroll", &["a1"], "cached-batch").await;
    let (_, noon, _) = run_with_chunk(&store, "payroll", &["a1"], "cached-batch").await;
    let (_, fresh, _) = run_with_chunk(&store, "rent", &["a1"], "fresh-batch").await;
    assert_eq!(
        store
            .batch_ids_used_before("cached-batch", noon)
            .await
            .unwrap(),
        vec![morning]
    );
    assert!(
        store
            .batch_ids_used_before("fresh-batch", fresh)
            .await
            .unwrap()
            .is_empty()
    );
    store.mark_run_served_from_cache(noon).await.unwrap();
    assert!(store.run(noon).await.unwrap().unwrap().served_from_cache);
    assert!(!store.run(morning).await.unwrap().unwrap().served_from_cache);
}

pub(super) async fn unfinished_runs_list_what_a_restart_must_resume<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let (running, pending) = {
        let store = B::open(directory.path()).await;
        let (_, running, batch) = run_with_chunk(&store, "payroll", &["a1", "a2"], "B-1").await;
        store
            .set_batch_state(batch, BatchState::Reading, None)
            .await
            .unwrap();
        store
            .upsert_results(running, batch, &[result("a1", Some(1), 0)])
            .await
            .unwrap();
        // A second chunk whose POST never got an answer.
        store
            .begin_batch(running, 1, chunk([9; 32], ids(&["a3"])))
            .await
            .unwrap();
        let (_, done, done_batch) = run_with_chunk(&store, "rent", &["b1"], "B-2").await;
        store
            .set_batch_state(done_batch, BatchState::Complete, None)
            .await
            .unwrap();
        store
            .set_run_state(done, RunStateChange::new(RunState::Complete, at(9, 30)))
            .await
            .unwrap();
        let monitor = store.ensure_monitor("rent").await.unwrap();
        let pending = store
            .create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor,
                trigger: RunTrigger::Schedule { slot: at(12, 0) },
            })
            .await
            .unwrap();
        // No close: the process "crashes" here.
        (running, pending)
    };

    let store = B::open(directory.path()).await;
    let unfinished = store.unfinished_runs().await.unwrap();
    let ids: Vec<RunId> = unfinished.iter().map(|u| u.run.id).collect();
    assert_eq!(ids, vec![running, pending]);
    let batches = &unfinished[0].batches;
    assert_eq!(batches.len(), 2);
    assert_eq!(
        (
            batches[0].state,
            batches[0].rightfoot_batch_id.as_deref(),
            batches[0].members,
            batches[0].results
        ),
        (BatchState::Reading, Some("B-1"), 2, 1)
    );
    assert_eq!(batches[0].accepted, Some(2));
    assert_eq!(batches[0].deadline, Some(at(10, 15)));
    assert_eq!(batches[0].body_sha256, "07".repeat(32));
    assert_eq!(
        (
            batches[1].chunk_index,
            batches[1].state,
            batches[1].rightfoot_batch_id.clone()
        ),
        (1, BatchState::Submitting, None)
    );
    assert_eq!(unfinished[1].run.state, RunState::Pending);
    assert!(unfinished[1].batches.is_empty());
}

pub(super) async fn batch_states_need_a_batch_id_and_complete_is_final<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let monitor = store.ensure_monitor("payroll").await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let batch = store
        .begin_batch(run, 0, chunk([1; 32], ids(&["a1"])))
        .await
        .unwrap();
    let early = store
        .set_batch_state(batch, BatchState::Reading, None)
        .await
        .unwrap_err();
    assert!(
        early.to_string().contains("has no Rightfoot batch id yet"),
        "{early}"
    );
    // A timeout after sending: the outcome is unknown, then a resend learns the id.
    store
        .set_batch_state(
            batch,
            BatchState::Unknown,
            Some("timeout after send".into()),
        )
        .await
        .unwrap();
    store
        .mark_batch_submitted(batch, submitted("B-1", 1, &[]))
        .await
        .unwrap();
    let finished_at = |store: Store| async move {
        let batches = store.run_batches(run).await.unwrap();
        (batches[0].state, batches[0].finished_at)
    };
    let (state, in_flight) = finished_at(store.clone()).await;
    assert_eq!((state, in_flight), (BatchState::Submitted, None));
    store
        .set_batch_state(batch, BatchState::Complete, None)
        .await
        .unwrap();
    let (state, finished) = finished_at(store.clone()).await;
    assert_eq!(state, BatchState::Complete);
    assert!(finished.is_some(), "a complete chunk has finished_at");
    let back = store
        .set_batch_state(batch, BatchState::Failed, None)
        .await
        .unwrap_err();
    assert!(back.to_string().contains("is complete"), "{back}");
}

// --- Schedule and webhooks -------------------------------------------------------------

pub(super) async fn the_schedule_position_only_moves_forward<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let monitor = store.ensure_monitor("payroll").await.unwrap();
    assert_eq!(store.schedule_state(monitor).await.unwrap(), None);
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Schedule { slot: at(9, 0) },
        })
        .await
        .unwrap();
    let nine = ScheduleState {
        last_slot: at(9, 0),
        last_run: Some(run),
    };
    assert!(store.set_schedule_state(monitor, nine).await.unwrap());
    let eight = ScheduleState {
        last_slot: at(8, 0),
        last_run: None,
    };
    assert!(!store.set_schedule_state(monitor, eight).await.unwrap());
    assert_eq!(store.schedule_state(monitor).await.unwrap(), Some(nine));
    let ten = ScheduleState {
        last_slot: at(10, 0),
        last_run: None,
    };
    assert!(store.set_schedule_state(monitor, ten).await.unwrap());
    assert_eq!(store.schedule_state(monitor).await.unwrap(), Some(ten));
}

pub(super) async fn a_redelivered_webhook_is_recognised<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let uuid = "0b7e6c1e-6f2d-4a51-9d1e-6b8f4f2a9c10";
    assert!(
        store
            .record_webhook_event(uuid, Some("B-1"), at(9, 10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_webhook_event(uuid, Some("B-1"), at(9, 11))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_webhook_event("another-event", None, at(9, 12))
            .await
            .unwrap()
    );
}

// --- What the run needs: plans, first attempts, batches shared through the cache -------

pub(super) async fn a_plan_is_written_whole_or_not_at_all_and_only_once<B: OpenStore>() {
    use balance_monitor::store::{PreflightRejection, RunPlan};
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let run = manual_run(&store, "payroll").await;

    // An authorizer in two chunks: refused, and nothing of the plan is kept.
    let broken = RunPlan {
        rejected: Vec::new(),
        chunks: vec![planned(&["a1", "a2"], 1), planned(&["a2"], 2)],
    };
    let error = store.start_run(run, at(9, 0), broken).await.unwrap_err();
    assert!(
        matches!(error, StoreError::DuplicateMember { .. }),
        "{error}"
    );
    assert_eq!(
        store.run(run).await.unwrap().unwrap().state,
        RunState::Pending
    );
    assert!(store.run_batches(run).await.unwrap().is_empty());

    let plan = RunPlan {
        rejected: vec![PreflightRejection {
            authorizer_unique_id: "b1".into(),
            source: "list.csv row 4".into(),
            reason: "Missing date of birth for authorizer(s).".into(),
        }],
        chunks: vec![planned(&["a1", "a2"], 1), planned(&["a3"], 2)],
    };
    let rows = store.start_run(run, at(9, 0), plan.clone()).await.unwrap();
    let record = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.started_at),
        (RunState::Running, Some(at(9, 0)))
    );
    let batches = store.run_batches(run).await.unwrap();
    assert_eq!(batches.iter().map(|b| b.id).collect::<Vec<_>>(), rows);
    assert!(batches.iter().all(|b| b.state == BatchState::Submitting
        && b.first_attempt_at.is_none()
        && b.cached_from.is_none()));
    assert_eq!(
        store.preflight_rejections(run).await.unwrap(),
        plan.rejected
    );
    let again = store.start_run(run, at(9, 5), plan).await.unwrap_err();
    assert!(
        matches!(again, StoreError::InvalidRunTransition { .. }),
        "{again}"
    );

    // The first attempt's time is kept; later attempts do not move it.
    assert_eq!(
        store.record_first_attempt(rows[0], at(9, 1)).await.unwrap(),
        at(9, 1)
    );
    assert_eq!(
        store.record_first_attempt(rows[0], at(9, 7)).await.unwrap(),
        at(9, 1)
    );
    let tally = store.run_tally(run).await.unwrap();
    assert_eq!(
        (tally.members, tally.preflight_rejected, tally.awaiting),
        (3, 1, 3)
    );
    assert_eq!(tally.chunks_in(BatchState::Submitting), 2);
}

pub(super) async fn the_first_chunk_to_record_a_rightfoot_batch_owns_its_results<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let earlier = manual_run(&store, "payroll").await;
    let later = manual_run(&store, "payroll").await;
    let mut chunk = Vec::new();
    for run in [earlier, later] {
        let rows = store
            .start_run(
                run,
                at(9, 0),
                balance_monitor::store::RunPlan {
                    rejected: Vec::new(),
                    chunks: vec![planned(&["a1", "a2", "a3"], 1)],
                },
            )
            .await
            .unwrap();
        chunk.push(rows[0]);
    }
    // The later run records the batch id first (the two raced): it owns the batch.
    assert_eq!(
        store
            .mark_batch_submitted(chunk[1], submitted("B-1", 3, &[]))
            .await
            .unwrap(),
        None
    );
    let link = store
        .mark_batch_submitted(chunk[0], submitted("B-1", 3, &[]))
        .await
        .unwrap()
        .expect("linked to the owner");
    assert_eq!((link.run, link.batch), (later, chunk[1]));
    assert_eq!(
        store
            .mark_batch_submitted(chunk[0], submitted("B-1", 3, &[]))
            .await
            .unwrap(),
        Some(link),
        "recording the same answer again keeps the link"
    );
    assert_eq!(
        store.cached_gaps(chunk[0]).await.unwrap(),
        None,
        "owner still reading"
    );

    // The owner got a1 and gave up on the rest at its deadline.
    store
        .upsert_results(later, chunk[1], &[result("a1", Some(100), 0)])
        .await
        .unwrap();
    store
        .mark_not_retrieved(chunk[1], "no result by the deadline")
        .await
        .unwrap();
    store
        .set_batch_state(chunk[1], BatchState::Complete, None)
        .await
        .unwrap();
    assert_eq!(
        store.cached_gaps(chunk[0]).await.unwrap(),
        Some(vec!["a2".to_string(), "a3".to_string()])
    );
    store
        .upsert_results(earlier, chunk[0], &[result("a2", Some(200), 0)])
        .await
        .unwrap();
    assert_eq!(
        store
            .mark_cached_gaps_not_retrieved(chunk[0], "still missing")
            .await
            .unwrap(),
        1,
        "only a3: a1 is the owner's, a2 was read"
    );
    let tally = store.run_tally(earlier).await.unwrap();
    assert_eq!(
        (
            tally.cached,
            tally.succeeded,
            tally.not_retrieved,
            tally.awaiting
        ),
        (1, 1, 1, 0)
    );
    for id in ["a1", "a2"] {
        let retrieved = store
            .authorizer_history(id, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.outcome == ResultOutcome::Retrieved)
            .count();
        assert_eq!(retrieved, 1, "{id}");
    }

    // What the alert rules see of the linked run: the owner's result for a1, its own
    // late read of a2, and a3 not retrieved.
    let checks: Vec<(String, RunCheckOutcome)> = store
        .run_checks(earlier)
        .await
        .unwrap()
        .into_iter()
        .map(|check| (check.authorizer_unique_id, check.outcome))
        .collect();
    let retrieved = |cents| RunCheckOutcome::Retrieved {
        status_code: 0,
        balance: Some(Cents(cents)),
    };
    assert_eq!(
        checks,
        [
            ("a1".to_string(), retrieved(100)),
            ("a2".to_string(), retrieved(200)),
            ("a3".to_string(), RunCheckOutcome::NotRetrieved),
        ]
    );
}

// --- Judgement fields -------------------------------------------------------------------

pub(super) async fn judgement_fields_are_kept_whole_until_forgotten<B: OpenStore>() {
    use balance_monitor::authorizers::metadata::{Metadata, MetadataById};
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let (_, run, _) = run_with_chunk(&store, "fields", &["A-1"], "rf-fields").await;
    // More than one part's worth, with some authorizers that keep nothing.
    let lists: Vec<(String, Metadata)> = (0..2_345)
        .map(|n| {
            let mut pairs = vec![("branch".to_string(), format!("b{}", n % 7))];
            if n % 3 == 0 {
                pairs.push(("payment_amount".to_string(), format!("{n}.50")));
            }
            if n % 10 == 9 {
                pairs = vec![("ignored".to_string(), "x".to_string())];
            }
            (format!("A-{n:05}"), Metadata::from_pairs(pairs))
        })
        .collect();
    let metadata: MetadataById = lists.iter().map(|(id, fields)| (id, fields)).collect();
    let keep = vec!["payment_amount".to_string(), "branch".to_string()];
    store
        .write_judgement_metadata(run, std::sync::Arc::new(metadata), keep.clone())
        .await
        .unwrap();
    let read = store.judgement_metadata(run).await.unwrap();
    for (id, fields) in &lists {
        let expected: Vec<(&str, &str)> = fields
            .iter()
            .filter(|(key, _)| keep.iter().any(|k| k == key))
            .collect();
        let got: Vec<(&str, &str)> = read
            .get(id)
            .map(|fields| fields.iter().collect())
            .unwrap_or_default();
        assert_eq!(got, expected, "{id}");
    }
    store.forget_judgement_metadata(run).await.unwrap();
    assert!(
        store
            .judgement_metadata(run)
            .await
            .unwrap()
            .get("A-00000")
            .is_none()
    );

    // Appended a table at a time, then read back a part at a time, in id order.
    let (first, second) = lists.split_at(lists.len() / 2 + 1);
    let table = |rows: &[(String, Metadata)]| -> MetadataById {
        rows.iter().map(|(id, fields)| (id, fields)).collect()
    };
    let next = store
        .append_judgement_metadata(run, 0, vec![table(first)], keep.clone())
        .await
        .unwrap();
    let next = store
        .append_judgement_metadata(run, next, vec![table(second), table(&[])], keep.clone())
        .await
        .unwrap();
    let mut read = Vec::new();
    for part in 0.. {
        match store.judgement_metadata_part(run, part).await.unwrap() {
            Some(table) => read.extend(
                table
                    .iter()
                    .map(|(id, fields)| (id.to_string(), fields.len())),
            ),
            None => {
                assert_eq!(part, next, "the parts are numbered without a gap");
                break;
            }
        }
    }
    let expected: Vec<(String, usize)> = lists
        .iter()
        .map(|(id, fields)| {
            let kept = fields
                .iter()
                .filter(|(key, _)| keep.iter().any(|k| k == key));
            (id.clone(), kept.count())
        })
        .filter(|(_, kept)| *kept > 0)
        .collect();
    assert_eq!(read, expected);
    store.forget_judgement_metadata(run).await.unwrap();
    assert!(
        store
            .judgement_metadata_part(run, 0)
            .await
            .unwrap()
            .is_none()
    );
}

// --- Closing ---------------------------------------------------------------------------

pub(super) async fn after_close_writes_fail_and_reopening_keeps_what_was_written<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let kept = store.ensure_monitor("kept").await.unwrap();
    store.close().await;
    let error = store.ensure_monitor("late").await.unwrap_err();
    assert!(matches!(error, StoreError::Closed { .. }), "{error}");
    assert!(error.to_string().contains("the store is closed"), "{error}");
    drop(store);
    let reopened = B::open(directory.path()).await;
    assert_eq!(reopened.monitor_id("kept").await.unwrap(), Some(kept));
    assert_eq!(reopened.monitor_id("late").await.unwrap(), None);
}

// --- Checks ----------------------------------------------------------------------------

pub(super) async fn a_sound_store_passes_its_checks_and_a_closed_one_takes_no_test_write<
    B: OpenStore,
>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    store.ensure_monitor("daily").await.unwrap();
    store.quick_check().await.unwrap();
    store.check_writable().await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        balance_monitor::store::LATEST_VERSION,
        "the test write leaves the schema version as it was"
    );
    store.close().await;
    let error = store.check_writable().await.unwrap_err();
    assert!(matches!(error, StoreError::Closed { .. }), "{error}");
}

// --- Run leases and judgement order (issue 15) ---------------------------------------

/// Issue 15: two runs of one monitor overlapped (`run-now` beside the daemon), and the
/// later one was judged first. The lease is what keeps a second run out.
pub(super) async fn a_monitor_run_lease_is_held_by_one_holder_until_it_expires_or_is_released<
    B: OpenStore,
>() {
    use balance_monitor::store::{LeaseRequest, LeaseTake};
    use std::time::Duration;
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let monitor = store.ensure_monitor("payroll").await.unwrap();
    let other = store.ensure_monitor("rent").await.unwrap();
    let minute = Duration::from_secs(60);
    let a = || "host-a pid 1 (aaaa)".to_string();
    let b = || "host-b pid 2 (bbbb)".to_string();

    assert_eq!(store.run_lease(monitor).await.unwrap(), None);
    let taken = store
        .take_run_lease(LeaseRequest::new(monitor, a(), minute))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseTake::Taken { .. }), "{taken:?}");
    let run = manual_run(&store, "payroll").await;
    assert!(store.set_run_lease_run(monitor, a(), run).await.unwrap());
    assert!(!store.set_run_lease_run(monitor, b(), run).await.unwrap());

    // Refused while held, to another holder and to the holder itself, naming the run.
    for holder in [b(), a()] {
        match store
            .take_run_lease(LeaseRequest::new(monitor, holder, minute))
            .await
            .unwrap()
        {
            LeaseTake::Held(lease) => {
                assert_eq!(lease.holder, a());
                assert_eq!(lease.run, Some(run));
                assert!(lease.expires_at > lease.taken_at, "{lease:?}");
            }
            taken => panic!("a held lease was taken again: {taken:?}"),
        }
    }
    // Another monitor's lease is its own.
    let taken = store
        .take_run_lease(LeaseRequest::new(other, b(), minute))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseTake::Taken { .. }), "{taken:?}");
    assert_eq!(
        store.run_lease(monitor).await.unwrap().unwrap().run,
        Some(run)
    );

    // Only the holder renews or releases it.
    assert!(store.renew_run_lease(monitor, a(), minute).await.unwrap());
    assert!(!store.renew_run_lease(monitor, b(), minute).await.unwrap());
    store.release_run_lease(monitor, b()).await.unwrap();
    assert_eq!(store.run_lease(monitor).await.unwrap().unwrap().holder, a());
    store.release_run_lease(monitor, a()).await.unwrap();
    assert_eq!(store.run_lease(monitor).await.unwrap(), None);
    assert!(!store.renew_run_lease(monitor, a(), minute).await.unwrap());

    // A holder that dies stops renewing: once expired (a lease of no time is expired at
    // once), anyone takes it, and the dead holder cannot renew it back.
    let taken = store
        .take_run_lease(LeaseRequest::new(monitor, a(), Duration::ZERO))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseTake::Taken { .. }), "{taken:?}");
    assert_eq!(store.run_lease(monitor).await.unwrap(), None);
    let taken = store
        .take_run_lease(LeaseRequest::new(monitor, b(), minute))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseTake::Taken { .. }), "{taken:?}");
    assert!(!store.renew_run_lease(monitor, a(), minute).await.unwrap());
    assert_eq!(store.run_lease(monitor).await.unwrap().unwrap().run, None);

    // A holder known to be dead is replaced before its lease expires.
    let refused = store
        .take_run_lease(LeaseRequest::new(monitor, a(), minute).replacing(Some(a())))
        .await
        .unwrap();
    assert!(matches!(refused, LeaseTake::Held(_)), "{refused:?}");
    let taken = store
        .take_run_lease(LeaseRequest::new(monitor, a(), minute).replacing(Some(b())))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseTake::Taken { .. }), "{taken:?}");
    assert_eq!(store.run_lease(monitor).await.unwrap().unwrap().holder, a());
}

/// Issue 15: `next_unjudged_run` skipped an older run still in flight and handed out
/// a newer finished one, so runs of a monitor were judged out of order.
pub(super) async fn runs_of_a_monitor_are_judged_in_order<B: OpenStore>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let older = manual_run(&store, "payroll").await;
    let newer = manual_run(&store, "payroll").await;
    let monitor = store.monitor_id("payroll").await.unwrap().unwrap();
    store
        .set_run_state(older, RunStateChange::new(RunState::Running, at(9, 0)))
        .await
        .unwrap();
    store
        .set_run_state(newer, RunStateChange::new(RunState::Complete, at(9, 1)))
        .await
        .unwrap();
    // The older run is still going: nothing after it is judged before it.
    assert_eq!(store.next_unjudged_run(monitor).await.unwrap(), None);
    store
        .set_run_state(older, RunStateChange::new(RunState::Partial, at(9, 2)))
        .await
        .unwrap();
    let next = store.next_unjudged_run(monitor).await.unwrap().unwrap();
    assert_eq!(next.record.id, older);
    assert!(
        store
            .commit_judgement(
                monitor,
                older,
                balance_monitor::store::Judgement {
                    judged_at: at(9, 3),
                    ..Default::default()
                }
            )
            .await
            .unwrap()
    );
    let next = store.next_unjudged_run(monitor).await.unwrap().unwrap();
    assert_eq!(next.record.id, newer);
}

/// A silence as the tests store it: A-1's alerts of every monitor and rule.
fn silence(starts: DateTime<Utc>, ends: DateTime<Utc>) -> NewSilence {
    NewSilence {
        authorizer_unique_id: "A-1".into(),
        monitor: None,
        rule: Some("below_payment".into()),
        starts_at: starts,
        ends_at: ends,
        created_by: "ops".into(),
        comment: "payment plan".into(),
    }
}

/// Judges `run` with one write: A-1's `below_payment#1` alert firing, held or released.
async fn judge_held(store: &Store, monitor: MonitorId, run: RunId, held: bool) -> String {
    let fingerprint = "m/below_payment#1/authorizer/A-1".to_string();
    store
        .set_run_state(run, RunStateChange::new(RunState::Complete, at(9, 30)))
        .await
        .unwrap();
    let judgement = Judgement {
        alerts: vec![AlertWrite::Open {
            row: OpenAlertRow {
                fingerprint: fingerprint.clone(),
                authorizer_unique_id: Some("A-1".into()),
                rule: "below_payment#1".into(),
                severity: "warning".into(),
                phase: OpenPhase::Firing {
                    fired_at: at(9, 0),
                    last_notified_at: at(9, 0),
                },
                hits: 1,
                clears: 0,
            },
            reason: Some("balance $10.00 is below the payment of $50.00".into()),
        }],
        held: match held {
            true => vec![fingerprint.clone()],
            false => Vec::new(),
        },
        released: match held {
            true => Vec::new(),
            false => vec![fingerprint.clone()],
        },
        judged_at: at(9, 31),
        ..Judgement::default()
    };
    assert!(
        store
            .commit_judgement(monitor, run, judgement)
            .await
            .unwrap()
    );
    fingerprint
}

pub(super) async fn silences_are_kept_ended_early_once_and_held_alerts_survive_a_reopen<
    B: OpenStore,
>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let short = store
        .add_silence(silence(at(8, 0), at(10, 0)))
        .await
        .unwrap();
    let long = store
        .add_silence(silence(at(8, 0), at(12, 0)))
        .await
        .unwrap();
    let listed = |silences: Vec<SilenceRecord>| silences.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        listed(store.silences(Some(at(9, 0))).await.unwrap()),
        [short, long]
    );
    assert_eq!(
        listed(store.silences(Some(at(11, 0))).await.unwrap()),
        [long]
    );
    let ended = store
        .expire_silence(long, at(11, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ended.silence.ends_at, ended.ended_early_at),
        (at(11, 0), Some(at(11, 0)))
    );
    assert!(!ended.is_active(at(11, 0)));
    // Ending it again changes nothing; an unknown id is no silence.
    let again = store
        .expire_silence(long, at(11, 30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, ended);
    assert_eq!(store.expire_silence(999, at(11, 0)).await.unwrap(), None);
    assert!(store.silences(Some(at(11, 0))).await.unwrap().is_empty());

    // An alert a silence held is remembered as held, also after a reopen.
    let (monitor, run, _) = run_with_chunk(&store, "m", &["A-1"], "B-1").await;
    let fingerprint = judge_held(&store, monitor, run, true).await;
    store.close().await;
    drop(store);
    let store = B::open(directory.path()).await;
    let held = store.held_alerts(monitor).await.unwrap();
    assert_eq!(
        held.iter()
            .map(|h| h.fingerprint.as_str())
            .collect::<Vec<_>>(),
        [fingerprint.as_str()]
    );
    assert_eq!(held[0].rule, "below_payment#1");
    assert_eq!(listed(store.silences(None).await.unwrap()), [short, long]);
    // A later judgement whose digest carries it releases it.
    let (_, next, _) = run_with_chunk(&store, "m", &["A-1"], "B-2").await;
    judge_held(&store, monitor, next, false).await;
    assert!(store.held_alerts(monitor).await.unwrap().is_empty());
}

/// A firing alert of `rule` about `authorizer`, fired at `fired_at`.
fn firing(authorizer: &str, rule: &str, severity: &str, fired_at: DateTime<Utc>) -> AlertWrite {
    AlertWrite::Open {
        row: OpenAlertRow {
            fingerprint: format!("m/{rule}/authorizer/{authorizer}"),
            authorizer_unique_id: Some(authorizer.into()),
            rule: rule.into(),
            severity: severity.into(),
            phase: OpenPhase::Firing {
                fired_at,
                last_notified_at: fired_at,
            },
            hits: 1,
            clears: 0,
        },
        reason: Some(format!("{rule} holds")),
    }
}

/// Judges `run` (finished first) with `alerts`.
async fn judge_with(store: &Store, monitor: MonitorId, run: RunId, alerts: Vec<AlertWrite>) {
    store
        .set_run_state(run, RunStateChange::new(RunState::Complete, at(12, 0)))
        .await
        .unwrap();
    let judgement = Judgement {
        alerts,
        judged_at: at(12, 1),
        ..Judgement::default()
    };
    assert!(
        store
            .commit_judgement(monitor, run, judgement)
            .await
            .unwrap()
    );
}

/// The dashboard's reads: alerts by severity, authorizers at risk at past instants,
/// a run's and an authorizer's alerts, filtered pages, the outbox backlog and "retry
/// now".
pub(super) async fn the_dashboard_reads_alerts_at_risk_and_the_outbox_and_retries<B: OpenStore>() {
    use balance_monitor::store::{AlertFilter, AlertStateFilter, AttemptOutcome, NewNotification};

    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let first = manual_run(&store, "m").await;
    let second = manual_run(&store, "m").await;
    let monitor = store.monitor_id("m").await.unwrap().unwrap();
    judge_with(
        &store,
        monitor,
        first,
        vec![
            firing("A-1", "below_payment#1", "warning", at(9, 0)),
            firing("A-2", "check_failed#1", "critical", at(9, 0)),
        ],
    )
    .await;
    judge_with(
        &store,
        monitor,
        second,
        vec![
            firing("A-1", "below_payment#1", "warning", at(9, 0)),
            AlertWrite::Resolve {
                fingerprint: "m/check_failed#1/authorizer/A-2".into(),
                at: at(10, 0),
                reason: "the check succeeded".into(),
            },
        ],
    )
    .await;

    let counts = store.firing_alert_counts().await.unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(
        (
            counts[0].monitor_name.as_str(),
            counts[0].severity.as_str(),
            counts[0].count
        ),
        ("m", "warning", 1)
    );
    let instants = vec![at(8, 0), at(9, 0), at(9, 30), at(10, 0), at(11, 0)];
    assert_eq!(
        store.at_risk_counts(monitor, instants).await.unwrap(),
        vec![0, 2, 2, 1, 1]
    );
    assert!(
        store
            .at_risk_counts(monitor, Vec::new())
            .await
            .unwrap()
            .is_empty()
    );

    let of_run = |alerts: Vec<balance_monitor::store::AlertRecord>| {
        alerts.into_iter().map(|a| a.rule).collect::<Vec<_>>()
    };
    assert!(store.run_alerts(first).await.unwrap().is_empty());
    assert_eq!(
        of_run(store.run_alerts(second).await.unwrap()),
        vec!["below_payment#1", "check_failed#1"]
    );
    let a2 = store.authorizer_alerts("A-2", 10).await.unwrap();
    assert_eq!(a2.len(), 1);
    assert_eq!(a2[0].state, "resolved");
    assert!(store.authorizer_alerts("A-3", 10).await.unwrap().is_empty());

    let filtered = |filter: AlertFilter| {
        let store = store.clone();
        async move { of_run(store.alerts_filtered(filter, None, 10).await.unwrap().rows) }
    };
    let critical = AlertFilter {
        severity: Some("critical".into()),
        ..AlertFilter::default()
    };
    assert_eq!(filtered(critical).await, vec!["check_failed#1"]);
    let kind = AlertFilter {
        rule: Some("below_payment".into()),
        ..AlertFilter::default()
    };
    assert_eq!(filtered(kind).await, vec!["below_payment#1"]);
    let prefix = AlertFilter {
        rule: Some("below_pay".into()),
        ..AlertFilter::default()
    };
    assert!(
        filtered(prefix).await.is_empty(),
        "a rule matches whole, or by its kind"
    );
    let firing_now = AlertFilter {
        state: Some(AlertStateFilter::Firing),
        monitor: Some("m".into()),
        ..AlertFilter::default()
    };
    assert_eq!(filtered(firing_now).await, vec!["below_payment#1"]);
    let other = AlertFilter {
        monitor: Some("other".into()),
        ..AlertFilter::default()
    };
    assert!(filtered(other).await.is_empty());
    let page = store
        .alerts_filtered(AlertFilter::default(), None, 1)
        .await
        .unwrap();
    assert!(page.has_more);
    let rest = store
        .alerts_filtered(AlertFilter::default(), Some(page.rows[0].id), 1)
        .await
        .unwrap();
    assert!(!rest.has_more && rest.rows[0].id < page.rows[0].id);

    let queue = |key: &str, monitor: Option<&str>| NewNotification {
        route: "ops".into(),
        idempotency_key: key.into(),
        payload: "{}".into(),
        monitor: monitor.map(str::to_string),
        created_at: at(11, 0),
    };
    let failed = store
        .queue_notification(queue("k1", Some("m")))
        .await
        .unwrap();
    let test = store.queue_notification(queue("k2", None)).await.unwrap();
    let delivered = store
        .queue_notification(queue("k3", Some("m")))
        .await
        .unwrap();
    store
        .record_attempt(
            failed,
            at(11, 1),
            AttemptOutcome::Failed {
                error: "550 no".into(),
            },
        )
        .await
        .unwrap();
    store
        .record_attempt(delivered, at(11, 1), AttemptOutcome::Delivered)
        .await
        .unwrap();
    let backlog = store.outbox_backlog().await.unwrap();
    let backlog: Vec<_> = backlog
        .iter()
        .map(|b| (b.monitor.as_deref(), b.pending, b.failed))
        .collect();
    assert_eq!(backlog, vec![(None, 1, 0), (Some("m"), 0, 1)]);
    let undelivered = store.undelivered(10).await.unwrap();
    assert_eq!(
        undelivered.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![failed, test]
    );
    assert_eq!(undelivered[0].state, "failed");
    assert_eq!(undelivered[0].last_error.as_deref(), Some("550 no"));
    assert_eq!(undelivered[0].attempts, 1);

    assert!(store.retry_notification(failed, at(12, 0)).await.unwrap());
    assert!(
        !store
            .retry_notification(delivered, at(12, 0))
            .await
            .unwrap()
    );
    assert!(!store.retry_notification(9_999, at(12, 0)).await.unwrap());
    let due = store.due_notifications(at(12, 0), 10).await.unwrap();
    assert!(due.iter().any(|n| n.id == failed), "{due:?}");
    assert_eq!(store.undelivered(10).await.unwrap()[0].state, "pending");
}

/// The payment calendar's ledger (0010): a run's decisions come back as stored, a
/// recheck in the same run replaces a debit's row; returns import once (a second import
/// of the same rows changes nothing, a different code for a stored return is a conflict
/// and leaves it); returns count in a row from the newest sent debit settled before the
/// given date, a held debit in between neither counting nor breaking the row.
pub(super) async fn debit_decisions_and_returns_count_in_a_row<B: OpenStore>() {
    use balance_monitor::domain::Decision;
    use balance_monitor::store::{DecisionRow, NewReturn, ReturnImport};
    use chrono::NaiveDate;

    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let (_, run, _) = run_with_chunk(&store, "ach", &["A", "B"], "batch-1").await;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let row = |debit: &str, authorizer: &str, d: u32, decision: Decision| DecisionRow {
        debit_id: debit.to_string(),
        authorizer_unique_id: authorizer.to_string(),
        debit_date: day(d),
        settles_on: day(d),
        amount: Cents(18_000),
        decision,
        reason: format!("{decision} on {d}"),
        balance: Some(Cents(50_000)),
        checked_at: Some(at(9, 5)),
    };
    let decisions = vec![
        row("a-1", "A", 1, Decision::Send),
        row("a-2", "A", 8, Decision::Send),
        row("a-3", "A", 15, Decision::Hold),
        row("a-4", "A", 22, Decision::Send),
        row("b-1", "B", 8, Decision::Send),
        row("b-2", "B", 15, Decision::Send),
    ];
    store
        .record_decisions(run, decisions.clone())
        .await
        .unwrap();
    let recheck = DecisionRow {
        reason: "rechecked".to_string(),
        balance: None,
        checked_at: None,
        ..row("a-4", "A", 22, Decision::Unknown)
    };
    store
        .record_decisions(run, vec![recheck.clone()])
        .await
        .unwrap();
    let mut expected = decisions;
    expected[3] = recheck;
    assert_eq!(store.run_decisions(run).await.unwrap(), expected);
    // A later run of the monitor decides a-4 again: it is the latest decision.
    let (_, later, _) = run_with_chunk(&store, "ach", &["A"], "batch-2").await;
    let final_a4 = row("a-4", "A", 22, Decision::Send);
    store
        .record_decisions(later, vec![final_a4.clone()])
        .await
        .unwrap();
    let latest = store
        .latest_decisions(balance_monitor::store::DecisionQuery {
            settles_on: Some(day(22)),
            monitor: Some("ach".to_string()),
            authorizer: None,
        })
        .await
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!((latest[0].run, &latest[0].decision), (later, &final_a4));
    let every = store.latest_decisions(Default::default()).await.unwrap();
    let order: Vec<&str> = every.iter().map(|d| d.decision.debit_id.as_str()).collect();
    assert_eq!(order, ["a-1", "a-2", "b-1", "a-3", "b-2", "a-4"]);
    let none = store
        .latest_decisions(balance_monitor::store::DecisionQuery {
            settles_on: None,
            monitor: Some("other".to_string()),
            authorizer: None,
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let of_b = store
        .latest_decisions(balance_monitor::store::DecisionQuery {
            authorizer: Some("B".to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    let order: Vec<&str> = of_b.iter().map(|d| d.decision.debit_id.as_str()).collect();
    assert_eq!(order, ["b-1", "b-2"]);
    assert!(of_b.iter().all(|d| d.decision.authorizer_unique_id == "B"));

    let returns = |rows: &[(&str, &str, u32)]| -> Vec<NewReturn> {
        rows.iter()
            .map(|(debit, code, d)| NewReturn {
                debit_id: debit.to_string(),
                return_code: code.to_string(),
                return_date: day(*d),
            })
            .collect()
    };
    let file = returns(&[("a-1", "R01", 4), ("a-2", "R09", 11), ("b-2", "R01", 18)]);
    assert_eq!(
        store.import_returns(file.clone(), at(12, 0)).await.unwrap(),
        ReturnImport {
            added: 3,
            unchanged: 0,
            conflicts: vec![]
        }
    );
    let again = store.import_returns(file, at(13, 0)).await.unwrap();
    assert_eq!((again.added, again.unchanged), (0, 3));
    let conflicting = store
        .import_returns(returns(&[("a-1", "R02", 4)]), at(13, 0))
        .await
        .unwrap();
    assert_eq!(conflicting.conflicts.len(), 1);
    assert_eq!(conflicting.conflicts[0].stored_code, "R01");

    let ids = vec!["A".to_string(), "B".to_string(), "C".to_string()];
    // Before the 22nd: a-2 and a-1 returned in a row (a-3 was held); b-2 returned,
    // b-1 was not.
    let counts = store.returns_in_a_row(ids.clone(), day(22)).await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("A".to_string(), 2), ("B".to_string(), 1)]
    );
    // Of the latest decisions settling 1-22 December: a-1, a-2, a-4 (sent in the later
    // run), b-1, b-2 sent; a-3 held. a-1 and b-2 came back R01, a-2 R09.
    let tally = store.decision_tally(day(1), day(22), None).await.unwrap();
    assert_eq!(
        tally,
        balance_monitor::store::DecisionTally {
            send: 5,
            hold: 1,
            unknown: 0,
            sent_returned_for_funds: 3,
            sent_returned_otherwise: 0,
        }
    );
    let first_week = store
        .decision_tally(day(1), day(7), Some("ach".to_string()))
        .await
        .unwrap();
    assert_eq!(
        (first_week.send, first_week.sent_returned_for_funds),
        (1, 1)
    );
    // Before the 8th, only a-1 has settled for A, and nothing for B.
    let counts = store.returns_in_a_row(ids, day(8)).await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("A".to_string(), 1)]
    );
}

/// A memory row remembering `cents` at 9:00 for `authorizer`.
fn remembered(authorizer: &str, cents: i64) -> balance_monitor::store::MemoryRow {
    balance_monitor::store::MemoryRow {
        authorizer_unique_id: authorizer.into(),
        first_checked_at: at(9, 0),
        last_success: Some((at(9, 0), Cents(cents))),
        peaks: vec![(at(9, 0), Cents(cents))],
    }
}

/// A run alert (`run_failed#1`) firing since 9:00.
fn run_alert_firing() -> AlertWrite {
    AlertWrite::Open {
        row: OpenAlertRow {
            fingerprint: "m/run_failed#1/runs".into(),
            authorizer_unique_id: None,
            rule: "run_failed#1".into(),
            severity: "critical".into(),
            phase: OpenPhase::Firing {
                fired_at: at(9, 0),
                last_notified_at: at(9, 0),
            },
            hits: 1,
            clears: 0,
        },
        reason: Some("the run failed".into()),
    }
}

/// Issue 21: the judgement reads a run's checks, the balance memory and the open alerts
/// in keyset pages of ids, and commits in one transaction fed a part at a time: parts
/// that end without the commit write nothing, and a judged run takes no parts.
pub(super) async fn a_judgement_reads_keyset_pages_and_commits_its_parts_whole<B: OpenStore>() {
    use balance_monitor::store::JudgementPart;
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    let members = ["a1", "a2", "a3", "a4", "a5"];
    let (monitor, run, batch) = run_with_chunk(&store, "m", &members, "B-1").await;
    store
        .upsert_results(
            run,
            batch,
            &[result("a1", Some(100), 0), result("a4", None, 3300)],
        )
        .await
        .unwrap();
    store
        .set_run_state(run, RunStateChange::new(RunState::Complete, at(9, 30)))
        .await
        .unwrap();

    // Pages of two checks, in id order, add up to every check.
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.run_checks_page(run, after.clone(), 2).await.unwrap();
        assert!(page.len() <= 2, "{page:?}");
        let Some(last) = page.last() else { break };
        after = last.authorizer_unique_id.clone();
        paged.extend(page);
    }
    assert_eq!(paged, store.run_checks(run).await.unwrap());
    assert_eq!(paged.len(), members.len());

    // Parts that end without the commit write nothing, and the run stays unjudged.
    let (parts, receiver) = tokio::sync::mpsc::channel(2);
    let first = Judgement {
        memory_upserts: vec![remembered("a1", 100), remembered("a2", 200)],
        alerts: vec![firing("a2", "balance_below#1", "warning", at(9, 0))],
        ..Judgement::default()
    };
    let commit = store.commit_judgement_parts(monitor, run, at(9, 31), receiver);
    let send = async move {
        parts.send(JudgementPart::Writes(first)).await.unwrap();
        drop(parts);
    };
    let (abandoned, ()) = tokio::join!(commit, send);
    assert!(abandoned.is_err(), "{abandoned:?}");
    assert!(store.balance_memory(monitor).await.unwrap().is_empty());
    assert!(store.open_alerts(monitor).await.unwrap().is_empty());
    assert_eq!(
        store
            .next_unjudged_run(monitor)
            .await
            .unwrap()
            .unwrap()
            .record
            .id,
        run
    );

    // Parts that end with it are committed whole.
    let (parts, receiver) = tokio::sync::mpsc::channel(2);
    let commit = store.commit_judgement_parts(monitor, run, at(9, 32), receiver);
    let send = async move {
        for judgement in [
            Judgement {
                memory_upserts: vec![remembered("a1", 100), remembered("a2", 200)],
                alerts: vec![firing("a2", "balance_below#1", "warning", at(9, 0))],
                ..Judgement::default()
            },
            Judgement {
                memory_upserts: vec![remembered("a3", 300), remembered("a5", 500)],
                alerts: vec![
                    firing("a5", "balance_below#1", "warning", at(9, 0)),
                    firing("a5", "negative_balance#1", "critical", at(9, 0)),
                    run_alert_firing(),
                ],
                ..Judgement::default()
            },
        ] {
            parts.send(JudgementPart::Writes(judgement)).await.unwrap();
        }
        parts.send(JudgementPart::Commit).await.unwrap();
    };
    let (committed, ()) = tokio::join!(commit, send);
    assert!(committed.unwrap());
    assert_eq!(store.next_unjudged_run(monitor).await.unwrap(), None);

    // The memory in pages of two, and the open alerts of the ids each page covers.
    let memory_ids = |rows: Vec<balance_monitor::store::MemoryRow>| {
        rows.into_iter()
            .map(|row| row.authorizer_unique_id)
            .collect::<Vec<_>>()
    };
    let first = store
        .balance_memory_page(monitor, String::new(), 2)
        .await
        .unwrap();
    assert_eq!(memory_ids(first), ["a1", "a2"]);
    let second = store
        .balance_memory_page(monitor, "a2".into(), 2)
        .await
        .unwrap();
    assert_eq!(second, [remembered("a3", 300), remembered("a5", 500)]);
    assert!(
        store
            .balance_memory_page(monitor, "a5".into(), 2)
            .await
            .unwrap()
            .is_empty()
    );
    let alert_keys = |rows: Vec<OpenAlertRow>| {
        rows.into_iter()
            .map(|row| (row.authorizer_unique_id, row.rule))
            .collect::<Vec<_>>()
    };
    let key = |id: &str, rule: &str| (Some(id.to_string()), rule.to_string());
    assert_eq!(
        alert_keys(
            store
                .open_alerts_between(monitor, String::new(), Some("a2".into()))
                .await
                .unwrap()
        ),
        [key("a2", "balance_below#1")]
    );
    assert_eq!(
        alert_keys(
            store
                .open_alerts_between(monitor, "a2".into(), None)
                .await
                .unwrap()
        ),
        [
            key("a5", "balance_below#1"),
            key("a5", "negative_balance#1")
        ]
    );
    assert!(
        store
            .open_alerts_between(monitor, "a2".into(), Some("a4".into()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        alert_keys(store.open_run_alerts(monitor).await.unwrap()),
        [(None, "run_failed#1".to_string())]
    );

    // A judged run takes no parts: the answer is `false` and nothing is written.
    let (parts, receiver) = tokio::sync::mpsc::channel(2);
    let again = store
        .commit_judgement_parts(monitor, run, at(9, 40), receiver)
        .await
        .unwrap();
    assert!(!again);
    assert!(
        parts
            .send(JudgementPart::Writes(Judgement::default()))
            .await
            .is_err()
    );
}
