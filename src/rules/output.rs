//! What one evaluation returns: the new [`RulesState`], the [`Transition`]s, and the
//! [`Skip`]s (rules that could not judge some authorizers because of their metadata).

use chrono::{DateTime, Utc};

use crate::config::Severity;
use crate::domain::{Cents, RunId};

use super::identity::{Fingerprint, RuleId};
use super::state::RulesState;

/// The result of one evaluation (`rules::evaluate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// The state to persist and pass to the next evaluation.
    pub state: RulesState,
    /// Every alert that fired, was reminded or resolved in this run: the monitor's runs
    /// first, then authorizers in id order, each in rule order.
    pub transitions: Vec<Transition>,
    /// Per rule and reason, the authorizers a rule could not judge; empty when none.
    pub skips: Vec<Skip>,
}

impl Evaluation {
    /// The transitions to announce (those with `notify`).
    pub fn notifications(&self) -> impl Iterator<Item = &Transition> {
        self.transitions.iter().filter(|t| t.notify)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransitionKind {
    /// The condition held long enough (`for_runs`): the alert starts firing.
    Fired,
    /// Still firing, and `repeat_interval` has passed since it was last announced.
    Reminder,
    /// Clear long enough (`resolve_after_runs`), or its rule or authorizer is gone.
    Resolved,
}

impl TransitionKind {
    /// `fired`, `reminder` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Fired => "fired",
            TransitionKind::Reminder => "reminder",
            TransitionKind::Resolved => "resolved",
        }
    }
}

/// One alert changing in this run: what the outbox announces and the store records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub kind: TransitionKind,
    /// Whether to announce it: always for `Fired` and `Reminder`; for `Resolved` only
    /// when the monitor has `send_resolved`. A resolution that is not announced is still
    /// a transition, so the store can mark the alert resolved.
    pub notify: bool,
    /// Monitor, rule and subject (an authorizer, or the monitor's runs).
    pub fingerprint: Fingerprint,
    /// The run that made the transition.
    pub run: RunId,
    /// The run's instant ([`RunFacts::now`](super::RunFacts::now), to the microsecond).
    pub at: DateTime<Utc>,
    /// When the alert started firing (this run, for `Fired`).
    pub firing_since: DateTime<Utc>,
    pub severity: Severity,
    /// A sentence for people, such as `balance $90.00 is below $150.00`.
    pub reason: String,
    /// The balance compared with: for drop rules the reference the drop is measured from
    /// (the previous successful balance, or the window's highest); for the other rules
    /// the previous successful balance. `None` when there is none.
    pub balance_before: Option<Cents>,
    /// This run's successful balance, if the check succeeded.
    pub balance_after: Option<Cents>,
    /// This run's status code, if a result was retrieved.
    pub status_code: Option<i64>,
    /// The monitor's `alert_fields` present in the authorizer's metadata, in
    /// `alert_fields` order: `(field, value)`. Nothing else of the metadata.
    pub fields: Vec<(String, String)>,
}

impl Transition {
    pub fn rule(&self) -> RuleId {
        self.fingerprint.rule
    }

    /// The authorizer id, or `None` for an alert about the monitor's runs.
    pub fn authorizer_id(&self) -> Option<&str> {
        self.fingerprint.subject.authorizer_id()
    }
}

/// Why a rule could not judge an authorizer that had a balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The metadata field `below_payment` reads is absent or blank.
    MissingField,
    /// The field is present but is not an amount of money.
    UnparsableField,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::MissingField => "missing field",
            SkipReason::UnparsableField => "field is not an amount",
        }
    }
}

/// Authorizers one rule skipped for one reason in this run. Such an authorizer's alert
/// for the rule is left as it was (the run counts as unknown for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub rule: RuleId,
    /// The metadata field concerned.
    pub field: String,
    pub reason: SkipReason,
    /// How many authorizers.
    pub count: u64,
    /// The first few of them, in id order (at most [`Skip::EXAMPLES`]).
    pub examples: Vec<String>,
}

impl Skip {
    /// How many authorizer ids a skip lists.
    pub const EXAMPLES: usize = 5;
}
