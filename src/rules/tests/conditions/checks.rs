//! `check_failed`, `stale` and `run_failed`.

use super::*;
use crate::config::RuleKind;

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
