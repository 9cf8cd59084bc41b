//! The schedule on PostgreSQL ([`ScheduleJournal`]): `schedule_state` holds each
//! monitor's position, and `schedule_events` the stretches of slots that got no run,
//! written in the same transaction as the position.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::sql::{self, text_enum};
use crate::store::schedule::check_events;
use crate::store::statements::{dollars, schedule};
use crate::store::types::{MonitorId, RunId, ScheduleState};
use crate::store::{
    ScheduleEvent, ScheduleJournal, SchedulePosition, SlotEvent, SlotOutcome, StoreError,
};

/// The statements of this file, in PostgreSQL's spelling.
const SET_POSITION: &str = dollars!(schedule::SET_POSITION);
const LAST_SLOT: &str = dollars!(schedule::LAST_SLOT);
const INSERT_EVENT: &str = dollars!(schedule::INSERT_EVENT);
const ADVANCE: &str = dollars!(schedule::ADVANCE);
const SLOT_ACCOUNTED_FOR: &str = dollars!(schedule::SLOT_ACCOUNTED_FOR);
const EVENTS: &str = dollars!(schedule::EVENTS);
const POSITION: &str = dollars!(schedule::POSITION);

impl ScheduleJournal for PostgresStore {
    fn schedule_state(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<ScheduleState>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(schedule_state_row(tx, monitor))))
    }

    fn set_schedule_state(
        &self,
        monitor: MonitorId,
        state: ScheduleState,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let changed = sql::exec(
                    tx,
                    SET_POSITION,
                    &[
                        &monitor.0,
                        &state.last_slot,
                        &state.last_run.map(|run| run.0),
                    ],
                )
                .await?;
                Ok(changed > 0)
            })
        }))
    }

    fn advance_schedule(
        &self,
        monitor: MonitorId,
        to: DateTime<Utc>,
        events: Vec<SlotEvent>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            check_events(&events)?;
            self.write(move |tx| {
                Box::pin(async move {
                    let stored = sql::opt(tx, LAST_SLOT, &[&monitor.0]).await?;
                    if let Some(stored) = stored {
                        let stored: DateTime<Utc> = stored.try_get(0)?;
                        if stored > to {
                            return Ok(false);
                        }
                    }
                    for event in events {
                        let count = i64::try_from(event.slot_count).unwrap_or(i64::MAX);
                        sql::exec(
                            tx,
                            INSERT_EVENT,
                            &[
                                &monitor.0,
                                &event.outcome.as_str(),
                                &event.first_slot,
                                &event.last_slot,
                                &count,
                                &event.slot_count_exact,
                                &event.reason,
                            ],
                        )
                        .await?;
                    }
                    sql::exec(tx, ADVANCE, &[&monitor.0, &to]).await?;
                    Ok(true)
                })
            })
            .await
        })
    }

    fn schedule_position(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<SchedulePosition>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let Some(state) = schedule_state_row(tx, monitor).await? else {
                    return Ok(None);
                };
                let accounted_for: bool =
                    sql::one(tx, SLOT_ACCOUNTED_FOR, &[&monitor.0, &state.last_slot])
                        .await?
                        .try_get(0)?;
                Ok(Some(SchedulePosition {
                    state,
                    last_slot_accounted_for: accounted_for,
                }))
            })
        }))
    }

    fn schedule_events(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<ScheduleEvent>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, EVENTS, &[&monitor.0])
                    .await?
                    .iter()
                    .map(|row| {
                        let count: i64 = row.try_get(3)?;
                        Ok(ScheduleEvent {
                            monitor,
                            slots: SlotEvent {
                                outcome: text_enum(row, 0, SlotOutcome::from_db)?,
                                first_slot: row.try_get(1)?,
                                last_slot: row.try_get(2)?,
                                slot_count: u64::try_from(count).map_err(|_| {
                                    OpError::unexpected(format!("slot count {count}"))
                                })?,
                                slot_count_exact: row.try_get(4)?,
                                reason: row.try_get(5)?,
                            },
                            recorded_at: row.try_get(6)?,
                        })
                    })
                    .collect()
            })
        }))
    }
}

/// The monitor's `schedule_state` row, if it has one.
async fn schedule_state_row(
    tx: &Transaction<'_>,
    monitor: MonitorId,
) -> Result<Option<ScheduleState>, OpError> {
    sql::opt(tx, POSITION, &[&monitor.0])
        .await?
        .map(|row| {
            Ok(ScheduleState {
                last_slot: row.try_get(0)?,
                last_run: row.try_get::<_, Option<i64>>(1)?.map(RunId),
            })
        })
        .transpose()
}
