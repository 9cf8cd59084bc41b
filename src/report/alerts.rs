//! `balance-monitor alerts` and `alerts show ID`.
//!
//! The list is the firing alerts (with `--all`, the resolved ones too), grouped by
//! monitor and then by severity, most severe first; an alert a silence matches now is
//! marked `silenced` with the silence's end (it still fires and resolves: only the
//! routes are not told). `alerts show` is one alert's timeline: when it fired, each
//! notification that carried it with its delivery result, and when it resolved.
//!
//! A notification belongs to an alert when its payload (the stored digest) is of the
//! alert's monitor, has a row about the alert's authorizer and rule kind, and stands for
//! a run between the alert's firing and its resolution.
//!
//! Rendering is pure functions over store records; the command functions wire them to
//! the store.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Zones;
use super::timefmt::{local_and_utc_seconds, local_minutes, table, utc_minutes};
use super::{open_store, write_out};
use crate::alerting::payload;
use crate::alerting::silences::silenced_by;
use crate::config::Config;
use crate::notify::Transition;
use crate::store::{AlertRecord, AlertStateFilter, NotificationRecord, SilenceRecord, Store};

/// What `alerts` lists.
#[derive(Clone, Debug, Default)]
pub struct AlertsOptions {
    /// Resolved alerts too.
    pub all: bool,
    pub monitor: Option<String>,
    /// `critical`, `warning` or `info`.
    pub severity: Option<String>,
    /// A rule kind (`below_payment`) or one rule (`balance_below#2`).
    pub rule: Option<String>,
    pub json: bool,
}

/// One alert as listed: its row, and the silence that matches it now.
#[derive(Clone, Debug)]
pub struct ListedAlert {
    pub alert: AlertRecord,
    pub silenced_by: Option<SilenceRecord>,
}

/// Every alert, newest first, in `state` when given.
pub(super) async fn every_alert(
    store: &Store,
    state: Option<AlertStateFilter>,
) -> anyhow::Result<Vec<AlertRecord>> {
    let mut alerts = Vec::new();
    let mut before = None;
    loop {
        let page = store.alerts_page(state, before, 500).await?;
        before = page.rows.last().map(|alert| alert.id);
        alerts.extend(page.rows);
        if !page.has_more {
            return Ok(alerts);
        }
    }
}

/// Whether `rule` (a kind or one rule) names the alert's rule (`balance_below#1`).
fn rule_matches(wanted: &str, rule: &str) -> bool {
    wanted == rule || rule.split_once('#').is_some_and(|(kind, _)| kind == wanted)
}

/// The most severe first.
fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// `balance-monitor alerts`.
pub async fn alerts(
    config: &Config,
    options: &AlertsOptions,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let read = async {
        let state = (!options.all).then_some(AlertStateFilter::Firing);
        let alerts = every_alert(&store, state).await?;
        let silences = store.silences(Some(now)).await?;
        anyhow::Ok((alerts, silences))
    }
    .await;
    store.close().await;
    let (alerts, silences) = read?;
    if let Some(monitor) = &options.monitor
        && !config.monitors.iter().any(|m| &m.name == monitor)
        && !alerts.iter().any(|a| &a.monitor_name == monitor)
    {
        return Err(super::silences::not_configured(config, monitor));
    }
    let listed = select(alerts, &silences, options, now);
    let zones = Zones::from_config(config);
    let text = match options.json {
        true => render_json(&listed),
        false => render_list(&listed, &zones, options.all),
    };
    write_out(out, &text)
}

/// The alerts the options ask for, sorted by monitor, severity (most severe first),
/// authorizer and rule, each with the silence in force at `now` that matches it.
pub fn select(
    alerts: Vec<AlertRecord>,
    silences: &[SilenceRecord],
    options: &AlertsOptions,
    now: DateTime<Utc>,
) -> Vec<ListedAlert> {
    let mut listed: Vec<ListedAlert> = alerts
        .into_iter()
        .filter(|a| {
            options
                .monitor
                .as_ref()
                .is_none_or(|m| &a.monitor_name == m)
        })
        .filter(|a| options.severity.as_ref().is_none_or(|s| &a.severity == s))
        .filter(|a| {
            options
                .rule
                .as_ref()
                .is_none_or(|r| rule_matches(r, &a.rule))
        })
        .map(|alert| {
            let silence = match alert.state.as_str() {
                "firing" => silenced_by(
                    silences,
                    now,
                    &alert.monitor_name,
                    alert.authorizer_unique_id.as_deref(),
                    &alert.rule,
                )
                .cloned(),
                _ => None,
            };
            ListedAlert {
                alert,
                silenced_by: silence,
            }
        })
        .collect();
    listed.sort_by(|a, b| {
        let key = |l: &ListedAlert| {
            (
                l.alert.monitor_name.clone(),
                severity_rank(&l.alert.severity),
                l.alert.authorizer_unique_id.clone(),
                l.alert.rule.clone(),
                std::cmp::Reverse(l.alert.id),
            )
        };
        key(a).cmp(&key(b))
    });
    listed
}

