//! Each rule's condition: whether it holds for one authorizer (or for the run) in this
//! run, and the sentence that says why.
//!
//! `CompiledRules` turns the configured rules into what the per-authorizer loop needs,
//! once per evaluation: identities, lifecycle policies, and every time limit as an
//! instant (`now - window`, `now - after`), so judging an authorizer is comparisons
//! only. A `Verdict` carries the figures it was based on as plain values
//! (`Finding`); the sentence is written only for the few that become transitions.
//!
//! The conditions, all on integer cents:
//!
//! | rule | holds when | cannot judge (unknown) when |
//! |---|---|---|
//! | `balance_below` | balance < amount (at the amount is not below) | no successful balance |
//! | `below_payment` | balance < payment + margin | no successful balance; field missing, blank or not an amount (a skip) |
//! | `drop_percent` | reference > 0 and (reference − balance) ≥ percent of reference | no successful balance |
//! | `drop_amount` | reference − balance ≥ amount | no successful balance |
//! | `negative_balance` | balance < 0 | no successful balance |
//! | `check_failed` | a result with a failure code in `codes` (any non-zero code if none listed) | not retrieved or rejected |
//! | `stale` | the last successful balance (or, without one, the first check) is at least `after` old | never |
//! | `run_failed` | not submitted, API unreachable, run `failed`, or not-retrieved share > threshold | never |
//!
//! A drop's reference is the previous successful balance, or with `window` the highest
//! successful balance from runs at or after `now - window`. Without a reference (first
//! run, nothing in the window) there is no drop: the rule is clear. `check_failed`'s
//! `consecutive` counts holding runs like `for_runs` does: it fires after
//! `consecutive + for_runs - 1` failing runs in a row.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use crate::config::duration::format_duration;
use crate::config::{BasisPoints, RuleKind, Severity};
use crate::domain::{BalanceStatus, Cents, RunState};

use super::identity::RuleId;
use super::input::{AuthorizerFacts, Check, MonitorRules, RunFacts};
use super::lifecycle::{Observation, Policy};
use super::output::SkipReason;
use super::state::BalanceHistory;

/// The monitor's rules, ready for one evaluation at one instant.
#[derive(Debug)]
pub(crate) struct CompiledRules<'a> {
    /// Rules judged per authorizer, in configuration order.
    pub authorizer_rules: Vec<CompiledRule<'a>>,
    /// Rules judged once per run (`run_failed`).
    pub run_rules: Vec<CompiledRule<'a>>,
    /// Balances older than this can no longer matter to any window; `None` when no
    /// rule has a window.
    pub keep_peaks_since: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub(crate) struct CompiledRule<'a> {
    pub id: RuleId,
    pub severity: Severity,
    pub policy: Policy,
    pub condition: Condition<'a>,
}

