//! `balance-monitor history AUTHORIZER_ID`: one authorizer's checks, newest first.
//!
//! The text form opens with a sparkline of the balances shown, oldest to newest (one
//! block character per check; `·` for a check that returned no balance), then one line
//! per run: the run's time in the monitor's zone and in UTC, the balance, the change
//! from the previous check that returned a balance (which may be older than the rows
//! shown), and what happened: `ok`, `failed <code> <description>`, `not retrieved`,
//! `rejected by Rightfoot` or `rejected by pre-flight`, with the reason.
//!
//! The JSON form (`--json`) is one object, `{"authorizer_id", "checks": [...]}`, newest
//! first; each check has `run_id`, `monitor`, `timezone`, `run_time` (UTC, RFC 3339),
//! `run_time_local` (RFC 3339 with the zone's offset), `outcome` (`retrieved`,
//! `not_retrieved`, `rejected`, `preflight_rejected`), `balance` (decimal text such as
//! `"-83.68"`, or null), `balance_cents`, `change_cents`, `status_code`, `status` (the
//! code's description), `csv_status` (the export's `Status` name), `reason` and
//! `retrieved_at`. Money is never a JSON float.
//!
//! Pure functions over [`AuthorizerCheck`]s: no I/O.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::Zones;
use super::timefmt::{change, local_minutes, table, utc_minutes};
use crate::domain::{BalanceStatus, Cents};
use crate::store::{AuthorizerCheck, CheckOutcome};

/// The eight heights of a sparkline, lowest first.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// A check that returned no balance.
const NO_BALANCE: char = '·';

/// One block per check, oldest first: the balance's height between the lowest and the
/// highest shown, [`NO_BALANCE`] where there is none. All-equal balances are mid-height.
pub fn sparkline(balances_oldest_first: &[Option<i64>]) -> String {
    let known = balances_oldest_first.iter().flatten();
    let (Some(low), Some(high)) = (known.clone().min(), known.max()) else {
        return balances_oldest_first.iter().map(|_| NO_BALANCE).collect();
    };
    let span = i128::from(*high) - i128::from(*low);
    balances_oldest_first
        .iter()
        .map(|balance| match balance {
            None => NO_BALANCE,
            Some(_) if span == 0 => BLOCKS[3],
            Some(cents) => {
                let level = (i128::from(*cents) - i128::from(*low)) * 7 / span;
                BLOCKS[level as usize]
            }
        })
        .collect()
}

/// What happened, in words: `ok`, `failed 3200 account closed`, `not retrieved: …`.
pub fn status_text(check: &AuthorizerCheck) -> String {
    let reason = check.reason.as_deref().unwrap_or("no reason recorded");
    match check.outcome {
        CheckOutcome::Retrieved => match check.balance_status_code.map(BalanceStatus::from_code) {
            Some(status) if status.is_success() => "ok".to_string(),
            Some(status) => format!("failed {status}"),
            None => "retrieved".to_string(),
        },
        CheckOutcome::NotRetrieved => format!("not retrieved: {reason}"),
        CheckOutcome::Rejected => format!("rejected by Rightfoot: {reason}"),
        CheckOutcome::PreflightRejected => format!("rejected by pre-flight: {reason}"),
    }
}

fn change_cents(check: &AuthorizerCheck) -> Option<i64> {
    Some(check.balance?.0 - check.previous_balance?.0)
}

/// The table, newest first, under a sparkline.
pub fn render_text(
    authorizer: &str,
    checks: &[AuthorizerCheck],
    zones: &Zones,
    since: Option<DateTime<Utc>>,
) -> String {
    let mut out = String::new();
    if checks.is_empty() {
        let _ = match since {
            Some(since) => writeln!(
                out,
                "authorizer {authorizer}: no checks since {}",
                utc_minutes(since)
            ),
            None => writeln!(out, "authorizer {authorizer}: no checks"),
        };
        return out;
    }
    let _ = writeln!(
        out,
        "authorizer {authorizer}: {}, newest first",
        crate::text::count(checks.len(), "check")
    );
    let oldest_first: Vec<Option<i64>> = checks
        .iter()
        .rev()
        .map(|check| check.balance.map(|cents| cents.0))
        .collect();
    let known: Vec<i64> = oldest_first.iter().flatten().copied().collect();
    // The range and the scale: which checks, in which order, and what the lowest and
    // the highest block stand for.
    let scale = match (known.iter().min(), known.iter().max()) {
        (Some(low), Some(high)) if low == high => format!(", all {}", Cents(*low)),
        (Some(low), Some(high)) => format!(
            ", {} {} … {} {}",
            BLOCKS[0],
            Cents(*low),
            BLOCKS[7],
            Cents(*high)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "balances {}  last {}, oldest → newest{scale}  ({NO_BALANCE} no balance)",
        sparkline(&oldest_first),
        crate::text::count(checks.len(), "check")
    );
    let mut monitors: Vec<&str> = checks.iter().map(|c| c.monitor_name.as_str()).collect();
    monitors.sort_unstable();
    monitors.dedup();
    let zone_notes: Vec<String> = monitors
        .iter()
        .map(|monitor| match zones.get(monitor) {
            Some(zone) => format!("{monitor} {}", zone.name()),
            None => format!("{monitor} UTC (not in the configuration)"),
        })
        .collect();
    let _ = writeln!(out, "zones: {}", zone_notes.join(", "));
    out.push('\n');
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|check| {
            let zone = zones.of(&check.monitor_name);
            vec![
                check.run.0.to_string(),
                check.monitor_name.clone(),
                local_minutes(check.run_time, zone),
                utc_minutes(check.run_time),
                check.balance.map_or("—".to_string(), |b| b.to_string()),
                change_cents(check).map_or("—".to_string(), change),
                status_text(check),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "RUN", "MONITOR", "RUN TIME", "UTC", "BALANCE", "CHANGE", "STATUS",
        ],
        &rows,
        &[0, 4, 5],
    ));
    out
}

