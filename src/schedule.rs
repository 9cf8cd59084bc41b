//! Schedules: a cron expression in an IANA time zone, and the instants it fires at.
//!
//! Parsing and fire-time arithmetic live here, on top of croner, which follows the Open
//! Cron Pattern Specification: standard 5-field crons (an optional leading seconds
//! field makes 6), day-of-month OR day-of-week as Vixie cron does, and daylight saving
//! handled in wall-clock terms — a fixed time that falls in the spring-forward gap runs
//! at the first valid instant after it, and a time in the repeated autumn hour runs
//! once. Everything is computed from a given instant; this module reads no clock.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed cron expression bound to a time zone.
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    zone: Tz,
    cron: Cron,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?} in {})", self.expression, self.zone.name())
    }
}

/// As logs and messages write it: `30 7 * * 1-5 in America/New_York`.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.expression, self.zone.name())
    }
}

/// Why a cron expression was refused. The message names the field and its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct ScheduleError {
    pub expression: String,
    pub reason: String,
}

const FIELDS_5: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

impl Schedule {
    /// Parses a 5-field cron (or 6 fields with leading seconds) for the given zone.
    pub fn parse(expression: &str, zone: Tz) -> Result<Schedule, ScheduleError> {
        let error = |reason: String| ScheduleError {
            expression: expression.to_string(),
            reason,
        };
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let named: Vec<(&str, u32, u32)> = match fields.len() {
            5 => FIELDS_5.to_vec(),
            6 => std::iter::once(("second", 0, 59)).chain(FIELDS_5).collect(),
            0 => return Err(error("empty expression".into())),
            n if fields[0].starts_with('@') && n == 1 => Vec::new(),
            n => {
                return Err(error(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with leading seconds; found {n}"
                )));
            }
        };
        // Friendly range checks on plain numbers, ranges and steps before croner's own.
        for (field, (name, min, max)) in fields.iter().zip(&named) {
            for part in field.split(',') {
                let (range, step) = match part.split_once('/') {
                    Some((r, s)) => (r, Some(s)),
                    None => (part, None),
                };
                if let Some(step) = step
                    && step.parse::<u32>().map(|s| s == 0).unwrap_or(false)
                {
                    return Err(error(format!("{name} step 0 is not allowed")));
                }
                for bound in range.split('-') {
                    if let Ok(value) = bound.parse::<u32>()
                        && (value < *min || value > *max)
                    {
                        return Err(error(format!("{name} {value} out of range ({min}-{max})")));
                    }
                }
            }
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| error(e.to_string().trim_end_matches('.').to_string()))?;
        Ok(Schedule {
            expression: expression.to_string(),
            zone,
            cron,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last fire time at or before `at`.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.zone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next `count` fire times after `after`, in the schedule's zone.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(count);
        let mut cursor = after;
        while out.len() < count {
            match self.next_after(cursor) {
                Some(next) => {
                    out.push(self.zone.from_utc_datetime(&next.naive_utc()));
                    cursor = next;
                }
                None => break,
            }
        }
        out
    }

    /// The shortest gap between consecutive fire times over the year after `from`, if
    /// it is under `limit`. Used to warn that Rightfoot's 24-hour body cache will hand
    /// back the same batch when an unchanged list is checked more often than daily.
    pub fn shortest_gap_under(
        &self,
        from: DateTime<Utc>,
        limit: chrono::Duration,
    ) -> Option<chrono::Duration> {
        let horizon = from + chrono::Duration::days(366);
        let mut previous = self.next_after(from)?;
        let mut shortest: Option<chrono::Duration> = None;
        // Bounded: a per-minute cron over a year would be 500k steps; stop early once
        // a gap under the limit is found and after 20,000 fire times in any case.
        for _ in 0..20_000 {
            let Some(next) = self.next_after(previous) else {
                break;
            };
            if next > horizon {
                break;
            }
            let gap = next - previous;
            if gap < limit {
                shortest = Some(shortest.map_or(gap, |s: chrono::Duration| s.min(gap)));
                if gap <= chrono::Duration::minutes(1) {
                    break;
                }
            }
            previous = next;
        }
        shortest
    }
}

/// Parses an IANA zone name such as `America/New_York`, with a suggestion on a typo.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        let candidates: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
        match crate::yaml::did_you_mean(name, &candidates) {
            Some(best) => format!("unknown time zone {name:?}, did you mean {best:?}?"),
            None => {
                format!("unknown time zone {name:?} (use an IANA name such as America/New_York)")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rejects_out_of_range_fields_by_name() {
        let table = [
            ("0 25 * * *", "hour 25 out of range (0-23)"),
            ("61 * * * *", "minute 61 out of range (0-59)"),
            ("0 0 32 * *", "day of month 32 out of range (1-31)"),
            ("0 0 * 13 *", "month 13 out of range (1-12)"),
            ("0 0 * * 8", "day of week 8 out of range (0-7)"),
            ("*/0 * * * *", "minute step 0 is not allowed"),
            ("0 0 * *", "expected 5 fields"),
            ("99 0 0 * * *", "second 99 out of range (0-59)"),
        ];
        for (expr, reason) in table {
            let err = Schedule::parse(expr, New_York).unwrap_err();
            assert!(err.reason.contains(reason), "{expr}: {}", err.reason);
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid cron expression {expr:?}"))
            );
        }
        assert!(Schedule::parse("0 6 * * mon-fri", New_York).is_ok());
        assert!(Schedule::parse("30 0 6 * * *", New_York).is_ok());
    }

    #[test]
    fn spring_forward_gap_runs_at_first_valid_instant() {
        // 2026-03-08: New York skips from 02:00 EST to 03:00 EDT.
        let s = Schedule::parse("30 2 * * *", New_York).unwrap();
        let next = s.next_after(utc("2026-03-08T05:00:00Z")).unwrap();
        assert_eq!(
            next,
            utc("2026-03-08T07:00:00Z"),
            "03:00 EDT, the first valid instant"
        );
        let after = s.next_after(next).unwrap();
        assert_eq!(after, utc("2026-03-09T06:30:00Z"), "02:30 EDT the next day");
    }

    #[test]
    fn fall_back_hour_runs_once() {
        // 2026-11-01: New York repeats 01:00-02:00.
        let s = Schedule::parse("30 1 * * *", New_York).unwrap();
        let first = s.next_after(utc("2026-11-01T04:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-11-01T05:30:00Z"), "01:30 EDT");
        let second = s.next_after(first).unwrap();
        assert_eq!(
            second,
            utc("2026-11-02T06:30:00Z"),
            "not 01:30 EST on the same day"
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_like_vixie_cron() {
        // The 1st of the month OR any Monday.
        let s = Schedule::parse("0 9 1 * mon", chrono_tz::UTC).unwrap();
        let fires = s.upcoming(utc("2026-06-01T10:00:00Z"), 2);
        assert_eq!(fires[0].with_timezone(&Utc), utc("2026-06-08T09:00:00Z"));
        assert_eq!(fires[1].with_timezone(&Utc), utc("2026-06-15T09:00:00Z"));
    }

    #[test]
    fn finds_gaps_shorter_than_a_day() {
        // A daily run in New York is 23 h after the previous one on spring-forward day.
        let daily = Schedule::parse("0 6 * * *", New_York).unwrap();
        let from = utc("2026-01-01T00:00:00Z");
        assert_eq!(
            daily.shortest_gap_under(from, chrono::Duration::hours(24)),
            Some(chrono::Duration::hours(23))
        );
        assert_eq!(
            daily.shortest_gap_under(from, chrono::Duration::hours(23)),
            None
        );
        let twice = Schedule::parse("0 6,18 * * *", New_York).unwrap();
        assert_eq!(
            twice.shortest_gap_under(utc("2026-01-01T00:00:00Z"), chrono::Duration::hours(24)),
            Some(chrono::Duration::hours(11)),
            "18:00 to 06:00 across the spring-forward night is 11 h"
        );
    }

    #[test]
    fn zone_typos_get_a_suggestion() {
        assert!(parse_zone("America/New_York").is_ok());
        let err = parse_zone("America/NewYork").unwrap_err();
        assert!(err.contains("did you mean \"America/New_York\""), "{err}");
    }
}
