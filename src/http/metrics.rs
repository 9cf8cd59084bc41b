//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand.
//!
//! | family | type | labels | from |
//! |---|---|---|---|
//! | `balance_monitor_runs` | gauge | `monitor`, `state` | runs stored, by state (`pending`, `running`, `interrupted`, `complete`, `partial`, `failed`) |
//! | `balance_monitor_last_run_results` | gauge | `monitor`, `outcome`, `code` | results of each monitor's latest finished run, by outcome and Rightfoot status code (`code="none"` for `not_retrieved` and `rejected`) |
//! | `balance_monitor_alerts_firing` | gauge | `severity` | firing alerts (`info`, `warning` and `critical` always present) |
//! | `balance_monitor_outbox_pending` | gauge | | notifications waiting for delivery (the outbox's depth) |
//! | `balance_monitor_outbox_failed` | gauge | | notifications that failed permanently |
//! | `balance_monitor_rightfoot_request_duration_seconds` | histogram | `endpoint`, `status` | every attempt of the Rightfoot client since the daemon started (`status="error"`: no answer) |
//! | `balance_monitor_rightfoot_submission_decode_retries_total` | counter | | submissions sent again, byte for byte, because their `201` could not be decoded (Rightfoot answers the resend from its 24-hour cache) |
//! | `balance_monitor_last_complete_run_timestamp_seconds` | gauge | `monitor` | when each monitor's latest `complete` run finished |
//! | `balance_monitor_store_errors_total` | counter | | store errors that stopped a run or a judgement, or a try of the store while one waited to heal ([`StoreHealth`](crate::store::StoreHealth), counted by the daemon's pipeline) since the daemon started |
//! | `balance_monitor_build_info` | gauge | `version` | always 1 |
//! | `balance_monitor_leader` | gauge | | 1 while this daemon leads (always, on SQLite), 0 on standby |
//! | `balance_monitor_leader_changes_total` | counter | | times this daemon became leader or stepped down since it started |
//!
//! Results are reported for each monitor's latest finished run rather than for all
//! time: counting every stored result by code is a scan of the whole table (millions
//! of rows after a year), too slow for every scrape; the latest run is what an alert
//! on "results by code" wants anyway. Store-derived figures are read in one transaction
//! per scrape. Label values are escaped as the format requires.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::error::ApiProblem;
use crate::domain::{Role, RoleView};
use crate::rightfoot::metrics::{DURATION_BUCKETS, HistogramSnapshot, RequestMetrics};
use crate::store::MetricsSnapshot;

/// Severities listed even when nothing fires, so that the series exist.
const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];

