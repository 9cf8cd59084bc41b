//! The alert lifecycle: the step table, then whole runs through `evaluate`.

use chrono::TimeDelta;

use super::*;
use crate::config::RuleKind;
use crate::rules::lifecycle::{Observation, Policy, step};
use crate::rules::{AlertPhase, AuthorizerState, RuleId, RuleType, RulesError, Subject};

use TransitionKind::{Fired, Reminder, Resolved};

/// Name, phase before, observation, policy, phase after, transition.
type StepRow = (
    &'static str,
    Option<AlertPhase>,
    Observation,
    Policy,
    Option<AlertPhase>,
    Option<TransitionKind>,
);

#[test]
fn step_table() {
    let policy = |hits_to_fire, clears_to_resolve| Policy {
        hits_to_fire,
        clears_to_resolve,
        repeat: TimeDelta::hours(24),
    };
    let now = t0() + days(1);
    let firing = |hits, clears, last_notified_at| AlertPhase::Firing {
        hits,
        clears,
        fired_at: t0(),
        last_notified_at,
    };
    let pending = |hits| Some(AlertPhase::Pending { hits });
    use Observation::{Clear, Holds, Unknown};
    #[rustfmt::skip]
    let table: Vec<StepRow> = vec![
        ("nothing, clear", None, Clear, policy(1, 1), None, None),
        ("nothing, unknown", None, Unknown, policy(1, 1), None, None),
        ("nothing, holds, fires at once", None, Holds, policy(1, 1),
            Some(AlertPhase::Firing { hits: 1, clears: 0, fired_at: now, last_notified_at: now }), Some(Fired)),
        ("nothing, holds, for_runs 2", None, Holds, policy(2, 1), pending(1), None),
        ("pending, holds, reaches for_runs", pending(1), Holds, policy(2, 1),
            Some(AlertPhase::Firing { hits: 2, clears: 0, fired_at: now, last_notified_at: now }), Some(Fired)),
        ("pending, holds, short of for_runs", pending(1), Holds, policy(3, 1), pending(2), None),
        ("pending, clear resets", pending(2), Clear, policy(3, 1), None, None),
        ("pending, unknown keeps", pending(2), Unknown, policy(3, 1), pending(2), None),
        ("firing, holds, reminder due exactly now", Some(firing(1, 0, t0())), Holds, policy(1, 1),
            Some(AlertPhase::Firing { hits: 2, clears: 0, fired_at: t0(), last_notified_at: now }), Some(Reminder)),
        ("firing, holds, reminder one microsecond early",
            Some(firing(1, 0, t0() + micros(1))), Holds, policy(1, 1),
            Some(firing(2, 0, t0() + micros(1))), None),
        ("firing, holds, resets clears", Some(firing(0, 1, now)), Holds, policy(1, 3),
            Some(firing(1, 0, now)), None),
        ("firing, clear, resolves", Some(firing(4, 0, now)), Clear, policy(1, 1), None, Some(Resolved)),
        ("firing, clear, held back", Some(firing(4, 0, now)), Clear, policy(1, 2), Some(firing(0, 1, now)), None),
        ("firing, second clear, resolves", Some(firing(0, 1, now)), Clear, policy(1, 2), None, Some(Resolved)),
        ("firing, unknown keeps, no reminder", Some(firing(3, 1, t0())), Unknown, policy(1, 2),
            Some(firing(3, 1, t0())), None),
    ];
    for (name, phase, observation, policy, next, transition) in table {
        assert_eq!(
            step(phase, observation, &policy, now),
            (next, transition),
            "{name}"
        );
    }
}

#[test]
fn reminder_comes_exactly_after_repeat_interval_and_not_before() {
    let mut monitor = Monitor::new(vec![rule(balance_below("150.00"))]);
    let low = ok("90.00");
    let fired = monitor.check(t0(), low);
    assert_eq!(
        kinds_and_reasons(&fired),
        vec![(Fired, "balance $90.00 is below $150.00".to_string())]
    );
    assert!(monitor.check(t0() + days(1) - micros(1), low).is_empty());
    let reminder = monitor.check(t0() + days(1), low);
    assert_eq!(
        kinds_and_reasons(&reminder),
        vec![(Reminder, "balance $90.00 is below $150.00".to_string())]
    );
    assert_eq!(reminder[0].firing_since, t0());
    assert!(reminder[0].notify);
    // The next one counts from the reminder, not from when it fired.
    assert!(
        monitor
            .check(t0() + days(1) + TimeDelta::hours(12), low)
            .is_empty()
    );
    assert!(monitor.check(t0() + days(2) - micros(1), low).is_empty());
    assert_eq!(kinds(&monitor.check(t0() + days(2), low)), vec![Reminder]);
    // A run that cannot see the balance brings no reminder, however late.
    assert!(monitor.check(t0() + days(5), failed(9000)).is_empty());
    assert_eq!(kinds(&monitor.check(t0() + days(6), low)), vec![Reminder]);
}

