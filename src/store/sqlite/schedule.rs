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
                    "INSERT INTO schedule_state (monitor_id, last_slot, last_run_id, updated_at) \
                     VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (monitor_id) DO UPDATE SET \
                         last_slot = excluded.last_slot, \
                         last_run_id = excluded.last_run_id, \
                         updated_at = excluded.updated_at \
                     WHERE excluded.last_slot >= schedule_state.last_slot",
                    params![
                        monitor.0,
                        time_text(state.last_slot),
                        state.last_run.map(|run| run.0),
                        time_text(Utc::now())
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
        })
    }

    fn schedule_events(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<ScheduleEvent>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let events = transaction
                    .prepare(
                        "SELECT outcome, first_slot, last_slot, slot_count, slot_count_exact, \
                             reason, recorded_at \
                         FROM schedule_events WHERE monitor_id = ?1 ORDER BY first_slot",
                    )?
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
        .optional()?)
}
