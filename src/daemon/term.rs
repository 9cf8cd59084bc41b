//! A leader's term: the work only the leader does, started when this daemon comes to
//! lead and stopped when it stops leading or the daemon stops.
//!
//! [`Term::begin`] judges the runs a previous leader finished but did not judge, starts
//! the outbox, resumes the runs left unfinished (from their journal, before any slot
//! can start a run beside them), starts the hourly retention when configured, and
//! starts the schedules from their stored positions. [`Term::end`] cancels all of it and
//! waits, up to [`SHUTDOWN_TIMEOUT`], for the runs in flight to reach a durable step.
//! The term's tasks have their own token and tracker, so a term ends without touching
//! the HTTP listener or the watchdog, which serve a standby too.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{Alerting, Outbox};
use crate::clock::Clock;
use crate::scheduler::{Scheduler, SchedulerOptions};
use crate::store::Store;

use super::pipeline::{Launcher, resume_unfinished};
use super::{DaemonError, LiveConfig, SHUTDOWN_TIMEOUT};

/// What a term needs, built once by the daemon.
pub struct Duties {
    pub store: Store,
    pub clock: Clock,
    pub live: Arc<LiveConfig>,
    pub alerting: Alerting,
    pub outbox: Outbox,
    pub launcher: Arc<Launcher>,
}

/// The leader's work while it lasts.
pub struct Term {
    cancel: CancellationToken,
    tracker: TaskTracker,
    scheduler: Scheduler,
}

impl Term {
    /// Starts the leader's work.
    pub async fn begin(duties: &Duties) -> Result<Term, DaemonError> {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut scheduler = Scheduler::new(
            duties.store.clone(),
            duties.clock.clone(),
            Arc::new(Arc::clone(&duties.launcher)),
            cancel.clone(),
            tracker.clone(),
            SchedulerOptions::default(),
        );
        // Runs that finished before a crash but were not judged are judged first, in
        // order, before any later run of their monitor can finish; then the outbox
        // delivers what any earlier process queued and did not deliver.
        duties.alerting.judge_all().await;
        tracker.spawn(duties.outbox.clone().run(cancel.clone()));
        // Runs left unfinished go first: they hold slots and batches, and a scheduled
        // one keeps its monitor busy until it ends, so that no slot starts a run beside
        // it.
        resume_unfinished(
            &duties.store,
            &duties.live,
            &duties.alerting,
            &mut scheduler,
            &tracker,
            &cancel,
        )
        .await;
        let config = duties.live.config();
        // Retention: prune old history hourly, between batches checking for the stop.
        if let Some(retention) = config.storage.retention {
            tracker.spawn(crate::retention::prune_periodically(
                duties.store.clone(),
                duties.clock.clone(),
                retention,
                cancel.clone(),
            ));
        }
        let mut term = Term {
            cancel,
            tracker,
            scheduler,
        };
        if let Err(error) = term.scheduler.apply(&config.monitors).await {
            term.end().await;
            return Err(DaemonError::Runtime(
                anyhow::Error::new(error).context("cannot start the schedules"),
            ));
        }
        Ok(term)
    }

    /// The schedules, for a reload.
    pub fn scheduler(&mut self) -> &mut Scheduler {
        &mut self.scheduler
    }

    /// Stops starting work and waits, up to [`SHUTDOWN_TIMEOUT`], for the work in
    /// flight to reach a durable step. `true` when everything stopped in time.
    pub async fn end(self) -> bool {
        self.cancel.cancel();
        self.scheduler.stop().await;
        self.tracker.close();
        let stopped = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.tracker.wait())
            .await
            .is_ok();
        if !stopped {
            tracing::warn!(
                "some work did not stop within {}s; every stored step is resumable",
                SHUTDOWN_TIMEOUT.as_secs()
            );
        }
        stopped
    }
}
