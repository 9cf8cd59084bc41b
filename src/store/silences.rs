//! Silences ([`Silences`]): an operator's "no notifications about this for a while",
//! kept across restarts, and the alerts a silence held back from every route.
//!
//! A silence names one authorizer, and optionally one monitor and one rule; it lasts
//! from `starts_at` to `ends_at`, or until it is expired early. The store keeps the rows
//! and answers which exist: which alerts a silence matches, and what a digest leaves
//! out, is `alerting`'s decision (`alerting/silences.rs`).
//!
//! An alert that fired or was reminded about while silenced is *held*: no route heard
//! of it. The flag lives on the alert's row (written with the judgement that held it),
//! so a restart keeps it, and the first judgement after the silence ends carries the
//! alert in its digest and clears the flag.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::MonitorId;

/// A silence to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSilence {
    pub authorizer_unique_id: String,
    /// Only this monitor's alerts; every monitor's when `None`.
    pub monitor: Option<String>,
    /// Only this rule's alerts (a kind, `below_payment`, or one rule, `balance_below#2`);
    /// every rule's when `None`.
    pub rule: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The OS user who set it.
    pub created_by: String,
    pub comment: String,
}

/// A stored silence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceRecord {
    pub id: i64,
    /// As set; its `ends_at` is moved earlier when it is expired early.
    pub silence: NewSilence,
    /// When it was ended early, if it was.
    pub ended_early_at: Option<DateTime<Utc>>,
}

impl SilenceRecord {
    /// Whether it is in force at `at`.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.silence.starts_at <= at && at < self.silence.ends_at
    }
}

/// A firing alert that a silence held back from every route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAlert {
    pub fingerprint: String,
    pub authorizer_unique_id: Option<String>,
    /// The rule's identity, `balance_below#1`.
    pub rule: String,
    pub severity: String,
    pub reason: Option<String>,
}

/// The silences, and the alerts they held.
pub trait Silences: Send + Sync {
    /// Stores a silence; returns its id.
    fn add_silence(&self, silence: NewSilence) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// The silences still in force or still to come at `at` (every stored one when
    /// `None`), by id.
    fn silences(
        &self,
        at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<SilenceRecord>, StoreError>>;

    /// Ends silence `id` at `at`. `None` when there is no such silence; the record as it
    /// is otherwise (unchanged when it had ended already).
    fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<SilenceRecord>, StoreError>>;

    /// The firing alerts of `monitor` that a silence held back, by fingerprint.
    fn held_alerts(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Vec<HeldAlert>, StoreError>>;
}
