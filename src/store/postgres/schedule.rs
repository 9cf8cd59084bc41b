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
use crate::store::types::{MonitorId, RunId, ScheduleState};
use crate::store::{
    ScheduleEvent, ScheduleJournal, SchedulePosition, SlotEvent, SlotOutcome, StoreError,
};

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
                    "INSERT INTO schedule_state (monitor_id, last_slot, last_run_id, updated_at) \
                     VALUES ($1, $2, $3, now()) \
                     ON CONFLICT (monitor_id) DO UPDATE SET \
                         last_slot = excluded.last_slot, \
                         last_run_id = excluded.last_run_id, \
                         updated_at = excluded.updated_at \
                     WHERE excluded.last_slot >= schedule_state.last_slot",
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
                    let stored = sql::opt(
                        tx,
                        "SELECT last_slot FROM schedule_state WHERE monitor_id = $1",
                        &[&monitor.0],
                    )
                    .await?;
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
                            "INSERT INTO schedule_events (monitor_id, outcome, first_slot, last_slot, \
                                 slot_count, slot_count_exact, reason, recorded_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, now()) \
                             ON CONFLICT (monitor_id, first_slot) DO NOTHING",
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
                    sql::exec(
                        tx,
                        "INSERT INTO schedule_state (monitor_id, last_slot, last_run_id, updated_at) \
                         VALUES ($1, $2, NULL, now()) \
                         ON CONFLICT (monitor_id) DO UPDATE SET \
                             last_run_id = CASE WHEN excluded.last_slot = schedule_state.last_slot \
                                                THEN schedule_state.last_run_id END, \
                             last_slot = excluded.last_slot, \
                             updated_at = excluded.updated_at",
                        &[&monitor.0, &to],
                    )
                    .await?;
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
                let accounted_for: bool = sql::one(
                    tx,
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE monitor_id = $1 AND scheduled_for = $2) \
                         OR EXISTS (SELECT 1 FROM schedule_events WHERE monitor_id = $1 \
                                    AND first_slot <= $2 AND last_slot >= $2)",
                    &[&monitor.0, &state.last_slot],
                )
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
                sql::all(
                    tx,
                    "SELECT outcome, first_slot, last_slot, slot_count, slot_count_exact, \
                         reason, recorded_at \
                     FROM schedule_events WHERE monitor_id = $1 ORDER BY first_slot",
                    &[&monitor.0],
                )
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
                            slot_count: u64::try_from(count)
                                .map_err(|_| OpError::unexpected(format!("slot count {count}")))?,
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
    sql::opt(
        tx,
        "SELECT last_slot, last_run_id FROM schedule_state WHERE monitor_id = $1",
        &[&monitor.0],
    )
    .await?
    .map(|row| {
        Ok(ScheduleState {
            last_slot: row.try_get(0)?,
            last_run: row.try_get::<_, Option<i64>>(1)?.map(RunId),
        })
    })
    .transpose()
}
