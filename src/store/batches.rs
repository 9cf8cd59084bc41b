//! Chunks of a run ("batches"): recording one before its POST, what Rightfoot's 201
//! said, its state while results are read, which authorizers it carries, and the
//! completion webhooks already seen ([`BatchJournal`]).
//!
//! A chunk is recorded *before* it is sent, with the SHA-256 of its exact body and its
//! members, so that after a crash the run knows what may have reached Rightfoot and can
//! resend the same bytes (Rightfoot's body cache then returns the same batch id rather
//! than checking twice). A completion webhook is remembered so that a restart does not
//! act twice on one Rightfoot retried. This module does not build bodies or talk to
//! Rightfoot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted,
    FailedAuthorizer, PlannedChunk, RunId,
};
use crate::text::Redactor;

/// Refuses a 201 without a batch id for chunk `batch`. Every backend's
/// `mark_batch_submitted` asks this before its transaction.
pub(super) fn check_batch_id(
    batch: BatchRowId,
    submitted: &BatchSubmitted,
) -> Result<(), StoreError> {
    if submitted.rightfoot_batch_id.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "Rightfoot batch id",
            message: format!("empty for {batch}"),
        });
    }
    Ok(())
}

/// What `mark_batch_submitted` does with a chunk as stored.
pub(super) enum Submission {
    /// Record the 201.
    Record,
    /// The same 201 is recorded already: answer the link it made.
    Recorded,
}

/// Whether chunk `batch`, stored with `state` and Rightfoot batch id `current_id`, may
/// take `submitted`; the refusal otherwise. Every backend's `mark_batch_submitted`
/// asks this.
pub(super) fn submission(
    batch: BatchRowId,
    state: BatchState,
    current_id: Option<String>,
    submitted: &BatchSubmitted,
) -> Result<Submission, StoreError> {
    if let Some(current_id) = current_id {
        if current_id == submitted.rightfoot_batch_id {
            return Ok(Submission::Recorded);
        }
        return Err(StoreError::InvalidInput {
            what: "Rightfoot batch id",
            message: format!(
                "{batch} already has batch id {current_id:?}, not {:?}",
                submitted.rightfoot_batch_id
            ),
        });
    }
    if state == BatchState::Complete {
        return Err(StoreError::InvalidInput {
            what: "batch state",
            message: format!("{batch} is complete"),
        });
    }
    Ok(Submission::Record)
}

/// Whether the cached gaps of chunk `batch` are final, given the state of the earlier
/// chunk it is linked to (`None`: it is linked to none, which is refused). They are not
/// while that chunk is still being sent or read by its own run. Every backend's
/// `cached_gaps` asks this.
pub(super) fn gaps_are_final(
    batch: BatchRowId,
    linked: Option<BatchState>,
) -> Result<bool, StoreError> {
    let Some(state) = linked else {
        return Err(StoreError::InvalidInput {
            what: "batch row",
            message: format!("{batch} is not linked to an earlier chunk"),
        });
    };
    Ok(!matches!(
        state,
        BatchState::Submitting | BatchState::Submitted | BatchState::Reading
    ))
}

/// The authorizers Rightfoot refused, each with every reason it gave (it may name one
/// twice), joined and with long digit runs redacted, as they are stored.
pub(super) fn refusals(failed: Vec<FailedAuthorizer>) -> BTreeMap<String, String> {
    let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for failed in failed {
        refused
            .entry(failed.authorizer_unique_id)
            .or_default()
            .push(failed.reason);
    }
    refused
        .into_iter()
        .map(|(authorizer, reasons)| {
            let reason = Redactor::digit_runs().scrub(&reasons.join("; "));
            (authorizer, reason)
        })
        .collect()
}

/// Whether chunk `batch` may move from `from` to `to` (`has_batch_id`: Rightfoot's
/// batch id is recorded): `Ok(false)` when it is already there, `Ok(true)` for an
/// allowed move, the refusal otherwise. Every backend's `set_batch_state` asks this.
pub(super) fn batch_transition(
    batch: BatchRowId,
    from: BatchState,
    to: BatchState,
    has_batch_id: bool,
) -> Result<bool, StoreError> {
    if from == to {
        return Ok(false);
    }
    let refuse = |message: String| {
        Err(StoreError::InvalidInput {
            what: "batch state",
            message,
        })
    };
    if from == BatchState::Complete {
        return refuse(format!("{batch} is complete and cannot become {to}"));
    }
    match to {
        BatchState::Submitting | BatchState::Submitted => {
            refuse(format!("{batch} cannot be set back to {to}"))
        }
        BatchState::Reading | BatchState::Complete if !has_batch_id => {
            refuse(format!("{batch} has no Rightfoot batch id yet"))
        }
        _ => Ok(true),
    }
}