#[test]
fn resolution_is_announced_only_with_send_resolved() {
    for send_resolved in [true, false] {
        let mut settings = Settings::new(vec![rule(balance_below("150.00"))]);
        settings.send_resolved = send_resolved;
        let mut monitor = Monitor::with(settings);
        assert_eq!(kinds(&monitor.check(t0(), ok("90.00"))), vec![Fired]);
        assert_eq!(monitor.state.firing_count(), 1);
        let run = monitor.next_run(t0() + days(1));
        let evaluation = monitor.evaluate(run, &[AuthorizerFacts::balance("A-1", cents("200.00"))]);
        assert_eq!(
            kinds_and_reasons(&evaluation.transitions),
            vec![(
                Resolved,
                "balance $200.00 is no longer below $150.00".to_string()
            )]
        );
        let resolved = &evaluation.transitions[0];
        assert_eq!(resolved.notify, send_resolved);
        assert_eq!(resolved.firing_since, t0());
        assert_eq!(
            evaluation.notifications().count(),
            usize::from(send_resolved)
        );
        assert_eq!(monitor.state.firing_count(), 0);
        assert!(monitor.state.authorizer("A-1").unwrap().alerts.is_empty());
        // Resolved means gone: the same condition again is a new alert.
        assert_eq!(
            kinds(&monitor.check(t0() + days(2), ok("90.00"))),
            vec![Fired]
        );
    }
}

#[test]
fn for_runs_needs_that_many_holding_runs_in_a_row() {
    let mut monitor = Monitor::new(vec![Rule {
        for_runs: 3,
        ..rule(balance_below("150.00"))
    }]);
    let phase = |monitor: &Monitor| {
        monitor
            .state
            .authorizer("A-1")
            .and_then(|entry| entry.alerts.first())
            .map(|alert| alert.phase)
    };
    let low = ok("90.00");
    assert!(monitor.check(t0(), low).is_empty());
    assert!(monitor.check(t0() + days(1), low).is_empty());
    assert_eq!(phase(&monitor), Some(AlertPhase::Pending { hits: 2 }));
    assert!(monitor.check(t0() + days(2), ok("150.00")).is_empty()); // clear: starts over
    assert_eq!(phase(&monitor), None);
    assert!(monitor.check(t0() + days(3), low).is_empty());
    assert!(
        monitor
            .check(t0() + days(4), Check::NotRetrieved)
            .is_empty()
    ); // unknown: kept
    assert_eq!(phase(&monitor), Some(AlertPhase::Pending { hits: 1 }));
    assert!(monitor.check(t0() + days(5), low).is_empty());
    let fired = monitor.check(t0() + days(6), low);
    assert_eq!(kinds(&fired), vec![Fired]);
    assert_eq!(fired[0].firing_since, t0() + days(6));
}

#[test]
fn resolve_after_runs_holds_a_flapping_alert_back() {
    let mut settings = Settings::new(vec![Rule {
        resolve_after_runs: 2,
        ..rule(balance_below("150.00"))
    }]);
    // Daily runs, a weekly reminder: any announcement below is the lifecycle's doing.
    settings.repeat_interval = Duration::from_secs(7 * 86_400);
    let mut monitor = Monitor::with(settings);
    let (low, high) = (ok("90.00"), ok("200.00"));
    let mut announced = Vec::new();
    for (day, check) in [low, high, low, high, low, high].into_iter().enumerate() {
        announced.extend(kinds(&monitor.check(t0() + days(day as i64), check)));
    }
    assert_eq!(
        announced,
        vec![Fired],
        "flapping fires once and stays firing"
    );
    assert_eq!(monitor.state.firing_count(), 1);
    let resolved = monitor.check(t0() + days(6), high);
    assert_eq!(
        kinds_and_reasons(&resolved),
        vec![(
            Resolved,
            "balance $200.00 is no longer below $150.00".to_string()
        )]
    );
}

