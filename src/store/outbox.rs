//! The notification outbox ([`Outbox`]): the delivery worker's bookkeeping, what is due
//! and what became of each attempt.
//!
//! Notifications enter the outbox with the judgement that set them off
//! ([`AlertState::commit_judgement`](super::AlertState::commit_judgement)), or alone (a
//! test notification). Delivering is `notify`'s and `alerting`'s work, not the
//! store's.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;

/// A notification to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub route: String,
    pub idempotency_key: String,
    /// JSON text; it names its run as `run_id`.
    pub payload: String,
    pub monitor: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A notification waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedNotification {
    pub id: i64,
    pub route: String,
    pub idempotency_key: String,
    pub payload: String,
    pub monitor: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: u32,
}

/// What an attempt to deliver came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// A transient failure: try again at `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Permanent, or out of time: no further attempt.
    Failed {
        error: String,
    },
}

/// One notification's row, for tests and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: i64,
    pub route: String,
    pub idempotency_key: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What is due, and each attempt's outcome.
pub trait Outbox: Send + Sync {
    /// Queues one notification outside a judgement (a test notification).
    fn queue_notification(
        &self,
        notification: NewNotification,
    ) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// Pending notifications due at `now`, oldest first, at most `limit`.
    fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<QueuedNotification>, StoreError>>;

    /// When the next pending notification is due, if any is pending.
    fn next_notification_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>>;

    /// Records an attempt to deliver notification `id` made at `at`.
    fn record_attempt(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Every notification, oldest first.
    fn notifications(&self) -> BoxFuture<'_, Result<Vec<NotificationRecord>, StoreError>>;
}
