//! One run (`/runs/{id}`): its counts, the timeline of its batches, the authorizers it
//! got no balance for (rejected, failed with the code's meaning, not retrieved) and the
//! alerts its judgement left.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::format::{self, Badge, When};
use super::layout::{self, Layout};
use super::session::Visitor;
use super::store_failed;
use crate::domain::BalanceStatus;
use crate::http::HttpState;
use crate::store::{
    AlertRecord, BatchRecord, RunCheckOutcome, RunId, RunNotifications, RunRecord, RunTally,
    StoreError,
};

/// The most authorizers without a balance, and alerts, listed on the page.
const MOST_LISTED: usize = 500;

pub struct BatchRow {
    pub chunk: u32,
    pub state: Badge,
    pub batch_id: String,
    pub members: u32,
    pub results: u32,
    pub first_post: Option<When>,
    pub submitted: Option<When>,
    pub finished: Option<When>,
    pub note: String,
}

pub struct Unsuccessful {
    pub authorizer: String,
    pub outcome: &'static str,
    pub meaning: String,
}

pub struct AlertRow {
    pub id: i64,
    pub authorizer: Option<String>,
    pub rule: String,
    pub state: Badge,
    pub severity: Badge,
    pub fired: When,
    pub reason: String,
}

impl AlertRow {
    pub fn of(alert: &AlertRecord, zone: Tz) -> AlertRow {
        AlertRow {
            id: alert.id,
            authorizer: alert.authorizer_unique_id.clone(),
            rule: alert.rule.clone(),
            state: format::alert_state(&alert.state),
            severity: format::severity(&alert.severity),
            fired: When::new(alert.first_fired_at, zone),
            reason: alert.reason.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct RunPage {
    pub layout: Layout,
    pub monitor: String,
    pub monitor_link: String,
    pub state: Badge,
    pub trigger: String,
    pub created: When,
    pub started: Option<When>,
    pub finished: Option<When>,
    pub reason: String,
    pub tally: RunTally,
    pub failed: u32,
    pub batches: Vec<BatchRow>,
    pub unsuccessful: Vec<Unsuccessful>,
    pub unsuccessful_more: usize,
    pub alerts: Vec<AlertRow>,
    pub alerts_more: usize,
    pub notifications: RunNotifications,
}

/// `GET /runs/{id}`.
pub async fn run(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Response {
    let layout = Layout::new(format!("Run {id}"), "overview", &visitor);
    let store = &state.store;
    let record = match store.run(RunId(id)).await {
        Ok(Some(record)) => record,
        Ok(None) => return layout::not_found(layout, &format!("run {id}")),
        Err(error) => return store_failed(layout, &error),
    };
    let zone = state
        .monitors
        .borrow()
        .iter()
        .find(|m| m.name == record.monitor_name)
        .map_or(chrono_tz::UTC, |m| m.schedule.zone());
    match read(&state, record, zone, layout).await {
        Ok(page) => layout::html(StatusCode::OK, &page),
        Err((layout, error)) => store_failed(layout, &error),
    }
}

async fn read(
    state: &HttpState,
    record: RunRecord,
    zone: Tz,
    layout: Layout,
) -> Result<RunPage, (Layout, StoreError)> {
    let store = &state.store;
    let id = record.id;
    let reads = async {
        Ok::<_, StoreError>((
            store.run_tally(id).await?,
            store.run_batches(id).await?,
            store.run_checks(id).await?,
            store.preflight_rejections(id).await?,
            store.run_alerts(id).await?,
            store.run_notifications(id).await?,
        ))
    };
    let (tally, batches, checks, preflight, alerts, notifications) = match reads.await {
        Ok(read) => read,
        Err(error) => return Err((layout, error)),
    };
    let when = |t: Option<DateTime<Utc>>| t.map(|t| When::new(t, zone));
    let batches = batches
        .iter()
        .map(|b: &BatchRecord| BatchRow {
            chunk: b.chunk_index,
            state: format::run_state(match b.state.as_str() {
                "complete" => "complete",
                "failed" => "failed",
                "unknown" => "partial",
                other => other,
            }),
            batch_id: b.rightfoot_batch_id.clone().unwrap_or_default(),
            members: b.members,
            results: b.results,
            first_post: when(b.first_attempt_at),
            submitted: when(b.submitted_at),
            finished: when(b.finished_at),
            note: match (&b.cached_from, &b.reason) {
                (Some(from), _) => format!("answered from the cache of run {}'s chunk", from.run.0),
                (None, Some(reason)) => reason.clone(),
                (None, None) => String::new(),
            },
        })
        .collect();
    let mut unsuccessful: Vec<Unsuccessful> = preflight
        .iter()
        .map(|r| Unsuccessful {
            authorizer: r.authorizer_unique_id.clone(),
            outcome: "rejected before sending",
            meaning: r.reason.clone(),
        })
        .collect();
    let rejected_before: std::collections::HashSet<&str> = preflight
        .iter()
        .map(|r| r.authorizer_unique_id.as_str())
        .collect();
    for check in &checks {
        let (outcome, meaning) = match check.outcome {
            RunCheckOutcome::Retrieved { status_code, .. }
                if BalanceStatus::from_code(status_code).is_success() =>
            {
                continue;
            }
            RunCheckOutcome::Retrieved { status_code, .. } => {
                ("failed", format::code_meaning(status_code))
            }
            RunCheckOutcome::NotRetrieved => (
                "not retrieved",
                "no result before the deadline, or the chunk was not sent".to_string(),
            ),
            RunCheckOutcome::Rejected
                if rejected_before.contains(check.authorizer_unique_id.as_str()) =>
            {
                continue;
            }
            RunCheckOutcome::Rejected => {
                ("rejected", "refused by Rightfoot at submission".to_string())
            }
        };
        unsuccessful.push(Unsuccessful {
            authorizer: check.authorizer_unique_id.clone(),
            outcome,
            meaning,
        });
    }
    let unsuccessful_more = unsuccessful.len().saturating_sub(MOST_LISTED);
    unsuccessful.truncate(MOST_LISTED);
    let failed = tally.failed_by_code.values().sum();
    Ok(RunPage {
        monitor_link: format!("/monitors/{}", format::query_value(&record.monitor_name)),
        monitor: record.monitor_name.clone(),
        state: format::run_state(record.state.as_str()),
        trigger: record.trigger.to_string(),
        created: When::new(record.created_at, zone),
        started: when(record.started_at),
        finished: when(record.finished_at),
        reason: record.reason.clone().unwrap_or_default(),
        tally,
        failed,
        batches,
        unsuccessful,
        unsuccessful_more,
        alerts_more: alerts.len().saturating_sub(MOST_LISTED),
        alerts: alerts
            .iter()
            .take(MOST_LISTED)
            .map(|a| AlertRow::of(a, zone))
            .collect(),
        notifications,
        layout,
    })
}