#[test]
fn check_failed_consecutive_adds_to_for_runs() {
    let mut monitor = Monitor::new(vec![Rule {
        for_runs: 2,
        ..rule(RuleKind::CheckFailed {
            codes: None,
            consecutive: 2,
        })
    }]);
    assert!(monitor.check(t0(), failed(3200)).is_empty());
    assert!(monitor.check(t0() + days(1), failed(3200)).is_empty());
    assert_eq!(
        kinds_and_reasons(&monitor.check(t0() + days(2), failed(3200))),
        vec![(
            Fired,
            "check failed with 3200 account closed, 3 checks in a row".to_string()
        )]
    );
    assert_eq!(
        kinds_and_reasons(&monitor.check(t0() + days(3), ok("1.00"))),
        vec![(Resolved, "check succeeded".to_string())]
    );
}

#[test]
fn changing_a_rules_parameters_keeps_its_alerts() {
    let mut monitor = Monitor::new(vec![rule(balance_below("150.00"))]);
    assert_eq!(kinds(&monitor.check(t0(), ok("90.00"))), vec![Fired]);
    // Lowered, but 90.00 is still below: the alert goes on, nobody is told again.
    monitor.settings.rules[0].kind = balance_below("100.00");
    monitor.settings.rules[0].severity = Severity::Critical;
    assert!(
        monitor
            .check(t0() + TimeDelta::hours(1), ok("90.00"))
            .is_empty()
    );
    let alert = monitor.state.authorizer("A-1").unwrap().alerts[0];
    assert_eq!(alert.severity, Severity::Critical);
    // Lowered below the balance: it resolves, judged by the new amount.
    monitor.settings.rules[0].kind = balance_below("50.00");
    let resolved = monitor.check(t0() + TimeDelta::hours(2), ok("90.00"));
    assert_eq!(
        kinds_and_reasons(&resolved),
        vec![(
            Resolved,
            "balance $90.00 is no longer below $50.00".to_string()
        )]
    );
    assert_eq!(resolved[0].severity, Severity::Critical);
}

#[test]
fn removing_a_rule_resolves_its_firing_alerts() {
    let mut monitor = Monitor::new(vec![
        rule(balance_below("150.00")),
        rule(balance_below("100.00")),
        Rule {
            severity: Severity::Critical,
            ..rule(RuleKind::NegativeBalance)
        },
        Rule {
            for_runs: 5,
            ..rule(RuleKind::DropAmount {
                amount: cents("1.00"),
                window: None,
            })
        },
    ]);
    assert!(monitor.check(t0(), ok("500.00")).is_empty());
    let fired = monitor.check(t0() + days(1), ok("-5.00"));
    assert_eq!(kinds(&fired), vec![Fired, Fired, Fired]);
    let rules: Vec<String> = fired.iter().map(|t| t.rule().to_string()).collect();
    assert_eq!(
        rules,
        ["balance_below#1", "balance_below#2", "negative_balance#1"]
    );
    // Drop the first balance_below, negative_balance and the pending drop_amount: the
    // remaining balance_below (100.00) is now balance_below#1 and keeps that alert.
    monitor.settings.rules = vec![rule(balance_below("100.00"))];
    let retired = monitor.check(t0() + days(1) + TimeDelta::hours(1), ok("-5.00"));
    assert_eq!(
        kinds_and_reasons(&retired),
        vec![
            (
                Resolved,
                "rule balance_below#2 is no longer configured".to_string()
            ),
            (
                Resolved,
                "rule negative_balance#1 is no longer configured".to_string()
            ),
        ]
    );
    assert_eq!(retired[1].severity, Severity::Critical);
    let alerts = &monitor.state.authorizer("A-1").unwrap().alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule, RuleId::new(RuleType::BalanceBelow, 1));
}

#[test]
fn an_authorizer_leaving_the_list_resolves_only_when_the_list_is_complete() {
    let mut monitor = Monitor::new(vec![rule(balance_below("150.00"))]);
    let both = [
        AuthorizerFacts::balance("A-1", cents("90.00")),
        AuthorizerFacts::balance("A-2", cents("80.00")),
    ];
    assert_eq!(kinds(&monitor.run(t0(), &both)), vec![Fired, Fired]);

    // The list could not be loaded: nothing is known about A-1, nothing changes.
    let mut run = monitor.next_run(t0() + TimeDelta::hours(1));
    run.authorizer_list_complete = false;
    let only_a2 = [AuthorizerFacts::balance("A-2", cents("80.00"))];
    let kept = monitor.evaluate(run, &only_a2);
    assert!(kept.transitions.is_empty());
    assert_eq!(monitor.state.authorizers.len(), 2);
    assert_eq!(monitor.state.firing_count(), 2);

    // A complete list without A-1: it has left, its alert resolves, its state goes.
    let left = monitor.run(t0() + TimeDelta::hours(2), &only_a2);
    assert_eq!(
        kinds_and_reasons(&left),
        vec![(
            Resolved,
            "the authorizer is no longer in the monitor's list".to_string()
        )]
    );
    assert_eq!(left[0].authorizer_id(), Some("A-1"));
    assert_eq!(left[0].balance_before, Some(cents("90.00")));
    assert_eq!(left[0].balance_after, None);
    let ids = monitor.remembered_ids();
    assert_eq!(ids, ["A-2"]);
}

