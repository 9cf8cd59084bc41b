//! The long-running commands: `balance-monitor run` (the daemon) and `run-now`.
//!
//! This module wires the pieces together and owns the process lifecycle; the work
//! itself belongs to the modules it wires. `run` loads the configuration, opens the
//! store, builds the one Rightfoot client, resumes the runs a previous process left
//! unfinished, binds the HTTP listener (the read API behind `http.token`, `/readyz`
//! following the monitors through a `watch` updated on reload, `/metrics` fed by the
//! one request recorder every client it builds shares), starts the scheduler (and, with
//! `storage.retention`, the hourly pruning task of [`crate::retention`]), and tells
//! systemd it is ready. Then it waits for signals:
//! - SIGTERM or SIGINT: stop starting new work, let in-flight runs reach a durable step
//!   (every stored step is resumable) within [`SHUTDOWN_TIMEOUT`], then return `Ok`;
//! - SIGHUP: reload. The new configuration is validated first; if it is bad the old one
//!   stays and the problems are logged; if it is good, the scheduler is given the new
//!   monitors (in-flight runs are not dropped) and new runs use the new settings.
//!
//! Every task belongs to one `CancellationToken` and one `TaskTracker`. The daemon
//! reads the process environment only through the [`Environment`] snapshot `main` took.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{Alerting, Judged, Outbox};

use crate::clock::Clock;
use crate::completions::Completions;
use crate::config::{self, Config, ConfigError, RightfootConfig};
use crate::domain::{RunState, RunTrigger};
use crate::http::WatchedMonitor;
use crate::rightfoot::{ClientConfig, RequestMetrics, RightfootClient};
use crate::run::{self, RunContext, RunError, RunSettings, RunSummary};
use crate::scheduler::{LaunchRequest, RunLauncher, Scheduler, SchedulerOptions};
use crate::secret::Environment;
use crate::store::{RunRecord, Store, StoreError};
use crate::systemd::Notifier;

/// How long a stop waits for in-flight runs to reach a durable step. systemd's default
/// `TimeoutStopSec=` is 90 s; this leaves it room.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How a daemon command failed; `main` turns it into an exit code.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Exit 2: the configuration is invalid, and restarting will not help.
    #[error("{0}")]
    Config(String),
    /// Exit 1.
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

impl From<ConfigError> for DaemonError {
    fn from(error: ConfigError) -> DaemonError {
        DaemonError::Config(error.to_string())
    }
}

/// Builds the client for the configured Rightfoot, recording its requests' durations
/// in `metrics`.
pub fn client_for(
    config: &RightfootConfig,
    metrics: RequestMetrics,
) -> Result<RightfootClient, DaemonError> {
    let mut client = ClientConfig::new(config.base_url.clone(), config.api_key.clone());
    client.metrics = metrics;
    client.connect_timeout = config.connect_timeout;
    client.request_timeout = config.request_timeout;
    client.not_found_grace = config.not_found_grace;
    RightfootClient::new(client).map_err(|e| DaemonError::Config(format!("rightfoot: {e}")))
}

fn open_store(config: &Config) -> Result<Store, DaemonError> {
    Store::open(&config.storage.path)
        .with_context(|| format!("cannot open the database {}", config.storage.path.display()))
        .map_err(DaemonError::Runtime)
}

fn run_context(
    config: &Config,
    store: Store,
    clock: Clock,
    completions: &Completions,
    metrics: RequestMetrics,
) -> Result<RunContext, DaemonError> {
    let mut context = RunContext::new(
        store,
        client_for(&config.rightfoot, metrics)?,
        clock,
        RunSettings::from_config(&config.rightfoot),
        config.file.clone(),
    );
    context.completions = completions.clone();
    Ok(context)
}

/// Starts runs for the scheduler with the current run context, which a reload may
/// replace, and has the rules judge each run that finishes. `std::sync::RwLock`: it is
/// read once per launch and never held across an `.await`.
pub struct Launcher {
    context: RwLock<RunContext>,
    notifier: Notifier,
    alerting: Alerting,
}

impl Launcher {
    /// The launcher the daemon gives its scheduler; `notifier` hears each run's outcome
    /// as a systemd status line.
    pub fn new(context: RunContext, alerting: Alerting, notifier: Notifier) -> Arc<Launcher> {
        Arc::new(Launcher {
            context: RwLock::new(context),
            notifier,
            alerting,
        })
    }

