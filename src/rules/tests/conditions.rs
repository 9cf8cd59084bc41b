//! One table per rule kind. Each case drives one authorizer, `A-1`, through earlier runs
//! (which must announce nothing) and then one more run, whose outcome is the case's:
//! a `Fired` transition with exactly this sentence, nothing, or a skip.

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

#[test]
fn balance_below_is_strictly_below_the_amount() {
    let r = || balance_below("150.00");
    run_table(vec![
        case(
            "one cent below",
            r(),
            vec![],
            now(ok("149.99")),
            Fires("balance $149.99 is below $150.00"),
        ),
        case(
            "exactly at the amount is not below",
            r(),
            vec![],
            now(ok("150.00")),
            Quiet,
        ),
        case("one cent above", r(), vec![], now(ok("150.01")), Quiet),
        case(
            "overdrawn is below",
            r(),
            vec![],
            now(ok("-5.00")),
            Fires("balance -$5.00 is below $150.00"),
        ),
        case(
            "zero is below",
            r(),
            vec![],
            now(ok("0")),
            Fires("balance $0.00 is below $150.00"),
        ),
        case(
            "a failed check cannot be judged",
            r(),
            vec![],
            now(failed(3200)),
            Quiet,
        ),
        case(
            "a balance sent with a failure code is ignored",
            r(),
            vec![],
            now(Check::Retrieved {
                status_code: 9000,
                balance: Some(cents("1.00")),
            }),
            Quiet,
        ),
        case(
            "success without a balance cannot be judged",
            r(),
            vec![],
            now(Check::Retrieved {
                status_code: 0,
                balance: None,
            }),
            Quiet,
        ),
        case(
            "not retrieved",
            r(),
            vec![],
            now(Check::NotRetrieved),
            Quiet,
        ),
        case("rejected", r(), vec![], now(Check::Rejected), Quiet),
    ]);
}

#[test]
fn below_payment_compares_with_payment_plus_margin() {
    let r = || RuleKind::BelowPayment {
        field: "payment_amount".to_string(),
        margin: cents("25.00"),
    };
    let no_margin = || RuleKind::BelowPayment {
        field: "payment_amount".to_string(),
        margin: Cents::ZERO,
    };
    let with = |mut case: Case, metadata: &'static [(&'static str, &'static str)]| {
        case.metadata = metadata;
        case
    };
    let payment = &[("payment_amount", "100.00")];
    run_table(vec![
        with(
            case(
                "one cent below payment plus margin",
                r(),
                vec![],
                now(ok("124.99")),
                Fires("balance $124.99 is below the payment of $100.00 plus a margin of $25.00"),
            ),
            payment,
        ),
        with(
            case(
                "exactly payment plus margin",
                r(),
                vec![],
                now(ok("125.00")),
                Quiet,
            ),
            payment,
        ),
        with(
            case(
                "no margin: one cent below the payment",
                no_margin(),
                vec![],
                now(ok("99.99")),
                Fires("balance $99.99 is below the payment of $100.00"),
            ),
            payment,
        ),
        with(
            case(
                "no margin: exactly the payment",
                no_margin(),
                vec![],
                now(ok("100.00")),
                Quiet,
            ),
            payment,
        ),
        with(
            case(
                "payment written with a separator",
                r(),
                vec![],
                now(ok("1,000.00")),
                Fires(
                    "balance $1,000.00 is below the payment of $1,250.00 plus a margin of $25.00",
                ),
            ),
            &[("payment_amount", "1,250.00")],
        ),
        with(
            case(
                "field missing",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::MissingField),
            ),
            &[("loan_id", "LN-1")],
        ),
        with(
            case(
                "field blank",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::MissingField),
            ),
            &[("payment_amount", "  ")],
        ),
        with(
            case(
                "field not an amount",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::UnparsableField),
            ),
            &[("payment_amount", "n/a")],
        ),
        with(
            case(
                "field with sub-cent precision",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::UnparsableField),
            ),
            &[("payment_amount", "100.005")],
        ),
        // Without a balance there is nothing to judge, and nothing to report about the field.
        with(
            case(
                "failed check, field missing",
                r(),
                vec![],
                now(failed(3400)),
                Quiet,
            ),
            &[],
        ),
        with(
            case(
                "failed check, field present",
                r(),
                vec![],
                now(failed(3400)),
                Quiet,
            ),
            payment,
        ),
    ]);
}

