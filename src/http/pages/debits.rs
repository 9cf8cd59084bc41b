//! The debits page (`/debits?date=D`): each debit settling on `D` with its latest
//! decision (send, hold or unknown), its amount, the balance the decision rests on and
//! why, holds first; and `/debits.csv?date=D`, the same decisions as the file
//! `balance-monitor debits --format csv` prints, to download.
//!
//! The filters (date, monitor, decision) live in the URL, so a view can be bookmarked
//! and the CSV link carries the view's filters. Without a date the page shows today's,
//! in the zone of the first monitor. The rows hold ids, dates and amounts: no
//! personal data.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate};
use chrono_tz::Tz;

use super::format::{self, Badge, When};
use super::layout::{self, Layout};
use super::session::Visitor;
use super::store_failed;
use crate::domain::{Cents, Decision};
use crate::http::{HttpState, WatchedMonitor};
use crate::store::{DecisionQuery, StoredDecision};

/// The most rows the page lists; the CSV holds them all.
const MOST_LISTED: usize = 1000;

/// The filters, as the URL carries them; an empty value is no filter.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct DebitsQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    monitor: String,
    #[serde(default)]
    decision: String,
}

/// The filters, read: a bad date or decision is named, not ignored.
struct View {
    date: NaiveDate,
    monitor: Option<String>,
    decision: Option<Decision>,
}

impl DebitsQuery {
    fn view(&self, today: NaiveDate) -> Result<View, String> {
        let date = match self.date.trim() {
            "" => today,
            text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("date {text:?} is not a date written YYYY-MM-DD"))?,
        };
        let decision =
            match self.decision.trim() {
                "" => None,
                text => Some(Decision::parse(text).ok_or_else(|| {
                    format!("decision {text:?} is not one of send, hold or unknown")
                })?),
            };
        let monitor = Some(self.monitor.trim().to_string()).filter(|m| !m.is_empty());
        Ok(View {
            date,
            monitor,
            decision,
        })
    }
}

impl View {
    /// The query string of this view on `date`.
    fn query(&self, date: NaiveDate) -> String {
        format!(
            "date={date}&monitor={}&decision={}",
            format::query_value(self.monitor.as_deref().unwrap_or_default()),
            self.decision.map_or("", Decision::as_str)
        )
    }

    /// This view's decisions, in the store's order (monitor, authorizer, debit).
    async fn decisions(
        &self,
        state: &HttpState,
    ) -> Result<Vec<StoredDecision>, crate::store::StoreError> {
        let rows = state
            .store
            .latest_decisions(DecisionQuery {
                settles_on: Some(self.date),
                monitor: self.monitor.clone(),
                authorizer: None,
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| self.decision.is_none_or(|d| row.decision.decision == d))
            .collect())
    }
}

/// One decision as a count and a total.
pub struct Tally {
    pub decision: Badge,
    pub count: usize,
    pub total: String,
}

pub struct DebitLine {
    pub monitor: String,
    pub run: i64,
    pub debit_id: String,
    pub authorizer: String,
    pub debit_date: String,
    pub amount: String,
    pub balance: String,
    pub checked: Option<When>,
    pub decision: Badge,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "debits.html")]
