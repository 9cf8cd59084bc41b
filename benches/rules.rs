//! Benchmark: `rules::evaluate` judging 1,000,000 authorizers with every rule kind.
//!
//! Run it with `cargo bench --bench rules` (`-- --iterations N` for other than ten
//! measured rounds). `BENCHMARKS.md` records the figures and how to read them.
//!
//! 1. **Setup, not timed.** 1,000,000 authorizers `AUTH-0000000`…`AUTH-0999999`, each
//!    with its own metadata map (`loan_id`, `payment_amount`), as the loaded list holds
//!    them. The index modulo 100 picks a class (below): 91% are steady, each of nine
//!    interesting classes is 1%. Two runs three days apart: run A (the monitor's first)
//!    and run B. The monitor has one rule of every kind, as `config.example.yaml`
//!    writes them.
//! 2. **Warm-up, not timed, verified.** Run A from an empty state, then run B against
//!    A's state; every transition, skip and firing alert of both is checked against what
//!    the classes imply (the table in [`Class::expected_in_b`]), per class, kind and rule.
//! 3. **Measured rounds.** Each round times:
//!    - *first run*: run A from an empty state (every authorizer is new);
//!    - *evaluate*: run B against A's state: the steady case, the figure to quote;
//!    - *bare* (reference): one pass over run B's input counting balances below 150.00;
//!    - *join* (reference): run B's input merged with A's state by id, read only,
//!      counting balances below 150.00 and below their previous balance.
//!
//!    Every round's output is verified like the warm-up's. Peak RSS is reset before each
//!    timed pass, so it is the pass's own peak; the input and the previous state (held
//!    throughout) are in it, and "growth" is what the pass added.

#![forbid(unsafe_code)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use balance_monitor::authorizers::Metadata;
use balance_monitor::config::{Rule, RuleKind, Severity};
use balance_monitor::money::Cents;
use balance_monitor::rules::{
    AuthorizerFacts, Check, Evaluation, MonitorRules, RuleType, RulesState, RunFacts, SkipReason,
    TransitionKind, evaluate,
};
use balance_monitor::store::{RunId, RunState};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use support::{Memory, ProcessCpu, ThreadCpu, max, min_median, reset_peak_rss};

const AUTHORIZERS: usize = 1_000_000;
const DEFAULT_ITERATIONS: usize = 10;
const BELOW: Cents = Cents(15_000);

/// What happens to an authorizer between run A and run B. Payment 100.00 + margin
/// 25.00: `below_payment` holds under 125.00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    /// 1,000.00 → 1,000.00 (91%).
    Steady,
    /// 1,000.00 → 90.00.
    DropsLow,
    /// 90.00 → 90.00: fired in A, reminded in B (three days > 24 h).
    StaysLow,
    /// 90.00 → 1,000.00: fired in A, resolved in B.
    Recovers,
    /// 200.00 → -50.00.
    GoesNegative,
    /// 3200 → 3200: `check_failed` (consecutive 2) fires in B; never a success, so
    /// `stale` (3d, counted from the first check) fires too.
    FailsTwice,
    /// 1,000.00 → not retrieved: only `stale` can judge, and it fires (exactly 3d).
    NotRetrieved,
    /// 1,000.00 → 100.00, no `payment_amount`: `below_payment` skips it.
    NoPaymentField,
    /// 1,000.00 → 1,000.00, `payment_amount: n/a`: skipped.
    BadPaymentField,
    /// 9000 → 9000: not a listed code; `stale` fires.
    OtherError,
}

use Class::*;
use RuleType::{
    BalanceBelow, BelowPayment, CheckFailed, DropAmount, DropPercent, NegativeBalance, Stale,
};
use TransitionKind::{Fired, Reminder, Resolved};

impl Class {
    const ALL: [Class; 10] = [
        Steady,
        DropsLow,
        StaysLow,
        Recovers,
        GoesNegative,
        FailsTwice,
        NotRetrieved,
        NoPaymentField,
        BadPaymentField,
        OtherError,
    ];

    fn of(index: usize) -> Class {
        match index % 100 {
            residue @ 1..=9 => Class::ALL[residue],
            _ => Steady,
        }
    }

    /// How many of `AUTHORIZERS` are in this class.
    fn size(self) -> u64 {
        (0..100).filter(|r| Class::of(*r) == self).count() as u64 * (AUTHORIZERS / 100) as u64
    }

