//! Retention's deletes on PostgreSQL: one bounded transaction of the prune
//! (`Store::prune_before` runs the loop), children before parents, with the SQLite
//! backend's rules for what may go (see `store/retention.rs`).

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::error::OpError;
use super::rows::OUTBOX_RUN_ID;
use super::sql;
use crate::store::PruneSummary;

/// One transaction: deletes at most `budget` rows and says what it deleted.
pub(super) async fn prune_step(
    tx: &Transaction<'_>,
    cutoff: DateTime<Utc>,
    budget: u64,
) -> Result<PruneSummary, OpError> {
    let mut step = PruneSummary::new(DateTime::<Utc>::MIN_UTC);
    let mut left = budget;
    step.delivered_notifications = delete(
        tx,
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
         WHERE state = 'delivered' AND delivered_at < $1 LIMIT $2)",
        Key::Cutoff(cutoff),
        &mut left,
    )
    .await?;
    step.resolved_alerts = delete(
        tx,
        &format!(
            "DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a \
             WHERE a.state = 'resolved' AND a.resolved_at < $1 AND a.last_fired_at < $1 \
               AND a.consecutive_failures = 0 \
               AND (a.last_run_id IS NULL OR EXISTS (SELECT 1 FROM runs u \
                    WHERE u.id = a.last_run_id AND u.finished_at < $1)) \
               AND NOT EXISTS (SELECT 1 FROM outbox o \
                    WHERE o.state <> 'delivered' AND {OUTBOX_RUN_ID} = a.last_run_id) \
             LIMIT $2)"
        ),
        Key::Cutoff(cutoff),
        &mut left,
    )
    .await?;
    step.schedule_events = delete(
        tx,
        "DELETE FROM schedule_events WHERE id IN (SELECT id FROM schedule_events \
         WHERE last_slot < $1 LIMIT $2)",
        Key::Cutoff(cutoff),
        &mut left,
    )
    .await?;
    step.webhook_events = delete(
        tx,
        "DELETE FROM webhook_events WHERE event_uuid IN (SELECT event_uuid \
         FROM webhook_events WHERE received_at < $1 LIMIT $2)",
        Key::Cutoff(cutoff),
        &mut left,
    )
    .await?;
    while left > 0 {
        let Some(run) = next_prunable_run(tx, cutoff).await? else {
            break;
        };
        let run = Key::Run(run);
        step.results += delete(
            tx,
            "DELETE FROM results WHERE seq IN \
             (SELECT seq FROM results WHERE run_id = $1 LIMIT $2)",
            run,
            &mut left,
        )
        .await?;
        step.failed_authorizers += delete(
            tx,
            "DELETE FROM batch_failed_authorizers WHERE (batch_id, authorizer_unique_id) IN \
             (SELECT f.batch_id, f.authorizer_unique_id FROM batch_failed_authorizers f \
              WHERE f.batch_id IN (SELECT id FROM batches WHERE run_id = $1) LIMIT $2)",
            run,
            &mut left,
        )
        .await?;
        step.batch_members += delete(
            tx,
            "DELETE FROM batch_members WHERE run_id = $1 AND authorizer_unique_id IN \
             (SELECT authorizer_unique_id FROM batch_members WHERE run_id = $1 LIMIT $2)",
            run,
            &mut left,
        )
        .await?;
        step.preflight_rejections += delete(
            tx,
            "DELETE FROM preflight_rejections WHERE run_id = $1 AND position IN \
             (SELECT position FROM preflight_rejections WHERE run_id = $1 LIMIT $2)",
            run,
            &mut left,
        )
        .await?;
        step.batches += delete(
            tx,
            "DELETE FROM batches WHERE id IN (SELECT id FROM batches WHERE run_id = $1 \
             ORDER BY cached_from IS NULL, id LIMIT $2)",
            run,
            &mut left,
        )
        .await?;
        if left == 0 {
            break;
        }
        step.runs += delete(
            tx,
            "DELETE FROM runs WHERE id = $1 AND $2::BIGINT > 0",
            run,
            &mut left,
        )
        .await?;
    }
    Ok(step)
}

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
    let sql = format!(
        "SELECT u.id FROM runs u \
         WHERE u.state IN ('complete', 'partial', 'failed') AND u.finished_at < $1 \
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
    sql::opt(tx, &sql, &[&cutoff])
        .await?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
}