pub struct DebitsPage {
    pub layout: Layout,
    pub date: String,
    pub weekday: String,
    pub monitor: String,
    pub decision: String,
    pub monitors: Vec<String>,
    pub decisions: [&'static str; 3],
    pub tallies: Vec<Tally>,
    pub lines: Vec<DebitLine>,
    /// Rows beyond [`MOST_LISTED`], in the CSV only.
    pub more: usize,
    pub csv_link: String,
    pub previous_link: String,
    pub next_link: String,
    pub zone: String,
    pub problem: Option<String>,
}

/// What both views of the debits start from: the layout, the monitors watched, the
/// page's zone (the first monitor's, or UTC) and today's date in it.
fn start(
    state: &HttpState,
    visitor: &Visitor,
) -> (Layout, Arc<Vec<WatchedMonitor>>, Tz, NaiveDate) {
    let watched = state.monitors.borrow().clone();
    let zone = watched
        .first()
        .map_or(chrono_tz::UTC, |m| m.schedule.zone());
    let today = state.clock.now().with_timezone(&zone).date_naive();
    (
        Layout::new("Debits", "debits", visitor),
        watched,
        zone,
        today,
    )
}

/// `GET /debits`.
pub async fn debits(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<DebitsQuery>,
) -> Response {
    let (layout, watched, zone, today) = start(&state, &visitor);
    let mut page = DebitsPage {
        layout,
        date: today.to_string(),
        weekday: today.format("%A").to_string(),
        monitor: query.monitor.trim().to_string(),
        decision: query.decision.trim().to_string(),
        monitors: watched.iter().map(|m| m.name.clone()).collect(),
        decisions: Decision::ALL.map(Decision::as_str),
        tallies: Vec::new(),
        lines: Vec::new(),
        more: 0,
        csv_link: String::new(),
        previous_link: String::new(),
        next_link: String::new(),
        zone: zone.name().to_string(),
        problem: None,
    };
    let view = match query.view(today) {
        Ok(view) => view,
        Err(problem) => {
            page.problem = Some(problem);
            return layout::html(StatusCode::BAD_REQUEST, &page);
        }
    };
    let mut rows = match view.decisions(&state).await {
        Ok(rows) => rows,
        Err(error) => return store_failed(page.layout, &error),
    };
    page.date = view.date.to_string();
    page.weekday = view.date.format("%A").to_string();
    page.csv_link = format!("/debits.csv?{}", view.query(view.date));
    page.previous_link = format!("/debits?{}", view.query(view.date - Days::new(1)));
    page.next_link = format!("/debits?{}", view.query(view.date + Days::new(1)));
    page.tallies = [Decision::Hold, Decision::Unknown, Decision::Send]
        .into_iter()
        .map(|decision| {
            let chosen = rows.iter().filter(|r| r.decision.decision == decision);
            Tally {
                decision: format::decision(decision),
                count: chosen.clone().count(),
                total: format::money(Some(Cents(chosen.map(|r| r.decision.amount.0).sum()))),
            }
        })
        .collect();
    // What needs a person first: holds, then unknowns, then sends.
    rows.sort_by_key(|row| match row.decision.decision {
        Decision::Hold => 0,
        Decision::Unknown => 1,
        Decision::Send => 2,
    });
    page.more = rows.len().saturating_sub(MOST_LISTED);
    page.lines = rows
        .iter()
        .take(MOST_LISTED)
        .map(|row| {
            let zone = watched
                .iter()
                .find(|m| m.name == row.monitor)
                .map_or(zone, |m| m.schedule.zone());
            let d = &row.decision;
            DebitLine {
                monitor: row.monitor.clone(),
                run: row.run.0,
                debit_id: d.debit_id.clone(),
                authorizer: d.authorizer_unique_id.clone(),
                debit_date: d.debit_date.to_string(),
                amount: format::money(Some(d.amount)),
                balance: format::money(d.balance),
                checked: d.checked_at.map(|t| When::new(t, zone)),
                decision: format::decision(d.decision),
                reason: d.reason.clone(),
            }
        })
        .collect();
    layout::html(StatusCode::OK, &page)
}

/// `GET /debits.csv`: the view's decisions as CSV, every row, as an attachment.
pub async fn debits_csv(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<DebitsQuery>,
) -> Response {
    let (layout, _, _, today) = start(&state, &visitor);
    let view = match query.view(today) {
        Ok(view) => view,
        Err(problem) => {
            return layout::message(
                layout,
                StatusCode::BAD_REQUEST,
                "Not a debits view",
                &problem,
            );
        }
    };
    let rows = match view.decisions(&state).await {
        Ok(rows) => rows,
        Err(error) => return store_failed(layout, &error),
    };
    let body = match crate::debits::decisions_csv(&rows) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "the debits CSV could not be written");
            return layout::message(
                layout,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The CSV could not be written",
                "The daemon's log says why.",
            );
        }
    };
    let name = match view.decision {
        Some(decision) => format!("debits-{}-{decision}.csv", view.date),
        None => format!("debits-{}.csv", view.date),
    };
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}
