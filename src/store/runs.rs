//! Monitors and runs: creating them, moving a run through its states, and finding the
//! runs a restart must resume.
//!
//! The store enforces what the schema can: one run per monitor and cron slot, and no
//! state change out of a final state. When a run starts or ends is the run module's
//! decision, not this one's.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use super::batches::{batches_of_run, insert_chunk};
use super::columns::{count, optional_time, text_enum, time, time_text};
use super::error::{OpError, StoreError, is_unique_violation};
use super::types::{
    BatchRowId, BatchState, MonitorId, NewRun, PreflightRejection, RunId, RunPlan, RunRecord,
    RunState, RunTally, RunTrigger, UnfinishedRun,
};

pub(super) const RUN_COLUMNS: &str = "r.id, r.monitor_id, m.name, r.run_trigger, r.scheduled_for, r.state, \
     r.served_from_cache, r.created_at, r.started_at, r.finished_at, r.reason";

impl Store {
    /// The id of the monitor called `name`, created if it is new.
    pub async fn ensure_monitor(&self, name: &str) -> Result<MonitorId, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::InvalidInput {
                what: "monitor name",
                message: "must not be empty".to_string(),
            });
        }
        let name = name.to_string();
        self.write(move |transaction| {
            transaction.execute(
                "INSERT INTO monitors (name, created_at) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO NOTHING",
                params![name, time_text(Utc::now())],
            )?;
            let id = transaction.query_row(
                "SELECT id FROM monitors WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )?;
            Ok(MonitorId(id))
        })
        .await
    }

    /// Creates a run in state `pending`. A scheduled or catch-up run for a slot that
    /// already has a run fails with [`StoreError::SlotTaken`], whatever that run's
    /// state: a slot never runs twice.
    pub async fn create_run(&self, run: NewRun) -> Result<RunId, StoreError> {
        self.write(move |transaction| {
            let monitor_name = monitor_name(transaction, run.monitor)?;
            let slot_text = run.trigger.slot().map(time_text);
            let inserted = transaction.execute(
                "INSERT INTO runs (monitor_id, scheduled_for, run_trigger, state, created_at) \
                 VALUES (?1, ?2, ?3, 'pending', ?4)",
                params![
                    run.monitor.0,
                    slot_text,
                    run.trigger.kind_str(),
                    time_text(Utc::now())
                ],
            );
            match (inserted, run.trigger.slot()) {
                (Ok(_), _) => Ok(RunId(transaction.last_insert_rowid())),
                // Only (monitor, slot) is unique in `runs`, and manual runs have no slot.
                (Err(error), Some(slot)) if is_unique_violation(&error) => {
                    let existing = transaction.query_row(
                        "SELECT id FROM runs WHERE monitor_id = ?1 AND scheduled_for = ?2",
                        params![run.monitor.0, slot_text],
                        |row| row.get(0),
                    )?;
                    Err(StoreError::SlotTaken {
                        monitor: monitor_name,
                        slot,
                        existing: RunId(existing),
                    }
                    .into())
                }
                (Err(error), _) => Err(error.into()),
            }
        })
        .await
    }

    /// Moves a run to `state` at time `at`, keeping `reason` if one is given.
    ///
    /// Allowed: `pending → running`, and `pending` or `running` → a final state. Setting
    /// the state a run already has changes nothing. Entering `running` records
    /// `started_at`; entering a final state records `finished_at`.
    pub async fn set_run_state(
        &self,
        run: RunId,
        state: RunState,
        at: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |transaction| {
            let current = run_state(transaction, run)?;
            if current == state {
                return Ok(());
            }
            let allowed = match (current, state) {
                (RunState::Pending, RunState::Running) => true,
                (RunState::Pending | RunState::Running, to) => to.is_final(),
                _ => false,
            };
            if !allowed {
                return Err(StoreError::InvalidRunTransition {
                    run,
                    from: current,
                    to: state,
                }
                .into());
            }
            let at = time_text(at);
            let (started_at, finished_at) = if state.is_final() {
                (None, Some(at))
            } else {
                (Some(at), None)
            };
            transaction.execute(
                "UPDATE runs SET state = ?2, \
                     started_at = coalesce(started_at, ?3), \
                     finished_at = ?4, \
                     reason = coalesce(?5, reason) \
                 WHERE id = ?1",
                params![run.0, state.as_str(), started_at, finished_at, reason],
            )?;
            Ok(())
        })
        .await
    }

    /// Records that Rightfoot answered this run with a batch it had already checked (the
    /// 24-hour body cache), so its results are not fresh.
    pub async fn mark_run_served_from_cache(&self, run: RunId) -> Result<(), StoreError> {
        self.write(move |transaction| {
            run_state(transaction, run)?;
            transaction.execute(
                "UPDATE runs SET served_from_cache = 1 WHERE id = ?1",
                params![run.0],
            )?;
            Ok(())
        })
        .await
    }

    /// Starts a `pending` run: writes its plan (pre-flight rejections, and every chunk
    /// in state `submitting` with its body's SHA-256 and members) and moves it to
    /// `running` at `at`, all in one transaction. Returns the chunks' rows in plan
    /// order.
    ///
    /// Nothing is sent before this returns, so a crash leaves either a `pending` run
    /// with no plan (plan it again) or a `running` one with its whole plan. A run that
    /// is not `pending` is refused with [`StoreError::InvalidRunTransition`].
    pub async fn start_run(
        &self,
        run: RunId,
        at: DateTime<Utc>,
        plan: RunPlan,
    ) -> Result<Vec<BatchRowId>, StoreError> {
        if let Some(index) = plan.chunks.iter().position(|c| c.members.is_empty()) {
            return Err(StoreError::InvalidInput {
                what: "chunk members",
                message: format!("{run} chunk {index} has no authorizers"),
            });
        }
        self.write(move |transaction| {
            let state = run_state(transaction, run)?;
            if state != RunState::Pending {
                return Err(StoreError::InvalidRunTransition {
                    run,
                    from: state,
                    to: RunState::Running,
                }
                .into());
            }
            let now = time_text(Utc::now());
            let mut rejection = transaction.prepare(
                "INSERT INTO preflight_rejections \
                     (run_id, position, authorizer_unique_id, source, reason, recorded_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (position, rejected) in plan.rejected.into_iter().enumerate() {
                rejection.execute(params![
                    run.0,
                    position as i64,
                    rejected.authorizer_unique_id,
                    rejected.source,
                    rejected.reason,
                    now
                ])?;
            }
            let mut rows = Vec::with_capacity(plan.chunks.len());
            for (index, chunk) in plan.chunks.into_iter().enumerate() {
                let index = u32::try_from(index).map_err(|_| StoreError::InvalidInput {
                    what: "chunk index",
                    message: format!("{run} has more than {} chunks", u32::MAX),
                })?;
                let sha = hex::encode(chunk.body_sha256);
                rows.push(insert_chunk(
                    transaction,
                    run,
                    state,
                    index,
                    &sha,
                    chunk.members,
                )?);
            }
            transaction.execute(
                "UPDATE runs SET state = 'running', started_at = coalesce(started_at, ?2) \
                 WHERE id = ?1",
                params![run.0, time_text(at)],
            )?;
            Ok(rows)
        })
        .await
    }

    /// The authorizers pre-flight validation kept out of `run`, in list order.
    pub async fn preflight_rejections(
        &self,
        run: RunId,
    ) -> Result<Vec<PreflightRejection>, StoreError> {
        self.read(move |transaction| {
            run_state(transaction, run)?;
            Ok(transaction
                .prepare(
                    "SELECT authorizer_unique_id, source, reason FROM preflight_rejections \
                     WHERE run_id = ?1 ORDER BY position",
                )?
                .query_map(params![run.0], |row| {
                    Ok(PreflightRejection {
                        authorizer_unique_id: row.get(0)?,
                        source: row.get(1)?,
                        reason: row.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// What `run`'s rows add up to: members, accepted, rejections, results by outcome
    /// and status code, members served from the cache, chunks by state.
    pub async fn run_tally(&self, run: RunId) -> Result<RunTally, StoreError> {
        self.scan(move |transaction| {
            run_state(transaction, run)?;
            let single = |sql: &str| -> rusqlite::Result<u32> {
                transaction.query_row(sql, params![run.0], |row| count(row, 0))
            };
            let mut tally = RunTally {
                members: single("SELECT count(*) FROM batch_members WHERE run_id = ?1")?,
                accepted: single(
                    "SELECT coalesce(sum(accepted_count), 0) FROM batches WHERE run_id = ?1",
                )?,
                preflight_rejected: single(
                    "SELECT count(*) FROM preflight_rejections WHERE run_id = ?1",
                )?,
                api_rejected: single(
                    "SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'rejected'",
                )?,
                not_retrieved: single(
                    "SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'not_retrieved'",
                )?,
                cached: single(
                    "SELECT count(*) FROM batch_members m JOIN batches b ON b.id = m.batch_id \
                     WHERE m.run_id = ?1 AND b.cached_from IS NOT NULL AND NOT EXISTS ( \
                         SELECT 1 FROM results r WHERE r.run_id = m.run_id \
                             AND r.authorizer_unique_id = m.authorizer_unique_id)",
                )?,
                awaiting: single(
                    "SELECT count(*) FROM batch_members m JOIN batches b ON b.id = m.batch_id \
                     WHERE m.run_id = ?1 AND b.cached_from IS NULL AND NOT EXISTS ( \
                         SELECT 1 FROM results r WHERE r.run_id = m.run_id \
                             AND r.authorizer_unique_id = m.authorizer_unique_id)",
                )?,
                ..RunTally::default()
            };
            let mut codes = transaction.prepare(
                "SELECT balance_status_code, count(*) FROM results \
                 WHERE run_id = ?1 AND outcome = 'retrieved' GROUP BY balance_status_code",
            )?;
            for row in codes.query_map(params![run.0], |row| {
                Ok((row.get::<_, i64>(0)?, count(row, 1)?))
            })? {
                let (code, number) = row?;
                if code == 0 {
                    tally.succeeded = number;
                } else {
                    tally.failed_by_code.insert(code, number);
                }
            }
            let mut states = transaction
                .prepare("SELECT state, count(*) FROM batches WHERE run_id = ?1 GROUP BY state")?;
            for row in states.query_map(params![run.0], |row| {
                Ok((text_enum(row, 0, BatchState::from_db)?, count(row, 1)?))
            })? {
                let (state, number) = row?;
                tally.chunks.insert(state.as_str(), number);
            }
            Ok(tally)
        })
        .await
    }

    /// One run, if it exists.
    pub async fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.read(move |transaction| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                 WHERE r.id = ?1"
            );
            Ok(transaction
                .query_row(&sql, params![run.0], run_record)
                .optional()?)
        })
        .await
    }

    /// Runs still `pending` or `running`, oldest first, with their chunks: what a restart
    /// after a crash must resume or close.
    pub async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        self.read(|transaction| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                 WHERE r.state IN ('pending', 'running') ORDER BY r.id"
            );
            let runs = transaction
                .prepare(&sql)?
                .query_map([], run_record)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            runs.into_iter()
                .map(|run| {
                    let batches = batches_of_run(transaction, run.id)?;
                    Ok(UnfinishedRun { run, batches })
                })
                .collect()
        })
        .await
    }
}

/// The name of a monitor, or `NotFound`.
fn monitor_name(transaction: &Transaction<'_>, monitor: MonitorId) -> Result<String, OpError> {
    transaction
        .query_row(
            "SELECT name FROM monitors WHERE id = ?1",
            params![monitor.0],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound {
                what: "monitor",
                id: monitor.0,
            }
            .into()
        })
}

/// The state of a run, or `NotFound`.
pub(crate) fn run_state(transaction: &Transaction<'_>, run: RunId) -> Result<RunState, OpError> {
    transaction
        .query_row(
            "SELECT state FROM runs WHERE id = ?1",
            params![run.0],
            |row| text_enum(row, 0, RunState::from_db),
        )
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound {
                what: "run",
                id: run.0,
            }
            .into()
        })
}

pub(super) fn run_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let kind: String = row.get(3)?;
    let slot = optional_time(row, 4)?;
    let trigger = RunTrigger::from_db(&kind, slot).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("trigger {kind:?} does not match its slot").into(),
        )
    })?;
    Ok(RunRecord {
        id: RunId(row.get(0)?),
        monitor: MonitorId(row.get(1)?),
        monitor_name: row.get(2)?,
        trigger,
        state: text_enum(row, 5, RunState::from_db)?,
        served_from_cache: row.get(6)?,
        created_at: time(row, 7)?,
        started_at: optional_time(row, 8)?,
        finished_at: optional_time(row, 9)?,
        reason: row.get(10)?,
    })
}
