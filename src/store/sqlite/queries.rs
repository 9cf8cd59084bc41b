//! The read side's queries on SQLite ([`ReadQueries`]): keyset pages through named
//! indexes, the counts behind `/metrics`, the schedule positions behind `/readyz`, and
//! the writer probe. Unit tests pin the query plans (`EXPLAIN QUERY PLAN`: the named
//! index, no sort, no scan).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{Row, params};

use super::SqliteStore;
use super::columns::{optional_cents, optional_time, text_enum, time};
use super::rows::run_record;
use crate::store::queries::{merged_batch_page, paged};
use crate::store::statements::queries::{
    ALERTS_PAGE, BATCH_ID_KNOWN, BATCH_TOTAL_PROCESSED, CHUNKS_WITH_BATCH_ID, FIRING_BY_SEVERITY,
    LAST_COMPLETE_RUN, LATEST_FINISHED_RUNS, OUTBOX_COUNTS, RESULT_COUNTS, RUN_COUNTS, RUNS_PAGE,
    SCHEDULE_POSITIONS, chunk_results, history_page,
};
use crate::store::types::{ResultOutcome, RunId, RunRecord, RunState};
use crate::store::{
    AlertRecord, AlertStateFilter, BatchResultRow, BatchResultsPage, HistoryPage, HistoryRow,
    LastRunResults, MetricsSnapshot, Paged, ReadQueries, StoreError,
};

impl ReadQueries for SqliteStore {
    fn history_page<'a>(
        &'a self,
        authorizer: &'a str,
        before_run: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        Box::pin(async move {
            let authorizer = authorizer.to_string();
            self.read(move |transaction| {
                let total_count: i64 = transaction
                    .prepare_cached(
                        "SELECT count(*) FROM results INDEXED BY results_by_authorizer_run \
                         WHERE authorizer_unique_id = ?1",
                    )?
                    .query_row(params![authorizer], |row| row.get(0))?;
                if total_count == 0 {
                    return Ok(HistoryPage::default());
                }
                let mut rows = transaction
                    .prepare_cached(HISTORY_PAGE_SQL)?
                    .query_map(
                        params![
                            authorizer,
                            before_run.map_or(i64::MAX, |run| run.0),
                            i64::from(limit) + 1
                        ],
                        history_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let has_more = rows.len() > limit as usize;
                rows.truncate(limit as usize);
                Ok(HistoryPage {
                    total_count: u64::try_from(total_count).unwrap_or(0),
                    rows,
                    has_more,
                })
            })
            .await
        })
    }

    fn batch_results_page<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>> {
        Box::pin(async move {
            let batch_id = rightfoot_batch_id.to_string();
            self.read(move |transaction| {
                let Some(mut page) = batch_rows(transaction, &batch_id, after.as_deref(), limit)?
                else {
                    return Ok(None);
                };
                let total: i64 = transaction
                    .prepare_cached(BATCH_TOTAL_PROCESSED)?
                    .query_row(params![batch_id], |row| row.get(0))?;
                page.total_processed = u64::try_from(total).unwrap_or(0);
                Ok(Some(page))
            })
            .await
        })
    }

    fn batch_results_after<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>> {
        let batch_id = rightfoot_batch_id.to_string();
        Box::pin(self.read(move |transaction| {
            Ok(batch_rows(transaction, &batch_id, after.as_deref(), limit)?)
        }))
    }