    /// Run A's check and run B's.
    fn checks(self) -> (Check, Check) {
        let ok = |cents: i64| Check::Retrieved {
            status_code: 0,
            balance: Some(Cents(cents)),
        };
        let failed = |code| Check::Retrieved {
            status_code: code,
            balance: None,
        };
        match self {
            Steady | BadPaymentField => (ok(100_000), ok(100_000)),
            DropsLow => (ok(100_000), ok(9_000)),
            StaysLow => (ok(9_000), ok(9_000)),
            Recovers => (ok(9_000), ok(100_000)),
            GoesNegative => (ok(20_000), ok(-5_000)),
            FailsTwice => (failed(3200), failed(3200)),
            NotRetrieved => (ok(100_000), Check::NotRetrieved),
            NoPaymentField => (ok(100_000), ok(10_000)),
            OtherError => (failed(9000), failed(9000)),
        }
    }

    fn payment_amount(self) -> Option<&'static str> {
        match self {
            NoPaymentField => None,
            BadPaymentField => Some("n/a"),
            _ => Some("100.00"),
        }
    }

    /// Run A's transitions for one authorizer of this class: (kind, rule).
    fn expected_in_a(self) -> &'static [(TransitionKind, RuleType)] {
        match self {
            StaysLow | Recovers => &[(Fired, BalanceBelow), (Fired, BelowPayment)],
            _ => &[],
        }
    }

    /// Run B's transitions for one authorizer of this class, worked out by hand from
    /// the rules in `rules()`.
    fn expected_in_b(self) -> &'static [(TransitionKind, RuleType)] {
        match self {
            Steady | BadPaymentField => &[],
            // 91% and 910.00 down; not negative.
            DropsLow => &[
                (Fired, BalanceBelow),
                (Fired, BelowPayment),
                (Fired, DropPercent),
                (Fired, DropAmount),
            ],
            StaysLow => &[(Reminder, BalanceBelow), (Reminder, BelowPayment)],
            Recovers => &[(Resolved, BalanceBelow), (Resolved, BelowPayment)],
            // 125% down, but only 250.00.
            GoesNegative => &[
                (Fired, BalanceBelow),
                (Fired, BelowPayment),
                (Fired, DropPercent),
                (Fired, NegativeBalance),
            ],
            FailsTwice => &[(Fired, CheckFailed), (Fired, Stale)],
            NotRetrieved | OtherError => &[(Fired, Stale)],
            NoPaymentField => &[
                (Fired, BalanceBelow),
                (Fired, DropPercent),
                (Fired, DropAmount),
            ],
        }
    }

    /// Alerts firing after run B for one authorizer of this class.
    fn firing_after_b(self) -> usize {
        self.expected_in_b()
            .iter()
            .filter(|(kind, _)| *kind != Resolved)
            .count()
    }

    fn skip_reason(self) -> Option<SkipReason> {
        match self {
            NoPaymentField => Some(SkipReason::MissingField),
            BadPaymentField => Some(SkipReason::UnparsableField),
            _ => None,
        }
    }
}

/// One rule of every kind, as `config.example.yaml` writes them.
fn rules() -> Vec<Rule> {
    let rule = |kind, severity| Rule {
        kind,
        severity,
        for_runs: 1,
        resolve_after_runs: 1,
    };
    let days = |n: u64| Duration::from_secs(n * 86_400);
    vec![
        rule(RuleKind::BalanceBelow { amount: BELOW }, Severity::Warning),
        rule(
            RuleKind::BelowPayment {
                field: "payment_amount".to_string(),
                margin: Cents(2_500),
            },
            Severity::Critical,
        ),
        rule(
            RuleKind::DropPercent {
                percent: 4_000,
                window: Some(days(7)),
            },
            Severity::Warning,
        ),
        rule(
            RuleKind::DropAmount {
                amount: Cents(50_000),
                window: None,
            },
            Severity::Warning,
        ),
        rule(RuleKind::NegativeBalance, Severity::Critical),
        rule(
            RuleKind::CheckFailed {
                codes: Some(vec![3200, 3300, 3400]),
                consecutive: 2,
            },
            Severity::Critical,
        ),
        rule(RuleKind::Stale { after: days(3) }, Severity::Warning),
        Rule {
            resolve_after_runs: 2,
            ..rule(
                RuleKind::RunFailed {
                    not_retrieved_percent: 1_000,
                },
                Severity::Critical,
            )
        },
    ]
}

/// The authorizer list: ids and metadata, built once.
struct Population {
    ids: Vec<String>,
    metadata: Vec<Metadata>,
}

