//! One authorizer (`/authorizers/{id}`): the balance over time as a chart (one line
//! per monitor, the monitor's `balance_below` amount as the threshold line, each debit
//! marked on the date it settles), the table of its debits with their latest decisions,
//! the table of checks with their codes and meanings, and the authorizer's alerts.
//!
//! The page knows the authorizer by its id only: the store has nothing else.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{TimeDelta, Utc};
use chrono_tz::Tz;

use super::chart::{self, Chart, Mark, Point, Series, Threshold};
use super::format::{self, Badge, When};
use super::layout::{self, Layout};
use super::run::AlertRow;
use super::session::Visitor;
use super::store_failed;
use crate::domain::{BalanceStatus, Cents};
use crate::http::HttpState;
use crate::store::{AuthorizerCheck, CheckOutcome, DecisionQuery, StoredDecision};

/// How far back the chart and the table go, and how many checks at most.
const HISTORY_DAYS: i64 = 2 * 366;
const MOST_CHECKS: u32 = 1000;
const MOST_ALERTS: u32 = 200;
/// How many of its debits, the latest settling first.
const MOST_DEBITS: usize = 100;

pub struct DebitRow {
    pub settles_on: String,
    pub debit_id: String,
    pub amount: String,
    pub balance: String,
    pub decision: Badge,
    pub reason: String,
    pub monitor: String,
    pub run: i64,
}

pub struct CheckRow {
    pub when: When,
    pub monitor: String,
    pub run: i64,
    pub outcome: &'static str,
    pub balance: String,
    pub change: String,
    pub code: String,
}

#[derive(Template)]
#[template(path = "authorizer.html")]
pub struct AuthorizerPage {
    pub layout: Layout,
    pub zone: String,
    pub chart: Option<String>,
    pub threshold: Option<String>,
    pub checks: Vec<CheckRow>,
    pub debits: Vec<DebitRow>,
    pub alerts: Vec<AlertRow>,
}

/// `GET /authorizers/{id}`.
pub async fn authorizer(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<String>,
) -> Response {
    let layout = Layout::new(format!("Authorizer {id}"), "", &visitor);
    let now = state.clock.now();
    let since = now - TimeDelta::days(HISTORY_DAYS);
    let read = async {
        let checks = state
            .store
            .authorizer_timeline(id.clone(), since, MOST_CHECKS)
            .await?;
        let alerts = state.store.authorizer_alerts(&id, MOST_ALERTS).await?;
        let mut debits = state
            .store
            .latest_decisions(DecisionQuery {
                authorizer: Some(id.clone()),
                ..DecisionQuery::default()
            })
            .await?;
        debits.sort_by_key(|d| std::cmp::Reverse(d.decision.settles_on));
        debits.truncate(MOST_DEBITS);
        Ok::<_, crate::store::StoreError>((checks, alerts, debits))
    };
    let (checks, alerts, debits) = match read.await {
        Ok((Some(checks), alerts, debits)) => (checks, alerts, debits),
        Ok((None, _, _)) => return layout::not_found(layout, &format!("authorizer {id:?}")),
        Err(error) => return store_failed(layout, &error),
    };
    let monitors = state.monitors.borrow().clone();
    let zone_of = |name: &str| {
        monitors
            .iter()
            .find(|m| m.name == name)
            .map_or(chrono_tz::UTC, |m| m.schedule.zone())
    };
    // The page's zone: that of the monitor of the newest check.
    let zone = checks
        .first()
        .map_or(chrono_tz::UTC, |c| zone_of(&c.monitor_name));
    let threshold = checks
        .iter()
        .filter_map(|c| monitors.iter().find(|m| m.name == c.monitor_name))
        .filter_map(|m| m.balance_below)
        .max();
    let page = AuthorizerPage {
        chart: balance_chart(&id, &checks, threshold, &debits, zone),
        threshold: threshold.map(|t| format::money(Some(t))),
        zone: zone.name().to_string(),
        checks: checks
            .iter()
            .map(|c| check_row(c, zone_of(&c.monitor_name)))
            .collect(),
        debits: debits.iter().map(debit_row).collect(),
        alerts: alerts
            .iter()
            .map(|a| AlertRow::of(a, zone_of(&a.monitor_name)))
            .collect(),
        layout,
    };
    layout::html(StatusCode::OK, &page)
}

