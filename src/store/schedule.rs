//! The schedule's side of the store: moving a monitor's schedule position, and what
//! became of the cron slots that did not get a run (missed or skipped).
//!
//! A slot the scheduler has passed is accounted for in exactly one place: a row of
//! `runs` (started on time or as a catch-up), or a row of `schedule_events`. This module
//! writes the second kind together with the position, in one transaction, so that a
//! restart finds either both or neither. Which slots are missed, skipped or run is the
//! scheduler's decision; this module only records it. Its rows carry no personal data:
//! a monitor id, slot times, counts and a reason the scheduler wrote.

use std::fmt;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::Store;
use super::columns::{text_enum, time, time_text};
use super::error::StoreError;
use super::types::{MonitorId, RunId, ScheduleState};

/// Why a cron slot has no run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotOutcome {
    /// It passed while the daemon was down (or the host slept, or its clock jumped),
    /// and the catch-up policy did not run it.
    Missed,
    /// It came while the monitor's previous run was still going.
    Skipped,
}

impl SlotOutcome {
    /// The spelling stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotOutcome::Missed => "missed",
            SlotOutcome::Skipped => "skipped",
        }
    }

    fn from_db(text: &str) -> Option<Self> {
        match text {
            "missed" => Some(SlotOutcome::Missed),
            "skipped" => Some(SlotOutcome::Skipped),
            _ => None,
        }
    }
}

impl fmt::Display for SlotOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stretch of consecutive slots that got no run, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotEvent {
    pub outcome: SlotOutcome,
    pub first_slot: DateTime<Utc>,
    pub last_slot: DateTime<Utc>,
    /// How many slots the stretch covers (at least 1).
    pub slot_count: u64,
    /// `false` when counting stopped at a limit: `slot_count` is then a lower bound.
    pub slot_count_exact: bool,
    /// Why, in the scheduler's words. Must not contain personal data.
    pub reason: String,
}

impl SlotEvent {
    /// One slot skipped because the previous run was still going.
    pub fn skipped(slot: DateTime<Utc>, reason: String) -> SlotEvent {
        SlotEvent {
            outcome: SlotOutcome::Skipped,
            first_slot: slot,
            last_slot: slot,
            slot_count: 1,
            slot_count_exact: true,
            reason,
        }
    }
}

/// A recorded [`SlotEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleEvent {
    pub monitor: MonitorId,
    pub outcome: SlotOutcome,
    pub first_slot: DateTime<Utc>,
    pub last_slot: DateTime<Utc>,
    pub slot_count: u64,
    pub slot_count_exact: bool,
    pub reason: String,
    pub recorded_at: DateTime<Utc>,
}

/// Where a monitor's schedule stands, with what a restart needs to know about the last
/// slot: whether anything (a run, or a missed or skipped record) accounts for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulePosition {
    pub state: ScheduleState,
    /// A run exists for `state.last_slot`, or a recorded event covers it. `false` means
    /// the position was moved to the slot but the run was never created: the process
    /// stopped in between (or the position is the instant the monitor was first seen,
    /// which is not a slot).
    pub last_slot_accounted_for: bool,
}

