//! Chunks on SQLite ([`BatchJournal`]): a chunk's row before its POST, what Rightfoot's
//! 201 said (a refused authorizer's reason is stored with long digit runs redacted),
//! its state, its members, and the completion webhooks already seen.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::columns::{count, text_enum, time, time_text};
use super::error::OpError;
use super::rows::{batch_row, batches_of_run, insert_chunk, run_state};
use crate::store::batches::{
    Submission, batch_transition, check_batch_id, chunk_sha, gaps_are_final, refusals, submission,
};
use crate::store::statements::batches::{
    CACHED_GAPS, FIRST_OWNER_OF_BATCH_ID, INSERT_REJECTED, INSERT_WEBHOOK_EVENT, LINKED_CHUNK,
    LINKED_CHUNK_STATE, MARK_SUBMITTED, MEMBER_COUNT, MEMBERS, MEMBERS_WITHOUT_RESULT,
    OUTCOME_COUNTS, RECORD_FIRST_ATTEMPT, RUNS_WITH_BATCH_ID, SET_STATE, UPSERT_FAILED_AUTHORIZER,
};
use crate::store::types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted, PlannedChunk,
    ResultOutcome, RunId,
};
use crate::store::{BatchJournal, StoreError};

impl BatchJournal for SqliteStore {
    fn begin_batch(
        &self,
        run: RunId,
        chunk_index: u32,
        chunk: PlannedChunk,
    ) -> BoxFuture<'_, Result<BatchRowId, StoreError>> {
        Box::pin(async move {
            let sha = chunk_sha(run, chunk_index, &chunk)?;
            let members = chunk.members;
            self.write(move |transaction| {
                let state = run_state(transaction, run)?;
                insert_chunk(transaction, run, state, chunk_index, &sha, members)
            })
            .await
        })
    }

    fn record_first_attempt(
        &self,
        batch: BatchRowId,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<DateTime<Utc>, StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                batch_row(transaction, batch)?;
                Ok(transaction.query_row(
                    RECORD_FIRST_ATTEMPT,
                    params![batch.0, time_text(at)],
                    |row| time(row, 0),
                )?)
            })
            .await
        })
    }

    fn mark_batch_submitted(
        &self,
        batch: BatchRowId,
        submitted: BatchSubmitted,
    ) -> BoxFuture<'_, Result<Option<BatchRef>, StoreError>> {
        Box::pin(async move {
            check_batch_id(batch, &submitted)?;
            self.write(move |transaction| mark_submitted(transaction, batch, submitted))
                .await
        })
    }

    fn set_batch_state(
        &self,
        batch: BatchRowId,
        state: BatchState,
        reason: Option<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                let (_, current, rightfoot_id) = batch_row(transaction, batch)?;
                if !batch_transition(batch, current, state, rightfoot_id.is_some())? {
                    return Ok(());
                }
                let finished = matches!(state, BatchState::Complete | BatchState::Failed);
                transaction.execute(
                    SET_STATE,
                    params![batch.0, state.as_str(), finished, reason],
                )?;
                Ok(())
            })
            .await
        })
    }

    fn batch_ids_used_before<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        run: RunId,
    ) -> BoxFuture<'a, Result<Vec<RunId>, StoreError>> {
        Box::pin(async move {
            let rightfoot_batch_id = rightfoot_batch_id.to_string();
            self.read(move |transaction| {
                let runs = transaction
                    .prepare(RUNS_WITH_BATCH_ID)?
                    .query_map(params![rightfoot_batch_id, run.0], |row| {
                        Ok(RunId(row.get(0)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(runs)
            })
            .await
        })
    }

    fn batch_members(&self, batch: BatchRowId) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                batch_row(transaction, batch)?;
                ids(transaction, MEMBERS, batch)
            })
            .await
        })
    }

    fn members_without_result(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                batch_row(transaction, batch)?;
                ids(transaction, MEMBERS_WITHOUT_RESULT, batch)
            })
            .await
        })
    }

    fn cached_gaps(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Option<Vec<String>>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                batch_row(transaction, batch)?;
                let owner = transaction
                    .query_row(LINKED_CHUNK_STATE, params![batch.0], |row| {
                        text_enum(row, 0, BatchState::from_db)
                    })
                    .optional()?;
                if !gaps_are_final(batch, owner)? {
                    return Ok(None);
                }
                Ok(Some(ids(transaction, CACHED_GAPS, batch)?))
            })
            .await
        })
    }

    fn run_batches(&self, run: RunId) -> BoxFuture<'_, Result<Vec<BatchRecord>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                run_state(transaction, run)?;
                batches_of_run(transaction, run)
            })
            .await
        })
    }

    fn batch_result_counts(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<BatchResultCounts, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                batch_row(transaction, batch)?;
                let members =
                    transaction.query_row(MEMBER_COUNT, params![batch.0], |row| count(row, 0))?;
                let mut counts = BatchResultCounts::of_members(members);
                let mut statement = transaction.prepare(OUTCOME_COUNTS)?;
                let rows = statement.query_map(params![batch.0], |row| {
                    Ok((text_enum(row, 0, ResultOutcome::from_db)?, count(row, 1)?))
                })?;
                for row in rows {
                    let (outcome, number) = row?;
                    counts.set(outcome, number);
                }
                Ok(counts)
            })
            .await
        })
    }

    fn record_webhook_event<'a>(
        &'a self,
        event_uuid: &'a str,
        rightfoot_batch_id: Option<&'a str>,
        received_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let event_uuid = event_uuid.to_string();
            let rightfoot_batch_id = rightfoot_batch_id.map(str::to_string);
            self.write(move |transaction| {
                let inserted = transaction.execute(
                    INSERT_WEBHOOK_EVENT,
                    params![event_uuid, time_text(received_at), rightfoot_batch_id],
                )?;
                Ok(inserted > 0)
            })
            .await
        })
    }
}

