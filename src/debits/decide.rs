//! The decision about one due debit, as a pure function: [`decide`] takes the debit's
//! amount, the monitor's margin and freshness, and what is known of the authorizer
//! ([`Evidence`]: its latest check, its latest successful balance, how many of its
//! debits came back in a row) and returns a [`Verdict`]: send, hold or unknown, with a
//! reason that names the figures.
//!
//! In order:
//! 1. the last two debits of the authorizer were returned: hold (the CFPB payday rule,
//!    12 CFR 1041.8, asks for a new authorization after two failed attempts in a row);
//! 2. its latest check says the account is closed (3200): hold;
//! 3. a successful balance no older than `fresh_for`: send when it covers amount plus
//!    margin, hold when it does not (a negative balance is named as such);
//! 4. otherwise unknown, with why: the latest check failed (its code and meaning; an
//!    unsupported institution named as such), was not retrieved, was rejected, or the
//!    latest balance is stale.
//!
//! No clock, no I/O: the caller passes `now`.

use chrono::{DateTime, Utc};

use crate::domain::{BalanceStatus, Cents, Decision};

/// The reason for two returns in a row, word for word.
pub const TWO_RETURNS: &str = "two returned debits in a row: a new authorization is needed";

/// How many returns in a row put an authorizer on hold.
pub const RETURNS_IN_A_ROW_TO_HOLD: u32 = 2;

/// What one check of the authorizer gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Status code 0 with a balance.
    Balance(Cents),
    /// Status code 0 without a balance.
    NoBalance,
    /// A failure code.
    Failed(BalanceStatus),
    /// The run stopped waiting before a result came.
    NotRetrieved,
    /// Refused at submission (by Rightfoot or the pre-flight check).
    Rejected,
}

/// One check, and when it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
}

/// What is known of the authorizer when the debit is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub now: DateTime<Utc>,
    /// The most recent check, whatever it gave.
    pub latest: Option<Observation>,
    /// The most recent successful balance and its time.
    pub last_balance: Option<(Cents, DateTime<Utc>)>,
    /// How many of the authorizer's latest debits, counting back from the newest,
    /// were returned.
    pub returns_in_a_row: u32,
}

/// The monitor's settings that decisions read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionRules {
    pub margin: Cents,
    pub fresh_for: std::time::Duration,
}

/// A decision, its reason, and the balance it rests on (with when it was checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub reason: String,
    pub balance: Option<Cents>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// Decides one debit of `amount` under `rules` from `evidence`.
pub fn decide(amount: Cents, rules: DecisionRules, evidence: &Evidence) -> Verdict {
    let (balance, checked_at) = match evidence.last_balance {
        Some((balance, at)) => (Some(balance), Some(at)),
        None => (None, None),
    };
    let verdict = |decision, reason: String| Verdict {
        decision,
        reason,
        balance,
        checked_at,
    };
    if evidence.returns_in_a_row >= RETURNS_IN_A_ROW_TO_HOLD {
        return verdict(Decision::Hold, TWO_RETURNS.to_string());
    }
    if let Some(Observation {
        outcome: Outcome::Failed(BalanceStatus::AccountClosed),
        at,
    }) = evidence.latest
        && checked_at.is_none_or(|balance_at| at >= balance_at)
    {
        return Verdict {
            checked_at: Some(at),
            ..verdict(Decision::Hold, "account closed (3200)".to_string())
        };
    }
    let fresh_for = chrono::Duration::from_std(rules.fresh_for).unwrap_or(chrono::Duration::MAX);
    if let Some((balance, at)) = evidence.last_balance
        && evidence.now.signed_duration_since(at) <= fresh_for
    {
        let need = amount.0.saturating_add(rules.margin.0);
        let figures = format!(
            "{} + {}",
            amount.to_decimal_string(),
            rules.margin.to_decimal_string()
        );
        let shown = balance.to_decimal_string();
        return if balance.0 < 0 {
            verdict(
                Decision::Hold,
                format!("negative balance {shown} < {figures}"),
            )
        } else if balance.0 < need {
            verdict(Decision::Hold, format!("balance {shown} < {figures}"))
        } else {
            verdict(Decision::Send, format!("balance {shown} >= {figures}"))
        };
    }
    let stale = |at: DateTime<Utc>| format!("stale since {}", at.format("%Y-%m-%d %H:%M UTC"));
    let reason = match evidence.latest {
        Some(Observation {
            outcome: Outcome::Failed(status),
            ..
        }) => match status {
            BalanceStatus::InstitutionNotSupported | BalanceStatus::InstitutionInTesting => {
                format!("{} (code {})", status.description(), status.code())
            }
            _ => format!(
                "failed with code {}: {}",
                status.code(),
                status.description()
            ),
        },
        Some(Observation {
            outcome: Outcome::NotRetrieved,
            ..
        }) => "not retrieved".to_string(),
        Some(Observation {
            outcome: Outcome::Rejected,
            ..
        }) => "rejected at submission".to_string(),
        Some(Observation {
            outcome: Outcome::NoBalance,
            ..
        }) => "retrieved without a balance".to_string(),
        Some(Observation {
            outcome: Outcome::Balance(_),
            at,
        }) => stale(checked_at.unwrap_or(at)),
        None => match checked_at {
            Some(at) => stale(at),
            None => "never checked".to_string(),
        },
    };
    verdict(Decision::Unknown, reason)
}

#[cfg(test)]
mod tests;
