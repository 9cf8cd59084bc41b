//! Tests of `rules`, through [`evaluate`] wherever possible.
//!
//! - `conditions`: one table per rule kind, with the boundaries (at the threshold, one
//!   cent over, first run, missing metadata, window edges).
//! - `lifecycle`: the step table, then `for_runs`, reminders, resolution, flapping,
//!   changed and removed rules, authorizers leaving the list, what a transition carries,
//!   and refused input.
//! - `pages`: the same run judged a page of ids at a time (`Evaluator`) comes to what
//!   `evaluate` gives for the whole run; pages out of order are refused.
//! - `restart`: a state written to text rows and read back between runs gives the same
//!   transitions as one kept in memory.
//!
//! The helpers below build a monitor with given rules and drive it run after run.

mod conditions;
mod lifecycle;
mod pages;
mod restart;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::config::{Rule, RuleKind, Severity};
use crate::domain::{Cents, RunId, RunState};

use super::{
    AuthorizerFacts, Check, Evaluation, MonitorRules, RulesState, RunFacts, Transition,
    TransitionKind, evaluate,
};

/// Monday 2026-11-02 11:30 UTC (06:30 in New York).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 11, 30, 0).unwrap()
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn micros(n: i64) -> TimeDelta {
    TimeDelta::microseconds(n)
}

fn cents(text: &str) -> Cents {
    Cents::parse(text).unwrap()
}

/// A rule with the defaults the configuration applies, at warning severity.
fn rule(kind: RuleKind) -> Rule {
    Rule {
        kind,
        severity: Severity::Warning,
        for_runs: 1,
        resolve_after_runs: 1,
    }
}

fn balance_below(amount: &str) -> RuleKind {
    RuleKind::BalanceBelow {
        amount: cents(amount),
    }
}

fn ok(balance: &str) -> Check {
    Check::Retrieved {
        status_code: 0,
        balance: Some(cents(balance)),
    }
}

fn failed(code: i64) -> Check {
    Check::Retrieved {
        status_code: code,
        balance: None,
    }
}

fn metadata(pairs: &[(&str, &str)]) -> crate::authorizers::Metadata {
    pairs.iter().copied().collect()
}

/// A monitor's settings, owned, so tests can change them between runs.
#[derive(Clone, Debug)]
struct Settings {
    name: String,
    rules: Vec<Rule>,
    repeat_interval: Duration,
    send_resolved: bool,
    alert_fields: Vec<String>,
}

impl Settings {
    fn new(rules: Vec<Rule>) -> Settings {
        Settings {
            name: "morning-ach".to_string(),
            rules,
            repeat_interval: Duration::from_secs(24 * 3600),
            send_resolved: true,
            alert_fields: Vec::new(),
        }
    }

    fn config(&self) -> MonitorRules<'_> {
        MonitorRules {
            monitor: &self.name,
            rules: &self.rules,
            repeat_interval: self.repeat_interval,
            send_resolved: self.send_resolved,
            alert_fields: &self.alert_fields,
        }
    }
}

/// A finished, complete run with nothing wrong at the run level.
fn run_facts(run: i64, now: DateTime<Utc>) -> RunFacts {
    RunFacts {
        run: RunId(run),
        now,
        state: RunState::Complete,
        submitted: true,
        api_unreachable: false,
        authorizer_list_complete: true,
    }
}

/// A monitor driven run after run, keeping its state in memory.
struct Monitor {
    settings: Settings,
    state: RulesState,
    runs: i64,
}

impl Monitor {
    fn new(rules: Vec<Rule>) -> Monitor {
        Monitor::with(Settings::new(rules))
    }

    fn with(settings: Settings) -> Monitor {
        Monitor {
            settings,
            state: RulesState::new(),
            runs: 0,
        }
    }

    /// The next run's facts, at `now`.
    fn next_run(&mut self, now: DateTime<Utc>) -> RunFacts {
        self.runs += 1;
        run_facts(self.runs, now)
    }

    /// Evaluates a run with these facts and keeps the new state.
    fn evaluate(&mut self, run: RunFacts, authorizers: &[AuthorizerFacts<'_>]) -> Evaluation {
        let previous = std::mem::take(&mut self.state);
        let evaluation = evaluate(&self.settings.config(), &run, authorizers, previous)
            .expect("a valid evaluation");
        self.state = evaluation.state.clone();
        evaluation
    }

    /// A complete run at `now`; returns its transitions.
    fn run(&mut self, now: DateTime<Utc>, authorizers: &[AuthorizerFacts<'_>]) -> Vec<Transition> {
        let run = self.next_run(now);
        self.evaluate(run, authorizers).transitions
    }

    /// The ids of the authorizers the monitor's state remembers, in its order.
    fn remembered_ids(&self) -> Vec<&str> {
        self.state
            .authorizers
            .iter()
            .map(|entry| entry.id.as_str())
            .collect()
    }

    /// A complete run of one authorizer `A-1`; returns its transitions.
    fn check(&mut self, now: DateTime<Utc>, check: Check) -> Vec<Transition> {
        self.run(now, &[AuthorizerFacts::new("A-1", check)])
    }
}

/// `(kind, reason)` of each transition, for compact assertions.
fn kinds_and_reasons(transitions: &[Transition]) -> Vec<(TransitionKind, String)> {
    transitions
        .iter()
        .map(|t| (t.kind, t.reason.clone()))
        .collect()
}

fn kinds(transitions: &[Transition]) -> Vec<TransitionKind> {
    transitions.iter().map(|t| t.kind).collect()
}
