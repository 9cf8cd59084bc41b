//! The overview (`/`: every configured monitor at a glance) and one monitor's page
//! (`/monitors/{name}`: its runs, newest first, paged by run id, with a chart).
//!
//! "At risk" is the number of distinct authorizers with an alert firing once a run was
//! judged ([`Dashboard::at_risk_counts`](crate::store::Dashboard::at_risk_counts) at the
//! run's instant: its slot, or when a manual run finished).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, SubsecRound as _, Utc};
use chrono_tz::Tz;

use super::chart::{self, Chart, Point, Series};
use super::format::{self, Badge, When};
use super::layout::{self, Layout};
use super::session::Visitor;
use super::store_failed;
use crate::http::{HttpState, WatchedMonitor};
use crate::store::{RunOverview, RunRecord, Store, StoreError};

/// Runs in a monitor's chart and in the overview's small one.
const CHART_RUNS: u32 = 60;
const OVERVIEW_CHART_RUNS: u32 = 30;
/// Runs per page of a monitor's list.
const RUNS_PER_PAGE: u32 = 50;

/// The instant a run stands for: its slot, or when it finished (a manual run), as the
/// judgement dates its alerts.
fn run_instant(run: &RunRecord) -> DateTime<Utc> {
    run.trigger
        .slot()
        .or(run.finished_at)
        .unwrap_or(run.created_at)
        .trunc_subsecs(6)
}

/// One run's figures, for a chart and its table.
pub struct RunFigures {
    pub id: i64,
    pub when: When,
    pub state: Badge,
    /// Authorizers checked and those without a balance (the monitor's page only: the
    /// overview does not count every run's results).
    pub counts: Option<(u32, u32)>,
    pub at_risk: u64,
}

/// The latest `limit` runs of `monitor` with their at-risk counts, oldest first, and
/// with `with_counts` their results counted.
async fn run_figures(
    store: &Store,
    monitor: &str,
    zone: Tz,
    limit: u32,
    with_counts: bool,
) -> Result<Vec<RunFigures>, StoreError> {
    let Some(id) = store.monitor_id(monitor).await? else {
        return Ok(Vec::new());
    };
    let mut runs: Vec<(RunRecord, Option<(u32, u32)>)> = match with_counts {
        true => store
            .recent_runs(Some(id), limit)
            .await?
            .into_iter()
            .map(|RunOverview { run, counts: c, .. }| {
                let unsuccessful = c.failed + c.not_retrieved + c.rejected + c.preflight_rejected;
                (run, Some((c.succeeded + unsuccessful, unsuccessful)))
            })
            .collect(),
        false => store
            .runs_page(Some(monitor.to_string()), None, limit)
            .await?
            .rows
            .into_iter()
            .map(|run| (run, None))
            .collect(),
    };
    runs.reverse();
    let instants = runs.iter().map(|(run, _)| run_instant(run)).collect();
    let at_risk = store.at_risk_counts(id, instants).await?;
    Ok(runs
        .iter()
        .zip(at_risk)
        .map(|((run, counts), at_risk)| RunFigures {
            id: run.id.0,
            when: When::new(run_instant(run), zone),
            state: format::run_state(run.state.as_str()),
            counts: *counts,
            at_risk,
        })
        .collect())
}

/// The chart of `figures`: at-risk counts, and with `all` the unsuccessful ones too.
fn figures_chart(monitor: &str, figures: &[RunFigures], zone: Tz, all: bool) -> Option<String> {
    let size = if all {
        chart::Size::Wide
    } else {
        chart::Size::Small
    };
    let point = |f: &RunFigures, value: u64, what: &str| Point {
        at: DateTime::parse_from_rfc3339(&f.when.iso)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default(),
        value: value as i64,
        title: format!("run {}, {}: {value} {what}", f.id, f.when.local),
    };
    let mut series = vec![Series {
        name: "at risk".into(),
        points: figures
            .iter()
            .map(|f| point(f, f.at_risk, "at risk"))
            .collect(),
    }];
    if all {
        series.push(Series {
            name: "without a balance".into(),
            points: figures
                .iter()
                .map(|f| {
                    let unsuccessful = f.counts.map_or(0, |(_, unsuccessful)| unsuccessful);
                    point(f, u64::from(unsuccessful), "without a balance")
                })
                .collect(),
        });
    }
    chart::render(&Chart {
        label: format!("Authorizers at risk per run of {monitor}"),
        size,
        series,
        threshold: None,
        marks: Vec::new(),
        format_value: &|v| v.to_string(),
        format_time: &|t| t.with_timezone(&zone).format("%b %d").to_string(),
    })
}

