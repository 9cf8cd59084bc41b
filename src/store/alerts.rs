//! The alert side of the store ([`AlertState`]): what the rules remember between runs
//! (balance memory and open alerts), the runs still to be judged, and the checks of a
//! run as the rules see them.
//!
//! The store does not judge anything: it keeps rows. [`AlertState::commit_judgement`]
//! writes one judged run (memory, alert rows, queued notifications and the mark that the
//! run was judged) atomically, and refuses a run that was judged already, so a run is
//! judged exactly once across crashes and restarts. The notifications it queues are the
//! outbox's (`outbox.rs`).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::error::StoreError;
use super::outbox::NewNotification;
use super::types::{MonitorId, RunId, RunRecord};
use crate::domain::Cents;

/// The peaks of a balance memory as stored (both backends keep the same text):
/// `[["2024-08-09T18:10:44.000000Z", cents], ...]`.
pub(super) fn peaks_text(peaks: &[(DateTime<Utc>, Cents)]) -> String {
    let raw: Vec<(String, i64)> = peaks
        .iter()
        .map(|(at, cents)| {
            (
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                cents.0,
            )
        })
        .collect();
    serde_json::to_string(&raw).unwrap_or_else(|_| "[]".to_string())
}

/// [`peaks_text`] read back.
pub(super) fn parse_peaks(text: &str) -> Result<Vec<(DateTime<Utc>, Cents)>, String> {
    let raw: Vec<(String, i64)> = serde_json::from_str(text).map_err(|e| format!("peaks: {e}"))?;
    raw.into_iter()
        .map(|(at, cents)| {
            DateTime::parse_from_rfc3339(&at)
                .map(|at| (at.with_timezone(&Utc), Cents(cents)))
                .map_err(|e| format!("peaks: {e}"))
        })
        .collect()
}

/// One authorizer's balance memory (`balance_memory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRow {
    pub authorizer_unique_id: String,
    pub first_checked_at: DateTime<Utc>,
    /// The latest successful balance and the run instant it stands for.
    pub last_success: Option<(DateTime<Utc>, Cents)>,
    /// Oldest first.
    pub peaks: Vec<(DateTime<Utc>, Cents)>,
}

/// Whether an open alert has fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenPhase {
    Pending,
    Firing {
        fired_at: DateTime<Utc>,
        last_notified_at: DateTime<Utc>,
    },
}

impl OpenPhase {
    /// The phase as stored: the state, when it first fired and when it was last
    /// notified (neither for a pending alert).
    pub(crate) fn stored(&self) -> (&'static str, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        match *self {
            OpenPhase::Pending => ("pending", None, None),
            OpenPhase::Firing {
                fired_at,
                last_notified_at,
            } => ("firing", Some(fired_at), Some(last_notified_at)),
        }
    }
}

/// One pending or firing alert (`alerts` with state `pending` or `firing`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAlertRow {
    pub fingerprint: String,
    /// `None` for an alert about the monitor's runs.
    pub authorizer_unique_id: Option<String>,
    /// The rule's identity, `balance_below#1`.
    pub rule: String,
    pub severity: String,
    pub phase: OpenPhase,
    pub hits: u32,
    pub clears: u32,
}

/// A change to one alert row, written by [`AlertState::commit_judgement`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertWrite {
    /// The alert is open (pending or firing) with these values: the open row of its
    /// fingerprint is updated, or inserted. `reason` replaces the stored sentence when
    /// given.
    Open {
        row: OpenAlertRow,
        reason: Option<String>,
    },
    /// The open alert resolved at `at`.
    Resolve {
        fingerprint: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// A pending alert whose condition cleared before it fired: its row goes.
    DropPending { fingerprint: String },
}

/// Everything one judged run writes, in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// When the run was judged: its `alerts_evaluated_at`.
    pub judged_at: DateTime<Utc>,
    /// Memory rows that are new or changed.
    pub memory_upserts: Vec<MemoryRow>,
    /// Authorizers whose memory goes (they left the list).
    pub memory_deletes: Vec<String>,
    pub alerts: Vec<AlertWrite>,
    pub notifications: Vec<NewNotification>,
    /// Open alerts (by fingerprint) a silence kept from every route: marked held.
    pub held: Vec<String>,
    /// Held alerts this judgement's digests carry: no longer held.
    pub released: Vec<String>,
}

/// One part of a judgement written through [`AlertState::commit_judgement_parts`].
#[derive(Debug)]
pub enum JudgementPart {
    /// Writes to add to the judgement's transaction (its `judged_at` is not read).
    Writes(Judgement),
    /// Every part has been sent: commit.
    Commit,
}

