//! A monitor's `rules`: each rule kind's options into a [`Rule`], with the kind's
//! default severity and the lifecycle options every kind shares (`for_runs`,
//! `resolve_after_runs`).
//!
//! Money is parsed exactly into cents and percents into basis points; nothing here is
//! a float.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::validator::{Validator, is_identifier};
use crate::config::model::{Rule, RuleKind, Severity};
use crate::config::raw::RawRule;
use crate::domain::Cents;

impl Validator<'_> {
    pub(super) fn rules(&mut self, raw: &[Spanned<RawRule>], key: &str) -> Vec<Rule> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, r)| self.rule(r, &format!("{key}[{i}]")))
            .collect()
    }

    fn rule(&mut self, spanned: &Spanned<RawRule>, key: &str) -> Option<Rule> {
        let before = self.problems.len();
        let (kind, severity, for_runs, resolve_after_runs, default_severity) = match &spanned.value
        {
            RawRule::BalanceBelow {
                amount,
                severity,
                for_runs,
                resolve_after_runs,
            } => (
                RuleKind::BalanceBelow {
                    amount: self.money(amount, &format!("{key}.balance_below.amount")),
                },
                severity,
                for_runs,
                resolve_after_runs,
                Severity::Warning,
            ),
            RawRule::BelowPayment {
                field,
                margin,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.below_payment");
                let name = field
                    .value
                    .strip_prefix("meta_")
                    .unwrap_or(&field.value)
                    .to_string();
                if !is_identifier(&name) {
                    self.at(
                        field,
                        format!("{k}.field"),
                        "expected a metadata field name, such as payment_amount",
                    );
                }
                let margin = match margin {
                    Some(m) => self.money(m, &format!("{k}.margin")),
                    None => Cents::ZERO,
                };
                (
                    RuleKind::BelowPayment {
                        field: name,
                        margin,
                    },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Critical,
                )
            }
            RawRule::DropPercent {
                percent,
                window,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.drop_percent");
                let percent = self.percent(percent, &format!("{k}.percent"));
                let window = window.as_ref().map(|w| {
                    self.duration(&Some(w.clone()), &format!("{k}.window"), Duration::ZERO)
                });
                (
                    RuleKind::DropPercent { percent, window },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::DropAmount {
                amount,
                window,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.drop_amount");
                let value = self.money(amount, &format!("{k}.amount"));
                if value <= Cents::ZERO && self.problems.len() == before {
                    self.at(
                        amount,
                        format!("{k}.amount"),
                        "a drop amount must be above zero",
                    );
                }
                let window = window.as_ref().map(|w| {
                    self.duration(&Some(w.clone()), &format!("{k}.window"), Duration::ZERO)
                });
                (
                    RuleKind::DropAmount {
                        amount: value,
                        window,
                    },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::NegativeBalance {
                severity,
                for_runs,
                resolve_after_runs,
            } => (
                RuleKind::NegativeBalance,
                severity,
                for_runs,
                resolve_after_runs,
                Severity::Critical,
            ),
            RawRule::CheckFailed {
                codes,
                consecutive,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.check_failed");
                let codes = match codes {
                    None => None,
                    Some(c) => {
                        match &c.value {
                            serde_json::Value::String(s) if s == "any" => None,
                            serde_json::Value::Array(items) if !items.is_empty() => {
                                let mut out = Vec::new();
                                for item in items {
                                    match item.as_u64() {
                                        Some(0) => self.at(
                                            c,
                                            format!("{k}.codes"),
                                            "code 0 is success, not a failure",
                                        ),
                                        Some(code) if code <= 99_999 => out.push(code as u32),
                                        _ => self.at(
                                            c,
                                            format!("{k}.codes"),
                                            format!("{item} is not a balance status code"),
                                        ),
                                    }
                                }
                                Some(out)
                            }
                            _ => {
                                self.at(c, format!("{k}.codes"), "expected `any` or a list of status codes, such as [3200, 3300]");
                                None
                            }
                        }
                    }
                };
                let consecutive =
                    self.count(consecutive, &format!("{k}.consecutive"), 1, 1, 1000) as u32;
                (
                    RuleKind::CheckFailed { codes, consecutive },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::Stale {
                after,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let after = self.duration_in(
                    &Some(after.clone()),
                    &format!("{key}.stale.after"),
                    Duration::from_secs(86_400),
                    Duration::from_secs(60),
                    Duration::from_secs(3650 * 86_400),
                );
                (
                    RuleKind::Stale { after },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::RunFailed {
                not_retrieved_percent,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let percent = match not_retrieved_percent {
                    Some(p) => self.percent(p, &format!("{key}.run_failed.not_retrieved_percent")),
                    None => 1_000,
                };
                (
                    RuleKind::RunFailed {
                        not_retrieved_percent: percent,
                    },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Critical,
                )
            }
        };
        let kind_key = format!("{key}.{}", kind.name());
        let severity = severity.unwrap_or(default_severity);
        let for_runs = self.count(for_runs, &format!("{kind_key}.for_runs"), 1, 1, 1000) as u32;
        let resolve_after_runs = self.count(
            resolve_after_runs,
            &format!("{kind_key}.resolve_after_runs"),
            1,
            1,
            1000,
        ) as u32;
        (self.problems.len() == before).then_some(Rule {
            kind,
            severity,
            for_runs,
            resolve_after_runs,
        })
    }
}
