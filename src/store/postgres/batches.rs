//! Chunks on PostgreSQL ([`BatchJournal`]): a chunk's row before its POST, what
//! Rightfoot's 201 said (a refused authorizer's reason stored with long digit runs
//! redacted), its state, its members, and the completion webhooks already seen.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::OpError;
use super::rows::{batch_row, batches_of_run, insert_chunk, run_state};
use super::sql::{self, count, text_enum};
use crate::store::batches::{
    Submission, batch_transition, check_batch_id, chunk_sha, gaps_are_final, refusals, submission,
};
use crate::store::statements::{batches, dollars};
use crate::store::types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted, PlannedChunk,
    ResultOutcome, RunId,
};
use crate::store::{BatchJournal, StoreError};

/// The statements of this file, in PostgreSQL's spelling.
const RECORD_FIRST_ATTEMPT: &str = dollars!(batches::RECORD_FIRST_ATTEMPT);
const FIRST_OWNER_OF_BATCH_ID: &str = dollars!(batches::FIRST_OWNER_OF_BATCH_ID);
const MARK_SUBMITTED: &str = dollars!(batches::MARK_SUBMITTED);
const UPSERT_FAILED_AUTHORIZER: &str = dollars!(batches::UPSERT_FAILED_AUTHORIZER);
const INSERT_REJECTED: &str = dollars!(batches::INSERT_REJECTED);
const SET_STATE: &str = dollars!(batches::SET_STATE);
const RUNS_WITH_BATCH_ID: &str = dollars!(batches::RUNS_WITH_BATCH_ID);
const MEMBERS: &str = dollars!(batches::MEMBERS);
const MEMBERS_WITHOUT_RESULT: &str = dollars!(batches::MEMBERS_WITHOUT_RESULT);
const LINKED_CHUNK_STATE: &str = dollars!(batches::LINKED_CHUNK_STATE);
const LINKED_CHUNK: &str = dollars!(batches::LINKED_CHUNK);
const CACHED_GAPS: &str = dollars!(batches::CACHED_GAPS);
const MEMBER_COUNT: &str = dollars!(batches::MEMBER_COUNT);
const OUTCOME_COUNTS: &str = dollars!(batches::OUTCOME_COUNTS);
const INSERT_WEBHOOK_EVENT: &str = dollars!(batches::INSERT_WEBHOOK_EVENT);

