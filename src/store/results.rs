//! Results: one row per authorizer per run, written idempotently, and an authorizer's
//! history ([`ResultJournal`]).
//!
//! Writing a page of results is an upsert keyed on (run, authorizer): reading the same
//! page twice writes nothing the second time, a late result replaces a `not_retrieved`
//! or `rejected` row, and marking the rest of a chunk `not_retrieved` never overwrites a
//! result. This module does not decide when a chunk is complete.

use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{BatchRowId, HistoryEntry, ResultRow, RunId, UpsertOutcome};

/// Refuses results for `run` into chunk `batch` of another run (`batch_run`). Every
/// backend's `upsert_results` asks this.
pub(super) fn same_run(batch: BatchRowId, batch_run: RunId, run: RunId) -> Result<(), StoreError> {
    if batch_run == run {
        return Ok(());
    }
    Err(StoreError::InvalidInput {
        what: "batch row",
        message: format!("{batch} belongs to {batch_run}, not {run}"),
    })
}

/// The run journal's results.
pub trait ResultJournal: Send + Sync {
    /// Stores a page of results for chunk `batch` of `run`.
    ///
    /// A row identical to the stored one is left alone (`unchanged`); a new row, or one
    /// that replaces a `not_retrieved`/`rejected` row or a different result, is
    /// `written`. Ids that are not members of the chunk are stored nowhere and returned
    /// in `not_members`, so that one stray row cannot lose the rest of the page.
    fn upsert_results<'a>(
        &'a self,
        run: RunId,
        batch: BatchRowId,
        rows: &'a [ResultRow],
    ) -> BoxFuture<'a, Result<UpsertOutcome, StoreError>>;

    /// Records every member of chunk `batch` that has no result yet as `not_retrieved`,
    /// with `reason` (for example "no result by the deadline"). Returns how many.
    fn mark_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;

    /// For a chunk linked to an earlier one by the cache, records as `not_retrieved`,
    /// with `reason`, each member that has no result of its own and no `retrieved`
    /// result in the earlier chunk. Members the earlier chunk has a result for are left
    /// without a row: their result is that chunk's. Returns how many were recorded.
    fn mark_cached_gaps_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;

    /// The latest `limit` results for one authorizer, across monitors, newest first.
    fn authorizer_history<'a>(
        &'a self,
        authorizer_unique_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, StoreError>>;
}
