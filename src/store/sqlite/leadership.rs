//! The leadership lease on SQLite ([`Leadership`]): the one `leadership` row, taken and
//! renewed in `BEGIN IMMEDIATE` transactions on the writer's clock (the connection's
//! `now()`). An SQLite daemon is always the leader, so the lease is only recorded:
//! writes are not fenced, and [`Leadership::stop_fencing`] has nothing to stop.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::columns::{time, time_text};
use super::error::OpError;
use super::leases::expiry;
use crate::store::statements::leadership::{RELEASE, lease, renew, take};
use crate::store::{LeaderLease, Leadership, LeadershipTake, StoreError};

fn lease_row(row: &Row<'_>) -> rusqlite::Result<LeaderLease> {
    Ok(LeaderLease {
        holder: row.get(0)?,
        epoch: row.get(1)?,
        taken_at: time(row, 2)?,
        renewed_at: time(row, 3)?,
        expires_at: time(row, 4)?,
        now: time(row, 5)?,
    })
}

fn stored(transaction: &Transaction<'_>) -> Result<Option<LeaderLease>, OpError> {
    Ok(transaction.query_row(lease!(), [], lease_row).optional()?)
}

impl Leadership for SqliteStore {
    fn take_leadership(
        &self,
        holder: String,
        lease: Duration,
    ) -> BoxFuture<'_, Result<LeadershipTake, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let before = stored(transaction)?;
            if let Some(current) = before.as_ref().filter(|current| current.bars(&holder)) {
                return Ok(LeadershipTake::Held(current.clone()));
            }
            let epoch = before.map_or(1, |current| current.epoch + 1);
            let now = Utc::now();
            let (taken_at, valid_until) = (time_text(now), time_text(expiry(now, lease)));
            let changed = transaction.execute(
                take!("?4", "?3"),
                params![holder, epoch, valid_until, taken_at],
            )?;
            let stands = transaction.query_row(lease!(), [], lease_row)?;
            Ok(LeadershipTake::after(changed as u64, stands))
        }))
    }

    fn renew_leadership(
        &self,
        holder: String,
        epoch: i64,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let valid_until = time_text(expiry(Utc::now(), lease));
            match transaction.execute(renew!("?3"), params![holder, epoch, valid_until])? {
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
            transaction.execute(RELEASE, params![holder, epoch])?;
            Ok(())
        }))
    }

    fn leadership(&self) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        Box::pin(self.read(stored))
    }

    fn stop_fencing(&self) {}
}
