//! The SQL pieces several areas share: a run's columns and row, a chunk's row, a run's
//! chunks, recording a chunk (shared by `begin_batch` and `start_run`), and the links
//! between rows that live in SQL text (a cached chunk's gaps, an outbox row's run).
//!
//! They sit here, below the per-area files, so that no two of those depend on each
//! other. This module decides nothing; each function is one query or one insert.

use chrono::Utc;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::columns::{count, optional_time, text_enum, time, time_text};
use super::error::{OpError, is_unique_violation};
use crate::store::StoreError;
use crate::store::batches::same_chunk_body;
use crate::store::statements::batches::{CHUNK_AT_INDEX, CHUNK_ROW, CHUNKS_OF_RUN, RUN_STATE};
use crate::store::types::{
    BatchRecord, BatchRef, BatchRowId, BatchState, MonitorId, RunId, RunRecord, RunState,
    RunTrigger,
};

/// The run an outbox row (aliased `o`) is about, or NULL.
pub(super) const OUTBOX_RUN_ID: &str = "CAST(coalesce(json_extract(o.payload, '$.run_id'), \
     json_extract(o.payload, '$.run.id')) AS INTEGER)";

/// The state of a run, or `NotFound`.
pub(super) fn run_state(transaction: &Transaction<'_>, run: RunId) -> Result<RunState, OpError> {
    transaction
        .query_row(RUN_STATE, params![run.0], |row| {
            text_enum(row, 0, RunState::from_db)
        })
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

/// Records a chunk in state `submitting` with its members, or returns the row already
/// recorded for the same run, index and body. Shared by `begin_batch` and
/// `start_run`.
pub(super) fn insert_chunk(
    transaction: &Transaction<'_>,
    run: RunId,
    state: RunState,
    chunk_index: u32,
    sha: &str,
    members: Vec<String>,
) -> Result<BatchRowId, OpError> {
    let existing: Option<(i64, String)> = transaction
        .query_row(CHUNK_AT_INDEX, params![run.0, chunk_index], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    if let Some((id, stored)) = existing {
        same_chunk_body(run, chunk_index, stored, sha)?;
        return Ok(BatchRowId(id));
    }
    if state.is_final() {
        return Err(StoreError::RunFinished { run, state }.into());
    }
    let now = time_text(Utc::now());
    transaction.execute(
        "INSERT INTO batches (run_id, chunk_index, body_sha256, state, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'submitting', ?4, ?4)",
        params![run.0, chunk_index, sha, now],
    )?;
    let batch = transaction.last_insert_rowid();
    let mut insert = transaction.prepare(
        "INSERT INTO batch_members (run_id, batch_id, authorizer_unique_id) VALUES (?1, ?2, ?3)",
    )?;
    for member in members {
        match insert.execute(params![run.0, batch, member]) {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::DuplicateMember {
                    run,
                    authorizer_unique_id: member,
                }
                .into());
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(BatchRowId(batch))
}

/// A chunk's run, state and Rightfoot batch id, or `NotFound`.
pub(super) fn batch_row(
    transaction: &Transaction<'_>,
    batch: BatchRowId,
) -> Result<(RunId, BatchState, Option<String>), OpError> {
    transaction
        .query_row(CHUNK_ROW, params![batch.0], |row| {
            Ok((
                RunId(row.get(0)?),
                text_enum(row, 1, BatchState::from_db)?,
                row.get(2)?,
            ))
        })
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound {
                what: "batch row",
                id: batch.0,
            }
            .into()
        })
}

/// Every chunk of a run, in chunk order, with member and result counts.
pub(super) fn batches_of_run(
    transaction: &Transaction<'_>,
    run: RunId,
) -> Result<Vec<BatchRecord>, OpError> {
    Ok(transaction
        .prepare(CHUNKS_OF_RUN)?
        .query_map(params![run.0], batch_record)?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn batch_record(row: &Row<'_>) -> rusqlite::Result<BatchRecord> {
    Ok(BatchRecord {
        id: BatchRowId(row.get(0)?),
        run: RunId(row.get(1)?),
        chunk_index: count(row, 2)?,
        body_sha256: row.get(3)?,
        state: text_enum(row, 4, BatchState::from_db)?,
        rightfoot_batch_id: row.get(5)?,
        submitted_at: optional_time(row, 6)?,
        accepted: row
            .get::<_, Option<i64>>(7)?
            .map(|value| {
                u32::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(7, value))
            })
            .transpose()?,
        deadline: optional_time(row, 8)?,
        reason: row.get(9)?,
        members: count(row, 10)?,
        results: count(row, 11)?,
        first_attempt_at: optional_time(row, 12)?,
        cached_from: BatchRef::linked(row.get(13)?, row.get(14)?),
        finished_at: optional_time(row, 15)?,
    })
}
