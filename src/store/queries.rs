//! The read side's queries: an authorizer's history and a batch's results in pages, runs
//! and alerts for the local HTTP API, the counts behind `/metrics`, and the checks behind
//! `/readyz`.
//!
//! Every page is a keyset page: the caller passes the key of the last row it got, and
//! the query continues strictly after it through an index, with no `OFFSET`. Keys are
//! immutable and unique within what they page over, so a walk returns every row that
//! existed when it began exactly once, whatever is inserted meanwhile:
//!
//! | page of | order | key | SQLite index |
//! |---|---|---|---|
//! | an authorizer's history | newest run first | run id | `results_by_authorizer_run` (0004) |
//! | a Rightfoot batch's results | authorizer id | authorizer id | `batch_members_by_batch`, then the results' primary key |
//! | runs | newest first | run id | the runs' primary key |
//! | alerts | newest first | alert id | the alerts' primary key |
//!
//! A Rightfoot batch id may be recorded by more than one chunk: the first to record it
//! owns its results, and a later chunk answered from Rightfoot's 24-hour body cache
//! stores none of its own except the members the owner never got (see `run`). A batch's
//! results are therefore the union of its chunks' `retrieved` rows, merged by authorizer,
//! the owner's row winning; nothing is counted twice.
//!
//! This module holds the records and the interface ([`ReadQueries`]); the SQLite
//! answers, and the query plans they rely on, are in `sqlite/queries.rs`. It decides
//! nothing about what the rows mean to a client: the HTTP layer shapes them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{ResultOutcome, RunId, RunRecord, RunState};
use crate::domain::Cents;

/// One row of an authorizer's history: what one run learnt about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub run: RunId,
    /// When the run was created. The single writer stamps runs in id order, so this
    /// never increases down a history page (unless the wall clock was stepped back).
    pub run_created_at: DateTime<Utc>,
    /// Rightfoot's batch id for the chunk that carried the authorizer; `None` when the
    /// chunk never got one (it was refused whole, or its POST's outcome is unknown).
    pub rightfoot_batch_id: Option<String>,
    pub outcome: ResultOutcome,
    pub balance: Option<Cents>,
    pub balance_status_code: Option<i64>,
    /// Why a row is `not_retrieved` or `rejected`.
    pub reason: Option<String>,
}

/// The first `limit` of `rows` (which holds up to one more), and whether there were
/// more.
pub(super) fn paged<T>(mut rows: Vec<T>, limit: u32) -> Paged<T> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Paged { rows, has_more }
}

/// One page of a Rightfoot batch from the rows of each chunk that recorded its id,
/// each read from the cursor with up to `limit + 1` rows, chunks in id order: merged by
/// authorizer id, the first chunk (the owner) winning a tie. If any chunk was cut
/// short, the merged list holds at least `limit + 1` distinct ids, so `has_more` is
/// exact.
pub(super) fn merged_batch_page(
    chunks: impl IntoIterator<Item = BatchResultRow>,
    limit: u32,
) -> BatchResultsPage {
    let mut merged: std::collections::BTreeMap<String, BatchResultRow> = Default::default();
    for row in chunks {
        merged
            .entry(row.authorizer_unique_id.clone())
            .or_insert(row);
    }
    let rows: Vec<BatchResultRow> = merged.into_values().take(limit as usize + 1).collect();
    let Paged { rows, has_more } = paged(rows, limit);
    BatchResultsPage {
        total_processed: 0,
        rows,
        has_more,
    }
}

/// One page of an authorizer's history, newest run first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryPage {
    /// Every history row of the authorizer, not only this page's.
    pub total_count: u64,
    pub rows: Vec<HistoryRow>,
    /// Whether rows older than the last one of this page exist.
    pub has_more: bool,
}

/// One `retrieved` result of a Rightfoot batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchResultRow {
    pub authorizer_unique_id: String,
    pub balance: Option<Cents>,
    pub balance_status_code: i64,
    /// Rightfoot's `timestamp` for the result.
    pub retrieved_at: DateTime<Utc>,
}

