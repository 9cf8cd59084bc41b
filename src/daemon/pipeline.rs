//! The one run pipeline: a run taken to a judged, stored outcome.
//!
//! [`run_to_judgement`] is the only glue between a run and its judgement: it drives the
//! run (`run::execute` for a new one, `run::resume` for one a previous process left
//! unfinished), then has alerting judge it, with the metadata fields the run's plan
//! stored (read a part at a time beside the judgement's pages).
//! Scheduled runs ([`Launcher`]), resumed runs ([`resume_unfinished`]) and `run-now`
//! all call it. Before a run sends anything, the store must take a test write at the
//! expected schema version.
//!
//! The daemon's runs go through [`run_to_judgement_healing`], which waits out store
//! errors that may pass (a full disk, a read-only file, a lock): it counts them, lists
//! the run as waiting (`/metrics`, `/readyz`), tries the store on [`STORE_RETRY`]'s
//! backoff, and once the store takes a write resumes the run from its journal and
//! judges it, without a restart. `run-now` does not wait: it exits 1 on a store error.
//! What a run does belongs to `run`, what it means to `alerting`.
//!
//! A new run whose monitor another run holds (its run lease, see `run::lease`) ends
//! with [`RunError::MonitorBusy`] before anything is created: `run-now` reports it and
//! exits 1, and the [`Launcher`] records the scheduled slot as skipped, `overlapping
//! run N`. The judgement takes a monitor's runs strictly in order, so a run that ends
//! while an earlier one is still going is judged after it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{Alerting, AlertingError, Judged};
use crate::backoff::{Backoff, Jitter};
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
///
/// Before anything else (and so before anything is sent to Rightfoot) the store must
/// take a real write at the expected schema version ([`Maintenance::check_writable`]).
///
/// [`Maintenance::check_writable`]: crate::store::Maintenance::check_writable
pub async fn run_to_judgement(
    ctx: &RunContext,
    alerting: &Alerting,
    start: RunStart<'_>,
    cancel: CancellationToken,
) -> Result<JudgedRun, RunError> {
    let RunOutcome { summary } = run_to_end(ctx, start, cancel).await?;
    let judged = alerting.judge_pending(&summary.monitor).await;
    Ok(JudgedRun { summary, judged })
}

/// The run part of [`run_to_judgement`]: the store's check, then the run.
async fn run_to_end(
    ctx: &RunContext,
    start: RunStart<'_>,
    cancel: CancellationToken,
) -> Result<RunOutcome, RunError> {
    ctx.store.check_writable().await?;
    match start {
        RunStart::New { monitor, trigger } => run::execute(ctx, monitor, trigger, cancel).await,
        RunStart::Existing { monitor, run } => run::resume(ctx, monitor, run, cancel).await,
    }
}

/// How long the pipeline waits before it tries the store again after a store error
/// stopped a run or a judgement: 5 s, doubling up to 5 min, in the upper half
/// (never at once, so a full disk is not hammered).
pub const STORE_RETRY: Backoff = Backoff {
    first: Duration::from_secs(5),
    cap: Duration::from_secs(5 * 60),
    jitter: Jitter::UpperHalf,
};

/// Whether a store error is the machine's and may pass (a full disk, a read-only
/// file, a lock held by another process, a failing write): worth waiting out. A closed
/// store (shutdown) and a corrupt or replaced database are not.
fn heals(error: &StoreError) -> bool {
    error.is_environmental() && !matches!(error, StoreError::Closed { .. })
}