/// A planned chunk's body hash as stored (lowercase hex), or the refusal of a chunk
/// with no member. Every backend's `begin_batch` and `start_run` ask this.
pub(super) fn chunk_sha(
    run: RunId,
    chunk_index: impl std::fmt::Display,
    chunk: &PlannedChunk,
) -> Result<String, StoreError> {
    if chunk.members.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "chunk members",
            message: format!("{run} chunk {chunk_index} has no authorizers"),
        });
    }
    Ok(hex::encode(chunk.body_sha256))
}

/// A chunk begun again: the same body is the same row, another body is refused.
pub(super) fn same_chunk_body(
    run: RunId,
    chunk_index: u32,
    stored: String,
    given: &str,
) -> Result<(), StoreError> {
    if stored == given {
        return Ok(());
    }
    Err(StoreError::ChunkBodyChanged {
        run,
        chunk_index,
        stored,
        given: given.to_string(),
    })
}

/// The run journal's chunks.
pub trait BatchJournal: Send + Sync {
    /// Records `chunk` as chunk `chunk_index` of `run`, in state `submitting`, before it
    /// is sent.
    ///
    /// Calling it again with the same body (a retry, or a resume after a crash) returns
    /// the same row; a different body for the same chunk is refused with
    /// [`StoreError::ChunkBodyChanged`]. An authorizer may be in only one chunk of a run
    /// ([`StoreError::DuplicateMember`]).
    fn begin_batch(
        &self,
        run: RunId,
        chunk_index: u32,
        chunk: PlannedChunk,
    ) -> BoxFuture<'_, Result<BatchRowId, StoreError>>;

    /// Records that chunk `batch` is about to be POSTed at `at` (the run's clock), unless
    /// an earlier attempt was recorded, and returns the first attempt's time.
    ///
    /// Write it before every POST of the chunk: after a crash, the first attempt's time
    /// says whether Rightfoot's 24-hour body cache still makes a resend safe, and its
    /// absence says the chunk was never sent.
    fn record_first_attempt(
        &self,
        batch: BatchRowId,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<DateTime<Utc>, StoreError>>;

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
    fn mark_batch_submitted(
        &self,
        batch: BatchRowId,
        submitted: BatchSubmitted,
    ) -> BoxFuture<'_, Result<Option<BatchRef>, StoreError>>;

    /// Moves a chunk to `reading`, `complete`, `unknown` or `failed` (use
    /// [`BatchJournal::mark_batch_submitted`] for `submitted`). `reading` and `complete` need
    /// Rightfoot's batch id; nothing leaves `complete`.
    fn set_batch_state(
        &self,
        batch: BatchRowId,
        state: BatchState,
        reason: Option<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Runs other than `run` that already received Rightfoot batch id
    /// `rightfoot_batch_id`: if any, Rightfoot served `run` a cached batch.
    fn batch_ids_used_before<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        run: RunId,
    ) -> BoxFuture<'a, Result<Vec<RunId>, StoreError>>;

    /// The authorizers sent in a chunk, sorted.
    fn batch_members(&self, batch: BatchRowId) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// The members of a chunk that have no result row yet, sorted: what is still
    /// awaited from Rightfoot.
    fn members_without_result(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// For a chunk linked to an earlier one by the cache (`cached_from`): `None` while
    /// that chunk has not ended (its run is still reading the results); once it is
    /// `complete`, `unknown` or `failed`, the members, sorted, that have no `retrieved`
    /// result in the earlier chunk and were not refused in this one: the results the
    /// earlier run never got.
    fn cached_gaps(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Option<Vec<String>>, StoreError>>;

    /// Every chunk of `run`, in chunk order.
    fn run_batches(&self, run: RunId) -> BoxFuture<'_, Result<Vec<BatchRecord>, StoreError>>;

    /// How many members of chunk `batch` have a result of each outcome.
    fn batch_result_counts(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<BatchResultCounts, StoreError>>;

    /// Remembers a completion webhook's `event_uuid`. Returns `true` the first time,
    /// `false` for a redelivery that must be ignored.
    fn record_webhook_event<'a>(
        &'a self,
        event_uuid: &'a str,
        rightfoot_batch_id: Option<&'a str>,
        received_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}
