//! The end of a run: its final state and reason from what the store holds, the
//! [`RunSummary`], and the one log line that closes it.
//!
//! The decision ([`final_state`]) is a pure function of the run's [`RunTally`], so it
//! is the same whether the run ended in one go or was resumed three times:
//!
//! - `failed`: there was nothing to check (no authorizers, or every one rejected by
//!   pre-flight), or not one result came back (no result retrieved and none served
//!   from the cache): chunks refused, unknown, or every result missing at the deadline.
//! - `complete`: every authorizer of every chunk has a retrieved result (a failed
//!   balance check is a result), or its chunk was served from Rightfoot's cache (the
//!   result is an earlier run's), and nothing was rejected or left not retrieved.
//! - `partial`: anything in between. The reason lists what is missing, with counts.
//!
//! This module decides and reports; it does not drive chunks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::RunError;
use crate::domain::{BatchState, RunId, RunState};
use crate::store::{RunRecord, RunStateChange, RunTally, Store};

/// What a run did, as `run-now` prints it and the end-of-run log line counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub run: RunId,
    pub monitor: String,
    /// `complete`, `partial` or `failed`.
    pub state: RunState,
    /// Why the run is not `complete` (and whether it was served from the cache).
    pub reason: Option<String>,
    /// Chunks the run was cut into.
    pub chunks: u32,
    /// Authorizers Rightfoot accepted (the members less those `failed_authorizers` names).
    pub accepted: u32,
    /// Authorizers pre-flight validation kept out of the submission.
    pub rejected_preflight: u32,
    /// Authorizers Rightfoot refused at submission.
    pub rejected_by_api: u32,
    /// Results with status code 0.
    pub succeeded: u32,
    /// Results of failed balance checks, by Rightfoot's status code.
    pub failed_by_code: BTreeMap<i64, u32>,
    /// Authorizers without a result: deadline passed, or their chunk was not sent or
    /// its answer is unknown.
    pub not_retrieved: u32,
    /// Authorizers whose chunk Rightfoot answered from its 24-hour cache with a batch an
    /// earlier run holds: their results are that run's, not stored again.
    pub cached: u32,
    /// Rightfoot answered at least one chunk from its 24-hour body cache.
    pub served_from_cache: bool,
    /// From the run's start to its end, on the run's clock (crashes included).
    pub duration: Duration,
}

impl RunSummary {
    /// Failed balance checks, all codes together.
    pub fn failed_checks(&self) -> u32 {
        self.failed_by_code.values().sum()
    }

