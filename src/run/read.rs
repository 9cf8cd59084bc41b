//! Reading one submitted chunk's results: from `submitted` (or a resumed `reading`) to
//! `complete`, the second half of a chunk's drive (`chunk.rs` has the first).
//!
//! Pages are fetched and each is upserted by (run, authorizer) before the next is asked
//! for, so reading a page again changes nothing. Polling repeats every
//! `poll_interval` (a completion webhook wakes the reader at once) until the results
//! reach the accepted count, or until the deadline (`submitted_at + result_deadline`),
//! when the members still without a result are recorded `not_retrieved`. A chunk
//! Rightfoot answered from its 24-hour cache with a batch another chunk owns waits
//! until the owner has ended, then stores none of the owner's results, only the gaps
//! the owner never got.
//!
//! This module owns reading. It does not send, plan, or decide the run's final state.

use chrono::{DateTime, Utc};

use super::RunError;
use super::chunk::{ChunkEnd, RunInProgress, Submitted, later};
use crate::store::{BatchRecord, BatchRef, BatchState, ResultRow};

enum Poll {
    Read,
    Interrupted,
}

impl RunInProgress<'_> {
    /// Reads a chunk that already has its batch id (after a crash or cancellation).
    pub(super) async fn resume_reading(&self, batch: BatchRecord) -> Result<ChunkEnd, RunError> {
        let (Some(batch_id), Some(submitted_at)) = (batch.rightfoot_batch_id, batch.submitted_at)
        else {
            // The store refuses `submitted`/`reading` without a batch id; be safe anyway.
            return Err(RunError::Inconsistent {
                run: self.run,
                message: format!(
                    "chunk {} is {} without a batch id",
                    batch.chunk_index, batch.state
                ),
            });
        };
        let deadline = batch
            .deadline
            .unwrap_or_else(|| later(submitted_at, self.ctx.settings.result_deadline));
        let submitted = Submitted {
            row: batch.id,
            chunk_index: batch.chunk_index,
            batch_id,
            accepted: batch.accepted.unwrap_or(batch.members),
            deadline,
            grace_from: submitted_at,
            gaps: None,
        };
        if let Some(owner) = batch.cached_from {
            return self.serve_cached(submitted, owner).await;
        }
        self.check_submitted_at(batch.chunk_index, &submitted.batch_id, submitted_at)
            .await?;
        self.read(submitted).await
    }

    /// A batch another chunk recorded first: its results belong to that chunk, and none
    /// is stored again. While that chunk is still being read (its run is going, here or
    /// in another process), this one waits for it, polling the store every
    /// `poll_interval` up to its own deadline: it never ends empty-handed before the
    /// results it counts as `cached` exist. Once the owner has ended, only the results
    /// it never got (its run gave up at the deadline) are read, into this chunk, so each
    /// check is still stored once. The waiting chunk keeps its in-flight slot.
    pub(super) async fn serve_cached(
        &self,
        mut chunk: Submitted,
        owner: BatchRef,
    ) -> Result<ChunkEnd, RunError> {
        tracing::warn!(
            monitor = self.monitor,
            run = self.run.0,
            chunk = chunk.chunk_index,
            earlier_run = owner.run.0,
            "Rightfoot answered from its 24-hour body cache with a batch an earlier run already has: no new check was made, and its results stay with that run"
        );
        let store = &self.ctx.store;
        store.mark_run_served_from_cache(self.run).await?;
        let reason = format!(
            "served from Rightfoot's 24-hour body cache: the batch is {} of {}, which holds its results",
            owner.batch, owner.run
        );
        let gaps = loop {
            if let Some(gaps) = store.cached_gaps(chunk.row).await? {
                break Some(gaps);
            }
            // The owner is still being read, by its run in this process or another: wait
            // for it, so that this chunk never ends before the results it counts as
            // cached exist (the run would be judged as not having them).
            let now = self.ctx.clock.now();
            if now >= chunk.deadline {
                tracing::warn!(
                    monitor = self.monitor,
                    run = self.run.0,
                    chunk = chunk.chunk_index,
                    earlier_run = owner.run.0,
                    "the earlier run was still reading the cached batch at this chunk's deadline"
                );
                break None;
            }
            tracing::debug!(
                monitor = self.monitor,
                run = self.run.0,
                chunk = chunk.chunk_index,
                earlier_run = owner.run.0,
                "waiting for the earlier run to read the cached batch"
            );
            let next = later(now, self.ctx.settings.poll_interval).min(chunk.deadline);
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(ChunkEnd::Interrupted),
                _ = self.ctx.clock.sleep_until(next) => {}
            }
        };
        match gaps {
            Some(gaps) if !gaps.is_empty() => {
                tracing::warn!(
                    monitor = self.monitor,
                    run = self.run.0,
                    chunk = chunk.chunk_index,
                    earlier_run = owner.run.0,
                    missing = gaps.len(),
                    "the earlier run has no result for some authorizers of the cached batch; reading those"
                );
                let reason = format!("{reason}; reading the {} results it lacks", gaps.len());
                store
                    .set_batch_state(chunk.row, BatchState::Reading, Some(reason))
                    .await?;
                chunk.gaps = Some(gaps.into_iter().collect());
                self.read(chunk).await
            }
            Some(_) => {
                store
                    .set_batch_state(chunk.row, BatchState::Complete, Some(reason))
                    .await?;
                Ok(ChunkEnd::Finished)
            }
            None => {
                let reason = format!(
                    "{reason}; it was still reading them at this chunk's deadline, and they count for this run when they come"
                );
                store
                    .set_batch_state(chunk.row, BatchState::Complete, Some(reason))
                    .await?;
                Ok(ChunkEnd::Finished)
            }
        }
    }

    /// Flags the run when Rightfoot's `submitted_at` is older than the run.
    pub(super) async fn check_submitted_at(
        &self,
        chunk_index: u32,
        batch_id: &str,
        submitted_at: DateTime<Utc>,
    ) -> Result<(), RunError> {
        if later(submitted_at, self.ctx.settings.clock_skew_allowance) >= self.started_at {
            return Ok(());
        }
        tracing::warn!(
            monitor = self.monitor,
            run = self.run.0,
            chunk = chunk_index,
            batch_id,
            %submitted_at,
            run_started_at = %self.started_at,
            "Rightfoot answered with a batch submitted before this run (its 24-hour body cache): the results are not fresh"
        );
        self.ctx.store.mark_run_served_from_cache(self.run).await?;
        Ok(())
    }

    /// Polls a submitted chunk until its results reach the accepted count or its
    /// deadline passes.
    pub(super) async fn read(&self, chunk: Submitted) -> Result<ChunkEnd, RunError> {
        let store = &self.ctx.store;
        let clock = &self.ctx.clock;
        store
            .set_batch_state(chunk.row, BatchState::Reading, None)
            .await?;
        // A completion webhook for this batch cuts the wait before the next poll short.
        let watch = WatchedBatch::new(&self.ctx.completions, &chunk.batch_id);
        // The cursor that fetched the last page read, to start the next poll there.
        let mut resume: Option<String> = None;
        loop {
            let used_cursor = resume.is_some();
            if chunk.accepted > 0
                && let Poll::Interrupted = self.poll(&chunk, &mut resume).await?
            {
                return Ok(ChunkEnd::Interrupted);
            }
            let counts = store.batch_result_counts(chunk.row).await?;
            let done = match &chunk.gaps {
                Some(gaps) => counts.retrieved as usize >= gaps.len(),
                None => counts.retrieved >= chunk.accepted || counts.without_result() == 0,
            };
            if done {
                if chunk.gaps.is_none() && counts.without_result() > 0 {
                    store
                        .mark_not_retrieved(
                            chunk.row,
                            "no result from Rightfoot, although the batch's results reached its accepted count",
                        )
                        .await?;
                }
                store
                    .set_batch_state(chunk.row, BatchState::Complete, None)
                    .await?;
                tracing::debug!(
                    monitor = self.monitor,
                    run = self.run.0,
                    chunk = chunk.chunk_index,
                    retrieved = counts.retrieved,
                    "chunk complete"
                );
                return Ok(ChunkEnd::Finished);
            }
            let now = clock.now();
            if now >= chunk.deadline {
                if used_cursor {
                    // Never give up on a poll that started mid-way: read once more
                    // from the first page.
                    resume = None;
                    continue;
                }
                const DEADLINE: &str =
                    "no result from Rightfoot by the deadline (submitted_at + result_deadline)";
                let missing = if chunk.gaps.is_some() {
                    store
                        .mark_cached_gaps_not_retrieved(chunk.row, DEADLINE)
                        .await?
                } else {
                    store.mark_not_retrieved(chunk.row, DEADLINE).await?
                };
                let reason = format!("deadline passed with {missing} authorizers not retrieved");
                tracing::warn!(
                    monitor = self.monitor,
                    run = self.run.0,
                    chunk = chunk.chunk_index,
                    batch_id = %chunk.batch_id,
                    not_retrieved = missing,
                    "result deadline passed"
                );
                store
                    .set_batch_state(chunk.row, BatchState::Complete, Some(reason))
                    .await?;
                return Ok(ChunkEnd::Finished);
            }
            let next = later(now, self.ctx.settings.poll_interval).min(chunk.deadline);
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(ChunkEnd::Interrupted),
                _ = watch.notify.notified() => {
                    tracing::debug!(
                        monitor = self.monitor,
                        run = self.run.0,
                        chunk = chunk.chunk_index,
                        "completion webhook received: reading now"
                    );
                }
                _ = clock.sleep_until(next) => {}
            }
        }
    }

    /// One poll: pages from `resume` (or the first) to the last, each stored before the
    /// next is fetched. A failed fetch ends the poll; the next one starts over from the
    /// first page.
    async fn poll(&self, chunk: &Submitted, resume: &mut Option<String>) -> Result<Poll, RunError> {
        let mut pages = self.ctx.client.balance_pages(
            &chunk.batch_id,
            chunk.accepted as usize,
            chunk.grace_from,
        );
        let mut cursor = resume.clone();
        if let Some(token) = &cursor {
            pages = pages.starting_after(token.clone());
        }
        loop {
            let page = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(Poll::Interrupted),
                page = pages.next_page() => page,
            };
            let page = match page {
                Ok(Some(page)) => page,
                Ok(None) => return Ok(Poll::Read),
                Err(error) => {
                    tracing::warn!(
                        monitor = self.monitor,
                        run = self.run.0,
                        chunk = chunk.chunk_index,
                        batch_id = %chunk.batch_id,
                        error = %error,
                        "reading results failed; trying again at the next poll"
                    );
                    *resume = None;
                    return Ok(Poll::Read);
                }
            };
            if page.batch_not_found_yet {
                return Ok(Poll::Read);
            }
            if !page.results.is_empty() {
                let read_at = self.ctx.clock.now();
                let rows: Vec<ResultRow> = page
                    .results
                    .into_iter()
                    .filter(|result| {
                        chunk
                            .gaps
                            .as_ref()
                            .is_none_or(|gaps| gaps.contains(&result.authorizer_unique_id))
                    })
                    .map(|result| ResultRow {
                        authorizer_unique_id: result.authorizer_unique_id,
                        balance: result.balance,
                        balance_status_code: result.status.code(),
                        retrieved_at: result.timestamp.unwrap_or(read_at),
                    })
                    .collect();
                let stored = self
                    .ctx
                    .store
                    .upsert_results(self.run, chunk.row, &rows)
                    .await?;
                if !stored.not_members.is_empty() {
                    tracing::warn!(
                        monitor = self.monitor,
                        run = self.run.0,
                        chunk = chunk.chunk_index,
                        batch_id = %chunk.batch_id,
                        rows = stored.not_members.len(),
                        "Rightfoot returned results for authorizers that are not in the chunk; they were not stored"
                    );
                }
            }
            *resume = cursor.clone();
            if !page.has_more {
                return Ok(Poll::Read);
            }
            cursor = page.next_page_token;
        }
    }
}

/// Interest in one batch's completion webhook, dropped with the reader.
struct WatchedBatch<'a> {
    completions: &'a crate::completions::Completions,
    batch_id: String,
    notify: std::sync::Arc<tokio::sync::Notify>,
}

impl<'a> WatchedBatch<'a> {
    fn new(completions: &'a crate::completions::Completions, batch_id: &str) -> WatchedBatch<'a> {
        WatchedBatch {
            completions,
            batch_id: batch_id.to_string(),
            notify: completions.watch(batch_id),
        }
    }
}

impl Drop for WatchedBatch<'_> {
    fn drop(&mut self) {
        self.completions.forget(&self.batch_id);
    }
}