    fn context(&self) -> RunContext {
        self.context
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl RunLauncher for Arc<Launcher> {
    fn launch(&self, request: LaunchRequest) -> BoxFuture<'static, ()> {
        let launcher = Arc::clone(self);
        Box::pin(async move {
            let ctx = launcher.context();
            let monitor = request.monitor.name.clone();
            match run::execute(&ctx, &request.monitor, request.trigger, request.shutdown).await {
                Ok(summary) => {
                    let loaded = ctx
                        .list_metadata
                        .take(summary.run)
                        .map(|metadata| (summary.run, metadata));
                    launcher.alerting.judge_pending_with(&monitor, loaded).await;
                    launcher.notifier.status(&format!(
                        "last run: {monitor} {} ({} succeeded, {} not retrieved)",
                        summary.state.as_str(),
                        summary.succeeded,
                        summary.not_retrieved
                    ))
                }
                Err(RunError::Store(StoreError::SlotTaken { .. })) => {
                    tracing::info!(%monitor, "this slot already has a run");
                }
                Err(RunError::Cancelled { run }) => {
                    tracing::info!(%monitor, run = run.0, "run stopped at a durable step; it resumes at the next start");
                }
                Err(error) => tracing::error!(%monitor, %error, "run failed"),
            }
        })
    }
}

/// What tells a running daemon to reload or stop: signals for `balance-monitor run`,
/// the demo's own driver for `balance-monitor demo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Read the configuration again (SIGHUP).
    Reload,
    /// Stop starting work, let in-flight runs reach a durable step, and return
    /// (SIGTERM, SIGINT).
    Stop,
}

/// `balance-monitor run`: the daemon, until SIGTERM or SIGINT.
pub async fn run(config_path: &Path, env: &Environment) -> Result<(), DaemonError> {
    // Before anything starts: a signal that comes while runs are being resumed or the
    // schedule applied must be handled (a SIGTERM stops cleanly once started, a SIGHUP
    // reloads), not take its default action and end the process on the spot.
    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let (control, controls) = tokio::sync::mpsc::channel(8);
    let forwarder = tokio::spawn(async move {
        loop {
            let sent = tokio::select! {
                _ = terminate.recv() => control.send(Control::Stop).await,
                _ = interrupt.recv() => control.send(Control::Stop).await,
                _ = hangup.recv() => control.send(Control::Reload).await,
            };
            if sent.is_err() {
                break;
            }
        }
    });
    let result = serve(config_path, env, Clock::system(), controls).await;
    forwarder.abort();
    result
}

