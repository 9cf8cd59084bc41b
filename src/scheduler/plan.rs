//! Which cron slots are due, and what becomes of each: run, or recorded as missed.
//!
//! A pure function of the schedule, the stored position, the current time and the
//! monitor's catch-up policy. It reads no clock, touches no store and starts nothing,
//! so every rule about lateness, grace and catch-up is tested here as a table. Whether
//! a slot that is to run is then skipped because the previous run is still going is
//! decided at launch time by the monitor loop, not here.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::CatchUp;
use crate::config::duration::format_duration;
use crate::domain::RunTrigger;
use crate::schedule::Schedule;
use crate::store::{SlotEvent, SlotOutcome};

/// How late the wait for a slot may end and the slot still count as on time. The wait
/// is a chain of tokio sleeps of at most [`crate::clock::MAX_SLEEP`] that re-read the
/// wall clock, so a wait normally ends within milliseconds of the slot, and within one
/// such sleep after a clock step or a resume from suspend. Anything later is treated
/// like a slot that passed while the daemon was down: the catch-up policy decides.
pub const ON_TIME: Duration = Duration::from_secs(60);

/// Counting the slots of one stretch stops here, and the count becomes a lower bound.
/// Counting is walking the schedule slot by slot (a few microseconds each, on the
/// runtime's thread): 100,000 is about 70 days of a per-minute cron.
pub const COUNT_LIMIT: u64 = 100_000;

/// Where a monitor's schedule stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Every slot before this instant is accounted for (run, missed or skipped).
    pub last: DateTime<Utc>,
    /// Whether `last` itself is a slot still to be dealt with: the position was moved
    /// to it but its run was never created (the process stopped in between).
    pub last_is_due: bool,
}

impl Position {
    /// A position after which everything is still to come.
    pub fn after(last: DateTime<Utc>) -> Position {
        Position {
            last,
            last_is_due: false,
        }
    }

    /// The earliest slot not yet accounted for.
    pub fn first_due(&self, schedule: &Schedule) -> Option<DateTime<Utc>> {
        if self.last_is_due {
            Some(self.last)
        } else {
            schedule.next_after(self.last)
        }
    }
}

/// Why slots may be overdue, for the reason recorded with missed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The monitor's loop has just started: overdue slots passed while balance-monitor
    /// was not running (or not scheduling this monitor).
    Start,
    /// The loop was waiting: the wait overran the slot.
    Waiting,
}

/// The catch-up policy of one monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub catch_up: CatchUp,
    pub grace: Duration,
}

/// What to do about the slots due at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotPlan {
    /// The latest due slot: the new position once the plan is carried out.
    pub through: DateTime<Utc>,
    /// Run the latest slot, on time (`Schedule`) or late (`CatchUp`).
    pub launch: Option<RunTrigger>,
    /// The due slots that will not run, as one stretch.
    pub missed: Option<SlotEvent>,
}

/// The plan for the slots of `schedule` due at `now`, or `None` if none is.
///
/// The latest due slot runs as `Schedule` if `now` is within [`ON_TIME`] of it, as
/// `CatchUp` if the policy is `RunOnce` and it is within the grace, and otherwise is
/// missed. Every earlier due slot is missed: a monitor checks the current balances, so
/// running an old slot late would only repeat the latest one.
pub fn plan(
    schedule: &Schedule,
    position: Position,
    now: DateTime<Utc>,
    policy: Policy,
    context: Context,
) -> Option<SlotPlan> {
    let first = position.first_due(schedule)?;
    if first > now {
        return None;
    }
    let walk = walk(schedule, first, now);
    let lateness = (now - walk.latest).to_std().unwrap_or(Duration::ZERO);
    let launch = if lateness <= ON_TIME {
        Some(RunTrigger::Schedule { slot: walk.latest })
    } else if policy.catch_up == CatchUp::RunOnce && lateness <= policy.grace {
        Some(RunTrigger::CatchUp { slot: walk.latest })
    } else {
        None
    };
    let why = match context {
        Context::Start => "balance-monitor was not running",
        Context::Waiting => {
            "the wait for the slot overran it (host suspended, clock stepped, or store unavailable)"
        }
    };
    let missed = match (launch, walk.before_latest) {
        (Some(_), None) => None,
        (Some(_), Some(last)) => Some(SlotEvent {
            outcome: SlotOutcome::Missed,
            first_slot: first,
            last_slot: last,
            slot_count: walk.count - 1,
            slot_count_exact: walk.exact,
            reason: format!("{why}; only the latest overdue slot is run"),
        }),
        (None, _) => {
            let policy_text = match policy.catch_up {
                CatchUp::Skip => "catch_up is skip".to_string(),
                CatchUp::RunOnce => format!(
                    "the latest was {} late, past the {} grace",
                    format_duration(round_to_seconds(lateness)),
                    format_duration(policy.grace)
                ),
            };
            Some(SlotEvent {
                outcome: SlotOutcome::Missed,
                first_slot: first,
                last_slot: walk.latest,
                slot_count: walk.count,
                slot_count_exact: walk.exact,
                reason: format!("{why}; {policy_text}"),
            })
        }
    };
    Some(SlotPlan {
        through: walk.latest,
        launch,
        missed,
    })
}

