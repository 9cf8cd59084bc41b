//! Chunks on SQLite ([`BatchJournal`]): a chunk's row before its POST, what Rightfoot's
//! 201 said (a refused authorizer's reason is stored with long digit runs redacted),
//! its state, its members, and the completion webhooks already seen.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::columns::{count, text_enum, time, time_text};
use super::error::OpError;
use super::rows::{CACHED_GAP, batch_row, batches_of_run, insert_chunk, run_state};
use crate::store::batches::{batch_transition, chunk_sha};
use crate::store::types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted, PlannedChunk,
    ResultOutcome, RunId,
};
use crate::store::{BatchJournal, StoreError};
use crate::text::Redactor;

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
                transaction.execute(
                    "UPDATE batches SET first_attempt_at = coalesce(first_attempt_at, ?2), \
                         updated_at = ?3 \
                     WHERE id = ?1",
                    params![batch.0, time_text(at), time_text(Utc::now())],
                )?;
                Ok(transaction.query_row(
                    "SELECT first_attempt_at FROM batches WHERE id = ?1",
                    params![batch.0],
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
            if submitted.rightfoot_batch_id.is_empty() {
                return Err(StoreError::InvalidInput {
                    what: "Rightfoot batch id",
                    message: format!("empty for {batch}"),
                });
            }
            self.write(move |transaction| {
            let (_, state, current_id) = batch_row(transaction, batch)?;
            if let Some(current_id) = current_id {
                if current_id == submitted.rightfoot_batch_id {
                    return cached_from(transaction, batch);
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
            let now = time_text(Utc::now());
            let owner: Option<BatchRef> = transaction
                .query_row(
                    "SELECT id, run_id FROM batches \
                         WHERE rightfoot_batch_id = ?1 AND id <> ?2 AND cached_from IS NULL \
                         ORDER BY id LIMIT 1",
                    params![submitted.rightfoot_batch_id, batch.0],
                    |row| {
                        Ok(BatchRef {
                            batch: BatchRowId(row.get(0)?),
                            run: RunId(row.get(1)?),
                        })
                    },
                )
                .optional()?;
            transaction.execute(
                "UPDATE batches SET state = 'submitted', rightfoot_batch_id = ?2, \
                         submitted_at = ?3, accepted_count = ?4, deadline = ?5, \
                         updated_at = ?6, finished_at = NULL, cached_from = ?7 \
                     WHERE id = ?1",
                params![
                    batch.0,
                    submitted.rightfoot_batch_id,
                    time_text(submitted.submitted_at),
                    submitted.accepted,
                    time_text(submitted.deadline),
                    now,
                    owner.map(|owner| owner.batch.0)
                ],
            )?;
            // Rightfoot may name an authorizer twice; keep every reason.
            let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for failed in submitted.failed {
                refused
                    .entry(failed.authorizer_unique_id)
                    .or_default()
                    .push(failed.reason);
            }
            let mut failed_row = transaction.prepare(
                "INSERT INTO batch_failed_authorizers (batch_id, authorizer_unique_id, reason) \
                     VALUES (?1, ?2, ?3) \
                     ON CONFLICT (batch_id, authorizer_unique_id) DO UPDATE SET reason = excluded.reason",
            )?;
            let mut rejected = transaction.prepare(
                "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
                     SELECT run_id, batch_id, authorizer_unique_id, 'rejected', ?3, ?4 \
                     FROM batch_members WHERE batch_id = ?1 AND authorizer_unique_id = ?2 \
                     ON CONFLICT (run_id, authorizer_unique_id) DO NOTHING",
            )?;
            for (authorizer, reasons) in refused {
                let reason = Redactor::digit_runs().scrub(&reasons.join("; "));
                failed_row.execute(params![batch.0, authorizer, reason])?;
                rejected.execute(params![batch.0, authorizer, reason, now])?;
            }
            Ok(owner)
        })
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
                let now = time_text(Utc::now());
                let finished =
                    matches!(state, BatchState::Complete | BatchState::Failed).then_some(&now);
                transaction.execute(
                    "UPDATE batches SET state = ?2, updated_at = ?3, finished_at = ?4, \
                         reason = coalesce(?5, reason) \
                     WHERE id = ?1",
                    params![batch.0, state.as_str(), now, finished, reason],
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
                    .prepare(
                        "SELECT DISTINCT run_id FROM batches \
                         WHERE rightfoot_batch_id = ?1 AND run_id <> ?2 ORDER BY run_id",
                    )?
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
                ids(
                    transaction,
                    "SELECT authorizer_unique_id FROM batch_members WHERE batch_id = ?1 \
                     ORDER BY authorizer_unique_id",
                    batch,
                )
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
            ids(
                transaction,
                "SELECT m.authorizer_unique_id FROM batch_members m \
                     WHERE m.batch_id = ?1 AND NOT EXISTS ( \
                         SELECT 1 FROM results r \
                         WHERE r.run_id = m.run_id AND r.authorizer_unique_id = m.authorizer_unique_id) \
                     ORDER BY m.authorizer_unique_id",
                batch,
            )
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
                let owner: Option<(i64, String)> = transaction
                .query_row(
                    "SELECT c.id, c.state FROM batches b JOIN batches c ON c.id = b.cached_from \
                         WHERE b.id = ?1",
                    params![batch.0],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
                let Some((_, state)) = owner else {
                    return Err(StoreError::InvalidInput {
                        what: "batch row",
                        message: format!("{batch} is not linked to an earlier chunk"),
                    }
                    .into());
                };
                // Still being read by its run (or sent: it has no batch id then, and
                // no chunk can be linked to it).
                if [
                    BatchState::Submitting,
                    BatchState::Submitted,
                    BatchState::Reading,
                ]
                .iter()
                .any(|open| open.as_str() == state)
                {
                    return Ok(None);
                }
                Ok(Some(ids(
                    transaction,
                    &format!(
                        "SELECT m.authorizer_unique_id FROM batch_members m {CACHED_GAP} \
                              ORDER BY m.authorizer_unique_id"
                    ),
                    batch,
                )?))
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
                let members = transaction.query_row(
                    "SELECT count(*) FROM batch_members WHERE batch_id = ?1",
                    params![batch.0],
                    |row| count(row, 0),
                )?;
                let mut counts = BatchResultCounts {
                    members,
                    ..BatchResultCounts::default()
                };
                let mut statement = transaction.prepare(
                    "SELECT outcome, count(*) FROM results WHERE batch_id = ?1 GROUP BY outcome",
                )?;
                let rows = statement.query_map(params![batch.0], |row| {
                    Ok((text_enum(row, 0, ResultOutcome::from_db)?, count(row, 1)?))
                })?;
                for row in rows {
                    let (outcome, number) = row?;
                    match outcome {
                        ResultOutcome::Retrieved => counts.retrieved = number,
                        ResultOutcome::Rejected => counts.rejected = number,
                        ResultOutcome::NotRetrieved => counts.not_retrieved = number,
                    }
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
                    "INSERT INTO webhook_events (event_uuid, received_at, rightfoot_batch_id) \
                     VALUES (?1, ?2, ?3) ON CONFLICT (event_uuid) DO NOTHING",
                    params![event_uuid, time_text(received_at), rightfoot_batch_id],
                )?;
                Ok(inserted > 0)
            })
            .await
        })
    }
}

/// The chunk `batch` was linked to by `mark_batch_submitted`, if any.
fn cached_from(
    transaction: &Transaction<'_>,
    batch: BatchRowId,
) -> Result<Option<BatchRef>, OpError> {
    Ok(transaction
        .query_row(
            "SELECT c.id, c.run_id FROM batches b JOIN batches c ON c.id = b.cached_from \
             WHERE b.id = ?1",
            params![batch.0],
            |row| {
                Ok(BatchRef {
                    batch: BatchRowId(row.get(0)?),
                    run: RunId(row.get(1)?),
                })
            },
        )
        .optional()?)
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
