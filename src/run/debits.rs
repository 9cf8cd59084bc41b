//! A run of a monitor with `debits`: the list narrowed to the authorizers with a debit
//! due, and each due debit decided once the run has ended.
//!
//! [`narrow`] reads the debits (the file, or the list's metadata) at plan time, takes
//! the run's local date (its cron slot, or its creation for a manual run, in the
//! monitor's zone), keeps the authorizers whose debits settle from that date through
//! `due_within` business days after it, and logs "checked N of M: debits due by Wed 9
//! Dec" with every refused debit row. [`decide_and_record`] decides each due debit from
//! the run's own checks and the authorizer's returns in a row, and stores the decisions
//! with the run. A run resumed after a crash is not decided again here (its due list is
//! not kept), which the log says.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::RunError;
use crate::authorizers::source::LoadedAuthorizers;
use crate::config::{Debits, Monitor};
use crate::debits::{
    Debit, DecisionRules, DueWindow, Evidence, Observation, Outcome, authorizers_to_check, decide,
    due_debits,
};
use crate::domain::{BalanceStatus, Decision, RunId, RunTrigger};
use crate::store::{DecisionRow, RunCheckOutcome, Store};

/// The debits a run covers, kept from its plan to its decisions.
#[derive(Debug)]
pub(super) struct DueList {
    pub window: DueWindow,
    /// The due debits with the dates they settle on.
    pub due: Vec<(Debit, NaiveDate)>,
    /// Authorizers on the list, and those checked.
    pub listed: usize,
    pub checked: usize,
}

impl DueList {
    /// "checked 1,246 of 30,000: debits due by Wed 9 Dec".
    pub fn summary(&self) -> String {
        format!(
            "checked {} of {}: debits due by {}",
            thousands(self.checked),
            thousands(self.listed),
            self.window.through.format("%a %-d %b")
        )
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The run's local date: its slot (or, for a manual run, its creation) in the
/// monitor's zone.
pub(super) fn run_date(
    monitor: &Monitor,
    trigger: RunTrigger,
    created_at: DateTime<Utc>,
) -> NaiveDate {
    let instant = trigger.slot().unwrap_or(created_at);
    instant.with_timezone(&monitor.schedule.zone()).date_naive()
}

/// Narrows `loaded` to the authorizers with a debit due in the run's window.
pub(super) async fn narrow(
    monitor: &Monitor,
    debits: &Debits,
    date: NaiveDate,
    loaded: LoadedAuthorizers,
) -> Result<(LoadedAuthorizers, DueList), String> {
    let debits = debits.clone();
    let name = monitor.name.clone();
    tokio::task::spawn_blocking(move || {
        let mut loaded = loaded;
        let read = crate::debits::load(&debits.source, &loaded.valid)
            .map_err(|error| format!("cannot load the debits: {error}"))?;
        for refused in &read.refused {
            tracing::warn!(monitor = %name, "debit refused: {refused}");
        }
        let window = DueWindow::new(&debits.calendar, date, debits.due_within);
        let due = due_debits(&read.debits, &debits.calendar, &window);
        let ids: HashSet<&str> = authorizers_to_check(&due).into_iter().collect();
        let listed = loaded.valid.len();
        loaded
            .valid
            .retain(|authorizer| ids.contains(authorizer.id()));
        loaded
            .rejected
            .retain(|rejected| ids.contains(rejected.id.as_str()));
        let list = DueList {
            window,
            due: due
                .iter()
                .map(|d| (d.debit.clone(), d.settles_on))
                .collect(),
            listed,
            checked: loaded.valid.len(),
        };
        Ok((loaded, list))
    })
    .await
    .map_err(|error| format!("loading the debits stopped: {error}"))?
}

/// Counts of a run's decisions: send, hold, unknown.
pub(super) type DecisionCounts = [usize; 3];

/// Decides every debit of `list` from `run`'s checks and stores the decisions.
pub(super) async fn decide_and_record(
    store: &Store,
    debits: &Debits,
    run: RunId,
    list: &DueList,
) -> Result<DecisionCounts, RunError> {
    let record = store.run(run).await?.ok_or(RunError::NotFound { run })?;
    let at = record.finished_at.unwrap_or(record.created_at);
    let checks: HashMap<String, RunCheckOutcome> = store
        .run_checks(run)
        .await?
        .into_iter()
        .map(|check| (check.authorizer_unique_id, check.outcome))
        .collect();
    let mut ids: Vec<String> = list
        .due
        .iter()
        .map(|(debit, _)| debit.authorizer_id.clone())
        .collect();
    ids.dedup();
    let returns = store.returns_in_a_row(ids, list.window.from).await?;
    let rules = DecisionRules {
        margin: debits.margin,
        fresh_for: debits.fresh_for,
    };
    let mut counts = [0; 3];
    let mut rows = Vec::with_capacity(list.due.len());
    for (debit, settles_on) in &list.due {
        let outcome = checks.get(&debit.authorizer_id).map(|check| match *check {
            RunCheckOutcome::Retrieved {
                status_code: 0,
                balance: Some(balance),
            } => Outcome::Balance(balance),
            RunCheckOutcome::Retrieved {
                status_code: 0,
                balance: None,
            } => Outcome::NoBalance,
            RunCheckOutcome::Retrieved { status_code, .. } => {
                Outcome::Failed(BalanceStatus::from_code(status_code))
            }
            RunCheckOutcome::NotRetrieved => Outcome::NotRetrieved,
            RunCheckOutcome::Rejected => Outcome::Rejected,
        });
        let evidence = Evidence {
            now: at,
            latest: outcome.map(|outcome| Observation { outcome, at }),
            last_balance: match outcome {
                Some(Outcome::Balance(balance)) => Some((balance, at)),
                _ => None,
            },
            returns_in_a_row: returns.get(&debit.authorizer_id).copied().unwrap_or(0),
        };
        let verdict = decide(debit.amount, rules, &evidence);
        counts[match verdict.decision {
            Decision::Send => 0,
            Decision::Hold => 1,
            Decision::Unknown => 2,
        }] += 1;
        rows.push(DecisionRow {
            debit_id: debit.debit_id.clone(),
            authorizer_unique_id: debit.authorizer_id.clone(),
            debit_date: debit.date,
            settles_on: *settles_on,
            amount: debit.amount,
            decision: verdict.decision,
            reason: verdict.reason,
            balance: verdict.balance,
            checked_at: verdict.checked_at,
        });
    }
    store.record_decisions(run, rows).await?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_246), "1,246");
        assert_eq!(thousands(30_000), "30,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
