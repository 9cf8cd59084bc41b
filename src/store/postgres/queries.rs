//! The read side's queries on PostgreSQL ([`ReadQueries`]): keyset pages through the
//! same indexes as on SQLite, the counts behind `/metrics` and the schedule positions
//! behind `/readyz`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::OpError;
use super::rows::run_records;
use super::sql::{self, cents, count, text_enum};
use crate::store::queries::{merged_batch_page, paged};
use crate::store::statements::{dollars, queries};
use crate::store::types::{ResultOutcome, RunId, RunRecord, RunState};
use crate::store::{
    AlertRecord, AlertStateFilter, BatchResultRow, BatchResultsPage, HistoryPage, HistoryRow,
    LastRunResults, MetricsSnapshot, Paged, ReadQueries, StoreError,
};

/// The statements of this file, in PostgreSQL's spelling.
const BATCH_TOTAL_PROCESSED: &str = dollars!(queries::BATCH_TOTAL_PROCESSED);
const BATCH_ID_KNOWN: &str = dollars!(queries::BATCH_ID_KNOWN);
const CHUNKS_WITH_BATCH_ID: &str = dollars!(queries::CHUNKS_WITH_BATCH_ID);
const RUNS_PAGE: &str = dollars!(queries::RUNS_PAGE);
const ALERTS_PAGE: &str = dollars!(queries::ALERTS_PAGE);
const RUN_COUNTS: &str = dollars!(queries::RUN_COUNTS);
const LATEST_FINISHED_RUNS: &str = dollars!(queries::LATEST_FINISHED_RUNS);
const RESULT_COUNTS: &str = dollars!(queries::RESULT_COUNTS);
const FIRING_BY_SEVERITY: &str = dollars!(queries::FIRING_BY_SEVERITY);
const OUTBOX_COUNTS: &str = dollars!(queries::OUTBOX_COUNTS);
const LAST_COMPLETE_RUN: &str = dollars!(queries::LAST_COMPLETE_RUN);
const SCHEDULE_POSITIONS: &str = dollars!(queries::SCHEDULE_POSITIONS);
const HISTORY_PAGE: &str = dollars!(queries::history_page!(""));
const CHUNK_RESULTS: &str = dollars!(queries::chunk_results!(""));

impl ReadQueries for PostgresStore {
    fn history_page<'a>(
        &'a self,
        authorizer: &'a str,
        before_run: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        let authorizer = authorizer.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let total_count: i64 = sql::one(
                    tx,
                    "SELECT count(*) FROM results WHERE authorizer_unique_id = $1",
                    &[&authorizer],
                )
                .await?
                .try_get(0)?;
                if total_count == 0 {
                    return Ok(HistoryPage::default());
                }
                let rows = sql::all(
                    tx,
                    HISTORY_PAGE,
                    &[
                        &authorizer,
                        &before_run.map_or(i64::MAX, |run| run.0),
                        &(i64::from(limit) + 1),
                    ],
                )
                .await?;
                let mut rows = rows
                    .iter()
                    .map(history_row)
                    .collect::<Result<Vec<_>, OpError>>()?;
                let has_more = rows.len() > limit as usize;
                rows.truncate(limit as usize);
                Ok(HistoryPage {
                    total_count: u64::try_from(total_count).unwrap_or(0),
                    rows,
                    has_more,
                })
            })
        }))
    }

    fn batch_results_page<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>> {
        let rightfoot_batch_id = rightfoot_batch_id.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let Some(mut page) =
                    batch_rows(tx, &rightfoot_batch_id, after.as_deref(), limit).await?
                else {
                    return Ok(None);
                };
                let total: i64 = sql::one(tx, BATCH_TOTAL_PROCESSED, &[&rightfoot_batch_id])
                    .await?
                    .try_get(0)?;
                page.total_processed = u64::try_from(total).unwrap_or(0);
                Ok(Some(page))
            })
        }))
    }

    fn batch_results_after<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>> {
        let rightfoot_batch_id = rightfoot_batch_id.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(
                async move { batch_rows(tx, &rightfoot_batch_id, after.as_deref(), limit).await },
            )
        }))
    }

    fn unknown_batch_ids(
        &self,
        rightfoot_batch_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let mut unknown = Vec::new();
                for id in rightfoot_batch_ids {
                    let known: bool = sql::one(tx, BATCH_ID_KNOWN, &[&id]).await?.try_get(0)?;
                    if !known {
                        unknown.push(id);
                    }
                }
                Ok(unknown)
            })
        }))
    }

    fn runs_page(
        &self,
        monitor_name: Option<String>,
        before: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<RunRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let rows = sql::all(
                    tx,
                    RUNS_PAGE,
                    &[
                        &before.map_or(i64::MAX, |run| run.0),
                        &monitor_name,
                        &(i64::from(limit) + 1),
                    ],
                )
                .await?;
                Ok(paged(run_records(&rows)?, limit))
            })
        }))
    }

    fn alerts_page(
        &self,
        state: Option<AlertStateFilter>,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let rows = sql::all(
                    tx,
                    ALERTS_PAGE,
                    &[
                        &before.unwrap_or(i64::MAX),
                        &state.map(AlertStateFilter::as_str),
                        &(i64::from(limit) + 1),
                    ],
                )
                .await?;
                let rows = rows
                    .iter()
                    .map(alert_record)
                    .collect::<Result<Vec<_>, OpError>>()?;
                Ok(paged(rows, limit))
            })
        }))
    }

    fn metrics_snapshot(&self) -> BoxFuture<'_, Result<MetricsSnapshot, StoreError>> {
        Box::pin(self.read(|tx| Box::pin(metrics(tx))))
    }

    fn schedule_positions(
        &self,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                sql::all(tx, SCHEDULE_POSITIONS, &[])
                    .await?
                    .iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            })
        }))
    }
}

