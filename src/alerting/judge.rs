//! One run's judgement as a merge join in authorizer-id order: the run's checks and the
//! monitor's previous state are read from the store a keyset page at a time, the rules
//! judge each page ([`rules::Evaluator`]), and each page's writes go into the one
//! transaction that commits the judgement ([`AlertState::commit_judgement_parts`]).
//!
//! ```text
//! store: run_checks_page ─┐
//!        balance_memory_page ─┼─► page of ids (after, through] ─► Evaluator::page ─► writes ─┐
//!        open_alerts_between ─┘                                                              │
//!        ... next page ...                                                                   ▼
//! run alerts ─► Evaluator::finish ─► run writes, digests, held ─► one transaction, committed
//! ```
//!
//! A page ends at the lower of the last ids of a full page of checks and a full page of
//! memory, so both sides of the join hold at most [`PAGE`] rows, and every alert of
//! the page's ids is read with it. What lives from page to page does not grow with the
//! list: the skips and the firing counts (by rule and severity), the first lines of the
//! unsuccessful listing, and the held alerts (as many as silences hold). Only the
//! digest rows grow, one per announced transition (none without a route): with what a
//! run announces, not with how many it checks.
//!
//! The transaction stays open while the pages are judged, so the reads (on other
//! connections) see the state before the judgement, and a judgement that stops half-way
//! writes nothing: a run is still judged exactly once.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::mpsc;

use crate::config::Monitor;
use crate::domain::{Cents, RunState};
use crate::notify::digest::FiringGroup;
use crate::notify::{Digest, DigestRow};
use crate::rules::{
    AuthorizerFacts, Check, Evaluator, MonitorRules, RulesState, RunFacts, Transition,
    TransitionKind,
};
use crate::run::unsuccessful::Listing;
use crate::store::{
    HeldAlert, Judgement, JudgementPart, MonitorId, NewNotification, RunCheckOutcome,
    RunForJudgement, SilenceRecord, Store, StoreError,
};

use super::metadata_pages::MetadataPages;
use super::{AlertingError, Judged, field_labels, idempotency_key, payload, rows, silences};

/// Authorizer ids per page, on each side of the join.
pub(crate) const PAGE: u32 = 5_000;

/// What a judgement needs besides the store's pages.
pub(crate) struct JudgementInput {
    pub monitor: Monitor,
    pub monitor_id: MonitorId,
    pub run: RunForJudgement,
    /// The monitor's routes that are configured: one digest is queued for each.
    pub routes: Vec<String>,
    /// Firing alerts a silence held back from every route.
    pub held: Vec<HeldAlert>,
    /// The silences in force or to come.
    pub silences: Vec<SilenceRecord>,
    pub now: DateTime<Utc>,
    /// Authorizer ids per page: [`PAGE`] but in tests.
    pub page: u32,
}

/// What a judgement came to: `run` and `monitor` of [`Judged`] are filled in by the
/// caller, and the open alerts this version cannot read, by fingerprint.
pub(crate) struct JudgementOutcome {
    pub judged: Judged,
    pub unreadable: Vec<String>,
}

/// Why the pages stopped.
enum Stop {
    Failed(AlertingError),
    /// The transaction is gone (the run was judged already, or the store failed): its
    /// answer says which.
    CommitGone,
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Stop {
        Stop::Failed(error.into())
    }
}

/// Judges `input.run` and commits its judgement. `Ok(None)`: another process judged it.
pub(crate) async fn judge(
    store: &Store,
    input: JudgementInput,
) -> Result<Option<JudgementOutcome>, AlertingError> {
    let (parts, receiver) = mpsc::channel(2);
    let commit =
        store.commit_judgement_parts(input.monitor_id, input.run.record.id, input.now, receiver);
    let (committed, judged) = tokio::join!(commit, pages(store, input, parts));
    match (committed, judged) {
        (Ok(true), Ok(outcome)) => Ok(Some(outcome)),
        (_, Err(Stop::Failed(error))) => Err(error),
        (Err(error), _) => Err(error.into()),
        (Ok(false), _) => Ok(None),
        // Committed without the last part: cannot happen, the commit waits for it.
        (Ok(true), Err(Stop::CommitGone)) => Err(AlertingError::Raced),
    }
}

/// Sends `part` to the judgement's transaction.
async fn send(parts: &mpsc::Sender<JudgementPart>, part: JudgementPart) -> Result<(), Stop> {
    parts.send(part).await.map_err(|_| Stop::CommitGone)
}

/// What the pages add up to.
#[derive(Default)]
struct Totals {
    fired: usize,
    reminders: usize,
    resolved: usize,
    firing: usize,
    firing_groups: Vec<FiringGroup>,
    unreadable: Vec<String>,
}

impl Totals {
    fn count(&mut self, transitions: &[Transition]) {
        for transition in transitions {
            match transition.kind {
                TransitionKind::Fired => self.fired += 1,
                TransitionKind::Reminder => self.reminders += 1,
                TransitionKind::Resolved => self.resolved += 1,
            }
        }
    }