/// Why a judgement fed in parts wrote nothing: its parts ended without
/// [`JudgementPart::Commit`].
pub(super) fn judgement_abandoned() -> StoreError {
    StoreError::InvalidInput {
        what: "judgement",
        message: "its parts ended before the commit; nothing of it was written".to_string(),
    }
}

/// How one judged authorizer of a run came out, as the rules read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunCheck {
    pub authorizer_unique_id: String,
    pub outcome: RunCheckOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunCheckOutcome {
    Retrieved {
        status_code: i64,
        balance: Option<Cents>,
    },
    /// No result: the deadline passed, or the chunk was not sent or its answer is
    /// unknown.
    NotRetrieved,
    /// Refused by Rightfoot at submission, or by the pre-flight check.
    Rejected,
}

/// What the rules need to know about a run besides its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunForJudgement {
    pub record: RunRecord,
    /// The run's cron slot, or `None` for a manual run.
    pub slot: Option<DateTime<Utc>>,
    /// Chunks that got a Rightfoot batch id.
    pub chunks_submitted: u32,
    /// Chunks planned.
    pub chunks: u32,
    /// Pre-flight rejections recorded.
    pub preflight_rejections: u32,
}

/// What the judgement reads, and its commit.
pub trait AlertState: Send + Sync {
    /// The balance memory of `monitor`, sorted by authorizer id (byte order).
    fn balance_memory(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>>;

    /// The pending and firing alerts of `monitor`, sorted by authorizer id (run alerts,
    /// with no authorizer, first).
    fn open_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>>;

    /// The oldest run of `monitor` that the rules have not judged yet, if it is
    /// finished. While that run is still pending or running this is `None`, even when
    /// later runs have finished: a monitor's runs are judged in order.
    fn next_unjudged_run(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<RunForJudgement>, StoreError>>;

    /// Every authorizer of `run` once, sorted by id (byte order), with what became of
    /// its check. A member of a chunk Rightfoot answered from its cache gets the result
    /// the owning chunk stored, unless this run stored one of its own (a gap the owner
    /// never got); a member without any result row is not retrieved; an id only the
    /// pre-flight check saw is rejected.
    fn run_checks(&self, run: RunId) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>>;

    /// [`AlertState::run_checks`] a keyset page at a time: at most `limit` checks with an
    /// id above `after` (`""` for the first page), sorted by id.
    fn run_checks_page(
        &self,
        run: RunId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>>;

    /// [`AlertState::balance_memory`] a keyset page at a time: at most `limit` rows with
    /// an id above `after` (`""` for the first page), sorted by id.
    fn balance_memory_page(
        &self,
        monitor: MonitorId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>>;

    /// The pending and firing alerts of `monitor`'s authorizers whose id is above
    /// `after` and at most `through` (with `None`, every id above `after`), sorted by
    /// authorizer id and rule. Not the run alerts ([`AlertState::open_run_alerts`]).
    fn open_alerts_between(
        &self,
        monitor: MonitorId,
        after: String,
        through: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>>;

    /// The pending and firing alerts about `monitor`'s runs (no authorizer), by rule.
    fn open_run_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>>;

    /// [`AlertState::commit_judgement`] fed a part at a time, so that no caller holds a
    /// whole judgement: one transaction marks the run judged at `judged_at`, writes each
    /// [`JudgementPart::Writes`] as it arrives, and commits at [`JudgementPart::Commit`].
    /// Parts that end without it roll everything back (an error). Returns `false`,
    /// writing nothing and reading no part, when the run was judged already.
    ///
    /// The transaction stays open while the caller judges, so the caller reads what it
    /// judges (the pages above) beside it, from the state before the judgement, and
    /// writes nothing else meanwhile: every other write waits for this one.
    fn commit_judgement_parts(
        &self,
        monitor: MonitorId,
        run: RunId,
        judged_at: DateTime<Utc>,
        parts: mpsc::Receiver<JudgementPart>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Writes one judged run in one transaction: the memory, the alert rows, the queued
    /// notifications, and the run's `alerts_evaluated_at`. Returns `false`, writing
    /// nothing, when the run was judged already.
    fn commit_judgement(
        &self,
        monitor: MonitorId,
        run: RunId,
        judgement: Judgement,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// The runs of `monitor` the rules have judged, after `after`, oldest first.
    fn judged_runs_after(
        &self,
        monitor: MonitorId,
        after: RunId,
    ) -> BoxFuture<'_, Result<Vec<RunId>, StoreError>>;
}
