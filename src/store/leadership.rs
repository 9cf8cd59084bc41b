//! The leadership lease ([`Leadership`]): which one of the daemons sharing a database
//! leads (schedules, resumes runs, delivers the outbox), and the epoch that fences the
//! writes of one that no longer does.
//!
//! The lease is one row: its holder (an opaque text the caller makes unique per
//! process), its epoch, and when it was taken, last renewed and runs out. It is taken
//! when it is free or has run out, and every take adds one to the epoch; its holder
//! renews it while it leads and gives it up when it stops. Every time is the store's own
//! clock (a database server's `now()`; the SQLite writer's system clock), never the
//! caller's, so hosts whose clocks disagree still agree on who leads.
//!
//! Fencing: once a handle has taken the lease as epoch E, every later write through it
//! checks, inside its own transaction, that the lease still has epoch E and this holder,
//! and is refused with [`StoreError::Fenced`] otherwise, so a process that was paused or
//! cut off past its lease writes nothing after another took over. The PostgreSQL
//! backend fences; on SQLite, where one process is always the leader, the lease is
//! recorded but writes are not fenced. [`Leadership::stop_fencing`] ends it once the
//! work done as leader has stopped, so a standby writes as a command-line tool does.
//!
//! The store does not decide when to take, renew or give up the lease: the daemon does
//! (`daemon::leadership`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;

/// The leadership lease as stored, read at the store's instant `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderLease {
    /// Who holds (or last held) it.
    pub holder: String,
    /// 1 for the first take, one more for each take after it.
    pub epoch: i64,
    pub taken_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The store's clock when the row was read, so a reader needs no clock of its own.
    pub now: DateTime<Utc>,
}

impl LeaderLease {
    /// Whether it has run out (at the store's `now`).
    pub fn expired(&self) -> bool {
        self.expires_at <= self.now
    }

    /// Whether it stops `holder` from taking it: it is another's, and has not run out.
    /// Both backends decide a take by this.
    pub fn bars(&self, holder: &str) -> bool {
        !self.expired() && self.holder != holder
    }

    /// How long ago it was last taken or renewed, by the store's clock.
    pub fn age(&self) -> Duration {
        (self.now - self.renewed_at).to_std().unwrap_or_default()
    }
}

/// What an attempt to take the lease came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadershipTake {
    /// The caller leads as the lease's epoch, until its `expires_at`.
    Taken(LeaderLease),
    /// Another holder has it, unexpired.
    Held(LeaderLease),
}

impl LeadershipTake {
    /// What a take that changed `changed` rows came to, with the lease as it now stands:
    /// a taker that changed nothing lost to another that took it first.
    pub(super) fn after(changed: u64, lease: LeaderLease) -> LeadershipTake {
        match changed {
            0 => LeadershipTake::Held(lease),
            _ => LeadershipTake::Taken(lease),
        }
    }
}

/// The leadership lease of the daemons sharing one store.
pub trait Leadership: Send + Sync {
    /// Takes the lease for `holder` for `lease`, in one transaction: granted when it has
    /// never been taken, has run out, or is `holder`'s own, always with the next epoch;
    /// refused with the lease as it stands otherwise. Once granted, a backend that
    /// fences (PostgreSQL) refuses this handle's later writes unless the lease still
    /// has the new epoch and `holder`.
    fn take_leadership(
        &self,
        holder: String,
        lease: Duration,
    ) -> BoxFuture<'_, Result<LeadershipTake, StoreError>>;

    /// Extends `holder`'s lease of `epoch` to `lease` from now. `None`, writing nothing,
    /// when the lease is no longer `holder`'s at `epoch` or has run out.
    fn renew_leadership(
        &self,
        holder: String,
        epoch: i64,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>>;

    /// Ends `holder`'s lease of `epoch` now, so another can take it at once; nothing
    /// happens when it is no longer theirs.
    fn release_leadership(
        &self,
        holder: String,
        epoch: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The lease as stored, run out or not; `None` before the first take.
    fn leadership(&self) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>>;

    /// Stops fencing this handle's writes: call it once everything done as leader has
    /// stopped, so that a standby's writes (a silence, the readiness probe's test
    /// write) go through again.
    fn stop_fencing(&self);
}
