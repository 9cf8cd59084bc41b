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

/// A monitor with every rule kind of [`rules`] and one webhook route, as configured.
fn paged_config() -> std::sync::Arc<crate::config::Config> {
    let text = "rightfoot:\n  api_key_env: K\n\
        routes:\n  hook:\n    webhook:\n      url: http://127.0.0.1:9/hook\n\
        monitors:\n  - name: m\n    schedule: \"30 11 * * *\"\n    timezone: UTC\n\
        \x20   authorizers:\n      csv: /nonexistent/authorizers.csv\n\
        \x20   routes: [hook]\n    repeat_interval: 48h\n\
        \x20   rules:\n\
        \x20     - balance_below: { amount: 150.00 }\n\
        \x20     - drop_percent: { percent: 40, window: 7d, for_runs: 2 }\n\
        \x20     - negative_balance: {}\n\
        \x20     - check_failed: { consecutive: 2 }\n\
        \x20     - stale: { after: 2d }\n\
        \x20     - run_failed: { not_retrieved_percent: 20 }\n";
    let env = crate::secret::Environment::from_pairs([("K", "rf_test_key")]);
    let config = crate::config::load_str(text, std::path::Path::new("c.yaml"), &env)
        .unwrap_or_else(|error| panic!("{:?}", error.problems()));
    std::sync::Arc::new(config)
}

/// Stores run `n` of [`script`] for `monitor` as a finished manual run.
async fn store_run(
    store: &Store,
    monitor: crate::store::MonitorId,
    n: usize,
) -> crate::domain::RunId {
    use crate::store::{BatchSubmitted, PlannedChunk, ResultRow};
    let checks: Vec<(&str, Check)> = script()[n]
        .iter()
        .filter_map(|(id, check)| Some((*id, (*check)?)))
        .collect();
    let run = store
        .create_run(NewRun {
            created_at: day(n as i64),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    store
        .set_run_state(run, RunStateChange::new(RunState::Running, day(n as i64)))
        .await
        .unwrap();
    let members: Vec<String> = checks.iter().map(|(id, _)| id.to_string()).collect();
    let batch = store
        .begin_batch(
            run,
            0,
            PlannedChunk {
                body_sha256: [n as u8; 32],
                members: members.clone(),
            },
        )
        .await
        .unwrap();
    store
        .mark_batch_submitted(
            batch,
            BatchSubmitted {
                rightfoot_batch_id: format!("B-{n}"),
                submitted_at: day(n as i64),
                accepted: members.len() as u32,
                failed: Vec::new(),
                deadline: day(n as i64) + TimeDelta::hours(1),
            },
        )
        .await
        .unwrap();
    let results: Vec<ResultRow> = checks
        .iter()
        .filter_map(|(id, check)| match *check {
            Check::Retrieved {
                status_code,
                balance,
            } => Some(ResultRow {
                authorizer_unique_id: id.to_string(),
                balance,
                balance_status_code: status_code,
                retrieved_at: day(n as i64),
            }),
            _ => None,
        })
        .collect();
    store.upsert_results(run, batch, &results).await.unwrap();
    store
        .set_run_state(run, RunStateChange::new(RunState::Complete, day(n as i64)))
        .await
        .unwrap();
    run
}

/// Issue 21: a run judged a page of one or two ids at a time (a merge join over keyset
/// pages, one transaction fed in parts) comes to what one page of every id comes to:
/// the same counts, skips, listing and digests, and the same state in the store, run
/// after run, with a silence holding an alert and releasing it.
#[tokio::test]
async fn judging_in_pages_of_one_or_two_ids_comes_to_what_one_page_does() {
    use super::judge::{JudgementInput, PAGE, judge};
    use crate::store::NewSilence;
    let config = paged_config();
    let monitor = config.monitors[0].clone();
    let directory = tempfile::tempdir().unwrap();
    let pages = [PAGE, 2, 1];
    let mut stores = Vec::new();
    for page in pages {
        let store = Store::open(directory.path().join(format!("page-{page}.db"))).unwrap();
        let monitor_id = store.ensure_monitor("m").await.unwrap();
        store
            .add_silence(NewSilence {
                authorizer_unique_id: "A-2".into(),
                monitor: None,
                rule: Some("check_failed".into()),
                starts_at: day(0) - TimeDelta::hours(1),
                ends_at: day(3) - TimeDelta::hours(1),
                created_by: "ops".into(),
                comment: "payment plan".into(),
            })
            .await
            .unwrap();
        stores.push((page, store, monitor_id));
    }
    let (mut fired, mut held) = (0, 0);
    for n in 0..script().len() {
        let mut outcomes = Vec::new();
        for (page, store, monitor_id) in &stores {
            let run_id = store_run(store, *monitor_id, n).await;
            let run = store.next_unjudged_run(*monitor_id).await.unwrap().unwrap();
            assert_eq!(run.record.id, run_id);
            let now = day(n as i64) + TimeDelta::minutes(5);
            let input = JudgementInput {
                monitor: monitor.clone(),
                monitor_id: *monitor_id,
                run,
                routes: vec!["hook".into()],
                held: store.held_alerts(*monitor_id).await.unwrap(),
                silences: store.silences(Some(now)).await.unwrap(),
                now,
                page: *page,
            };
            let outcome = judge(store, input).await.unwrap().unwrap();
            held += store.held_alerts(*monitor_id).await.unwrap().len();
            outcomes.push((
                outcome.judged,
                store.balance_memory(*monitor_id).await.unwrap(),
                store.open_alerts(*monitor_id).await.unwrap(),
                store.held_alerts(*monitor_id).await.unwrap(),
            ));
        }
        let (whole, paged) = outcomes.split_first().unwrap();
        for (other, page) in paged.iter().zip(&pages[1..]) {
            assert_eq!(other, whole, "run {n}, pages of {page}");
        }
        fired += whole.0.fired;
    }
    assert!(fired > 0 && held > 0, "fired {fired}, held {held}");
}