/// One page of a Rightfoot batch's results, by authorizer id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchResultsPage {
    /// Authorizers of the batch with a `retrieved` result (Rightfoot's
    /// `total_processed`). Counted only when asked for ([`ReadQueries::batch_results_page`]).
    pub total_processed: u64,
    pub rows: Vec<BatchResultRow>,
    pub has_more: bool,
}

/// Which alerts to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStateFilter {
    Firing,
    Resolved,
}

impl AlertStateFilter {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            AlertStateFilter::Firing => "firing",
            AlertStateFilter::Resolved => "resolved",
        }
    }
}

/// One row of the `alerts` table, as the rules left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    pub id: i64,
    pub fingerprint: String,
    pub monitor_name: String,
    /// `None` for an alert about the monitor's runs rather than one authorizer.
    pub authorizer_unique_id: Option<String>,
    pub rule: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub severity: String,
    pub consecutive_failures: u32,
    pub consecutive_passes: u32,
    pub first_fired_at: DateTime<Utc>,
    pub last_fired_at: DateTime<Utc>,
    pub last_notified_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_run: Option<RunId>,
    /// The sentence of its latest transition, such as `balance -$83.68 is negative`.
    pub reason: Option<String>,
}

/// A page of rows with whether more follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub has_more: bool,
}

/// Results of one monitor's latest finished run, by outcome and status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRunResults {
    pub monitor_name: String,
    pub run: RunId,
    pub outcome: ResultOutcome,
    /// Rightfoot's code for `retrieved` rows; `None` for the other outcomes.
    pub balance_status_code: Option<i64>,
    pub count: u64,
}

/// What `/metrics` reports from the store, read in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Stored runs by monitor and state.
    pub runs: Vec<(String, RunState, u64)>,
    /// Each monitor's latest finished run, its results by outcome and code.
    pub last_run_results: Vec<LastRunResults>,
    /// Firing alerts by severity.
    pub firing_alerts: BTreeMap<String, u64>,
    /// Outbox rows waiting for delivery.
    pub outbox_pending: u64,
    /// Outbox rows that failed permanently.
    pub outbox_failed: u64,
    /// When each monitor's latest `complete` run finished.
    pub last_complete_run: Vec<(String, DateTime<Utc>)>,
}

/// The read side's pages, counts and probes.
pub trait ReadQueries: Send + Sync {
    /// One page of `authorizer`'s history: at most `limit` rows from runs older than
    /// `before_run` (from the newest when `None`), newest first, across monitors.
    fn history_page<'a>(
        &'a self,
        authorizer: &'a str,
        before_run: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>>;

    /// One page of Rightfoot batch `rightfoot_batch_id`'s `retrieved` results, by
    /// authorizer id after `after` (from the first when `None`), with
    /// `total_processed`. `None` when no chunk recorded that batch id.
    fn batch_results_page<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>>;

    /// [`ReadQueries::batch_results_page`] without counting the batch: what a streamed export
    /// reads, page after page. `total_processed` is 0.
    fn batch_results_after<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>>;

    /// The ids among `rightfoot_batch_ids` that no chunk recorded, in the order given.
    fn unknown_batch_ids(
        &self,
        rightfoot_batch_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// Runs newest first, older than `before` when given, of one monitor when given.
    fn runs_page(
        &self,
        monitor_name: Option<String>,
        before: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<RunRecord>, StoreError>>;

    /// Alerts newest first, older than `before` (an alert id) when given, in `state`
    /// when given.
    fn alerts_page(
        &self,
        state: Option<AlertStateFilter>,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>>;

    /// The counts `/metrics` reports, in one read transaction.
    fn metrics_snapshot(&self) -> BoxFuture<'_, Result<MetricsSnapshot, StoreError>>;

    /// Each positioned monitor's schedule position (the latest slot the scheduler has
    /// accounted for), by monitor name.
    fn schedule_positions(
        &self,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, StoreError>>;
}
