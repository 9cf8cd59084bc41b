//! The bodies the read API writes: Rightfoot's shapes for the Rightfoot-compatible
//! routes, and our own for runs and alerts.
//!
//! These structs exist only to be serialized, separate from the store's row types.
//! Rightfoot's bodies are `rightfoot::served`'s, which the sandbox writes too. Money goes out as a JSON number written from the exact decimal text of
//! the stored cents (`-83.68`, `1200.00`), never through a float. Times are RFC 3339 in
//! UTC with a `Z`, to the second, as Rightfoot writes them.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiProblem;
pub(crate) use crate::rightfoot::served::{
    AuthorizerHistoryResponse, BalanceRecord, BatchBalancesResponse, HistoryEntry, timestamp,
};

/// A 200 with `body` as JSON.
pub(crate) fn json<T: Serialize>(body: &T) -> Result<Response, ApiProblem> {
    let bytes = serde_json::to_vec(body).map_err(|error| {
        tracing::error!(%error, "a read API answer could not be serialized");
        ApiProblem::internal()
    })?;
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// `GET /v1/runs`.
#[derive(Serialize)]
pub(crate) struct RunsPage {
    pub runs: Vec<RunSummary>,
    pub next_page_token: Option<String>,
    pub has_more: bool,
}

/// `GET /v1/alerts`.
#[derive(Serialize)]
pub(crate) struct AlertsPage<'a> {
    pub alerts: Vec<Alert<'a>>,
    pub next_page_token: Option<String>,
    pub has_more: bool,
}

/// One run, as `GET /v1/runs` lists it.
#[derive(Serialize)]
pub(crate) struct RunSummary {
    pub id: i64,
    pub monitor: String,
    /// `schedule`, `catch_up` or `manual`.
    pub trigger: &'static str,
    /// The cron slot a scheduled or catch-up run answers; `null` for a manual run.
    pub scheduled_for: Option<String>,
    pub state: &'static str,
    pub served_from_cache: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// From `started_at` to `finished_at` (or to now, for a run still going).
    pub duration_seconds: Option<f64>,
    pub reason: Option<String>,
}

/// `GET /v1/runs/{id}`: the run, its counts and its chunks.
#[derive(Serialize)]
pub(crate) struct RunDetail {
    #[serde(flatten)]
    pub run: RunSummary,
    pub counts: RunCounts,
    pub batches: Vec<RunBatch>,
}

/// What a run's rows add up to, by outcome and status code.
#[derive(Serialize)]
pub(crate) struct RunCounts {
    /// Authorizers sent in the run's chunks.
    pub members: u32,
    /// Accepted by Rightfoot (members minus its `failed_authorizers`).
    pub accepted: u32,
    pub rejected_preflight: u32,
    pub rejected_by_api: u32,
    pub succeeded: u32,
    /// Checks Rightfoot answered with a non-zero status code, in all.
    pub failed: u32,
    /// The same, by status code.
    pub failed_by_code: BTreeMap<String, u32>,
    pub not_retrieved: u32,
    /// Members whose result is an earlier run's (Rightfoot's 24-hour cache).
    pub cached: u32,
    /// Members still waiting for a result.
    pub awaiting: u32,
}

/// One chunk of a run.
#[derive(Serialize)]
pub(crate) struct RunBatch {
    pub chunk_index: u32,
    /// Rightfoot's batch id, once its 201 was recorded.
    pub batch_id: Option<String>,
    pub state: &'static str,
    pub members: u32,
    pub results: u32,
    pub accepted: Option<u32>,
    pub submitted_at: Option<String>,
    pub deadline: Option<String>,
    /// The run whose chunk owns this batch's results, when Rightfoot answered this one
    /// from its 24-hour cache.
    pub cached_from_run: Option<i64>,
    pub reason: Option<String>,
}

/// One alert, as `GET /v1/alerts` lists it: a view of the stored row, borrowing its
/// text.
#[derive(Serialize)]
pub(crate) struct Alert<'a> {
    pub id: i64,
    pub fingerprint: &'a str,
    pub monitor: &'a str,
    pub authorizer_unique_id: Option<&'a str>,
    pub rule: &'a str,
    pub state: &'a str,
    pub severity: &'a str,
    pub consecutive_failures: u32,
    pub consecutive_passes: u32,
    pub first_fired_at: String,
    pub last_fired_at: String,
    pub last_notified_at: Option<String>,
    pub resolved_at: Option<String>,
    pub last_run_id: Option<i64>,
    pub reason: Option<&'a str>,
}