/// The daemon on `clock`, until `controls` says stop or is closed.
pub async fn serve(
    config_path: &Path,
    env: &Environment,
    clock: Clock,
    mut controls: tokio::sync::mpsc::Receiver<Control>,
) -> Result<(), DaemonError> {
    let mut config = config::load(config_path, env)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let notifier = Notifier::from_environment(env);
    let store = open_store(&config)?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let completions = Completions::default();
    // One recorder for every client the daemon builds, so a reload keeps the figures.
    let rightfoot_metrics = RequestMetrics::default();
    let alerting = Alerting::new(store.clone(), clock.clone(), Arc::new(config.clone()));
    let outbox = Outbox::new(
        alerting.clone(),
        crate::notify::Notifier::new(clock.clone())
            .map_err(|e| DaemonError::Runtime(anyhow::Error::new(e)))?,
    );
    let launcher = Launcher::new(
        run_context(
            &config,
            store.clone(),
            clock.clone(),
            &completions,
            rightfoot_metrics.clone(),
        )?,
        alerting.clone(),
        notifier.clone(),
    );

    let mut scheduler = Scheduler::new(
        store.clone(),
        clock.clone(),
        Arc::new(Arc::clone(&launcher)),
        cancel.clone(),
        tracker.clone(),
        SchedulerOptions::default(),
    );

    // Runs that finished before a crash but were not judged are judged first, in order,
    // before any later run of their monitor can finish; then the outbox delivers what
    // any earlier process queued and did not deliver.
    alerting.judge_all().await;
    tracker.spawn(outbox.run(cancel.clone()));

    // Runs a previous process left unfinished go first: they hold slots and batches,
    // and a scheduled one keeps its monitor busy until it ends, so that no slot starts
    // a run beside it.
    match store.unfinished_runs().await {
        Ok(unfinished) => {
            if !unfinished.is_empty() {
                tracing::info!(count = unfinished.len(), "resuming unfinished runs");
            }
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
                let ctx = launcher.context();
                let cancel = cancel.clone();
                let alerting = alerting.clone();
                tracker.spawn(async move {
                    let _busy = busy;
                    if resume_one(&ctx, monitor.as_ref(), &record, cancel).await {
                        alerting.judge_pending(&record.monitor_name).await;
                    }
                });
            }
        }
        Err(error) => tracing::error!(%error, "unfinished runs could not be resumed"),
    }

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let listening = listener
        .local_addr()
        .context("the listener has no address")?;
    // `/readyz` follows the monitors through reloads.
    let (watched_monitors, monitors_for_http) =
        tokio::sync::watch::channel(WatchedMonitor::list(&config.monitors));
    let http_state = crate::http::HttpState {
        store: store.clone(),
        completions: completions.clone(),
        clock: clock.clone(),
        completion_webhook: config
            .rightfoot
            .completion_webhook
            .as_ref()
            .map(|hook| (hook.public_url.path().to_string(), hook.token.clone())),
        token: config.http.token.clone(),
        monitors: monitors_for_http,
        rightfoot_metrics,
        started_at: clock.now(),
    };
    tracker.spawn(crate::http::serve(
        listener,
        http_state,
        cancel.clone().cancelled_owned(),
    ));

    // Retention: prune old history hourly, between batches checking for the stop.
    if let Some(retention) = config.storage.retention {
        tracker.spawn(crate::retention::prune_periodically(
            store.clone(),
            clock.clone(),
            retention,
            cancel.clone(),
        ));
    }

    scheduler
        .apply(&config.monitors)
        .await
        .context("cannot start the schedules")?;

    if let Some(interval) = notifier.watchdog_interval() {
        let notifier = notifier.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            // The first ping is one interval after start, so none precedes READY=1.
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = ticks.tick() => notifier.watchdog(),
                }
            }
        });
    }
    let status = format!("watching {} monitor(s)", config.monitors.len());
    tracing::info!(monitors = config.monitors.len(), listen = %listening, "balance-monitor started");
    notifier.ready(&status);

    while let Some(Control::Reload) = controls.recv().await {
        notifier.reloading();
        reload(config_path, env, &mut config, &launcher, &mut scheduler).await;
        watched_monitors.send_replace(WatchedMonitor::list(&config.monitors));
        notifier.ready(&format!("watching {} monitor(s)", config.monitors.len()));
    }

    tracing::info!("stopping: no new runs; waiting for runs in flight to reach a durable step");
    cancel.cancel();
    notifier.stopping();
    scheduler.stop().await;
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "some work did not stop within {}s; every stored step is resumable at the next start",
            SHUTDOWN_TIMEOUT.as_secs()
        );
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Drives one run a previous process left unfinished to its end, or to a durable step
/// on shutdown. True when the run finished.
async fn resume_one(
    ctx: &RunContext,
    monitor: Option<&config::Monitor>,
    record: &RunRecord,
    cancel: CancellationToken,
) -> bool {
    let monitor_name = &record.monitor_name;
    match run::resume(ctx, monitor, record.id, cancel).await {
        Ok(_) => true,
        Err(RunError::Cancelled { run }) => {
            tracing::info!(monitor = %monitor_name, run = run.0, "run stopped at a durable step; it resumes at the next start");
            false
        }
        Err(error) => {
            tracing::error!(monitor = %monitor_name, run = record.id.0, %error, "an unfinished run could not be resumed");
            false
        }
    }
}

/// Validates the configuration again and applies it, or keeps the old one.
async fn reload(
    path: &Path,
    env: &Environment,
    current: &mut Config,
    launcher: &Arc<Launcher>,
    scheduler: &mut Scheduler,
) {
    let new = match config::load(path, env) {
        Ok(new) => new,
        Err(error) => {
            for problem in error.problems() {
                tracing::error!("reload refused, keeping the running configuration: {problem}");
            }
            return;
        }
    };
    if new.storage.path != current.storage.path {
        tracing::warn!("storage.path changed: the new database is used only after a restart");
    }
    if new.storage.retention != current.storage.retention {
        tracing::warn!("storage.retention changed: the new retention is used only after a restart");
    }
    if new.http.listen != current.http.listen {
        tracing::warn!("http.listen changed: the new address is used only after a restart");
    }
    let old = launcher.context();
    let metrics = old.client.metrics().clone();
    match run_context(&new, old.store, old.clock, &old.completions, metrics) {
        Ok(context) => {
            *launcher
                .context
                .write()
                .unwrap_or_else(PoisonError::into_inner) = context
        }
        Err(error) => {
            tracing::error!(%error, "reload refused, keeping the running configuration");
            return;
        }
    }
    match scheduler.apply(&new.monitors).await {
        Ok(summary) => tracing::info!(
            added = ?summary.added,
            changed = ?summary.changed,
            removed = ?summary.removed,
            "configuration reloaded"
        ),
        Err(error) => {
            tracing::error!(%error, "reload could not be applied to the schedules");
            return;
        }
    }
    for warning in &new.warnings {
        tracing::warn!("{warning}");
    }
    launcher.alerting.set_config(Arc::new(new.clone()));
    launcher.alerting.wake_outbox();
    *current = new;
}

