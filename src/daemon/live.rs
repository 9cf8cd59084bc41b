//! The live configuration: one `tokio::sync::watch` of `Arc<Config>`, and everything
//! derived from it, rebuilt in one place when a reload changes it.
//!
//! Long-lived parts hold a receiver and read the current value at the start of each
//! unit of work: alerting at each judgement, the outbox at each delivery round, the
//! HTTP listener at each request (the `http.token`, and the completion webhook's path
//! and token), the scheduler's launcher at each launch. Nothing copies a setting at
//! start-up and keeps it.
//!
//! What is derived lives here and nowhere else: the Rightfoot client and the run
//! settings (a [`RunContext`] per run, built from the value of the moment), the
//! monitors `/readyz` follows, and the in-flight bound, which is ONE [`InFlightLimit`]
//! for the daemon's lifetime, resized on reload, so that a run straddling a reload never
//! has more chunks in flight than the limit. [`reload`] validates first and builds what
//! can fail (the client) before anything changes: a refused reload changes nothing.
//!
//! This module does not decide what the scheduler does with the new monitors
//! (`Scheduler::apply`), and does not read the environment beyond the [`Environment`]
//! snapshot it is given.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;

use crate::alerting::Alerting;
use crate::clock::Clock;
use crate::completions::Completions;
use crate::config::{self, Config};
use crate::http::WatchedMonitor;
use crate::rightfoot::RequestMetrics;
use crate::run::{InFlightLimit, RunContext, RunSettings};
use crate::scheduler::Scheduler;
use crate::secret::Environment;
use crate::store::Store;

use super::{DaemonError, client_for};

/// The daemon's configuration of the moment and what is derived from it. Shared behind
/// an `Arc`; `std::sync::RwLock` for the run context: read once per run, written once
/// per reload, never held across an `.await`.
pub struct LiveConfig {
    config: watch::Sender<Arc<Config>>,
    monitors: watch::Sender<Arc<Vec<WatchedMonitor>>>,
    runs: RwLock<RunContext>,
    in_flight: InFlightLimit,
    /// One recorder for every client built, so a reload keeps the figures.
    metrics: RequestMetrics,
}

impl std::fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConfig")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl LiveConfig {
    /// The live configuration, starting at `config`. Fails if the Rightfoot client
    /// cannot be built from it.
    pub fn new(
        config: Config,
        store: Store,
        clock: Clock,
        completions: Completions,
        metrics: RequestMetrics,
    ) -> Result<LiveConfig, DaemonError> {
        let in_flight = InFlightLimit::new(config.rightfoot.max_in_flight_batches);
        let mut runs = RunContext::new(
            store,
            client_for(&config.rightfoot, metrics.clone())?,
            clock,
            RunSettings::from_config(&config.rightfoot),
            config.file.clone(),
        );
        runs.completions = completions;
        runs.in_flight = in_flight.clone();
        let (monitors, _) = watch::channel(WatchedMonitor::list(&config.monitors));
        let (config, _) = watch::channel(Arc::new(config));
        Ok(LiveConfig {
            config,
            monitors,
            runs: RwLock::new(runs),
            in_flight,
            metrics,
        })
    }

    /// The configuration as it is now.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }

    /// A receiver of the configuration, for a part that reads it at each unit of work.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// The monitors' schedules, for `/readyz`.
    pub fn monitors(&self) -> watch::Receiver<Arc<Vec<WatchedMonitor>>> {
        self.monitors.subscribe()
    }

    /// What a run started now needs: the current client and settings, and the one
    /// in-flight bound.
    pub fn run_context(&self) -> RunContext {
        self.runs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The one in-flight bound.
    pub fn in_flight(&self) -> &InFlightLimit {
        &self.in_flight
    }

    /// Makes `new` the live configuration, with everything derived from it. Nothing
    /// changes if the client cannot be built.
    pub fn replace(&self, new: Config) -> Result<(), DaemonError> {
        let current = self.run_context();
        let mut runs = RunContext::new(
            current.store,
            client_for(&new.rightfoot, self.metrics.clone())?,
            current.clock,
            RunSettings::from_config(&new.rightfoot),
            new.file.clone(),
        );
        runs.completions = current.completions;
        runs.in_flight = self.in_flight.clone();
        runs.superseded = current.superseded;
        self.in_flight.resize(new.rightfoot.max_in_flight_batches);
        *self.runs.write().unwrap_or_else(PoisonError::into_inner) = runs;
        self.monitors
            .send_replace(WatchedMonitor::list(&new.monitors));
        self.config.send_replace(Arc::new(new));
        Ok(())
    }
}

/// SIGHUP: validates the configuration again and makes it live, or keeps the running
/// one (and logs why). The scheduler is given the new monitors; in-flight runs go on.
pub async fn reload(
    path: &Path,
    env: &Environment,
    live: &LiveConfig,
    scheduler: Option<&mut Scheduler>,
    alerting: &Alerting,
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
    let current = live.config();
    if new.storage.describe() != current.storage.describe() {
        tracing::warn!(
            "storage.path or storage.postgres changed: the new database is used only after a restart"
        );
    }
    if new.storage.retention != current.storage.retention {
        tracing::warn!("storage.retention changed: the new retention is used only after a restart");
    }
    if new.http.listen != current.http.listen {
        tracing::warn!("http.listen changed: the new address is used only after a restart");
    }
    let warnings = new.warnings.clone();
    let monitors = new.monitors.clone();
    if let Err(error) = live.replace(new) {
        tracing::error!(%error, "reload refused, keeping the running configuration");
        return;
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let Some(scheduler) = scheduler else {
        tracing::info!("configuration reloaded; the schedules start when this daemon leads");
        return;
    };
    match scheduler.apply(&monitors).await {
        Ok(summary) => tracing::info!(
            added = %crate::text::names(&summary.added),
            changed = %crate::text::names(&summary.changed),
            removed = %crate::text::names(&summary.removed),
            max_in_flight_batches = live.in_flight().limit(),
            "configuration reloaded"
        ),
        Err(error) => tracing::error!(%error, "reload could not be applied to the schedules"),
    }
    // Routes may have changed: what waits in the outbox is tried with the new ones.
    alerting.wake_outbox();
}
