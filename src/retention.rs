//! The daemon's retention task: with `storage.retention` set, it prunes the store a few
//! minutes after start and then every hour, until the daemon stops.
//!
//! What is deleted and what is always kept (firing alerts, undelivered notifications,
//! and the runs they refer to) is the store's rule, `Store::prune_before`. This task
//! chooses when: transactions of [`PRUNE_BATCH`] rows with a [`PRUNE_PAUSE`] between
//! them, so a run's writes wait for one small transaction at most and pruning takes a
//! small share of the disk. Cancellation is checked between transactions: a stop never
//! waits for a long prune, and what is left is pruned at the next pass (every
//! transaction leaves the store consistent). The cutoff is read from the daemon's
//! [`Clock`]. A retention of zero keeps everything, like no retention.
//!
//! The first pass waits [`FIRST_PRUNE_AFTER`] so that start-up work (resuming runs,
//! catching up missed slots) goes first. A failed pass is logged and retried at the
//! next one.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::store::{Pace, PruneSummary, Store, StoreError};

/// Rows deleted per write transaction.
pub const PRUNE_BATCH: usize = 2_000;
/// The pause between two transactions of one pass.
pub const PRUNE_PAUSE: Duration = Duration::from_millis(20);
/// From start to the first pass.
pub const FIRST_PRUNE_AFTER: Duration = Duration::from_secs(5 * 60);
/// Between two passes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Prunes every [`PRUNE_EVERY`] until `cancel`; returns at once for a zero retention.
pub async fn prune_periodically(
    store: Store,
    clock: Clock,
    retention: Duration,
    cancel: CancellationToken,
) {
    if retention.is_zero() {
        tracing::warn!("storage.retention is zero: nothing is pruned");
        return;
    }
    let mut next = Instant::now() + FIRST_PRUNE_AFTER;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        match prune_once(&store, &clock, retention, &cancel).await {
            Ok(summary) if summary.deleted() > 0 => tracing::info!(
                runs = summary.runs,
                results = summary.results,
                resolved_alerts = summary.resolved_alerts,
                delivered_notifications = summary.delivered_notifications,
                rows = summary.deleted(),
                transactions = summary.transactions,
                runs_kept = summary.runs_kept,
                cutoff = %summary.cutoff,
                stopped_early = summary.stopped_early,
                "pruned history older than storage.retention"
            ),
            Ok(summary) => tracing::debug!(
                runs_kept = summary.runs_kept,
                cutoff = %summary.cutoff,
                "nothing to prune"
            ),
            Err(error) => tracing::error!(%error, "pruning failed; it is tried again in an hour"),
        }
        next = Instant::now() + PRUNE_EVERY;
    }
}

/// One pass: everything older than `retention` before the clock's now, in batches of
/// [`PRUNE_BATCH`] with a [`PRUNE_PAUSE`] between them, stopping between two batches
/// once `cancel` fires.
pub async fn prune_once(
    store: &Store,
    clock: &Clock,
    retention: Duration,
    cancel: &CancellationToken,
) -> Result<PruneSummary, StoreError> {
    let cutoff = chrono::Duration::from_std(retention)
        .ok()
        .and_then(|retention| clock.now().checked_sub_signed(retention))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    store
        .prune_before(cutoff, PRUNE_BATCH, |_| {
            let cancel = cancel.clone();
            async move {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => Pace::Break(()),
                    _ = tokio::time::sleep(PRUNE_PAUSE) => Pace::Continue(()),
                }
            }
        })
        .await
}