/// [`run_to_judgement`] that waits out store errors instead of giving up: the daemon's
/// way (the launcher's and the resumed runs'). When a run or its judgement stops on a
/// store error that may pass, the error is counted and the run is listed as waiting
/// ([`StoreHealth`](crate::store::StoreHealth), which `/metrics` and `/readyz` show);
/// the store is tried again with [`STORE_RETRY`]'s backoff until it takes a write, and
/// then the run is resumed from its journal (`run::resume`) and judged. The caller's
/// future lasts until then, so the scheduler keeps the monitor busy all along and no
/// run of it starts beside the one being healed.
///
/// `monitor_name` is the run's monitor. Only cancellation ends the wait.
pub async fn run_to_judgement_healing(
    ctx: &RunContext,
    alerting: &Alerting,
    monitor_name: &str,
    start: RunStart<'_>,
    cancel: CancellationToken,
) -> Result<JudgedRun, RunError> {
    let health = ctx.store.health();
    let (monitor, trigger, mut run) = match start {
        RunStart::New { monitor, trigger } => (Some(monitor), Some(trigger), None),
        RunStart::Existing { monitor, run } => (monitor, None, Some(run)),
    };
    let mut start = start;
    let mut retry = 0u32;
    let outcome = loop {
        let error = match run_to_end(ctx, start, cancel.clone()).await {
            Ok(outcome) => break outcome,
            // A retried new run whose slot was taken by its own first attempt.
            Err(RunError::Store(StoreError::SlotTaken { existing, .. })) if retry > 0 => {
                run = Some(existing);
                start = RunStart::Existing {
                    monitor,
                    run: existing,
                };
                continue;
            }
            Err(RunError::Store(error)) if heals(&error) => error,
            Err(other) => {
                health.run_resumed(monitor_name);
                return Err(other);
            }
        };
        retry += 1;
        if run.is_none() {
            // The run may exist already; reads usually still work (a full disk).
            run = own_unfinished_run(&ctx.store, monitor_name, trigger)
                .await
                .ok()
                .flatten();
        }
        health.run_stopped(monitor_name, run, &error, ctx.clock.now());
        tracing::warn!(monitor = %monitor_name, run = run.map(|run| run.0), %error, "the run stopped on a store error; it resumes once the store takes writes again");
        if !wait_for_store(ctx, monitor_name, run, &mut retry, &cancel).await {
            health.run_resumed(monitor_name);
            return Err(stopped_waiting(run, error));
        }
        if run.is_none() {
            // The first attempt may have created the run before the store failed.
            run = match own_unfinished_run(&ctx.store, monitor_name, trigger).await {
                Ok(found) => found,
                Err(error) if heals(&error) => {
                    health.run_stopped(monitor_name, run, &error, ctx.clock.now());
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
        }
        start = match (run, trigger) {
            (Some(run), _) => RunStart::Existing { monitor, run },
            (None, Some(trigger)) => RunStart::New {
                monitor: monitor.expect("a new run has its monitor"),
                trigger,
            },
            (None, None) => unreachable!("an existing run has its id"),
        };
        tracing::info!(monitor = %monitor_name, run = run.map(|run| run.0), "the store takes writes again; resuming the run");
    };
    health.run_resumed(monitor_name);
    let mut judged = alerting.judge_pending(&outcome.summary.monitor).await;
    // Judgements committed stay committed; only those a store error stopped are retried.
    let mut kept: Vec<Result<Judged, AlertingError>> = Vec::new();
    while let Some(error) = judged.iter().find_map(|one| match one {
        Err(AlertingError::Store(error)) if heals(error) => {
            Some(format!("the judgement stopped: {error}"))
        }
        _ => None,
    }) {
        retry += 1;
        let run = Some(outcome.summary.run);
        health.run_stopped(monitor_name, run, &error, ctx.clock.now());
        tracing::warn!(monitor = %monitor_name, run = outcome.summary.run.0, %error, "the judgement stopped on a store error; it is retried once the store takes writes again");
        kept.extend(judged.into_iter().filter(Result::is_ok));
        if !wait_for_store(ctx, monitor_name, run, &mut retry, &cancel).await {
            health.run_resumed(monitor_name);
            return Err(RunError::Cancelled {
                run: outcome.summary.run,
            });
        }
        judged = alerting.judge_pending(&outcome.summary.monitor).await;
    }
    health.run_resumed(monitor_name);
    kept.extend(judged);
    Ok(JudgedRun {
        summary: outcome.summary,
        judged: kept,
    })
}

/// Waits [`STORE_RETRY`]'s backoff, then tries a write, until the store takes one
/// (`true`) or `cancel` fires (`false`). Each failed try counts as a store error.
async fn wait_for_store(
    ctx: &RunContext,
    monitor_name: &str,
    run: Option<RunId>,
    retry: &mut u32,
    cancel: &CancellationToken,
) -> bool {
    loop {
        let wait = STORE_RETRY.wait(*retry, fastrand::f64());
        let until = ctx.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = ctx.clock.sleep_until(until) => {}
        }
        match ctx.store.check_writable().await {
            Ok(()) => return true,
            Err(error) => {
                *retry = retry.saturating_add(1);
                ctx.store
                    .health()
                    .run_stopped(monitor_name, run, &error, ctx.clock.now());
                tracing::debug!(monitor = %monitor_name, %error, "the store still takes no writes");
            }
        }
    }
}

/// The newest unfinished run of `monitor_name` started for `trigger`.
async fn own_unfinished_run(
    store: &Store,
    monitor_name: &str,
    trigger: Option<RunTrigger>,
) -> Result<Option<RunId>, StoreError> {
    Ok(store
        .unfinished_runs()
        .await?
        .into_iter()
        .filter(|unfinished| {
            unfinished.run.monitor_name == monitor_name && Some(unfinished.run.trigger) == trigger
        })
        .map(|unfinished| unfinished.run.id)
        .max())
}

/// What a healing run returns when the daemon stops while it waits for the store.
fn stopped_waiting(run: Option<RunId>, error: StoreError) -> RunError {
    match run {
        Some(run) => RunError::Cancelled { run },
        None => RunError::Store(error),
    }
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
            let judged = run_to_judgement_healing(
                &ctx,
                &launcher.alerting,
                monitor,
                start,
                request.shutdown.clone(),
            )
            .await;
            match judged {
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
            let judged =
                run_to_judgement_healing(&ctx, &alerting, &record.monitor_name, start, cancel)
                    .await;
            match judged {
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
