//! Retention: deleting what is older than `storage.retention`, a little at a time.
//!
//! [`Store::prune`] deletes in small write transactions of at most `batch_size` rows
//! each (a backend's [`Maintenance::prune_step`](super::Maintenance::prune_step); on
//! SQLite, queued on the writer like any other write). A run's write that arrives while
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
//! freed pages. This module holds the loop and the rules above, which every backend
//! keeps; the SQLite deletes are in `sqlite/retention.rs`.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Store;
use super::error::StoreError;

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
    /// An empty summary for `cutoff`.
    pub fn new(cutoff: DateTime<Utc>) -> PruneSummary {
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

    /// Adds one transaction's counts.
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
        let mut summary = PruneSummary::new(cutoff);
        loop {
            let step = self.prune_step(cutoff, batch_size as u64).await?;
            summary.add(&step);
            if step.deleted() == 0 {
                break;
            }
            if pace(&summary).await.is_break() {
                summary.stopped_early = true;
                break;
            }
        }
        summary.runs_kept = self.runs_kept_before(cutoff).await?;
        Ok(summary)
    }
}