impl Population {
    fn generate() -> Population {
        let ids = (0..AUTHORIZERS).map(|i| format!("AUTH-{i:07}")).collect();
        let metadata = (0..AUTHORIZERS)
            .map(|i| {
                let mut pairs = vec![("loan_id", format!("LN-{i:07}"))];
                if let Some(amount) = Class::of(i).payment_amount() {
                    pairs.push(("payment_amount", amount.to_string()));
                }
                Metadata::from_pairs(pairs)
            })
            .collect();
        Population { ids, metadata }
    }

    /// One run's input, sorted by id (the zero-padded ids sort as their indexes).
    fn facts(&self, run_b: bool) -> Vec<AuthorizerFacts<'_>> {
        (0..AUTHORIZERS)
            .map(|i| {
                let (a, b) = Class::of(i).checks();
                AuthorizerFacts {
                    id: &self.ids[i],
                    check: if run_b { b } else { a },
                    metadata: self.metadata[i].fields(),
                }
            })
            .collect()
    }
}

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

fn main() -> anyhow::Result<()> {
    let iterations = iterations_from_args()?;
    println!(
        "rules: {AUTHORIZERS} authorizers, {} rules (one of every kind), {iterations} measured \
         rounds after a warm-up",
        rules().len()
    );
    println!("machine: {}", support::machine_summary());
    println!("load average before: {}", load_average());

    let started = Instant::now();
    let rules = rules();
    let alert_fields = vec!["loan_id".to_string(), "payment_amount".to_string()];
    let config = MonitorRules {
        monitor: "morning-ach",
        rules: &rules,
        repeat_interval: Duration::from_secs(24 * 3600),
        send_resolved: true,
        alert_fields: &alert_fields,
    };
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 11, 30, 0).unwrap();
    let run_a = run_facts(1, t0);
    let run_b = run_facts(2, t0 + TimeDelta::days(3));
    let population = Population::generate();
    let facts_a = population.facts(false);
    let facts_b = population.facts(true);
    let memory = Memory::read();
    println!(
        "setup: {AUTHORIZERS} authorizers with metadata generated in {:.1} s; {:.1} MiB resident",
        started.elapsed().as_secs_f64(),
        memory.rss_kib as f64 / 1024.0
    );

    // Warm-up, verified.
    let first = evaluate(&config, &run_a, &facts_a, RulesState::new())?;
    verify(&first, Class::expected_in_a, "warm-up run A")?;
    let state_a = first.state;
    let second = evaluate(&config, &run_b, &facts_b, state_a.clone())?;
    verify(&second, Class::expected_in_b, "warm-up run B")?;
    verify_state_after_b(&second.state, "warm-up run B")?;
    let below = bare_pass(&facts_b);
    ensure!(below == expected_below(), "bare pass counted {below}");
    let (below, dropped) = join_pass(&facts_b, &state_a);
    ensure!(
        below == expected_below() && dropped == expected_dropped(),
        "join pass counted {below} below and {dropped} dropped"
    );
    println!(
        "warm-up: run A gave {} transitions, run B {} ({} skips), as the classes imply; \
         both references agree",
        first.transitions.len(),
        second.transitions.len(),
        second.skips.iter().map(|s| s.count).sum::<u64>(),
    );
    drop(second);
    let memory = Memory::read();
    println!(
        "memory: {:.1} MiB resident with the input and run A's state, {:.1} MiB at the peak so far",
        memory.rss_kib as f64 / 1024.0,
        memory.peak_kib as f64 / 1024.0
    );

    println!();
    println!("{}", Measurement::HEADER);
    let mut rows: BTreeMap<&str, Vec<Measurement>> = BTreeMap::new();
    for round in 1..=iterations {
        let (evaluation, measured) =
            measure(|| evaluate(&config, &run_a, &facts_a, RulesState::new()))?;
        let evaluation = evaluation?;
        verify(
            &evaluation,
            Class::expected_in_a,
            &format!("first run {round}"),
        )?;
        println!("{}", measured.row(&format!("first {round}")));
        rows.entry("first run").or_default().push(measured);
        let state = evaluation.state;

        let (evaluation, measured) = measure(|| evaluate(&config, &run_b, &facts_b, state))?;
        let evaluation = evaluation?;
        verify(
            &evaluation,
            Class::expected_in_b,
            &format!("evaluate {round}"),
        )?;
        verify_state_after_b(&evaluation.state, &format!("evaluate {round}"))?;
        println!("{}", measured.row(&format!("evaluate {round}")));
        rows.entry("evaluate").or_default().push(measured);
        drop(evaluation);

        let (below, measured) = measure(|| bare_pass(&facts_b))?;
        ensure!(
            below == expected_below(),
            "bare pass {round} counted {below}"
        );
        println!("{}", measured.row(&format!("bare {round}")));
        rows.entry("bare").or_default().push(measured);

        let ((below, dropped), measured) = measure(|| join_pass(&facts_b, &state_a))?;
        ensure!(
            below == expected_below() && dropped == expected_dropped(),
            "join pass {round} counted {below} below and {dropped} dropped"
        );
        println!("{}", measured.row(&format!("join {round}")));
        rows.entry("join").or_default().push(measured);
    }
    println!();
    summarize(&rows);
    println!("load average after: {}", load_average());
    Ok(())
}