fn check_row(check: &AuthorizerCheck, zone: Tz) -> CheckRow {
    CheckRow {
        when: When::new(check.run_time, zone),
        monitor: check.monitor_name.clone(),
        run: check.run.0,
        outcome: match check.outcome {
            CheckOutcome::Retrieved => match check.balance_status_code {
                Some(code) if !BalanceStatus::from_code(code).is_success() => "failed",
                _ => "retrieved",
            },
            CheckOutcome::NotRetrieved => "not retrieved",
            CheckOutcome::Rejected => "rejected",
            CheckOutcome::PreflightRejected => "rejected before sending",
        },
        balance: format::money(check.balance),
        change: match (check.balance, check.previous_balance) {
            (Some(now), Some(before)) => {
                let delta = now.0 - before.0;
                match delta {
                    0 => "no change".to_string(),
                    d if d > 0 => format!("+{}", Cents(d)),
                    d => Cents(d).to_string(),
                }
            }
            _ => "—".to_string(),
        },
        code: match (check.balance_status_code, &check.reason) {
            (Some(code), _) => format::code_meaning(code),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        },
    }
}

fn debit_row(stored: &StoredDecision) -> DebitRow {
    let d = &stored.decision;
    DebitRow {
        settles_on: d.settles_on.format("%a %Y-%m-%d").to_string(),
        debit_id: d.debit_id.clone(),
        amount: format::money(Some(d.amount)),
        balance: format::money(d.balance),
        decision: format::decision(d.decision),
        reason: d.reason.clone(),
        monitor: stored.monitor.clone(),
        run: stored.run.0,
    }
}

/// One line per monitor of the balances retrieved, oldest first, and a mark at noon
/// (in `zone`) of each debit's settlement date.
fn balance_chart(
    id: &str,
    checks: &[AuthorizerCheck],
    threshold: Option<Cents>,
    debits: &[StoredDecision],
    zone: Tz,
) -> Option<String> {
    let marks = debits
        .iter()
        .filter_map(|stored| {
            let d = &stored.decision;
            let noon = d.settles_on.and_hms_opt(12, 0, 0)?;
            let at = noon
                .and_local_timezone(zone)
                .earliest()?
                .with_timezone(&Utc);
            Some(Mark {
                at,
                title: format!(
                    "debit {} of {} settling {}: {} ({})",
                    d.debit_id,
                    format::money(Some(d.amount)),
                    d.settles_on.format("%a %Y-%m-%d"),
                    d.decision,
                    d.reason
                ),
            })
        })
        .collect();
    let mut by_monitor: BTreeMap<&str, Vec<Point>> = BTreeMap::new();
    for check in checks.iter().rev() {
        let Some(balance) = check.balance else {
            continue;
        };
        let local = check
            .run_time
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z");
        by_monitor
            .entry(check.monitor_name.as_str())
            .or_default()
            .push(Point {
                at: check.run_time,
                value: balance.0,
                title: format!(
                    "{}: {} (run {})",
                    local,
                    format::money(Some(balance)),
                    check.run.0
                ),
            });
    }
    chart::render(&Chart {
        label: format!("Balance of authorizer {id} over time"),
        size: chart::Size::Wide,
        series: by_monitor
            .into_iter()
            .map(|(monitor, points)| Series {
                name: monitor.to_string(),
                points,
            })
            .collect(),
        threshold: threshold.map(|value| Threshold {
            value: value.0,
            title: format!("balance_below threshold {}", format::money(Some(value))),
        }),
        marks,
        format_value: &|cents| Cents(cents).to_string(),
        format_time: &|t| t.with_timezone(&zone).format("%Y-%m-%d").to_string(),
    })
}