#[derive(Serialize)]
struct HistoryJson<'a> {
    authorizer_id: &'a str,
    checks: Vec<CheckJson>,
}

/// One check as `--json` writes it (see the module documentation).
#[derive(Serialize)]
struct CheckJson {
    run_id: i64,
    monitor: String,
    timezone: &'static str,
    run_time: String,
    run_time_local: String,
    outcome: &'static str,
    balance: Option<String>,
    balance_cents: Option<i64>,
    change_cents: Option<i64>,
    status_code: Option<i64>,
    status: Option<&'static str>,
    csv_status: Option<&'static str>,
    reason: Option<String>,
    retrieved_at: Option<String>,
}

/// The JSON document, pretty-printed, with a final newline.
pub fn render_json(authorizer: &str, checks: &[AuthorizerCheck], zones: &Zones) -> String {
    let checks = checks
        .iter()
        .map(|check| {
            let zone = zones.of(&check.monitor_name);
            let status = check.balance_status_code.map(BalanceStatus::from_code);
            CheckJson {
                run_id: check.run.0,
                monitor: check.monitor_name.clone(),
                timezone: zone.name(),
                run_time: check.run_time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                run_time_local: check
                    .run_time
                    .with_timezone(&zone)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                outcome: check.outcome.as_str(),
                balance: check.balance.map(|b| b.to_decimal_string()),
                balance_cents: check.balance.map(|b| b.0),
                change_cents: change_cents(check),
                status_code: check.balance_status_code,
                status: status.map(BalanceStatus::description),
                csv_status: status.map(|s| s.csv_status().as_str()),
                reason: check.reason.clone(),
                retrieved_at: check
                    .retrieved_at
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&HistoryJson {
        authorizer_id: authorizer,
        checks,
    })
    .expect("plain structs serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cents, RunId};
    use chrono::TimeZone;

    fn check(
        run: i64,
        day: u32,
        outcome: CheckOutcome,
        balance: Option<i64>,
        code: Option<i64>,
        previous: Option<i64>,
    ) -> AuthorizerCheck {
        AuthorizerCheck {
            run: RunId(run),
            monitor_name: "morning-ach".to_string(),
            run_time: Utc.with_ymd_and_hms(2025, 3, day, 13, 0, 0).unwrap(),
            outcome,
            balance: balance.map(Cents),
            balance_status_code: code,
            retrieved_at: code.map(|_| Utc.with_ymd_and_hms(2025, 3, day, 13, 5, 0).unwrap()),
            reason: match outcome {
                CheckOutcome::NotRetrieved => Some("no result by the deadline".to_string()),
                CheckOutcome::Rejected => Some("Invalid routing number, \"x\"".to_string()),
                CheckOutcome::PreflightRejected => {
                    Some("Missing date of birth for authorizer(s).".to_string())
                }
                CheckOutcome::Retrieved => None,
            },
            previous_balance: previous.map(Cents),
        }
    }

    fn zones() -> Zones {
        Zones::new([(
            "morning-ach".to_string(),
            "America/New_York".parse().unwrap(),
        )])
    }

    /// Newest first, as the store returns them.
    fn checks() -> Vec<AuthorizerCheck> {
        vec![
            check(
                6,
                14,
                CheckOutcome::Retrieved,
                Some(9_000),
                Some(0),
                Some(120_000),
            ),
            check(
                5,
                13,
                CheckOutcome::PreflightRejected,
                None,
                None,
                Some(120_000),
            ),
            check(4, 12, CheckOutcome::Rejected, None, None, Some(120_000)),
            check(3, 11, CheckOutcome::NotRetrieved, None, None, Some(120_000)),
            check(
                2,
                10,
                CheckOutcome::Retrieved,
                None,
                Some(3200),
                Some(120_000),
            ),
            check(
                1,
                9,
                CheckOutcome::Retrieved,
                Some(120_000),
                Some(0),
                Some(100_000),
            ),
        ]
    }

    #[test]
    fn the_sparkline_spans_lowest_to_highest_and_marks_checks_without_a_balance() {
        assert_eq!(sparkline(&[Some(0), Some(700), None, Some(350)]), "▁█·▄");
        assert_eq!(sparkline(&[Some(5), Some(5)]), "▄▄");
        assert_eq!(sparkline(&[None, None]), "··");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(
            sparkline(&[Some(i64::MIN), Some(i64::MAX)]),
            "▁█",
            "no overflow at the extremes"
        );
        assert_eq!(sparkline(&[Some(-2_050), Some(0)]), "▁█");
    }

    #[test]
    fn the_text_has_the_sparkline_zones_changes_and_every_kind_of_status() {
        let text = render_text("A-1001", &checks(), &zones(), None);
        let expected = "\
authorizer A-1001: 6 checks, newest first
balances █····▁  last 6 checks, oldest → newest, ▁ $90.00 … █ $1,200.00  (· no balance)
zones: morning-ach America/New_York

RUN  MONITOR      RUN TIME              UTC                     BALANCE      CHANGE  STATUS
  6  morning-ach  2025-03-14 09:00 EDT  2025-03-14 13:00 UTC     $90.00  -$1,110.00  ok
  5  morning-ach  2025-03-13 09:00 EDT  2025-03-13 13:00 UTC          —           —  rejected by pre-flight: Missing date of birth for authorizer(s).
  4  morning-ach  2025-03-12 09:00 EDT  2025-03-12 13:00 UTC          —           —  rejected by Rightfoot: Invalid routing number, \"x\"
  3  morning-ach  2025-03-11 09:00 EDT  2025-03-11 13:00 UTC          —           —  not retrieved: no result by the deadline
  2  morning-ach  2025-03-10 09:00 EDT  2025-03-10 13:00 UTC          —           —  failed 3200 account closed
  1  morning-ach  2025-03-09 09:00 EDT  2025-03-09 13:00 UTC  $1,200.00    +$200.00  ok
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_monitor_missing_from_the_configuration_is_shown_in_utc_and_said_so() {
        let mut old = checks();
        old.truncate(1);
        old[0].monitor_name = "retired".to_string();
        let text = render_text("A-1001", &old, &zones(), None);
        assert!(
            text.contains("zones: retired UTC (not in the configuration)"),
            "{text}"
        );
        assert!(
            text.contains("2025-03-14 13:00 UTC  2025-03-14 13:00 UTC"),
            "{text}"
        );
    }

    #[test]
    fn no_checks_in_range_says_so() {
        let since = Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap();
        assert_eq!(
            render_text("A-1001", &[], &zones(), Some(since)),
            "authorizer A-1001: no checks since 2025-04-01 00:00 UTC\n"
        );
    }

    #[test]
    fn the_json_has_exact_money_both_times_and_the_status_names() {
        let json: serde_json::Value =
            serde_json::from_str(&render_json("A-1001", &checks(), &zones())).unwrap();
        assert_eq!(json["authorizer_id"], "A-1001");
        let checks = json["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 6);
        assert_eq!(
            checks[0],
            serde_json::json!({
                "run_id": 6,
                "monitor": "morning-ach",
                "timezone": "America/New_York",
                "run_time": "2025-03-14T13:00:00Z",
                "run_time_local": "2025-03-14T09:00:00-04:00",
                "outcome": "retrieved",
                "balance": "90.00",
                "balance_cents": 9000,
                "change_cents": -111000,
                "status_code": 0,
                "status": "success",
                "csv_status": "SUCCESS",
                "reason": null,
                "retrieved_at": "2025-03-14T13:05:00Z"
            })
        );
        assert_eq!(checks[4]["outcome"], "retrieved");
        assert_eq!(checks[4]["balance"], serde_json::Value::Null);
        assert_eq!(checks[4]["status"], "account closed");
        assert_eq!(checks[4]["csv_status"], "ACCOUNT_CLOSED");
        assert_eq!(checks[1]["outcome"], "preflight_rejected");
        assert_eq!(
            checks[1]["reason"],
            "Missing date of birth for authorizer(s)."
        );
    }
}
