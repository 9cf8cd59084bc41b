//! The run lease a run holds on its monitor while it lives, so that two runs of one
//! monitor never overlap, whether they are started by one process or by two (`run-now`
//! beside the daemon).
//!
//! [`MonitorLease::take`] takes the monitor's lease in the store (one transaction that
//! refuses while another unexpired holder has it) for [`LEASE_TTL`]; a task renews it
//! every [`RENEW_EVERY`] while the run lives, and releases it when the run ends or stops
//! (or when the guard is dropped). A process that dies stops renewing, and its lease
//! expires; a new process on the same host replaces at once a lease whose holder it can
//! see is dead (its pid is gone), and at once a lease of a daemon that led in an
//! earlier leadership epoch ([`Superseded`]: its writes are fenced). The holder is this
//! process's identity: host, pid and a random part drawn once ([`holder`]).
//!
//! This module owns taking, renewing and releasing; the store owns the row and its
//! clock (`store::RunLeases`), and the caller decides what a refusal means (`run-now`
//! refuses, a scheduled slot is skipped, a resumed run waits).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::domain::{MonitorId, RunId};
use crate::store::{LeaseRequest, LeaseTake, RunLease, Store, StoreError};

/// How long a lease lasts without renewal: how long a monitor whose run's process died
/// (on another host, or unseen) stays busy.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// How often a live run renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(20);

/// How often a resumed run asks again for a lease another live process holds.
const WAIT_POLL: Duration = Duration::from_secs(5);

/// Holders this process knows to have led the daemons in an earlier leadership epoch:
/// the store refuses their writes (they are fenced), so a run lease one of them holds
/// covers a run that can no longer write, and is taken over at once rather than waited
/// out. Shared by every clone; the daemon adds to it when it takes the leadership.
#[derive(Clone, Debug, Default)]
pub struct Superseded(Arc<Mutex<HashSet<String>>>);

impl Superseded {
    /// Adds `holder`, unless it is this process.
    pub fn add(&self, holder: &str) {
        if holder != self::holder() {
            // std's mutex: held for an insert or a lookup, never across an `.await`.
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(holder.to_string());
        }
    }

    fn contains(&self, holder: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(holder)
    }
}

/// The monitor is busy: another holder's unexpired lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorBusy {
    pub monitor: String,
    /// The run in progress, once its holder has created it.
    pub run: Option<RunId>,
    /// When the lease was taken (the run in progress started then or just after).
    pub since: DateTime<Utc>,
}

impl std::fmt::Display for MonitorBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self.since.format("%Y-%m-%d %H:%M:%S UTC");
        match self.run {
            Some(run) => write!(
                f,
                "monitor {} has run {} in progress (started {since}); try again when it ends",
                self.monitor, run.0
            ),
            None => write!(
                f,
                "monitor {} has a run starting (since {since}); try again when it ends",
                self.monitor
            ),
        }
    }
}

/// A held lease. Drop it, or better [`MonitorLease::release`] it, when the run ends.
#[derive(Debug)]
pub struct MonitorLease {
    store: Store,
    monitor: MonitorId,
    stop: CancellationToken,
    renewer: Option<JoinHandle<()>>,
}

/// This process's holder identity: `host pid N (random)`, drawn once.
pub fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        format!(
            "{} pid {} ({:016x})",
            host_name(),
            std::process::id(),
            fastrand::u64(..)
        )
    })
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty() && !name.contains(" pid "))
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether `other` names a process on this host that is certainly gone: its pid is
/// ours (so it was a previous process with our pid), or no live process has it.
fn holder_is_dead(other: &str) -> bool {
    let Some((host, rest)) = other.split_once(" pid ") else {
        return false;
    };
    let Some((pid, _)) = rest.split_once(' ') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if host != host_name() || other == holder() {
        return false;
    }
    if pid == std::process::id() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: Z (zombie) and X (dead)
        // are processes that no longer run.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        // No /proc entry: gone, if this system has /proc at all.
        Err(_) => std::path::Path::new("/proc/self/stat").exists(),
    }
}

