//! The alerts page (`/alerts`): firing and resolved alerts filtered by state, monitor,
//! severity and rule, all in the URL so a view can be bookmarked, paged by alert id; a
//! silence set from an alert's row (`POST /alerts/silence`, with the CSRF token); and
//! the silences in force.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, http};
use chrono::TimeDelta;

use super::format::{self, Badge, When};
use super::layout::{self, Layout};
use super::session::{self, Visitor};
use super::store_failed;
use crate::http::HttpState;
use crate::store::{AlertFilter, AlertStateFilter, NewSilence, StoreError};

const ALERTS_PER_PAGE: u32 = 100;

/// The silences a row offers, as (form value, words).
const SILENCE_FOR: [(&str, &str); 4] = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("7d", "7 days"),
];

/// The filters, as the URL carries them; an empty value is no filter.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AlertsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    monitor: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    rule: String,
    before: Option<i64>,
}

impl AlertsQuery {
    fn filter(&self) -> AlertFilter {
        let some = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
        AlertFilter {
            state: match self.state.as_str() {
                "firing" => Some(AlertStateFilter::Firing),
                "resolved" => Some(AlertStateFilter::Resolved),
                _ => None,
            },
            monitor: some(&self.monitor),
            severity: some(&self.severity),
            rule: some(&self.rule),
        }
    }

    /// This view's URL, starting below alert `before` when given.
    fn link(&self, before: Option<i64>) -> String {
        let mut link = format!(
            "/alerts?state={}&monitor={}&severity={}&rule={}",
            format::query_value(&self.state),
            format::query_value(&self.monitor),
            format::query_value(&self.severity),
            format::query_value(&self.rule)
        );
        if let Some(before) = before {
            link.push_str(&format!("&before={before}"));
        }
        link
    }
}

pub struct AlertLine {
    pub id: i64,
    pub monitor: String,
    pub authorizer: Option<String>,
    pub rule: String,
    pub severity: Badge,
    pub state: Badge,
    pub fired: When,
    pub resolved: Option<When>,
    pub reason: String,
    /// Whether a silence can be set from this row (a firing alert about an authorizer).
    pub silenceable: bool,
}

pub struct SilenceLine {
    pub id: i64,
    pub authorizer: String,
    pub monitor: String,
    pub rule: String,
    pub ends: When,
    pub created_by: String,
    pub comment: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub layout: Layout,
    pub query: AlertsQuery,
    pub monitors: Vec<String>,
    pub severities: [&'static str; 3],
    pub alerts: Vec<AlertLine>,
    pub older: Option<String>,
    pub this_view: String,
    pub silence_for: [(&'static str, &'static str); 4],
    pub silences: Vec<SilenceLine>,
}

/// `GET /alerts`.
pub async fn alerts(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<AlertsQuery>,
) -> Response {
    let layout = Layout::new("Alerts", "alerts", &visitor);
    let now = state.clock.now();
    let read = async {
        let page = state
            .store
            .alerts_filtered(query.filter(), query.before, ALERTS_PER_PAGE)
            .await?;
        let silences = state.store.silences(Some(now)).await?;
        Ok::<_, StoreError>((page, silences))
    };
    let (page, silences) = match read.await {
        Ok(read) => read,
        Err(error) => return store_failed(layout, &error),
    };
    let watched = state.monitors.borrow().clone();
    let zone_of = |name: &str| {
        watched
            .iter()
            .find(|m| m.name == name)
            .map_or(chrono_tz::UTC, |m| m.schedule.zone())
    };
    let older = match (page.has_more, page.rows.last()) {
        (true, Some(last)) => Some(query.link(Some(last.id))),
        _ => None,
    };
    let alerts = page
        .rows
        .iter()
        .map(|a| {
            let zone = zone_of(&a.monitor_name);
            AlertLine {
                id: a.id,
                monitor: a.monitor_name.clone(),
                authorizer: a.authorizer_unique_id.clone(),
                rule: a.rule.clone(),
                severity: format::severity(&a.severity),
                state: format::alert_state(&a.state),
                fired: When::new(a.first_fired_at, zone),
                resolved: a.resolved_at.map(|t| When::new(t, zone)),
                reason: a.reason.clone().unwrap_or_default(),
                silenceable: a.state == "firing" && a.authorizer_unique_id.is_some(),
            }
        })
        .collect();
    let silences = silences
        .iter()
        .filter(|s| s.is_active(now))
        .map(|s| SilenceLine {
            id: s.id,
            authorizer: s.silence.authorizer_unique_id.clone(),
            monitor: s
                .silence
                .monitor
                .clone()
                .unwrap_or_else(|| "every monitor".into()),
            rule: s
                .silence
                .rule
                .clone()
                .unwrap_or_else(|| "every rule".into()),
            ends: When::new(
                s.silence.ends_at,
                s.silence.monitor.as_deref().map_or(chrono_tz::UTC, zone_of),
            ),
            created_by: s.silence.created_by.clone(),
            comment: s.silence.comment.clone(),
        })
        .collect();
    let page = AlertsPage {
        layout,
        this_view: query.link(query.before),
        monitors: watched.iter().map(|m| m.name.clone()).collect(),
        severities: ["critical", "warning", "info"],
        alerts,
        older,
        silence_for: SILENCE_FOR,
        silences,
        query,
    };
    layout::html(StatusCode::OK, &page)
}

/// What a row's silence form sends.
#[derive(serde::Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    csrf: String,
    authorizer: String,
    monitor: String,
    rule: String,
    #[serde(rename = "for")]
    duration: String,
    #[serde(default)]
    comment: String,
    /// The view to go back to (an `/alerts` URL).
    #[serde(default)]
    back: String,
}

/// `POST /alerts/silence`: silences one authorizer's alerts of one monitor and rule.
pub async fn silence(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<SilenceForm>,
) -> Response {
    if !visitor.csrf_matches(&form.csrf) {
        return session::csrf_refused();
    }
    let hours = match form.duration.as_str() {
        "1h" => 1,
        "4h" => 4,
        "1d" => 24,
        "7d" => 168,
        _ => {
            return (
                http::StatusCode::BAD_REQUEST,
                "for: expected 1h, 4h, 1d or 7d\n",
            )
                .into_response();
        }
    };
    if form.authorizer.trim().is_empty()
        || form.monitor.trim().is_empty()
        || form.rule.trim().is_empty()
    {
        return (
            http::StatusCode::BAD_REQUEST,
            "authorizer, monitor and rule: each is required\n",
        )
            .into_response();
    }
    let now = state.clock.now();
    let comment = form.comment.trim();
    let silence = NewSilence {
        authorizer_unique_id: form.authorizer,
        monitor: Some(form.monitor),
        rule: Some(form.rule),
        starts_at: now,
        ends_at: now + TimeDelta::hours(hours),
        created_by: "dashboard".to_string(),
        comment: if comment.is_empty() {
            "set from the dashboard".to_string()
        } else {
            comment.chars().take(500).collect()
        },
    };
    if let Err(error) = state.store.add_silence(silence).await {
        let layout = Layout::new("Alerts", "alerts", &visitor);
        return store_failed(layout, &error);
    }
    // Only back to an alerts view of this site.
    let local = form.back.bytes().all(|b| b.is_ascii_graphic());
    let back = if local && form.back.starts_with("/alerts") && !form.back.starts_with("/alerts/") {
        form.back
    } else {
        "/alerts".to_string()
    };
    Redirect::to(&back).into_response()
}
