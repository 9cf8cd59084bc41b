//! [`evaluate`] and its streaming form, [`Evaluator`]: a run judged a page of
//! authorizers at a time, so that nothing the caller holds grows with the list.
//!
//! A page is a range of authorizer ids: the run's authorizers in that range and the
//! previous state's entries in the same range, both sorted by id. Pages come in id
//! order and never overlap; the evaluator checks both. Each page returns the new state
//! of its range and its transitions; the run's own rules (`run_failed`) are judged by
//! [`Evaluator::finish`] once every page has been counted. The transitions are those
//! [`evaluate`] returns for the whole run, in the same order once the run's are put
//! first, so a caller may judge in pages or at once and get the same alerts.

use super::conditions::RunCounts;
use super::evaluate::{
    Context, Outputs, RulesError, check_authorizers, check_entries, check_run_alerts, check_state,
    merge_page,
};
use super::input::{AuthorizerFacts, MonitorRules, RunFacts};
use super::output::{Evaluation, Skip, Transition};
use super::state::{AlertState, AuthorizerState, RulesState};

/// Judges one finished run of a monitor.
///
/// - `config`: the monitor's rules and alert settings (`MonitorRules::from(&monitor)`).
/// - `run`: the run's own facts, including the instant it stands for.
/// - `authorizers`: every authorizer of the run, sorted by id in byte order (as SQLite's
///   `ORDER BY authorizer_unique_id` returns them), each id once.
/// - `previous`: the state the previous evaluation returned (or [`RulesState::new`]).
///
/// Returns the state to persist, the transitions, and the skips. The function reads no
/// clock and does no I/O: the same arguments give the same result, so a daemon that
/// restarts between two runs and reloads the state gives the same transitions as one
/// that kept it in memory, and neither repeats nor loses an announcement.
///
/// `previous` is consumed so that its entries can be moved into the new state rather
/// than copied. On an error it is dropped; reload it from the store.
///
/// It is one page of an [`Evaluator`].
pub fn evaluate(
    config: &MonitorRules<'_>,
    run: &RunFacts,
    authorizers: &[AuthorizerFacts<'_>],
    previous: RulesState,
) -> Result<Evaluation, RulesError> {
    let mut evaluator = Evaluator::new(config, run)?;
    check_authorizers(authorizers)?;
    check_state(&previous)?;
    let page = evaluator.page(authorizers, previous.authorizers)?;
    let end = evaluator.finish(previous.run_alerts)?;
    let mut transitions = end.transitions;
    transitions.extend(page.transitions);
    Ok(Evaluation {
        state: RulesState {
            authorizers: page.entries,
            run_alerts: end.run_alerts,
        },
        transitions,
        skips: end.skips,
    })
}

/// One page judged.
#[derive(Debug)]
pub struct PageEvaluation {
    /// The new state of the page's range of ids, sorted by id: what to persist.
    pub entries: Vec<AuthorizerState>,
    /// The page's transitions, authorizers in id order, each in rule order.
    pub transitions: Vec<Transition>,
}

/// What is left once every page is judged: the run's own alerts.
#[derive(Debug)]
pub struct RunEvaluation {
    /// The monitor's run alerts after the run, sorted by rule.
    pub run_alerts: Vec<AlertState>,
    /// The run alerts' transitions: they come before every page's.
    pub transitions: Vec<Transition>,
    /// Per rule and reason, the authorizers a rule could not judge, over every page.
    pub skips: Vec<Skip>,
}

/// A run judged in pages of authorizers, in id order (see the module's text).
pub struct Evaluator<'a, 'r> {
    context: Context<'a, 'r>,
    out: Outputs,
    counts: RunCounts,
    /// The highest id of every page so far: the next page must start after it.
    last: Option<String>,
}

impl<'a, 'r> Evaluator<'a, 'r> {
    /// An evaluator of `run`, which must be finished.
    pub fn new(
        config: &'r MonitorRules<'a>,
        run: &'r RunFacts,
    ) -> Result<Evaluator<'a, 'r>, RulesError> {
        if !run.state.is_final() {
            return Err(RulesError::RunNotFinished {
                run: run.run,
                state: run.state,
            });
        }
        let context = Context::new(config, run);
        let out = context.outputs();
        Ok(Evaluator {
            context,
            out,
            counts: RunCounts::default(),
            last: None,
        })
    }

    /// Judges the run's `authorizers` whose ids fall in one range against `previous`,
    /// the previous state's entries in that same range (every one of them: an entry
    /// left out is an authorizer the state never had). Both are sorted by id, and every
    /// id is above those of the pages before.
    pub fn page(
        &mut self,
        authorizers: &[AuthorizerFacts<'_>],
        previous: Vec<AuthorizerState>,
    ) -> Result<PageEvaluation, RulesError> {
        let counts = check_authorizers(authorizers)?;
        check_entries(&previous)?;
        if let Some(last) = &self.last {
            let first = [
                authorizers.first().map(|facts| facts.id),
                previous.first().map(|entry| entry.id.as_str()),
            ];
            if let Some(id) = first.into_iter().flatten().find(|id| *id <= last.as_str()) {
                return Err(RulesError::PagesNotInOrder { id: id.to_owned() });
            }
        }
        let highest = [
            authorizers.last().map(|facts| facts.id),
            previous.last().map(|entry| entry.id.as_str()),
        ]
        .into_iter()
        .flatten()
        .max()
        .map(str::to_owned);
        if highest.is_some() {
            self.last = highest;
        }
        self.counts.not_retrieved += counts.not_retrieved;
        self.counts.total += counts.total;
        let entries = merge_page(&self.context, authorizers, previous, &mut self.out);
        Ok(PageEvaluation {
            entries,
            transitions: std::mem::take(&mut self.out.transitions),
        })
    }

    /// Judges the run's own rules over the authorizers of every page, given the run
    /// alerts of the previous state (sorted by rule).
    pub fn finish(mut self, run_alerts: Vec<AlertState>) -> Result<RunEvaluation, RulesError> {
        check_run_alerts(&run_alerts)?;
        let run_alerts = self
            .context
            .judge_runs(run_alerts, self.counts, &mut self.out);
        Ok(RunEvaluation {
            run_alerts,
            transitions: self.out.transitions,
            skips: self.context.skips(self.out.skips),
        })
    }
}