/// One monitor on the overview.
pub struct MonitorCard {
    pub name: String,
    pub link: String,
    pub zone: String,
    pub last_run: Option<LastRun>,
    pub next_run: Option<When>,
    /// Each severity firing, its count and the link to those alerts.
    pub firing: Vec<(Badge, u64, String)>,
    pub outbox_pending: u64,
    pub outbox_failed: u64,
    pub chart: Option<String>,
    /// The chart's numbers: a rendered [`FiguresTable`].
    pub figures: String,
}

/// A chart's numbers as a table.
#[derive(Template)]
#[template(path = "figures.html")]
pub struct FiguresTable<'a> {
    pub zone: &'a str,
    pub figures: &'a [RunFigures],
    pub with_counts: bool,
}

impl FiguresTable<'_> {
    fn html(zone: &str, figures: &[RunFigures]) -> String {
        let with_counts = figures.iter().any(|f| f.counts.is_some());
        FiguresTable {
            zone,
            figures,
            with_counts,
        }
        .render()
        .unwrap_or_default()
    }
}

/// The latest run on a card.
pub struct LastRun {
    pub id: i64,
    pub state: Badge,
    pub succeeded: u32,
    pub failed: u32,
    pub not_retrieved: u32,
    pub rejected: u32,
    pub took: Option<String>,
    pub age: String,
    pub when: When,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub cards: Vec<MonitorCard>,
}

/// `GET /`.
pub async fn overview(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
) -> Response {
    let layout = Layout::new("Monitors", "overview", &visitor);
    let monitors = state.monitors.borrow().clone();
    match overview_cards(&state, &monitors).await {
        Ok(cards) => layout::html(StatusCode::OK, &OverviewPage { layout, cards }),
        Err(error) => store_failed(layout, &error),
    }
}

async fn overview_cards(
    state: &HttpState,
    monitors: &[WatchedMonitor],
) -> Result<Vec<MonitorCard>, StoreError> {
    let now = state.clock.now();
    let store = &state.store;
    let firing = store.firing_alert_counts().await?;
    let backlog = store.outbox_backlog().await?;
    let mut cards = Vec::new();
    for monitor in monitors {
        let zone = monitor.schedule.zone();
        let id = store.monitor_id(&monitor.name).await?;
        let last = match id {
            Some(id) => store.recent_runs(Some(id), 1).await?.pop(),
            None => None,
        };
        let last_run = last.map(|overview| {
            let run = &overview.run;
            let started = run.started_at.unwrap_or(run.created_at);
            let ended = run.finished_at.unwrap_or(now);
            LastRun {
                id: run.id.0,
                state: format::run_state(run.state.as_str()),
                succeeded: overview.counts.succeeded,
                failed: overview.counts.failed,
                not_retrieved: overview.counts.not_retrieved,
                rejected: overview.counts.rejected + overview.counts.preflight_rejected,
                took: run
                    .finished_at
                    .map(|end| format::span((end - started).num_seconds())),
                age: format::span((now - ended).num_seconds()),
                when: When::new(started, zone),
            }
        });
        let figures = run_figures(store, &monitor.name, zone, OVERVIEW_CHART_RUNS, false).await?;
        let backlog = backlog
            .iter()
            .find(|b| b.monitor.as_deref() == Some(monitor.name.as_str()));
        cards.push(MonitorCard {
            link: format!("/monitors/{}", format::query_value(&monitor.name)),
            name: monitor.name.clone(),
            zone: zone.name().to_string(),
            last_run,
            next_run: monitor.schedule.next_after(now).map(|t| When::new(t, zone)),
            firing: firing
                .iter()
                .filter(|f| f.monitor_name == monitor.name)
                .map(|f| {
                    let link = format!(
                        "/alerts?state=firing&monitor={}&severity={}",
                        format::query_value(&monitor.name),
                        format::query_value(&f.severity)
                    );
                    (format::severity(&f.severity), f.count, link)
                })
                .collect(),
            outbox_pending: backlog.map_or(0, |b| b.pending),
            outbox_failed: backlog.map_or(0, |b| b.failed),
            chart: figures_chart(&monitor.name, &figures, zone, false),
            figures: FiguresTable::html(zone.name(), &figures),
        });
    }
    Ok(cards)
}

