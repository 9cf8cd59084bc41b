//! What the web dashboard reads beyond the API's pages and the terminal's reports, and
//! the one write it makes to the outbox ([`Dashboard`]).
//!
//! Each method answers one question a page asks, in one read transaction, through an
//! index: alerts firing by monitor and severity, the outbox's backlog, how many
//! authorizers were at risk at a run's instant, the alerts a run left, an authorizer's
//! alerts, filtered pages of alerts, the undelivered notifications, and "retry now".
//! It decides nothing about what the numbers mean; the pages do.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::queries::{AlertRecord, AlertStateFilter, Paged};
use super::reports::AuthorizerCheck;
use super::types::{MonitorId, RunId};

/// How many alerts of one monitor and severity are firing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiringCount {
    pub monitor_name: String,
    pub severity: String,
    pub count: u64,
}

/// The notifications of one monitor (`None`: a test notification) not delivered yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub monitor: Option<String>,
    pub pending: u64,
    pub failed: u64,
}

/// A notification waiting for delivery or given up on, without its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndeliveredRow {
    pub id: i64,
    pub route: String,
    pub monitor: Option<String>,
    /// `pending` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// Which alerts a page of [`Dashboard::alerts_filtered`] holds. `None` matches any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub state: Option<AlertStateFilter>,
    pub monitor: Option<String>,
    pub severity: Option<String>,
    /// A rule (`balance_below#2`) or a rule kind (`balance_below`, every ordinal).
    pub rule: Option<String>,
}

/// The dashboard's reads, and "retry now".
pub trait Dashboard: Send + Sync {
    /// Alerts firing now, counted by monitor and severity, ordered by both.
    fn firing_alert_counts(&self) -> BoxFuture<'_, Result<Vec<FiringCount>, StoreError>>;

    /// Notifications not delivered (pending or failed), counted by the monitor they
    /// belong to, ordered by monitor (test notifications first).
    fn outbox_backlog(&self) -> BoxFuture<'_, Result<Vec<OutboxBacklog>, StoreError>>;

    /// For each of `instants`, how many distinct authorizers of `monitor` had an alert
    /// firing at it: fired at or before it, and not resolved by then. An alert's times
    /// are its runs' instants (their slots), so at a run's instant this is the number
    /// of authorizers at risk once that run was judged. In the order of `instants`.
    fn at_risk_counts(
        &self,
        monitor: MonitorId,
        instants: Vec<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<u64>, StoreError>>;

    /// The alerts whose latest judgement was `run`'s (fired, kept firing or resolved by
    /// it), by id.
    fn run_alerts(&self, run: RunId) -> BoxFuture<'_, Result<Vec<AlertRecord>, StoreError>>;

    /// `authorizer`'s checks from runs since `since`, newest first, at most `limit`, each
    /// with the balance it changed from (the latest one before it, also from before
    /// `since`), as [`Reports::authorizer_checks`](super::Reports::authorizer_checks)
    /// answers, for a page's chart of years of daily checks: the previous balances
    /// come from one ordered pass, not a lookup per check. `None` when the store has
    /// never seen the authorizer.
    fn authorizer_timeline(
        &self,
        authorizer: String,
        since: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>>;

    /// `authorizer`'s alerts, newest first, at most `limit`.
    fn authorizer_alerts<'a>(
        &'a self,
        authorizer: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AlertRecord>, StoreError>>;

    /// Alerts newest first that match `filter`, older than `before` (an alert id) when
    /// given: a keyset page like [`ReadQueries::alerts_page`](super::ReadQueries::alerts_page).
    fn alerts_filtered(
        &self,
        filter: AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>>;

    /// Pending and failed notifications, oldest first, at most `limit`.
    fn undelivered(&self, limit: u32) -> BoxFuture<'_, Result<Vec<UndeliveredRow>, StoreError>>;

    /// Makes notification `id` due at `now`: a failed one becomes pending again, with
    /// its attempts and last error kept. `false` when there is no such notification or
    /// it was delivered.
    fn retry_notification(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
}

/// For each of `instants`, how many distinct authorizers have an episode spanning it
/// (fired at or before it, not resolved by then). `episodes` are `(authorizer, first
/// fired, resolved)`, sorted by authorizer; each backend passes its own time values.
pub(super) fn count_at_risk<T: PartialOrd>(
    episodes: &[(String, T, Option<T>)],
    instants: &[T],
) -> Vec<u64> {
    instants
        .iter()
        .map(|instant| {
            let mut counted: Option<&str> = None;
            let mut at_risk = 0u64;
            for (authorizer, fired, resolved) in episodes {
                let spans =
                    fired <= instant && resolved.as_ref().is_none_or(|resolved| resolved > instant);
                if spans && counted != Some(authorizer.as_str()) {
                    counted = Some(authorizer.as_str());
                    at_risk += 1;
                }
            }
            at_risk
        })
        .collect()
}

/// An authorizer's timeline from its checks oldest first (by run time, then run): each
/// check gets the latest balance of an earlier run (two lines of one run, a result and a
/// rejection, see neither); then those since `since`, newest first, at most `limit`.
pub(super) fn timeline(
    mut checks: Vec<AuthorizerCheck>,
    since: DateTime<Utc>,
    limit: u32,
) -> Vec<AuthorizerCheck> {
    let mut latest = None;
    let mut start = 0;
    while start < checks.len() {
        let key = (checks[start].run_time, checks[start].run);
        let end = start
            + checks[start..]
                .iter()
                .take_while(|c| (c.run_time, c.run) == key)
                .count();
        let mut newest = latest;
        for check in &mut checks[start..end] {
            check.previous_balance = latest;
            newest = check.balance.or(newest);
        }
        latest = newest;
        start = end;
    }
    checks.retain(|check| check.run_time >= since);
    checks.reverse();
    checks.truncate(limit as usize);
    checks
}
