//! Results: one row per authorizer per run, written idempotently, and an authorizer's
//! history.
//!
//! Writing a page of results is an upsert keyed on (run, authorizer): reading the same
//! page twice writes nothing the second time, a late result replaces a `not_retrieved`
//! or `rejected` row, and marking the rest of a chunk `not_retrieved` never overwrites a
//! result. This module does not decide when a chunk is complete.

use chrono::Utc;
use rusqlite::{OptionalExtension, Row, params};

use super::Store;
use super::batches::{CACHED_GAP, batch_row};
use super::columns::{optional_cents, optional_time, text_enum, time, time_text};
use super::error::StoreError;
use super::types::{BatchRowId, HistoryEntry, ResultOutcome, ResultRow, RunId, UpsertOutcome};

impl Store {
    /// Stores a page of results for chunk `batch` of `run`.
    ///
    /// A row identical to the stored one is left alone (`unchanged`); a new row, or one
    /// that replaces a `not_retrieved`/`rejected` row or a different result, is
    /// `written`. Ids that are not members of the chunk are stored nowhere and returned
    /// in `not_members`, so that one stray row cannot lose the rest of the page.
    pub async fn upsert_results(
        &self,
        run: RunId,
        batch: BatchRowId,
        rows: &[ResultRow],
    ) -> Result<UpsertOutcome, StoreError> {
        let rows = rows.to_vec();
        self.write(move |transaction| {
            let (batch_run, _, _) = batch_row(transaction, batch)?;
            if batch_run != run {
                return Err(StoreError::InvalidInput {
                    what: "batch row",
                    message: format!("{batch} belongs to {batch_run}, not {run}"),
                }
                .into());
            }
            let mut member = transaction.prepare(
                "SELECT 1 FROM batch_members \
                 WHERE run_id = ?1 AND batch_id = ?2 AND authorizer_unique_id = ?3",
            )?;
            let mut upsert = transaction.prepare(
                "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, \
                     balance_cents, balance_status_code, retrieved_at, reason, recorded_at) \
                 VALUES (?1, ?2, ?3, 'retrieved', ?4, ?5, ?6, NULL, ?7) \
                 ON CONFLICT (run_id, authorizer_unique_id) DO UPDATE SET \
                     outcome = 'retrieved', \
                     balance_cents = excluded.balance_cents, \
                     balance_status_code = excluded.balance_status_code, \
                     retrieved_at = excluded.retrieved_at, \
                     reason = NULL \
                 WHERE results.outcome <> 'retrieved' \
                    OR results.balance_cents IS NOT excluded.balance_cents \
                    OR results.balance_status_code IS NOT excluded.balance_status_code \
                    OR results.retrieved_at IS NOT excluded.retrieved_at",
            )?;
            let now = time_text(Utc::now());
            let mut outcome = UpsertOutcome::default();
            for row in rows {
                let is_member = member
                    .query_row(
                        params![run.0, batch.0, row.authorizer_unique_id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !is_member {
                    outcome.not_members.push(row.authorizer_unique_id);
                    continue;
                }
                let changed = upsert.execute(params![
                    run.0,
                    batch.0,
                    row.authorizer_unique_id,
                    row.balance.map(|cents| cents.0),
                    row.balance_status_code,
                    time_text(row.retrieved_at),
                    now
                ])?;
                if changed == 0 {
                    outcome.unchanged += 1;
                } else {
                    outcome.written += 1;
                }
            }
            Ok(outcome)
        })
        .await
    }

    /// Records every member of chunk `batch` that has no result yet as `not_retrieved`,
    /// with `reason` (for example "no result by the deadline"). Returns how many.
    pub async fn mark_not_retrieved(
        &self,
        batch: BatchRowId,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let reason = reason.to_string();
        self.write(move |transaction| {
            batch_row(transaction, batch)?;
            Ok(transaction.execute(
                "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
                 SELECT m.run_id, m.batch_id, m.authorizer_unique_id, 'not_retrieved', ?2, ?3 \
                 FROM batch_members m \
                 WHERE m.batch_id = ?1 AND NOT EXISTS ( \
                     SELECT 1 FROM results r \
                     WHERE r.run_id = m.run_id AND r.authorizer_unique_id = m.authorizer_unique_id)",
                params![batch.0, reason, time_text(Utc::now())],
            )?)
        })
        .await
    }

    /// For a chunk linked to an earlier one by the cache, records as `not_retrieved`,
    /// with `reason`, each member that has no result of its own and no `retrieved`
    /// result in the earlier chunk. Members the earlier chunk has a result for are left
    /// without a row: their result is that chunk's. Returns how many were recorded.
    pub async fn mark_cached_gaps_not_retrieved(
        &self,
        batch: BatchRowId,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let reason = reason.to_string();
        self.write(move |transaction| {
            batch_row(transaction, batch)?;
            Ok(transaction.execute(
                &format!(
                    "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
                     SELECT m.run_id, m.batch_id, m.authorizer_unique_id, 'not_retrieved', ?2, ?3 \
                     FROM batch_members m {CACHED_GAP} AND NOT EXISTS ( \
                         SELECT 1 FROM results x WHERE x.run_id = m.run_id \
                             AND x.authorizer_unique_id = m.authorizer_unique_id)"
                ),
                params![batch.0, reason, time_text(Utc::now())],
            )?)
        })
        .await
    }

    /// The latest `limit` results for one authorizer, across monitors, newest first.
    pub async fn authorizer_history(
        &self,
        authorizer_unique_id: &str,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let authorizer = authorizer_unique_id.to_string();
        self.read(move |transaction| {
            Ok(transaction
                .prepare(
                    "SELECT r.run_id, m.name, r.outcome, r.balance_cents, r.balance_status_code, \
                         r.retrieved_at, r.reason, r.recorded_at \
                     FROM results r \
                     JOIN runs ON runs.id = r.run_id \
                     JOIN monitors m ON m.id = runs.monitor_id \
                     WHERE r.authorizer_unique_id = ?1 \
                     ORDER BY r.recorded_at DESC, r.run_id DESC \
                     LIMIT ?2",
                )?
                .query_map(params![authorizer, limit], history_entry)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

fn history_entry(row: &Row<'_>) -> rusqlite::Result<HistoryEntry> {
    Ok(HistoryEntry {
        run: RunId(row.get(0)?),
        monitor_name: row.get(1)?,
        outcome: text_enum(row, 2, ResultOutcome::from_db)?,
        balance: optional_cents(row, 3)?,
        balance_status_code: row.get(4)?,
        retrieved_at: optional_time(row, 5)?,
        reason: row.get(6)?,
        recorded_at: time(row, 7)?,
    })
}