/// The due slots from `first` to `now`: the latest, the one before it, and how many.
struct Walk {
    latest: DateTime<Utc>,
    before_latest: Option<DateTime<Utc>>,
    count: u64,
    exact: bool,
}

fn walk(schedule: &Schedule, first: DateTime<Utc>, now: DateTime<Utc>) -> Walk {
    let mut walk = Walk {
        latest: first,
        before_latest: None,
        count: 1,
        exact: true,
    };
    while let Some(next) = schedule.next_after(walk.latest).filter(|next| *next <= now) {
        if walk.count >= COUNT_LIMIT {
            // Jump to the end: the latest slot and the one before it are found from
            // `now` backwards; the count stays a lower bound.
            let latest = schedule.latest_at_or_before(now).unwrap_or(next).max(next);
            let before = schedule
                .latest_at_or_before(latest - chrono::Duration::seconds(1))
                .filter(|before| *before >= walk.latest)
                .unwrap_or(walk.latest);
            walk.before_latest = Some(before);
            walk.latest = latest;
            walk.count += 1;
            walk.exact = false;
            break;
        }
        walk.before_latest = Some(walk.latest);
        walk.latest = next;
        walk.count += 1;
    }
    walk
}

fn round_to_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn hourly() -> Schedule {
        Schedule::parse("0 * * * *", chrono_tz::UTC).unwrap()
    }

    fn policy(catch_up: CatchUp, grace: Duration) -> Policy {
        Policy { catch_up, grace }
    }

    #[test]
    fn nothing_is_due_before_the_next_slot() {
        let position = Position::after(utc("2026-06-01T06:00:00Z"));
        let now = utc("2026-06-01T06:59:59Z");
        let plan = plan(
            &hourly(),
            position,
            now,
            policy(CatchUp::RunOnce, HOUR),
            Context::Waiting,
        );
        assert_eq!(plan, None);
    }

    #[test]
    fn overdue_slots_follow_lateness_and_the_catch_up_policy() {
        // Position 06:00; slots 07:00, 08:00, 09:00 are due at each `now` below.
        struct Case {
            now: &'static str,
            catch_up: CatchUp,
            grace: Duration,
            launch: Option<RunTrigger>,
            missed: Option<(&'static str, &'static str, u64)>,
            reason: &'static str,
        }
        let nine = utc("2026-06-01T09:00:00Z");
        let table = [
            Case {
                now: "2026-06-01T09:00:30Z",
                catch_up: CatchUp::Skip,
                grace: HOUR,
                launch: Some(RunTrigger::Schedule { slot: nine }),
                missed: Some(("07:00", "08:00", 2)),
                reason: "only the latest overdue slot is run",
            },
            Case {
                now: "2026-06-01T09:10:00Z",
                catch_up: CatchUp::RunOnce,
                grace: HOUR / 2,
                launch: Some(RunTrigger::CatchUp { slot: nine }),
                missed: Some(("07:00", "08:00", 2)),
                reason: "only the latest overdue slot is run",
            },
            Case {
                now: "2026-06-01T09:10:00Z",
                catch_up: CatchUp::Skip,
                grace: HOUR,
                launch: None,
                missed: Some(("07:00", "09:00", 3)),
                reason: "catch_up is skip",
            },
            Case {
                now: "2026-06-01T09:45:00Z",
                catch_up: CatchUp::RunOnce,
                grace: HOUR / 2,
                launch: None,
                missed: Some(("07:00", "09:00", 3)),
                reason: "the latest was 45m late, past the 30m grace",
            },
        ];
        for case in table {
            let plan = plan(
                &hourly(),
                Position::after(utc("2026-06-01T06:00:00Z")),
                utc(case.now),
                policy(case.catch_up, case.grace),
                Context::Start,
            )
            .expect("slots are due");
            assert_eq!(plan.through, nine, "{}", case.now);
            assert_eq!(plan.launch, case.launch, "{} {:?}", case.now, case.catch_up);
            let missed = plan.missed.as_ref().map(|event| {
                (
                    event.first_slot.format("%H:%M").to_string(),
                    event.last_slot.format("%H:%M").to_string(),
                    event.slot_count,
                )
            });
            assert_eq!(
                missed,
                case.missed.map(|(first, last, count)| (
                    first.to_string(),
                    last.to_string(),
                    count
                )),
                "{} {:?}",
                case.now,
                case.catch_up
            );
            let event = plan.missed.unwrap();
            assert_eq!(event.outcome, SlotOutcome::Missed);
            assert!(event.slot_count_exact);
            assert!(
                event
                    .reason
                    .starts_with("balance-monitor was not running; "),
                "{}",
                event.reason
            );
            assert!(event.reason.ends_with(case.reason), "{}", event.reason);
        }
    }

    #[test]
    fn an_on_time_slot_runs_alone() {
        let slot = utc("2026-06-01T07:00:00Z");
        let plan = plan(
            &hourly(),
            Position::after(utc("2026-06-01T06:00:00Z")),
            slot,
            policy(CatchUp::Skip, Duration::ZERO),
            Context::Waiting,
        )
        .unwrap();
        assert_eq!(
            plan,
            SlotPlan {
                through: slot,
                launch: Some(RunTrigger::Schedule { slot }),
                missed: None,
            }
        );
    }

    #[test]
    fn a_recorded_slot_whose_run_was_never_created_is_due_again() {
        let slot = utc("2026-06-01T07:00:00Z");
        let position = Position {
            last: slot,
            last_is_due: true,
        };
        let plan = plan(
            &hourly(),
            position,
            utc("2026-06-01T07:20:00Z"),
            policy(CatchUp::RunOnce, HOUR),
            Context::Start,
        )
        .unwrap();
        assert_eq!(plan.launch, Some(RunTrigger::CatchUp { slot }));
        assert_eq!(plan.missed, None);
        let unchanged = Position::after(slot);
        assert_eq!(
            super::plan(
                &hourly(),
                unchanged,
                utc("2026-06-01T07:20:00Z"),
                policy(CatchUp::RunOnce, HOUR),
                Context::Start,
            ),
            None,
            "without the flag the slot is accounted for"
        );
    }

    #[test]
    fn the_repeated_autumn_hour_is_one_slot_when_catching_up() {
        // 2026-11-01 in New York: 01:30 EDT (05:30Z) fires; 01:30 EST (06:30Z) does not.
        let schedule = Schedule::parse("30 1 * * *", New_York).unwrap();
        let plan = plan(
            &schedule,
            Position::after(utc("2026-10-31T05:30:00Z")),
            utc("2026-11-01T07:00:00Z"),
            policy(CatchUp::Skip, HOUR),
            Context::Start,
        )
        .unwrap();
        let missed = plan.missed.unwrap();
        assert_eq!(plan.through, utc("2026-11-01T05:30:00Z"));
        assert_eq!(missed.slot_count, 1);
        assert_eq!(missed.first_slot, utc("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn counting_a_very_long_stretch_stops_at_the_limit_but_finds_the_latest_slot() {
        // A per-minute cron over 100 days: 144,000 slots.
        let schedule = Schedule::parse("* * * * *", chrono_tz::UTC).unwrap();
        let start = utc("2026-01-01T00:00:00Z");
        let now = start + chrono::Duration::days(100) + chrono::Duration::seconds(20);
        let plan = plan(
            &schedule,
            Position::after(start),
            now,
            policy(CatchUp::RunOnce, HOUR),
            Context::Start,
        )
        .unwrap();
        let latest = start + chrono::Duration::days(100);
        assert_eq!(plan.launch, Some(RunTrigger::Schedule { slot: latest }));
        let missed = plan.missed.unwrap();
        assert_eq!(missed.first_slot, start + chrono::Duration::minutes(1));
        assert_eq!(missed.last_slot, latest - chrono::Duration::minutes(1));
        assert!(!missed.slot_count_exact);
        assert_eq!(missed.slot_count, COUNT_LIMIT);
    }
}