/// `mark_batch_submitted`'s transaction.
fn mark_submitted(
    transaction: &Transaction<'_>,
    batch: BatchRowId,
    submitted: BatchSubmitted,
) -> Result<Option<BatchRef>, OpError> {
    let (_, state, current_id) = batch_row(transaction, batch)?;
    if let Submission::Recorded = submission(batch, state, current_id, &submitted)? {
        return cached_from(transaction, batch);
    }
    let owner = transaction
        .query_row(
            FIRST_OWNER_OF_BATCH_ID,
            params![submitted.rightfoot_batch_id, batch.0],
            batch_ref,
        )
        .optional()?;
    transaction.execute(
        MARK_SUBMITTED,
        params![
            batch.0,
            submitted.rightfoot_batch_id,
            time_text(submitted.submitted_at),
            submitted.accepted,
            time_text(submitted.deadline),
            owner.map(|owner| owner.batch.0)
        ],
    )?;
    let mut failed_row = transaction.prepare(UPSERT_FAILED_AUTHORIZER)?;
    let mut rejected = transaction.prepare(INSERT_REJECTED)?;
    for (authorizer, reason) in refusals(submitted.failed) {
        failed_row.execute(params![batch.0, authorizer, reason])?;
        rejected.execute(params![batch.0, authorizer, reason])?;
    }
    Ok(owner)
}

/// The chunk `batch` was linked to by `mark_batch_submitted`, if any.
fn cached_from(
    transaction: &Transaction<'_>,
    batch: BatchRowId,
) -> Result<Option<BatchRef>, OpError> {
    Ok(transaction
        .query_row(LINKED_CHUNK, params![batch.0], batch_ref)
        .optional()?)
}

/// A chunk's id and run, in columns 0 and 1.
fn batch_ref(row: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRef> {
    Ok(BatchRef {
        batch: BatchRowId(row.get(0)?),
        run: RunId(row.get(1)?),
    })
}

fn ids(
    transaction: &Transaction<'_>,
    sql: &str,
    batch: BatchRowId,
) -> Result<Vec<String>, OpError> {
    Ok(transaction
        .prepare(sql)?
        .query_map(params![batch.0], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?)
}