/// `balance-monitor run-now MONITOR`: one manual run in the foreground.
pub async fn run_now(
    config_path: &Path,
    env: &Environment,
    monitor_name: &str,
    progress: Progress,
) -> Result<RunNowReport, DaemonError> {
    let config = config::load(config_path, env)?;
    let Some(monitor) = config.monitors.iter().find(|m| m.name == monitor_name) else {
        let names: Vec<&str> = config.monitors.iter().map(|m| m.name.as_str()).collect();
        let hint = match crate::yaml::did_you_mean(monitor_name, &names) {
            Some(best) => format!(", did you mean `{best}`?"),
            None => format!(" (configured: {})", names.join(", ")),
        };
        return Err(DaemonError::Config(format!(
            "{}: no monitor named `{monitor_name}`{hint}",
            config_path.display()
        )));
    };
    let store = open_store(&config)?;
    let ctx = run_context(
        &config,
        store.clone(),
        Clock::system(),
        &Completions::default(),
        RequestMetrics::default(),
    )?;
    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(show_progress(
        store.clone(),
        monitor.name.clone(),
        progress,
        cancel.clone(),
    ));
    let stop_on_signal = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            crate::cli::shutdown_signal().await;
            cancel.cancel();
        })
    };
    let result = run::execute(&ctx, monitor, RunTrigger::Manual, cancel.clone()).await;
    cancel.cancel();
    let _ = watcher.await;
    let report = match result {
        Ok(summary) => {
            let loaded = ctx
                .list_metadata
                .take(summary.run)
                .map(|metadata| (summary.run, metadata));
            Ok(judge_and_deliver(&config, &store, summary, loaded).await?)
        }
        Err(error) => Err(error),
    };
    stop_on_signal.abort();
    store.close().await;
    report.map_err(|error| match error {
        RunError::Cancelled { run } => DaemonError::Runtime(anyhow::anyhow!(
            "interrupted; run {} stopped at a durable step and resumes when the daemon next starts",
            run.0
        )),
        other => DaemonError::Runtime(anyhow::Error::new(other)),
    })
}

/// What `run-now` did: the run, what the rules made of it, and the delivery of the
/// notifications it queued.
#[derive(Debug)]
pub struct RunNowReport {
    pub summary: RunSummary,
    pub judged: Vec<Judged>,
    /// One delivery attempt of everything due; `None` when nothing was queued.
    pub delivery: Option<crate::alerting::DeliveryRound>,
}

/// Judges the run (and any earlier run left unjudged), then makes one attempt to
/// deliver what is queued. What is not delivered stays queued for the daemon.
async fn judge_and_deliver(
    config: &Config,
    store: &Store,
    summary: RunSummary,
    loaded: Option<(crate::domain::RunId, Arc<crate::run::MetadataById>)>,
) -> Result<RunNowReport, DaemonError> {
    let clock = Clock::system();
    let alerting = Alerting::new(store.clone(), clock.clone(), Arc::new(config.clone()));
    let mut judged = Vec::new();
    for outcome in alerting.judge_pending_with(&summary.monitor, loaded).await {
        match outcome {
            Ok(one) => judged.push(one),
            Err(error) => {
                return Err(DaemonError::Runtime(
                    anyhow::Error::new(error)
                        .context("the run finished but its alerts could not be judged"),
                ));
            }
        }
    }
    let delivery = if judged.iter().any(|j| !j.queued.is_empty()) {
        let notifier = crate::notify::Notifier::new(clock)
            .map_err(|e| DaemonError::Runtime(anyhow::Error::new(e)))?;
        let round = Outbox::new(alerting, notifier)
            .deliver_due(&CancellationToken::new())
            .await
            .context("cannot deliver the notifications")?;
        Some(round)
    } else {
        None
    };
    Ok(RunNowReport {
        summary,
        judged,
        delivery,
    })
}

