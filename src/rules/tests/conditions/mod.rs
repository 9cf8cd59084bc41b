//! One table per rule kind. Each case drives one authorizer, `A-1`, through earlier runs
//! (which must announce nothing) and then one more run, whose outcome is the case's:
//! a `Fired` transition with exactly this sentence, nothing, or a skip.
//!
//! - `balance`: `balance_below`, `below_payment`, `negative_balance`;
//! - `drops`: `drop_percent` and `drop_amount`, with and without a window;
//! - `checks`: `check_failed`, `stale`, `run_failed`.

mod balance;
mod checks;
mod drops;

use chrono::TimeDelta;

use super::*;
use crate::config::RuleKind;
use crate::rules::{RuleId, RuleType, Skip, SkipReason};

enum Expect {
    Fires(&'static str),
    Quiet,
    Skipped(SkipReason),
}
use Expect::*;

struct Case {
    name: &'static str,
    rule: RuleKind,
    /// Earlier runs: time since `t0`, outcome.
    history: Vec<(TimeDelta, Check)>,
    /// The judged run: time since `t0`, outcome.
    at: TimeDelta,
    check: Check,
    metadata: &'static [(&'static str, &'static str)],
    expect: Expect,
}

fn case(
    name: &'static str,
    rule: RuleKind,
    history: Vec<(TimeDelta, Check)>,
    (at, check): (TimeDelta, Check),
    expect: Expect,
) -> Case {
    Case {
        name,
        rule,
        history,
        at,
        check,
        metadata: &[],
        expect,
    }
}

fn run_table(cases: Vec<Case>) {
    for case in cases {
        let name = case.name;
        let mut monitor = Monitor::new(vec![rule(case.rule.clone())]);
        let meta = metadata(case.metadata);
        for (at, check) in &case.history {
            let facts = [AuthorizerFacts::new("A-1", *check).with_metadata(&meta)];
            let transitions = monitor.run(t0() + *at, &facts);
            assert!(
                transitions.is_empty(),
                "{name}: an earlier run announced {transitions:?}"
            );
        }
        let run = monitor.next_run(t0() + case.at);
        let facts = [AuthorizerFacts::new("A-1", case.check).with_metadata(&meta)];
        let evaluation = monitor.evaluate(run, &facts);
        let found = kinds_and_reasons(&evaluation.transitions);
        match case.expect {
            Fires(reason) => {
                assert_eq!(
                    found,
                    vec![(TransitionKind::Fired, reason.to_string())],
                    "{name}"
                );
                assert!(
                    evaluation.skips.is_empty(),
                    "{name}: {:?}",
                    evaluation.skips
                );
            }
            Quiet => {
                assert_eq!(found, vec![], "{name}");
                assert!(
                    evaluation.skips.is_empty(),
                    "{name}: {:?}",
                    evaluation.skips
                );
            }
            Skipped(reason) => {
                assert_eq!(found, vec![], "{name}");
                let expected = Skip {
                    rule: RuleId::new(RuleType::of(&case.rule), 1),
                    field: "payment_amount".to_string(),
                    reason,
                    count: 1,
                    examples: vec!["A-1".to_string()],
                };
                assert_eq!(evaluation.skips, vec![expected], "{name}");
            }
        }
    }
}

fn now(check: Check) -> (TimeDelta, Check) {
    (days(1), check)
}
