//! Monitors and runs on PostgreSQL ([`RunJournal`]): a slot is claimed with
//! `INSERT ... ON CONFLICT (monitor_id, scheduled_for) DO NOTHING`, so no slot ever gets
//! two runs, and a run's plan is written in one transaction with its move to `running`.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::rows::{RUN_COLUMNS, batches_of_run, insert_chunk, run_record, run_records, run_state};
use super::sql::{self, count, text_enum};
use crate::store::runs::{monitor_name as stored_monitor_name, run_transition};
use crate::store::types::{
    BatchRowId, BatchState, MonitorId, NewRun, PreflightRejection, RunId, RunPlan, RunRecord,
    RunState, RunTally, UnfinishedRun,
};
use crate::store::{RunJournal, RunStateChange, StoreError};

impl RunJournal for PostgresStore {
    fn ensure_monitor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<MonitorId, StoreError>> {
        Box::pin(async move {
            let name = stored_monitor_name(name)?;
            self.write(move |tx| {
                Box::pin(async move {
                    sql::exec(
                        tx,
                        "INSERT INTO monitors (name, created_at) VALUES ($1, now()) \
                         ON CONFLICT (name) DO NOTHING",
                        &[&name],
                    )
                    .await?;
                    let row =
                        sql::one(tx, "SELECT id FROM monitors WHERE name = $1", &[&name]).await?;
                    Ok(MonitorId(row.try_get(0)?))
                })
            })
            .await
        })
    }

    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<RunId, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let monitor_name = monitor_name(tx, run.monitor).await?;
                let slot = run.trigger.slot();
                let inserted = sql::opt(
                    tx,
                    "INSERT INTO runs (monitor_id, scheduled_for, run_trigger, state, created_at) \
                     VALUES ($1, $2, $3, 'pending', $4) \
                     ON CONFLICT (monitor_id, scheduled_for) DO NOTHING RETURNING id",
                    &[
                        &run.monitor.0,
                        &slot,
                        &run.trigger.kind_str(),
                        &run.created_at,
                    ],
                )
                .await?;
                match (inserted, slot) {
                    (Some(row), _) => Ok(RunId(row.try_get(0)?)),
                    (None, Some(slot)) => {
                        let existing = sql::one(
                            tx,
                            "SELECT id FROM runs WHERE monitor_id = $1 AND scheduled_for = $2",
                            &[&run.monitor.0, &slot],
                        )
                        .await?;
                        Err(StoreError::SlotTaken {
                            monitor: monitor_name,
                            slot,
                            existing: RunId(existing.try_get(0)?),
                        }
                        .into())
                    }
                    (None, None) => Err(OpError::unexpected("a manual run conflicted")),
                }
            })
        }))
    }

    fn set_run_state(
        &self,
        run: RunId,
        change: RunStateChange,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let RunStateChange { state, at, reason } = change;
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let current = run_state(tx, run).await?;
                if !run_transition(run, current, state)? {
                    return Ok(());
                }
                let (started_at, finished_at) = if state.is_final() {
                    (None, Some(at))
                } else {
                    (Some(at), None)
                };
                sql::exec(
                    tx,
                    "UPDATE runs SET state = $2, \
                         started_at = coalesce(started_at, $3), \
                         finished_at = $4, \
                         reason = coalesce($5, reason) \
                     WHERE id = $1",
                    &[&run.0, &state.as_str(), &started_at, &finished_at, &reason],
                )
                .await?;
                Ok(())
            })
        }))
    }

    fn mark_run_served_from_cache(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                run_state(tx, run).await?;
                sql::exec(
                    tx,
                    "UPDATE runs SET served_from_cache = TRUE WHERE id = $1",
                    &[&run.0],
                )
                .await?;
                Ok(())
            })
        }))
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
            self.write(move |tx| {
                Box::pin(async move {
                    let state = run_state(tx, run).await?;
                    if state != RunState::Pending {
                        return Err(StoreError::InvalidRunTransition {
                            run,
                            from: state,
                            to: RunState::Running,
                        }
                        .into());
                    }
                    let mut ids = Vec::with_capacity(plan.rejected.len());
                    let mut sources = Vec::with_capacity(plan.rejected.len());
                    let mut reasons = Vec::with_capacity(plan.rejected.len());
                    for rejected in plan.rejected {
                        ids.push(rejected.authorizer_unique_id);
                        sources.push(rejected.source);
                        reasons.push(rejected.reason);
                    }
                    sql::exec(
                        tx,
                        "INSERT INTO preflight_rejections \
                             (run_id, position, authorizer_unique_id, source, reason, recorded_at) \
                         SELECT $1, r.position - 1, r.id, r.source, r.reason, now() \
                         FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[]) \
                              WITH ORDINALITY AS r (id, source, reason, position)",
                        &[&run.0, &ids, &sources, &reasons],
                    )
                    .await?;
                    let mut rows = Vec::with_capacity(plan.chunks.len());
                    for (index, chunk) in plan.chunks.into_iter().enumerate() {
                        let index = u32::try_from(index).map_err(|_| StoreError::InvalidInput {
                            what: "chunk index",
                            message: format!("{run} has more than {} chunks", u32::MAX),
                        })?;
                        let sha = hex::encode(chunk.body_sha256);
                        rows.push(insert_chunk(tx, run, state, index, &sha, chunk.members).await?);
                    }
                    sql::exec(
                        tx,
                        "UPDATE runs SET state = 'running', started_at = coalesce(started_at, $2) \
                         WHERE id = $1",
                        &[&run.0, &at],
                    )
                    .await?;
                    Ok(rows)
                })
            })
            .await
        })
    }

    fn preflight_rejections(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Vec<PreflightRejection>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                run_state(tx, run).await?;
                sql::all(
                    tx,
                    "SELECT authorizer_unique_id, source, reason FROM preflight_rejections \
                     WHERE run_id = $1 ORDER BY position",
                    &[&run.0],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok(PreflightRejection {
                        authorizer_unique_id: row.try_get(0)?,
                        source: row.try_get(1)?,
                        reason: row.try_get(2)?,
                    })
                })
                .collect()
            })
        }))
    }

    fn run_tally(&self, run: RunId) -> BoxFuture<'_, Result<RunTally, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                run_state(tx, run).await?;
                let row = sql::one(
                    tx,
                    "SELECT \
                       (SELECT count(*) FROM batch_members WHERE run_id = $1), \
                       (SELECT coalesce(sum(accepted_count), 0)::BIGINT FROM batches WHERE run_id = $1), \
                       (SELECT count(*) FROM preflight_rejections WHERE run_id = $1), \
                       (SELECT count(*) FROM results WHERE run_id = $1 AND outcome = 'rejected'), \
                       (SELECT count(*) FROM results WHERE run_id = $1 AND outcome = 'not_retrieved'), \
                       (SELECT count(*) FROM batch_members m JOIN batches b ON b.id = m.batch_id \
                         WHERE m.run_id = $1 AND b.cached_from IS NOT NULL AND NOT EXISTS ( \
                             SELECT 1 FROM results r WHERE r.run_id = m.run_id \
                                 AND r.authorizer_unique_id = m.authorizer_unique_id)), \
                       (SELECT count(*) FROM batch_members m JOIN batches b ON b.id = m.batch_id \
                         WHERE m.run_id = $1 AND b.cached_from IS NULL AND NOT EXISTS ( \
                             SELECT 1 FROM results r WHERE r.run_id = m.run_id \
                                 AND r.authorizer_unique_id = m.authorizer_unique_id))",
                    &[&run.0],
                )
                .await?;
                let mut tally = RunTally {
                    members: count(&row, 0)?,
                    accepted: count(&row, 1)?,
                    preflight_rejected: count(&row, 2)?,
                    api_rejected: count(&row, 3)?,
                    not_retrieved: count(&row, 4)?,
                    cached: count(&row, 5)?,
                    awaiting: count(&row, 6)?,
                    ..RunTally::default()
                };
                for row in sql::all(
                    tx,
                    "SELECT balance_status_code, count(*) FROM results \
                     WHERE run_id = $1 AND outcome = 'retrieved' GROUP BY balance_status_code",
                    &[&run.0],
                )
                .await?
                {
                    let code: i64 = row.try_get(0)?;
                    let number = count(&row, 1)?;
                    if code == 0 {
                        tally.succeeded = number;
                    } else {
                        tally.failed_by_code.insert(code, number);
                    }
                }
                for row in sql::all(
                    tx,
                    "SELECT state, count(*) FROM batches WHERE run_id = $1 GROUP BY state",
                    &[&run.0],
                )
                .await?
                {
                    let state = text_enum(&row, 0, BatchState::from_db)?;
                    tally.chunks.insert(state.as_str(), count(&row, 1)?);
                }
                Ok(tally)
            })
        }))
    }

    fn run(&self, run: RunId) -> BoxFuture<'_, Result<Option<RunRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                     WHERE r.id = $1"
                );
                sql::opt(tx, &sql, &[&run.0])
                    .await?
                    .as_ref()
                    .map(run_record)
                    .transpose()
            })
        }))
    }

    fn unfinished_runs(&self) -> BoxFuture<'_, Result<Vec<UnfinishedRun>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                     WHERE r.state IN ('pending', 'running', 'interrupted') ORDER BY r.id"
                );
                let runs = run_records(&sql::all(tx, &sql, &[]).await?)?;
                let mut unfinished = Vec::with_capacity(runs.len());
                for run in runs {
                    let batches = batches_of_run(tx, run.id).await?;
                    unfinished.push(UnfinishedRun { run, batches });
                }
                Ok(unfinished)
            })
        }))
    }
}

/// The name of a monitor, or `NotFound`.
async fn monitor_name(
    tx: &deadpool_postgres::Transaction<'_>,
    monitor: MonitorId,
) -> Result<String, OpError> {
    let row = sql::opt(tx, "SELECT name FROM monitors WHERE id = $1", &[&monitor.0])
        .await?
        .ok_or(StoreError::NotFound {
            what: "monitor",
            id: monitor.0,
        })?;
    Ok(row.try_get(0)?)
}