/// The alerts as a table per monitor and severity.
pub fn render_list(listed: &[ListedAlert], zones: &Zones, all: bool) -> String {
    if listed.is_empty() {
        return match all {
            true => "no alerts\n".to_string(),
            false => "no alerts firing\n".to_string(),
        };
    }
    let mut out = String::new();
    let mut start = 0;
    while start < listed.len() {
        let first = &listed[start].alert;
        let end = listed[start..]
            .iter()
            .position(|l| {
                l.alert.monitor_name != first.monitor_name || l.alert.severity != first.severity
            })
            .map_or(listed.len(), |n| start + n);
        let group = &listed[start..end];
        let zone = zones.of(&first.monitor_name);
        let _ = writeln!(
            out,
            "{}{} · {} ({})",
            if start == 0 { "" } else { "\n" },
            first.monitor_name,
            first.severity,
            group.len()
        );
        let rows: Vec<Vec<String>> = group
            .iter()
            .map(|l| {
                let a = &l.alert;
                let mut row = vec![
                    a.id.to_string(),
                    a.authorizer_unique_id
                        .clone()
                        .unwrap_or_else(|| "(runs)".into()),
                    a.rule.clone(),
                ];
                if all {
                    row.push(a.state.clone());
                }
                row.push(local_minutes(a.first_fired_at, zone));
                row.push(utc_minutes(a.first_fired_at));
                if all {
                    row.push(a.resolved_at.map_or_else(String::new, utc_minutes));
                }
                row.push(match &l.silenced_by {
                    Some(s) => format!("silenced until {}", utc_minutes(s.silence.ends_at)),
                    None => String::new(),
                });
                row.push(a.reason.clone().unwrap_or_default());
                row
            })
            .collect();
        let header: Vec<&str> = match all {
            true => vec![
                "ID",
                "AUTHORIZER",
                "RULE",
                "STATE",
                "FIRED",
                "UTC",
                "RESOLVED",
                "SILENCE",
                "REASON",
            ],
            false => vec![
                "ID",
                "AUTHORIZER",
                "RULE",
                "FIRED",
                "UTC",
                "SILENCE",
                "REASON",
            ],
        };
        for line in table(&header, &rows, &[0]).lines() {
            let _ = writeln!(out, "  {line}");
        }
        start = end;
    }
    out
}

#[derive(Serialize)]
struct AlertJson<'a> {
    id: i64,
    monitor: &'a str,
    severity: &'a str,
    authorizer_id: Option<&'a str>,
    rule: &'a str,
    state: &'a str,
    fired_at: DateTime<Utc>,
    last_notified_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    reason: Option<&'a str>,
    silenced: bool,
    silence_id: Option<i64>,
    silenced_until: Option<DateTime<Utc>>,
}