#[test]
fn a_transition_carries_fingerprint_balances_and_only_the_allowed_fields() {
    let mut settings = Settings::new(vec![
        rule(RuleKind::DropPercent {
            percent: 2000,
            window: Some(Duration::from_secs(7 * 86_400)),
        }),
        rule(balance_below("150.00")),
    ]);
    settings.alert_fields = vec!["payment_amount".to_string(), "loan_id".to_string()];
    let mut monitor = Monitor::with(settings);
    let meta = metadata(&[
        ("loan_id", "LN-77"),
        ("payment_amount", "120.00"),
        ("branch", "north"),
    ]);
    let facts =
        |balance: &str| [AuthorizerFacts::balance("A/1", cents(balance)).with_metadata(&meta)];
    assert!(monitor.run(t0(), &facts("1000.00")).is_empty());
    assert!(monitor.run(t0() + days(1), &facts("900.00")).is_empty());
    let transitions = monitor.run(t0() + days(2), &facts("100.00"));
    assert_eq!(kinds(&transitions), vec![Fired, Fired]);

    let drop = &transitions[0];
    assert_eq!(
        drop.fingerprint.to_string(),
        "morning-ach/drop_percent#1/authorizer/A/1"
    );
    assert_eq!(
        drop.fingerprint.subject,
        Subject::Authorizer("A/1".to_string())
    );
    assert_eq!(drop.run, RunId(3));
    assert_eq!(drop.at, t0() + days(2));
    assert_eq!(drop.severity, Severity::Warning);
    assert_eq!(
        drop.balance_before,
        Some(cents("1000.00")),
        "the window's highest"
    );
    assert_eq!(drop.balance_after, Some(cents("100.00")));
    assert_eq!(drop.status_code, Some(0));
    let fields = vec![
        ("payment_amount".to_string(), "120.00".to_string()),
        ("loan_id".to_string(), "LN-77".to_string()),
    ];
    assert_eq!(drop.fields, fields);

    let below = &transitions[1];
    assert_eq!(
        below.balance_before,
        Some(cents("900.00")),
        "the previous balance"
    );
    assert_eq!(below.fields, fields);
    assert_eq!(below.reason, "balance $100.00 is below $150.00");
}

#[test]
fn run_alerts_come_first_and_follow_the_same_lifecycle() {
    let mut monitor = Monitor::new(vec![
        rule(balance_below("150.00")),
        Rule {
            resolve_after_runs: 2,
            ..rule(RuleKind::RunFailed {
                not_retrieved_percent: 1000,
            })
        },
    ]);
    let mut run = monitor.next_run(t0());
    run.submitted = false;
    run.state = RunState::Failed;
    let first = monitor.evaluate(run, &[AuthorizerFacts::balance("A-1", cents("1.00"))]);
    assert_eq!(kinds(&first.transitions), vec![Fired, Fired]);
    assert_eq!(first.transitions[0].fingerprint.subject, Subject::Runs);
    assert_eq!(
        first.transitions[0].reason,
        "run 1: could not be submitted; ended failed"
    );
    assert_eq!(first.transitions[1].authorizer_id(), Some("A-1"));

    let healthy = [AuthorizerFacts::balance("A-1", cents("1000.00"))];
    let second = monitor.run(t0() + days(1), &healthy);
    assert_eq!(
        kinds_and_reasons(&second),
        vec![(
            Resolved,
            "balance $1,000.00 is no longer below $150.00".to_string()
        )]
    );
    let third = monitor.run(t0() + days(2), &healthy);
    assert_eq!(
        kinds_and_reasons(&third),
        vec![(
            Resolved,
            "run 3 is healthy: 0 of 1 authorizers (0%) not retrieved, at most 10%".to_string()
        )]
    );
    assert_eq!(third[0].run, RunId(3));
    assert!(monitor.state.run_alerts.is_empty());
}

