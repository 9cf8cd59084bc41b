//! Results on SQLite ([`ResultJournal`]): an upsert keyed on (run, authorizer), so that
//! reading a page twice writes nothing the second time.

use chrono::Utc;
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use super::columns::{optional_cents, optional_time, text_enum, time, time_text};
use super::rows::{CACHED_GAP, batch_row};
use crate::store::types::{
    BatchRowId, HistoryEntry, ResultOutcome, ResultRow, RunId, UpsertOutcome,
};
use crate::store::{ResultJournal, StoreError};

impl ResultJournal for SqliteStore {
    fn upsert_results<'a>(
        &'a self,
        run: RunId,
        batch: BatchRowId,
        rows: &'a [ResultRow],
    ) -> BoxFuture<'a, Result<UpsertOutcome, StoreError>> {
        Box::pin(async move {
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
        })
    }

    fn mark_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.insert_not_retrieved(batch, reason, "WHERE m.batch_id = ?1")
    }

    fn mark_cached_gaps_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.insert_not_retrieved(batch, reason, CACHED_GAP)
    }

    fn authorizer_history<'a>(
        &'a self,
        authorizer_unique_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, StoreError>> {
        Box::pin(async move {
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
        })
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

impl SqliteStore {
    /// Records `not_retrieved`, for `reason`, for each member `m` of chunk `batch` that
    /// `members` selects (a clause after `FROM batch_members m`, the chunk as `?1`) and
    /// that has no result in its run yet. Returns how many it recorded.
    fn insert_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
        members: &'static str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let reason = reason.to_string();
            self.write(move |transaction| {
                batch_row(transaction, batch)?;
                let sql = format!(
                    "INSERT INTO results \
                         (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
                     SELECT m.run_id, m.batch_id, m.authorizer_unique_id, 'not_retrieved', ?2, ?3 \
                     FROM batch_members m {members} AND NOT EXISTS ( \
                         SELECT 1 FROM results x WHERE x.run_id = m.run_id \
                             AND x.authorizer_unique_id = m.authorizer_unique_id)"
                );
                Ok(transaction.execute(&sql, params![batch.0, reason, time_text(Utc::now())])?)
            })
            .await
        })
    }
}
