//! The `BALANCE_BATCH_COMPLETED` webhook: when to send it, and sending it.
//!
//! Rightfoot's webhook page: the initial attempt is immediate, then retries come after
//! 1, 2 and 4 minutes, the interval doubling, for up to 30 minutes in all; delivery is
//! not guaranteed and the body carries no results. The sandbox follows that on its own
//! clock: attempts at +0, +1, +3, +7 and +15 minutes after the batch completes, and a
//! last one at +30 (the next doubling, +31, would leave the window, so it is clamped to
//! the window's end). A 2xx answer ends it; anything else, or no answer within the
//! configured timeout, is a failure. Every retry carries the same `event_uuid`.
//!
//! This module owns the retry schedule and the worker task that wakes when an attempt
//! is due (or when the clock jumps, or state changes) and makes it. It does not decide
//! when a batch completes ([`super::state`] does) and never logs the webhook URL,
//! which receivers are told to use for their own secret.

use std::sync::Arc;

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::App;
use super::models::BatchCompletedEvent;
use super::state::WebhookJob;

/// The retry window: no attempt is made later than this after the first.
pub const RETRY_WINDOW: TimeDelta = TimeDelta::minutes(30);

/// When attempt number `attempt` (1-based) is made, relative to the first attempt, or
/// `None` once the window is used up: 0, 1, 3, 7, 15, 30 minutes.
pub fn attempt_offset(attempt: u32) -> Option<TimeDelta> {
    if attempt == 0 {
        return None;
    }
    // Intervals 1, 2, 4, 8, ... minutes: attempt n (n >= 2) comes 2^(n-1) - 1 minutes in.
    let minutes = 2_i64.checked_pow(attempt - 1)? - 1;
    let offset = TimeDelta::minutes(minutes);
    if offset <= RETRY_WINDOW {
        return Some(offset);
    }
    // The first doubling past the window becomes one last attempt at its end.
    let previous = TimeDelta::minutes(2_i64.checked_pow(attempt - 2)? - 1);
    (previous < RETRY_WINDOW).then_some(RETRY_WINDOW)
}

/// Runs until `cancel`: starts every delivery that is due, then sleeps until the next
/// one is due (in real time, through the clock's speed), the clock jumps, or state
/// changes. Deliveries run as tasks on `tracker` so that shutdown can wait for them.
pub async fn run_worker(app: Arc<App>, cancel: CancellationToken, tracker: TaskTracker) {
    let mut clock_changes = app.clock.subscribe();
    let mut state_changes = app.state_changed.subscribe();
    loop {
        // Mark both as seen *before* looking, so a change made while we look wakes us.
        clock_changes.borrow_and_update();
        state_changes.borrow_and_update();
        let now = app.clock.now();
        let (due, next) = app.lock().due_webhooks(now);
        for job in due {
            tracker.spawn(deliver(Arc::clone(&app), job, cancel.clone()));
        }
        let wait = next.and_then(|at| app.clock.real_time_until(at));
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = clock_changes.changed() => if changed.is_err() { break },
            changed = state_changes.changed() => if changed.is_err() { break },
            _ = sleep_for(wait) => {}
        }
    }
}

async fn sleep_for(wait: Option<std::time::Duration>) {
    match wait {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// Makes one delivery attempt and records its result.
async fn deliver(app: Arc<App>, job: WebhookJob, cancel: CancellationToken) {
    let event = BatchCompletedEvent {
        event_uuid: &job.event_uuid,
        kind: "BALANCE_BATCH_COMPLETED",
        batch_id: &job.batch_id,
    };
    let body = match serde_json::to_vec(&event) {
        Ok(body) => body,
        Err(_) => return,
    };
    let request = app
        .http
        .post(job.url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send();
    let http_status = tokio::select! {
        _ = cancel.cancelled() => return,
        result = request => result.ok().map(|response| response.status().as_u16()),
    };
    // The error's text could contain the URL, so only the outcome is logged.
    tracing::info!(
        batch_id = %job.batch_id,
        attempt = job.attempt,
        status = http_status.map_or_else(|| "unreachable".to_string(), |s| s.to_string()),
        "sandbox webhook attempt"
    );
    let now = app.clock.now();
    let recorded = {
        let mut state = app.lock();
        state.record_webhook_attempt(&job, http_status, now, attempt_offset);
        state.webhook_log().len()
    };
    app.attempts_recorded.send_replace(recorded);
    app.notify_state_changed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_follow_the_documented_backoff_within_30_minutes() {
        let offsets: Vec<Option<i64>> = (0..=8)
            .map(|n| attempt_offset(n).map(|d| d.num_minutes()))
            .collect();
        assert_eq!(
            offsets,
            vec![
                None,
                Some(0),
                Some(1),
                Some(3),
                Some(7),
                Some(15),
                Some(30),
                None,
                None
            ]
        );
        assert_eq!(attempt_offset(u32::MAX), None);
    }
}
