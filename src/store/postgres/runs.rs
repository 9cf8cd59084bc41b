//! Monitors and runs on PostgreSQL ([`RunJournal`]): a slot is claimed with
//! `INSERT ... ON CONFLICT (monitor_id, scheduled_for) DO NOTHING`, so no slot ever gets
//! two runs, and a run's plan is written in one transaction with its move to `running`.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::rows::{batches_of_run, insert_chunk, run_record, run_records, run_state};
use super::sql::{self, count, text_enum};
use crate::store::runs::{check_plan, check_startable, chunk_index, state_times};
use crate::store::runs::{monitor_name as stored_monitor_name, run_transition};
use crate::store::statements::{dollars, runs};
use crate::store::types::{
    BatchRowId, BatchState, MonitorId, NewRun, PreflightRejection, RunId, RunPlan, RunRecord,
    RunTally, UnfinishedRun,
};
use crate::store::{RunJournal, RunStateChange, StoreError};

/// The statements of this file, in PostgreSQL's spelling.
const ENSURE_MONITOR: &str = dollars!(runs::ENSURE_MONITOR);
const MONITOR_ID: &str = dollars!(runs::MONITOR_ID);
const MONITOR_NAME: &str = dollars!(runs::MONITOR_NAME);
const CREATE_RUN: &str = dollars!(runs::CREATE_RUN);
const RUN_AT_SLOT: &str = dollars!(runs::RUN_AT_SLOT);
const SET_RUN_STATE: &str = dollars!(runs::SET_RUN_STATE);
const SERVED_FROM_CACHE: &str = dollars!(runs::SERVED_FROM_CACHE);
const START_RUN: &str = dollars!(runs::START_RUN);
const PREFLIGHT_REJECTIONS: &str = dollars!(runs::PREFLIGHT_REJECTIONS);
const RUN_TALLY: &str = dollars!(runs::RUN_TALLY);
const STATUS_CODE_COUNTS: &str = dollars!(runs::STATUS_CODE_COUNTS);
const CHUNK_STATE_COUNTS: &str = dollars!(runs::CHUNK_STATE_COUNTS);
const RUN: &str = dollars!(runs::RUN);
const UNFINISHED_RUNS: &str = dollars!(runs::UNFINISHED_RUNS);

impl RunJournal for PostgresStore {
    fn ensure_monitor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<MonitorId, StoreError>> {
        Box::pin(async move {
            let name = stored_monitor_name(name)?;
            self.write(move |tx| {
                Box::pin(async move {
                    sql::exec(tx, ENSURE_MONITOR, &[&name]).await?;
                    let row = sql::one(tx, MONITOR_ID, &[&name]).await?;
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
                    CREATE_RUN,
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
                        let existing = sql::one(tx, RUN_AT_SLOT, &[&run.monitor.0, &slot]).await?;
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
                let (started_at, finished_at) = state_times(state, at);
                sql::exec(
                    tx,
                    SET_RUN_STATE,
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
                sql::exec(tx, SERVED_FROM_CACHE, &[&run.0]).await?;
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
            check_plan(run, &plan)?;
            self.write(move |tx| {
                Box::pin(async move {
                    let state = run_state(tx, run).await?;
                    check_startable(run, state)?;
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
                        let index = chunk_index(run, index)?;
                        let sha = hex::encode(chunk.body_sha256);
                        rows.push(insert_chunk(tx, run, state, index, &sha, chunk.members).await?);
                    }
                    sql::exec(tx, START_RUN, &[&run.0, &at]).await?;
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
                sql::all(tx, PREFLIGHT_REJECTIONS, &[&run.0])
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
                let row = sql::one(tx, RUN_TALLY, &[&run.0]).await?;
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
                for row in sql::all(tx, STATUS_CODE_COUNTS, &[&run.0]).await? {
                    tally.add_status(row.try_get(0)?, count(&row, 1)?);
                }
                for row in sql::all(tx, CHUNK_STATE_COUNTS, &[&run.0]).await? {
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
                sql::opt(tx, RUN, &[&run.0])
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
                let runs = run_records(&sql::all(tx, UNFINISHED_RUNS, &[]).await?)?;
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
    let row = sql::opt(tx, MONITOR_NAME, &[&monitor.0])
        .await?
        .ok_or(StoreError::NotFound {
            what: "monitor",
            id: monitor.0,
        })?;
    Ok(row.try_get(0)?)
}