#[test]
fn refused_input() {
    let settings = Settings::new(vec![rule(balance_below("150.00"))]);
    let config = settings.config();
    let unsorted_state = RulesState {
        authorizers: vec![
            AuthorizerState::new("B".to_string(), t0()),
            AuthorizerState::new("A".to_string(), t0()),
        ],
        run_alerts: Vec::new(),
    };
    let a = AuthorizerFacts::balance("A", cents("1.00"));
    let b = AuthorizerFacts::balance("B", cents("1.00"));
    let mut running = run_facts(9, t0());
    running.state = RunState::Running;
    let table: Vec<(
        &str,
        RunFacts,
        Vec<AuthorizerFacts<'_>>,
        RulesState,
        RulesError,
    )> = vec![
        (
            "run not finished",
            running,
            vec![a],
            RulesState::new(),
            RulesError::RunNotFinished {
                run: RunId(9),
                state: RunState::Running,
            },
        ),
        (
            "authorizers out of order",
            run_facts(9, t0()),
            vec![b, a],
            RulesState::new(),
            RulesError::AuthorizersNotSorted {
                before: "B".to_string(),
                after: "A".to_string(),
            },
        ),
        (
            "an authorizer twice",
            run_facts(9, t0()),
            vec![a, a],
            RulesState::new(),
            RulesError::DuplicateAuthorizer {
                id: "A".to_string(),
            },
        ),
        (
            "state out of order",
            run_facts(9, t0()),
            vec![a],
            unsorted_state,
            RulesError::StateNotSorted {
                id: "A".to_string(),
            },
        ),
    ];
    for (name, run, authorizers, state, error) in table {
        assert_eq!(
            evaluate(&config, &run, &authorizers, state),
            Err(error),
            "{name}"
        );
    }
    assert_eq!(
        RulesError::AuthorizersNotSorted {
            before: "B".into(),
            after: "A".into()
        }
        .to_string(),
        "the run's authorizers are not sorted by id: \"A\" comes after \"B\""
    );
}

#[test]
fn rule_ids_read_back_and_count_per_kind() {
    let rules = [
        rule(balance_below("1.00")),
        rule(RuleKind::NegativeBalance),
        rule(balance_below("2.00")),
    ];
    let ids = RuleId::assign(&rules);
    let text: Vec<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["balance_below#1", "negative_balance#1", "balance_below#2"]
    );
    for id in &ids {
        assert_eq!(RuleId::parse(&id.to_string()), Some(*id));
    }
    for bad in [
        "balance_below",
        "balance_below#0",
        "balance_below#01",
        "nope#1",
        "stale#+1",
        "#1",
    ] {
        assert_eq!(RuleId::parse(bad), None, "{bad}");
    }
}

#[test]
fn new_kept_and_departed_authorizers_stay_in_id_order() {
    for complete in [true, false] {
        let mut monitor = Monitor::new(vec![rule(balance_below("150.00"))]);
        let first: Vec<_> = ["B", "D", "F"]
            .into_iter()
            .map(|id| AuthorizerFacts::balance(id, cents("90.00")))
            .collect();
        assert_eq!(kinds(&monitor.run(t0(), &first)), vec![Fired; 3]);
        // D has gone; A, C, E and G are new, before, between and after the others.
        let second: Vec<_> = ["A", "B", "C", "E", "F", "G"]
            .into_iter()
            .map(|id| AuthorizerFacts::balance(id, cents("90.00")))
            .collect();
        let mut run = monitor.next_run(t0() + TimeDelta::hours(1));
        run.authorizer_list_complete = complete;
        let evaluation = monitor.evaluate(run, &second);
        let announced: Vec<(TransitionKind, &str)> = evaluation
            .transitions
            .iter()
            .map(|t| (t.kind, t.authorizer_id().unwrap()))
            .collect();
        let ids = monitor.remembered_ids();
        if complete {
            assert_eq!(
                announced,
                [
                    (Fired, "A"),
                    (Fired, "C"),
                    (Resolved, "D"),
                    (Fired, "E"),
                    (Fired, "G")
                ]
            );
            assert_eq!(ids, ["A", "B", "C", "E", "F", "G"]);
        } else {
            assert_eq!(
                announced,
                [(Fired, "A"), (Fired, "C"), (Fired, "E"), (Fired, "G")]
            );
            assert_eq!(ids, ["A", "B", "C", "D", "E", "F", "G"]);
        }
        // B and F kept their history and alert; the new ones start theirs now.
        let b = monitor.state.authorizer("B").unwrap();
        assert_eq!(b.history.first_checked_at, t0());
        assert_eq!(b.alerts[0].phase.hits(), 2);
        let g = monitor.state.authorizer("G").unwrap();
        assert_eq!(g.history.first_checked_at, t0() + TimeDelta::hours(1));
    }
}