#[derive(Debug)]
pub(crate) enum Condition<'a> {
    BalanceBelow {
        amount: Cents,
    },
    BelowPayment {
        field: &'a str,
        margin: Cents,
    },
    Drop {
        threshold: DropThreshold,
        /// The window and its start (`now - window`), or `None` for "since the
        /// previous successful balance".
        window: Option<(Duration, DateTime<Utc>)>,
    },
    NegativeBalance,
    CheckFailed {
        codes: Option<&'a [u32]>,
    },
    Stale {
        after: Duration,
        /// A last success at or before this instant is stale (`now - after`).
        cutoff: Option<DateTime<Utc>>,
    },
    RunFailed {
        not_retrieved_percent: BasisPoints,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum DropThreshold {
    Percent(BasisPoints),
    Amount(Cents),
}

impl<'a> CompiledRules<'a> {
    pub fn new(config: &MonitorRules<'a>, now: DateTime<Utc>) -> CompiledRules<'a> {
        let repeat = to_delta(config.repeat_interval);
        let mut compiled = CompiledRules {
            authorizer_rules: Vec::new(),
            run_rules: Vec::new(),
            keep_peaks_since: None,
        };
        let mut longest_window: Option<Duration> = None;
        for (rule, id) in config.rules.iter().zip(RuleId::assign(config.rules)) {
            let mut hits_to_fire = rule.for_runs.max(1);
            let condition = match &rule.kind {
                RuleKind::BalanceBelow { amount } => Condition::BalanceBelow { amount: *amount },
                RuleKind::BelowPayment { field, margin } => Condition::BelowPayment {
                    field,
                    margin: *margin,
                },
                RuleKind::DropPercent { percent, window } => {
                    longest_window = longest_window.max(*window);
                    Condition::Drop {
                        threshold: DropThreshold::Percent(*percent),
                        window: window.map(|w| (w, before(now, w))),
                    }
                }
                RuleKind::DropAmount { amount, window } => {
                    longest_window = longest_window.max(*window);
                    Condition::Drop {
                        threshold: DropThreshold::Amount(*amount),
                        window: window.map(|w| (w, before(now, w))),
                    }
                }
                RuleKind::NegativeBalance => Condition::NegativeBalance,
                RuleKind::CheckFailed { codes, consecutive } => {
                    hits_to_fire = hits_to_fire.saturating_add(consecutive.max(&1) - 1);
                    Condition::CheckFailed {
                        codes: codes.as_deref(),
                    }
                }
                RuleKind::Stale { after } => Condition::Stale {
                    after: *after,
                    cutoff: now.checked_sub_signed(to_delta(*after)),
                },
                RuleKind::RunFailed {
                    not_retrieved_percent,
                } => Condition::RunFailed {
                    not_retrieved_percent: *not_retrieved_percent,
                },
            };
            let compiled_rule = CompiledRule {
                id,
                severity: rule.severity,
                policy: Policy {
                    hits_to_fire,
                    clears_to_resolve: rule.resolve_after_runs.max(1),
                    repeat,
                },
                condition,
            };
            if id.rule_type.is_about_runs() {
                compiled.run_rules.push(compiled_rule);
            } else {
                compiled.authorizer_rules.push(compiled_rule);
            }
        }
        compiled.keep_peaks_since = longest_window.map(|w| before(now, w));
        compiled
    }

    /// The configured rule with this identity, if any.
    pub fn find(&self, id: RuleId) -> Option<&CompiledRule<'a>> {
        let rules = if id.rule_type.is_about_runs() {
            &self.run_rules
        } else {
            &self.authorizer_rules
        };
        rules.iter().find(|rule| rule.id == id)
    }
}

/// A std duration as chrono's, saturating (configured durations are far below the limit).
pub(crate) fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// `now - duration`, or the earliest representable instant.
fn before(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    now.checked_sub_signed(to_delta(duration))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What a rule found for one subject in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Holds(Finding),
    Clear(Finding),
    Unknown,
    /// Unknown because of the authorizer's metadata: reported as a skip.
    Skipped(SkipReason),
}

impl Verdict {
    pub fn observation(&self) -> Observation {
        match self {
            Verdict::Holds(_) => Observation::Holds,
            Verdict::Clear(_) => Observation::Clear,
            Verdict::Unknown | Verdict::Skipped(_) => Observation::Unknown,
        }
    }

    pub fn finding(&self) -> Option<Finding> {
        match *self {
            Verdict::Holds(finding) | Verdict::Clear(finding) => Some(finding),
            Verdict::Unknown | Verdict::Skipped(_) => None,
        }
    }
}

/// The figures a verdict was based on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finding {
    /// `balance_below`, `negative_balance`.
    Balance { balance: Cents },
    /// `below_payment`.
    Payment { balance: Cents, payment: Cents },
    /// Drop rules, with a reference balance.
    Drop { from: Cents, to: Cents },
    /// Drop rules, without one.
    NoReference { to: Cents },
    /// `check_failed`: this run's status code.
    Status { code: i64 },
    /// `stale`: the last success, or the first check when `never` succeeded.
    LastSuccess { since: DateTime<Utc>, never: bool },
    /// `stale`: this run's check succeeded.
    Succeeded,
    /// `run_failed`.
    Run { not_retrieved: u64, total: u64 },
}

impl Finding {
    /// The reference a drop was measured from.
    pub fn drop_reference(&self) -> Option<Cents> {
        match *self {
            Finding::Drop { from, .. } => Some(from),
            _ => None,
        }
    }
}

