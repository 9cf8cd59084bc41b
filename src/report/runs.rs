//! `balance-monitor runs` and `runs show RUN_ID`.
//!
//! The list is one line per run, newest first: id, monitor, trigger, state, start time
//! in the monitor's zone and in UTC, duration, results by outcome (`OK` is status 0,
//! `FAILED` any other code, `REJECTED` by Rightfoot or by pre-flight), notifications
//! (`sent`, `failed`, `pending`) and notes (served from Rightfoot's cache, the reason).
//!
//! `runs show` is one run in full: state and reason, trigger and slot, when it was
//! created, started and finished, authorizers and chunks, results by status code with
//! each code's description, cached and awaiting members, the alerts it evaluated last,
//! and its notifications, with the route and last error of each one not delivered.
//!
//! Pure functions over store records: no I/O.

use std::fmt::Write as _;

use super::Zones;
use super::timefmt::{duration, local_and_utc_seconds, local_minutes, table, utc_minutes};
use crate::domain::{BalanceStatus, BatchState, RunTrigger};
use crate::store::{NotificationCounts, RunNotifications, RunOverview, RunRecord, RunTally};

/// Everything `runs show` prints.
#[derive(Clone, Debug)]
pub struct RunDetail {
    pub record: RunRecord,
    pub tally: RunTally,
    pub notifications: RunNotifications,
}

fn trigger_name(trigger: RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Schedule { .. } => "schedule",
        RunTrigger::CatchUp { .. } => "catch_up",
        RunTrigger::Manual => "manual",
    }
}

fn took(run: &RunRecord) -> Option<std::time::Duration> {
    (run.finished_at? - run.started_at.unwrap_or(run.created_at))
        .to_std()
        .ok()
}

fn notified(counts: &NotificationCounts) -> String {
    let mut parts = Vec::new();
    if counts.delivered > 0 {
        parts.push(format!("{} sent", counts.delivered));
    }
    if counts.failed > 0 {
        parts.push(format!("{} failed", counts.failed));
    }
    if counts.pending > 0 {
        parts.push(format!("{} pending", counts.pending));
    }
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(", ")
    }
}

/// The list of runs, newest first.
pub fn render_list(runs: &[RunOverview], zones: &Zones) -> String {
    if runs.is_empty() {
        return "no runs\n".to_string();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|overview| {
            let run = &overview.run;
            let zone = zones.of(&run.monitor_name);
            let started = run.started_at.unwrap_or(run.created_at);
            let mut notes = Vec::new();
            // The run's reason usually says so already when it was served from the cache.
            let reason_mentions_cache = run
                .reason
                .as_deref()
                .is_some_and(|reason| reason.contains("cache"));
            if run.served_from_cache && !reason_mentions_cache {
                notes.push("served from Rightfoot's cache".to_string());
            }
            if let Some(reason) = &run.reason {
                notes.push(reason.clone());
            }
            let counts = overview.counts;
            vec![
                run.id.0.to_string(),
                run.monitor_name.clone(),
                trigger_name(run.trigger).to_string(),
                run.state.as_str().to_string(),
                local_minutes(started, zone),
                utc_minutes(started),
                took(run).map_or_else(|| "—".to_string(), duration),
                counts.succeeded.to_string(),
                counts.failed.to_string(),
                counts.not_retrieved.to_string(),
                (counts.rejected + counts.preflight_rejected).to_string(),
                notified(&overview.notifications),
                notes.join("; "),
            ]
        })
        .collect();
    table(
        &[
            "RUN",
            "MONITOR",
            "TRIGGER",
            "STATE",
            "STARTED",
            "UTC",
            "TOOK",
            "OK",
            "FAILED",
            "NOT RETRIEVED",
            "REJECTED",
            "NOTIFIED",
            "NOTES",
        ],
        &rows,
        &[0, 6, 7, 8, 9, 10],
    )
}