/// The alert lines `run-now` prints after the summary.
pub fn render_alerts(report: &RunNowReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for judged in &report.judged {
        let _ = writeln!(
            out,
            "  alerts (run {}):            {} fired, {} reminded, {} resolved; {} firing now",
            judged.run.0, judged.fired, judged.reminders, judged.resolved, judged.firing
        );
        for skip in &judged.skips {
            let _ = writeln!(out, "    {skip}");
        }
    }
    if let Some(round) = &report.delivery {
        let _ = writeln!(
            out,
            "  notifications:             {} delivered, {} to retry, {} failed",
            round.delivered, round.retrying, round.failed
        );
        if round.retrying > 0 {
            let _ = writeln!(
                out,
                "    the daemon (`balance-monitor run`) retries the undelivered ones; `runs show` lists them"
            );
        }
    }
    out
}

/// How `run-now` shows progress while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
    /// A plain line now and then (logs, pipes).
    Lines,
}

/// Reports the run's stored progress once a second until `done` is cancelled.
async fn show_progress(store: Store, monitor: String, style: Progress, done: CancellationToken) {
    use std::io::Write as _;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut run = None;
    let mut last_line = String::new();
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if run.is_none() {
            run = store.unfinished_runs().await.ok().and_then(|runs| {
                runs.into_iter()
                    .rev()
                    .find(|u| {
                        u.run.monitor_name == monitor && matches!(u.run.trigger, RunTrigger::Manual)
                    })
                    .map(|u| u.run.id)
            });
        }
        let Some(id) = run else { continue };
        let Ok(tally) = store.run_tally(id).await else {
            continue;
        };
        if tally.members == 0 {
            continue;
        }
        let failed: u32 = tally.failed_by_code.values().sum();
        let done_count = tally.succeeded + failed + tally.not_retrieved + tally.api_rejected;
        let total = tally.members.max(1);
        let line = match style {
            Progress::Bar => {
                let width = 30usize;
                let filled = (done_count as usize * width / total as usize).min(width);
                format!(
                    "\r[{}{}] {done_count}/{} checked",
                    "#".repeat(filled),
                    "-".repeat(width - filled),
                    tally.members
                )
            }
            Progress::Lines => format!(
                "progress: {done_count} of {} authorizers checked\n",
                tally.members
            ),
        };
        if line != last_line {
            let mut err = std::io::stderr();
            let _ = err.write_all(line.as_bytes());
            let _ = err.flush();
            last_line = line;
        }
    }
    if style == Progress::Bar && !last_line.is_empty() {
        eprintln!();
    }
}

/// The summary `run-now` prints.
pub fn render_summary(summary: &RunSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} of {}: {}",
        summary.run.0,
        summary.monitor,
        summary.state.as_str()
    );
    if let Some(reason) = &summary.reason {
        let _ = writeln!(out, "  reason: {reason}");
    }
    let _ = writeln!(out, "  accepted by Rightfoot:     {}", summary.accepted);
    let _ = writeln!(
        out,
        "  rejected by pre-flight:    {}",
        summary.rejected_preflight
    );
    let _ = writeln!(
        out,
        "  rejected by the API:       {}",
        summary.rejected_by_api
    );
    let _ = writeln!(out, "  succeeded:                 {}", summary.succeeded);
    let failed: u32 = summary.failed_by_code.values().sum();
    let _ = writeln!(out, "  failed checks:             {failed}");
    for (code, count) in &summary.failed_by_code {
        let status = crate::domain::BalanceStatus::from_code(*code);
        let _ = writeln!(out, "    {code} {}: {count}", status.description());
    }
    let _ = writeln!(
        out,
        "  not retrieved:             {}",
        summary.not_retrieved
    );
    if summary.served_from_cache {
        let _ = writeln!(
            out,
            "  served from Rightfoot's 24 h cache: {} (their results are an earlier run's)",
            summary.cached
        );
    }
    let _ = writeln!(
        out,
        "  duration:                  {:.1}s",
        summary.duration.as_secs_f64()
    );
    out
}

/// Whether a finished run counts as success for `run-now`'s exit code.
pub fn is_complete(summary: &RunSummary) -> bool {
    summary.state == RunState::Complete
}