/// Checks every transition and skip of an evaluation against the classes: per class,
/// kind and rule, the counts must be exactly the class's size times its expectations.
fn verify(
    evaluation: &Evaluation,
    expected: fn(Class) -> &'static [(TransitionKind, RuleType)],
    pass: &str,
) -> anyhow::Result<()> {
    let mut found: HashMap<(Class, TransitionKind, RuleType), u64> = HashMap::new();
    for transition in &evaluation.transitions {
        let Some(id) = transition.authorizer_id() else {
            bail!("{pass}: unexpected alert about the runs: {transition:?}");
        };
        let index: usize = id["AUTH-".len()..].parse()?;
        ensure!(
            transition.fields.len() == 1 + usize::from(Class::of(index).payment_amount().is_some()),
            "{pass}: {id} carries fields {:?}",
            transition.fields
        );
        *found
            .entry((
                Class::of(index),
                transition.kind,
                transition.rule().rule_type,
            ))
            .or_default() += 1;
    }
    let mut wanted: HashMap<(Class, TransitionKind, RuleType), u64> = HashMap::new();
    for class in Class::ALL {
        for (kind, rule) in expected(class) {
            *wanted.entry((class, *kind, *rule)).or_default() += class.size();
        }
    }
    if found != wanted {
        let mut keys: Vec<_> = found.keys().chain(wanted.keys()).copied().collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (f, w) = (found.get(&key), wanted.get(&key));
            if f != w {
                eprintln!("{pass}: {key:?}: found {f:?}, expected {w:?}");
            }
        }
        bail!("{pass}: the transitions are not what the generated data implies");
    }
    for class in Class::ALL {
        let Some(reason) = class.skip_reason() else {
            continue;
        };
        let skipped: u64 = evaluation
            .skips
            .iter()
            .filter(|skip| skip.reason == reason && skip.rule.rule_type == BelowPayment)
            .map(|skip| skip.count)
            .sum();
        ensure!(
            skipped == class.size(),
            "{pass}: {skipped} skipped for {reason:?}, expected {}",
            class.size()
        );
    }
    ensure!(
        evaluation.skips.len() == 2,
        "{pass}: skips {:?}",
        evaluation.skips
    );
    Ok(())
}

fn verify_state_after_b(state: &RulesState, pass: &str) -> anyhow::Result<()> {
    let firing: usize = Class::ALL
        .iter()
        .map(|class| class.firing_after_b() * class.size() as usize)
        .sum();
    ensure!(
        state.authorizers.len() == AUTHORIZERS && state.firing_count() == firing,
        "{pass}: {} authorizers and {} firing alerts in the state, expected {AUTHORIZERS} and {firing}",
        state.authorizers.len(),
        state.firing_count()
    );
    Ok(())
}

/// Balances below 150.00 in run B: 90.00, 90.00, -50.00 and 100.00.
fn expected_below() -> u64 {
    [DropsLow, StaysLow, GoesNegative, NoPaymentField]
        .iter()
        .map(|c| c.size())
        .sum()
}

/// Balances in run B below run A's.
fn expected_dropped() -> u64 {
    [DropsLow, GoesNegative, NoPaymentField]
        .iter()
        .map(|c| c.size())
        .sum()
}

