//! Alerting: judging each finished run with the monitor's rules, and delivering what
//! they announce through a durable outbox.
//!
//! ```text
//! finished run ─► judge ─► rules::Evaluator, a page of ids at a time (the run's checks
//!                   │       and the state before, read from the store in id order)
//!                   └─► one transaction fed page by page: memory, alert rows, one
//!                       queued digest per route, and the run marked judged
//!                                   │
//!                  outbox worker ◄──┘  (woken at once; otherwise when the next is due)
//!                       │
//!                       └─► notify::Notifier::send (email, webhook) ─► delivered |
//!                           retry with backoff | failed (permanent, or past give_up_after)
//! ```
//!
//! **Exactly once, then at least once.** A run is judged once: the transaction that
//! stores its transitions also sets the run's `alerts_evaluated_at`, and refuses a run
//! already judged. A run that finished just before a crash is judged at the next start
//! ([`Alerting::judge_pending`] runs before the scheduler). The notifications it queued
//! are delivered at least once: the worker marks a row delivered only after the server
//! accepted it, so a crash mid-send sends it again, with the same idempotency key (the
//! email's `Message-ID`, the webhook's `Idempotency-Key`), for the receiver to drop.
//!
//! **One digest per route per run.** Every announced transition of a run goes into one
//! digest for each of the monitor's routes; never a message per authorizer.
//!
//! **Silences.** A judgement reads the silences in force and the alerts they held
//! back; `silences.rs` leaves silenced transitions out of the digests (a digest left
//! empty is not queued), marks those alerts held in the same transaction, and carries
//! the held ones that still fire once their silence has ended. The rules never see a
//! silence, and the alerts' state in the store is the same with or without one.
//!
//! **What it does not do.** It does not decide what fires (`rules`), render or send
//! messages (`notify`), or decide when runs happen (`scheduler`). The lender's metadata
//! (`below_payment`'s field and the `alert_fields`) comes from the run's own plan: the
//! run's outcome carries it, and for a run an earlier process finished but did not
//! judge, the store kept those fields when the run was planned. The authorizer file is
//! never read here, so an edit after a run's plan cannot change its alerts.
//!
//! **Live configuration.** Each judgement and each delivery round reads the current
//! value of the daemon's `watch` of the configuration, so a reload reaches the next
//! one; nothing is copied at start-up.

mod judge;
mod metadata_pages;
pub mod outbox;
pub mod payload;
mod rows;
pub mod silences;
mod test_alert;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::{Mutex, Notify, watch};

use crate::clock::Clock;
use crate::config::{Config, Monitor, RuleKind};
use crate::domain::RunId;
use crate::notify::digest::FieldLabel;
use crate::rules;
use crate::store::{Store, StoreError};

use judge::JudgementInput;

pub use outbox::{DeliveryRound, Outbox};
pub use test_alert::{TestAlertError, send_test, test_digest};

/// Why a run could not be judged. The run stays unjudged and is tried again after the
/// next run of its monitor, or at the next start.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process judged the run first; the next one is due.
    #[error("the run was judged by another process meanwhile")]
    Raced,
    #[error("run {run}: {source}")]
    Rules {
        run: i64,
        #[source]
        source: rules::RulesError,
    },
    /// The judgement stopped before it ended (the process is shutting down).
    #[error("run {run}: the judgement stopped: {message}")]
    Stopped { run: i64, message: String },
}

/// What judging one run came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub run: RunId,
    pub monitor: String,
    pub fired: usize,
    pub reminders: usize,
    pub resolved: usize,
    /// Alerts firing after the run.
    pub firing: usize,
    /// Digests queued, one per route.
    pub queued: Vec<String>,
    /// One line per rule and reason that skipped authorizers.
    pub skips: Vec<String>,
    /// The run's authorizers without a balance, as `run-now` lists them
    /// (`run::unsuccessful::listing`), from the checks the judgement read anyway.
    pub unsuccessful: String,
}

/// Judges runs and owns the outbox. Cheap to clone; clones share the configuration,
/// the judging lock and the outbox's wake-up.
#[derive(Clone, Debug)]
pub struct Alerting {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    clock: Clock,
    /// The live configuration: read at the start of each judgement and delivery round.
    config: watch::Receiver<Arc<Config>>,
    /// Judging is serialised: runs of one monitor must be judged in order, and judging is
    /// short next to a run.
    judging: Mutex<()>,
    wake: Notify,
}

impl Alerting {
    /// Alerting with one configuration for good (`run-now`, tests).
    pub fn new(store: Store, clock: Clock, config: Arc<Config>) -> Alerting {
        // The sender may go: a receiver keeps reading the last value sent.
        let (_, config) = watch::channel(config);
        Alerting::live(store, clock, config)
    }