#[test]
fn drop_percent_against_the_previous_successful_balance() {
    let r = || RuleKind::DropPercent {
        percent: 4000,
        window: None,
    };
    let start = |balance: &str| vec![(days(0), ok(balance))];
    run_table(vec![
        case(
            "first run: no history, no drop",
            r(),
            vec![],
            now(ok("1.00")),
            Quiet,
        ),
        case(
            "exactly 40%",
            r(),
            start("1000.00"),
            now(ok("600.00")),
            Fires("balance fell 40% from the previous balance $1,000.00 to $600.00 (alert at 40%)"),
        ),
        case(
            "one cent short of 40%",
            r(),
            start("1000.00"),
            now(ok("600.01")),
            Quiet,
        ),
        case(
            "a fractional drop is shown to the hundredth",
            r(),
            start("3.00"),
            now(ok("1.79")),
            Fires("balance fell 40.33% from the previous balance $3.00 to $1.79 (alert at 40%)"),
        ),
        case(
            "a rise is no drop",
            r(),
            start("100.00"),
            now(ok("900.00")),
            Quiet,
        ),
        case(
            "compared with the previous balance, not the highest",
            r(),
            vec![(days(0), ok("1000.00")), (days(1), ok("700.00"))],
            (days(2), ok("420.00")),
            Fires("balance fell 40% from the previous balance $700.00 to $420.00 (alert at 40%)"),
        ),
        case(
            "a failed check in between is skipped over",
            r(),
            vec![(days(0), ok("1000.00")), (days(1), failed(9000))],
            (days(2), ok("500.00")),
            Fires("balance fell 50% from the previous balance $1,000.00 to $500.00 (alert at 40%)"),
        ),
        case(
            "only failed checks before: no history",
            r(),
            vec![(days(0), failed(3200))],
            now(ok("1.00")),
            Quiet,
        ),
        case(
            "from zero there is no percentage",
            r(),
            start("0.00"),
            now(ok("-100.00")),
            Quiet,
        ),
        case(
            "from an overdraft there is no percentage",
            r(),
            start("-10.00"),
            now(ok("-100.00")),
            Quiet,
        ),
        case(
            "this run failed",
            r(),
            start("1000.00"),
            now(failed(3200)),
            Quiet,
        ),
    ]);
}

#[test]
fn drop_percent_within_a_window_uses_the_highest_balance() {
    let r = || RuleKind::DropPercent {
        percent: 4000,
        window: Some(Duration::from_secs(7 * 86_400)),
    };
    let history = || vec![(days(0), ok("1000.00")), (days(6), ok("900.00"))];
    run_table(vec![
        case(
            "the highest in the window, not the previous",
            r(),
            vec![(days(0), ok("1000.00")), (days(1), ok("700.00"))],
            (days(2), ok("600.00")),
            Fires(
                "balance fell 40% from the highest balance in the last 7d, $1,000.00, to $600.00 (alert at 40%)",
            ),
        ),
        case(
            "a balance exactly a window old is in the window",
            r(),
            history(),
            (days(7), ok("600.00")),
            Fires(
                "balance fell 40% from the highest balance in the last 7d, $1,000.00, to $600.00 (alert at 40%)",
            ),
        ),
        // 1,000.00 has left the window; from 900.00 the fall is 33%.
        case(
            "one microsecond later it is not",
            r(),
            history(),
            (days(7) + micros(1), ok("600.00")),
            Quiet,
        ),
        case(
            "nothing in the window: no drop",
            r(),
            vec![(days(0), ok("1000.00"))],
            (days(8), ok("1.00")),
            Quiet,
        ),
        case(
            "a later higher balance replaces an earlier one",
            r(),
            vec![
                (days(0), ok("500.00")),
                (days(1), ok("2000.00")),
                (days(2), ok("1500.00")),
            ],
            (days(3), ok("1200.00")),
            Fires(
                "balance fell 40% from the highest balance in the last 7d, $2,000.00, to $1,200.00 (alert at 40%)",
            ),
        ),
    ]);
}

