//! The long-running commands: `balance-monitor run` (the daemon) and `run-now`.
//!
//! This module wires the pieces together and owns the process lifecycle; the work
//! itself belongs to the modules it wires. `live.rs` is the live configuration and
//! reload, `leadership.rs` the leadership lease of the daemons sharing a PostgreSQL
//! database (with SQLite the process always leads), `term.rs` the work only a leader
//! does, `pipeline.rs` the one run pipeline (run, then judgement) that scheduled runs,
//! resumed runs and `run-now` share, `run_now.rs` the foreground run and its rendering,
//! `online.rs` the `check-config --online` checks of every outside dependency,
//! `signals.rs` the Unix signals. `run` loads the configuration, opens the store and
//! checks it (an integrity check and a test write: a corrupt or unwritable database
//! stops the daemon with exit 1 before any run is scheduled), makes it live, binds the
//! HTTP listener (the read API behind `http.token`, `/readyz` following the monitors
//! through a `watch` updated on reload, `/metrics` fed by the one request recorder every
//! client it builds shares, `/healthz` naming the role), and stands by until it leads.
//! As leader it judges what a previous leader left unjudged, starts the outbox, resumes
//! the runs left unfinished, starts the scheduler (and, with `storage.retention`, the
//! hourly pruning task of [`crate::retention`]); when the lease is lost it stops all of
//! that and stands by again. systemd hears it is ready once, as leader or standby. Then
//! it waits for signals:
//! - SIGTERM or SIGINT: stop starting new work, let in-flight runs reach a durable step
//!   (every stored step is resumable) within [`SHUTDOWN_TIMEOUT`], give up the lease,
//!   then return `Ok`;
//! - SIGHUP: reload ([`live::reload`]). The new configuration is validated first; if it
//!   is bad the old one stays and the problems are logged; if it is good, it becomes
//!   the live value every part reads at its next unit of work, the leader's scheduler
//!   is given the new monitors (in-flight runs are not dropped), and new runs use the
//!   new settings.
//!
//! Every task belongs to the daemon's `CancellationToken` and `TaskTracker` (the
//! listener, the watchdog) or to the current term's (the leader's work). The daemon
//! reads the process environment only through the [`Environment`] snapshot `main` took.

mod leadership;
mod live;
mod online;
mod pipeline;
mod run_now;
mod signals;
mod term;

pub use live::{LiveConfig, reload};
pub use online::{OnlineReport, check_online};
pub use pipeline::{
    JudgedRun, Launcher, RunStart, STORE_RETRY, resume_unfinished, run_to_judgement,
    run_to_judgement_healing,
};
pub use run_now::{Progress, RunNowReport, is_complete, render_alerts, render_summary, run_now};
pub use signals::{forward_signals, shutdown_signal};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{Alerting, Outbox};
use crate::clock::Clock;
use crate::completions::Completions;
use crate::config::{self, Config, ConfigError, RightfootConfig};
use crate::http::{Access, HttpState};
use crate::rightfoot::{ClientConfig, RequestMetrics, RightfootClient};
use crate::secret::Environment;
use crate::store::Store;
use crate::systemd::Notifier;
use leadership::Election;
use term::{Duties, Term};

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

