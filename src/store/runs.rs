//! Monitors and runs: creating them, moving a run through its states, and finding the
//! runs a restart must resume ([`RunJournal`]).
//!
//! The store enforces what the schema can: one run per monitor and cron slot, and no
//! state change out of a final state. When a run starts or ends is the run module's
//! decision, not this one's.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{
    BatchRowId, MonitorId, NewRun, PreflightRejection, RunId, RunPlan, RunRecord, RunState,
    RunTally, UnfinishedRun,
};

/// A run's move to another state, as [`RunJournal::set_run_state`] records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStateChange {
    pub state: RunState,
    /// When, on the run's clock: `started_at` on entering `running`, `finished_at` on
    /// entering a final state.
    pub at: DateTime<Utc>,
    /// Why, for a failed or partial run. Must not contain personal data.
    pub reason: Option<String>,
}

impl RunStateChange {
    /// To `state` at `at`, with no reason.
    pub fn new(state: RunState, at: DateTime<Utc>) -> RunStateChange {
        RunStateChange {
            state,
            at,
            reason: None,
        }
    }

    /// The same change, for `reason`.
    pub fn because(self, reason: impl Into<String>) -> RunStateChange {
        RunStateChange {
            reason: Some(reason.into()),
            ..self
        }
    }
}

/// Whether `run` may move from `from` to `to`: `Ok(false)` when it is already there
/// (nothing to write), `Ok(true)` for an allowed move, the refusal otherwise. States
/// move forward, but for a resumed interrupted run, which goes back to running. Every
/// backend's `set_run_state` asks this.
pub(super) fn run_transition(run: RunId, from: RunState, to: RunState) -> Result<bool, StoreError> {
    if from == to {
        return Ok(false);
    }
    let allowed = match (from, to) {
        (RunState::Pending, RunState::Running) => true,
        (RunState::Running, RunState::Interrupted) => true,
        (RunState::Interrupted, RunState::Running) => true,
        (RunState::Pending | RunState::Running | RunState::Interrupted, to) => to.is_final(),
        _ => false,
    };
    if allowed {
        Ok(true)
    } else {
        Err(StoreError::InvalidRunTransition { run, from, to })
    }
}

/// A monitor's name as stored, or the refusal of an empty one.
pub(super) fn monitor_name(name: &str) -> Result<String, StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::InvalidInput {
            what: "monitor name",
            message: "must not be empty".to_string(),
        });
    }
    Ok(name.to_string())
}

/// Refuses a plan with an empty chunk. Every backend's `start_run` asks this.
pub(super) fn check_plan(run: RunId, plan: &RunPlan) -> Result<(), StoreError> {
    match plan.chunks.iter().position(|c| c.members.is_empty()) {
        Some(index) => Err(StoreError::InvalidInput {
            what: "chunk members",
            message: format!("{run} chunk {index} has no authorizers"),
        }),
        None => Ok(()),
    }
}

/// Refuses to start `run` unless it is pending. Every backend's `start_run` asks this.
pub(super) fn check_startable(run: RunId, state: RunState) -> Result<(), StoreError> {
    if state == RunState::Pending {
        return Ok(());
    }
    Err(StoreError::InvalidRunTransition {
        run,
        from: state,
        to: RunState::Running,
    })
}

/// The index of the plan's chunk at `position`.
pub(super) fn chunk_index(run: RunId, position: usize) -> Result<u32, StoreError> {
    u32::try_from(position).map_err(|_| StoreError::InvalidInput {
        what: "chunk index",
        message: format!("{run} has more than {} chunks", u32::MAX),
    })
}

/// The `started_at` and `finished_at` that a move to `state` at `at` writes (each
/// only where not set already: see `statements::runs::SET_RUN_STATE`).
pub(super) fn state_times<T>(state: RunState, at: T) -> (Option<T>, Option<T>) {
    if state.is_final() {
        (None, Some(at))
    } else {
        (Some(at), None)
    }
}

/// The run journal's monitors and runs.
pub trait RunJournal: Send + Sync {
    /// The id of the monitor called `name`, created if it is new.
    fn ensure_monitor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<MonitorId, StoreError>>;

    /// Creates a run in state `pending`. A scheduled or catch-up run for a slot that
    /// already has a run fails with [`StoreError::SlotTaken`], whatever that run's
    /// state: a slot never runs twice.
    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<RunId, StoreError>>;

    /// Moves a run to `change.state` at time `change.at`, keeping `change.reason` if one
    /// is given.
    ///
    /// Allowed: `pending → running`, `running → interrupted` (the operator stopped it
    /// at durable steps), `interrupted → running` (resumed), and `pending`, `running` or
    /// `interrupted` → a final state. Setting the state a run already has changes
    /// nothing. Entering `running` records
    /// `started_at`; entering a final state records `finished_at`.
    fn set_run_state(
        &self,
        run: RunId,
        change: RunStateChange,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Records that Rightfoot answered this run with a batch it had already checked (the
    /// 24-hour body cache), so its results are not fresh.
    fn mark_run_served_from_cache(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Starts a `pending` run: writes its plan (pre-flight rejections, and every chunk
    /// in state `submitting` with its body's SHA-256 and members) and moves it to
    /// `running` at `at`, all in one transaction. Returns the chunks' rows in plan
    /// order.
    ///
    /// Nothing is sent before this returns, so a crash leaves either a `pending` run
    /// with no plan (plan it again) or a `running` one with its whole plan. A run that
    /// is not `pending` is refused with [`StoreError::InvalidRunTransition`].
    fn start_run(
        &self,
        run: RunId,
        at: DateTime<Utc>,
        plan: RunPlan,
    ) -> BoxFuture<'_, Result<Vec<BatchRowId>, StoreError>>;

    /// The authorizers pre-flight validation kept out of `run`, in list order.
    fn preflight_rejections(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Vec<PreflightRejection>, StoreError>>;

    /// What `run`'s rows add up to: members, accepted, rejections, results by outcome
    /// and status code, members served from the cache, chunks by state.
    fn run_tally(&self, run: RunId) -> BoxFuture<'_, Result<RunTally, StoreError>>;

    /// One run, if it exists.
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<Option<RunRecord>, StoreError>>;

    /// Runs still `pending`, `running` or `interrupted`, oldest first, with their chunks: what a restart
    /// after a crash must resume or close.
    fn unfinished_runs(&self) -> BoxFuture<'_, Result<Vec<UnfinishedRun>, StoreError>>;
}