#[test]
fn drop_amount_with_and_without_a_window() {
    let r = || RuleKind::DropAmount {
        amount: cents("500.00"),
        window: None,
    };
    let windowed = || RuleKind::DropAmount {
        amount: cents("500.00"),
        window: Some(Duration::from_secs(3 * 86_400)),
    };
    let start = |balance: &str| vec![(days(0), ok(balance))];
    let history = || vec![(days(0), ok("2000.00")), (days(1), ok("1800.00"))];
    run_table(vec![
        case(
            "first run: no history, no drop",
            r(),
            vec![],
            now(ok("-1000.00")),
            Quiet,
        ),
        case(
            "exactly the amount",
            r(),
            start("1000.00"),
            now(ok("500.00")),
            Fires(
                "balance fell $500.00 from the previous balance $1,000.00 to $500.00 (alert at $500.00)",
            ),
        ),
        case(
            "one cent short",
            r(),
            start("1000.00"),
            now(ok("500.01")),
            Quiet,
        ),
        case(
            "into an overdraft",
            r(),
            start("-100.00"),
            now(ok("-600.00")),
            Fires(
                "balance fell $500.00 from the previous balance -$100.00 to -$600.00 (alert at $500.00)",
            ),
        ),
        case(
            "a rise is no drop",
            r(),
            start("-600.00"),
            now(ok("1000.00")),
            Quiet,
        ),
        case(
            "window: a balance exactly a window old counts",
            windowed(),
            history(),
            (days(3), ok("1500.00")),
            Fires(
                "balance fell $500.00 from the highest balance in the last 3d, $2,000.00, to $1,500.00 (alert at $500.00)",
            ),
        ),
        case(
            "window: one microsecond later it does not",
            windowed(),
            history(),
            (days(3) + micros(1), ok("1500.00")),
            Quiet,
        ),
    ]);
}

#[test]
fn negative_balance_is_below_zero() {
    let r = || RuleKind::NegativeBalance;
    run_table(vec![
        case("zero is not negative", r(), vec![], now(ok("0.00")), Quiet),
        case(
            "one cent overdrawn",
            r(),
            vec![],
            now(ok("-0.01")),
            Fires("balance -$0.01 is negative"),
        ),
        case(
            "large overdraft",
            r(),
            vec![],
            now(ok("-1234.56")),
            Fires("balance -$1,234.56 is negative"),
        ),
        case(
            "a failed check cannot be judged",
            r(),
            vec![],
            now(failed(9000)),
            Quiet,
        ),
        case(
            "not retrieved",
            r(),
            vec![],
            now(Check::NotRetrieved),
            Quiet,
        ),
    ]);
}

#[test]
fn check_failed_by_code_and_in_a_row() {
    let listed = |consecutive| RuleKind::CheckFailed {
        codes: Some(vec![3200, 3300]),
        consecutive,
    };
    let any = |consecutive| RuleKind::CheckFailed {
        codes: None,
        consecutive,
    };
    run_table(vec![
        case(
            "a listed code",
            listed(1),
            vec![],
            now(failed(3200)),
            Fires("check failed with 3200 account closed"),
        ),
        case(
            "a code not listed",
            listed(1),
            vec![],
            now(failed(3400)),
            Quiet,
        ),
        case("success", listed(1), vec![], now(ok("10.00")), Quiet),
        case(
            "any: other error",
            any(1),
            vec![],
            now(failed(9000)),
            Fires("check failed with 9000 other error"),
        ),
        case(
            "any: a code this build does not know",
            any(1),
            vec![],
            now(failed(4242)),
            Fires("check failed with 4242 unknown balance status code"),
        ),
        case(
            "any: success is not a failure",
            any(1),
            vec![],
            now(ok("0.00")),
            Quiet,
        ),
        case(
            "any: not retrieved is not a check",
            any(1),
            vec![],
            now(Check::NotRetrieved),
            Quiet,
        ),
        case(
            "any: rejected is not a check",
            any(1),
            vec![],
            now(Check::Rejected),
            Quiet,
        ),
        case(
            "two in a row: the first",
            listed(2),
            vec![],
            now(failed(3200)),
            Quiet,
        ),
        case(
            "two in a row, different listed codes",
            listed(2),
            vec![(days(0), failed(3200))],
            now(failed(3300)),
            Fires("check failed with 3300 institution not supported, 2 checks in a row"),
        ),
        case(
            "a success breaks the streak",
            listed(2),
            vec![(days(0), failed(3200)), (days(1), ok("5.00"))],
            (days(2), failed(3200)),
            Quiet,
        ),
        case(
            "an unlisted failure breaks the streak",
            listed(2),
            vec![(days(0), failed(3200)), (days(1), failed(9000))],
            (days(2), failed(3200)),
            Quiet,
        ),
        case(
            "a run without a result neither breaks nor extends it",
            listed(2),
            vec![(days(0), failed(3200)), (days(1), Check::NotRetrieved)],
            (days(2), failed(3200)),
            Fires("check failed with 3200 account closed, 2 checks in a row"),
        ),
        case(
            "three in a row",
            any(3),
            vec![(days(0), failed(3400)), (days(1), failed(3400))],
            (days(2), failed(3400)),
            Fires(
                "check failed with 3400 no match with provided authorizer information, 3 checks in a row",
            ),
        ),
    ]);
}

