//! Silences on SQLite ([`Silences`]): the `silences` table and the alerts' `held` flag
//! (0007).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::columns::{optional_time, time, time_text};
use super::error::OpError;
use crate::store::StoreError;
use crate::store::silences::{HeldAlert, NewSilence, SilenceRecord, Silences};
use crate::store::statements::silences::{ADD, EXPIRE, HELD_ALERTS, SILENCE, SILENCES};
use crate::store::types::MonitorId;

impl Silences for SqliteStore {
    fn add_silence(&self, silence: NewSilence) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.write(move |transaction| {
            Ok(transaction.query_row(
                ADD,
                params![
                    silence.authorizer_unique_id,
                    silence.monitor,
                    silence.rule,
                    time_text(silence.starts_at),
                    time_text(silence.ends_at),
                    silence.created_by,
                    silence.comment,
                ],
                |row| row.get(0),
            )?)
        }))
    }

    fn silences(
        &self,
        at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<SilenceRecord>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(SILENCES)?;
            let rows = statement
                .query_map(params![at.map(time_text)], silence_record)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<SilenceRecord>, StoreError>> {
        Box::pin(self.write(move |transaction| {
            transaction.execute(EXPIRE, params![id, time_text(at)])?;
            silence(transaction, id)
        }))
    }

    fn held_alerts(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Vec<HeldAlert>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(HELD_ALERTS)?;
            let rows = statement
                .query_map(params![monitor.0], |row| {
                    Ok(HeldAlert {
                        fingerprint: row.get(0)?,
                        authorizer_unique_id: row.get(1)?,
                        rule: row.get(2)?,
                        severity: row.get(3)?,
                        reason: row.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }
}

fn silence(transaction: &Transaction<'_>, id: i64) -> Result<Option<SilenceRecord>, OpError> {
    Ok(transaction
        .query_row(SILENCE, params![id], silence_record)
        .optional()?)
}

fn silence_record(row: &Row<'_>) -> rusqlite::Result<SilenceRecord> {
    Ok(SilenceRecord {
        id: row.get(0)?,
        silence: NewSilence {
            authorizer_unique_id: row.get(1)?,
            monitor: row.get(2)?,
            rule: row.get(3)?,
            starts_at: time(row, 4)?,
            ends_at: time(row, 5)?,
            created_by: row.get(6)?,
            comment: row.get(7)?,
        },
        ended_early_at: optional_time(row, 8)?,
    })
}

/// Marks the open alerts `held` (a silence kept them from every route) and clears the
/// flag of `released` ones (a digest carries them now). Runs in the judgement's
/// transaction, after its alert writes.
pub(super) fn write_held(
    transaction: &Transaction<'_>,
    held: &[String],
    released: &[String],
) -> Result<(), OpError> {
    let mut hold = transaction.prepare_cached(
        "UPDATE alerts SET held = 1 WHERE fingerprint = ?1 AND state <> 'resolved'",
    )?;
    for fingerprint in held {
        hold.execute(params![fingerprint])?;
    }
    let mut release = transaction.prepare_cached(
        "UPDATE alerts SET held = 0 WHERE fingerprint = ?1 AND state <> 'resolved'",
    )?;
    for fingerprint in released {
        release.execute(params![fingerprint])?;
    }
    Ok(())
}
