//! The leadership lease on PostgreSQL ([`Leadership`]), and the fence every write of a
//! leader passes.
//!
//! The lease is the one `leadership` row, and every time is the server's `now()`. Its
//! transactions do not take the writers' advisory lock, so a long judgement never
//! delays a renewal:
//! - a take locks the row `FOR UPDATE` (of two first takers, the second's insert
//!   finds the first's row and changes nothing), which waits for
//!   every write in flight that checked the fence, so the new epoch begins after the
//!   last write of the old one; it gives up after one lease (`lock_timeout`) rather
//!   than wait on a transaction a paused process left open;
//! - a renewal is a plain `UPDATE` of the holder's epoch, which the writers' key-share
//!   locks do not block.
//!
//! [`Fence`] is the holder and epoch this handle took, if any: `PostgresStore::write`
//! calls [`enter_write`], which takes the writers' lock and refuses the write with
//! [`StoreError::Fenced`] unless the row still has that epoch and holder. The row stays
//! key-share locked until the write commits, so no take slips in between; and the
//! server ends a leader's session that idles inside a write for a lease, so a leader
//! paused mid-write does not hold the writers' lock past its lease.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::error::OpError;
use super::leases::seconds;
use super::{Access, Job, PostgresStore, sql};
use crate::store::statements::{dollars, leadership};
use crate::store::{LeaderLease, Leadership, LeadershipTake, StoreError};

/// The leadership this handle's writes must still have.
#[derive(Clone, Debug)]
struct Fenced {
    holder: String,
    epoch: i64,
    /// The lease, as `idle_in_transaction_session_timeout` text.
    idle_limit: String,
}

/// The holder and epoch whose leadership this handle's writes must still have.
#[derive(Debug, Default)]
pub(super) struct Fence(Mutex<Option<Fenced>>);

impl Fence {
    fn set(&self, fence: Option<Fenced>) {
        // std's mutex: held for an assignment or a clone, never across an `.await`.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = fence;
    }

    fn current(&self) -> Option<Fenced> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Takes the writers' advisory lock `key` for the write `tx` is about to make, and
/// refuses the write unless the lease still has the epoch and holder `fence` names
/// (nothing to check when this handle never led).
///
/// A leader's write also tells the server to end its session should it idle inside the
/// transaction for a lease: a leader paused there (SIGSTOP, a stalled VM) would
/// otherwise hold the writers' lock, and block every write of the next leader, until it
/// woke.
pub(super) async fn enter_write(
    tx: &Transaction<'_>,
    key: i64,
    fence: &Fence,
    location: &str,
) -> Result<(), OpError> {
    let Some(Fenced {
        holder,
        epoch,
        idle_limit,
    }) = fence.current()
    else {
        sql::exec(tx, "SELECT pg_advisory_xact_lock($1)", &[&key]).await?;
        return Ok(());
    };
    sql::exec(
        tx,
        "SELECT set_config('idle_in_transaction_session_timeout', $2, true), \
             pg_advisory_xact_lock($1)",
        &[&key, &idle_limit],
    )
    .await?;
    let held = sql::opt(
        tx,
        "SELECT 1 FROM leadership WHERE id = 1 AND epoch = $1 AND holder = $2 FOR KEY SHARE",
        &[&epoch, &holder],
    )
    .await?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced {
            path: location.into(),
            epoch,
        }
        .into()),
    }
}

fn lease_row(row: &Row) -> Result<LeaderLease, OpError> {
    Ok(LeaderLease {
        holder: row.try_get(0)?,
        epoch: row.try_get(1)?,
        taken_at: row.try_get(2)?,
        renewed_at: row.try_get(3)?,
        expires_at: row.try_get(4)?,
        now: row.try_get(5)?,
    })
}

/// The statements of this file, in PostgreSQL's spelling.
const LEASE: &str = dollars!(leadership::lease!());
const LOCK_LEASE: &str = dollars!(concat!(leadership::lease!(), " FOR UPDATE"));
const TAKE: &str = dollars!(leadership::take!(
    "now()",
    "now() + make_interval(secs => ?3)"
));
const RENEW: &str = dollars!(leadership::renew!("now() + make_interval(secs => ?3)"));
const RELEASE: &str = dollars!(leadership::RELEASE);

impl PostgresStore {
    /// Runs `job` in a READ COMMITTED transaction without the writers' lock or the fence.
    async fn lease_transaction<T: Send>(&self, job: Job<'_, T>) -> Result<T, StoreError> {
        self.transact(Access::Lease, job).await
    }
}

async fn take(
    tx: &Transaction<'_>,
    holder: &str,
    lease: Duration,
) -> Result<LeadershipTake, OpError> {
    let wait = format!("SET LOCAL lock_timeout = {}", lease.as_millis().max(1));
    tx.batch_execute(&wait).await?;
    let before = sql::opt(tx, LOCK_LEASE, &[]).await?;
    let before = before.as_ref().map(lease_row).transpose()?;
    if let Some(current) = before.as_ref().filter(|current| current.bars(holder)) {
        return Ok(LeadershipTake::Held(current.clone()));
    }
    let epoch = before.map_or(1, |current| current.epoch + 1);
    let changed = sql::exec(tx, TAKE, &[&holder, &epoch, &seconds(lease)]).await?;
    let stands = lease_row(&sql::one(tx, LEASE, &[]).await?)?;
    Ok(LeadershipTake::after(changed, stands))
}

impl Leadership for PostgresStore {
    fn take_leadership(
        &self,
        holder: String,
        lease: Duration,
    ) -> BoxFuture<'_, Result<LeadershipTake, StoreError>> {
        Box::pin(async move {
            let taken = self
                .lease_transaction(Box::new(move |tx| {
                    Box::pin(async move { take(tx, &holder, lease).await })
                }))
                .await?;
            if let LeadershipTake::Taken(taken) = &taken {
                self.fence.set(Some(Fenced {
                    holder: taken.holder.clone(),
                    epoch: taken.epoch,
                    // A second at least: a lease of no time (a test's) is no limit to idle by.
                    idle_limit: format!("{}ms", lease.as_millis().max(1000)),
                }));
            }
            Ok(taken)
        })
    }

    fn renew_leadership(
        &self,
        holder: String,
        epoch: i64,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        Box::pin(self.lease_transaction(Box::new(move |tx| {
            Box::pin(async move {
                match sql::exec(tx, RENEW, &[&holder, &epoch, &seconds(lease)]).await? {
                    0 => Ok(None),
                    _ => Ok(Some(lease_row(&sql::one(tx, LEASE, &[]).await?)?)),
                }
            })
        })))
    }

    fn release_leadership(
        &self,
        holder: String,
        epoch: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.lease_transaction(Box::new(move |tx| {
            Box::pin(async move {
                sql::exec(tx, RELEASE, &[&holder, &epoch]).await?;
                Ok(())
            })
        })))
    }

    fn leadership(&self) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                sql::opt(tx, LEASE, &[])
                    .await?
                    .as_ref()
                    .map(lease_row)
                    .transpose()
            })
        }))
    }

    fn stop_fencing(&self) {
        self.fence.set(None);
    }
}
