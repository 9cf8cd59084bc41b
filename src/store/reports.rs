//! The read side for operators at a terminal: an authorizer's checks across runs, the
//! recent runs with their counts, and what a run notified.
//!
//! These are the queries behind `balance-monitor history` and `runs`; the rendering is
//! `report`'s. They read through the pool (WAL: never waiting for a run's writes) and
//! each answers from one snapshot.
//!
//! The outbox has no run column: a notification belongs to the run its JSON payload
//! names, as `run_id` or as `run.id` (the shape of the webhook payload, version 1). The
//! retention rules use the same link to keep the runs of undelivered notifications.

use std::fmt;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{MonitorId, RunId, RunRecord};
use crate::domain::Cents;

/// What became of one authorizer in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckOutcome {
    /// Rightfoot returned a result: a balance, or a failed check with its code.
    Retrieved,
    /// The run stopped waiting before a result came.
    NotRetrieved,
    /// Rightfoot refused the authorizer at submission.
    Rejected,
    /// Pre-flight validation kept the authorizer out of the run; nothing was sent.
    PreflightRejected,
}

impl CheckOutcome {
    /// `retrieved`, `not_retrieved`, `rejected` or `preflight_rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Retrieved => "retrieved",
            CheckOutcome::NotRetrieved => "not_retrieved",
            CheckOutcome::Rejected => "rejected",
            CheckOutcome::PreflightRejected => "preflight_rejected",
        }
    }

    pub(super) fn from_db(text: &str) -> Option<CheckOutcome> {
        [
            CheckOutcome::Retrieved,
            CheckOutcome::NotRetrieved,
            CheckOutcome::Rejected,
            CheckOutcome::PreflightRejected,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == text)
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which checks of an authorizer to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    pub authorizer_unique_id: String,
    /// Only runs that started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// One authorizer in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizerCheck {
    pub run: RunId,
    pub monitor_name: String,
    /// When the run started (when it was created, if it never started).
    pub run_time: DateTime<Utc>,
    pub outcome: CheckOutcome,
    pub balance: Option<Cents>,
    pub balance_status_code: Option<i64>,
    /// Rightfoot's `timestamp` for a retrieved result.
    pub retrieved_at: Option<DateTime<Utc>>,
    /// Why it was not retrieved or was rejected.
    pub reason: Option<String>,
    /// The balance of the latest earlier check that returned one, across monitors,
    /// even when that check is older than `since` or beyond `limit`.
    pub previous_balance: Option<Cents>,
}

/// A run's results by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Retrieved with status code 0.
    pub succeeded: u32,
    /// Retrieved with any other status code.
    pub failed: u32,
    pub not_retrieved: u32,
    /// Refused by Rightfoot at submission.
    pub rejected: u32,
    /// Kept out by pre-flight validation.
    pub preflight_rejected: u32,
}

/// A run's notifications in the outbox, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    pub delivered: u32,
    /// Waiting for a first or a further attempt.
    pub pending: u32,
    /// Given up on.
    pub failed: u32,
}

impl RunCounts {
    /// Counts `number` results with `outcome` (as stored), `succeeded` when their status
    /// code is 0.
    pub(crate) fn add(&mut self, outcome: &str, succeeded: Option<bool>, number: u32) {
        match (outcome, succeeded) {
            ("retrieved", Some(true)) => self.succeeded += number,
            ("retrieved", _) => self.failed += number,
            ("not_retrieved", _) => self.not_retrieved += number,
            _ => self.rejected += number,
        }
    }
}

impl NotificationCounts {
    /// Counts `number` notifications in outbox `state` (as stored).
    pub(crate) fn add(&mut self, state: &str, number: u32) {
        match state {
            "delivered" => self.delivered += number,
            "failed" => self.failed += number,
            _ => self.pending += number,
        }
    }
}

/// One run in the list of recent runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOverview {
    pub run: RunRecord,
    pub counts: RunCounts,
    pub notifications: NotificationCounts,
}

/// A notification of a run that has not been delivered (yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndeliveredNotification {
    pub route: String,
    /// `pending` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

/// What a run set off: the alerts it last evaluated, and its notifications.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunNotifications {
    /// Alerts whose latest evaluation was this run, by state.
    pub alerts_firing: u32,
    pub alerts_resolved: u32,
    pub counts: NotificationCounts,
    /// Pending and failed notifications, oldest first.
    pub undelivered: Vec<UndeliveredNotification>,
}

impl RunNotifications {
    /// Counts `number` of the run's alerts in `state` (as stored; never pending).
    pub(crate) fn add_alerts(&mut self, state: &str, number: u32) {
        match state {
            "firing" => self.alerts_firing = number,
            _ => self.alerts_resolved = number,
        }
    }
}

/// The read side for operators at a terminal.
pub trait Reports: Send + Sync {
    /// The checks of one authorizer, newest run first, with the balance each one
    /// changed from. `None` when the store has never seen the authorizer (no result,
    /// no chunk membership, no pre-flight rejection).
    fn authorizer_checks(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>>;

    /// The id of the monitor called `name`, if the store has one.
    fn monitor_id<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<MonitorId>, StoreError>>;

    /// The latest `limit` runs, of one monitor or of all, newest first, with their
    /// counts and notifications.
    fn recent_runs(
        &self,
        monitor: Option<MonitorId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunOverview>, StoreError>>;

    /// The alerts `run` evaluated last and the notifications it queued.
    fn run_notifications(&self, run: RunId) -> BoxFuture<'_, Result<RunNotifications, StoreError>>;
}