    /// Counts the firing alerts of `state` (one page, or the run alerts).
    fn firing(&mut self, monitor: &str, state: &RulesState, input: &JudgementInput) {
        self.firing += state.firing_count();
        let groups = silences::firing_groups(monitor, state, &input.silences, input.now);
        silences::add_firing_groups(&mut self.firing_groups, groups);
    }
}

/// What a digest row needs of an authorizer whose alert a silence held: its
/// `alert_fields` and its latest balance, taken as its page goes by.
struct HeldAuthorizer {
    fields: Vec<(String, String)>,
    balance: Option<Cents>,
}

async fn pages(
    store: &Store,
    input: JudgementInput,
    parts: mpsc::Sender<JudgementPart>,
) -> Result<JudgementOutcome, Stop> {
    let monitor = &input.monitor;
    let run_id = input.run.record.id;
    let rules_config = MonitorRules::from(monitor);
    let facts_of_run = run_facts(&input.run);
    let rules_error = |source| {
        Stop::Failed(AlertingError::Rules {
            run: run_id.0,
            source,
        })
    };
    let mut evaluator = Evaluator::new(&rules_config, &facts_of_run).map_err(rules_error)?;
    let mut totals = Totals::default();
    let mut unsuccessful = Listing::default();
    let mut digest_rows =
        silences::DigestRows::new(&monitor.name, &input.held, &input.silences, input.now);
    if input.routes.is_empty() {
        digest_rows = digest_rows.marks_only();
    }
    // The few held alerts' fields and latest balances, taken as their pages go by.
    let mut held: HashMap<String, HeldAuthorizer> = input
        .held
        .iter()
        .filter_map(|alert| alert.authorizer_unique_id.clone())
        .map(|id| {
            let held = HeldAuthorizer {
                fields: Vec::new(),
                balance: None,
            };
            (id, held)
        })
        .collect();
    let mut metadata = MetadataPages::new(store, run_id, monitor.needs_metadata());

    let mut after = String::new();
    loop {
        let mut checks = store
            .run_checks_page(run_id, after.clone(), input.page)
            .await?;
        let mut memory = store
            .balance_memory_page(input.monitor_id, after.clone(), input.page)
            .await?;
        // The page ends where the shorter-reaching full side ends; the rest of the other
        // side is read again by the next page.
        let through = [
            full_page_end(
                checks.last().map(|c| &c.authorizer_unique_id),
                checks.len(),
                input.page,
            ),
            full_page_end(
                memory.last().map(|m| &m.authorizer_unique_id),
                memory.len(),
                input.page,
            ),
        ]
        .into_iter()
        .flatten()
        .min()
        .cloned();
        if let Some(through) = &through {
            checks.retain(|check| check.authorizer_unique_id <= *through);
            memory.retain(|row| row.authorizer_unique_id <= *through);
        }
        let alerts = store
            .open_alerts_between(input.monitor_id, after.clone(), through.clone())
            .await?;
        let page_metadata = metadata.page(&after, through.as_deref()).await?;
        for (id, held) in held.iter_mut() {
            if let Some(fields) = page_metadata.get(id) {
                held.fields = monitor
                    .alert_fields
                    .iter()
                    .filter_map(|field| Some((field.clone(), fields.get(field)?.to_string())))
                    .collect();
            }
        }
        let (previous, unreadable) = rows::load_state(memory, alerts);
        totals.unreadable.extend(unreadable);
        let before = rows::Before::of(&previous);

        let facts: Vec<AuthorizerFacts<'_>> = checks
            .iter()
            .map(|check| {
                let facts = AuthorizerFacts::new(&check.authorizer_unique_id, check_of(check));
                match page_metadata.get(&check.authorizer_unique_id) {
                    Some(fields) => facts.with_metadata(fields),
                    None => facts,
                }
            })
            .collect();
        let page = evaluator
            .page(&facts, previous.authorizers)
            .map_err(rules_error)?;
        drop(facts);
        unsuccessful.add(&checks);
        drop(checks);

        if !held.is_empty() {
            for entry in &page.entries {
                if let Some(held) = held.get_mut(&entry.id) {
                    held.balance = entry.history.last_success.map(|sample| sample.balance);
                }
            }
        }
        let state = RulesState {
            authorizers: page.entries,
            run_alerts: Vec::new(),
        };
        totals.firing(&monitor.name, &state, &input);
        totals.count(&page.transitions);
        digest_rows.add(&page.transitions);
        let diff = rows::diff(&monitor.name, &before, state, &page.transitions);
        drop(page.transitions);
        let writes = Judgement {
            judged_at: input.now,
            memory_upserts: diff.memory_upserts,
            memory_deletes: diff.memory_deletes,
            alerts: diff.alerts,
            ..Judgement::default()
        };
        send(&parts, JudgementPart::Writes(writes)).await?;
        match through {
            Some(through) => after = through,
            None => break,
        }
        // A page is a short burst of CPU: let the runtime's other tasks in between.
        tokio::task::yield_now().await;
    }

    // The monitor's own alerts, judged over the counts of every page.
    let run_rows = store.open_run_alerts(input.monitor_id).await?;
    let (previous, unreadable) = rows::load_state(Vec::new(), run_rows);
    totals.unreadable.extend(unreadable);
    let before = rows::Before::of(&previous);
    let end = evaluator.finish(previous.run_alerts).map_err(rules_error)?;
    let state = RulesState {
        authorizers: Vec::new(),
        run_alerts: end.run_alerts,
    };
    totals.firing(&monitor.name, &state, &input);
    totals.count(&end.transitions);
    digest_rows.add_first(&end.transitions);
    let diff = rows::diff(&monitor.name, &before, state, &end.transitions);

    let (run, routes, now) = (&input.run, &input.routes, input.now);
    let silenced = digest_rows.finish(
        input.held.clone(),
        |id| held.get(id).map(|h| h.fields.clone()).unwrap_or_default(),
        |id| held.get(id)?.balance,
    );
    let mut notifications = Vec::new();
    // Nobody would receive a digest without a route: none is written.
    let digest = match routes.is_empty() {
        true => None,
        false => digest(monitor, run, silenced.rows, totals.firing_groups),
    };
    if let Some(digest) = digest {
        let payload = payload::encode(&digest);
        drop(digest);
        let payloads = std::iter::repeat_n(payload, routes.len());
        for (route, payload) in routes.iter().zip(payloads) {
            notifications.push(NewNotification {
                route: route.clone(),
                idempotency_key: idempotency_key(),
                payload,
                monitor: Some(monitor.name.clone()),
                created_at: now,
            });
        }
    }
    let queued = match notifications.is_empty() {
        true => Vec::new(),
        false => routes.clone(),
    };
    let writes = Judgement {
        judged_at: now,
        alerts: diff.alerts,
        notifications,
        held: silenced.held,
        released: silenced.released,
        ..Judgement::default()
    };
    send(&parts, JudgementPart::Writes(writes)).await?;
    send(&parts, JudgementPart::Commit).await?;
    Ok(JudgementOutcome {
        judged: Judged {
            run: run.record.id,
            monitor: String::new(),
            fired: totals.fired,
            reminders: totals.reminders,
            resolved: totals.resolved,
            firing: totals.firing,
            queued,
            unsuccessful: unsuccessful.finish(run.record.id),
            skips: end
                .skips
                .iter()
                .map(|skip| {
                    format!(
                        "{}: {} authorizer(s) skipped, metadata field {:?}: {} (e.g. {})",
                        skip.rule,
                        skip.count,
                        skip.field,
                        skip.reason.as_str(),
                        skip.examples.join(", ")
                    )
                })
                .collect(),
        },
        unreadable: totals.unreadable,
    })
}

