//! The SQL pieces several areas share on PostgreSQL: a run's columns and row, a chunk's
//! row, a run's chunks, recording a chunk (shared by `begin_batch` and `start_run`), and
//! the links between rows that live in SQL text (a cached chunk's gaps, an outbox row's
//! run). Below the per-area files, so that no two of those depend on each other.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::error::OpError;
use super::sql::{self, count, text_enum};
use crate::store::StoreError;
use crate::store::batches::same_chunk_body;
use crate::store::types::{
    BatchRecord, BatchRef, BatchRowId, BatchState, MonitorId, RunId, RunRecord, RunState,
    RunTrigger,
};

/// The columns [`run_record`] reads, from `runs r JOIN monitors m`.
pub(super) const RUN_COLUMNS: &str = "r.id, r.monitor_id, m.name, r.run_trigger, r.scheduled_for, r.state, \
     r.served_from_cache, r.created_at, r.started_at, r.finished_at, r.reason";

/// The run an outbox row (aliased `o`) is about, or NULL.
pub(super) const OUTBOX_RUN_ID: &str = "(coalesce(o.payload::jsonb ->> 'run_id', \
     o.payload::jsonb #>> '{run,id}'))::BIGINT";

/// The state of a run, or `NotFound`.
pub(super) async fn run_state(tx: &Transaction<'_>, run: RunId) -> Result<RunState, OpError> {
    let row = sql::opt(tx, "SELECT state FROM runs WHERE id = $1", &[&run.0])
        .await?
        .ok_or(StoreError::NotFound {
            what: "run",
            id: run.0,
        })?;
    text_enum(&row, 0, RunState::from_db)
}

pub(super) fn run_record(row: &Row) -> Result<RunRecord, OpError> {
    let kind: &str = row.try_get(3)?;
    let slot: Option<DateTime<Utc>> = row.try_get(4)?;
    let trigger = RunTrigger::from_db(kind, slot)
        .ok_or_else(|| OpError::unexpected(format!("trigger {kind:?} does not match its slot")))?;
    Ok(RunRecord {
        id: RunId(row.try_get(0)?),
        monitor: MonitorId(row.try_get(1)?),
        monitor_name: row.try_get(2)?,
        trigger,
        state: text_enum(row, 5, RunState::from_db)?,
        served_from_cache: row.try_get(6)?,
        created_at: row.try_get(7)?,
        started_at: row.try_get(8)?,
        finished_at: row.try_get(9)?,
        reason: row.try_get(10)?,
    })
}

/// Every row of `rows` as a run.
pub(super) fn run_records(rows: &[Row]) -> Result<Vec<RunRecord>, OpError> {
    rows.iter().map(run_record).collect()
}

/// The members `m` of chunk `$1` (linked by `cached_from`) that have no `retrieved`
/// result in the earlier chunk and no `rejected` result of their own.
pub(super) const CACHED_GAP: &str = "JOIN batches b ON b.id = m.batch_id \
     WHERE m.batch_id = $1 AND b.cached_from IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM results o WHERE o.batch_id = b.cached_from \
         AND o.authorizer_unique_id = m.authorizer_unique_id AND o.outcome = 'retrieved') \
     AND NOT EXISTS (SELECT 1 FROM results r WHERE r.run_id = m.run_id \
         AND r.authorizer_unique_id = m.authorizer_unique_id AND r.outcome = 'rejected')";

