//! [`RulesState`] to and from the store's rows, and the difference between two states
//! as the writes that turn one into the other.
//!
//! The store keeps one `balance_memory` row per authorizer and one `alerts` row per open
//! (pending or firing) alert. Loading reads both, sorted by authorizer id, and rebuilds
//! the state `evaluate` returned; [`diff`] compares what the state held before a run
//! ([`Before`]: who was remembered, and their open alerts) with the state after it, so a
//! run writes every remembered balance (nearly all change at each run: the latest
//! balance and when it was taken), deletes the departed, and writes only the alerts
//! that moved.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::Severity;
use crate::rules::{
    AlertPhase, AlertState, AuthorizerState, BalanceHistory, BalanceSample, Fingerprint, RuleId,
    RulesState, Subject, Transition, TransitionKind,
};
use crate::store::{AlertWrite, MemoryRow, OpenAlertRow, OpenPhase};

/// The severity stored as `text`.
pub(crate) fn severity_from_text(text: &str) -> Option<Severity> {
    [Severity::Critical, Severity::Warning, Severity::Info]
        .into_iter()
        .find(|severity| severity.as_str() == text)
}

/// Rebuilds a monitor's state from its rows. Rows that cannot be read back (a rule id
/// or severity this build does not know) are left out and listed in the second value,
/// by fingerprint.
pub(crate) fn load_state(
    memory: Vec<MemoryRow>,
    alerts: Vec<OpenAlertRow>,
) -> (RulesState, Vec<String>) {
    let mut state = RulesState::new();
    state.authorizers = memory
        .into_iter()
        .map(|row| AuthorizerState {
            id: row.authorizer_unique_id,
            history: BalanceHistory {
                first_checked_at: row.first_checked_at,
                last_success: row
                    .last_success
                    .map(|(at, balance)| BalanceSample { at, balance }),
                peaks: row
                    .peaks
                    .into_iter()
                    .map(|(at, balance)| BalanceSample { at, balance })
                    .collect(),
            },
            alerts: Vec::new(),
        })
        .collect();
    let mut unreadable = Vec::new();
    for row in alerts {
        let (Some(rule), Some(severity)) =
            (RuleId::parse(&row.rule), severity_from_text(&row.severity))
        else {
            unreadable.push(row.fingerprint);
            continue;
        };
        let phase = match row.phase {
            OpenPhase::Pending => AlertPhase::Pending { hits: row.hits },
            OpenPhase::Firing {
                fired_at,
                last_notified_at,
            } => AlertPhase::Firing {
                hits: row.hits,
                clears: row.clears,
                fired_at,
                last_notified_at,
            },
        };
        let alert = AlertState {
            rule,
            severity,
            phase,
        };
        match row.authorizer_unique_id {
            None => state.run_alerts.push(alert),
            Some(id) => {
                let at = match state
                    .authorizers
                    .binary_search_by(|entry| entry.id.as_str().cmp(&id))
                {
                    Ok(at) => at,
                    Err(at) => {
                        // An alert without memory: keep it, remembering no balance.
                        let since = match phase {
                            AlertPhase::Firing { fired_at, .. } => fired_at,
                            AlertPhase::Pending { .. } => DateTime::<Utc>::UNIX_EPOCH,
                        };
                        state
                            .authorizers
                            .insert(at, AuthorizerState::new(id, since));
                        at
                    }
                };
                state.authorizers[at].alerts.push(alert);
            }
        }
    }
    state.run_alerts.sort_by_key(|alert| alert.rule);
    for entry in &mut state.authorizers {
        entry.alerts.sort_by_key(|alert| alert.rule);
        entry.alerts.dedup_by_key(|alert| alert.rule);
    }
    state.run_alerts.dedup_by_key(|alert| alert.rule);
    (state, unreadable)
}

fn memory_row(entry: AuthorizerState) -> MemoryRow {
    MemoryRow {
        authorizer_unique_id: entry.id,
        first_checked_at: entry.history.first_checked_at,
        last_success: entry
            .history
            .last_success
            .map(|sample| (sample.at, sample.balance)),
        peaks: entry
            .history
            .peaks
            .iter()
            .map(|sample| (sample.at, sample.balance))
            .collect(),
    }
}

/// What [`diff`] needs of the state before a run: who was remembered, and the open
/// alerts. Not the balance histories, which are as long as the list: every remembered
/// history is written again.
#[derive(Debug)]
pub(crate) struct Before {
    run_alerts: Vec<AlertState>,
    /// By id, in id order.
    authorizers: Vec<(String, Vec<AlertState>)>,
}