#[test]
fn stale_counts_from_the_last_success_or_the_first_check() {
    let r = || RuleKind::Stale {
        after: Duration::from_secs(3 * 86_400),
    };
    run_table(vec![
        case(
            "never successful: from the first check",
            r(),
            vec![(days(0), failed(3200))],
            (days(3), failed(3200)),
            Fires("no successful balance since first checked at 2026-11-02T11:30:00Z (3d or more)"),
        ),
        case(
            "never successful: one microsecond short",
            r(),
            vec![(days(0), failed(3200))],
            (days(3) - micros(1), failed(3200)),
            Quiet,
        ),
        case(
            "rejected every time counts too",
            r(),
            vec![(days(0), Check::Rejected)],
            (days(3), Check::Rejected),
            Fires("no successful balance since first checked at 2026-11-02T11:30:00Z (3d or more)"),
        ),
        case(
            "from the last success",
            r(),
            vec![(days(0), ok("10.00")), (days(1), ok("20.00"))],
            (days(4), Check::NotRetrieved),
            Fires("no successful balance since 2026-11-03T11:30:00Z (3d or more)"),
        ),
        case(
            "the last success one microsecond short of the limit",
            r(),
            vec![(days(0), ok("10.00")), (days(1), ok("20.00"))],
            (days(4) - micros(1), Check::NotRetrieved),
            Quiet,
        ),
        case(
            "a success now",
            r(),
            vec![(days(0), failed(3200))],
            (days(10), ok("1.00")),
            Quiet,
        ),
        case(
            "the first check ever",
            r(),
            vec![],
            now(failed(3200)),
            Quiet,
        ),
    ]);
}

/// `run_failed` about the monitor's runs: facts about the run, and how many of ten
/// authorizers were not retrieved.
#[test]
fn run_failed_on_submission_api_state_or_share() {
    struct RunCase {
        name: &'static str,
        change: fn(&mut RunFacts),
        authorizers: usize,
        not_retrieved: usize,
        expect: Option<&'static str>,
    }
    let same: fn(&mut RunFacts) = |_| {};
    let cases = [
        RunCase {
            name: "healthy",
            change: same,
            authorizers: 10,
            not_retrieved: 0,
            expect: None,
        },
        RunCase {
            name: "exactly the share is not above it",
            change: same,
            authorizers: 10,
            not_retrieved: 1,
            expect: None,
        },
        RunCase {
            name: "just above the share",
            change: same,
            authorizers: 9,
            not_retrieved: 1,
            expect: Some("run 1: 1 of 9 authorizers (11.11%) not retrieved, above 10%"),
        },
        RunCase {
            name: "not submitted",
            change: |run| run.submitted = false,
            authorizers: 0,
            not_retrieved: 0,
            expect: Some("run 1: could not be submitted"),
        },
        RunCase {
            name: "API unreachable, nothing retrieved",
            change: |run| {
                run.api_unreachable = true;
                run.state = RunState::Failed;
            },
            authorizers: 4,
            not_retrieved: 4,
            expect: Some(
                "run 1: the Rightfoot API stayed unreachable after retries; ended failed; 4 of 4 authorizers (100%) not retrieved, above 10%",
            ),
        },
        RunCase {
            name: "ended failed",
            change: |run| run.state = RunState::Failed,
            authorizers: 3,
            not_retrieved: 0,
            expect: Some("run 1: ended failed"),
        },
        RunCase {
            name: "partial, within the share",
            change: |run| run.state = RunState::Partial,
            authorizers: 20,
            not_retrieved: 2,
            expect: None,
        },
        RunCase {
            name: "no authorizers",
            change: same,
            authorizers: 0,
            not_retrieved: 0,
            expect: None,
        },
    ];
    for case in cases {
        let mut monitor = Monitor::new(vec![rule(RuleKind::RunFailed {
            not_retrieved_percent: 1000,
        })]);
        let ids: Vec<String> = (0..case.authorizers).map(|i| format!("A-{i:03}")).collect();
        let facts: Vec<AuthorizerFacts<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let check = if i < case.not_retrieved {
                    Check::NotRetrieved
                } else {
                    ok("10.00")
                };
                AuthorizerFacts::new(id, check)
            })
            .collect();
        let mut run = monitor.next_run(t0());
        (case.change)(&mut run);
        let transitions = monitor.evaluate(run, &facts).transitions;
        let expected: Vec<_> = case
            .expect
            .map(|reason| (TransitionKind::Fired, reason.to_string()))
            .into_iter()
            .collect();
        assert_eq!(kinds_and_reasons(&transitions), expected, "{}", case.name);
        for transition in &transitions {
            assert_eq!(
                transition.fingerprint.to_string(),
                "morning-ach/run_failed#1/runs"
            );
            assert_eq!(transition.authorizer_id(), None);
        }
    }
}
