//! The schedule's side of the store ([`ScheduleJournal`]): where each monitor's schedule
//! stands, and what became of the cron slots that did not get a run (missed or skipped).
//!
//! A slot the scheduler has passed is accounted for in exactly one place: a run (started
//! on time or as a catch-up), or a schedule event. A backend writes the second kind
//! together with the position, atomically, so that a restart finds either both or
//! neither, and never forgets a missed slot. Which slots are missed, skipped or run is
//! the scheduler's decision; the store only records it. Its rows carry no personal data:
//! a monitor id, slot times, counts and a reason the scheduler wrote.

use std::fmt;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{MonitorId, ScheduleState};

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

    pub(super) fn from_db(text: &str) -> Option<Self> {
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
    /// The stretch as it was recorded.
    pub slots: SlotEvent,
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

/// Refuses an event whose range is out of order or holds no slot. Every backend's
/// `advance_schedule` asks this before writing anything.
pub(super) fn check_events(events: &[SlotEvent]) -> Result<(), StoreError> {
    match events
        .iter()
        .find(|event| event.first_slot > event.last_slot || event.slot_count == 0)
    {
        Some(event) => Err(StoreError::InvalidInput {
            what: "schedule event",
            message: format!(
                "slots {} to {} counted {}: the range must be ordered and hold at least one slot",
                event.first_slot, event.last_slot, event.slot_count
            ),
        }),
        None => Ok(()),
    }
}

/// The run journal's schedule position and events.
pub trait ScheduleJournal: Send + Sync {
    /// Where `monitor`'s schedule stands, if it has ever fired.
    fn schedule_state(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<ScheduleState>, StoreError>>;

    /// Records that `monitor`'s schedule reached `state.last_slot`. The position only
    /// moves forward: a slot older than the stored one is ignored and `false` returned.
    /// Setting the same slot again updates its run.
    fn set_schedule_state(
        &self,
        monitor: MonitorId,
        state: ScheduleState,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Moves `monitor`'s schedule position to `to` and records `events` (what became of
    /// the slots passed over that got no run), in one transaction.
    ///
    /// The position only moves forward: if the stored one is later than `to`, nothing
    /// is written and `false` is returned. An event whose monitor and first slot are
    /// already recorded is left as it was. Moving to the stored position again keeps
    /// its run; moving past it clears the run (the new slot's run is not known yet).
    fn advance_schedule(
        &self,
        monitor: MonitorId,
        to: DateTime<Utc>,
        events: Vec<SlotEvent>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Where `monitor`'s schedule stands, if it was ever positioned, and whether its
    /// last slot is accounted for. One read transaction, so the two agree.
    fn schedule_position(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<SchedulePosition>, StoreError>>;

    /// The missed and skipped slots recorded for `monitor`, oldest first.
    fn schedule_events(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<ScheduleEvent>, StoreError>>;
}
