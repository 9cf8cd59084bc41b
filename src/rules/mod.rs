//! Detection: a monitor's rules judged against one finished run, and the alert
//! lifecycle, as one pure function, [`evaluate`].
//!
//! ```text
//! MonitorRules ─┐
//! RunFacts ─────┼─► evaluate ─► Evaluation { state: RulesState, transitions, skips }
//! [AuthorizerFacts] (sorted by id)        │          │
//! RulesState (previous) ─┘                 │          └─► outbox (those with `notify`)
//!                                          └─► store (persisted for the next run)
//! ```
//!
//! **What it owns.** The meaning of every rule kind (`balance_below`, `below_payment`,
//! `drop_percent`, `drop_amount`, `negative_balance`, `check_failed`, `stale`,
//! `run_failed`; see [`conditions`] for the exact comparisons and boundaries), the
//! identity of a rule and of an alert ([`identity`]: a rule is its kind and its ordinal
//! among the monitor's rules of that kind, so changing its parameters keeps its alerts),
//! the lifecycle ([`lifecycle`]: `for_runs`, `resolve_after_runs`, `repeat_interval`,
//! `send_resolved`), what is remembered between runs ([`state`]) and the sentence each
//! transition carries.
//!
//! **What it does not do.** `rules` does no I/O: it reads no clock (`now` is part of
//! [`RunFacts`]), no file, no environment and no database, and logs nothing. It does not
//! load results or state (the store does), does not decide when a run happens or how it
//! ends (the run does), and does not format or deliver messages or decide who receives
//! them (the outbox and notifiers do). It never sees personal data: authorizers reach it
//! as ids, check outcomes and the lender's metadata.
//!
//! **Determinism.** The output depends only on the arguments, down to the order of the
//! transitions. A daemon that restarts between runs loads the state the last evaluation
//! returned and gets the transitions it would have got without the restart: nothing is
//! announced twice and nothing is lost. Times are kept to the microsecond, like the
//! store's, so that a round trip through the store changes nothing.
//!
//! **Layers.** Each file uses only those above it in this list: [`identity`] (names of
//! rules and alerts); [`state`] (what is remembered); `input` and `output` (what an
//! evaluation is given and returns); [`lifecycle`] (the step table); [`conditions`]
//! (what each rule kind means); `evaluate` (the merge pass that ties them together);
//! `pages` ([`evaluate`] and [`Evaluator`], the same pass over a run a page of ids at a
//! time, so a judgement holds a page, not the list).
//! The ids, run states, balance status codes and money come from [`crate::domain`].
//!
//! **Cost.** One merge pass over the run's authorizers and the previous state, both
//! sorted by id; in the steady state it allocates per transition, not per authorizer
//! (see `BENCHMARKS.md`, "Rules: evaluating a run").

pub mod conditions;
mod evaluate;
pub mod identity;
mod input;
pub mod lifecycle;
mod output;
mod pages;
pub mod state;

#[cfg(test)]
mod tests;

pub use evaluate::RulesError;
pub use identity::{Fingerprint, RuleId, RuleType, Subject};
pub use input::{AuthorizerFacts, Check, MonitorRules, NO_METADATA, RunFacts};
pub use output::{Evaluation, Skip, SkipReason, Transition, TransitionKind};
pub use pages::{Evaluator, PageEvaluation, RunEvaluation, evaluate};
pub use state::{
    AlertPhase, AlertState, AuthorizerState, BalanceHistory, BalanceSample, RulesState,
};
