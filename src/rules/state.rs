//! What rules remember between runs, and the caller persists: [`RulesState`].
//!
//! For each authorizer: a [`BalanceHistory`] (when it was first checked, its last
//! successful balance, and the few balances a windowed drop rule can still compare
//! against) and its [`AlertState`]s. For the monitor's runs: the `run_failed` alerts.
//! Everything is plain data with public fields, so the store can map it to rows and
//! back; times are whole microseconds, as the store writes them.
//!
//! Only alerts that are pending or firing are kept. A resolved alert leaves the state
//! (the store keeps its row as history); if its condition comes back, it is a new alert.
//!
//! A check that failed `N` times in a row is counted per `check_failed` rule, in that
//! rule's alert (`hits`): each rule has its own code list, so each counts its own streak.

use chrono::{DateTime, Utc};

use crate::config::Severity;
use crate::domain::Cents;

use super::identity::RuleId;

/// Everything rules remember about one monitor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RulesState {
    /// One entry per authorizer ever seen (and still in the list), sorted by id in byte
    /// order (SQLite's `BINARY` collation), without duplicates.
    pub authorizers: Vec<AuthorizerState>,
    /// Alerts about the monitor's runs (`run_failed`), sorted by rule.
    pub run_alerts: Vec<AlertState>,
}

impl RulesState {
    /// The state of a monitor rules have never seen.
    pub fn new() -> RulesState {
        RulesState::default()
    }

    /// One authorizer's state.
    pub fn authorizer(&self, id: &str) -> Option<&AuthorizerState> {
        self.authorizers
            .binary_search_by(|entry| entry.id.as_str().cmp(id))
            .ok()
            .map(|at| &self.authorizers[at])
    }

    /// How many alerts are firing, authorizers' and runs' together.
    pub fn firing_count(&self) -> usize {
        self.authorizers
            .iter()
            .flat_map(|entry| &entry.alerts)
            .chain(&self.run_alerts)
            .filter(|alert| alert.phase.is_firing())
            .count()
    }
}

/// One authorizer's history and alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizerState {
    pub id: String,
    pub history: BalanceHistory,
    /// Pending and firing alerts, sorted by rule, at most one per rule.
    pub alerts: Vec<AlertState>,
}

impl AuthorizerState {
    /// An authorizer seen for the first time at `now`.
    pub fn new(id: String, now: DateTime<Utc>) -> AuthorizerState {
        AuthorizerState {
            id,
            history: BalanceHistory::new(now),
            alerts: Vec::new(),
        }
    }
}

/// A successful balance and the run instant it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceSample {
    pub at: DateTime<Utc>,
    pub balance: Cents,
}

/// What the balance rules compare a new balance with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceHistory {
    /// The first run that included the authorizer, whatever its outcome: `stale` counts
    /// from here until there is a successful balance.
    pub first_checked_at: DateTime<Utc>,
    /// The latest successful balance.
    pub last_success: Option<BalanceSample>,
    /// The balances a windowed drop rule may still compare with: successful samples
    /// within the longest configured window, oldest first, each strictly higher than
    /// every later one. A sample that a later, higher-or-equal balance outranks can
    /// never be a window's highest again, so it is not kept; the list stays short (at
    /// most one entry per run in the window, usually one or two). Empty when no rule
    /// has a window.
    pub peaks: Vec<BalanceSample>,
}

impl BalanceHistory {
    pub fn new(first_checked_at: DateTime<Utc>) -> BalanceHistory {
        BalanceHistory {
            first_checked_at,
            last_success: None,
            peaks: Vec::new(),
        }
    }

    /// The highest balance recorded at or after `since`.
    pub fn highest_since(&self, since: DateTime<Utc>) -> Option<Cents> {
        // Peaks are in time order with falling balances: the first one in range is the
        // highest in range.
        self.peaks
            .iter()
            .find(|sample| sample.at >= since)
            .map(|sample| sample.balance)
    }

    /// Remembers a successful balance. `keep_since` is the start of the longest window
    /// any rule has (`None`: no rule has a window, keep no peaks).
    pub(crate) fn record_success(
        &mut self,
        sample: BalanceSample,
        keep_since: Option<DateTime<Utc>>,
    ) {
        self.last_success = Some(sample);
        match keep_since {
            None => self.peaks.clear(),
            Some(since) => {
                while self
                    .peaks
                    .last()
                    .is_some_and(|last| last.balance <= sample.balance)
                {
                    self.peaks.pop();
                }
                if self.peaks.capacity() == 0 {
                    // Usually the only one: don't let `push` reserve room for four.
                    self.peaks.reserve_exact(1);
                }
                self.peaks.push(sample);
                let expired = self.peaks.iter().take_while(|p| p.at < since).count();
                self.peaks.drain(..expired);
            }
        }
    }
}

/// One pending or firing alert of a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertState {
    pub rule: RuleId,
    /// The severity of the rule when the alert was last judged; used when the rule
    /// has since been removed.
    pub severity: Severity,
    pub phase: AlertPhase,
}

/// Where an alert is in its life. "Resolved" is not a phase: a resolved alert is not
/// kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertPhase {
    /// The condition held in `hits` consecutive judged runs, fewer than needed to fire
    /// (`for_runs`; for `check_failed`, `consecutive + for_runs - 1`).
    Pending { hits: u32 },
    /// Announced.
    Firing {
        /// Consecutive judged runs the condition held (0 after a clear run).
        hits: u32,
        /// Consecutive clear runs since it last held, fewer than `resolve_after_runs`.
        clears: u32,
        /// When it fired.
        fired_at: DateTime<Utc>,
        /// When it was last announced (fired or reminded).
        last_notified_at: DateTime<Utc>,
    },
}

impl AlertPhase {
    pub fn is_firing(&self) -> bool {
        matches!(self, AlertPhase::Firing { .. })
    }

    /// `pending` or `firing`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertPhase::Pending { .. } => "pending",
            AlertPhase::Firing { .. } => "firing",
        }
    }

    /// Consecutive judged runs the condition held.
    pub fn hits(&self) -> u32 {
        match *self {
            AlertPhase::Pending { hits } | AlertPhase::Firing { hits, .. } => hits,
        }
    }
}
