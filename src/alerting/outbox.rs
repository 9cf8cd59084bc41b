//! The outbox's delivery worker: sends queued digests, retries transient failures with
//! exponential backoff until the route's `give_up_after`, and records every outcome.
//!
//! A row is marked delivered only after the server accepted it, so a crash or a stop
//! mid-send leaves it pending and it is sent again, with the same idempotency key. A
//! permanent failure (a 4xx other than 408 and 429, an SMTP 5xx, a message that cannot
//! be built, a route no longer configured) and a notification out of time are recorded
//! `failed` and logged at error: `runs show`, `/metrics` (`balance_monitor_outbox_failed`)
//! and the log all show them. Backoff: 30 s after the first failure, doubling, at most
//! 30 min apart, a `Retry-After` longer than that respected up to an hour, and a last
//! attempt at the deadline itself.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use super::{Alerting, payload};
use crate::backoff::{Backoff, Jitter};
use crate::notify::{Notifier, SendError};
use crate::store::{AttemptOutcome, QueuedNotification};

/// The delay after the first failed attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest delay between two attempts (unless the server asks for longer).
pub const MAX_RETRY: Duration = Duration::from_secs(30 * 60);
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How often the worker looks at the outbox when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(300);
/// Rows read per round.
const ROUND: u32 = 100;

/// What one pass over the due notifications did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// The delivery worker for one [`Alerting`].
#[derive(Clone, Debug)]
pub struct Outbox {
    alerting: Alerting,
    notifier: Notifier,
}

impl Outbox {
    pub fn new(alerting: Alerting, notifier: Notifier) -> Outbox {
        Outbox { alerting, notifier }
    }

    /// Delivers until cancelled: each pass sends what is due, then the worker sleeps
    /// until the next row is due, new rows are queued, or `IDLE_POLL` passes.
    ///
    /// A pass is not dropped on cancel: it abandons a send in flight, but records an
    /// attempt that has ended, so a notification the server accepted just before a stop
    /// is not left pending to be sent again.
    pub async fn run(self, cancel: CancellationToken) {
        let clock = self.alerting.clock().clone();
        loop {
            let pass = self.deliver_due(&cancel).await;
            if cancel.is_cancelled() {
                break;
            }
            let now = clock.now();
            let next = match pass {
                Ok(_) => match self.alerting.store().next_notification_due().await {
                    Ok(Some(due)) => due.max(now),
                    Ok(None) => now + IDLE_POLL,
                    Err(error) => {
                        tracing::error!(%error, "cannot read the outbox");
                        now + FIRST_RETRY
                    }
                },
                Err(error) => {
                    tracing::error!(%error, "cannot read the outbox");
                    now + FIRST_RETRY
                }
            };
            if next <= now {
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.alerting.woken().notified() => {}
                _ = clock.sleep_until(next) => {}
            }
        }
    }

    /// Sends every notification due now, one attempt each. On cancel it stops between
    /// rows, and abandons a send in flight, leaving that row pending; an attempt that
    /// has ended is always recorded.
    pub async fn deliver_due(
        &self,
        cancel: &CancellationToken,
    ) -> Result<DeliveryRound, crate::store::StoreError> {
        let store = self.alerting.store();
        let clock = self.alerting.clock();
        let mut round = DeliveryRound::default();
        loop {
            let due = store.due_notifications(clock.now(), ROUND).await?;
            if due.is_empty() {
                return Ok(round);
            }
            let mut progressed = false;
            for row in due {
                if cancel.is_cancelled() {
                    return Ok(round);
                }
                let outcome = self.attempt(&row).await;
                match &outcome {
                    AttemptOutcome::Delivered => round.delivered += 1,
                    AttemptOutcome::Retry { .. } => round.retrying += 1,
                    AttemptOutcome::Failed { .. } => round.failed += 1,
                }
                store.record_attempt(row.id, clock.now(), outcome).await?;
                progressed = true;
            }
            if !progressed {
                return Ok(round);
            }
        }
    }

    async fn attempt(&self, row: &QueuedNotification) -> AttemptOutcome {
        let config = self.alerting.config();
        let Some(route) = config.routes.get(&row.route) else {
            let error = format!("route {} is no longer configured", row.route);
            tracing::error!(route = %row.route, key = %row.idempotency_key, "notification failed permanently: {error}");
            return AttemptOutcome::Failed { error };
        };
        let digest = match payload::decode(&row.payload) {
            Ok(digest) => digest,
            Err(error) => {
                tracing::error!(route = %row.route, key = %row.idempotency_key, "notification failed permanently: {error}");
                return AttemptOutcome::Failed { error };
            }
        };
        let error = match self
            .notifier
            .send_linked(
                route,
                &digest,
                &row.idempotency_key,
                config.http.public_url.as_ref(),
            )
            .await
        {
            Ok(_) => return AttemptOutcome::Delivered,
            Err(error) => error,
        };
        let attempts = row.attempts + 1;
        if error.is_permanent() {
            tracing::error!(route = %row.route, key = %row.idempotency_key, attempts, %error, "notification failed permanently; it will not be retried");
            return AttemptOutcome::Failed {
                error: error.to_string(),
            };
        }
        let now = self.alerting.clock().now();
        let deadline = give_up_at(row.created_at, route.give_up_after);
        if now >= deadline {
            let error = format!(
                "gave up after {attempts} attempt(s) over {}: {error}",
                crate::config::duration::format_duration(route.give_up_after)
            );
            tracing::error!(route = %row.route, key = %row.idempotency_key, "notification failed: {error}");
            return AttemptOutcome::Failed { error };
        }
        let next = (now + backoff(attempts, &error)).min(deadline);
        tracing::warn!(route = %row.route, key = %row.idempotency_key, attempts, next_attempt = %next, %error, "notification not delivered; it will be retried");
        AttemptOutcome::Retry {
            error: error.to_string(),
            next_attempt_at: next,
        }
    }
}

/// The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, ... at most
/// 30 min, with up to 10% of jitter; a longer `Retry-After` (up to an hour) wins.
pub fn backoff(attempts: u32, error: &SendError) -> TimeDelta {
    let computed = Backoff {
        first: FIRST_RETRY,
        cap: MAX_RETRY,
        jitter: Jitter::AddedPercent(10),
    }
    .wait(attempts, fastrand::f64());
    let wait = match error.retry_after() {
        Some(asked) => computed.max(asked.min(MAX_RETRY_AFTER)),
        None => computed,
    };
    TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX)
}

/// When a notification queued at `created_at` is given up.
pub fn give_up_at(created_at: DateTime<Utc>, give_up_after: Duration) -> DateTime<Utc> {
    created_at + TimeDelta::from_std(give_up_after).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> SendError {
        SendError::WebhookTransport {
            route: "r".into(),
            detail: "connection refused".into(),
        }
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_a_little_jitter() {
        for (attempts, base) in [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (40, 1800)] {
            let wait = backoff(attempts, &transient()).num_milliseconds();
            let base = base * 1000;
            assert!(
                (base..=base + base / 10).contains(&wait),
                "attempt {attempts}: {wait} ms"
            );
        }
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_an_hour() {
        let asked = |secs| SendError::WebhookStatus {
            route: "r".into(),
            answer: crate::notify::ServerAnswer {
                status: 429,
                excerpt: None,
            },
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(backoff(1, &asked(600)).num_seconds(), 600);
        assert_eq!(backoff(1, &asked(86_400)).num_seconds(), 3600);
        assert!(backoff(1, &asked(1)).num_seconds() >= 30);
    }
}
