//! Chunks on PostgreSQL ([`BatchJournal`]): a chunk's row before its POST, what
//! Rightfoot's 201 said (a refused authorizer's reason stored with long digit runs
//! redacted), its state, its members, and the completion webhooks already seen.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::rows::{CACHED_GAP, batch_row, batches_of_run, insert_chunk, run_state};
use super::sql::{self, count, text_enum};
use crate::store::batches::{batch_transition, chunk_sha};
use crate::store::types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted, PlannedChunk,
    ResultOutcome, RunId,
};
use crate::store::{BatchJournal, StoreError};
use crate::text::Redactor;

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
                let row = sql::one(
                    tx,
                    "UPDATE batches SET first_attempt_at = coalesce(first_attempt_at, $2), \
                         updated_at = now() \
                     WHERE id = $1 RETURNING first_attempt_at",
                    &[&batch.0, &at],
                )
                .await?;
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
            if submitted.rightfoot_batch_id.is_empty() {
                return Err(StoreError::InvalidInput {
                    what: "Rightfoot batch id",
                    message: format!("empty for {batch}"),
                });
            }
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
                    "UPDATE batches SET state = $2, updated_at = now(), \
                         finished_at = CASE WHEN $3 THEN now() END, \
                         reason = coalesce($4, reason) \
                     WHERE id = $1",
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
                sql::all(
                    tx,
                    "SELECT DISTINCT run_id FROM batches \
                     WHERE rightfoot_batch_id = $1 AND run_id <> $2 ORDER BY run_id",
                    &[&rightfoot_batch_id, &run.0],
                )
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
                ids(
                    tx,
                    "SELECT authorizer_unique_id FROM batch_members WHERE batch_id = $1 \
                     ORDER BY authorizer_unique_id",
                    batch,
                )
                .await
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
                ids(
                    tx,
                    "SELECT m.authorizer_unique_id FROM batch_members m \
                     WHERE m.batch_id = $1 AND NOT EXISTS ( \
                         SELECT 1 FROM results r \
                         WHERE r.run_id = m.run_id AND r.authorizer_unique_id = m.authorizer_unique_id) \
                     ORDER BY m.authorizer_unique_id",
                    batch,
                )
                .await
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
                let owner = sql::opt(
                    tx,
                    "SELECT c.state FROM batches b JOIN batches c ON c.id = b.cached_from \
                     WHERE b.id = $1",
                    &[&batch.0],
                )
                .await?;
                let Some(owner) = owner else {
                    return Err(StoreError::InvalidInput {
                        what: "batch row",
                        message: format!("{batch} is not linked to an earlier chunk"),
                    }
                    .into());
                };
                let state = text_enum(&owner, 0, BatchState::from_db)?;
                if matches!(
                    state,
                    BatchState::Submitting | BatchState::Submitted | BatchState::Reading
                ) {
                    return Ok(None);
                }
                let sql = format!(
                    "SELECT m.authorizer_unique_id FROM batch_members m {CACHED_GAP} \
                     ORDER BY m.authorizer_unique_id"
                );
                Ok(Some(ids(tx, &sql, batch).await?))
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
                let members = sql::one(
                    tx,
                    "SELECT count(*) FROM batch_members WHERE batch_id = $1",
                    &[&batch.0],
                )
                .await?;
                let mut counts = BatchResultCounts {
                    members: count(&members, 0)?,
                    ..BatchResultCounts::default()
                };
                for row in sql::all(
                    tx,
                    "SELECT outcome, count(*) FROM results WHERE batch_id = $1 GROUP BY outcome",
                    &[&batch.0],
                )
                .await?
                {
                    let number = count(&row, 1)?;
                    match text_enum(&row, 0, ResultOutcome::from_db)? {
                        ResultOutcome::Retrieved => counts.retrieved = number,
                        ResultOutcome::Rejected => counts.rejected = number,
                        ResultOutcome::NotRetrieved => counts.not_retrieved = number,
                    }
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
                    "INSERT INTO webhook_events (event_uuid, received_at, rightfoot_batch_id) \
                     VALUES ($1, $2, $3) ON CONFLICT (event_uuid) DO NOTHING",
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
    if let Some(current_id) = current_id {
        if current_id == submitted.rightfoot_batch_id {
            return cached_from(tx, batch).await;
        }
        return Err(StoreError::InvalidInput {
            what: "Rightfoot batch id",
            message: format!(
                "{batch} already has batch id {current_id:?}, not {:?}",
                submitted.rightfoot_batch_id
            ),
        }
        .into());
    }
    if state == BatchState::Complete {
        return Err(StoreError::InvalidInput {
            what: "batch state",
            message: format!("{batch} is complete"),
        }
        .into());
    }
    let owner = sql::opt(
        tx,
        "SELECT id, run_id FROM batches \
         WHERE rightfoot_batch_id = $1 AND id <> $2 AND cached_from IS NULL \
         ORDER BY id LIMIT 1",
        &[&submitted.rightfoot_batch_id, &batch.0],
    )
    .await?
    .map(|row| -> Result<BatchRef, OpError> {
        Ok(BatchRef {
            batch: BatchRowId(row.try_get(0)?),
            run: RunId(row.try_get(1)?),
        })
    })
    .transpose()?;
    sql::exec(
        tx,
        "UPDATE batches SET state = 'submitted', rightfoot_batch_id = $2, \
             submitted_at = $3, accepted_count = $4, deadline = $5, \
             updated_at = now(), finished_at = NULL, cached_from = $6 \
         WHERE id = $1",
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
    // Rightfoot may name an authorizer twice; keep every reason.
    let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for failed in submitted.failed {
        refused
            .entry(failed.authorizer_unique_id)
            .or_default()
            .push(failed.reason);
    }
    for (authorizer, reasons) in refused {
        let reason = Redactor::digit_runs().scrub(&reasons.join("; "));
        sql::exec(
            tx,
            "INSERT INTO batch_failed_authorizers (batch_id, authorizer_unique_id, reason) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (batch_id, authorizer_unique_id) DO UPDATE SET reason = excluded.reason",
            &[&batch.0, &authorizer, &reason],
        )
        .await?;
        sql::exec(
            tx,
            "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
             SELECT run_id, batch_id, authorizer_unique_id, 'rejected', $3, now() \
             FROM batch_members WHERE batch_id = $1 AND authorizer_unique_id = $2 \
             ON CONFLICT (run_id, authorizer_unique_id) DO NOTHING",
            &[&batch.0, &authorizer, &reason],
        )
        .await?;
    }
    Ok(owner)
}

/// The chunk `batch` was linked to by `mark_batch_submitted`, if any.
async fn cached_from(tx: &Transaction<'_>, batch: BatchRowId) -> Result<Option<BatchRef>, OpError> {
    sql::opt(
        tx,
        "SELECT c.id, c.run_id FROM batches b JOIN batches c ON c.id = b.cached_from \
         WHERE b.id = $1",
        &[&batch.0],
    )
    .await?
    .map(|row| {
        Ok(BatchRef {
            batch: BatchRowId(row.try_get(0)?),
            run: RunId(row.try_get(1)?),
        })
    })
    .transpose()
}

async fn ids(tx: &Transaction<'_>, sql: &str, batch: BatchRowId) -> Result<Vec<String>, OpError> {
    sql::all(tx, sql, &[&batch.0])
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}