pub(crate) async fn metrics(State(state): State<HttpState>) -> Result<Response, ApiProblem> {
    let snapshot = state
        .store
        .metrics_snapshot()
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    let mut text = render(
        &snapshot,
        &state.rightfoot_metrics.snapshot(),
        state.store.health().errors(),
    );
    render_rightfoot_counters(&mut text, &state.rightfoot_metrics);
    render_role(&mut text, &state.role.borrow());
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// The whole exposition.
pub(crate) fn render(
    store: &MetricsSnapshot,
    requests: &[HistogramSnapshot],
    store_errors: u64,
) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "balance_monitor_runs",
        "gauge",
        "Runs stored, by monitor and state.",
    );
    for (monitor, state, count) in &store.runs {
        sample(
            &mut out,
            "balance_monitor_runs",
            &[("monitor", monitor), ("state", state.as_str())],
            &count.to_string(),
        );
    }

    family(
        &mut out,
        "balance_monitor_last_run_results",
        "gauge",
        "Results of each monitor's latest finished run, by outcome and Rightfoot status code.",
    );
    for row in &store.last_run_results {
        let code = row
            .balance_status_code
            .map_or_else(|| "none".to_string(), |code| code.to_string());
        sample(
            &mut out,
            "balance_monitor_last_run_results",
            &[
                ("monitor", &row.monitor_name),
                ("outcome", row.outcome.as_str()),
                ("code", &code),
            ],
            &row.count.to_string(),
        );
    }

    family(
        &mut out,
        "balance_monitor_alerts_firing",
        "gauge",
        "Firing alerts, by severity.",
    );
    let others = store
        .firing_alerts
        .keys()
        .filter(|severity| !SEVERITIES.contains(&severity.as_str()));
    for severity in SEVERITIES.iter().copied().chain(others.map(String::as_str)) {
        let count = store.firing_alerts.get(severity).copied().unwrap_or(0);
        sample(
            &mut out,
            "balance_monitor_alerts_firing",
            &[("severity", severity)],
            &count.to_string(),
        );
    }

    family(
        &mut out,
        "balance_monitor_outbox_pending",
        "gauge",
        "Notifications waiting in the outbox for delivery.",
    );
    sample(
        &mut out,
        "balance_monitor_outbox_pending",
        &[],
        &store.outbox_pending.to_string(),
    );
    family(
        &mut out,
        "balance_monitor_outbox_failed",
        "gauge",
        "Notifications that failed permanently.",
    );
    sample(
        &mut out,
        "balance_monitor_outbox_failed",
        &[],
        &store.outbox_failed.to_string(),
    );

    let name = "balance_monitor_rightfoot_request_duration_seconds";
    family(
        &mut out,
        name,
        "histogram",
        "Duration of each attempt of a request to Rightfoot, by endpoint and HTTP status (error: no answer).",
    );
    for series in requests {
        let status = series.answer.label();
        let labels = [("endpoint", series.endpoint.as_str()), ("status", &status)];
        for (bound, count) in DURATION_BUCKETS.iter().zip(series.cumulative) {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            sample(
                &mut out,
                &format!("{name}_bucket"),
                &with_le,
                &count.to_string(),
            );
        }
        let mut infinite = labels.to_vec();
        infinite.push(("le", "+Inf"));
        sample(
            &mut out,
            &format!("{name}_bucket"),
            &infinite,
            &series.count.to_string(),
        );
        sample(
            &mut out,
            &format!("{name}_sum"),
            &labels,
            &series.sum_seconds.to_string(),
        );
        sample(
            &mut out,
            &format!("{name}_count"),
            &labels,
            &series.count.to_string(),
        );
    }

    family(
        &mut out,
        "balance_monitor_last_complete_run_timestamp_seconds",
        "gauge",
        "When each monitor's latest complete run finished, in seconds since the Unix epoch.",
    );
    for (monitor, finished) in &store.last_complete_run {
        let seconds = finished.timestamp_micros() as f64 / 1e6;
        sample(
            &mut out,
            "balance_monitor_last_complete_run_timestamp_seconds",
            &[("monitor", monitor)],
            &seconds.to_string(),
        );
    }

    family(
        &mut out,
        "balance_monitor_store_errors_total",
        "counter",
        "Store errors that stopped a run or a judgement (or a try of the store while it healed).",
    );
    sample(
        &mut out,
        "balance_monitor_store_errors_total",
        &[],
        &store_errors.to_string(),
    );

    family(
        &mut out,
        "balance_monitor_build_info",
        "gauge",
        "The running balance-monitor's version.",
    );
    sample(
        &mut out,
        "balance_monitor_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        "1",
    );
    out
}

/// This daemon's role: whether it leads, and how often that changed.
fn render_role(out: &mut String, view: &RoleView) {
    let leader = "balance_monitor_leader";
    family(
        out,
        leader,
        "gauge",
        "1 while this daemon leads (schedules, resumes runs, delivers the outbox), 0 on standby.",
    );
    let leading = if view.role == Role::Leader { "1" } else { "0" };
    sample(out, leader, &[], leading);
    let changes = "balance_monitor_leader_changes_total";
    family(
        out,
        changes,
        "counter",
        "Times this daemon became leader or stepped down since it started.",
    );
    sample(out, changes, &[], &view.changes.to_string());
}

/// The Rightfoot client's counters, after the rest of the exposition.
fn render_rightfoot_counters(out: &mut String, requests: &RequestMetrics) {
    let name = "balance_monitor_rightfoot_submission_decode_retries_total";
    family(
        out,
        name,
        "counter",
        "Submissions sent again with the same bytes because their 201 could not be decoded.",
    );
    sample(
        out,
        name,
        &[],
        &requests.submission_decode_retries().to_string(),
    );
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (index, (label, text)) in labels.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label(out, text);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape_label(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("monitor", "a\"b\\c\nd")], "1");
        assert_eq!(out, "m{monitor=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
