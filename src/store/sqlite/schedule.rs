//! The schedule on SQLite ([`ScheduleJournal`]): `schedule_state` holds each monitor's
//! position, and `schedule_events` the stretches of slots that got no run, written in
//! the same transaction as the position.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::columns::{text_enum, time, time_text};
use super::error::OpError;
use crate::store::schedule::check_events;
use crate::store::statements::schedule::{
    ADVANCE, EVENTS, INSERT_EVENT, LAST_SLOT, POSITION, SET_POSITION, SLOT_ACCOUNTED_FOR,
};
use crate::store::types::{MonitorId, RunId, ScheduleState};
use crate::store::{
    ScheduleEvent, ScheduleJournal, SchedulePosition, SlotEvent, SlotOutcome, StoreError,
};

impl ScheduleJournal for SqliteStore {
    fn schedule_state(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<ScheduleState>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| schedule_state_row(transaction, monitor))
                .await
        })
    }

    fn set_schedule_state(
        &self,
        monitor: MonitorId,
        state: ScheduleState,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                let changed = transaction.execute(
                    SET_POSITION,
                    params![
                        monitor.0,
                        time_text(state.last_slot),
                        state.last_run.map(|run| run.0),
                    ],
                )?;
                Ok(changed > 0)
            })
            .await
        })
    }

    fn advance_schedule(
        &self,
        monitor: MonitorId,
        to: DateTime<Utc>,
        events: Vec<SlotEvent>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            check_events(&events)?;
            self.write(move |transaction| {
                let to_text = time_text(to);
                let stored: Option<String> = transaction
                    .query_row(LAST_SLOT, params![monitor.0], |row| row.get(0))
                    .optional()?;
                if stored
                    .as_deref()
                    .is_some_and(|stored| stored > to_text.as_str())
                {
                    return Ok(false);
                }
                for event in events {
                    let count = i64::try_from(event.slot_count).unwrap_or(i64::MAX);
                    transaction.execute(
                        INSERT_EVENT,
                        params![
                            monitor.0,
                            event.outcome.as_str(),
                            time_text(event.first_slot),
                            time_text(event.last_slot),
                            count,
                            event.slot_count_exact,
                            event.reason,
                        ],
                    )?;
                }
                transaction.execute(ADVANCE, params![monitor.0, to_text])?;
                Ok(true)
            })
            .await
        })
    }

    fn schedule_position(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<SchedulePosition>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let Some(state) = schedule_state_row(transaction, monitor)? else {
                    return Ok(None);
                };
                let slot = time_text(state.last_slot);
                let accounted_for: bool =
                    transaction.query_row(SLOT_ACCOUNTED_FOR, params![monitor.0, slot], |row| {
                        row.get(0)
                    })?;
                Ok(Some(SchedulePosition {
                    state,
                    last_slot_accounted_for: accounted_for,
                }))
            })
            .await
        })
    }

    fn schedule_events(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<ScheduleEvent>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let events = transaction
                    .prepare(EVENTS)?
                    .query_map(params![monitor.0], |row| {
                        let count: i64 = row.get(3)?;
                        let slots = SlotEvent {
                            outcome: text_enum(row, 0, SlotOutcome::from_db)?,
                            first_slot: time(row, 1)?,
                            last_slot: time(row, 2)?,
                            slot_count: u64::try_from(count)
                                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(3, count))?,
                            slot_count_exact: row.get(4)?,
                            reason: row.get(5)?,
                        };
                        Ok(ScheduleEvent {
                            monitor,
                            slots,
                            recorded_at: time(row, 6)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(events)
            })
            .await
        })
    }
}

/// The monitor's `schedule_state` row, if it has one.
fn schedule_state_row(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
) -> Result<Option<ScheduleState>, OpError> {
    Ok(transaction
        .query_row(POSITION, params![monitor.0], |row| {
            Ok(ScheduleState {
                last_slot: time(row, 0)?,
                last_run: row.get::<_, Option<i64>>(1)?.map(RunId),
            })
        })
        .optional()?)
}
