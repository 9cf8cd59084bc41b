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

    step.delivered_notifications = delete(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
         WHERE state = 'delivered' AND delivered_at < ?1 LIMIT ?2)",
        None,
        &mut left,
    )?;
    step.resolved_alerts = delete(
        &format!(
            "DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a \
             WHERE a.state = 'resolved' AND a.resolved_at < ?1 AND a.last_fired_at < ?1 \
               AND a.consecutive_failures = 0 \
               AND (a.last_run_id IS NULL OR EXISTS (SELECT 1 FROM runs u \
                    WHERE u.id = a.last_run_id AND u.finished_at < ?1)) \
               AND NOT EXISTS (SELECT 1 FROM outbox o \
                    WHERE o.state <> 'delivered' AND {OUTBOX_RUN_ID} = a.last_run_id) \
             LIMIT ?2)"
        ),
        None,
        &mut left,
    )?;
    step.schedule_events = delete(
        "DELETE FROM schedule_events WHERE id IN (SELECT id FROM schedule_events \
         WHERE last_slot < ?1 LIMIT ?2)",
        None,
        &mut left,
    )?;
    step.webhook_events = delete(
        "DELETE FROM webhook_events WHERE event_uuid IN (SELECT event_uuid \
         FROM webhook_events WHERE received_at < ?1 LIMIT ?2)",
        None,
        &mut left,
    )?;

    while left > 0 {
        let Some(run) = next_prunable_run(transaction, cutoff)? else {
            break;
        };
        // Children before parents: results refer to members, members and failed
        // authorizers to chunks, chunks (and pre-flight rejections) to the run.
        step.results += delete(
            "DELETE FROM results WHERE rowid IN \
             (SELECT rowid FROM results WHERE run_id = ?1 LIMIT ?2)",
            Some(run),
            &mut left,
        )?;
        step.failed_authorizers += delete(
            "DELETE FROM batch_failed_authorizers WHERE (batch_id, authorizer_unique_id) IN \
             (SELECT f.batch_id, f.authorizer_unique_id FROM batch_failed_authorizers f \
              WHERE f.batch_id IN (SELECT id FROM batches WHERE run_id = ?1) LIMIT ?2)",
            Some(run),
            &mut left,
        )?;
        step.batch_members += delete(
            "DELETE FROM batch_members WHERE run_id = ?1 AND authorizer_unique_id IN \
             (SELECT authorizer_unique_id FROM batch_members WHERE run_id = ?1 LIMIT ?2)",
            Some(run),
            &mut left,
        )?;
        step.preflight_rejections += delete(
            "DELETE FROM preflight_rejections WHERE run_id = ?1 AND position IN \
             (SELECT position FROM preflight_rejections WHERE run_id = ?1 LIMIT ?2)",
            Some(run),
            &mut left,
        )?;
        // A chunk linked by the cache to another chunk of the same run goes before the
        // chunk it links to (links from other runs keep the run, see the selection).
        step.batches += delete(
            "DELETE FROM batches WHERE id IN (SELECT id FROM batches WHERE run_id = ?1 \
             ORDER BY cached_from IS NULL, id LIMIT ?2)",
            Some(run),
            &mut left,
        )?;
        if left == 0 {
            break;
        }
        step.runs += delete(
            "DELETE FROM runs WHERE id = ?1 AND ?2 > 0",
            Some(run),
            &mut left,
        )?;
    }
    Ok(step)
}

/// The oldest finished run before the cutoff that nothing refers to (see the module
/// documentation). Subqueries with `NOT IN` are evaluated once per statement.
fn next_prunable_run(transaction: &Transaction<'_>, cutoff: &str) -> Result<Option<i64>, OpError> {
    let sql = format!(
        "SELECT u.id FROM runs u \
         WHERE u.state IN ('complete', 'partial', 'failed') AND u.finished_at < ?1 \
           AND u.id NOT IN (SELECT last_run_id FROM alerts WHERE last_run_id IS NOT NULL) \
           AND u.id NOT IN (SELECT last_run_id FROM schedule_state \
                            WHERE last_run_id IS NOT NULL) \
           AND u.id NOT IN (SELECT {OUTBOX_RUN_ID} FROM outbox o \
                            WHERE o.state <> 'delivered' AND {OUTBOX_RUN_ID} IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM batches mine JOIN batches other \
                               ON other.rightfoot_batch_id = mine.rightfoot_batch_id \
                              AND other.cached_from = mine.id \
                           WHERE mine.run_id = u.id AND mine.rightfoot_batch_id IS NOT NULL \
                             AND other.run_id <> u.id) \
         ORDER BY u.finished_at, u.id LIMIT 1"
    );
    Ok(transaction
        .prepare_cached(&sql)?
        .query_row(params![cutoff], |row| row.get(0))
        .optional()?)
}