/// The reference: one pass over the input computing only `balance < 150.00`.
fn bare_pass(facts: &[AuthorizerFacts<'_>]) -> u64 {
    let mut below = 0;
    for facts in black_box(facts) {
        if facts
            .check
            .successful_balance()
            .is_some_and(|balance| balance < BELOW)
        {
            below += 1;
        }
    }
    below
}

/// The second reference: the input merged by id with the previous state, read only.
fn join_pass(facts: &[AuthorizerFacts<'_>], state: &RulesState) -> (u64, u64) {
    let (mut below, mut dropped) = (0, 0);
    let mut previous = black_box(state).authorizers.iter().peekable();
    for facts in black_box(facts) {
        while previous.next_if(|e| e.id.as_str() < facts.id).is_some() {}
        let entry = previous.next_if(|e| e.id == facts.id);
        let Some(balance) = facts.check.successful_balance() else {
            continue;
        };
        below += u64::from(balance < BELOW);
        let before = entry.and_then(|e| e.history.last_success);
        dropped += u64::from(before.is_some_and(|s| balance < s.balance));
    }
    (below, dropped)
}

struct Measurement {
    wall: Duration,
    cpu: Duration,
    process: ProcessCpu,
    start_kib: u64,
    peak_kib: u64,
    peak_was_reset: bool,
}

impl Measurement {
    const HEADER: &str = "pass             wall ms  authorizers/s  ns/authorizer    CPU ms  \
                          user+sys ms  peak RSS MiB (growth)";

    fn row(&self, pass: &str) -> String {
        let wall = self.wall.as_secs_f64();
        format!(
            "{pass:<14} {:>9.1} {:>14.0} {:>14.1} {:>9.1} {:>12.0} {:>13.1} (+{:.1}){}",
            wall * 1e3,
            AUTHORIZERS as f64 / wall,
            wall * 1e9 / AUTHORIZERS as f64,
            self.cpu.as_secs_f64() * 1e3,
            self.process.total().as_secs_f64() * 1e3,
            self.peak_kib as f64 / 1024.0,
            self.peak_kib.saturating_sub(self.start_kib) as f64 / 1024.0,
            if self.peak_was_reset {
                ""
            } else {
                " (peak since start)"
            },
        )
    }
}

/// Runs `pass` and measures it; only the pass is inside the wall-clock window. The
/// output is returned (and dropped by the caller) outside the window.
fn measure<T>(pass: impl FnOnce() -> T) -> anyhow::Result<(T, Measurement)> {
    let peak_was_reset = reset_peak_rss();
    let start_kib = Memory::read().rss_kib;
    let threads_before = ThreadCpu::snapshot();
    let process_before = ProcessCpu::snapshot();
    let started = Instant::now();
    let output = black_box(pass());
    let wall = started.elapsed();
    let process = ProcessCpu::snapshot().since(&process_before);
    let cpu = ThreadCpu::snapshot().since(&threads_before, |_| true);
    let memory = Memory::read();
    Ok((
        output,
        Measurement {
            wall,
            cpu,
            process,
            start_kib,
            peak_kib: memory.peak_kib,
            peak_was_reset,
        },
    ))
}

fn summarize(rows: &BTreeMap<&str, Vec<Measurement>>) {
    let medians: BTreeMap<&str, f64> = rows
        .iter()
        .map(|(name, runs)| {
            let walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
            (*name, min_median(&walls).1)
        })
        .collect();
    println!(
        "pass        wall ms min / median / max   CPU ms median   peak RSS MiB max (growth max)"
    );
    for (name, runs) in rows {
        let walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64() * 1e3).collect();
        let cpus: Vec<f64> = runs.iter().map(|m| m.cpu.as_secs_f64() * 1e3).collect();
        let peaks: Vec<f64> = runs.iter().map(|m| m.peak_kib as f64 / 1024.0).collect();
        let growth: Vec<f64> = runs
            .iter()
            .map(|m| m.peak_kib.saturating_sub(m.start_kib) as f64 / 1024.0)
            .collect();
        let (min, median) = min_median(&walls);
        println!(
            "{name:<10} {min:>9.1} / {median:>7.1} / {:>7.1} {:>15.1} {:>16.1} (+{:.1})",
            max(&walls),
            min_median(&cpus).1,
            max(&peaks),
            max(&growth),
        );
    }
    let ratio = |a: &str, b: &str| medians[a] / medians[b];
    println!(
        "evaluate / bare = {:.0}x, evaluate / join = {:.1}x, first run / evaluate = {:.2}x (medians)",
        ratio("evaluate", "bare"),
        ratio("evaluate", "join"),
        ratio("first run", "evaluate"),
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

/// `--iterations N`; cargo passes `--bench` to every benchmark, which is ignored.
fn iterations_from_args() -> anyhow::Result<usize> {
    let mut iterations = DEFAULT_ITERATIONS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--iterations" => {
                iterations = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .context("--iterations needs a positive number")?;
            }
            other => bail!("unknown argument {other:?}; the only option is --iterations N"),
        }
    }
    Ok(iterations)
}
