//! Retention's deletes on PostgreSQL: one bounded transaction of the prune
//! (`Store::prune_before` runs the loop), children before parents, with the SQLite
//! backend's rules for what may go (see `store/retention.rs`).

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::error::OpError;
use super::rows::OUTBOX_RUN_ID;
use super::sql;
use crate::store::PruneSummary;
use crate::store::statements::retention::{self, cutoff_deletes, run_deletes};
use crate::store::statements::{dollars, respell};

/// One transaction: deletes at most `budget` rows and says what it deleted.
pub(super) async fn prune_step(
    tx: &Transaction<'_>,
    cutoff: DateTime<Utc>,
    budget: u64,
) -> Result<PruneSummary, OpError> {
    let mut step = PruneSummary::new(DateTime::<Utc>::MIN_UTC);
    let mut left = budget;
    for delete_older in cutoff_deletes(OUTBOX_RUN_ID) {
        let sql = respell(&delete_older.sql);
        *(delete_older.counts)(&mut step) +=
            delete(tx, &sql, Key::Cutoff(cutoff), &mut left).await?;
    }
    while left > 0 {
        let Some(run) = next_prunable_run(tx, cutoff).await? else {
            break;
        };
        let run = Key::Run(run);
        for delete_rows in run_deletes("seq") {
            let sql = respell(&delete_rows.sql);
            *(delete_rows.counts)(&mut step) += delete(tx, &sql, run, &mut left).await?;
        }
        if left == 0 {
            break;
        }
        step.runs += delete(tx, DELETE_RUN, run, &mut left).await?;
    }
    Ok(step)
}

/// The run itself, in PostgreSQL's spelling.
const DELETE_RUN: &str = dollars!(retention::DELETE_RUN);

/// What `$1` of a delete is.
#[derive(Clone, Copy)]
enum Key {
    Cutoff(DateTime<Utc>),
    Run(i64),
}

/// Runs one delete of at most `left` rows, and counts them off.
async fn delete(tx: &Transaction<'_>, sql: &str, key: Key, left: &mut u64) -> Result<u64, OpError> {
    if *left == 0 {
        return Ok(0);
    }
    let limit = sql::int(*left);
    let deleted = match key {
        Key::Cutoff(cutoff) => sql::exec(tx, sql, &[&cutoff, &limit]).await?,
        Key::Run(run) => sql::exec(tx, sql, &[&run, &limit]).await?,
    };
    *left = left.saturating_sub(deleted);
    Ok(deleted)
}

/// The oldest finished run before the cutoff that nothing refers to.
async fn next_prunable_run(
    tx: &Transaction<'_>,
    cutoff: DateTime<Utc>,
) -> Result<Option<i64>, OpError> {
    let sql = respell(&retention::next_prunable_run(OUTBOX_RUN_ID));
    sql::opt(tx, &sql, &[&cutoff])
        .await?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
}
