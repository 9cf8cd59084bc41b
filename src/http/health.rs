//! `GET /readyz`: whether the daemon is doing its job, for a load balancer or an
//! orchestrator (`/healthz` only says the process serves HTTP).
//!
//! Ready means all of:
//! - **the store takes writes**: a test write
//!   ([`check_writable`](crate::store::Maintenance::check_writable): the
//!   expected schema version, and a commit that really reaches the disk) succeeds within
//!   [`STORE_PROBE_TIMEOUT`] (the writer is alive, its queue moves, no other process
//!   holds SQLite's write lock, the disk is not full and the file not read-only);
//! - **no run waits for the store**: no run or judgement stopped on a store error is
//!   waiting for the store to heal (the pipeline lists them in
//!   [`StoreHealth`](crate::store::StoreHealth)); each such run is named, with its
//!   error;
//! - **no monitor is overdue**: for each configured monitor, the latest cron slot whose
//!   grace (plus the monitor's jitter) has passed is accounted for by the schedule's
//!   stored position (the scheduler moves it when it launches, skips or records a slot
//!   as missed). Slots from before the daemon started are not held against it: those
//!   are the scheduler's catch-up business, settled at start.
//!
//! 200 `{"ready": true, "checks": [...]}` or 503 `{"ready": false, "checks": [...]}`,
//! each check naming what it looked at (`store`, `run` or `schedule`). The monitors come through a `watch` channel
//! the daemon updates on reload. This module reads; it changes nothing but the probe.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::HttpState;
use super::wire::timestamp;
use crate::config::Monitor;
use crate::schedule::Schedule;

/// How long the write probe may take before the store counts as not ready.
pub const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` needs of a monitor: its name, schedule, grace and jitter.
#[derive(Clone)]
pub struct WatchedMonitor {
    pub name: String,
    pub schedule: Schedule,
    /// How late a slot may be launched and still count as on time.
    pub grace: Duration,
    /// The random delay the scheduler adds before a launch.
    pub jitter: Duration,
    /// The highest `balance_below` amount of its rules, drawn as the threshold line on
    /// the dashboard's balance charts.
    pub balance_below: Option<crate::domain::Cents>,
}

impl WatchedMonitor {
    /// The list for the configured monitors.
    pub fn list(monitors: &[Monitor]) -> Arc<Vec<WatchedMonitor>> {
        Arc::new(
            monitors
                .iter()
                .map(|monitor| WatchedMonitor {
                    name: monitor.name.clone(),
                    schedule: monitor.schedule.clone(),
                    grace: monitor.grace,
                    jitter: monitor.jitter,
                    balance_below: monitor
                        .rules
                        .iter()
                        .filter_map(|rule| match rule.kind {
                            crate::config::RuleKind::BalanceBelow { amount } => Some(amount),
                            _ => None,
                        })
                        .max(),
                })
                .collect(),
        )
    }
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    checks: Vec<Check>,
}

#[derive(Serialize)]
struct Check {
    /// `store`, `run` or `schedule`.
    check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    monitor: Option<String>,
    ok: bool,
    detail: String,
}

pub(crate) async fn readyz(State(state): State<HttpState>) -> Response {
    let mut checks = Vec::new();
    let probe = tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store.check_writable()).await;
    checks.push(Check {
        check: "store",
        monitor: None,
        ok: matches!(probe, Ok(Ok(()))),
        detail: match probe {
            Ok(Ok(())) => "the writer committed a test write".to_string(),
            Ok(Err(error)) => format!("the write probe failed: {error}"),
            Err(_) => format!(
                "the write probe did not finish within {}s",
                STORE_PROBE_TIMEOUT.as_secs()
            ),
        },
    });

    for stuck in state.store.health().stuck_runs() {
        checks.push(Check {
            check: "run",
            monitor: Some(stuck.monitor),
            ok: false,
            detail: format!(
                "{} stopped on a store error at {} and resumes once the store takes writes: {}",
                stuck.run.map_or_else(
                    || "the next run".to_string(),
                    |run| format!("run {}", run.0)
                ),
                timestamp(stuck.since),
                stuck.error
            ),
        });
    }

    let monitors = Arc::clone(&state.monitors.borrow());
    if !monitors.is_empty() {
        let now = state.clock.now();
        match state.store.schedule_positions().await {
            Ok(positions) => {
                for monitor in monitors.iter() {
                    let position = positions.get(&monitor.name).copied();
                    checks.push(schedule_check(monitor, position, now, state.started_at));
                }
            }
            Err(error) => checks.push(Check {
                check: "schedule",
                monitor: None,
                ok: false,
                detail: format!("the schedule positions could not be read: {error}"),
            }),
        }
    }

    let ready = checks.iter().all(|check| check.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready, checks })).into_response()
}

/// Whether `monitor`'s latest slot past its grace is accounted for by `position`.
fn schedule_check(
    monitor: &WatchedMonitor,
    position: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    started_at: DateTime<Utc>,
) -> Check {
    let allowance =
        chrono::Duration::from_std(monitor.grace + monitor.jitter).unwrap_or(chrono::Duration::MAX);
    let due = now
        .checked_sub_signed(allowance)
        .and_then(|at| monitor.schedule.latest_at_or_before(at))
        .filter(|slot| *slot >= started_at);
    let (ok, detail) = match (due, position) {
        (None, _) => (
            true,
            "no slot has passed its grace since the daemon started".to_string(),
        ),
        (Some(due), Some(position)) if position >= due => {
            (true, format!("slot {} is accounted for", timestamp(due)))
        }
        (Some(due), position) => (
            false,
            format!(
                "slot {} is past its grace of {}s and has no run; the schedule stands at {}",
                timestamp(due),
                allowance.num_seconds(),
                position.map_or_else(|| "no slot yet".to_string(), timestamp)
            ),
        ),
    };
    Check {
        check: "schedule",
        monitor: Some(monitor.name.clone()),
        ok,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hourly(grace_minutes: u64) -> WatchedMonitor {
        WatchedMonitor {
            name: "hourly".into(),
            schedule: Schedule::parse("0 * * * *", chrono_tz::UTC).unwrap(),
            grace: Duration::from_secs(grace_minutes * 60),
            jitter: Duration::ZERO,
            balance_below: None,
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, hour, minute, 0).unwrap()
    }

    #[test]
    fn a_slot_is_overdue_only_past_its_grace_and_after_the_start() {
        let monitor = hourly(10);
        let started = at(7, 30);
        let table = [
            // (now, position, ok)
            (at(10, 5), Some(at(9, 0)), true), // 10:00 still within its grace
            (at(10, 11), Some(at(9, 0)), false), // 10:00 past its grace, not handled
            (at(10, 11), Some(at(10, 0)), true),
            (at(10, 11), None, false),
            (at(7, 45), None, true),            // 7:00 was before the start
            (at(8, 11), Some(at(7, 0)), false), // 8:00 is after the start
        ];
        for (now, position, ok) in table {
            let check = schedule_check(&monitor, position, now, started);
            assert_eq!(
                check.ok, ok,
                "now {now}, position {position:?}: {}",
                check.detail
            );
        }
    }
}
