//! The rules' state through the store: after every run, the state read back from the
//! rows that [`rows::diff`] wrote equals the state `evaluate` returned, so a daemon that
//! restarts between two runs judges the next one exactly as one that did not.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::rows;
use crate::config::{Rule, RuleKind, Severity};
use crate::domain::{Cents, RunState, RunTrigger};
use crate::rules::{AuthorizerFacts, Check, MonitorRules, RulesState, RunFacts, evaluate};
use crate::store::{Judgement, NewRun, RunStateChange, Store};

fn rule(kind: RuleKind, for_runs: u32, resolve_after_runs: u32) -> Rule {
    Rule {
        kind,
        severity: Severity::Warning,
        for_runs,
        resolve_after_runs,
    }
}

fn cents(text: &str) -> Cents {
    Cents::parse(text).unwrap()
}

fn rules() -> Vec<Rule> {
    vec![
        rule(
            RuleKind::BalanceBelow {
                amount: cents("150.00"),
            },
            1,
            2,
        ),
        rule(
            RuleKind::DropPercent {
                percent: 4000,
                window: Some(Duration::from_secs(7 * 86_400)),
            },
            2,
            1,
        ),
        rule(RuleKind::NegativeBalance, 1, 1),
        rule(
            RuleKind::CheckFailed {
                codes: None,
                consecutive: 2,
            },
            1,
            1,
        ),
        rule(
            RuleKind::Stale {
                after: Duration::from_secs(2 * 86_400),
            },
            1,
            1,
        ),
        rule(
            RuleKind::RunFailed {
                not_retrieved_percent: 2000,
            },
            1,
            1,
        ),
    ]
}

/// Eight daily runs; `None`: the authorizer is not in that run's list.
fn script() -> Vec<Vec<(&'static str, Option<Check>)>> {
    let ok = |text: &str| {
        Some(Check::Retrieved {
            status_code: 0,
            balance: Some(cents(text)),
        })
    };
    let failed = Some(Check::Retrieved {
        status_code: 3200,
        balance: None,
    });
    let missing = Some(Check::NotRetrieved);
    let a = [
        "1000.00", "900.00", "500.00", "480.00", "100.00", "-5.00", "700.00", "700.00",
    ];
    let b = [
        ok("300.00"),
        failed,
        failed,
        failed,
        ok("290.00"),
        missing,
        missing,
        missing,
    ];
    (0..8)
        .map(|n| {
            vec![
                ("A-1", ok(a[n])),
                ("A-2", b[n]),
                ("A-3", if n < 4 { ok("50.00") } else { None }),
                ("A-4", if n >= 2 { ok("2000.00") } else { None }),
            ]
        })
        .collect()
}

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 11, 30, 0).unwrap() + TimeDelta::days(n)
        // Finer than the store keeps: the round trip must not depend on it.
        + TimeDelta::nanoseconds(123_456_789)
}

#[tokio::test]
async fn the_state_read_back_after_each_run_is_the_state_evaluate_returned() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("state.db")).unwrap();
    let monitor = store.ensure_monitor("m").await.unwrap();
    let rules = rules();
    let config = MonitorRules {
        monitor: "m",
        rules: &rules,
        repeat_interval: Duration::from_secs(2 * 86_400),
        send_resolved: true,
        alert_fields: &[],
    };
    let mut memory = RulesState::new();
    let mut transitions = 0;
    for (n, run_checks) in script().into_iter().enumerate() {
        let run = store
            .create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor,
                trigger: RunTrigger::Manual,
            })
            .await
            .unwrap();
        store
            .set_run_state(run, RunStateChange::new(RunState::Complete, day(n as i64)))
            .await
            .unwrap();
        let facts: Vec<AuthorizerFacts<'_>> = run_checks
            .iter()
            .filter_map(|(id, check)| check.map(|check| AuthorizerFacts::new(id, check)))
            .collect();
        let run_facts = RunFacts {
            run,
            now: day(n as i64),
            state: RunState::Complete,
            submitted: true,
            api_unreachable: false,
            authorizer_list_complete: true,
        };
        let (loaded, unreadable) = rows::load_state(
            store.balance_memory(monitor).await.unwrap(),
            store.open_alerts(monitor).await.unwrap(),
        );
        assert!(unreadable.is_empty());
        assert_eq!(loaded, memory, "before run {}", n + 1);
        let evaluation = evaluate(&config, &run_facts, &facts, loaded.clone()).unwrap();
        assert_eq!(
            evaluation,
            evaluate(&config, &run_facts, &facts, memory).unwrap(),
            "run {}: the stored state judges like the one in memory",
            n + 1
        );
        transitions += evaluation.transitions.len();
        let diff = rows::diff(
            "m",
            &rows::Before::of(&loaded),
            evaluation.state.clone(),
            &evaluation.transitions,
        );
        let judged = store
            .commit_judgement(
                monitor,
                run,
                Judgement {
                    judged_at: day(n as i64),
                    memory_upserts: diff.memory_upserts,
                    memory_deletes: diff.memory_deletes,
                    alerts: diff.alerts,
                    notifications: Vec::new(),
                    ..Judgement::default()
                },
            )
            .await
            .unwrap();
        assert!(judged);
        // A second judgement of the same run is refused and writes nothing.
        assert!(
            !store
                .commit_judgement(
                    monitor,
                    run,
                    Judgement {
                        judged_at: day(n as i64),
                        ..Judgement::default()
                    }
                )
                .await
                .unwrap()
        );
        memory = evaluation.state;
    }
    assert!(
        transitions >= 8,
        "the script exercises the lifecycle: {transitions}"
    );
    let (loaded, _) = rows::load_state(
        store.balance_memory(monitor).await.unwrap(),
        store.open_alerts(monitor).await.unwrap(),
    );
    assert_eq!(loaded, memory);
    // Resolved alerts stay as history beside the open ones.
    let all = store.alerts_page(None, None, 100).await.unwrap();
    assert!(all.rows.iter().any(|a| a.state == "resolved"));
    assert!(all.rows.iter().any(|a| a.state == "firing"));
    store.close().await;
}