/// Judges an authorizer rule. `history` is the state before this run.
#[inline]
pub(crate) fn judge_authorizer(
    condition: &Condition<'_>,
    facts: &AuthorizerFacts<'_>,
    history: &BalanceHistory,
) -> Verdict {
    let balance = facts.check.successful_balance();
    match *condition {
        Condition::BalanceBelow { amount } => match balance {
            None => Verdict::Unknown,
            Some(balance) => holds_if(balance < amount, Finding::Balance { balance }),
        },
        Condition::NegativeBalance => match balance {
            None => Verdict::Unknown,
            Some(balance) => holds_if(balance < Cents::ZERO, Finding::Balance { balance }),
        },
        Condition::BelowPayment { field, margin } => {
            let Some(balance) = balance else {
                return Verdict::Unknown;
            };
            let text = match facts.metadata.get(field) {
                Some(text) if !text.trim().is_empty() => text,
                _ => return Verdict::Skipped(SkipReason::MissingField),
            };
            let Ok(payment) = Cents::parse(text) else {
                return Verdict::Skipped(SkipReason::UnparsableField);
            };
            let needed = i128::from(payment.0) + i128::from(margin.0);
            holds_if(
                i128::from(balance.0) < needed,
                Finding::Payment { balance, payment },
            )
        }
        Condition::Drop { threshold, window } => {
            let Some(to) = balance else {
                return Verdict::Unknown;
            };
            let reference = match window {
                None => history.last_success.map(|sample| sample.balance),
                Some((_, since)) => history.highest_since(since),
            };
            let Some(from) = reference else {
                return Verdict::Clear(Finding::NoReference { to });
            };
            let fell = i128::from(from.0) - i128::from(to.0);
            let holds = match threshold {
                DropThreshold::Amount(amount) => fell >= i128::from(amount.0),
                DropThreshold::Percent(percent) => {
                    from > Cents::ZERO && fell * 10_000 >= i128::from(percent) * i128::from(from.0)
                }
            };
            holds_if(holds, Finding::Drop { from, to })
        }
        Condition::CheckFailed { codes } => match facts.check {
            Check::Retrieved { status_code, .. } => {
                let watched = status_code != 0
                    && codes.is_none_or(|codes| codes.iter().any(|c| i64::from(*c) == status_code));
                holds_if(watched, Finding::Status { code: status_code })
            }
            Check::NotRetrieved | Check::Rejected => Verdict::Unknown,
        },
        Condition::Stale { cutoff, .. } => {
            if balance.is_some() {
                return Verdict::Clear(Finding::Succeeded);
            }
            let (since, never) = match history.last_success {
                Some(sample) => (sample.at, false),
                None => (history.first_checked_at, true),
            };
            holds_if(
                cutoff.is_some_and(|cutoff| since <= cutoff),
                Finding::LastSuccess { since, never },
            )
        }
        Condition::RunFailed { .. } => Verdict::Unknown,
    }
}

/// Judges a run rule.
pub(crate) fn judge_run(condition: &Condition<'_>, run: &RunFacts, counts: RunCounts) -> Verdict {
    match *condition {
        Condition::RunFailed {
            not_retrieved_percent,
        } => {
            let finding = Finding::Run {
                not_retrieved: counts.not_retrieved,
                total: counts.total,
            };
            let failed = !run.submitted
                || run.api_unreachable
                || run.state == RunState::Failed
                || counts.share_exceeds(not_retrieved_percent);
            holds_if(failed, finding)
        }
        _ => Verdict::Unknown,
    }
}

/// The run's authorizers and how many were not retrieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunCounts {
    pub not_retrieved: u64,
    pub total: u64,
}

impl RunCounts {
    /// More than `threshold` of the authorizers were not retrieved (exactly at it is not).
    fn share_exceeds(&self, threshold: BasisPoints) -> bool {
        u128::from(self.not_retrieved) * 10_000 > u128::from(threshold) * u128::from(self.total)
    }
}

fn holds_if(holds: bool, finding: Finding) -> Verdict {
    if holds {
        Verdict::Holds(finding)
    } else {
        Verdict::Clear(finding)
    }
}

