//! The merge pass behind [`super::evaluate`]: one page of a run's facts and the
//! previous state of the same ids in, their new state and the transitions out.
//!
//! The authorizers of the run and those of the previous state are both sorted by id, so
//! they are joined by merging, without a hash map or a sort. The previous state's vector
//! becomes the new one: each entry is updated where it lies, departed ones are squeezed
//! out, and authorizers seen for the first time are merged in from the back at the end.
//! In the steady state no memory is allocated per authorizer, only per transition (its
//! sentence, its fields) and per authorizer seen for the first time (its id).

use crate::authorizers::metadata::Fields;
use std::cmp::Ordering;

use chrono::{DateTime, SubsecRound, Utc};

use crate::config::Severity;
use crate::domain::{Cents, RunId, RunState};

use super::conditions::{
    CompiledRule, CompiledRules, Condition, RunCounts, Verdict, describe, judge_authorizer,
    judge_run,
};
use super::identity::{Fingerprint, RuleId, Subject};
use super::input::{AuthorizerFacts, Check, MonitorRules, RunFacts};
use super::lifecycle::{Observation, step};
use super::output::{Skip, SkipReason, Transition, TransitionKind};
use super::state::{AlertPhase, AlertState, AuthorizerState, BalanceSample, RulesState};

/// Why an evaluation was refused. Nothing is judged when one of these is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("{run} is {state}, not finished: rules judge finished runs only")]
    RunNotFinished { run: RunId, state: RunState },
    #[error("authorizer {id:?} appears twice in the run's authorizers")]
    DuplicateAuthorizer { id: String },
    #[error("the run's authorizers are not sorted by id: {after:?} comes after {before:?}")]
    AuthorizersNotSorted { before: String, after: String },
    #[error("the previous state is not sorted by authorizer id, or repeats one, at {id:?}")]
    StateNotSorted { id: String },
    #[error("the previous state lists the alerts of {subject} out of rule order, or one twice")]
    AlertsNotSorted { subject: Subject },
    #[error(
        "a page of the run's authorizers or of the previous state starts at {id:?}, not after the previous page"
    )]
    PagesNotInOrder { id: String },
}

