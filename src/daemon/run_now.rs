//! `balance-monitor run-now MONITOR`: one manual run in the foreground, through the same
//! pipeline as the daemon's runs, with progress on stderr, then its summary, its
//! judgement and one delivery attempt of what it queued, rendered for people.
//!
//! What is not delivered stays queued for the daemon. This module renders; the run and
//! its judgement are the pipeline's.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::alerting::{Alerting, Judged, Outbox};
use crate::clock::Clock;
use crate::config;
use crate::domain::{RunId, RunState, RunTrigger};
use crate::run::{RunContext, RunError, RunSettings, RunSummary};
use crate::secret::Environment;
use crate::store::{RunStateChange, Store};

use super::pipeline::{JudgedRun, RunStart, run_to_judgement};
use super::{DaemonError, client_for, open_store};

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
    // The database first: a corrupt or unwritable one stops the command before any
    // request reaches Rightfoot.
    let store = open_store(&config).await?;
    let client = match client_for(
        &config.rightfoot,
        crate::rightfoot::RequestMetrics::default(),
    ) {
        Ok(client) => client,
        Err(error) => {
            store.close().await;
            return Err(error);
        }
    };
    let first = tokio::select! {
        checked = client.check_access() => first_request(&config.rightfoot, checked),
        () = super::shutdown_signal() => Err(DaemonError::Runtime(anyhow::anyhow!(
            "interrupted before anything was submitted; no run was recorded"
        ))),
    };
    if let Err(error) = first {
        store.close().await;
        return Err(error);
    }
    let clock = Clock::system();
    let ctx = RunContext::new(
        store.clone(),
        client,
        clock.clone(),
        RunSettings::from_config(&config.rightfoot),
        config.file.clone(),
    );
    let monitor = monitor.clone();
    let config = Arc::new(config);
    let alerting = Alerting::new(store.clone(), clock.clone(), Arc::clone(&config));
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
            super::shutdown_signal().await;
            cancel.cancel();
        })
    };
    let start = RunStart::New {
        monitor: &monitor,
        trigger: RunTrigger::Manual,
    };
    let result = run_to_judgement(&ctx, &alerting, start, cancel.clone()).await;
    cancel.cancel();
    let _ = watcher.await;
    tracing::debug!("run-now: progress stopped");
    if let Err(RunError::Cancelled { run }) = result {
        let error = record_interrupted(&store, run, &clock).await;
        stop_on_signal.abort();
        store.close().await;
        return Err(error);
    }
    let report = match result {
        Ok(judged) => {
            let run = judged.summary.run;
            let mut report = deliver(alerting, clock, judged).await?;
            // The judgement read the run's checks and listed them; a run judged by
            // another process meanwhile is listed from the store.
            report.unsuccessful = match report.judged.iter().find(|j| j.run == run) {
                Some(judged) => judged.unsuccessful.clone(),
                None => crate::run::unsuccessful::unsuccessful(&store, run)
                    .await
                    .unwrap_or_else(|e| {
                        format!("  cannot list the authorizers without a balance: {e}\n")
                    }),
            };
            Ok(report)
        }
        Err(error) => Err(error),
    };
    stop_on_signal.abort();
    tracing::debug!("run-now: closing the store");
    store.close().await;
    tracing::debug!("run-now: store closed");
    report.map_err(|error| DaemonError::Runtime(anyhow::Error::new(error)))
}

/// Records a run that Ctrl-C stopped, its chunks at durable steps, as `interrupted`,
/// and returns the error that says so. A run stopped before it was planned stays
/// `pending`: nothing was submitted, and the daemon starts it as it would any other.
async fn record_interrupted(store: &Store, run: RunId, clock: &Clock) -> DaemonError {
    let recorded = async {
        let state = match store.run(run).await? {
            Some(record) => record.state,
            None => return Err(RunError::NotFound { run }),
        };
        if state == RunState::Running {
            let change = RunStateChange::new(RunState::Interrupted, clock.now());
            store.set_run_state(run, change).await?;
            return Ok(RunState::Interrupted);
        }
        Ok(state)
    };
    DaemonError::Runtime(match recorded.await {
        Ok(RunState::Interrupted) => anyhow::anyhow!(
            "interrupted: run {} is recorded `interrupted`; `balance-monitor run` resumes it from the batches already submitted (Rightfoot's 24-hour cache means nothing is paid twice)",
            run.0
        ),
        Ok(state) => anyhow::anyhow!(
            "interrupted: run {} is recorded `{state}`, nothing submitted yet; `balance-monitor run` starts it",
            run.0
        ),
        Err(error) => anyhow::anyhow!(
            "interrupted: run {} stays unfinished at a durable step and `balance-monitor run` resumes it, but recording it `interrupted` failed: {error}",
            run.0
        ),
    })
}

/// Ends `run-now` before anything is recorded when its first request shows that the
/// run cannot go on: no connection, no answer, or a refused key. The message names the
/// base URL, the status and where the key comes from, never the key. Other errors
/// (a `5xx`, a `429`) are left to the run's retries.
fn first_request(
    rightfoot: &config::RightfootConfig,
    checked: Result<(), crate::rightfoot::ApiError>,
) -> Result<(), DaemonError> {
    let Err(error) = checked else { return Ok(()) };
    if !crate::rightfoot::is_fatal_first_error(&error) {
        tracing::warn!(error = %error, "Rightfoot's first answer was an error; the run retries");
        return Ok(());
    }
    let status = error
        .http_status()
        .map_or_else(|| "no HTTP status".to_string(), |s| format!("HTTP {s}"));
    Err(DaemonError::Runtime(anyhow::anyhow!(
        "Rightfoot at {} cannot be used ({status}): {error}; the API key comes from {}; nothing was submitted and no run was recorded",
        rightfoot.base_url,
        rightfoot.api_key_source
    )))
}

/// What `run-now` did: the run, what the rules made of it, and the delivery of the
/// notifications it queued.
#[derive(Debug)]
pub struct RunNowReport {
    pub summary: RunSummary,
    pub judged: Vec<Judged>,
    /// One delivery attempt of everything due; `None` when nothing was queued.
    pub delivery: Option<crate::alerting::DeliveryRound>,
    /// Each authorizer of the run without a balance (rejected, failed with its code and
    /// meaning, not retrieved), ids only; empty when there is none.
    pub unsuccessful: String,
}

/// Makes one attempt to deliver what the judgement (of the run, and of any earlier run
/// left unjudged) queued. What is not delivered stays queued for the daemon.
async fn deliver(
    alerting: Alerting,
    clock: Clock,
    run: JudgedRun,
) -> Result<RunNowReport, DaemonError> {
    let mut judged = Vec::new();
    for outcome in run.judged {
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
        summary: run.summary,
        judged,
        delivery,
        unsuccessful: String::new(),
    })
}

/// What `run-now` prints after the summary: the authorizers without a balance, then
/// the alerts and their delivery.
pub fn render_alerts(report: &RunNowReport) -> String {
    use std::fmt::Write as _;
    let mut out = report.unsuccessful.clone();
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
