//! One chunk of a run, from `submitting` to `complete`, `unknown` or `failed`.
//!
//! Every step is written to the store before the side effect it enables, so that a
//! crash at any point leaves a state [`super::resume`] can continue from:
//!
//! 1. `submitting`: the chunk's row, body hash and members exist (written with the
//!    plan). [`Store::record_first_attempt`] is written before each POST.
//! 2. The POST. A `201` is recorded at once ([`Store::mark_batch_submitted`]: batch
//!    id, `submitted_at`, accepted count, deadline, refused rows) → `submitted`.
//!    If another chunk had already recorded that batch id, Rightfoot answered from its
//!    24-hour cache: the chunk is linked to that earlier chunk (the batch's owner) and
//!    stores none of the owner's results. It waits until the owner's chunk has ended,
//!    then is `complete`, unless the owner's run gave up on some results at its
//!    deadline: those alone are then read (step 3) into this chunk, so every check is
//!    still stored exactly once.
//! 3. `reading`: pages are fetched and each is upserted by (run, authorizer) before
//!    the next is asked for, so reading a page again changes nothing. Polling repeats
//!    every `poll_interval` until the results reach the accepted count, or until the
//!    deadline (`submitted_at + result_deadline`), when the members still without a
//!    result are recorded `not_retrieved` → `complete`.
//!
//! A POST that cannot be sent safely is never sent: a chunk whose first attempt is
//! older than Rightfoot's cache window is `unknown`, and so is one whose answer could
//! not be learnt. Their members are recorded `not_retrieved` with the reason.
//!
//! Cancellation: waits (for a slot, between polls, between retries) and result reads
//! stop at once; a POST already in flight is allowed to finish so its `201` is
//! recorded. Every point where a chunk stops is one of the durable steps above.
//!
//! This module owns one chunk's drive and its sending steps (1 and 2); reading (step 3)
//! is `read.rs`, and the in-flight slot a chunk holds is `in_flight.rs`. It does not
//! plan chunks, load authorizers, or decide the run's final state ([`super::finish`]).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use sha2::{Digest, Sha256};

use super::plan::{Chunk, CurrentList};
use super::{RunContext, RunError};
use crate::domain::{BatchRowId, BatchState, RunId};
use crate::rightfoot::{ApiError, SubmitOutcome};
use crate::secret::Secret;
use crate::store::{BatchRecord, BatchSubmitted, FailedAuthorizer};

/// How a chunk's drive ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChunkEnd {
    /// The chunk reached `complete`, `unknown` or `failed`.
    Finished,
    /// Cancelled at a resumable step.
    Interrupted,
}

/// What a chunk still needs.
pub(super) enum ChunkWork {
    /// `submitting`: to be sent.
    Send { batch: BatchRecord, body: Body },
    /// `submitted` or `reading`: Rightfoot has the batch.
    Read { batch: BatchRecord },
}

/// The body of a chunk to send, written when its turn to be sent comes, so that a long
/// run holds a few bodies at a time, not all of them.
pub(super) enum Body {
    /// Planned by this call (its records read again from a CSV file).
    Planned(Chunk),
    /// Rebuilt from the current list after a restart, by the chunk's stored members,
    /// and checked against the stored hash.
    Rebuild(Arc<CurrentList>),
}

/// A run while its chunks are being driven: what every chunk step needs.
pub(super) struct RunInProgress<'a> {
    pub ctx: &'a RunContext,
    pub run: RunId,
    pub monitor: &'a str,
    /// The run's `started_at`: a `submitted_at` older than this (less the allowance)
    /// is a cached batch.
    pub started_at: DateTime<Utc>,
    pub cancel: &'a CancellationToken,
    /// Set when the authorizers file changed under the plan: why. No chunk is sent
    /// after it is set, and the run ends `failed` with it.
    pub stopped: OnceLock<String>,
}

/// Where one chunk's Rightfoot batch stands, for reading.
pub(super) struct Submitted {
    pub row: BatchRowId,
    pub chunk_index: u32,
    pub batch_id: String,
    pub accepted: u32,
    pub deadline: DateTime<Utc>,
    /// Starts the client's 404 grace period.
    pub grace_from: DateTime<Utc>,
    /// For a batch served from the cache: the only members to store results for (the
    /// ones the earlier chunk that owns the batch never got). `None`: every member.
    pub gaps: Option<HashSet<String>>,
}

