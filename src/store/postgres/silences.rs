//! Silences on PostgreSQL ([`Silences`]): the `silences` table and the alerts' `held`
//! flag.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::OpError;
use super::sql;
use crate::store::StoreError;
use crate::store::silences::{HeldAlert, NewSilence, SilenceRecord, Silences};
use crate::store::statements::{dollars, silences};
use crate::store::types::MonitorId;

/// The statements of this file, in PostgreSQL's spelling.
const ADD: &str = dollars!(silences::ADD);
const SILENCES: &str = dollars!(silences::SILENCES);
const SILENCE: &str = dollars!(silences::SILENCE);
const EXPIRE: &str = dollars!(silences::EXPIRE);
const HELD_ALERTS: &str = dollars!(silences::HELD_ALERTS);

impl Silences for PostgresStore {
    fn add_silence(&self, silence: NewSilence) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let row = sql::one(
                    tx,
                    ADD,
                    &[
                        &silence.authorizer_unique_id,
                        &silence.monitor,
                        &silence.rule,
                        &silence.starts_at,
                        &silence.ends_at,
                        &silence.created_by,
                        &silence.comment,
                    ],
                )
                .await?;
                Ok(row.try_get(0)?)
            })
        }))
    }

    fn silences(
        &self,
        at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<SilenceRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, SILENCES, &[&at])
                    .await?
                    .iter()
                    .map(silence_record)
                    .collect()
            })
        }))
    }

    fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<SilenceRecord>, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sql::exec(tx, EXPIRE, &[&id, &at]).await?;
                sql::opt(tx, SILENCE, &[&id])
                    .await?
                    .as_ref()
                    .map(silence_record)
                    .transpose()
            })
        }))
    }

    fn held_alerts(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Vec<HeldAlert>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, HELD_ALERTS, &[&monitor.0])
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(HeldAlert {
                            fingerprint: row.try_get(0)?,
                            authorizer_unique_id: row.try_get(1)?,
                            rule: row.try_get(2)?,
                            severity: row.try_get(3)?,
                            reason: row.try_get(4)?,
                        })
                    })
                    .collect()
            })
        }))
    }
}

fn silence_record(row: &Row) -> Result<SilenceRecord, OpError> {
    Ok(SilenceRecord {
        id: row.try_get(0)?,
        silence: NewSilence {
            authorizer_unique_id: row.try_get(1)?,
            monitor: row.try_get(2)?,
            rule: row.try_get(3)?,
            starts_at: row.try_get(4)?,
            ends_at: row.try_get(5)?,
            created_by: row.try_get(6)?,
            comment: row.try_get(7)?,
        },
        ended_early_at: row.try_get(8)?,
    })
}

/// Marks the open alerts `held` (a silence kept them from every route) and clears the
/// flag of `released` ones. Runs in the judgement's transaction, after its alert writes.
pub(super) async fn write_held(
    tx: &Transaction<'_>,
    held: &[String],
    released: &[String],
) -> Result<(), OpError> {
    for (fingerprints, flag) in [(held, true), (released, false)] {
        if fingerprints.is_empty() {
            continue;
        }
        sql::exec(
            tx,
            "UPDATE alerts SET held = $2 \
             WHERE fingerprint = ANY($1::TEXT[]) AND state <> 'resolved'",
            &[&fingerprints, &flag],
        )
        .await?;
    }
    Ok(())
}