/// The alerts as a JSON array, in the order of the table.
pub fn render_json(listed: &[ListedAlert]) -> String {
    let rows: Vec<AlertJson<'_>> = listed
        .iter()
        .map(|l| {
            let a = &l.alert;
            AlertJson {
                id: a.id,
                monitor: &a.monitor_name,
                severity: &a.severity,
                authorizer_id: a.authorizer_unique_id.as_deref(),
                rule: &a.rule,
                state: &a.state,
                fired_at: a.first_fired_at,
                last_notified_at: a.last_notified_at,
                resolved_at: a.resolved_at,
                reason: a.reason.as_deref(),
                silenced: l.silenced_by.is_some(),
                silence_id: l.silenced_by.as_ref().map(|s| s.id),
                silenced_until: l.silenced_by.as_ref().map(|s| s.silence.ends_at),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).expect("strings and times serialize");
    text.push('\n');
    text
}

/// One notification that carried an alert.
#[derive(Clone, Debug)]
pub struct AlertNotification {
    pub record: NotificationRecord,
    pub transition: Transition,
}

/// Everything `alerts show` prints.
#[derive(Clone, Debug)]
pub struct AlertDetail {
    pub listed: ListedAlert,
    pub notifications: Vec<AlertNotification>,
}

/// `balance-monitor alerts show ID`.
pub async fn show(
    config: &Config,
    id: i64,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let read = async {
        let page = store.alerts_page(None, id.checked_add(1), 1).await?;
        let alert = page
            .rows
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| anyhow!("no alert {id} in {}", config.storage.path.display()))?;
        let silences = store.silences(Some(now)).await?;
        let notifications = store.notifications().await?;
        anyhow::Ok((alert, silences, notifications))
    }
    .await;
    store.close().await;
    let (alert, silences, notifications) = read?;
    let mut listed = select(vec![alert], &silences, &AlertsOptions::default(), now);
    let listed = listed.pop().expect("no filter, one alert");
    let notifications = carried(&listed.alert, notifications);
    let text = render_detail(
        &AlertDetail {
            listed,
            notifications,
        },
        &Zones::from_config(config),
    );
    write_out(out, &text)
}

/// The notifications that carried `alert`, oldest first.
pub fn carried(
    alert: &AlertRecord,
    notifications: Vec<NotificationRecord>,
) -> Vec<AlertNotification> {
    let kind = alert
        .rule
        .split_once('#')
        .map_or(alert.rule.as_str(), |(kind, _)| kind);
    notifications
        .into_iter()
        .filter(|n| n.created_at >= alert.first_fired_at)
        .filter_map(|record| {
            let digest = payload::decode(&record.payload).ok()?;
            if digest.test
                || digest.monitor != alert.monitor_name
                || alert
                    .resolved_at
                    .is_some_and(|resolved| digest.run_time > resolved)
            {
                return None;
            }
            let row = digest
                .rows
                .iter()
                .find(|row| row.authorizer_id == alert.authorizer_unique_id && row.rule == kind)?;
            Some(AlertNotification {
                transition: row.transition,
                record,
            })
        })
        .collect()
}

/// One alert's timeline.
pub fn render_detail(detail: &AlertDetail, zones: &Zones) -> String {
    let a = &detail.listed.alert;
    let zone = zones.of(&a.monitor_name);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "alert {}: {} · {} · {} ({}), {}",
        a.id,
        a.monitor_name,
        a.authorizer_unique_id
            .as_deref()
            .unwrap_or("the monitor's runs"),
        a.rule,
        a.severity,
        a.state
    );
    if let Some(s) = &detail.listed.silenced_by {
        let _ = writeln!(
            out,
            "silenced by silence {} until {} (set by {}{})",
            s.id,
            utc_minutes(s.silence.ends_at),
            s.silence.created_by,
            match s.silence.comment.is_empty() {
                true => String::new(),
                false => format!(": {}", s.silence.comment),
            }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}  fired{}",
        local_and_utc_seconds(a.first_fired_at, zone),
        match (&a.reason, a.resolved_at) {
            (Some(reason), None) => format!(": {reason}"),
            _ => String::new(),
        }
    );
    if detail.notifications.is_empty() {
        let _ = writeln!(out, "{:>w$}  no route was notified", "", w = 10);
    }
    for n in &detail.notifications {
        let r = &n.record;
        let result = match r.state.as_str() {
            "delivered" => match r.delivered_at {
                Some(at) => format!("delivered {}", local_and_utc_seconds(at, zone)),
                None => "delivered".to_string(),
            },
            "failed" => format!(
                "failed after {} attempt{}: {}",
                r.attempts,
                if r.attempts == 1 { "" } else { "s" },
                r.last_error.as_deref().unwrap_or("no error recorded")
            ),
            _ => match &r.last_error {
                Some(error) => format!("pending, {} attempts so far: {error}", r.attempts),
                None => "pending".to_string(),
            },
        };
        let _ = writeln!(
            out,
            "{}  {} sent to {}: {result}",
            local_and_utc_seconds(r.created_at, zone),
            n.transition.as_str(),
            r.route,
        );
    }
    if let Some(resolved) = a.resolved_at {
        let _ = writeln!(
            out,
            "{}  resolved{}",
            local_and_utc_seconds(resolved, zone),
            a.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    out
}