impl Store {
    /// Moves `monitor`'s schedule position to `to` and records `events` (what became of
    /// the slots passed over that got no run), in one transaction.
    ///
    /// The position only moves forward: if the stored one is later than `to`, nothing
    /// is written and `false` is returned. An event whose monitor and first slot are
    /// already recorded is left as it was. Moving to the stored position again keeps
    /// its run; moving past it clears the run (the new slot's run is not known yet).
    pub async fn advance_schedule(
        &self,
        monitor: MonitorId,
        to: DateTime<Utc>,
        events: Vec<SlotEvent>,
    ) -> Result<bool, StoreError> {
        for event in &events {
            if event.first_slot > event.last_slot || event.slot_count == 0 {
                return Err(StoreError::InvalidInput {
                    what: "schedule event",
                    message: format!(
                        "slots {} to {} counted {}: the range must be ordered and hold at least one slot",
                        event.first_slot, event.last_slot, event.slot_count
                    ),
                });
            }
        }
        self.write(move |transaction| {
            let to_text = time_text(to);
            let stored: Option<String> = transaction
                .query_row(
                    "SELECT last_slot FROM schedule_state WHERE monitor_id = ?1",
                    params![monitor.0],
                    |row| row.get(0),
                )
                .optional()?;
            if stored
                .as_deref()
                .is_some_and(|stored| stored > to_text.as_str())
            {
                return Ok(false);
            }
            let now = time_text(Utc::now());
            for event in events {
                let count = i64::try_from(event.slot_count).unwrap_or(i64::MAX);
                transaction.execute(
                    "INSERT INTO schedule_events (monitor_id, outcome, first_slot, last_slot, \
                         slot_count, slot_count_exact, reason, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (monitor_id, first_slot) DO NOTHING",
                    params![
                        monitor.0,
                        event.outcome.as_str(),
                        time_text(event.first_slot),
                        time_text(event.last_slot),
                        count,
                        event.slot_count_exact,
                        event.reason,
                        now
                    ],
                )?;
            }
            transaction.execute(
                "INSERT INTO schedule_state (monitor_id, last_slot, last_run_id, updated_at) \
                 VALUES (?1, ?2, NULL, ?3) \
                 ON CONFLICT (monitor_id) DO UPDATE SET \
                     last_run_id = CASE WHEN excluded.last_slot = schedule_state.last_slot \
                                        THEN schedule_state.last_run_id END, \
                     last_slot = excluded.last_slot, \
                     updated_at = excluded.updated_at",
                params![monitor.0, to_text, now],
            )?;
            Ok(true)
        })
        .await
    }

    /// Where `monitor`'s schedule stands, if it was ever positioned, and whether its
    /// last slot is accounted for. One read transaction, so the two agree.
    pub async fn schedule_position(
        &self,
        monitor: MonitorId,
    ) -> Result<Option<SchedulePosition>, StoreError> {
        self.read(move |transaction| {
            let state = transaction
                .query_row(
                    "SELECT last_slot, last_run_id FROM schedule_state WHERE monitor_id = ?1",
                    params![monitor.0],
                    |row| {
                        Ok(ScheduleState {
                            last_slot: time(row, 0)?,
                            last_run: row.get::<_, Option<i64>>(1)?.map(RunId),
                        })
                    },
                )
                .optional()?;
            let Some(state) = state else {
                return Ok(None);
            };
            let slot = time_text(state.last_slot);
            let accounted_for: bool = transaction.query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE monitor_id = ?1 AND scheduled_for = ?2) \
                     OR EXISTS (SELECT 1 FROM schedule_events WHERE monitor_id = ?1 \
                                AND first_slot <= ?2 AND last_slot >= ?2)",
                params![monitor.0, slot],
                |row| row.get(0),
            )?;
            Ok(Some(SchedulePosition {
                state,
                last_slot_accounted_for: accounted_for,
            }))
        })
        .await
    }

    /// The missed and skipped slots recorded for `monitor`, oldest first.
    pub async fn schedule_events(
        &self,
        monitor: MonitorId,
    ) -> Result<Vec<ScheduleEvent>, StoreError> {
        self.read(move |transaction| {
            let events = transaction
                .prepare(
                    "SELECT outcome, first_slot, last_slot, slot_count, slot_count_exact, \
                         reason, recorded_at \
                     FROM schedule_events WHERE monitor_id = ?1 ORDER BY first_slot",
                )?
                .query_map(params![monitor.0], |row| {
                    let count: i64 = row.get(3)?;
                    Ok(ScheduleEvent {
                        monitor,
                        outcome: text_enum(row, 0, SlotOutcome::from_db)?,
                        first_slot: time(row, 1)?,
                        last_slot: time(row, 2)?,
                        slot_count: u64::try_from(count)
                            .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(3, count))?,
                        slot_count_exact: row.get(4)?,
                        reason: row.get(5)?,
                        recorded_at: time(row, 6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(events)
        })
        .await
    }
}
