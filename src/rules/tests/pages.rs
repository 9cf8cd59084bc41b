//! The streaming form: an [`Evaluator`] fed aligned pages of ids comes to what
//! [`evaluate`] gives for the whole run, and a page that is not after the previous one
//! is refused.

use super::*;
use crate::rules::{AuthorizerState, Evaluator, RulesError};

/// Judges `authorizers` against `previous` in pages of at most `size` ids on each
/// side, cut as the alerting's pages are: at the lower of the two full sides' last ids.
fn in_pages(
    settings: &Settings,
    run: &RunFacts,
    authorizers: &[AuthorizerFacts<'_>],
    previous: RulesState,
    size: usize,
) -> Evaluation {
    let config = settings.config();
    let mut evaluator = Evaluator::new(&config, run).unwrap();
    let (mut facts, mut entries) = (authorizers, previous.authorizers.as_slice());
    let mut state = Vec::new();
    let mut transitions = Vec::new();
    loop {
        let ends = [
            (facts.len() > size).then(|| facts[size - 1].id.to_string()),
            (entries.len() > size).then(|| entries[size - 1].id.clone()),
        ];
        let through = ends.into_iter().flatten().min();
        let within = |id: &str| through.as_deref().is_none_or(|through| id <= through);
        let take_facts = facts.iter().take_while(|f| within(f.id)).count();
        let take_entries = entries.iter().take_while(|e| within(&e.id)).count();
        let page: Vec<AuthorizerState> = entries[..take_entries].to_vec();
        let judged = evaluator.page(&facts[..take_facts], page).unwrap();
        state.extend(judged.entries);
        transitions.extend(judged.transitions);
        facts = &facts[take_facts..];
        entries = &entries[take_entries..];
        if through.is_none() {
            break;
        }
    }
    let end = evaluator.finish(previous.run_alerts).unwrap();
    let mut all = end.transitions;
    all.extend(transitions);
    Evaluation {
        state: RulesState {
            authorizers: state,
            run_alerts: end.run_alerts,
        },
        transitions: all,
        skips: end.skips,
    }
}

#[test]
fn pages_of_any_size_come_to_what_the_whole_run_does() {
    let settings = Settings::new(vec![
        rule(balance_below("150.00")),
        rule(RuleKind::NegativeBalance),
        rule(RuleKind::CheckFailed {
            codes: None,
            consecutive: 2,
        }),
        rule(RuleKind::RunFailed {
            not_retrieved_percent: 2000,
        }),
    ]);
    let ids: Vec<String> = (0..12).map(|n| format!("A-{n:02}")).collect();
    // Three runs: the list shrinks and grows, balances fall, checks fail, some go
    // missing, so pages meet departed, new and remembered authorizers alike.
    let runs: Vec<Vec<(usize, Check)>> = vec![
        (0..10).map(|n| (n, ok("500.00"))).collect(),
        (2..12)
            .map(|n| match n % 4 {
                0 => (n, ok("100.00")),
                1 => (n, failed(3200)),
                2 => (n, Check::NotRetrieved),
                _ => (n, ok("-5.00")),
            })
            .collect(),
        (0..12)
            .filter(|n| n % 3 != 0)
            .map(|n| match n % 2 {
                0 => (n, failed(3200)),
                _ => (n, ok("90.00")),
            })
            .collect(),
    ];
    let mut whole_state = RulesState::new();
    let mut announced = 0;
    let mut paged_states = vec![RulesState::new(); 4];
    for (n, checks) in runs.iter().enumerate() {
        let facts: Vec<AuthorizerFacts<'_>> = checks
            .iter()
            .map(|(i, check)| AuthorizerFacts::new(&ids[*i], *check))
            .collect();
        let run = run_facts(n as i64 + 1, t0() + days(n as i64));
        let whole = evaluate(&settings.config(), &run, &facts, whole_state).unwrap();
        for (size, state) in [1, 2, 3, 5].into_iter().zip(&mut paged_states) {
            let paged = in_pages(&settings, &run, &facts, std::mem::take(state), size);
            assert_eq!(paged, whole, "run {}, pages of {size}", n + 1);
            *state = paged.state;
        }
        announced += whole.transitions.len();
        whole_state = whole.state;
    }
    assert!(announced > 0);
}

#[test]
fn a_page_that_does_not_come_after_the_previous_one_is_refused() {
    let settings = Settings::new(vec![rule(balance_below("150.00"))]);
    let config = settings.config();
    let run = run_facts(1, t0());
    let mut evaluator = Evaluator::new(&config, &run).unwrap();
    evaluator
        .page(&[AuthorizerFacts::new("A-2", ok("10.00"))], Vec::new())
        .unwrap();
    let again = evaluator
        .page(&[AuthorizerFacts::new("A-2", ok("10.00"))], Vec::new())
        .unwrap_err();
    assert_eq!(again, RulesError::PagesNotInOrder { id: "A-2".into() });
    let behind = evaluator
        .page(&[], vec![AuthorizerState::new("A-1".into(), t0())])
        .unwrap_err();
    assert_eq!(behind, RulesError::PagesNotInOrder { id: "A-1".into() });
    let unfinished = RunFacts {
        state: RunState::Running,
        ..run
    };
    assert!(matches!(
        Evaluator::new(&config, &unfinished),
        Err(RulesError::RunNotFinished { .. })
    ));
}