    /// Alerting that follows the daemon's live configuration.
    pub fn live(store: Store, clock: Clock, config: watch::Receiver<Arc<Config>>) -> Alerting {
        Alerting {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                judging: Mutex::new(()),
                wake: Notify::new(),
            }),
        }
    }

    /// The configuration as it is now.
    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.inner.config.borrow())
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Tells the outbox worker that notifications were queued.
    pub fn wake_outbox(&self) {
        self.inner.wake.notify_one();
    }

    pub(crate) fn woken(&self) -> &Notify {
        &self.inner.wake
    }

    /// Judges every finished, unjudged run of every configured monitor, oldest first.
    pub async fn judge_all(&self) -> Vec<Result<Judged, AlertingError>> {
        let config = self.config();
        let mut out = Vec::new();
        for monitor in &config.monitors {
            out.extend(self.judge_pending(&monitor.name).await);
        }
        out
    }

    /// Judges the finished, unjudged runs of `monitor`, oldest first, and wakes the
    /// outbox if anything was queued. Stops at the first run that cannot be judged.
    pub async fn judge_pending(&self, monitor: &str) -> Vec<Result<Judged, AlertingError>> {
        let _turn = self.inner.judging.lock().await;
        let config = self.config();
        let Some(monitor) = config.monitors.iter().find(|m| m.name == monitor) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        loop {
            match self.judge_next(&config, monitor).await {
                Ok(Some(judged)) => {
                    log_judged(&judged);
                    let queued = !judged.queued.is_empty();
                    out.push(Ok(judged));
                    if queued {
                        self.wake_outbox();
                    }
                }
                Ok(None) => break,
                Err(AlertingError::Raced) => continue,
                Err(error) => {
                    tracing::error!(monitor = %monitor.name, %error, "alert rules could not judge a run; it is tried again after the next run");
                    out.push(Err(error));
                    break;
                }
            }
        }
        out
    }

    async fn judge_next(
        &self,
        config: &Config,
        monitor: &Monitor,
    ) -> Result<Option<Judged>, AlertingError> {
        let store = &self.inner.store;
        let monitor_id = store.ensure_monitor(&monitor.name).await?;
        let Some(run) = store.next_unjudged_run(monitor_id).await? else {
            return Ok(None);
        };
        let run_id = run.record.id;
        let now = self.inner.clock.now();
        let input = JudgementInput {
            monitor: monitor.clone(),
            monitor_id,
            run,
            held: store.held_alerts(monitor_id).await?,
            silences: store.silences(Some(now)).await?,
            routes: monitor
                .routes
                .iter()
                .filter(|route| config.routes.contains_key(*route))
                .cloned()
                .collect(),
            now,
            page: judge::PAGE,
        };
        let Some(outcome) = judge::judge(store, input).await? else {
            // Judged meanwhile by another process sharing the database: take the next.
            return Err(AlertingError::Raced);
        };
        for fingerprint in &outcome.unreadable {
            tracing::warn!(%fingerprint, "an open alert names a rule or severity this version does not know; it is left as it is");
        }
        // Needed no more. If this fails, the rows go with the run at retention.
        if let Err(error) = store.forget_judgement_metadata(run_id).await {
            tracing::warn!(run = run_id.0, %error, "the judged run's stored metadata fields could not be deleted");
        }
        Ok(Some(Judged {
            run: run_id,
            monitor: monitor.name.clone(),
            ..outcome.judged
        }))
    }
}

fn log_judged(judged: &Judged) {
    tracing::info!(
        monitor = %judged.monitor,
        run = judged.run.0,
        fired = judged.fired,
        reminders = judged.reminders,
        resolved = judged.resolved,
        firing = judged.firing,
        routes = %crate::text::names(&judged.queued),
        "alert rules judged the run"
    );
    for skip in &judged.skips {
        tracing::warn!(monitor = %judged.monitor, run = judged.run.0, "{skip}");
    }
}

/// How the monitor's `alert_fields` are shown: each under its label, a
/// `below_payment` rule's field as money.
pub(crate) fn field_labels(monitor: &Monitor) -> Vec<FieldLabel> {
    monitor
        .alert_fields
        .iter()
        .zip(&monitor.alert_labels)
        .map(|(field, label)| FieldLabel {
            field: field.clone(),
            label: label.clone(),
            money: monitor.rules.iter().any(
                |rule| matches!(&rule.kind, RuleKind::BelowPayment { field: f, .. } if f == field),
            ),
        })
        .collect()
}

/// A fresh idempotency key: random, so keys never repeat across databases.
pub fn idempotency_key() -> String {
    format!("bm-{}", uuid::Uuid::new_v4().simple())
}
