//! Benchmark: planning and deciding 1,000,000 debits (issue 17; goal at most 2 s).
//!
//! Run it with `cargo bench --bench debits` (`-- --iterations N` for other than five
//! measured rounds). `BENCHMARKS.md` records the figures.
//!
//! 1. **Setup, not timed.** 1,000,000 authorizers `AUTH-0000000`…, each with one debit
//!    in a debits file written to a temporary folder; the debit dates spread over Wed
//!    23 Dec 2026 to Mon 28 Dec 2026 (Christmas and a weekend inside), so that a run on
//!    the 23rd with `due_within: 2` has every debit due. One in ten authorizers has a
//!    balance below its amount plus margin, one in fifty a stale balance, one in a
//!    hundred a failed check.
//! 2. **Measured rounds.** Each round times, from the file on disk to the last verdict:
//!    - *read*: the file read and parsed, every authorizer id checked against the list;
//!    - *plan*: the due window and the due debits, and the authorizers to check;
//!    - *decide*: one `decide` per due debit against its authorizer's evidence.
//!
//!    - *reference*: the file read and its lines counted, the floor of any reading.
//!
//!    Every round's counts are checked against what the setup implies.

#![forbid(unsafe_code)]

mod support;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use balance_monitor::debits::{
    DecisionRules, DueWindow, Evidence, Observation, Outcome, authorizers_to_check, decide,
    due_debits, parse_csv,
};
use balance_monitor::domain::{BalanceStatus, BusinessCalendar, Cents, Decision};
use chrono::{NaiveDate, TimeZone, Utc};

use support::{machine_summary, min_median};

const DEBITS: usize = 1_000_000;
const DEFAULT_ITERATIONS: usize = 5;

fn main() -> anyhow::Result<()> {
    let iterations = std::env::args()
        .skip_while(|a| a != "--iterations")
        .nth(1)
        .map(|n| n.parse::<usize>())
        .transpose()
        .context("--iterations N")?
        .unwrap_or(DEFAULT_ITERATIONS);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("debits.csv");
    let ids: Vec<String> = (0..DEBITS).map(|i| format!("AUTH-{i:07}")).collect();
    let dates = [
        "2026-12-23",
        "2026-12-24",
        "2026-12-25",
        "2026-12-26",
        "2026-12-28",
    ];
    let mut text = String::from("authorizer_unique_id,debit_id,debit_date,amount\n");
    for (i, id) in ids.iter().enumerate() {
        let _ = writeln!(text, "{id},D-{i:07},{},180.00", dates[i % dates.len()]);
    }
    std::fs::write(&path, &text)?;
    drop(text);
    let known: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let now = Utc.with_ymd_and_hms(2026, 12, 23, 12, 0, 0).unwrap();
    let evidence: HashMap<&str, Evidence> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let fresh = now - chrono::Duration::hours(5);
            let (latest, last_balance) = if i % 100 == 7 {
                let failed = Outcome::Failed(BalanceStatus::NoMatch);
                (
                    Some(Observation {
                        outcome: failed,
                        at: fresh,
                    }),
                    None,
                )
            } else {
                let at = if i % 50 == 3 {
                    now - chrono::Duration::days(3)
                } else {
                    fresh
                };
                let balance = if i % 10 == 1 {
                    Cents(12_000)
                } else {
                    Cents(50_000)
                };
                let outcome = Outcome::Balance(balance);
                (Some(Observation { outcome, at }), Some((balance, at)))
            };
            let facts = Evidence {
                now,
                latest,
                last_balance,
                returns_in_a_row: 0,
            };
            (id.as_str(), facts)
        })
        .collect();
    let calendar = BusinessCalendar::fedach();
    let run_date = NaiveDate::from_ymd_opt(2026, 12, 23).unwrap();
    let rules = DecisionRules {
        margin: Cents(2_500),
        fresh_for: Duration::from_secs(24 * 3600),
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "debits: {DEBITS} debits, {iterations} rounds on {}; load average {}",
        machine_summary(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (mut reads, mut plans, mut decides, mut totals) = (vec![], vec![], vec![], vec![]);
    let mut references = vec![];
    for _ in 0..iterations {
        let started = Instant::now();
        let lines = std::fs::read(&path)?
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        references.push(started.elapsed().as_secs_f64());
        ensure!(lines == DEBITS + 1);
        let started = Instant::now();
        let bytes = std::fs::read(&path)?;
        let loaded = parse_csv(&bytes, &path, &|id| known.contains(id))?;
        drop(bytes);
        let read = started.elapsed();
        let window = DueWindow::new(&calendar, run_date, 2);
        let due = due_debits(&loaded.debits, &calendar, &window);
        let to_check = authorizers_to_check(&due);
        let planned = started.elapsed();
        let mut counts = [0usize; 3];
        for debit in &due {
            let facts = &evidence[debit.debit.authorizer_id.as_str()];
            let verdict = decide(debit.debit.amount, rules, facts);
            counts[verdict.decision as usize] += 1;
            black_box(&verdict.reason);
        }
        let decided = started.elapsed();
        ensure!(loaded.refused.is_empty() && due.len() == DEBITS && to_check.len() == DEBITS);
        let unknown = DEBITS / 100 + DEBITS / 50;
        ensure!(
            counts[Decision::Unknown as usize] == unknown,
            "unknown {counts:?}"
        );
        ensure!(
            counts[Decision::Hold as usize] == DEBITS / 10,
            "hold {counts:?}"
        );
        reads.push(read.as_secs_f64());
        plans.push((planned - read).as_secs_f64());
        decides.push((decided - planned).as_secs_f64());
        totals.push(decided.as_secs_f64());
    }
    for (name, values) in [
        ("read", &reads),
        ("plan", &plans),
        ("decide", &decides),
        ("reference", &references),
        ("total", &totals),
    ] {
        let (min, median) = min_median(values);
        println!("  {name:<9} min {min:.3} s  median {median:.3} s");
    }
    Ok(())
}