impl Before {
    pub(crate) fn of(state: &RulesState) -> Before {
        Before {
            run_alerts: state.run_alerts.clone(),
            authorizers: state
                .authorizers
                .iter()
                .map(|entry| (entry.id.clone(), entry.alerts.clone()))
                .collect(),
        }
    }
}

/// The writes that turn the state `before` described into `after`: memory rows to
/// upsert (all of `after`'s) and delete, and alert rows to open, update, resolve or
/// drop. `transitions` give the reasons. `after` is consumed: its ids and histories
/// move into the rows, not copied, since a large monitor's state is as long as its
/// list.
pub(crate) struct Diff {
    pub memory_upserts: Vec<MemoryRow>,
    pub memory_deletes: Vec<String>,
    pub alerts: Vec<AlertWrite>,
}

pub(crate) fn diff(
    monitor: &str,
    before: &Before,
    after: RulesState,
    transitions: &[Transition],
) -> Diff {
    // By subject and rule: every transition of a judgement is of the same monitor.
    let reasons: HashMap<(Option<&str>, RuleId), &Transition> = transitions
        .iter()
        .map(|transition| {
            let fingerprint = &transition.fingerprint;
            (
                (fingerprint.subject.authorizer_id(), fingerprint.rule),
                transition,
            )
        })
        .collect();
    let mut out = Diff {
        memory_upserts: Vec::new(),
        memory_deletes: Vec::new(),
        alerts: Vec::new(),
    };
    let fingerprint = |subject: &Subject, rule: RuleId| {
        Fingerprint {
            monitor: monitor.to_string(),
            rule,
            subject: subject.clone(),
        }
        .to_string()
    };

    let mut alerts_diff = |subject: Subject, old: &[AlertState], new: &[AlertState]| {
        for alert in new {
            if old.contains(alert) {
                continue;
            }
            let key = fingerprint(&subject, alert.rule);
            let reason = reasons
                .get(&(subject.authorizer_id(), alert.rule))
                .map(|t| t.reason.clone());
            out.alerts.push(AlertWrite::Open {
                row: open_row(key, &subject, alert),
                reason,
            });
        }
        for alert in old {
            if new.iter().any(|n| n.rule == alert.rule) {
                continue;
            }
            let key = fingerprint(&subject, alert.rule);
            match reasons.get(&(subject.authorizer_id(), alert.rule)) {
                Some(t) if t.kind == TransitionKind::Resolved => {
                    out.alerts.push(AlertWrite::Resolve {
                        fingerprint: key,
                        at: t.at,
                        reason: t.reason.clone(),
                    })
                }
                _ => out
                    .alerts
                    .push(AlertWrite::DropPending { fingerprint: key }),
            }
        }
    };

    alerts_diff(Subject::Runs, &before.run_alerts, &after.run_alerts);

    // First the alerts and the departed, by reference; then the memory rows, moved out
    // of `after` as it is consumed (into its own buffer, where the sizes allow).
    let (old, new) = (&before.authorizers, &after.authorizers);
    let (mut i, mut j) = (0, 0);
    loop {
        let order = match (old.get(i), new.get(j)) {
            (Some((o, _)), Some(n)) => o.as_str().cmp(n.id.as_str()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => break,
        };
        match order {
            std::cmp::Ordering::Less => {
                let (gone, alerts) = &old[i];
                out.memory_deletes.push(gone.clone());
                alerts_diff(Subject::Authorizer(gone.clone()), alerts, &[]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let fresh = &new[j];
                alerts_diff(Subject::Authorizer(fresh.id.clone()), &[], &fresh.alerts);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let ((_, alerts), n) = (&old[i], &new[j]);
                if *alerts != n.alerts {
                    alerts_diff(Subject::Authorizer(n.id.clone()), alerts, &n.alerts);
                }
                i += 1;
                j += 1;
            }
        }
    }
    out.memory_upserts = after.authorizers.into_iter().map(memory_row).collect();
    out
}

fn open_row(fingerprint: String, subject: &Subject, alert: &AlertState) -> OpenAlertRow {
    let (phase, clears) = match alert.phase {
        AlertPhase::Pending { .. } => (OpenPhase::Pending, 0),
        AlertPhase::Firing {
            clears,
            fired_at,
            last_notified_at,
            ..
        } => (
            OpenPhase::Firing {
                fired_at,
                last_notified_at,
            },
            clears,
        ),
    };
    OpenAlertRow {
        fingerprint,
        authorizer_unique_id: subject.authorizer_id().map(str::to_string),
        rule: alert.rule.to_string(),
        severity: alert.severity.as_str().to_string(),
        phase,
        hits: alert.phase.hits(),
        clears,
    }
}
