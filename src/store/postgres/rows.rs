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
use crate::store::statements::{batches, dollars};
use crate::store::types::{
    BatchRecord, BatchRef, BatchRowId, BatchState, MonitorId, RunId, RunRecord, RunState,
    RunTrigger,
};

/// The statements of this file, in PostgreSQL's spelling.
const RUN_STATE: &str = dollars!(batches::RUN_STATE);
const CHUNK_AT_INDEX: &str = dollars!(batches::CHUNK_AT_INDEX);
const CHUNK_ROW: &str = dollars!(batches::CHUNK_ROW);
const CHUNKS_OF_RUN: &str = dollars!(batches::CHUNKS_OF_RUN);

/// The run an outbox row (aliased `o`) is about, or NULL.
pub(super) const OUTBOX_RUN_ID: &str = "(coalesce(o.payload::jsonb ->> 'run_id', \
     o.payload::jsonb #>> '{run,id}'))::BIGINT";

/// The state of a run, or `NotFound`.
pub(super) async fn run_state(tx: &Transaction<'_>, run: RunId) -> Result<RunState, OpError> {
    let row = sql::opt(tx, RUN_STATE, &[&run.0])
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
    if let Some(existing) = sql::opt(tx, CHUNK_AT_INDEX, &[&run.0, &index]).await? {
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
    let row = sql::opt(tx, CHUNK_ROW, &[&batch.0])
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
    sql::all(tx, CHUNKS_OF_RUN, &[&run.0])
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
        cached_from: BatchRef::linked(row.try_get(13)?, row.try_get(14)?),
        finished_at: row.try_get(15)?,
    })
}
