//! The one run pipeline: a run taken to a judged, stored outcome.
//!
//! [`run_to_judgement`] is the only glue between a run and its judgement: it drives the
//! run (`run::execute` for a new one, `run::resume` for one a previous process left
//! unfinished), then has alerting judge it with the metadata the run's outcome carries
//! (the fields its own plan loaded, or, for a resumed run, the ones the plan stored).
//! Scheduled runs ([`Launcher`]), resumed runs ([`resume_unfinished`]) and `run-now`
//! all call it. What a run does belongs to `run`, what it means to `alerting`.
//!
//! A new run whose monitor another run holds (its run lease, see `run::lease`) ends
//! with [`RunError::MonitorBusy`] before anything is created: `run-now` reports it and
//! exits 1, and the [`Launcher`] records the scheduled slot as skipped, `overlapping
//! run N`. The judgement takes a monitor's runs strictly in order, so a run that ends
//! while an earlier one is still going is judged after it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{Alerting, AlertingError, Judged};
use crate::config::Monitor;
use crate::domain::{RunId, RunTrigger};
use crate::run::{self, MonitorBusy, RunContext, RunError, RunOutcome, RunSummary};
use crate::scheduler::{LaunchRequest, RunLauncher, Scheduler};
use crate::store::{SlotEvent, Store, StoreError};
use crate::systemd::Notifier;

use super::live::LiveConfig;

/// Which run the pipeline takes to its judgement.
#[derive(Clone, Copy, Debug)]
pub enum RunStart<'a> {
    /// A new run of `monitor` for `trigger`.
    New {
        monitor: &'a Monitor,
        trigger: RunTrigger,
    },
    /// A run that already exists (left unfinished by a previous process); `monitor` is
    /// its monitor as now configured, `None` if it is no longer.
    Existing {
        monitor: Option<&'a Monitor>,
        run: RunId,
    },
}

/// A run and its judgement: the run itself, then each unjudged run of its monitor
/// judged, oldest first (earlier runs a crash left unjudged come before it).
#[derive(Debug)]
pub struct JudgedRun {
    pub summary: RunSummary,
    pub judged: Vec<Result<Judged, AlertingError>>,
}

/// Drives a run to its end and has the rules judge it. A run that stops at a durable
/// step (cancellation) or fails to reach an end is not judged; its error is returned.
pub async fn run_to_judgement(
    ctx: &RunContext,
    alerting: &Alerting,
    start: RunStart<'_>,
    cancel: CancellationToken,
) -> Result<JudgedRun, RunError> {
    let RunOutcome { summary, metadata } = match start {
        RunStart::New { monitor, trigger } => run::execute(ctx, monitor, trigger, cancel).await?,
        RunStart::Existing { monitor, run } => run::resume(ctx, monitor, run, cancel).await?,
    };
    let judged = alerting
        .judge_pending_with(&summary.monitor, Some((summary.run, metadata)))
        .await;
    Ok(JudgedRun { summary, judged })
}

/// Logs why a run ended without a judgement.
fn log_unjudged(monitor: &str, error: &RunError) {
    match error {
        RunError::Store(StoreError::SlotTaken { .. }) => {
            tracing::info!(%monitor, "this slot already has a run");
        }
        RunError::Cancelled { run } => {
            tracing::info!(%monitor, run = run.0, "run stopped at a durable step; it resumes at the next start");
        }
        error => tracing::error!(%monitor, %error, "run failed"),
    }
}

/// Starts runs for the scheduler with the run context of the live configuration at
/// launch, and takes each through the pipeline.
pub struct Launcher {
    live: Arc<LiveConfig>,
    notifier: Notifier,
    alerting: Alerting,
}

impl Launcher {
    /// The launcher the daemon gives its scheduler; `notifier` hears each run's outcome
    /// as a systemd status line.
    pub fn new(live: Arc<LiveConfig>, alerting: Alerting, notifier: Notifier) -> Arc<Launcher> {
        Arc::new(Launcher {
            live,
            notifier,
            alerting,
        })
    }
}

