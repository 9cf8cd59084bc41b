//! Results on PostgreSQL ([`ResultJournal`]): an upsert keyed on (run, authorizer),
//! whose `WHERE` leaves an identical row alone, so reading a page twice writes nothing
//! the second time.

use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::rows::{CACHED_GAP, batch_row};
use super::sql::{self, cents, text_enum};
use crate::store::types::{
    BatchRowId, HistoryEntry, ResultOutcome, ResultRow, RunId, UpsertOutcome,
};
use crate::store::{ResultJournal, StoreError};

impl ResultJournal for PostgresStore {
    fn upsert_results<'a>(
        &'a self,
        run: RunId,
        batch: BatchRowId,
        rows: &'a [ResultRow],
    ) -> BoxFuture<'a, Result<UpsertOutcome, StoreError>> {
        let rows = rows.to_vec();
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let (batch_run, _, _) = batch_row(tx, batch).await?;
                if batch_run != run {
                    return Err(StoreError::InvalidInput {
                        what: "batch row",
                        message: format!("{batch} belongs to {batch_run}, not {run}"),
                    }
                    .into());
                }
                let mut outcome = UpsertOutcome::default();
                for row in &rows {
                    let member = sql::opt(
                        tx,
                        "SELECT 1 FROM batch_members \
                         WHERE run_id = $1 AND batch_id = $2 AND authorizer_unique_id = $3",
                        &[&run.0, &batch.0, &row.authorizer_unique_id],
                    )
                    .await?;
                    if member.is_none() {
                        outcome.not_members.push(row.authorizer_unique_id.clone());
                        continue;
                    }
                    let changed = sql::exec(
                        tx,
                        "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, \
                             balance_cents, balance_status_code, retrieved_at, reason, recorded_at) \
                         VALUES ($1, $2, $3, 'retrieved', $4, $5, $6, NULL, now()) \
                         ON CONFLICT (run_id, authorizer_unique_id) DO UPDATE SET \
                             outcome = 'retrieved', \
                             balance_cents = excluded.balance_cents, \
                             balance_status_code = excluded.balance_status_code, \
                             retrieved_at = excluded.retrieved_at, \
                             reason = NULL \
                         WHERE results.outcome <> 'retrieved' \
                            OR results.balance_cents IS DISTINCT FROM excluded.balance_cents \
                            OR results.balance_status_code IS DISTINCT FROM excluded.balance_status_code \
                            OR results.retrieved_at IS DISTINCT FROM excluded.retrieved_at",
                        &[
                            &run.0,
                            &batch.0,
                            &row.authorizer_unique_id,
                            &row.balance.map(|cents| cents.0),
                            &row.balance_status_code,
                            &row.retrieved_at,
                        ],
                    )
                    .await?;
                    if changed == 0 {
                        outcome.unchanged += 1;
                    } else {
                        outcome.written += 1;
                    }
                }
                Ok(outcome)
            })
        }))
    }

    fn mark_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.insert_not_retrieved(batch, reason, "WHERE m.batch_id = $1")
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
        let authorizer_unique_id = authorizer_unique_id.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(
                    tx,
                    "SELECT r.run_id, m.name, r.outcome, r.balance_cents, r.balance_status_code, \
                         r.retrieved_at, r.reason, r.recorded_at \
                     FROM results r \
                     JOIN runs ON runs.id = r.run_id \
                     JOIN monitors m ON m.id = runs.monitor_id \
                     WHERE r.authorizer_unique_id = $1 \
                     ORDER BY r.recorded_at DESC, r.run_id DESC \
                     LIMIT $2",
                    &[&authorizer_unique_id, &i64::from(limit)],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok(HistoryEntry {
                        run: RunId(row.try_get(0)?),
                        monitor_name: row.try_get(1)?,
                        outcome: text_enum(row, 2, ResultOutcome::from_db)?,
                        balance: cents(row, 3)?,
                        balance_status_code: row.try_get(4)?,
                        retrieved_at: row.try_get(5)?,
                        reason: row.try_get(6)?,
                        recorded_at: row.try_get(7)?,
                    })
                })
                .collect()
            })
        }))
    }
}

impl PostgresStore {
    /// Records `not_retrieved`, for `reason`, for each member `m` of chunk `batch` that
    /// `members` selects (a clause after `FROM batch_members m`, the chunk as `$1`) and
    /// that has no result in its run yet. Returns how many it recorded.
    fn insert_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
        members: &'static str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        let reason = reason.to_string();
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                let sql = format!(
                    "INSERT INTO results \
                         (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
                     SELECT m.run_id, m.batch_id, m.authorizer_unique_id, 'not_retrieved', $2, now() \
                     FROM batch_members m {members} AND NOT EXISTS ( \
                         SELECT 1 FROM results x WHERE x.run_id = m.run_id \
                             AND x.authorizer_unique_id = m.authorizer_unique_id) \
                     ORDER BY m.authorizer_unique_id"
                );
                Ok(sql::exec(tx, &sql, &[&batch.0, &reason]).await? as usize)
            })
        }))
    }
}