async fn metrics(tx: &Transaction<'_>) -> Result<MetricsSnapshot, OpError> {
    let mut snapshot = MetricsSnapshot::default();
    for row in sql::all(tx, RUN_COUNTS, &[]).await? {
        let count: i64 = row.try_get(2)?;
        snapshot.runs.push((
            row.try_get(0)?,
            text_enum(&row, 1, RunState::from_db)?,
            u64::try_from(count).unwrap_or(0),
        ));
    }
    let latest = sql::all(tx, LATEST_FINISHED_RUNS, &[]).await?;
    for monitor in latest {
        let name: String = monitor.try_get(0)?;
        let run: i64 = monitor.try_get(1)?;
        for row in sql::all(tx, RESULT_COUNTS, &[&run]).await? {
            let count: i64 = row.try_get(2)?;
            snapshot.last_run_results.push(LastRunResults {
                monitor_name: name.clone(),
                run: RunId(run),
                outcome: text_enum(&row, 0, ResultOutcome::from_db)?,
                balance_status_code: row.try_get(1)?,
                count: u64::try_from(count).unwrap_or(0),
            });
        }
    }
    for row in sql::all(tx, FIRING_BY_SEVERITY, &[]).await? {
        let count: i64 = row.try_get(1)?;
        snapshot
            .firing_alerts
            .insert(row.try_get(0)?, u64::try_from(count).unwrap_or(0));
    }
    let outbox = sql::one(tx, OUTBOX_COUNTS, &[]).await?;
    snapshot.outbox_pending = u64::from(count(&outbox, 0)?);
    snapshot.outbox_failed = u64::from(count(&outbox, 1)?);
    snapshot.last_complete_run = sql::all(tx, LAST_COMPLETE_RUN, &[])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, OpError>>()?;
    Ok(snapshot)
}

/// The rows of one page of a Rightfoot batch: each chunk that recorded the id is read
/// from `after`, and the lists are merged by authorizer id, the first chunk (the owner)
/// winning a tie. `None` when no chunk recorded the id.
async fn batch_rows(
    tx: &Transaction<'_>,
    rightfoot_batch_id: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Option<BatchResultsPage>, OpError> {
    let chunks = sql::all(tx, CHUNKS_WITH_BATCH_ID, &[&rightfoot_batch_id]).await?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let wanted = limit as usize + 1;
    // An id is never empty (a CHECK on batch_members), so "" starts at the first.
    let after = after.unwrap_or("");
    let mut found = Vec::new();
    for chunk in chunks {
        let (batch, run): (i64, i64) = (chunk.try_get(0)?, chunk.try_get(1)?);
        for row in sql::all(tx, CHUNK_RESULTS, &[&batch, &run, &after, &(wanted as i64)]).await? {
            found.push(BatchResultRow {
                authorizer_unique_id: row.try_get(0)?,
                balance: cents(&row, 1)?,
                balance_status_code: row.try_get(2)?,
                retrieved_at: row.try_get(3)?,
            });
        }
    }
    Ok(Some(merged_batch_page(found, limit)))
}

fn history_row(row: &Row) -> Result<HistoryRow, OpError> {
    Ok(HistoryRow {
        run: RunId(row.try_get(0)?),
        run_created_at: row.try_get(1)?,
        rightfoot_batch_id: row.try_get(2)?,
        outcome: text_enum(row, 3, ResultOutcome::from_db)?,
        balance: cents(row, 4)?,
        balance_status_code: row.try_get(5)?,
        reason: row.try_get(6)?,
    })
}

pub(super) fn alert_record(row: &Row) -> Result<AlertRecord, OpError> {
    Ok(AlertRecord {
        id: row.try_get(0)?,
        fingerprint: row.try_get(1)?,
        monitor_name: row.try_get(2)?,
        authorizer_unique_id: row.try_get(3)?,
        rule: row.try_get(4)?,
        state: row.try_get(5)?,
        severity: row.try_get(6)?,
        consecutive_failures: count(row, 7)?,
        consecutive_passes: count(row, 8)?,
        first_fired_at: row.try_get(9)?,
        last_fired_at: row.try_get(10)?,
        last_notified_at: row.try_get(11)?,
        resolved_at: row.try_get(12)?,
        last_run: row.try_get::<_, Option<i64>>(13)?.map(RunId),
        reason: row.try_get(14)?,
    })
}
