//! Results on PostgreSQL ([`ResultJournal`]): an upsert keyed on (run, authorizer),
//! whose `WHERE` leaves an identical row alone, so reading a page twice writes nothing
//! the second time.

use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::rows::batch_row;
use super::sql::{self, cents, text_enum};
use crate::store::results::same_run;
use crate::store::statements::{dollars, results};
use crate::store::types::{
    BatchRowId, HistoryEntry, ResultOutcome, ResultRow, RunId, UpsertOutcome,
};
use crate::store::{ResultJournal, StoreError};

/// The statements of this file, in PostgreSQL's spelling.
const IS_MEMBER: &str = dollars!(results::IS_MEMBER);
const UPSERT_RETRIEVED: &str = dollars!(results::UPSERT_RETRIEVED);
const MARK_NOT_RETRIEVED: &str = dollars!(results::MARK_NOT_RETRIEVED);
const MARK_CACHED_GAPS_NOT_RETRIEVED: &str = dollars!(results::MARK_CACHED_GAPS_NOT_RETRIEVED);
const AUTHORIZER_HISTORY: &str = dollars!(results::AUTHORIZER_HISTORY);

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
                same_run(batch, batch_run, run)?;
                let mut outcome = UpsertOutcome::default();
                for row in &rows {
                    let member = sql::opt(
                        tx,
                        IS_MEMBER,
                        &[&run.0, &batch.0, &row.authorizer_unique_id],
                    )
                    .await?;
                    if member.is_none() {
                        outcome.not_members.push(row.authorizer_unique_id.clone());
                        continue;
                    }
                    let changed = sql::exec(
                        tx,
                        UPSERT_RETRIEVED,
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
                    outcome.count(changed > 0);
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
        self.insert_not_retrieved(batch, reason, MARK_NOT_RETRIEVED)
    }

    fn mark_cached_gaps_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.insert_not_retrieved(batch, reason, MARK_CACHED_GAPS_NOT_RETRIEVED)
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
                    AUTHORIZER_HISTORY,
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
    /// Records `not_retrieved`, for `reason`, with `statement` (one of
    /// `statements::results`' two). Returns how many it recorded.
    fn insert_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
        statement: &'static str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        let reason = reason.to_string();
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                batch_row(tx, batch).await?;
                Ok(sql::exec(tx, statement, &[&batch.0, &reason]).await? as usize)
            })
        }))
    }
}
