//! A database with history in it, built through the store's public API as runs build
//! it, and the read-side commands run as the real binary against it.
//!
//! [`seed_run`] records one finished run of a monitor with one chunk: each authorizer
//! ends as a balance, a failed check, not retrieved, rejected by Rightfoot or rejected
//! by pre-flight. [`Fixture`] is a temporary directory holding a configuration (one
//! monitor, `morning-ach`, in America/New_York) and its database; [`Fixture::cli`]
//! runs `balance-monitor --config … <args>` with a clean environment.

use std::path::{Path, PathBuf};
use std::process::Output;

use balance_monitor::money::Cents;
use balance_monitor::store::{
    BatchRowId, BatchState, BatchSubmitted, FailedAuthorizer, NewRun, PlannedChunk,
    PreflightRejection, ResultRow, RunId, RunPlan, RunState, RunStateChange, RunTrigger, Store,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::Digest as _;

use super::run_binary;

/// The environment variable the test configuration reads the Rightfoot key from.
pub const KEY_ENV: &str = "RF_HISTORY_TEST_KEY";

/// What became of one authorizer in a seeded run.
#[derive(Clone, Copy, Debug)]
pub enum Seen {
    Balance(i64),
    Failed(i64),
    NotRetrieved,
    Rejected(&'static str),
    Preflight(&'static str),
}

/// A seeded run: its id and its one chunk (if anything was sent).
#[derive(Clone, Copy, Debug)]
pub struct Seeded {
    pub run: RunId,
    pub batch: Option<BatchRowId>,
}

/// `2025-03-<day> <hour>:00 UTC`.
pub fn march(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0).unwrap()
}

/// Records a scheduled run of `monitor` for the slot `started`, sent as Rightfoot batch
/// `batch_id`, finished ten minutes later. Results are timestamped five minutes in.
pub async fn seed_run(
    store: &Store,
    monitor: &str,
    started: DateTime<Utc>,
    batch_id: &str,
    entries: &[(&str, Seen)],
) -> Seeded {
    seed_run_finished_at(
        store,
        monitor,
        started,
        batch_id,
        entries,
        started + Duration::minutes(10),
    )
    .await
}

/// [`seed_run`] with the time the run finished.
pub async fn seed_run_finished_at(
    store: &Store,
    monitor: &str,
    started: DateTime<Utc>,
    batch_id: &str,
    entries: &[(&str, Seen)],
    finished: DateTime<Utc>,
) -> Seeded {
    let monitor = store.ensure_monitor(monitor).await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Schedule { slot: started },
        })
        .await
        .unwrap();
    let rejected: Vec<PreflightRejection> = entries
        .iter()
        .enumerate()
        .filter_map(|(row, (id, seen))| match seen {
            Seen::Preflight(reason) => Some(PreflightRejection {
                authorizer_unique_id: (*id).to_string(),
                source: format!("authorizers.csv row {}", row + 2),
                reason: (*reason).to_string(),
            }),
            _ => None,
        })
        .collect();
    let members: Vec<String> = entries
        .iter()
        .filter(|(_, seen)| !matches!(seen, Seen::Preflight(_)))
        .map(|(id, _)| (*id).to_string())
        .collect();
    let chunks = if members.is_empty() {
        Vec::new()
    } else {
        vec![PlannedChunk {
            body_sha256: sha2::Sha256::digest(format!("{batch_id}{}", run.0)).into(),
            members: members.clone(),
        }]
    };
    let batches = store
        .start_run(run, started, RunPlan { rejected, chunks })
        .await
        .unwrap();
    let Some(&batch) = batches.first() else {
        store
            .set_run_state(
                run,
                RunStateChange::new(RunState::Failed, finished).because("nothing to send"),
            )
            .await
            .unwrap();
        return Seeded { run, batch: None };
    };
    let failed: Vec<FailedAuthorizer> = entries
        .iter()
        .filter_map(|(id, seen)| match seen {
            Seen::Rejected(reason) => Some(FailedAuthorizer {
                authorizer_unique_id: (*id).to_string(),
                reason: (*reason).to_string(),
            }),
            _ => None,
        })
        .collect();
    store
        .mark_batch_submitted(
            batch,
            BatchSubmitted {
                rightfoot_batch_id: batch_id.to_string(),
                submitted_at: started,
                accepted: (members.len() - failed.len()) as u32,
                failed,
                deadline: started + Duration::minutes(75),
            },
        )
        .await
        .unwrap();
    let rows: Vec<ResultRow> = entries
        .iter()
        .filter_map(|(id, seen)| {
            let (balance, code) = match seen {
                Seen::Balance(cents) => (Some(Cents(*cents)), 0),
                Seen::Failed(code) => (None, *code),
                _ => return None,
            };
            Some(ResultRow {
                authorizer_unique_id: (*id).to_string(),
                balance,
                balance_status_code: code,
                retrieved_at: started + Duration::minutes(5),
            })
        })
        .collect();
    store.upsert_results(run, batch, &rows).await.unwrap();
    let missing = store
        .mark_not_retrieved(batch, "no result by the deadline")
        .await
        .unwrap();
    store
        .set_batch_state(batch, BatchState::Complete, None)
        .await
        .unwrap();
    let complete = missing == 0
        && entries
            .iter()
            .all(|(_, seen)| matches!(seen, Seen::Balance(_) | Seen::Failed(_)));
    let (state, reason) = if complete {
        (RunState::Complete, None)
    } else {
        (
            RunState::Partial,
            Some("some authorizers were not checked".to_string()),
        )
    };
    store
        .set_run_state(
            run,
            RunStateChange {
                state,
                at: finished,
                reason,
            },
        )
        .await
        .unwrap();
    Seeded {
        run,
        batch: Some(batch),
    }
}

/// A configuration and its database in a temporary directory.
pub struct Fixture {
    pub directory: tempfile::TempDir,
}

impl Fixture {
    /// The configuration (`storage.retention` when given) and an empty directory.
    pub fn new(retention: Option<&str>) -> Fixture {
        let directory = tempfile::tempdir().unwrap();
        let retention = retention
            .map(|r| format!("  retention: {r}\n"))
            .unwrap_or_default();
        std::fs::write(
            directory.path().join("config.yaml"),
            format!(
                "rightfoot:\n  api_key_env: {KEY_ENV}\n\
                 storage:\n  path: state.db\n{retention}\
                 monitors:\n  - name: morning-ach\n    schedule: \"0 9 * * 1-5\"\n\
                 \x20   timezone: America/New_York\n    authorizers:\n      csv: authorizers.csv\n"
            ),
        )
        .unwrap();
        Fixture { directory }
    }

    pub fn database(&self) -> PathBuf {
        self.directory.path().join("state.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    pub fn open(&self) -> Store {
        Store::open(self.database()).unwrap()
    }

    /// `balance-monitor --config config.yaml <args>` in the fixture's directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all = vec!["--config", "config.yaml"];
        all.extend_from_slice(args);
        run_binary(self.directory.path(), &all, &[(KEY_ENV, "rf_test_key")])
    }
}

/// Standard output of a command that must have succeeded.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Reads a whole table with a plain connection, as an operator's `sqlite3` would.
pub fn count(database: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(database)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}
