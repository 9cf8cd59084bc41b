//! Results on SQLite ([`ResultJournal`]): an upsert keyed on (run, authorizer), so that
//! reading a page twice writes nothing the second time.

use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use super::columns::{optional_cents, optional_time, text_enum, time, time_text};
use super::rows::batch_row;
use crate::store::results::same_run;
use crate::store::statements::results::{
    AUTHORIZER_HISTORY, IS_MEMBER, MARK_CACHED_GAPS_NOT_RETRIEVED, MARK_NOT_RETRIEVED,
    UPSERT_RETRIEVED,
};
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
                same_run(batch, batch_run, run)?;
                let mut member = transaction.prepare(IS_MEMBER)?;
                let mut upsert = transaction.prepare(UPSERT_RETRIEVED)?;
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
                    ])?;
                    outcome.count(changed > 0);
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
        Box::pin(async move {
            let authorizer = authorizer_unique_id.to_string();
            self.read(move |transaction| {
                Ok(transaction
                    .prepare(AUTHORIZER_HISTORY)?
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
    /// Records `not_retrieved`, for `reason`, with `statement` (one of
    /// `statements::results`' two). Returns how many it recorded.
    fn insert_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
        statement: &'static str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let reason = reason.to_string();
            self.write(move |transaction| {
                batch_row(transaction, batch)?;
                Ok(transaction.execute(statement, params![batch.0, reason])?)
            })
            .await
        })
    }
}