impl RunLauncher for Arc<Launcher> {
    fn launch(&self, request: LaunchRequest) -> BoxFuture<'static, ()> {
        let launcher = Arc::clone(self);
        Box::pin(async move {
            let ctx = launcher.live.run_context();
            let start = RunStart::New {
                monitor: &request.monitor,
                trigger: request.trigger,
            };
            let monitor = &request.monitor.name;
            match run_to_judgement(&ctx, &launcher.alerting, start, request.shutdown.clone()).await
            {
                Ok(JudgedRun { summary, .. }) => launcher.notifier.status(&format!(
                    "last run: {monitor} {} ({} succeeded, {} not retrieved)",
                    summary.state.as_str(),
                    summary.succeeded,
                    summary.not_retrieved
                )),
                Err(RunError::MonitorBusy(busy)) => {
                    skip_busy_slot(&ctx.store, &request, &busy).await;
                }
                Err(error) => log_unjudged(monitor, &error),
            }
        })
    }
}

/// Records a scheduled slot whose monitor another process is running (a `run-now`, or
/// another daemon on the same database) as skipped, naming the run in progress.
async fn skip_busy_slot(store: &Store, request: &LaunchRequest, busy: &MonitorBusy) {
    let monitor = &request.monitor.name;
    let Some(slot) = request.trigger.slot() else {
        tracing::warn!(%monitor, "{busy}");
        return;
    };
    let reason = match busy.run {
        Some(run) => format!("overlapping run {}", run.0),
        None => "overlapping run (starting)".to_string(),
    };
    let event = SlotEvent::skipped(slot, reason);
    match store
        .advance_schedule(request.monitor_id, slot, vec![event])
        .await
    {
        Ok(_) => tracing::warn!(%monitor, %slot, "slot skipped: {busy}"),
        Err(error) => {
            tracing::error!(%monitor, %slot, %error, "slot skipped ({busy}), but this could not be recorded");
        }
    }
}

/// Resumes, on `tracker`, every run a previous process left unfinished, each through
/// the pipeline. A scheduled one holds its monitor in `scheduler` until it ends, so no
/// slot starts a run beside it. Call it before the schedules start.
pub async fn resume_unfinished(
    store: &Store,
    live: &LiveConfig,
    alerting: &Alerting,
    scheduler: &mut Scheduler,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) {
    let unfinished = match store.unfinished_runs().await {
        Ok(unfinished) => unfinished,
        Err(error) => {
            tracing::error!(%error, "unfinished runs could not be resumed");
            return;
        }
    };
    if !unfinished.is_empty() {
        tracing::info!(count = unfinished.len(), "resuming unfinished runs");
    }
    let config = live.config();
    for unfinished in unfinished {
        let record = unfinished.run;
        let busy = record
            .trigger
            .slot()
            .and_then(|slot| scheduler.hold_for_resumed_run(&record.monitor_name, slot));
        let monitor = config
            .monitors
            .iter()
            .find(|monitor| monitor.name == record.monitor_name)
            .cloned();
        let ctx = live.run_context();
        let cancel = cancel.clone();
        let alerting = alerting.clone();
        tracker.spawn(async move {
            let _busy = busy;
            let start = RunStart::Existing {
                monitor: monitor.as_ref(),
                run: record.id,
            };
            match run_to_judgement(&ctx, &alerting, start, cancel).await {
                Ok(_) => {}
                Err(RunError::Cancelled { run }) => {
                    tracing::info!(monitor = %record.monitor_name, run = run.0, "run stopped at a durable step; it resumes at the next start");
                }
                Err(error) => {
                    tracing::error!(monitor = %record.monitor_name, run = record.id.0, %error, "an unfinished run could not be resumed");
                }
            }
        });
    }
}