/// One run in full.
pub fn render_detail(detail: &RunDetail, zones: &Zones) -> String {
    let run = &detail.record;
    let tally = &detail.tally;
    let zone = zones.of(&run.monitor_name);
    let at = |time| local_and_utc_seconds(time, zone);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} of {}: {}",
        run.id.0,
        run.monitor_name,
        run.state.as_str()
    );
    if let Some(reason) = &run.reason {
        let _ = writeln!(out, "  reason:      {reason}");
    }
    let _ = match run.trigger.slot() {
        Some(slot) => writeln!(
            out,
            "  trigger:     {}, slot {}",
            trigger_name(run.trigger),
            at(slot)
        ),
        None => writeln!(out, "  trigger:     {}", trigger_name(run.trigger)),
    };
    if zones.get(&run.monitor_name).is_none() {
        let _ = writeln!(
            out,
            "  zone:        UTC (the monitor is not in the configuration)"
        );
    }
    let _ = writeln!(out, "  created:     {}", at(run.created_at));
    if let Some(started) = run.started_at {
        let _ = writeln!(out, "  started:     {}", at(started));
    }
    match run.finished_at {
        Some(finished) => {
            let _ = writeln!(
                out,
                "  finished:    {} (took {})",
                at(finished),
                took(run).map_or_else(|| "—".to_string(), duration)
            );
        }
        None => {
            let _ = writeln!(out, "  finished:    not yet");
        }
    }
    let _ = writeln!(
        out,
        "  served from Rightfoot's 24 h cache: {}",
        if run.served_from_cache { "yes" } else { "no" }
    );
    let chunks: u32 = tally.chunks.values().sum();
    let _ = writeln!(
        out,
        "  authorizers: {} sent in {}, {} accepted by Rightfoot",
        tally.members,
        crate::text::count(chunks, "chunk"),
        tally.accepted
    );
    if chunks > 0 {
        let states: Vec<String> = BatchState::ALL
            .iter()
            .copied()
            .filter(|state| tally.chunks_in(*state) > 0)
            .map(|state| format!("{} {}", tally.chunks_in(state), state.as_str()))
            .collect();
        let _ = writeln!(out, "  chunks:      {}", states.join(", "));
    }
    let failed: u32 = tally.failed_by_code.values().sum();
    let lines: Vec<(String, u32)> = std::iter::once(("succeeded".to_string(), tally.succeeded))
        .chain(std::iter::once(("failed checks".to_string(), failed)))
        .chain(
            tally
                .failed_by_code
                .iter()
                .map(|(code, count)| (format!("  {}", BalanceStatus::from_code(*code)), *count)),
        )
        .chain([
            ("not retrieved".to_string(), tally.not_retrieved),
            ("rejected by Rightfoot".to_string(), tally.api_rejected),
            (
                "rejected by pre-flight".to_string(),
                tally.preflight_rejected,
            ),
            (
                "answered from an earlier run's batch".to_string(),
                tally.cached,
            ),
            ("awaiting a result".to_string(), tally.awaiting),
        ])
        .collect();
    let label_width = lines
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let number_width = lines
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(1);
    let _ = writeln!(out, "  results:");
    for (label, number) in &lines {
        let _ = writeln!(out, "    {label:<label_width$}  {number:>number_width$}");
    }
    let alerts = &detail.notifications;
    let _ = writeln!(
        out,
        "  alerts last evaluated in this run: {} firing, {} resolved",
        alerts.alerts_firing, alerts.alerts_resolved
    );
    let _ = writeln!(
        out,
        "  notifications: {} sent, {} failed, {} pending",
        alerts.counts.delivered, alerts.counts.failed, alerts.counts.pending
    );
    for undelivered in &alerts.undelivered {
        let _ = writeln!(
            out,
            "    {} {} after {}{}",
            undelivered.route,
            undelivered.state,
            crate::text::count(undelivered.attempts, "attempt"),
            undelivered
                .last_error
                .as_deref()
                .map(|error| format!(": {error}"))
                .unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MonitorId, RunId, RunState};
    use crate::store::{RunCounts, UndeliveredNotification};
    use chrono::{TimeZone, Utc};

    fn zones() -> Zones {
        Zones::new([(
            "morning-ach".to_string(),
            "America/New_York".parse().unwrap(),
        )])
    }

    fn record() -> RunRecord {
        let slot = Utc.with_ymd_and_hms(2025, 3, 14, 13, 0, 0).unwrap();
        RunRecord {
            id: RunId(42),
            monitor: MonitorId(1),
            monitor_name: "morning-ach".to_string(),
            trigger: RunTrigger::Schedule { slot },
            state: RunState::Partial,
            served_from_cache: true,
            created_at: slot,
            started_at: Some(slot + chrono::Duration::seconds(1)),
            finished_at: Some(slot + chrono::Duration::seconds(253)),
            reason: Some("3 authorizers not retrieved by the deadline".to_string()),
        }
    }

    #[test]
    fn the_list_has_times_in_both_zones_counts_notifications_and_notes() {
        let text = render_list(
            &[RunOverview {
                run: record(),
                counts: RunCounts {
                    succeeded: 980,
                    failed: 15,
                    not_retrieved: 3,
                    rejected: 1,
                    preflight_rejected: 1,
                },
                notifications: NotificationCounts {
                    delivered: 2,
                    pending: 0,
                    failed: 1,
                },
            }],
            &zones(),
        );
        let expected = "\
RUN  MONITOR      TRIGGER   STATE    STARTED               UTC                    TOOK   OK  FAILED  NOT RETRIEVED  REJECTED  NOTIFIED          NOTES
 42  morning-ach  schedule  partial  2025-03-14 09:00 EDT  2025-03-14 13:00 UTC  4m12s  980      15              3         2  2 sent, 1 failed  served from Rightfoot's cache; 3 authorizers not retrieved by the deadline
";
        assert_eq!(text, expected);
        assert_eq!(render_list(&[], &zones()), "no runs\n");
    }

    #[test]
    fn show_has_every_count_with_descriptions_and_the_undelivered_notifications() {
        let mut tally = RunTally {
            members: 1000,
            accepted: 999,
            preflight_rejected: 1,
            api_rejected: 1,
            succeeded: 980,
            not_retrieved: 3,
            ..RunTally::default()
        };
        tally.failed_by_code.insert(3200, 10);
        tally.failed_by_code.insert(4242, 5);
        tally.chunks.insert("complete", 1);
        let detail = RunDetail {
            record: record(),
            tally,
            notifications: RunNotifications {
                alerts_firing: 3,
                alerts_resolved: 1,
                counts: NotificationCounts {
                    delivered: 2,
                    pending: 0,
                    failed: 1,
                },
                undelivered: vec![UndeliveredNotification {
                    route: "ops-email".to_string(),
                    state: "failed".to_string(),
                    attempts: 5,
                    last_error: Some("smtp 550 mailbox unavailable".to_string()),
                    next_attempt_at: Utc.with_ymd_and_hms(2025, 3, 14, 14, 0, 0).unwrap(),
                }],
            },
        };
        let expected = "\
run 42 of morning-ach: partial
  reason:      3 authorizers not retrieved by the deadline
  trigger:     schedule, slot 2025-03-14 09:00:00 EDT (13:00:00 UTC)
  created:     2025-03-14 09:00:00 EDT (13:00:00 UTC)
  started:     2025-03-14 09:00:01 EDT (13:00:01 UTC)
  finished:    2025-03-14 09:04:13 EDT (13:04:13 UTC) (took 4m12s)
  served from Rightfoot's 24 h cache: yes
  authorizers: 1000 sent in 1 chunk, 999 accepted by Rightfoot
  chunks:      1 complete
  results:
    succeeded                             980
    failed checks                          15
      3200 account closed                  10
      4242 unknown balance status code      5
    not retrieved                           3
    rejected by Rightfoot                   1
    rejected by pre-flight                  1
    answered from an earlier run's batch    0
    awaiting a result                       0
  alerts last evaluated in this run: 3 firing, 1 resolved
  notifications: 2 sent, 1 failed, 0 pending
    ops-email failed after 5 attempts: smtp 550 mailbox unavailable
";
        assert_eq!(render_detail(&detail, &zones()), expected);
    }
}