impl BatchJournal for PostgresStore {
    fn begin_batch(
        &self,
        run: RunId,
        chunk_index: u32,
        chunk: PlannedChunk,
    ) -> BoxFuture<'_, Result<BatchRowId, StoreError>> {
        Box::pin(async move {
            let sha = chunk_sha(run, chunk_index, &chunk)?;
            let members = chunk.members;
            self.write(move |tx| {
                Box::pin(async move {
                    let state = run_state(tx, run).await?;
                    insert_chunk(tx, run, state, chunk_index, &sha, members).await
                })
            })
            .await
        })
    }

    fn record_first_attempt(
        &self,
        batch: BatchRowId,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<DateTime<Utc>, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                let row = sql::one(tx, RECORD_FIRST_ATTEMPT, &[&batch.0, &at]).await?;
                Ok(row.try_get(0)?)
            })
        }))
    }

    fn mark_batch_submitted(
        &self,
        batch: BatchRowId,
        submitted: BatchSubmitted,
    ) -> BoxFuture<'_, Result<Option<BatchRef>, StoreError>> {
        Box::pin(async move {
            check_batch_id(batch, &submitted)?;
            self.write(move |tx| Box::pin(mark_submitted(tx, batch, submitted)))
                .await
        })
    }

    fn set_batch_state(
        &self,
        batch: BatchRowId,
        state: BatchState,
        reason: Option<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let (_, current, rightfoot_id) = batch_row(tx, batch).await?;
                if !batch_transition(batch, current, state, rightfoot_id.is_some())? {
                    return Ok(());
                }
                let finished = matches!(state, BatchState::Complete | BatchState::Failed);
                sql::exec(
                    tx,
                    SET_STATE,
                    &[&batch.0, &state.as_str(), &finished, &reason],
                )
                .await?;
                Ok(())
            })
        }))
    }

    fn batch_ids_used_before<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        run: RunId,
    ) -> BoxFuture<'a, Result<Vec<RunId>, StoreError>> {
        let rightfoot_batch_id = rightfoot_batch_id.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, RUNS_WITH_BATCH_ID, &[&rightfoot_batch_id, &run.0])
                    .await?
                    .iter()
                    .map(|row| Ok(RunId(row.try_get(0)?)))
                    .collect()
            })
        }))
    }

    fn batch_members(&self, batch: BatchRowId) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                ids(tx, MEMBERS, batch).await
            })
        }))
    }

    fn members_without_result(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                ids(tx, MEMBERS_WITHOUT_RESULT, batch).await
            })
        }))
    }

    fn cached_gaps(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Option<Vec<String>>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                let owner = sql::opt(tx, LINKED_CHUNK_STATE, &[&batch.0])
                    .await?
                    .map(|row| text_enum(&row, 0, BatchState::from_db))
                    .transpose()?;
                if !gaps_are_final(batch, owner)? {
                    return Ok(None);
                }
                Ok(Some(ids(tx, CACHED_GAPS, batch).await?))
            })
        }))
    }

    fn run_batches(&self, run: RunId) -> BoxFuture<'_, Result<Vec<BatchRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                run_state(tx, run).await?;
                batches_of_run(tx, run).await
            })
        }))
    }

    fn batch_result_counts(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<BatchResultCounts, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                let members = sql::one(tx, MEMBER_COUNT, &[&batch.0]).await?;
                let mut counts = BatchResultCounts::of_members(count(&members, 0)?);
                for row in sql::all(tx, OUTCOME_COUNTS, &[&batch.0]).await? {
                    counts.set(text_enum(&row, 0, ResultOutcome::from_db)?, count(&row, 1)?);
                }
                Ok(counts)
            })
        }))
    }

    fn record_webhook_event<'a>(
        &'a self,
        event_uuid: &'a str,
        rightfoot_batch_id: Option<&'a str>,
        received_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let event_uuid = event_uuid.to_string();
        let rightfoot_batch_id = rightfoot_batch_id.map(str::to_string);
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let inserted = sql::exec(
                    tx,
                    INSERT_WEBHOOK_EVENT,
                    &[&event_uuid, &received_at, &rightfoot_batch_id],
                )
                .await?;
                Ok(inserted > 0)
            })
        }))
    }
}

/// `mark_batch_submitted`'s transaction.
async fn mark_submitted(
    tx: &Transaction<'_>,
    batch: BatchRowId,
    submitted: BatchSubmitted,
) -> Result<Option<BatchRef>, OpError> {
    let (_, state, current_id) = batch_row(tx, batch).await?;
    if let Submission::Recorded = submission(batch, state, current_id, &submitted)? {
        return cached_from(tx, batch).await;
    }
    let owner = sql::opt(
        tx,
        FIRST_OWNER_OF_BATCH_ID,
        &[&submitted.rightfoot_batch_id, &batch.0],
    )
    .await?
    .as_ref()
    .map(batch_ref)
    .transpose()?;
    sql::exec(
        tx,
        MARK_SUBMITTED,
        &[
            &batch.0,
            &submitted.rightfoot_batch_id,
            &submitted.submitted_at,
            &i64::from(submitted.accepted),
            &submitted.deadline,
            &owner.map(|owner| owner.batch.0),
        ],
    )
    .await?;
    for (authorizer, reason) in refusals(submitted.failed) {
        let values: sql::Params<'_> = &[&batch.0, &authorizer, &reason];
        sql::exec(tx, UPSERT_FAILED_AUTHORIZER, values).await?;
        sql::exec(tx, INSERT_REJECTED, values).await?;
    }
    Ok(owner)
}

/// The chunk `batch` was linked to by `mark_batch_submitted`, if any.
async fn cached_from(tx: &Transaction<'_>, batch: BatchRowId) -> Result<Option<BatchRef>, OpError> {
    sql::opt(tx, LINKED_CHUNK, &[&batch.0])
        .await?
        .as_ref()
        .map(batch_ref)
        .transpose()
}

/// A chunk's id and run, in columns 0 and 1.
fn batch_ref(row: &Row) -> Result<BatchRef, OpError> {
    Ok(BatchRef {
        batch: BatchRowId(row.try_get(0)?),
        run: RunId(row.try_get(1)?),
    })
}

async fn ids(tx: &Transaction<'_>, sql: &str, batch: BatchRowId) -> Result<Vec<String>, OpError> {
    sql::all(tx, sql, &[&batch.0])
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}