    fn unknown_batch_ids(
        &self,
        rightfoot_batch_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let mut known = transaction.prepare_cached(BATCH_ID_KNOWN)?;
                let mut unknown = Vec::new();
                for id in rightfoot_batch_ids {
                    if !known.query_row(params![id], |row| row.get::<_, bool>(0))? {
                        unknown.push(id);
                    }
                }
                Ok(unknown)
            })
            .await
        })
    }

    fn runs_page(
        &self,
        monitor_name: Option<String>,
        before: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<RunRecord>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let rows = transaction
                    .prepare_cached(RUNS_PAGE)?
                    .query_map(
                        params![
                            before.map_or(i64::MAX, |run| run.0),
                            monitor_name,
                            i64::from(limit) + 1
                        ],
                        run_record,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(paged(rows, limit))
            })
            .await
        })
    }

    fn alerts_page(
        &self,
        state: Option<AlertStateFilter>,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let rows = transaction
                    .prepare_cached(ALERTS_PAGE)?
                    .query_map(
                        params![
                            before.unwrap_or(i64::MAX),
                            state.map(AlertStateFilter::as_str),
                            i64::from(limit) + 1
                        ],
                        alert_record,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(paged(rows, limit))
            })
            .await
        })
    }

    fn metrics_snapshot(&self) -> BoxFuture<'_, Result<MetricsSnapshot, StoreError>> {
        Box::pin(async move {
            self.read(|transaction| {
                let mut snapshot = MetricsSnapshot::default();
                let mut runs = transaction.prepare_cached(RUN_COUNTS)?;
                for row in runs.query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        text_enum(row, 1, RunState::from_db)?,
                        row.get::<_, i64>(2)?,
                    ))
                })? {
                    let (monitor, state, count) = row?;
                    snapshot
                        .runs
                        .push((monitor, state, u64::try_from(count).unwrap_or(0)));
                }

                let latest: Vec<(String, i64)> = transaction
                    .prepare_cached(LATEST_FINISHED_RUNS)?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut by_code = transaction.prepare_cached(RESULT_COUNTS)?;
                for (monitor, run) in latest {
                    for row in by_code.query_map(params![run], |row| {
                        Ok((
                            text_enum(row, 0, ResultOutcome::from_db)?,
                            row.get::<_, Option<i64>>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    })? {
                        let (outcome, code, count) = row?;
                        snapshot.last_run_results.push(LastRunResults {
                            monitor_name: monitor.clone(),
                            run: RunId(run),
                            outcome,
                            balance_status_code: code,
                            count: u64::try_from(count).unwrap_or(0),
                        });
                    }
                }

                let mut alerts = transaction.prepare_cached(FIRING_BY_SEVERITY)?;
                for row in alerts.query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })? {
                    let (severity, count) = row?;
                    snapshot
                        .firing_alerts
                        .insert(severity, u64::try_from(count).unwrap_or(0));
                }

                let (pending, failed): (i64, i64) = transaction
                    .prepare_cached(OUTBOX_COUNTS)?
                    .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                snapshot.outbox_pending = u64::try_from(pending).unwrap_or(0);
                snapshot.outbox_failed = u64::try_from(failed).unwrap_or(0);

                snapshot.last_complete_run = transaction
                    .prepare_cached(LAST_COMPLETE_RUN)?
                    .query_map([], |row| Ok((row.get(0)?, time(row, 1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(snapshot)
            })
            .await
        })
    }

    fn schedule_positions(
        &self,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, StoreError>> {
        Box::pin(async move {
            self.read(|transaction| {
                Ok(transaction
                    .prepare_cached(SCHEDULE_POSITIONS)?
                    .query_map([], |row| Ok((row.get(0)?, time(row, 1)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
        })
    }
}

/// The history page: the authorizer's rows through `results_by_authorizer_run`,
/// backwards from the cursor, with the run's time and the chunk's Rightfoot batch id
/// looked up by primary key.
pub(crate) const HISTORY_PAGE_SQL: &str = history_page!("INDEXED BY results_by_authorizer_run");

/// One chunk's `retrieved` results after an authorizer id, in id order: its members
/// through `batch_members_by_batch` (which holds the members sorted by id within the
/// chunk), each result by the results' primary key.
pub(crate) const CHUNK_RESULTS_SQL: &str = chunk_results!("INDEXED BY batch_members_by_batch");

/// The rows of one page of a Rightfoot batch (see the module doc): each chunk that
/// recorded the id is read from `after`, and the lists are merged by authorizer id, the
/// first chunk (the owner) winning a tie. `None` when no chunk recorded the id.
fn batch_rows(
    transaction: &rusqlite::Transaction<'_>,
    rightfoot_batch_id: &str,
    after: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Option<BatchResultsPage>> {
    let chunks: Vec<(i64, i64)> = transaction
        .prepare_cached(CHUNKS_WITH_BATCH_ID)?
        .query_map(params![rightfoot_batch_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let wanted = limit as usize + 1;
    let mut statement = transaction.prepare_cached(CHUNK_RESULTS_SQL)?;
    // An id is never empty (a CHECK on batch_members), so "" starts at the first.
    let after = after.unwrap_or("");
    let mut found = Vec::new();
    for (chunk, run) in chunks {
        let rows = statement.query_map(params![chunk, run, after, wanted as i64], |row| {
            Ok(BatchResultRow {
                authorizer_unique_id: row.get(0)?,
                balance: optional_cents(row, 1)?,
                balance_status_code: row.get(2)?,
                retrieved_at: time(row, 3)?,
            })
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    Ok(Some(merged_batch_page(found, limit)))
}

fn history_row(row: &Row<'_>) -> rusqlite::Result<HistoryRow> {
    Ok(HistoryRow {
        run: RunId(row.get(0)?),
        run_created_at: time(row, 1)?,
        rightfoot_batch_id: row.get(2)?,
        outcome: text_enum(row, 3, ResultOutcome::from_db)?,
        balance: optional_cents(row, 4)?,
        balance_status_code: row.get(5)?,
        reason: row.get(6)?,
    })
}

pub(super) fn alert_record(row: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    let count = |index: usize| -> rusqlite::Result<u32> {
        let value: i64 = row.get(index)?;
        u32::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, value))
    };
    Ok(AlertRecord {
        id: row.get(0)?,
        fingerprint: row.get(1)?,
        monitor_name: row.get(2)?,
        authorizer_unique_id: row.get(3)?,
        rule: row.get(4)?,
        state: row.get(5)?,
        severity: row.get(6)?,
        consecutive_failures: count(7)?,
        consecutive_passes: count(8)?,
        first_fired_at: time(row, 9)?,
        last_fired_at: time(row, 10)?,
        last_notified_at: optional_time(row, 11)?,
        resolved_at: optional_time(row, 12)?,
        last_run: row.get::<_, Option<i64>>(13)?.map(RunId),
        reason: row.get(14)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql`, one detail per line.
    async fn plan(store: &SqliteStore, sql: &'static str) -> String {
        store
            .read(move |transaction| {
                let mut statement = transaction.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let count = statement.parameter_count();
                let values: Vec<rusqlite::types::Value> = (0..count)
                    .map(|_| rusqlite::types::Value::Integer(1))
                    .collect();
                let details = statement
                    .query_map(rusqlite::params_from_iter(values), |row| {
                        row.get::<_, String>(3)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(details.join("\n"))
            })
            .await
            .unwrap()
    }

    fn open_store() -> (tempfile::TempDir, SqliteStore) {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&directory.path().join("state.db")).unwrap();
        (directory, store)
    }

    #[tokio::test]
    async fn the_history_page_walks_its_index_backwards_without_sorting() {
        let (_directory, store) = open_store();
        let plan = plan(&store, HISTORY_PAGE_SQL).await;
        assert!(
            plan.contains(
                "SEARCH r USING INDEX results_by_authorizer_run (authorizer_unique_id=? AND run_id<?)"
            ),
            "{plan}"
        );
        assert!(
            plan.contains("SEARCH runs USING INTEGER PRIMARY KEY (rowid=?)"),
            "{plan}"
        );
        assert!(
            plan.contains("SEARCH b USING INTEGER PRIMARY KEY (rowid=?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
        assert!(!plan.contains("SCAN"), "no full scan: {plan}");
    }

    #[tokio::test]
    async fn a_batch_page_walks_the_members_in_id_order_without_sorting() {
        let (_directory, store) = open_store();
        let plan = plan(&store, CHUNK_RESULTS_SQL).await;
        assert!(
            plan.contains(
                "SEARCH m USING COVERING INDEX batch_members_by_batch (batch_id=? AND run_id=? AND authorizer_unique_id>?)"
            ),
            "{plan}"
        );
        assert!(
            plan.contains(
                "SEARCH r USING INDEX sqlite_autoindex_results_1 (run_id=? AND authorizer_unique_id=?)"
            ),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
        assert!(!plan.contains("SCAN"), "no full scan: {plan}");
    }

    /// Regression: resolving an alert and dropping a pending one scanned the `alerts`
    /// table (resolved rows included), so each run's judgement grew slower as history
    /// accumulated: twice the CPU per run after a simulated day of one-minute runs.
    #[tokio::test]
    async fn resolving_or_dropping_an_alert_searches_the_open_alerts_by_fingerprint() {
        let (_directory, store) = open_store();
        for sql in [
            crate::store::statements::alerts::RESOLVE_FIRING,
            crate::store::statements::alerts::DELETE_PENDING,
        ] {
            let plan = plan(&store, sql).await;
            assert!(
                plan.contains("SEARCH alerts USING INDEX alerts_open (fingerprint=?)"),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("SCAN"), "no scan: {sql}: {plan}");
        }
    }

    #[tokio::test]
    async fn the_history_count_reads_only_the_authorizers_index_entries() {
        let (_directory, store) = open_store();
        let plan = plan(
            &store,
            "SELECT count(*) FROM results INDEXED BY results_by_authorizer_run \
             WHERE authorizer_unique_id = ?1",
        )
        .await;
        assert!(
            plan.contains(
                "SEARCH results USING COVERING INDEX results_by_authorizer_run (authorizer_unique_id=?)"
            ),
            "{plan}"
        );
    }
}