/// `at + by`, or the end of time if that overflows.
pub(super) fn later(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| at.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl RunInProgress<'_> {
    /// Drives one chunk to a final state, or to a resumable step on cancellation. A
    /// chunk holds one of the `max_in_flight_batches` slots from its POST (or its
    /// resumed read) to its end.
    pub(super) async fn drive_chunk(&self, work: ChunkWork) -> Result<ChunkEnd, RunError> {
        let _slot = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Ok(ChunkEnd::Interrupted),
            slot = self.ctx.in_flight.acquire() => match slot {
                Some(slot) => slot,
                // The semaphore is never closed; if it were, stop at this durable step.
                None => return Ok(ChunkEnd::Interrupted),
            },
        };
        match work {
            ChunkWork::Send { batch, body } => self.send(batch, body).await,
            ChunkWork::Read { batch } => self.resume_reading(batch).await,
        }
    }

    /// POSTs a `submitting` chunk, retrying within its deadline, and goes on to read.
    async fn send(&self, batch: BatchRecord, body: Body) -> Result<ChunkEnd, RunError> {
        let store = &self.ctx.store;
        let clock = &self.ctx.clock;
        let Some(body) = self.body_to_send(&batch, body).await? else {
            return Ok(ChunkEnd::Finished);
        };
        loop {
            if self.cancel.is_cancelled() {
                return Ok(ChunkEnd::Interrupted);
            }
            let now = clock.now();
            let first = store.record_first_attempt(batch.id, now).await?;
            if !self
                .ctx
                .client
                .retry_policy()
                .cached_post_may_retry(first, now)
            {
                let reason = format!(
                    "first sent at {first}, longer ago than Rightfoot's 24-hour body cache covers; not sent again, so that nobody is checked twice"
                );
                self.close_chunk(&batch, BatchState::Unknown, reason)
                    .await?;
                return Ok(ChunkEnd::Finished);
            }
            tracing::debug!(
                monitor = self.monitor,
                run = self.run.0,
                chunk = batch.chunk_index,
                members = batch.members,
                "submitting chunk"
            );
            let error = match self.ctx.client.submit_chunk(&body, first).await {
                Ok(outcome) => return self.record_submitted(&batch, outcome).await,
                Err(error) => error,
            };
            match error {
                ApiError::BadRequest(_) | ApiError::Unauthorized(_) | ApiError::Forbidden(_) => {
                    let reason = format!("Rightfoot refused the chunk: {error}");
                    self.close_chunk(&batch, BatchState::Failed, reason).await?;
                    return Ok(ChunkEnd::Finished);
                }
                error if error.is_retryable() => {
                    let give_up_at = later(first, self.ctx.settings.result_deadline);
                    let now = clock.now();
                    if now >= give_up_at {
                        let reason = format!(
                            "Rightfoot did not answer the submission by the deadline: {error}"
                        );
                        self.close_chunk(&batch, BatchState::Unknown, reason)
                            .await?;
                        return Ok(ChunkEnd::Finished);
                    }
                    tracing::warn!(
                        monitor = self.monitor,
                        run = self.run.0,
                        chunk = batch.chunk_index,
                        error = %error,
                        "submission failed; the same bytes will be sent again"
                    );
                    let next = later(now, self.ctx.settings.poll_interval).min(give_up_at);
                    tokio::select! {
                        biased;
                        _ = self.cancel.cancelled() => return Ok(ChunkEnd::Interrupted),
                        _ = clock.sleep_until(next) => {}
                    }
                }
                error => {
                    let reason =
                        format!("Rightfoot's answer to the submission could not be used: {error}");
                    self.close_chunk(&batch, BatchState::Unknown, reason)
                        .await?;
                    return Ok(ChunkEnd::Finished);
                }
            }
        }
    }

    /// The exact bytes recorded for `batch`, written now; `None` when they cannot be
    /// had (the chunk is then closed, and, for a changed file, the run stopped).
    async fn body_to_send(
        &self,
        batch: &BatchRecord,
        body: Body,
    ) -> Result<Option<Vec<u8>>, RunError> {
        if let Some(reason) = self.stopped.get() {
            let reason = format!("not sent: {reason}");
            self.close_chunk(batch, BatchState::Failed, reason).await?;
            return Ok(None);
        }
        let chunk = match body {
            Body::Rebuild(list) => {
                let members = self.ctx.store.batch_members(batch.id).await?;
                let webhook_url = self.ctx.settings.webhook_url.as_ref().map(Secret::expose);
                return match list.rebuild(&members, webhook_url, &batch.body_sha256) {
                    Ok(body) => Ok(Some(body)),
                    Err(why) => {
                        self.close_unbuildable(batch, &why.to_string()).await?;
                        Ok(None)
                    }
                };
            }
            Body::Planned(chunk) => chunk,
        };
        let file = chunk.file().map(|file| file.display().to_string());
        let stop = match chunk.into_body() {
            // Written twice from the same list (hashed when planned, now to send):
            // never send bytes other than the ones the store recorded.
            Ok(body) if hex::encode(Sha256::digest(&body)) == batch.body_sha256 => {
                return Ok(Some(body));
            }
            Ok(_) => match file {
                Some(file) => format!(
                    "the records read again from the authorizers file {file} do not match the chunk's recorded hash (the file changed since the run was planned); nothing more is sent under that plan"
                ),
                None => "the body written to send does not match the one planned and recorded; nothing more is sent under that plan".to_string(),
            },
            Err(error) => error.to_string(),
        };
        tracing::error!(
            monitor = self.monitor,
            run = self.run.0,
            chunk = batch.chunk_index,
            "{stop}"
        );
        let _ = self.stopped.set(stop.clone());
        let reason = format!("not sent: {}", self.stopped.get().unwrap_or(&stop));
        self.close_chunk(batch, BatchState::Failed, reason).await?;
        Ok(None)
    }

    /// Closes a `submitting` chunk whose exact body cannot be rebuilt after a restart:
    /// `failed` if it was never sent, `unknown` if it may have been.
    pub(super) async fn close_unbuildable(
        &self,
        batch: &BatchRecord,
        why: &str,
    ) -> Result<(), RunError> {
        let (state, reason) = match batch.first_attempt_at {
            None => (
                BatchState::Failed,
                format!("not sent: the chunk's exact body cannot be rebuilt: {why}"),
            ),
            Some(first) => (
                BatchState::Unknown,
                format!(
                    "first sent at {first} with no recorded answer, and not sent again because its exact body cannot be rebuilt: {why}"
                ),
            ),
        };
        self.close_chunk(batch, state, reason).await
    }

    /// Records a `201` before anything else, then reads the results (or, for a batch
    /// another chunk already owns, completes the chunk without reading).
    async fn record_submitted(
        &self,
        batch: &BatchRecord,
        outcome: SubmitOutcome,
    ) -> Result<ChunkEnd, RunError> {
        let received_at = self.ctx.clock.now();
        let accepted = u32::try_from(outcome.accepted).unwrap_or(u32::MAX);
        let deadline = later(outcome.submitted_at, self.ctx.settings.result_deadline);
        let failed = outcome
            .failed
            .iter()
            .map(|failed| FailedAuthorizer {
                authorizer_unique_id: failed.authorizer_unique_id.clone().unwrap_or_default(),
                reason: if failed.error.is_empty() {
                    "rejected by Rightfoot without a reason".to_string()
                } else {
                    failed.error.clone()
                },
            })
            .collect();
        let owner = self
            .ctx
            .store
            .mark_batch_submitted(
                batch.id,
                BatchSubmitted {
                    rightfoot_batch_id: outcome.batch_id.clone(),
                    submitted_at: outcome.submitted_at,
                    accepted,
                    failed,
                    deadline,
                },
            )
            .await?;
        tracing::debug!(
            monitor = self.monitor,
            run = self.run.0,
            chunk = batch.chunk_index,
            batch_id = %outcome.batch_id,
            accepted,
            rejected = outcome.failed.len(),
            "chunk submitted"
        );
        let submitted = Submitted {
            row: batch.id,
            chunk_index: batch.chunk_index,
            batch_id: outcome.batch_id,
            accepted,
            deadline,
            grace_from: received_at,
            gaps: None,
        };
        if let Some(owner) = owner {
            return self.serve_cached(submitted, owner).await;
        }
        self.check_submitted_at(batch.chunk_index, &submitted.batch_id, outcome.submitted_at)
            .await?;
        if self.cancel.is_cancelled() {
            return Ok(ChunkEnd::Interrupted);
        }
        self.read(submitted).await
    }

    /// Ends a chunk that will not be (or was not) read, and records its members that
    /// have no result as `not_retrieved` with the same reason.
    pub(super) async fn close_chunk(
        &self,
        batch: &BatchRecord,
        state: BatchState,
        reason: String,
    ) -> Result<(), RunError> {
        tracing::warn!(
            monitor = self.monitor,
            run = self.run.0,
            chunk = batch.chunk_index,
            state = %state,
            reason = %reason,
            "chunk abandoned"
        );
        self.ctx
            .store
            .set_batch_state(batch.id, state, Some(reason.clone()))
            .await?;
        self.ctx.store.mark_not_retrieved(batch.id, &reason).await?;
        Ok(())
    }
}
