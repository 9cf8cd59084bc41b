//! Chunks of a run ("batches"): recording one before its POST, what Rightfoot's 201
//! said, its state while results are read, and which authorizers it carries.
//!
//! A chunk is recorded *before* it is sent, with the SHA-256 of its exact body and its
//! members, so that after a crash the run knows what may have reached Rightfoot and can
//! resend the same bytes (Rightfoot's body cache then returns the same batch id rather
//! than checking twice). This module does not build bodies or talk to Rightfoot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use super::columns::{count, optional_time, text_enum, time, time_text};
use super::error::{OpError, StoreError, is_unique_violation};
use super::runs::run_state;
use super::types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted,
    ResultOutcome, RunId, RunState,
};
use crate::text::Redactor;

impl Store {
    /// Records chunk `chunk_index` of `run`, in state `submitting`, before it is sent.
    ///
    /// Calling it again with the same body (a retry, or a resume after a crash) returns
    /// the same row; a different body for the same chunk is refused with
    /// [`StoreError::ChunkBodyChanged`]. An authorizer may be in only one chunk of a run
    /// ([`StoreError::DuplicateMember`]).
    pub async fn begin_batch<I, S>(
        &self,
        run: RunId,
        chunk_index: u32,
        body_sha256: [u8; 32],
        members: I,
    ) -> Result<BatchRowId, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let members: Vec<String> = members.into_iter().map(Into::into).collect();
        if members.is_empty() {
            return Err(StoreError::InvalidInput {
                what: "chunk members",
                message: format!("{run} chunk {chunk_index} has no authorizers"),
            });
        }
        let sha = hex::encode(body_sha256);
        self.write(move |transaction| {
            let state = run_state(transaction, run)?;
            insert_chunk(transaction, run, state, chunk_index, &sha, members)
        })
        .await
    }

    /// Records that chunk `batch` is about to be POSTed at `at` (the run's clock), unless
    /// an earlier attempt was recorded, and returns the first attempt's time.
    ///
    /// Write it before every POST of the chunk: after a crash, the first attempt's time
    /// says whether Rightfoot's 24-hour body cache still makes a resend safe, and its
    /// absence says the chunk was never sent.
    pub async fn record_first_attempt(
        &self,
        batch: BatchRowId,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
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
    }

    /// Records Rightfoot's 201 for a chunk: its batch id, `submitted_at`, the accepted
    /// count, the deadline, and the authorizers it refused. Refused members get a
    /// `rejected` result at once, so every member of the run ends with a result row.
    ///
    /// A refusal reason is Rightfoot's text about the row's personal fields; should it
    /// ever echo a value, runs of four or more digits (an account, routing, card or SSN
    /// number, a birth date) are replaced before it is stored.
    ///
    /// Recording the same batch id again changes nothing; a different batch id for a
    /// chunk that already has one is refused.
    ///
    /// When another chunk (of any run) already recorded the same Rightfoot batch id,
    /// Rightfoot answered from its 24-hour body cache: this chunk is linked to the
    /// first chunk that recorded the id (`cached_from`), which is returned. That chunk
    /// owns the batch's results. The check and the link are one transaction, so of two
    /// chunks racing for one batch id exactly one becomes the owner.
    pub async fn mark_batch_submitted(
        &self,
        batch: BatchRowId,
        submitted: BatchSubmitted,
    ) -> Result<Option<BatchRef>, StoreError> {
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
    }

    /// Moves a chunk to `reading`, `complete`, `unknown` or `failed` (use
    /// [`Store::mark_batch_submitted`] for `submitted`). `reading` and `complete` need
    /// Rightfoot's batch id; nothing leaves `complete`.
    pub async fn set_batch_state(
        &self,
        batch: BatchRowId,
        state: BatchState,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |transaction| {
            let (_, current, rightfoot_id) = batch_row(transaction, batch)?;
            if current == state {
                return Ok(());
            }
            let refuse = |message: String| {
                Err(StoreError::InvalidInput {
                    what: "batch state",
                    message,
                }
                .into())
            };
            if current == BatchState::Complete {
                return refuse(format!("{batch} is complete and cannot become {state}"));
            }
            match state {
                BatchState::Submitting | BatchState::Submitted => {
                    return refuse(format!("{batch} cannot be set back to {state}"));
                }
                BatchState::Reading | BatchState::Complete if rightfoot_id.is_none() => {
                    return refuse(format!("{batch} has no Rightfoot batch id yet"));
                }
                _ => {}
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
    }

    /// Runs other than `run` that already received Rightfoot batch id
    /// `rightfoot_batch_id`: if any, Rightfoot served `run` a cached batch.
    pub async fn batch_ids_used_before(
        &self,
        rightfoot_batch_id: &str,
        run: RunId,
    ) -> Result<Vec<RunId>, StoreError> {
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
    }

    /// The authorizers sent in a chunk, sorted.
    pub async fn batch_members(&self, batch: BatchRowId) -> Result<Vec<String>, StoreError> {
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
    }

    /// The members of a chunk that have no result row yet, sorted: what is still
    /// awaited from Rightfoot.
    pub async fn members_without_result(
        &self,
        batch: BatchRowId,
    ) -> Result<Vec<String>, StoreError> {
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
    }

    /// For a chunk linked to an earlier one by the cache (`cached_from`): `None` while
    /// that chunk is not `complete` (its run is still reading the results); otherwise
    /// the members, sorted, that have no `retrieved` result in the earlier chunk and
    /// were not refused in this one: the results the earlier run never got.
    pub async fn cached_gaps(&self, batch: BatchRowId) -> Result<Option<Vec<String>>, StoreError> {
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
            if state != BatchState::Complete.as_str() {
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
    }

    /// Every chunk of `run`, in chunk order.
    pub async fn run_batches(&self, run: RunId) -> Result<Vec<BatchRecord>, StoreError> {
        self.read(move |transaction| {
            run_state(transaction, run)?;
            batches_of_run(transaction, run)
        })
        .await
    }

    /// How many members of chunk `batch` have a result of each outcome.
    pub async fn batch_result_counts(
        &self,
        batch: BatchRowId,
    ) -> Result<BatchResultCounts, StoreError> {
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
    }
}

/// The members `m` of chunk `?1` (linked by `cached_from`) that have no `retrieved`
/// result in the earlier chunk and no `rejected` result of their own.
pub(crate) const CACHED_GAP: &str = "JOIN batches b ON b.id = m.batch_id \
     WHERE m.batch_id = ?1 AND b.cached_from IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM results o WHERE o.batch_id = b.cached_from \
         AND o.authorizer_unique_id = m.authorizer_unique_id AND o.outcome = 'retrieved') \
     AND NOT EXISTS (SELECT 1 FROM results r WHERE r.run_id = m.run_id \
         AND r.authorizer_unique_id = m.authorizer_unique_id AND r.outcome = 'rejected')";

/// Records a chunk in state `submitting` with its members, or returns the row already
/// recorded for the same run, index and body. Shared by [`Store::begin_batch`] and
/// [`Store::start_run`].
pub(crate) fn insert_chunk(
    transaction: &Transaction<'_>,
    run: RunId,
    state: RunState,
    chunk_index: u32,
    sha: &str,
    members: Vec<String>,
) -> Result<BatchRowId, OpError> {
    let existing: Option<(i64, String)> = transaction
        .query_row(
            "SELECT id, body_sha256 FROM batches WHERE run_id = ?1 AND chunk_index = ?2",
            params![run.0, chunk_index],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    if let Some((id, stored)) = existing {
        if stored == sha {
            return Ok(BatchRowId(id));
        }
        return Err(StoreError::ChunkBodyChanged {
            run,
            chunk_index,
            stored,
            given: sha.to_string(),
        }
        .into());
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

/// The chunk `batch` was linked to by [`Store::mark_batch_submitted`], if any.
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

/// A chunk's run, state and Rightfoot batch id, or `NotFound`.
pub(crate) fn batch_row(
    transaction: &Transaction<'_>,
    batch: BatchRowId,
) -> Result<(RunId, BatchState, Option<String>), OpError> {
    transaction
        .query_row(
            "SELECT run_id, state, rightfoot_batch_id FROM batches WHERE id = ?1",
            params![batch.0],
            |row| {
                Ok((
                    RunId(row.get(0)?),
                    text_enum(row, 1, BatchState::from_db)?,
                    row.get(2)?,
                ))
            },
        )
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
pub(crate) fn batches_of_run(
    transaction: &Transaction<'_>,
    run: RunId,
) -> Result<Vec<BatchRecord>, OpError> {
    Ok(transaction
        .prepare(
            "SELECT b.id, b.run_id, b.chunk_index, b.body_sha256, b.state, b.rightfoot_batch_id, \
                 b.submitted_at, b.accepted_count, b.deadline, b.reason, \
                 (SELECT count(*) FROM batch_members m WHERE m.batch_id = b.id), \
                 (SELECT count(*) FROM results r WHERE r.batch_id = b.id), \
                 b.first_attempt_at, c.id, c.run_id \
             FROM batches b LEFT JOIN batches c ON c.id = b.cached_from \
             WHERE b.run_id = ?1 ORDER BY b.chunk_index",
        )?
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
        cached_from: match (
            row.get::<_, Option<i64>>(13)?,
            row.get::<_, Option<i64>>(14)?,
        ) {
            (Some(batch), Some(run)) => Some(BatchRef {
                batch: BatchRowId(batch),
                run: RunId(run),
            }),
            _ => None,
        },
    })
}
