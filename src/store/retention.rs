//! Retention: deleting what is older than `storage.retention`, a little at a time.
//!
//! [`Store::prune`] deletes in small write transactions of at most `batch_size` rows
//! each, queued on the writer like any other write. A run's write that arrives while
//! pruning is under way waits for one small transaction at most, never for the whole
//! prune; between transactions the caller's pacer can pause or stop ([`Pace`]). Every
//! transaction re-reads what may go, so a prune that stops half-way (shutdown, crash)
//! leaves a consistent store and the next one carries on.
//!
//! What goes, once older than the cutoff:
//! - a finished run (`finished_at` before the cutoff) with everything that belongs to
//!   it: results, failed authorizers, chunk members, pre-flight rejections, chunks; in
//!   that order, so no foreign key is ever violated, children before parents;
//! - delivered notifications (`delivered_at`);
//! - resolved alerts that are dormant: resolved and last fired before the cutoff, no
//!   failure being counted towards firing again, last evaluated by a run that is itself
//!   older than the cutoff, and no undelivered notification about that run. Such a row
//!   holds nothing a fresh alert would not; deleting it frees its run;
//! - missed and skipped slots (`schedule_events`, by their last slot) and the completion
//!   webhooks seen (`webhook_events`, kept only to ignore Rightfoot's redeliveries,
//!   which stop after 30 minutes).
//!
//! What never goes:
//! - firing alerts, and alerts that are not dormant;
//! - undelivered notifications (`pending` or `failed`);
//! - a run still `pending` or `running`, however old;
//! - a run that something still refers to: an alert of any state (`last_run_id`; a
//!   resolved alert pins its run until it is dormant and deleted), an undelivered
//!   notification (by the run its payload names, see `reports.rs`), a monitor's
//!   schedule position (`schedule_state.last_run_id`), or a chunk of another run linked
//!   to one of its chunks by Rightfoot's 24-hour cache (`cached_from`: the later run's
//!   results are stored under the earlier chunk). Such a run is kept whole.
//!
//! Between the transactions of one run, readers may see it partly deleted (its results
//! gone, its chunks not yet). The store does not shrink the file: SQLite reuses the
//! freed pages.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use super::columns::time_text;
use super::error::{OpError, StoreError};
use super::reports::OUTBOX_RUN_ID;

/// Whether a prune carries on after a transaction.
pub type Pace = ControlFlow<()>;

/// What one prune deleted, and what it kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneSummary {
    /// Rows older than this were considered.
    pub cutoff: DateTime<Utc>,
    pub runs: u64,
    pub results: u64,
    pub batches: u64,
    pub batch_members: u64,
    pub failed_authorizers: u64,
    pub preflight_rejections: u64,
    pub resolved_alerts: u64,
    pub delivered_notifications: u64,
    pub schedule_events: u64,
    pub webhook_events: u64,
    /// Write transactions used, the last of which found nothing more to delete.
    pub transactions: u64,
    /// The most rows any one transaction deleted (at most the batch size).
    pub largest_transaction: u64,
    /// Runs older than the cutoff still in the store when the prune ended: unfinished,
    /// or kept because something refers to them.
    pub runs_kept: u64,
    /// The pacer stopped the prune before it was done.
    pub stopped_early: bool,
}

impl PruneSummary {
    fn new(cutoff: DateTime<Utc>) -> PruneSummary {
        PruneSummary {
            cutoff,
            runs: 0,
            results: 0,
            batches: 0,
            batch_members: 0,
            failed_authorizers: 0,
            preflight_rejections: 0,
            resolved_alerts: 0,
            delivered_notifications: 0,
            schedule_events: 0,
            webhook_events: 0,
            transactions: 0,
            largest_transaction: 0,
            runs_kept: 0,
            stopped_early: false,
        }
    }

    /// Rows deleted, of every kind.
    pub fn deleted(&self) -> u64 {
        self.runs
            + self.results
            + self.batches
            + self.batch_members
            + self.failed_authorizers
            + self.preflight_rejections
            + self.resolved_alerts
            + self.delivered_notifications
            + self.schedule_events
            + self.webhook_events
    }

    fn add(&mut self, step: &PruneSummary) {
        self.runs += step.runs;
        self.results += step.results;
        self.batches += step.batches;
        self.batch_members += step.batch_members;
        self.failed_authorizers += step.failed_authorizers;
        self.preflight_rejections += step.preflight_rejections;
        self.resolved_alerts += step.resolved_alerts;
        self.delivered_notifications += step.delivered_notifications;
        self.schedule_events += step.schedule_events;
        self.webhook_events += step.webhook_events;
        self.transactions += 1;
        self.largest_transaction = self.largest_transaction.max(step.deleted());
    }
}

impl Store {
    /// Deletes what is older than `older_than` (before now, by the system clock), in
    /// transactions of at most `batch_size` rows, yielding to the runtime between them.
    /// See the module documentation for what is kept.
    pub async fn prune(
        &self,
        older_than: Duration,
        batch_size: usize,
    ) -> Result<PruneSummary, StoreError> {
        let older_than =
            chrono::Duration::from_std(older_than).map_err(|_| StoreError::InvalidInput {
                what: "retention",
                message: format!("{older_than:?} is too long"),
            })?;
        let cutoff = Utc::now()
            .checked_sub_signed(older_than)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.prune_before(cutoff, batch_size, |_| async {
            tokio::task::yield_now().await;
            Pace::Continue(())
        })
        .await
    }

    /// Deletes what is older than `cutoff`, in transactions of at most `batch_size`
    /// rows. After each transaction that deleted something, `pace` is awaited with the
    /// running totals: it may pause (the daemon sleeps a little, so that pruning takes
    /// a small share of the disk) and may stop the prune ([`Pace::Break`]).
    pub async fn prune_before<P, F>(
        &self,
        cutoff: DateTime<Utc>,
        batch_size: usize,
        mut pace: P,
    ) -> Result<PruneSummary, StoreError>
    where
        P: FnMut(&PruneSummary) -> F,
        F: Future<Output = Pace>,
    {
        if batch_size == 0 {
            return Err(StoreError::InvalidInput {
                what: "prune batch size",
                message: "must be at least 1".to_string(),
            });
        }
        let cutoff_text = time_text(cutoff);
        let mut summary = PruneSummary::new(cutoff);
        loop {
            let cutoff = cutoff_text.clone();
            let step = self
                .write(move |transaction| prune_step(transaction, &cutoff, batch_size as u64))
                .await?;
            summary.add(&step);
            if step.deleted() == 0 {
                break;
            }
            if pace(&summary).await.is_break() {
                summary.stopped_early = true;
                break;
            }
        }
        summary.runs_kept = self
            .read(move |transaction| {
                Ok(transaction.query_row(
                    "SELECT count(*) FROM runs \
                     WHERE coalesce(finished_at, started_at, created_at) < ?1",
                    params![cutoff_text],
                    |row| row.get::<_, i64>(0),
                )? as u64)
            })
            .await?;
        Ok(summary)
    }
}

/// One transaction: deletes at most `budget` rows and says what it deleted.
fn prune_step(
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
