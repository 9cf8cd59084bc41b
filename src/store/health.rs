//! What the store's users saw go wrong with it: how many store errors stopped a run or
//! a judgement, and which runs are waiting for the store to heal ([`StoreHealth`]).
//!
//! Every clone of a [`Store`](super::Store) shares one `StoreHealth`. The daemon's
//! pipeline records into it (one error per failed attempt of a run or of a judgement,
//! and the run it is healing); `/metrics` reads the count as
//! `balance_monitor_store_errors_total` and `/readyz` lists the runs that wait. It
//! holds no personal data: a monitor's name, a run id and the store's error message.
//! This module does no I/O and decides nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::types::RunId;

/// A run stopped by a store error, waiting for the store to take writes again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckRun {
    pub monitor: String,
    /// `None` when the store failed before the run was created.
    pub run: Option<RunId>,
    /// The last store error, as its message.
    pub error: String,
    /// When the first error of this episode was seen.
    pub since: DateTime<Utc>,
}

/// Store errors seen by the pipeline, and the runs that wait for the store to heal.
#[derive(Debug, Default)]
pub struct StoreHealth {
    errors: AtomicU64,
    /// By monitor: at most one run of a monitor is in flight. A `std::sync::Mutex`
    /// because it is held for a map operation and never across an `.await`.
    stuck: Mutex<BTreeMap<String, StuckRun>>,
}

impl StoreHealth {
    /// Counts one store error (`error`, the store's own or one wrapping it), and records that `monitor`'s run (if it has one yet)
    /// waits for the store.
    pub fn run_stopped(
        &self,
        monitor: &str,
        run: Option<RunId>,
        error: &dyn std::fmt::Display,
        now: DateTime<Utc>,
    ) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut stuck = self.lock();
        let earlier = stuck.get(monitor);
        let since = earlier.map_or(now, |earlier| earlier.since);
        let run = run.or_else(|| earlier.and_then(|earlier| earlier.run));
        stuck.insert(
            monitor.to_string(),
            StuckRun {
                monitor: monitor.to_string(),
                run,
                error: error.to_string(),
                since,
            },
        );
    }

    /// Counts one store error that stopped nothing for long (a failed check while
    /// waiting for the store, for example).
    pub fn error_seen(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// `monitor`'s run no longer waits for the store (it went on, or ended).
    pub fn run_resumed(&self, monitor: &str) {
        self.lock().remove(monitor);
    }

    /// Store errors counted since the process started.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The runs waiting for the store, by monitor name.
    pub fn stuck_runs(&self) -> Vec<StuckRun> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StuckRun>> {
        self.stuck
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use std::path::PathBuf;

    #[test]
    fn an_episode_keeps_its_start_and_run_until_the_run_resumes() {
        let health = StoreHealth::default();
        let full = StoreError::DiskFull {
            path: PathBuf::from("/var/lib/balance-monitor/state.db"),
        };
        let t0 = DateTime::<Utc>::from_timestamp(1_000, 0).unwrap();
        let t1 = DateTime::<Utc>::from_timestamp(2_000, 0).unwrap();
        health.run_stopped("daily", Some(RunId(7)), &full, t0);
        health.run_stopped("daily", None, &full, t1);
        assert_eq!(health.errors(), 2);
        let stuck = health.stuck_runs();
        assert_eq!(stuck.len(), 1);
        assert_eq!(stuck[0].run, Some(RunId(7)));
        assert_eq!(stuck[0].since, t0);
        assert!(stuck[0].error.contains("the disk is full"), "{stuck:?}");
        health.run_resumed("daily");
        assert!(health.stuck_runs().is_empty());
        assert_eq!(health.errors(), 2, "the count only grows");
    }
}