    /// The summary of a finished run, from the store.
    pub(super) fn of(record: &RunRecord, tally: &RunTally) -> RunSummary {
        let duration = match (record.started_at, record.finished_at) {
            (Some(started), Some(finished)) => (finished - started).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        RunSummary {
            run: record.id,
            monitor: record.monitor_name.clone(),
            state: record.state,
            reason: record.reason.clone(),
            chunks: tally.chunks.values().sum(),
            accepted: tally.accepted,
            rejected_preflight: tally.preflight_rejected,
            rejected_by_api: tally.api_rejected,
            succeeded: tally.succeeded,
            failed_by_code: tally.failed_by_code.clone(),
            not_retrieved: tally.not_retrieved,
            cached: tally.cached,
            served_from_cache: record.served_from_cache,
            duration,
        }
    }
}

/// The final state of a run whose chunks have all ended, and why.
pub(crate) fn final_state(tally: &RunTally, served_from_cache: bool) -> (RunState, Option<String>) {
    let mut problems = Vec::new();
    if tally.preflight_rejected > 0 {
        problems.push(format!(
            "{} rejected by pre-flight",
            tally.preflight_rejected
        ));
    }
    if tally.api_rejected > 0 {
        problems.push(format!("{} rejected by Rightfoot", tally.api_rejected));
    }
    if tally.not_retrieved > 0 {
        problems.push(format!("{} not retrieved", tally.not_retrieved));
    }
    for state in [BatchState::Unknown, BatchState::Failed] {
        let chunks = tally.chunks_in(state);
        if chunks > 0 {
            problems.push(format!("{} {state}", crate::text::count(chunks, "chunk")));
        }
    }
    if served_from_cache {
        problems.push(if tally.cached > 0 {
            format!(
                "served from Rightfoot's 24-hour body cache: {} results are an earlier run's, not checked again",
                tally.cached
            )
        } else {
            "served from Rightfoot's 24-hour body cache: results are older than the run".to_string()
        });
    }
    let usable = tally.retrieved() + tally.cached;
    let (state, lead) = if tally.members == 0 {
        let lead = if tally.preflight_rejected > 0 {
            "every authorizer was rejected by pre-flight"
        } else {
            "the authorizers list is empty"
        };
        (RunState::Failed, Some(lead))
    } else if usable == 0 {
        (RunState::Failed, Some("no result was retrieved"))
    } else if tally.preflight_rejected == 0
        && tally.api_rejected == 0
        && tally.not_retrieved == 0
        && tally.chunks_in(BatchState::Unknown) == 0
        && tally.chunks_in(BatchState::Failed) == 0
    {
        (RunState::Complete, None)
    } else {
        (RunState::Partial, None)
    };
    let mut parts: Vec<String> = lead.map(str::to_string).into_iter().collect();
    parts.extend(problems);
    let reason = (!parts.is_empty()).then(|| parts.join("; "));
    (state, reason)
}

/// Writes the run's final state, unless it already has one, logs the closing line when
/// it does, and returns the run's summary. With `stopped` (the authorizers file changed
/// under the plan, so chunks were left unsent), the run is `failed`, for that reason
/// first, whatever came back.
pub(super) async fn finish(
    store: &Store,
    run: RunId,
    at: chrono::DateTime<chrono::Utc>,
    stopped: Option<String>,
) -> Result<RunSummary, RunError> {
    let record = store.run(run).await?.ok_or(RunError::NotFound { run })?;
    let tally = store.run_tally(run).await?;
    if record.state.is_final() {
        return Ok(RunSummary::of(&record, &tally));
    }
    let served_from_cache = record.served_from_cache || tally.cached > 0;
    if tally.cached > 0 && !record.served_from_cache {
        store.mark_run_served_from_cache(run).await?;
    }
    let (mut state, mut reason) = final_state(&tally, served_from_cache);
    // The cause comes first: the file that changed under the plan, or else the first
    // abandoned chunk's (a refused api key, a changed file...), so that the summary
    // says why without a look at the database.
    let (cause, before) = match stopped {
        Some(stopped) => {
            state = RunState::Failed;
            (Some(stopped), true)
        }
        None => {
            let abandoned = store
                .run_batches(run)
                .await?
                .into_iter()
                .find(|b| matches!(b.state, BatchState::Unknown | BatchState::Failed));
            let cause = abandoned.map(|batch| {
                format!(
                    "first: chunk {} {}: {}",
                    batch.chunk_index,
                    batch.state,
                    batch.reason.as_deref().unwrap_or("no reason recorded")
                )
            });
            (cause, false)
        }
    };
    if let Some(cause) = cause {
        reason = Some(match reason {
            Some(reason) if before => format!("{cause}; {reason}"),
            Some(reason) => format!("{reason}; {cause}"),
            None => cause.trim_start_matches("first: ").to_string(),
        });
    }
    store
        .set_run_state(run, RunStateChange { state, at, reason })
        .await?;
    let record = store.run(run).await?.ok_or(RunError::NotFound { run })?;
    let summary = RunSummary::of(&record, &tally);
    log_end(&summary);
    Ok(summary)
}

/// The closing log line: counts only, never an authorizer.
fn log_end(summary: &RunSummary) {
    let failed_by_code = summary
        .failed_by_code
        .iter()
        .map(|(code, count)| format!("{code}:{count}"))
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(
        monitor = %summary.monitor,
        run = summary.run.0,
        state = %summary.state,
        chunks = summary.chunks,
        accepted = summary.accepted,
        rejected_preflight = summary.rejected_preflight,
        rejected_by_api = summary.rejected_by_api,
        succeeded = summary.succeeded,
        failed = summary.failed_checks(),
        failed_by_code = %failed_by_code,
        not_retrieved = summary.not_retrieved,
        cached = summary.cached,
        served_from_cache = summary.served_from_cache,
        duration_s = summary.duration.as_secs(),
        reason = summary.reason.as_deref().unwrap_or(""),
        "run finished"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(members: u32) -> RunTally {
        RunTally {
            members,
            accepted: members,
            succeeded: members,
            chunks: BTreeMap::from([("complete", 1)]),
            ..RunTally::default()
        }
    }

    #[test]
    fn the_final_state_follows_the_counts() {
        let complete = tally(10);
        let mut failed_checks = tally(10);
        failed_checks.succeeded = 7;
        failed_checks.failed_by_code = BTreeMap::from([(3200, 2), (9000, 1)]);
        let mut preflight = tally(10);
        preflight.preflight_rejected = 2;
        let mut missing = tally(10);
        missing.succeeded = 6;
        missing.not_retrieved = 4;
        let mut nothing = tally(10);
        nothing.succeeded = 0;
        nothing.not_retrieved = 10;
        let mut unknown = tally(10);
        unknown.chunks = BTreeMap::from([("complete", 1), ("unknown", 1)]);
        let all_rejected = RunTally {
            preflight_rejected: 3,
            ..RunTally::default()
        };
        let empty = RunTally::default();
        let mut cached = tally(10);
        cached.succeeded = 0;
        cached.cached = 10;

        let table: Vec<(&str, &RunTally, bool, RunState, Option<&str>)> = vec![
            ("complete", &complete, false, RunState::Complete, None),
            (
                "failed checks are results",
                &failed_checks,
                false,
                RunState::Complete,
                None,
            ),
            (
                "pre-flight",
                &preflight,
                false,
                RunState::Partial,
                Some("2 rejected by pre-flight"),
            ),
            (
                "missing",
                &missing,
                false,
                RunState::Partial,
                Some("4 not retrieved"),
            ),
            (
                "nothing",
                &nothing,
                false,
                RunState::Failed,
                Some("no result was retrieved; 10 not retrieved"),
            ),
            (
                "unknown chunk",
                &unknown,
                false,
                RunState::Partial,
                Some("1 chunk unknown"),
            ),
            (
                "all rejected",
                &all_rejected,
                false,
                RunState::Failed,
                Some("every authorizer was rejected by pre-flight; 3 rejected by pre-flight"),
            ),
            (
                "empty",
                &empty,
                false,
                RunState::Failed,
                Some("the authorizers list is empty"),
            ),
            (
                "cached",
                &cached,
                true,
                RunState::Complete,
                Some(
                    "served from Rightfoot's 24-hour body cache: 10 results are an earlier run's, not checked again",
                ),
            ),
        ];
        for (name, tally, served, state, reason) in table {
            assert_eq!(
                final_state(tally, served),
                (state, reason.map(str::to_string)),
                "{name}"
            );
        }
    }
}
