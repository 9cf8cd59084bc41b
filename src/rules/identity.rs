//! Names for alerts: which rule raised one ([`RuleId`]), what it is about ([`Subject`]),
//! and the two together within a monitor ([`Fingerprint`]).
//!
//! # A rule's identity
//!
//! A rule is identified by its kind and its ordinal among the monitor's rules of that
//! kind, counted from 1 in configuration order: `balance_below#1`, `balance_below#2`,
//! `drop_percent#1`. Parameters are deliberately not part of the identity:
//!
//! - Changing a rule's parameters (`amount`, `percent`, `window`, `codes`, `after`,
//!   `severity`, `for_runs`, ...) keeps its identity. Its alerts carry over and the next
//!   run judges them by the new parameters: an alert that still holds stays firing and is
//!   not announced again; one that no longer holds resolves through the usual
//!   `resolve_after_runs` path. Editing a threshold therefore never re-notifies everyone.
//! - Reordering rules of different kinds changes nothing.
//! - Adding or removing a rule of a kind shifts the ordinals of the later rules of that
//!   same kind: `balance_below#2` then names what was written third, and its alerts are
//!   judged by that rule. The order of same-kind rules is part of the configuration.
//! - An alert whose identity is no longer configured (the rule was removed, or the
//!   monitor now has fewer rules of that kind) is retired at the next evaluation: a
//!   firing one produces a `Resolved` transition saying so.

use std::fmt;

use crate::config::RuleKind;

/// The kinds of rule, without their parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleType {
    BalanceBelow,
    BelowPayment,
    DropPercent,
    DropAmount,
    NegativeBalance,
    CheckFailed,
    Stale,
    RunFailed,
}

impl RuleType {
    pub const ALL: [RuleType; 8] = [
        RuleType::BalanceBelow,
        RuleType::BelowPayment,
        RuleType::DropPercent,
        RuleType::DropAmount,
        RuleType::NegativeBalance,
        RuleType::CheckFailed,
        RuleType::Stale,
        RuleType::RunFailed,
    ];

    /// The type of a configured rule.
    pub fn of(kind: &RuleKind) -> RuleType {
        match kind {
            RuleKind::BalanceBelow { .. } => RuleType::BalanceBelow,
            RuleKind::BelowPayment { .. } => RuleType::BelowPayment,
            RuleKind::DropPercent { .. } => RuleType::DropPercent,
            RuleKind::DropAmount { .. } => RuleType::DropAmount,
            RuleKind::NegativeBalance => RuleType::NegativeBalance,
            RuleKind::CheckFailed { .. } => RuleType::CheckFailed,
            RuleKind::Stale { .. } => RuleType::Stale,
            RuleKind::RunFailed { .. } => RuleType::RunFailed,
        }
    }

    /// The name the configuration uses, such as `balance_below`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::BalanceBelow => "balance_below",
            RuleType::BelowPayment => "below_payment",
            RuleType::DropPercent => "drop_percent",
            RuleType::DropAmount => "drop_amount",
            RuleType::NegativeBalance => "negative_balance",
            RuleType::CheckFailed => "check_failed",
            RuleType::Stale => "stale",
            RuleType::RunFailed => "run_failed",
        }
    }

    /// The type named `name` in the configuration's spelling.
    pub fn from_name(name: &str) -> Option<RuleType> {
        RuleType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether alerts of this type are about the monitor's runs rather than one authorizer.
    pub fn is_about_runs(self) -> bool {
        self == RuleType::RunFailed
    }
}

/// A rule's identity within its monitor: kind and ordinal (see the module documentation).
///
/// Written `balance_below#1`; [`RuleId::parse`] reads that back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId {
    pub rule_type: RuleType,
    /// 1 for the first rule of this type in the monitor, 2 for the second, ...
    pub ordinal: u16,
}

impl RuleId {
    pub fn new(rule_type: RuleType, ordinal: u16) -> RuleId {
        RuleId { rule_type, ordinal }
    }

    /// Reads `balance_below#1` back; `None` for anything else.
    pub fn parse(text: &str) -> Option<RuleId> {
        let (name, digits) = text.split_once('#')?;
        let ordinal: u16 = digits.parse().ok().filter(|n| *n > 0)?;
        if digits != ordinal.to_string() {
            return None; // `#01` or `#+1`: not a spelling `Display` produces.
        }
        Some(RuleId::new(RuleType::from_name(name)?, ordinal))
    }

    /// The identity of every rule in `rules`, in the same order.
    pub fn assign(rules: &[crate::config::Rule]) -> Vec<RuleId> {
        let mut seen = [0u16; RuleType::ALL.len()];
        rules
            .iter()
            .map(|rule| {
                let rule_type = RuleType::of(&rule.kind);
                let count = &mut seen[rule_type as usize];
                *count = count.saturating_add(1);
                RuleId::new(rule_type, *count)
            })
            .collect()
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.rule_type.as_str(), self.ordinal)
    }
}

/// What an alert is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// One authorizer, by `authorizer_unique_id` (the lender's opaque key).
    Authorizer(String),
    /// The monitor's runs as a whole (`run_failed`). One subject across runs, so that
    /// `for_runs` and `resolve_after_runs` can count runs; the run that caused a
    /// transition is named in the transition.
    Runs,
}

impl Subject {
    /// The authorizer id, or `None` for the monitor's runs.
    pub fn authorizer_id(&self) -> Option<&str> {
        match self {
            Subject::Authorizer(id) => Some(id),
            Subject::Runs => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Authorizer(id) => write!(f, "authorizer {id}"),
            Subject::Runs => f.write_str("runs"),
        }
    }
}

/// An alert's identity: monitor, rule and subject.
///
/// Its text form, for the store's unique `fingerprint` column, is
/// `<monitor>/<rule>/runs` or `<monitor>/<rule>/authorizer/<id>`. It is unambiguous:
/// monitor names are letters, digits, `-`, `_` and `.`, rule ids have no `/`, and the
/// authorizer id (which may contain anything) comes last.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint {
    pub monitor: String,
    pub rule: RuleId,
    pub subject: Subject,
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Authorizer(id) => write!(f, "{}/{}/authorizer/{id}", self.monitor, self.rule),
            Subject::Runs => write!(f, "{}/{}/runs", self.monitor, self.rule),
        }
    }
}