/// The sentence for a transition: why the condition holds (`holds`), or why it is clear.
/// `hits` is the alert's count of consecutive holding runs.
pub(crate) fn describe(
    condition: &Condition<'_>,
    finding: Finding,
    holds: bool,
    hits: u32,
    run: &RunFacts,
) -> String {
    match (condition, finding) {
        (Condition::BalanceBelow { amount }, Finding::Balance { balance }) => {
            if holds {
                format!("balance {balance} is below {amount}")
            } else {
                format!("balance {balance} is no longer below {amount}")
            }
        }
        (Condition::NegativeBalance, Finding::Balance { balance }) => {
            if holds {
                format!("balance {balance} is negative")
            } else {
                format!("balance {balance} is no longer negative")
            }
        }
        (Condition::BelowPayment { margin, .. }, Finding::Payment { balance, payment }) => {
            let target = if *margin == Cents::ZERO {
                format!("the payment of {payment}")
            } else {
                format!("the payment of {payment} plus a margin of {margin}")
            };
            if holds {
                format!("balance {balance} is below {target}")
            } else {
                format!("balance {balance} covers {target}")
            }
        }
        (Condition::Drop { threshold, window }, Finding::Drop { from, to }) => {
            let fell = i128::from(from.0) - i128::from(to.0);
            let fell_text = match threshold {
                DropThreshold::Percent(_) if from > Cents::ZERO => {
                    format_basis_points(fell.max(0) * 10_000 / i128::from(from.0))
                }
                _ => Cents(i64::try_from(fell.max(0)).unwrap_or(i64::MAX)).to_string(),
            };
            // Written to be followed by " to ..." or ", ...".
            let reference = match window {
                Some((window, _)) => {
                    format!(
                        "the highest balance in the last {}, {from},",
                        format_duration(*window)
                    )
                }
                None => format!("the previous balance {from}"),
            };
            let limit = match threshold {
                DropThreshold::Percent(percent) => format_basis_points(i128::from(*percent)),
                DropThreshold::Amount(amount) => amount.to_string(),
            };
            if holds {
                format!("balance fell {fell_text} from {reference} to {to} (alert at {limit})")
            } else {
                let reference = reference.trim_end_matches(',');
                format!("balance {to} is down {fell_text} from {reference}, less than {limit}")
            }
        }
        (Condition::Drop { .. }, Finding::NoReference { to }) => {
            format!("balance {to}, with no earlier balance to compare")
        }
        (Condition::CheckFailed { .. }, Finding::Status { code }) => {
            let status = BalanceStatus::from_code(code);
            if holds && hits > 1 {
                format!("check failed with {status}, {hits} checks in a row")
            } else if holds {
                format!("check failed with {status}")
            } else if code == 0 {
                "check succeeded".to_string()
            } else {
                format!("check failed with {status}, which this rule does not watch")
            }
        }
        (Condition::Stale { .. }, Finding::Succeeded) => "balance retrieved".to_string(),
        (Condition::Stale { after, .. }, Finding::LastSuccess { since, never }) => {
            let after = format_duration(*after);
            let since = format_instant(since);
            match (holds, never) {
                (true, true) => {
                    format!(
                        "no successful balance since first checked at {since} ({after} or more)"
                    )
                }
                (true, false) => format!("no successful balance since {since} ({after} or more)"),
                (false, true) => format!("first checked at {since}, less than {after} ago"),
                (false, false) => {
                    format!("last successful balance at {since}, less than {after} ago")
                }
            }
        }
        (
            Condition::RunFailed {
                not_retrieved_percent,
            },
            Finding::Run {
                not_retrieved,
                total,
            },
        ) => {
            let share = if total == 0 {
                "0%".to_string()
            } else {
                format_basis_points(i128::from(not_retrieved) * 10_000 / i128::from(total))
            };
            let limit = format_basis_points(i128::from(*not_retrieved_percent));
            let retrieval =
                format!("{not_retrieved} of {total} authorizers ({share}) not retrieved");
            if !holds {
                return format!("{} is healthy: {retrieval}, at most {limit}", run.run);
            }
            let mut causes = Vec::new();
            if !run.submitted {
                causes.push("could not be submitted".to_string());
            }
            if run.api_unreachable {
                causes.push("the Rightfoot API stayed unreachable after retries".to_string());
            }
            if run.state == RunState::Failed {
                causes.push("ended failed".to_string());
            }
            let counts = RunCounts {
                not_retrieved,
                total,
            };
            if counts.share_exceeds(*not_retrieved_percent) {
                causes.push(format!("{retrieval}, above {limit}"));
            }
            format!("{}: {}", run.run, causes.join("; "))
        }
        // Each condition produces only its own findings; this is not reached.
        (_, finding) => {
            debug_assert!(false, "{finding:?} from another condition");
            let state = if holds { "holds" } else { "is clear" };
            format!("the condition {state}")
        }
    }
}

/// `40%`, `12.5%`, `0.01%` from basis points.
pub(crate) fn format_basis_points(basis_points: i128) -> String {
    let whole = basis_points / 100;
    let fraction = basis_points % 100;
    if fraction == 0 {
        format!("{whole}%")
    } else if fraction % 10 == 0 {
        format!("{whole}.{}%", fraction / 10)
    } else {
        format!("{whole}.{fraction:02}%")
    }
}

fn format_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
