//! The outbox page (`/outbox`): notifications pending or given up on, with their
//! attempts and last error, and "retry now" (`POST /outbox/{id}/retry`, with the CSRF
//! token), which makes one due at once and wakes the daemon's outbox.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::format::{self, Badge, When};
use super::layout::{self, Layout};
use super::session::{self, Visitor};
use super::{CsrfForm, store_failed};
use crate::http::HttpState;

const MOST_LISTED: u32 = 500;

pub struct NotificationLine {
    pub id: i64,
    pub route: String,
    pub monitor: String,
    pub state: Badge,
    pub attempts: u32,
    pub last_error: String,
    pub created: When,
    pub next_attempt: Option<When>,
    pub last_attempt: Option<When>,
}

#[derive(Template)]
#[template(path = "outbox.html")]
pub struct OutboxPage {
    pub layout: Layout,
    pub notifications: Vec<NotificationLine>,
    /// The notification a "retry now" just made due, shown as a status line.
    pub retried: Option<i64>,
}

/// `/outbox?retried={id}`: where a retry lands, so the operator sees it was taken.
#[derive(serde::Deserialize)]
pub struct OutboxQuery {
    retried: Option<i64>,
}

/// `GET /outbox`.
pub async fn outbox(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<OutboxQuery>,
) -> Response {
    let layout = Layout::new("Outbox", "outbox", &visitor);
    let rows = match state.store.undelivered(MOST_LISTED).await {
        Ok(rows) => rows,
        Err(error) => return store_failed(layout, &error),
    };
    let watched = state.monitors.borrow().clone();
    let notifications = rows
        .iter()
        .map(|n| {
            let zone = n
                .monitor
                .as_deref()
                .and_then(|name| watched.iter().find(|m| m.name == name))
                .map_or(chrono_tz::UTC, |m| m.schedule.zone());
            NotificationLine {
                id: n.id,
                route: n.route.clone(),
                monitor: n.monitor.clone().unwrap_or_else(|| "test".into()),
                state: format::alert_state(&n.state),
                attempts: n.attempts,
                last_error: n.last_error.clone().unwrap_or_default(),
                created: When::new(n.created_at, zone),
                next_attempt: (n.state == "pending").then(|| When::new(n.next_attempt_at, zone)),
                last_attempt: n.last_attempt_at.map(|t| When::new(t, zone)),
            }
        })
        .collect();
    layout::html(
        StatusCode::OK,
        &OutboxPage {
            layout,
            notifications,
            retried: query.retried,
        },
    )
}

/// `POST /outbox/{id}/retry`.
pub async fn retry(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !visitor.csrf_matches(&form.csrf) {
        return session::csrf_refused();
    }
    match state.store.retry_notification(id, state.clock.now()).await {
        Ok(true) => {
            tracing::info!(notification = id, "retry requested from the dashboard");
            if let Some(wake) = &state.wake_outbox {
                wake();
            }
            Redirect::to(&format!("/outbox?retried={id}")).into_response()
        }
        Ok(false) => layout::not_found(
            Layout::new("Outbox", "outbox", &visitor),
            &format!("undelivered notification {id}"),
        ),
        Err(error) => store_failed(Layout::new("Outbox", "outbox", &visitor), &error),
    }
}
