//! Our own routes, beside Rightfoot's shapes: `GET /v1/runs` (newest first, optionally
//! one `monitor`'s), `GET /v1/runs/{id}` (one run with its counts by outcome and status
//! code and its chunks) and `GET /v1/alerts` (the `alerts` table, optionally one
//! `state`, `firing` or `resolved`).
//!
//! Lists are `{"runs"|"alerts": [...], "next_page_token", "has_more"}` with `limit` 1 to
//! 100 (default 20) and the same opaque keyset cursors as Rightfoot's routes, over run
//! and alert ids. Errors use the same envelope. The alerts table is written by the
//! alerting layer; until it writes, the list is empty. This module shapes; the store
//! counts.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::HttpState;
use super::cursor::{self, Walk};
use super::error::ApiProblem;
use super::params::QueryParams;
use super::wire::{
    Alert, AlertsPage, RunBatch, RunCounts, RunDetail, RunSummary, RunsPage, json, timestamp,
};
use crate::domain::RunId;
use crate::store::{AlertRecord, AlertStateFilter, BatchRecord, RunRecord, RunTally};

const DEFAULT_LIMIT: u32 = 20;

pub(crate) async fn runs(
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let params = QueryParams::parse(raw.as_deref());
    let monitor = params
        .first("monitor")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    let limit = params.limit(DEFAULT_LIMIT)?;
    let scope = monitor.clone().unwrap_or_default();
    let before = params
        .page_token()
        .map(|token| cursor::decode_id(Walk::Runs, &scope, token))
        .transpose()?;
    let page = state
        .store
        .runs_page(monitor, before.map(RunId), limit)
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    let now = state.clock.now();
    let next_page_token = match (page.has_more, page.rows.last()) {
        (true, Some(last)) => Some(cursor::encode(Walk::Runs, &scope, &last.id.0.to_string())),
        _ => None,
    };
    json(&RunsPage {
        runs: page.rows.iter().map(|run| summary(run, now)).collect(),
        has_more: next_page_token.is_some(),
        next_page_token,
    })
}

pub(crate) async fn run(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiProblem> {
    let id = path
        .ok()
        .and_then(|Path(id)| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiProblem::bad_request(
                "Invalid run ID: expected a positive integer.",
                "Use an id from GET /v1/runs.",
            )
        })?;
    let not_found = || {
        ApiProblem::not_found(
            format!("Run {id} does not exist."),
            "Use an id from GET /v1/runs.",
        )
    };
    let store = &state.store;
    let run = store
        .run(RunId(id))
        .await
        .map_err(|error| ApiProblem::store(&error))?
        .ok_or_else(not_found)?;
    // Three reads, not one snapshot: a run still going may have moved between them,
    // which a status page can show.
    let tally = store
        .run_tally(RunId(id))
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    let batches = store
        .run_batches(RunId(id))
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    json(&RunDetail {
        run: summary(&run, state.clock.now()),
        counts: counts(&tally),
        batches: batches.iter().map(batch).collect(),
    })
}

pub(crate) async fn alerts(
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let params = QueryParams::parse(raw.as_deref());
    let filter = match params.first("state").map(str::trim) {
        None | Some("") => None,
        Some("firing") => Some(AlertStateFilter::Firing),
        Some("resolved") => Some(AlertStateFilter::Resolved),
        Some(_) => {
            return Err(ApiProblem::bad_request(
                "Invalid state. The state must be firing or resolved.",
                "Please use state=firing, state=resolved, or no state for both.",
            ));
        }
    };
    let limit = params.limit(DEFAULT_LIMIT)?;
    let scope = params.first("state").map(str::trim).unwrap_or_default();
    let before = params
        .page_token()
        .map(|token| cursor::decode_id(Walk::Alerts, scope, token))
        .transpose()?;
    let page = state
        .store
        .alerts_page(filter, before, limit)
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    let next_page_token = match (page.has_more, page.rows.last()) {
        (true, Some(last)) => Some(cursor::encode(Walk::Alerts, scope, &last.id.to_string())),
        _ => None,
    };
    json(&AlertsPage {
        alerts: page.rows.iter().map(alert).collect(),
        has_more: next_page_token.is_some(),
        next_page_token,
    })
}

fn summary(run: &RunRecord, now: DateTime<Utc>) -> RunSummary {
    let duration_seconds = run.started_at.map(|started| {
        let end = run.finished_at.unwrap_or(now);
        (end - started).num_microseconds().unwrap_or(0) as f64 / 1e6
    });
    RunSummary {
        id: run.id.0,
        monitor: run.monitor_name.clone(),
        trigger: run.trigger.kind_str(),
        scheduled_for: run.trigger.slot().map(timestamp),
        state: run.state.as_str(),
        served_from_cache: run.served_from_cache,
        created_at: timestamp(run.created_at),
        started_at: run.started_at.map(timestamp),
        finished_at: run.finished_at.map(timestamp),
        duration_seconds,
        reason: run.reason.clone(),
    }
}

fn counts(tally: &RunTally) -> RunCounts {
    RunCounts {
        members: tally.members,
        accepted: tally.accepted,
        rejected_preflight: tally.preflight_rejected,
        rejected_by_api: tally.api_rejected,
        succeeded: tally.succeeded,
        failed: tally.failed_by_code.values().sum(),
        failed_by_code: tally
            .failed_by_code
            .iter()
            .map(|(code, count)| (code.to_string(), *count))
            .collect(),
        not_retrieved: tally.not_retrieved,
        cached: tally.cached,
        awaiting: tally.awaiting,
    }
}

fn batch(record: &BatchRecord) -> RunBatch {
    RunBatch {
        chunk_index: record.chunk_index,
        batch_id: record.rightfoot_batch_id.clone(),
        state: record.state.as_str(),
        members: record.members,
        results: record.results,
        accepted: record.accepted,
        submitted_at: record.submitted_at.map(timestamp),
        deadline: record.deadline.map(timestamp),
        cached_from_run: record.cached_from.map(|owner| owner.run.0),
        reason: record.reason.clone(),
    }
}

fn alert(record: &AlertRecord) -> Alert<'_> {
    Alert {
        id: record.id,
        fingerprint: &record.fingerprint,
        monitor: &record.monitor_name,
        authorizer_unique_id: record.authorizer_unique_id.as_deref(),
        rule: &record.rule,
        state: &record.state,
        severity: &record.severity,
        consecutive_failures: record.consecutive_failures,
        consecutive_passes: record.consecutive_passes,
        first_fired_at: timestamp(record.first_fired_at),
        last_fired_at: timestamp(record.last_fired_at),
        last_notified_at: record.last_notified_at.map(timestamp),
        resolved_at: record.resolved_at.map(timestamp),
        last_run_id: record.last_run.map(|run| run.0),
        reason: record.reason.as_deref(),
    }
}
