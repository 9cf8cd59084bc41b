//! Run leases on PostgreSQL ([`RunLeases`]): one `run_leases` row per monitor, taken
//! in a write transaction (serialised with every other writer), with the server's
//! `now()` for every time, so hosts with different clocks agree on expiry.

use std::time::Duration;

use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::OpError;
use super::sql;
use crate::store::statements::{dollars, leases};
use crate::store::types::{MonitorId, RunId};
use crate::store::{LeaseRequest, LeaseTake, RunLease, RunLeases, StoreError};

/// A time-to-live in seconds, for `now() + make_interval(secs => ...)`.
fn seconds(ttl: Duration) -> f64 {
    // An interval of more than a few centuries is forever for a lease.
    ttl.as_secs_f64().min(1.0e10)
}

fn lease_row(row: &Row) -> Result<RunLease, OpError> {
    Ok(RunLease {
        monitor: MonitorId(row.try_get(0)?),
        holder: row.try_get(1)?,
        run: row.try_get::<_, Option<i64>>(2)?.map(RunId),
        taken_at: row.try_get(3)?,
        expires_at: row.try_get(4)?,
    })
}

/// The statements of this file, in PostgreSQL's spelling.
const UNEXPIRED_LEASE: &str = dollars!(concat!(leases::lease!(), " AND valid_until > now()"));
const TAKE_LEASE: &str = dollars!(concat!(
    leases::take_lease!("now()", "now() + make_interval(secs => ?3)"),
    " RETURNING valid_until"
));
const SET_RUN: &str = dollars!(leases::SET_RUN);
const RELEASE: &str = dollars!(leases::RELEASE);

/// Monitor `monitor`'s lease, if it has not expired.
async fn unexpired_lease(
    tx: &Transaction<'_>,
    monitor: MonitorId,
) -> Result<Option<RunLease>, OpError> {
    sql::opt(tx, UNEXPIRED_LEASE, &[&monitor.0])
        .await?
        .as_ref()
        .map(lease_row)
        .transpose()
}

impl RunLeases for PostgresStore {
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
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                if let Some(lease) = unexpired_lease(tx, monitor).await?
                    && replacing.as_deref() != Some(lease.holder.as_str())
                {
                    return Ok(LeaseTake::Held(lease));
                }
                let row = sql::one(tx, TAKE_LEASE, &[&monitor.0, &holder, &seconds(ttl)]).await?;
                Ok(LeaseTake::Taken {
                    expires_at: row.try_get(0)?,
                })
            })
        }))
    }

    fn set_run_lease_run(
        &self,
        monitor: MonitorId,
        holder: String,
        run: RunId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let changed = sql::exec(tx, SET_RUN, &[&monitor.0, &holder, &run.0]).await?;
                Ok(changed == 1)
            })
        }))
    }

    fn renew_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let changed = sql::exec(
                    tx,
                    "UPDATE run_leases SET valid_until = now() + make_interval(secs => $3) \
                     WHERE monitor_id = $1 AND holder = $2",
                    &[&monitor.0, &holder, &seconds(ttl)],
                )
                .await?;
                Ok(changed == 1)
            })
        }))
    }

    fn release_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sql::exec(tx, RELEASE, &[&monitor.0, &holder]).await?;
                Ok(())
            })
        }))
    }

    fn run_lease(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Option<RunLease>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(unexpired_lease(tx, monitor))))
    }
}
