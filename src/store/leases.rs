//! The run lease of each monitor ([`RunLeases`]): which process is running the
//! monitor now, so that two runs of one monitor never overlap, across processes
//! (`run-now` beside the daemon) as well as within one.
//!
//! A lease is one row per monitor: its holder (an opaque text the caller makes unique
//! per process), the run it covers once that run exists, and when it was taken and
//! expires. Taking it is one transaction that refuses while another unexpired holder
//! has it; the holder renews it while its run lives and releases it when the run ends
//! or stops, and a holder that dies without releasing loses it when it expires. The
//! times are the store's own clock (the system clock of the SQLite writer; a database
//! server's `now()` for a backend that has one), never a caller's, so processes with
//! different clocks agree on expiry.
//!
//! The store does not decide who may run or for how long: the run module takes, renews
//! and releases the lease (`run::lease`), and says what a refusal means.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::{MonitorId, RunId};

/// The lease of one monitor, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLease {
    pub monitor: MonitorId,
    /// Who holds it: the text the holder gave when it took it.
    pub holder: String,
    /// The run it covers; `None` between taking it and creating the run.
    pub run: Option<RunId>,
    pub taken_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A request to take a monitor's lease: for `holder`, for `ttl`, granted over an
/// unexpired lease only when that lease's holder is `replacing` (a holder the caller
/// knows to be dead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    pub monitor: MonitorId,
    pub holder: String,
    pub ttl: Duration,
    pub replacing: Option<String>,
}

impl LeaseRequest {
    /// A request that replaces no one.
    pub fn new(monitor: MonitorId, holder: impl Into<String>, ttl: Duration) -> LeaseRequest {
        LeaseRequest {
            monitor,
            holder: holder.into(),
            ttl,
            replacing: None,
        }
    }

    /// The same request, taking over from `dead` if it holds the lease.
    pub fn replacing(mut self, dead: Option<String>) -> LeaseRequest {
        self.replacing = dead;
        self
    }
}

/// What an attempt to take a lease came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseTake {
    /// The caller holds the lease until `expires_at` (renew it before then).
    Taken { expires_at: DateTime<Utc> },
    /// Another holder has it, unexpired.
    Held(RunLease),
}

/// The monitors' run leases.
pub trait RunLeases: Send + Sync {
    /// Takes the lease `request` names, in one transaction: granted when the monitor has
    /// no lease, when its lease has expired, or when it is held by `request.replacing`;
    /// refused with the lease as it stands otherwise, the requester's own included (a
    /// holder runs one run per monitor).
    fn take_run_lease(&self, request: LeaseRequest)
    -> BoxFuture<'_, Result<LeaseTake, StoreError>>;

    /// Records that `holder`'s lease of `monitor` covers `run`. `false`, writing
    /// nothing, when `holder` does not hold it.
    fn set_run_lease_run(
        &self,
        monitor: MonitorId,
        holder: String,
        run: RunId,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Extends `holder`'s lease of `monitor` to `ttl` from now. `false` when the lease
    /// is no longer `holder`'s (it expired and another holder took it, or it was
    /// released).
    fn renew_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Gives up `holder`'s lease of `monitor`; nothing happens when `holder` does not
    /// hold it.
    fn release_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// `monitor`'s lease if one is held and unexpired.
    fn run_lease(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Option<RunLease>, StoreError>>;
}