/// Opens the store and refuses a damaged one before anything is scheduled or sent: an
/// integrity check (`Maintenance::quick_check`), then the schema version and a test
/// write (`Maintenance::check_writable`).
async fn open_store(config: &Config) -> Result<Store, DaemonError> {
    let described = config.storage.describe();
    let store = config
        .storage
        .open_store()
        .await
        .with_context(|| format!("cannot open the database {described}"))
        .map_err(DaemonError::Runtime)?;
    let checked = async {
        store.quick_check().await?;
        store.check_writable().await
    };
    if let Err(error) = checked.await {
        store.close().await;
        return Err(DaemonError::Runtime(anyhow::Error::new(error).context(
            format!(
                "the database {described} failed its start-up check; nothing was scheduled or sent"
            ),
        )));
    }
    Ok(store)
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
    let (controls, forwarder) = forward_signals()?;
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
    let config = config::load(config_path, env)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let notifier = Notifier::from_environment(env);
    let store = open_store(&config).await?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let completions = Completions::default();
    // One recorder for every client the daemon builds, so a reload keeps the figures.
    let rightfoot_metrics = RequestMetrics::default();
    let live = Arc::new(LiveConfig::new(
        config,
        store.clone(),
        clock.clone(),
        completions.clone(),
        rightfoot_metrics.clone(),
    )?);
    let mut election = Election::new(
        store.clone(),
        &live.config().storage,
        crate::run::holder(),
        live.run_context().superseded,
    );
    let alerting = Alerting::live(store.clone(), clock.clone(), live.subscribe());
    let outbox = Outbox::new(
        alerting.clone(),
        crate::notify::Notifier::new(clock.clone())
            .map_err(|e| DaemonError::Runtime(anyhow::Error::new(e)))?,
    );
    let duties = Duties {
        store: store.clone(),
        clock: clock.clone(),
        launcher: Launcher::new(Arc::clone(&live), alerting.clone(), notifier.clone()),
        live: Arc::clone(&live),
        alerting: alerting.clone(),
        outbox,
    };

    // The read side serves a standby as well as the leader.
    let config = live.config();
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let listening = listener
        .local_addr()
        .context("the listener has no address")?;
    // Tokens and the webhook's path are read from the live configuration on each
    // request; `/readyz` follows the monitors through reloads.
    let http_state = HttpState {
        store: store.clone(),
        completions: completions.clone(),
        clock: clock.clone(),
        access: Access::Live(live.subscribe()),
        monitors: live.monitors(),
        rightfoot_metrics,
        started_at: clock.now(),
        sessions: Default::default(),
        wake_outbox: Some({
            let alerting = alerting.clone();
            Arc::new(move || alerting.wake_outbox())
        }),
        role: election.view(),
    };
    tracker.spawn(crate::http::serve(
        listener,
        http_state,
        cancel.clone().cancelled_owned(),
    ));

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
    tracing::info!(monitors = config.monitors.len(), listen = %listening, "balance-monitor started");
    drop(config);

    // Standby until the lease is ours, leader until it is lost, and again, until a stop.
    let mut ready = false;
    loop {
        let mut stopping = false;
        while !stopping && !election.try_take().await {
            if !ready {
                notifier.ready("standing by: another daemon leads");
                ready = true;
            }
            let retry = election.interval().unwrap_or(SHUTDOWN_TIMEOUT);
            tokio::select! {
                control = controls.recv() => match control {
                    Some(Control::Reload) => {
                        notifier.reloading();
                        reload(config_path, env, &live, None, &alerting).await;
                        notifier.ready("standing by: another daemon leads");
                    }
                    None | Some(Control::Stop) => stopping = true,
                },
                _ = tokio::time::sleep(retry) => {}
            }
        }
        if stopping {
            break;
        }
        let renewal = election.keep();
        let lost = renewal.lost();
        let mut term = match Term::begin(&duties).await {
            Ok(term) => term,
            // Lost while starting: the writes that failed were fenced.
            Err(_) if lost.is_cancelled() => {
                renewal.stop().await;
                election.step_down(false).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        let watching = || format!("watching {} monitor(s)", live.config().monitors.len());
        notifier.ready(&watching());
        ready = true;
        let stopping = loop {
            tokio::select! {
                control = controls.recv() => match control {
                    Some(Control::Reload) => {
                        notifier.reloading();
                        reload(config_path, env, &live, Some(term.scheduler()), &alerting).await;
                        notifier.ready(&watching());
                    }
                    None | Some(Control::Stop) => break true,
                },
                _ = lost.cancelled() => break false,
            }
        };
        if stopping {
            tracing::info!(
                "stopping: no new runs; waiting for runs in flight to reach a durable step"
            );
            notifier.stopping();
        }
        // Renewed until the work has stopped, so a stop does not hand over mid-write.
        let stopped = term.end().await;
        renewal.stop().await;
        if !stopped && !stopping {
            // Work of the lost term still runs (its writes are refused): this process
            // must not lead again beside it, so it stops and systemd starts it afresh.
            cancel.cancel();
            tracker.close();
            store.close().await;
            return Err(DaemonError::Runtime(anyhow::anyhow!(
                "the leadership was lost and the leader's work did not stop within {}s",
                SHUTDOWN_TIMEOUT.as_secs()
            )));
        }
        election.step_down(stopping).await;
        if stopping {
            break;
        }
    }

    cancel.cancel();
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
