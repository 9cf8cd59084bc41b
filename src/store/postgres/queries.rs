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
use super::rows::{RUN_COLUMNS, run_records};
use super::sql::{self, cents, count, text_enum};
use crate::store::queries::{merged_batch_page, paged};
use crate::store::types::{ResultOutcome, RunId, RunRecord, RunState};
use crate::store::{
    AlertRecord, AlertStateFilter, BatchResultRow, BatchResultsPage, HistoryPage, HistoryRow,
    LastRunResults, MetricsSnapshot, Paged, ReadQueries, StoreError,
};

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
                    "SELECT r.run_id, runs.created_at, b.rightfoot_batch_id, r.outcome, \
                            r.balance_cents, r.balance_status_code, r.reason \
                     FROM results r \
                     JOIN runs ON runs.id = r.run_id \
                     JOIN batches b ON b.id = r.batch_id \
                     WHERE r.authorizer_unique_id = $1 AND r.run_id < $2 \
                     ORDER BY r.run_id DESC \
                     LIMIT $3",
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
                let total: i64 = sql::one(
                    tx,
                    "SELECT count(DISTINCT r.authorizer_unique_id) \
                     FROM batches b JOIN results r ON r.batch_id = b.id \
                     WHERE b.rightfoot_batch_id = $1 AND r.outcome = 'retrieved'",
                    &[&rightfoot_batch_id],
                )
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
                    let known: bool = sql::one(
                        tx,
                        "SELECT EXISTS (SELECT 1 FROM batches WHERE rightfoot_batch_id = $1)",
                        &[&id],
                    )
                    .await?
                    .try_get(0)?;
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
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                     WHERE r.id < $1 AND ($2::TEXT IS NULL OR m.name = $2) \
                     ORDER BY r.id DESC LIMIT $3"
                );
                let rows = sql::all(
                    tx,
                    &sql,
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
                    "SELECT a.id, a.fingerprint, m.name, a.authorizer_unique_id, a.rule, a.state, \
                            a.severity, a.consecutive_failures, a.consecutive_passes, \
                            a.first_fired_at, a.last_fired_at, a.last_notified_at, a.resolved_at, \
                            a.last_run_id, a.reason \
                     FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                     WHERE a.id < $1 AND a.state <> 'pending' AND ($2::TEXT IS NULL OR a.state = $2) \
                     ORDER BY a.id DESC LIMIT $3",
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
                sql::all(
                    tx,
                    "SELECT m.name, s.last_slot FROM schedule_state s \
                     JOIN monitors m ON m.id = s.monitor_id",
                    &[],
                )
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
    for row in sql::all(
        tx,
        "SELECT m.name, r.state, count(*) FROM runs r JOIN monitors m ON m.id = r.monitor_id \
         GROUP BY m.name, r.state ORDER BY m.name, r.state",
        &[],
    )
    .await?
    {
        let count: i64 = row.try_get(2)?;
        snapshot.runs.push((
            row.try_get(0)?,
            text_enum(&row, 1, RunState::from_db)?,
            u64::try_from(count).unwrap_or(0),
        ));
    }
    let latest = sql::all(
        tx,
        "SELECT m.name, max(r.id) FROM runs r JOIN monitors m ON m.id = r.monitor_id \
         WHERE r.state IN ('complete', 'partial', 'failed') \
         GROUP BY m.name ORDER BY m.name",
        &[],
    )
    .await?;
    for monitor in latest {
        let name: String = monitor.try_get(0)?;
        let run: i64 = monitor.try_get(1)?;
        for row in sql::all(
            tx,
            "SELECT outcome, balance_status_code, count(*) FROM results WHERE run_id = $1 \
             GROUP BY outcome, balance_status_code \
             ORDER BY outcome, balance_status_code NULLS FIRST",
            &[&run],
        )
        .await?
        {
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
    for row in sql::all(
        tx,
        "SELECT severity, count(*) FROM alerts WHERE state = 'firing' GROUP BY severity",
        &[],
    )
    .await?
    {
        let count: i64 = row.try_get(1)?;
        snapshot
            .firing_alerts
            .insert(row.try_get(0)?, u64::try_from(count).unwrap_or(0));
    }
    let outbox = sql::one(
        tx,
        "SELECT (SELECT count(*) FROM outbox WHERE state = 'pending'), \
                (SELECT count(*) FROM outbox WHERE state = 'failed')",
        &[],
    )
    .await?;
    snapshot.outbox_pending = u64::from(count(&outbox, 0)?);
    snapshot.outbox_failed = u64::from(count(&outbox, 1)?);
    snapshot.last_complete_run = sql::all(
        tx,
        "SELECT m.name, max(r.finished_at) FROM runs r \
         JOIN monitors m ON m.id = r.monitor_id \
         WHERE r.state = 'complete' GROUP BY m.name ORDER BY m.name",
        &[],
    )
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
    let chunks = sql::all(
        tx,
        "SELECT id, run_id FROM batches WHERE rightfoot_batch_id = $1 ORDER BY id",
        &[&rightfoot_batch_id],
    )
    .await?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let wanted = limit as usize + 1;
    // An id is never empty (a CHECK on batch_members), so "" starts at the first.
    let after = after.unwrap_or("");
    let mut found = Vec::new();
    for chunk in chunks {
        let (batch, run): (i64, i64) = (chunk.try_get(0)?, chunk.try_get(1)?);
        for row in sql::all(
            tx,
            "SELECT r.authorizer_unique_id, r.balance_cents, r.balance_status_code, r.retrieved_at \
             FROM batch_members m \
             JOIN results r ON r.run_id = m.run_id AND r.authorizer_unique_id = m.authorizer_unique_id \
             WHERE m.batch_id = $1 AND m.run_id = $2 AND m.authorizer_unique_id > $3 \
               AND r.batch_id = $1 AND r.outcome = 'retrieved' \
             ORDER BY m.authorizer_unique_id \
             LIMIT $4",
            &[&batch, &run, &after, &(wanted as i64)],
        )
        .await?
        {
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
