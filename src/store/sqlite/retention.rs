//! Retention's deletes on SQLite: one bounded transaction of the prune
//! (`Store::prune_before` runs the loop), children before parents.
//!
//! What may go and what never goes is listed in `store/retention.rs`; the queries below
//! keep those rules. Each transaction re-reads what may go, so a prune that stops
//! half-way leaves a consistent file.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::error::OpError;
use super::rows::OUTBOX_RUN_ID;
use crate::store::PruneSummary;
use crate::store::statements::retention::{
    DELETE_RUN, cutoff_deletes, next_prunable_run as prunable_run_sql, run_deletes,
};

/// One transaction: deletes at most `budget` rows and says what it deleted.
pub(super) fn prune_step(
    transaction: &Transaction<'_>,
    cutoff: &str,
    budget: u64,
) -> Result<PruneSummary, OpError> {
    let mut step = PruneSummary::new(DateTime::<Utc>::MIN_UTC);
    let mut left = budget;
    let delete = |sql: &str, key: Option<i64>, left: &mut u64| -> Result<u64, OpError> {
        if *left == 0 {
            return Ok(0);
        }
        let deleted = match key {
            Some(run) => transaction.execute(sql, params![run, *left as i64])?,
            None => transaction.execute(sql, params![cutoff, *left as i64])?,
        } as u64;
        *left -= deleted;
        Ok(deleted)
    };

    for delete_older in cutoff_deletes(OUTBOX_RUN_ID) {
        *(delete_older.counts)(&mut step) += delete(&delete_older.sql, None, &mut left)?;
    }
    while left > 0 {
        let Some(run) = next_prunable_run(transaction, cutoff)? else {
            break;
        };
        for delete_rows in run_deletes("rowid") {
            *(delete_rows.counts)(&mut step) += delete(&delete_rows.sql, Some(run), &mut left)?;
        }
        if left == 0 {
            break;
        }
        step.runs += delete(DELETE_RUN, Some(run), &mut left)?;
    }
    Ok(step)
}

/// The oldest finished run before the cutoff that nothing refers to.
fn next_prunable_run(transaction: &Transaction<'_>, cutoff: &str) -> Result<Option<i64>, OpError> {
    Ok(transaction
        .prepare_cached(&prunable_run_sql(OUTBOX_RUN_ID))?
        .query_row(params![cutoff], |row| row.get(0))
        .optional()?)
}