/// Judges one page of a finished run: `authorizers` (the run's, sorted by id) against
/// `entries` (the previous state of the same range of ids, sorted by id). Returns the
/// new state of that range: each entry updated where it lies, departed ones squeezed
/// out, and authorizers seen for the first time merged in from the back. The caller
/// has checked the order of both (`check_authorizers`, `check_state`).
pub(super) fn merge_page(
    context: &Context<'_, '_>,
    authorizers: &[AuthorizerFacts<'_>],
    mut entries: Vec<AuthorizerState>,
    out: &mut Outputs,
) -> Vec<AuthorizerState> {
    // `entries[..write]` is the new state so far, `entries[write..read]` are entries
    // that left, `entries[read..]` are still to be merged. Authorizers seen for the
    // first time go to `fresh` and are merged in at the end.
    let mut fresh = Vec::with_capacity(authorizers.len().saturating_sub(entries.len()));
    let (mut read, mut write) = (0, 0);
    for facts in authorizers {
        loop {
            let Some(entry) = entries.get_mut(read) else {
                fresh.push(context.first_seen(facts, out));
                break;
            };
            match entry.id.as_str().cmp(facts.id) {
                Ordering::Less => {
                    if context.absent(entry, out) {
                        entries.swap(write, read);
                        write += 1;
                    }
                    read += 1;
                }
                Ordering::Equal => {
                    context.judge_authorizer(entry, facts, out);
                    entries.swap(write, read);
                    write += 1;
                    read += 1;
                    break;
                }
                Ordering::Greater => {
                    fresh.push(context.first_seen(facts, out));
                    break;
                }
            }
        }
    }
    while read < entries.len() {
        if context.absent(&entries[read], out) {
            entries.swap(write, read);
            write += 1;
        }
        read += 1;
    }
    entries.truncate(write);
    merge_sorted(&mut entries, fresh);
    entries
}

/// Merges `fresh` (sorted by id) into `entries` (sorted by id, no id in common), from
/// the back, moving each entry once and allocating nothing when there is room.
fn merge_sorted(entries: &mut Vec<AuthorizerState>, mut fresh: Vec<AuthorizerState>) {
    if entries.is_empty() {
        *entries = fresh;
        return;
    }
    if fresh.is_empty() {
        return;
    }
    let mut old = entries.len(); // entries[..old] are the old ones not yet placed
    let placeholder = || AuthorizerState::new(String::new(), DateTime::<Utc>::MIN_UTC);
    entries.resize_with(old + fresh.len(), placeholder);
    let mut destination = entries.len();
    while let Some(next_fresh) = fresh.last() {
        destination -= 1;
        if old > 0 && entries[old - 1].id > next_fresh.id {
            entries.swap(old - 1, destination);
            old -= 1;
        } else if let Some(next_fresh) = fresh.pop() {
            entries[destination] = next_fresh;
        }
    }
}

/// Checks the order of the run's authorizers and counts those not retrieved.
pub(super) fn check_authorizers(
    authorizers: &[AuthorizerFacts<'_>],
) -> Result<RunCounts, RulesError> {
    for pair in authorizers.windows(2) {
        if pair[0].id >= pair[1].id {
            return Err(if pair[0].id == pair[1].id {
                RulesError::DuplicateAuthorizer {
                    id: pair[0].id.to_owned(),
                }
            } else {
                RulesError::AuthorizersNotSorted {
                    before: pair[0].id.to_owned(),
                    after: pair[1].id.to_owned(),
                }
            });
        }
    }
    let not_retrieved = authorizers
        .iter()
        .filter(|facts| facts.check == Check::NotRetrieved)
        .count();
    Ok(RunCounts {
        not_retrieved: not_retrieved as u64,
        total: authorizers.len() as u64,
    })
}

pub(super) fn check_state(state: &RulesState) -> Result<(), RulesError> {
    check_ids(&state.authorizers)?;
    check_run_alerts(&state.run_alerts)?;
    check_alerts(&state.authorizers)
}

/// [`check_state`] for a page of authorizers' entries.
pub(super) fn check_entries(entries: &[AuthorizerState]) -> Result<(), RulesError> {
    check_ids(entries)?;
    check_alerts(entries)
}

fn check_ids(entries: &[AuthorizerState]) -> Result<(), RulesError> {
    match entries.windows(2).find(|pair| pair[0].id >= pair[1].id) {
        Some(pair) => Err(RulesError::StateNotSorted {
            id: pair[1].id.clone(),
        }),
        None => Ok(()),
    }
}

fn alerts_sorted(alerts: &[AlertState]) -> bool {
    alerts.windows(2).all(|p| p[0].rule < p[1].rule)
}

pub(super) fn check_run_alerts(alerts: &[AlertState]) -> Result<(), RulesError> {
    match alerts_sorted(alerts) {
        true => Ok(()),
        false => Err(RulesError::AlertsNotSorted {
            subject: Subject::Runs,
        }),
    }
}

fn check_alerts(entries: &[AuthorizerState]) -> Result<(), RulesError> {
    match entries.iter().find(|entry| !alerts_sorted(&entry.alerts)) {
        Some(entry) => Err(RulesError::AlertsNotSorted {
            subject: Subject::Authorizer(entry.id.clone()),
        }),
        None => Ok(()),
    }
}

/// What does not change during the pass.
pub(super) struct Context<'a, 'r> {
    config: &'r MonitorRules<'a>,
    rules: CompiledRules<'a>,
    run: &'r RunFacts,
    now: DateTime<Utc>,
}

impl<'a, 'r> Context<'a, 'r> {
    pub(super) fn new(config: &'r MonitorRules<'a>, run: &'r RunFacts) -> Context<'a, 'r> {
        let now = run.now.trunc_subsecs(6);
        Context {
            config,
            rules: CompiledRules::new(config, now),
            run,
            now,
        }
    }

    /// Empty outputs for this monitor's rules.
    pub(super) fn outputs(&self) -> Outputs {
        Outputs {
            transitions: Vec::new(),
            skips: vec![SkipTally::default(); self.rules.authorizer_rules.len() * 2],
        }
    }
}

/// What the pass produces besides the state.
pub(super) struct Outputs {
    pub(super) transitions: Vec<Transition>,
    /// Two per authorizer rule: missing field, unparsable field.
    pub(super) skips: Vec<SkipTally>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct SkipTally {
    count: u64,
    examples: Vec<String>,
}

/// The subject-specific parts of a transition.
struct About<'f> {
    subject: Subject,
    check: Option<Check>,
    previous_balance: Option<Cents>,
    metadata: Option<Fields<'f>>,
}

impl Context<'_, '_> {
    pub(super) fn judge_runs(
        &self,
        mut alerts: Vec<AlertState>,
        counts: RunCounts,
        out: &mut Outputs,
    ) -> Vec<AlertState> {
        for rule in &self.rules.run_rules {
            let verdict = judge_run(&rule.condition, self.run, counts);
            self.apply(&mut alerts, rule, verdict, out, || About {
                subject: Subject::Runs,
                check: None,
                previous_balance: None,
                metadata: None,
            });
        }
        self.retire_unconfigured(&mut alerts, out, || About {
            subject: Subject::Runs,
            check: None,
            previous_balance: None,
            metadata: None,
        });
        alerts
    }

    #[inline]
    fn judge_authorizer(
        &self,
        entry: &mut AuthorizerState,
        facts: &AuthorizerFacts<'_>,
        out: &mut Outputs,
    ) {
        let previous_balance = entry.history.last_success.map(|sample| sample.balance);
        let about = || About {
            subject: Subject::Authorizer(facts.id.to_owned()),
            check: Some(facts.check),
            previous_balance,
            metadata: Some(facts.metadata),
        };
        for (index, rule) in self.rules.authorizer_rules.iter().enumerate() {
            let verdict = judge_authorizer(&rule.condition, facts, &entry.history);
            if let Verdict::Skipped(reason) = verdict {
                let tally = &mut out.skips[index * 2 + reason as usize];
                tally.count += 1;
                if tally.examples.len() < Skip::EXAMPLES {
                    tally.examples.push(facts.id.to_owned());
                }
            }
            self.apply(&mut entry.alerts, rule, verdict, out, about);
        }
        if !entry.alerts.is_empty() {
            self.retire_unconfigured(&mut entry.alerts, out, about);
        }
        if let Some(balance) = facts.check.successful_balance() {
            let sample = BalanceSample {
                at: self.now,
                balance,
            };
            entry
                .history
                .record_success(sample, self.rules.keep_peaks_since);
        }
    }

    /// One rule's lifecycle step for one subject, and its transition if any.
    #[inline]
    fn apply<'f>(
        &self,
        alerts: &mut Vec<AlertState>,
        rule: &CompiledRule<'_>,
        verdict: Verdict,
        out: &mut Outputs,
        about: impl FnOnce() -> About<'f>,
    ) {
        let slot = alerts.binary_search_by(|alert| alert.rule.cmp(&rule.id));
        let phase = slot.ok().map(|at| alerts[at].phase);
        let observation = verdict.observation();
        if phase.is_none() && observation != Observation::Holds {
            return; // The common case: nothing pending, nothing found.
        }
        let (next, kind) = step(phase, observation, &rule.policy, self.now);
        match (slot, next) {
            (Ok(at), Some(next)) => {
                alerts[at].phase = next;
                alerts[at].severity = rule.severity;
            }
            (Ok(at), None) => {
                alerts.remove(at);
            }
            (Err(at), Some(next)) => alerts.insert(
                at,
                AlertState {
                    rule: rule.id,
                    severity: rule.severity,
                    phase: next,
                },
            ),
            (Err(_), None) => {}
        }
        let (Some(kind), Some(finding)) = (kind, verdict.finding()) else {
            return;
        };
        let (firing_since, hits) = match (next, phase) {
            (Some(AlertPhase::Firing { fired_at, hits, .. }), _)
            | (None, Some(AlertPhase::Firing { fired_at, hits, .. })) => (fired_at, hits),
            _ => (self.now, 0),
        };
        let about = about();
        let reason = describe(
            &rule.condition,
            finding,
            kind != TransitionKind::Resolved,
            hits,
            self.run,
        );
        let balance_before = finding.drop_reference().or(about.previous_balance);
        out.transitions.push(self.transition(
            kind,
            rule.id,
            rule.severity,
            about,
            firing_since,
            reason,
            balance_before,
        ));
    }

    /// Drops alerts whose rule is no longer configured; firing ones resolve.
    fn retire_unconfigured<'f>(
        &self,
        alerts: &mut Vec<AlertState>,
        out: &mut Outputs,
        about: impl Fn() -> About<'f>,
    ) {
        alerts.retain(|alert| {
            if self.rules.find(alert.rule).is_some() {
                return true;
            }
            if let AlertPhase::Firing { fired_at, .. } = alert.phase {
                let about = about();
                let balance_before = about.previous_balance;
                let reason = format!("rule {} is no longer configured", alert.rule);
                out.transitions.push(self.transition(
                    TransitionKind::Resolved,
                    alert.rule,
                    alert.severity,
                    about,
                    fired_at,
                    reason,
                    balance_before,
                ));
            }
            false
        });
    }

    /// An authorizer seen for the first time.
    fn first_seen(&self, facts: &AuthorizerFacts<'_>, out: &mut Outputs) -> AuthorizerState {
        let mut entry = AuthorizerState::new(facts.id.to_owned(), self.now);
        self.judge_authorizer(&mut entry, facts, out);
        entry
    }

    /// An authorizer of the previous state that is not in this run: whether to keep it.
    /// When the list is complete it has left; its firing alerts resolve.
    fn absent(&self, entry: &AuthorizerState, out: &mut Outputs) -> bool {
        if !self.run.authorizer_list_complete {
            return true;
        }
        let previous_balance = entry.history.last_success.map(|sample| sample.balance);
        for alert in &entry.alerts {
            if let AlertPhase::Firing { fired_at, .. } = alert.phase {
                let about = About {
                    subject: Subject::Authorizer(entry.id.clone()),
                    check: None,
                    previous_balance,
                    metadata: None,
                };
                let severity = self
                    .rules
                    .find(alert.rule)
                    .map_or(alert.severity, |rule| rule.severity);
                out.transitions.push(self.transition(
                    TransitionKind::Resolved,
                    alert.rule,
                    severity,
                    about,
                    fired_at,
                    "the authorizer is no longer in the monitor's list".to_string(),
                    previous_balance,
                ));
            }
        }
        false
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        kind: TransitionKind,
        rule: RuleId,
        severity: Severity,
        about: About<'_>,
        firing_since: DateTime<Utc>,
        reason: String,
        balance_before: Option<Cents>,
    ) -> Transition {
        let fields = match about.metadata {
            Some(metadata) => self
                .config
                .alert_fields
                .iter()
                .filter_map(|field| Some((field.clone(), metadata.get(field)?.to_string())))
                .collect(),
            None => Vec::new(),
        };
        Transition {
            kind,
            notify: kind != TransitionKind::Resolved || self.config.send_resolved,
            fingerprint: Fingerprint {
                monitor: self.config.monitor.to_owned(),
                rule,
                subject: about.subject,
            },
            run: self.run.run,
            at: self.now,
            firing_since,
            severity,
            reason,
            balance_before,
            balance_after: about.check.and_then(|check| check.successful_balance()),
            status_code: about.check.and_then(|check| check.status_code()),
            fields,
        }
    }

    pub(super) fn skips(&self, tallies: Vec<SkipTally>) -> Vec<Skip> {
        let reasons = [SkipReason::MissingField, SkipReason::UnparsableField];
        let mut skips = Vec::new();
        for (at, tally) in tallies.into_iter().enumerate() {
            if tally.count == 0 {
                continue;
            }
            let rule = &self.rules.authorizer_rules[at / 2];
            let field = match rule.condition {
                Condition::BelowPayment { field, .. } => field,
                _ => "",
            };
            skips.push(Skip {
                rule: rule.id,
                field: field.to_owned(),
                reason: reasons[at % 2],
                count: tally.count,
                examples: tally.examples,
            });
        }
        skips
    }
}