/// One run in a monitor's list.
pub struct RunRow {
    pub id: i64,
    pub state: Badge,
    pub trigger: &'static str,
    pub started: When,
    pub took: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "monitor.html")]
pub struct MonitorPage {
    pub layout: Layout,
    pub zone: String,
    pub chart: Option<String>,
    /// The chart's numbers: a rendered [`FiguresTable`].
    pub figures: String,
    pub runs: Vec<RunRow>,
    /// The link to the next (older) page.
    pub older: Option<String>,
}

/// `?before=`: the run id the page starts below.
#[derive(serde::Deserialize)]
pub struct RunsQuery {
    before: Option<i64>,
}

/// `GET /monitors/{name}`.
pub async fn monitor(
    State(state): State<HttpState>,
    Extension(visitor): Extension<Visitor>,
    Path(name): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let layout = Layout::new(format!("Monitor {name}"), "overview", &visitor);
    let watched = state
        .monitors
        .borrow()
        .iter()
        .find(|m| m.name == name)
        .cloned();
    let store = &state.store;
    let known = match store.monitor_id(&name).await {
        Ok(id) => id,
        Err(error) => return store_failed(layout, &error),
    };
    if watched.is_none() && known.is_none() {
        return layout::not_found(layout, &format!("monitor named {name:?}"));
    }
    let zone = watched.map_or(chrono_tz::UTC, |m| m.schedule.zone());
    let read = async {
        let figures = run_figures(store, &name, zone, CHART_RUNS, true).await?;
        let page = store
            .runs_page(
                Some(name.clone()),
                query.before.map(crate::store::RunId),
                RUNS_PER_PAGE,
            )
            .await?;
        Ok::<_, StoreError>((figures, page))
    };
    let (figures, page) = match read.await {
        Ok(read) => read,
        Err(error) => return store_failed(layout, &error),
    };
    let now = state.clock.now();
    let older = match (page.has_more, page.rows.last()) {
        (true, Some(last)) => Some(format!(
            "/monitors/{}?before={}",
            format::query_value(&name),
            last.id.0
        )),
        _ => None,
    };
    let runs = page
        .rows
        .iter()
        .map(|run| {
            let started = run.started_at.unwrap_or(run.created_at);
            RunRow {
                id: run.id.0,
                state: format::run_state(run.state.as_str()),
                trigger: match run.trigger.slot() {
                    None => "manual",
                    Some(_) if matches!(run.trigger, crate::domain::RunTrigger::CatchUp { .. }) => {
                        "catch-up"
                    }
                    Some(_) => "schedule",
                },
                started: When::new(started, zone),
                took: format::span((run.finished_at.unwrap_or(now) - started).num_seconds()),
                reason: run.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    let page = MonitorPage {
        layout,
        zone: zone.name().to_string(),
        chart: figures_chart(&name, &figures, zone, true),
        figures: FiguresTable::html(zone.name(), &figures),
        runs,
        older,
    };
    layout::html(StatusCode::OK, &page)
}