impl MonitorLease {
    /// Takes `monitor`'s lease, or says which run holds it. `resuming` is the run the
    /// caller is about to drive again, if any: a lease this process holds for that run
    /// (or for no run yet) is its own, left behind when a store error kept it from being
    /// released, and is taken over at once rather than waited out.
    pub async fn take(
        store: &Store,
        monitor: MonitorId,
        monitor_name: &str,
        resuming: Option<RunId>,
        superseded: &Superseded,
    ) -> Result<Result<MonitorLease, MonitorBusy>, StoreError> {
        let mut replacing = None;
        loop {
            match store
                .take_run_lease(
                    LeaseRequest::new(monitor, holder(), LEASE_TTL).replacing(replacing.take()),
                )
                .await?
            {
                LeaseTake::Taken { .. } => return Ok(Ok(MonitorLease::start(store, monitor))),
                LeaseTake::Held(lease)
                    if resuming.is_some()
                        && lease.holder == holder()
                        && (lease.run.is_none() || lease.run == resuming) =>
                {
                    tracing::info!(monitor = %monitor_name, run = lease.run.map(|run| run.0), "taking back this process's own run lease, which a store error kept from being released");
                    replacing = Some(lease.holder);
                }
                LeaseTake::Held(lease) if superseded.contains(&lease.holder) => {
                    tracing::warn!(monitor = %monitor_name, run = lease.run.map(|run| run.0), "the monitor's run lease is held by a daemon that led in an earlier epoch; taking it over");
                    replacing = Some(lease.holder);
                }
                LeaseTake::Held(lease) if holder_is_dead(&lease.holder) => {
                    tracing::warn!(monitor = %monitor_name, run = lease.run.map(|run| run.0), "the monitor's run lease is held by a process that is gone; taking it over");
                    replacing = Some(lease.holder);
                }
                LeaseTake::Held(RunLease { run, taken_at, .. }) => {
                    return Ok(Err(MonitorBusy {
                        monitor: monitor_name.to_string(),
                        run,
                        since: taken_at,
                    }));
                }
            }
        }
    }

    /// Takes `monitor`'s lease, waiting while another live process holds it. `None`
    /// when `cancel` fires first.
    pub async fn take_waiting(
        store: &Store,
        monitor: MonitorId,
        monitor_name: &str,
        resuming: RunId,
        superseded: &Superseded,
        cancel: &CancellationToken,
    ) -> Result<Option<MonitorLease>, StoreError> {
        let mut logged = false;
        loop {
            match MonitorLease::take(store, monitor, monitor_name, Some(resuming), superseded)
                .await?
            {
                Ok(lease) => return Ok(Some(lease)),
                Err(busy) if !logged => {
                    tracing::info!(monitor = %monitor_name, "{busy}: waiting for it");
                    logged = true;
                }
                Err(_) => {}
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(None),
                _ = tokio::time::sleep(WAIT_POLL) => {}
            }
        }
    }

    fn start(store: &Store, monitor: MonitorId) -> MonitorLease {
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(store.clone(), monitor, stop.clone()));
        MonitorLease {
            store: store.clone(),
            monitor,
            stop,
            renewer: Some(renewer),
        }
    }

    /// Records the run the lease covers, so that a refused run can name it.
    pub async fn cover(&self, run: RunId) -> Result<(), StoreError> {
        self.store
            .set_run_lease_run(self.monitor, holder().to_string(), run)
            .await?;
        Ok(())
    }

    /// Stops renewing and releases the lease, waiting until the store has it.
    pub async fn release(mut self) {
        self.stop.cancel();
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.await;
        }
    }
}

impl Drop for MonitorLease {
    /// The renewing task releases the lease once stopped.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Renews the lease until `stop`, then releases it.
async fn renew(store: Store, monitor: MonitorId, stop: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(RENEW_EVERY) => {}
        }
        match store
            .renew_run_lease(monitor, holder().to_string(), LEASE_TTL)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(
                    monitor = monitor.0,
                    "this run's monitor lease expired and was taken by another process: two runs of the monitor may overlap"
                );
            }
            Err(error) => {
                tracing::warn!(monitor = monitor.0, %error, "the run lease could not be renewed; trying again");
            }
        }
    }
    if let Err(error) = store.release_run_lease(monitor, holder().to_string()).await {
        tracing::warn!(monitor = monitor.0, %error, "the run lease could not be released; it expires by itself");
    }
}