/// Records a chunk in state `submitting` with its members, or returns the row already
/// recorded for the same run, index and body.
pub(super) async fn insert_chunk(
    tx: &Transaction<'_>,
    run: RunId,
    state: RunState,
    chunk_index: u32,
    sha: &str,
    members: Vec<String>,
) -> Result<BatchRowId, OpError> {
    let index = i64::from(chunk_index);
    if let Some(existing) = sql::opt(
        tx,
        "SELECT id, body_sha256 FROM batches WHERE run_id = $1 AND chunk_index = $2",
        &[&run.0, &index],
    )
    .await?
    {
        same_chunk_body(run, chunk_index, existing.try_get(1)?, sha)?;
        return Ok(BatchRowId(existing.try_get(0)?));
    }
    if state.is_final() {
        return Err(StoreError::RunFinished { run, state }.into());
    }
    let batch: i64 = sql::one(
        tx,
        "INSERT INTO batches (run_id, chunk_index, body_sha256, state, created_at, updated_at) \
         VALUES ($1, $2, $3, 'submitting', now(), now()) RETURNING id",
        &[&run.0, &index, &sha],
    )
    .await?
    .try_get(0)?;
    // One statement for every member; a member already in another chunk of the run is
    // left out by the conflict clause and named below.
    let inserted = sql::all(
        tx,
        "INSERT INTO batch_members (run_id, batch_id, authorizer_unique_id) \
         SELECT $1, $2, member FROM unnest($3::TEXT[]) AS member \
         ON CONFLICT (run_id, authorizer_unique_id) DO NOTHING \
         RETURNING authorizer_unique_id",
        &[&run.0, &batch, &members],
    )
    .await?;
    if inserted.len() != members.len() {
        let mut kept: Vec<&str> = inserted
            .iter()
            .map(|row| row.try_get::<_, &str>(0))
            .collect::<Result<_, _>>()?;
        kept.sort_unstable();
        let duplicate = members
            .iter()
            .enumerate()
            .find(|(position, member)| {
                kept.binary_search(&member.as_str()).is_err()
                    || members[..*position].contains(member)
            })
            .map(|(_, member)| member.clone())
            .unwrap_or_default();
        return Err(StoreError::DuplicateMember {
            run,
            authorizer_unique_id: duplicate,
        }
        .into());
    }
    Ok(BatchRowId(batch))
}

/// A chunk's run, state and Rightfoot batch id, or `NotFound`.
pub(super) async fn batch_row(
    tx: &Transaction<'_>,
    batch: BatchRowId,
) -> Result<(RunId, BatchState, Option<String>), OpError> {
    let row = sql::opt(
        tx,
        "SELECT run_id, state, rightfoot_batch_id FROM batches WHERE id = $1",
        &[&batch.0],
    )
    .await?
    .ok_or(StoreError::NotFound {
        what: "batch row",
        id: batch.0,
    })?;
    Ok((
        RunId(row.try_get(0)?),
        text_enum(&row, 1, BatchState::from_db)?,
        row.try_get(2)?,
    ))
}

/// Every chunk of a run, in chunk order, with member and result counts.
pub(super) async fn batches_of_run(
    tx: &Transaction<'_>,
    run: RunId,
) -> Result<Vec<BatchRecord>, OpError> {
    sql::all(
        tx,
        "SELECT b.id, b.run_id, b.chunk_index, b.body_sha256, b.state, b.rightfoot_batch_id, \
             b.submitted_at, b.accepted_count, b.deadline, b.reason, \
             (SELECT count(*) FROM batch_members m WHERE m.batch_id = b.id), \
             (SELECT count(*) FROM results r WHERE r.batch_id = b.id), \
             b.first_attempt_at, c.id, c.run_id, b.finished_at \
         FROM batches b LEFT JOIN batches c ON c.id = b.cached_from \
         WHERE b.run_id = $1 ORDER BY b.chunk_index",
        &[&run.0],
    )
    .await?
    .iter()
    .map(batch_record)
    .collect()
}

fn batch_record(row: &Row) -> Result<BatchRecord, OpError> {
    Ok(BatchRecord {
        id: BatchRowId(row.try_get(0)?),
        run: RunId(row.try_get(1)?),
        chunk_index: count(row, 2)?,
        body_sha256: row.try_get(3)?,
        state: text_enum(row, 4, BatchState::from_db)?,
        rightfoot_batch_id: row.try_get(5)?,
        submitted_at: row.try_get(6)?,
        accepted: row
            .try_get::<_, Option<i64>>(7)?
            .map(|value| {
                u32::try_from(value)
                    .map_err(|_| OpError::unexpected(format!("accepted count {value}")))
            })
            .transpose()?,
        deadline: row.try_get(8)?,
        reason: row.try_get(9)?,
        members: count(row, 10)?,
        results: count(row, 11)?,
        first_attempt_at: row.try_get(12)?,
        cached_from: match (
            row.try_get::<_, Option<i64>>(13)?,
            row.try_get::<_, Option<i64>>(14)?,
        ) {
            (Some(batch), Some(run)) => Some(BatchRef {
                batch: BatchRowId(batch),
                run: RunId(run),
            }),
            _ => None,
        },
        finished_at: row.try_get(15)?,
    })
}
