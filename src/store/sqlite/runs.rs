//! Monitors and runs on SQLite ([`RunJournal`]): one run per monitor and cron slot is a
//! unique index, and a run's plan is written in one transaction with its move to
//! `running`.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::columns::{count, text_enum, time_text};
use super::error::OpError;
use super::rows::{batches_of_run, insert_chunk, run_record, run_state};
use crate::store::runs::{check_plan, check_startable, chunk_index, state_times};
use crate::store::runs::{monitor_name as stored_monitor_name, run_transition};
use crate::store::statements::runs::{
    CHUNK_STATE_COUNTS, CREATE_RUN, ENSURE_MONITOR, MONITOR_ID, MONITOR_NAME, PREFLIGHT_REJECTIONS,
    RUN, RUN_AT_SLOT, RUN_TALLY, SERVED_FROM_CACHE, SET_RUN_STATE, START_RUN, STATUS_CODE_COUNTS,
    UNFINISHED_RUNS,
};
use crate::store::types::{
    BatchRowId, BatchState, MonitorId, NewRun, PreflightRejection, RunId, RunPlan, RunRecord,
    RunTally, UnfinishedRun,
};
use crate::store::{RunJournal, RunStateChange, StoreError};

impl RunJournal for SqliteStore {
    fn ensure_monitor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<MonitorId, StoreError>> {
        Box::pin(async move {
            let name = stored_monitor_name(name)?;
            self.write(move |transaction| {
                transaction.execute(ENSURE_MONITOR, params![name])?;
                let id = transaction.query_row(MONITOR_ID, params![name], |row| row.get(0))?;
                Ok(MonitorId(id))
            })
            .await
        })
    }

    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<RunId, StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                let monitor_name = monitor_name(transaction, run.monitor)?;
                let slot_text = run.trigger.slot().map(time_text);
                let inserted = transaction
                    .query_row(
                        CREATE_RUN,
                        params![
                            run.monitor.0,
                            slot_text,
                            run.trigger.kind_str(),
                            time_text(run.created_at)
                        ],
                        |row| row.get(0),
                    )
                    .optional()?;
                match (inserted, run.trigger.slot()) {
                    (Some(id), _) => Ok(RunId(id)),
                    // Only (monitor, slot) is unique in `runs`, and manual runs have no slot.
                    (None, Some(slot)) => {
                        let existing = transaction.query_row(
                            RUN_AT_SLOT,
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
                    (None, None) => Err(StoreError::InvalidInput {
                        what: "run",
                        message: "a manual run conflicted".to_string(),
                    }
                    .into()),
                }
            })
            .await
        })
    }

    fn set_run_state(
        &self,
        run: RunId,
        change: RunStateChange,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let RunStateChange { state, at, reason } = change;
            self.write(move |transaction| {
                let current = run_state(transaction, run)?;
                if !run_transition(run, current, state)? {
                    return Ok(());
                }
                let (started_at, finished_at) = state_times(state, time_text(at));
                transaction.execute(
                    SET_RUN_STATE,
                    params![run.0, state.as_str(), started_at, finished_at, reason],
                )?;
                Ok(())
            })
            .await
        })
    }

    fn mark_run_served_from_cache(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                run_state(transaction, run)?;
                transaction.execute(SERVED_FROM_CACHE, params![run.0])?;
                Ok(())
            })
            .await
        })
    }

    fn start_run(
        &self,
        run: RunId,
        at: DateTime<Utc>,
        plan: RunPlan,
    ) -> BoxFuture<'_, Result<Vec<BatchRowId>, StoreError>> {
        Box::pin(async move {
            check_plan(run, &plan)?;
            self.write(move |transaction| {
                let state = run_state(transaction, run)?;
                check_startable(run, state)?;
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
                    let sha = hex::encode(chunk.body_sha256);
                    rows.push(insert_chunk(
                        transaction,
                        run,
                        state,
                        chunk_index(run, index)?,
                        &sha,
                        chunk.members,
                    )?);
                }
                transaction.execute(START_RUN, params![run.0, time_text(at)])?;
                Ok(rows)
            })
            .await
        })
    }

    fn preflight_rejections(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Vec<PreflightRejection>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                run_state(transaction, run)?;
                Ok(transaction
                    .prepare(PREFLIGHT_REJECTIONS)?
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
        })
    }

    fn run_tally(&self, run: RunId) -> BoxFuture<'_, Result<RunTally, StoreError>> {
        Box::pin(async move {
            self.scan(move |transaction| {
                run_state(transaction, run)?;
                let mut tally = transaction.query_row(RUN_TALLY, params![run.0], |row| {
                    Ok(RunTally {
                        members: count(row, 0)?,
                        accepted: count(row, 1)?,
                        preflight_rejected: count(row, 2)?,
                        api_rejected: count(row, 3)?,
                        not_retrieved: count(row, 4)?,
                        cached: count(row, 5)?,
                        awaiting: count(row, 6)?,
                        ..RunTally::default()
                    })
                })?;
                let mut codes = transaction.prepare(STATUS_CODE_COUNTS)?;
                for row in codes.query_map(params![run.0], |row| {
                    Ok((row.get::<_, i64>(0)?, count(row, 1)?))
                })? {
                    let (code, number) = row?;
                    tally.add_status(code, number);
                }
                let mut states = transaction.prepare(CHUNK_STATE_COUNTS)?;
                for row in states.query_map(params![run.0], |row| {
                    Ok((text_enum(row, 0, BatchState::from_db)?, count(row, 1)?))
                })? {
                    let (state, number) = row?;
                    tally.chunks.insert(state.as_str(), number);
                }
                Ok(tally)
            })
            .await
        })
    }

    fn run(&self, run: RunId) -> BoxFuture<'_, Result<Option<RunRecord>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                Ok(transaction
                    .query_row(RUN, params![run.0], run_record)
                    .optional()?)
            })
            .await
        })
    }

    fn unfinished_runs(&self) -> BoxFuture<'_, Result<Vec<UnfinishedRun>, StoreError>> {
        Box::pin(async move {
            self.read(|transaction| {
                let runs = transaction
                    .prepare(UNFINISHED_RUNS)?
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
        })
    }
}

/// The name of a monitor, or `NotFound`.
fn monitor_name(transaction: &Transaction<'_>, monitor: MonitorId) -> Result<String, OpError> {
    transaction
        .query_row(MONITOR_NAME, params![monitor.0], |row| row.get(0))
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound {
                what: "monitor",
                id: monitor.0,
            }
            .into()
        })
}