/// The last id of a page that came back full (more may follow), or `None`.
fn full_page_end(last: Option<&String>, len: usize, page: u32) -> Option<&String> {
    last.filter(|_| len >= page as usize)
}

fn check_of(check: &crate::store::RunCheck) -> Check {
    match check.outcome {
        RunCheckOutcome::Retrieved {
            status_code,
            balance,
        } => Check::Retrieved {
            status_code,
            balance,
        },
        RunCheckOutcome::NotRetrieved => Check::NotRetrieved,
        RunCheckOutcome::Rejected => Check::Rejected,
    }
}

/// What the rules know of a run besides its checks.
fn run_facts(run: &RunForJudgement) -> RunFacts {
    let record = &run.record;
    let now = run
        .slot
        .or(record.finished_at)
        .unwrap_or(record.created_at)
        .trunc_subsecs(6);
    let submitted = run.chunks_submitted > 0;
    RunFacts {
        run: record.id,
        now,
        state: record.state,
        submitted,
        api_unreachable: run.chunks > 0 && !submitted && record.state == RunState::Failed,
        authorizer_list_complete: run.chunks > 0 || run.preflight_rejections > 0,
    }
}

/// The digest of a run's announced rows, or `None` when nothing is announced.
fn digest(
    monitor: &Monitor,
    run: &RunForJudgement,
    rows: Vec<DigestRow>,
    firing: Vec<FiringGroup>,
) -> Option<Digest> {
    if rows.is_empty() {
        return None;
    }
    let record = &run.record;
    let run_time: DateTime<Utc> = run.slot.or(record.started_at).unwrap_or(record.created_at);
    Some(Digest {
        monitor: monitor.name.clone(),
        run: Some(record.id),
        run_time,
        zone: monitor.schedule.zone(),
        rows,
        test: false,
        firing,
        fields: field_labels(monitor),
    })
}
