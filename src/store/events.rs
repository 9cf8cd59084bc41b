//! Small pieces of daemon state: where each monitor's schedule stands, and which
//! Rightfoot completion webhooks were already seen.
//!
//! Both are remembered so that a restart neither forgets a missed cron slot nor acts
//! twice on a webhook Rightfoot retried. What to do about a missed slot is the
//! scheduler's call, not this module's.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::Store;
use super::columns::{time, time_text};
use super::error::StoreError;
use super::types::{MonitorId, RunId, ScheduleState};

impl Store {
    /// Where `monitor`'s schedule stands, if it has ever fired.
    pub async fn schedule_state(
        &self,
        monitor: MonitorId,
    ) -> Result<Option<ScheduleState>, StoreError> {
        self.read(move |transaction| {
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
        })
        .await
    }

    /// Records that `monitor`'s schedule reached `state.last_slot`. The position only
    /// moves forward: a slot older than the stored one is ignored and `false` returned.
    /// Setting the same slot again updates its run.
    pub async fn set_schedule_state(
        &self,
        monitor: MonitorId,
        state: ScheduleState,
    ) -> Result<bool, StoreError> {
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
    }

    /// Remembers a completion webhook's `event_uuid`. Returns `true` the first time,
    /// `false` for a redelivery that must be ignored.
    pub async fn record_webhook_event(
        &self,
        event_uuid: &str,
        rightfoot_batch_id: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let event_uuid = event_uuid.to_string();
        let rightfoot_batch_id = rightfoot_batch_id.map(str::to_string);
        self.write(move |transaction| {
            let inserted = transaction.execute(
                "INSERT INTO webhook_events (event_uuid, received_at, rightfoot_batch_id) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (event_uuid) DO NOTHING",
                params![event_uuid, time_text(received_at), rightfoot_batch_id],
            )?;
            Ok(inserted > 0)
        })
        .await
    }
}
