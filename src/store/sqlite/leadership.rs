//! The leadership lease on SQLite ([`Leadership`]): the one `leadership` row, taken and
//! renewed in `BEGIN IMMEDIATE` transactions with the writer's system clock. An SQLite
//! daemon is always the leader, so the lease is only recorded: writes are not fenced,
//! and [`Leadership::stop_fencing`] has nothing to stop.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::columns::{time, time_text};
use super::error::OpError;
use super::leases::expiry;
use crate::store::{LeaderLease, Leadership, LeadershipTake, StoreError};

const SELECT_LEASE: &str =
    "SELECT holder, epoch, taken_at, renewed_at, valid_until FROM leadership WHERE id = 1";

fn lease_row(row: &Row<'_>) -> rusqlite::Result<LeaderLease> {
    Ok(LeaderLease {
        holder: row.get(0)?,
        epoch: row.get(1)?,
        taken_at: time(row, 2)?,
        renewed_at: time(row, 3)?,
        expires_at: time(row, 4)?,
        now: Utc::now(),
    })
}

fn stored(transaction: &Transaction<'_>) -> Result<Option<LeaderLease>, OpError> {
    Ok(transaction
        .query_row(SELECT_LEASE, [], lease_row)
        .optional()?)
}

impl Leadership for SqliteStore {
    fn take_leadership(
        &self,
        holder: String,
        lease: Duration,
    ) -> BoxFuture<'_, Result<LeadershipTake, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let before = stored(transaction)?;
            if let Some(current) = &before
                && !current.expired()
                && current.holder != holder
            {
                return Ok(LeadershipTake::Held(current.clone()));
            }
            let now = Utc::now();
            let epoch = before.map_or(1, |current| current.epoch + 1);
            transaction.execute(
                "INSERT INTO leadership (id, holder, epoch, taken_at, renewed_at, valid_until) \
                 VALUES (1, ?1, ?2, ?3, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, \
                     epoch = excluded.epoch, taken_at = excluded.taken_at, \
                     renewed_at = excluded.renewed_at, valid_until = excluded.valid_until",
                params![holder, epoch, time_text(now), time_text(expiry(now, lease))],
            )?;
            Ok(LeadershipTake::Taken(LeaderLease {
                holder,
                epoch,
                taken_at: now,
                renewed_at: now,
                expires_at: expiry(now, lease),
                now,
            }))
        }))
    }

    fn renew_leadership(
        &self,
        holder: String,
        epoch: i64,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let now = Utc::now();
            let changed = transaction.execute(
                "UPDATE leadership SET renewed_at = ?3, valid_until = ?4 \
                 WHERE id = 1 AND holder = ?1 AND epoch = ?2 AND valid_until > ?3",
                params![holder, epoch, time_text(now), time_text(expiry(now, lease))],
            )?;
            match changed {
                0 => Ok(None),
                _ => stored(transaction),
            }
        }))
    }

    fn release_leadership(
        &self,
        holder: String,
        epoch: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            transaction.execute(
                "UPDATE leadership SET valid_until = ?3 \
                 WHERE id = 1 AND holder = ?1 AND epoch = ?2",
                params![holder, epoch, time_text(Utc::now())],
            )?;
            Ok(())
        }))
    }

    fn leadership(&self) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        Box::pin(self.read(stored))
    }

    fn stop_fencing(&self) {}
}
