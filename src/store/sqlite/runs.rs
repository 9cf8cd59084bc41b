//! Monitors and runs on SQLite ([`RunJournal`]): one run per monitor and cron slot is a
//! unique index, and a run's plan is written in one transaction with its move to
//! `running`.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::columns::{count, text_enum, time_text};
use super::error::{OpError, is_unique_violation};
use super::rows::{RUN_COLUMNS, batches_of_run, insert_chunk, run_record, run_state};
use crate::store::runs::{monitor_name as stored_monitor_name, run_transition};
use crate::store::types::{
    BatchRowId, BatchState, MonitorId, NewRun, PreflightRejection, RunId, RunPlan, RunRecord,
    RunState, RunTally, UnfinishedRun,
};
use crate::store::{RunJournal, RunStateChange, StoreError};

impl RunJournal for SqliteStore {
    fn ensure_monitor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<MonitorId, StoreError>> {
        Box::pin(async move {
            let name = stored_monitor_name(name)?;
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
        })
    }

    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<RunId, StoreError>> {
        Box::pin(async move {
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
                        time_text(run.created_at)
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
        })
    }

    fn mark_run_served_from_cache(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                run_state(transaction, run)?;
                transaction.execute(
                    "UPDATE runs SET served_from_cache = 1 WHERE id = ?1",
                    params![run.0],
                )?;
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
        })
    }

    fn run_tally(&self, run: RunId) -> BoxFuture<'_, Result<RunTally, StoreError>> {
        Box::pin(async move {
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
        })
    }

    fn run(&self, run: RunId) -> BoxFuture<'_, Result<Option<RunRecord>, StoreError>> {
        Box::pin(async move {
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
        })
    }

    fn unfinished_runs(&self) -> BoxFuture<'_, Result<Vec<UnfinishedRun>, StoreError>> {
        Box::pin(async move {
            self.read(|transaction| {
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                     WHERE r.state IN ('pending', 'running', 'interrupted') ORDER BY r.id"
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
        })
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
