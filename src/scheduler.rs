//! The schedule loop: when each monitor's cron slots come, and what becomes of each
//! slot — started, skipped because the previous run is still going, or recorded as
//! missed.
//!
//! What it owns:
//! - one loop per monitor (`monitor_loop.rs`), each waiting for its next slot in its
//!   own zone with [`Clock::sleep_until`] (bounded sleeps that re-read the wall clock,
//!   so clock steps and suspend are noticed within [`crate::clock::MAX_SLEEP`]);
//! - catch-up at start from the stored position, under the monitor's `catch_up` and
//!   `grace` (the rules are a pure function in `plan.rs`): the latest overdue slot may
//!   run once as a catch-up, every other overdue slot is recorded as missed, one store
//!   row and one log line per stretch;
//! - no overlap: a slot that comes while the monitor's previous run is going is recorded
//!   as skipped, neither run in parallel nor queued; a run resumed at start counts as
//!   going ([`Scheduler::hold_for_resumed_run`]), so a restart does not overlap it;
//! - exactly once per slot: the stored position moves to a slot (with the missed or
//!   skipped records, in one transaction) before the run is launched, and the store's
//!   unique (monitor, slot) refuses a second run. A slot the position reached but whose
//!   run was never created (the process stopped in between) is due again at the next
//!   start, so it is not silently lost either;
//! - the set of loops, replaced by [`Scheduler::apply`] on reload.
//!
//! What it does not own: the run (an injected [`RunLauncher`]; the daemon's calls
//! `run::execute`, and must create the run row with the trigger it is given), fire-time
//! arithmetic and daylight saving ([`crate::schedule`]), the database ([`Store`]), and
//! signals (the daemon cancels the token on SIGTERM and calls `apply` on SIGHUP).
//!
//! Concurrency:
//! - Every task (loops and runs) is spawned on the daemon's one [`TaskTracker`], and
//!   every loop stops on a child of its one [`CancellationToken`]: shutdown waits for
//!   all of them, and removing one monitor stops only its loop.
//! - Runs get the daemon's token itself, not the loop's child: a removed or changed
//!   monitor's run is not cut short, while shutdown still reaches it so it can stop at
//!   a durable step.
//! - Every wait in a loop is a `select!` with a `biased` cancel arm first. Store calls
//!   are not raced against it: a queued write commits anyway, and each is bounded by
//!   the store's busy timeout.
//! - [`Scheduler::apply`] takes `&mut self`: reloads are serialized by construction,
//!   with no lock. It stops a loop and waits for it before starting its successor, so
//!   two loops of one monitor never write its position at once.

mod monitor_loop;
mod plan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

pub use plan::{COUNT_LIMIT, ON_TIME};

use crate::clock::Clock;
use crate::config::{CatchUp, Monitor};
use crate::domain::{MonitorId, RunTrigger};
use crate::store::{Store, StoreError};
use monitor_loop::{Claim, InFlight, MonitorLoop};

/// What a launcher is asked to start: one run of one monitor for one slot.
#[derive(Clone, Debug)]
pub struct LaunchRequest {
    /// The monitor's definition at launch time (a reload that keeps the schedule but
    /// changes rules, routes or authorizers is seen by the next launch).
    pub monitor: Arc<Monitor>,
    pub monitor_id: MonitorId,
    /// `Schedule { slot }` or `CatchUp { slot }`: the trigger to create the run with.
    pub trigger: RunTrigger,
    /// The daemon's shutdown token: on cancellation the run should stop at its next
    /// durable step.
    pub shutdown: CancellationToken,
}

/// Starts runs. The daemon's launcher calls `run::execute`; tests use a fake.
///
/// The returned future is the whole run: the scheduler spawns it on the tracker and
/// considers the monitor busy (later slots are skipped) until it completes. It should
/// create the run row (`Store::create_run` with `request.trigger`) before anything
/// slow, and treat [`StoreError::SlotTaken`] as "already done".
pub trait RunLauncher: Send + Sync + 'static {
    fn launch(&self, request: LaunchRequest) -> BoxFuture<'static, ()>;
}

impl<F, Fut> RunLauncher for F
where
    F: Fn(LaunchRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn launch(&self, request: LaunchRequest) -> BoxFuture<'static, ()> {
        Box::pin(self(request))
    }
}

/// How the scheduler draws its jitter delays.
#[derive(Clone, Debug, Default)]
pub struct SchedulerOptions {
    /// Seeds each monitor's jitter generator (mixed with the monitor's name), for
    /// reproducible delays in tests. `None` seeds from the system.
    pub jitter_seed: Option<u64>,
}

/// What one monitor's loop is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorStatus {
    /// Reading its stored position and dealing with overdue slots.
    Starting,
    /// Waiting for `slot`.
    Waiting { slot: DateTime<Utc> },
    /// At `slot`, waiting out its jitter delay until `until` before launching.
    Delaying {
        slot: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// A store operation failed; retrying with a growing pause. Nothing is launched
    /// meanwhile.
    StoreUnavailable { error: String },
    /// The cron expression has no further fire time.
    Exhausted,
}

/// Every scheduled monitor's status, by name.
pub type Statuses = BTreeMap<String, MonitorStatus>;

/// What [`Scheduler::apply`] did, by monitor name (each list sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// New: their loops start from their stored position.
    pub added: Vec<String>,
    /// Schedule, zone, catch-up, grace or jitter changed: the loop was restarted and
    /// resumes from the stored position.
    pub changed: Vec<String>,
    /// Scheduling unchanged: the loop keeps going; later launches use the new
    /// definition.
    pub unchanged: Vec<String>,
    /// No longer configured: the loop stopped; a run in flight finishes.
    pub removed: Vec<String>,
}

/// Why [`Scheduler::apply`] refused a set of monitors. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("monitor `{name}` appears more than once")]
    DuplicateMonitor { name: String },

    #[error("cannot register monitor `{name}` in the store: {source}")]
    Store {
        name: String,
        #[source]
        source: StoreError,
    },
}

/// A monitor kept busy by a run its scheduler did not launch (one resumed at start):
/// while this lives, the monitor's slots are skipped as during its own runs. Drop it
/// when that run ends.
#[derive(Debug)]
pub struct MonitorBusy {
    _claim: Claim,
}

/// The monitors' schedule loops.
///
/// Dropping a `Scheduler` stops its loops (their runs go on); [`Scheduler::stop`] does
/// the same and waits for the loops to end.
pub struct Scheduler {
    // What the loops read and write by.
    store: Store,
    clock: Clock,
    options: SchedulerOptions,
    // Where a due slot goes.
    launcher: Arc<dyn RunLauncher>,
    // What owns the loops' tasks, and what stops them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
    status: watch::Sender<Statuses>,
    loops: HashMap<String, LoopHandle>,
    /// Kept across reloads, so a restarted loop sees its predecessor's run.
    in_flight: HashMap<String, Arc<InFlight>>,
}

struct LoopHandle {
    id: MonitorId,
    key: ScheduleKey,
    definition: watch::Sender<Arc<Monitor>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The fields of a monitor that its loop depends on: a change restarts the loop.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ScheduleKey {
    expression: String,
    zone: chrono_tz::Tz,
    catch_up: CatchUp,
    grace: Duration,
    jitter: Duration,
}

impl ScheduleKey {
    fn of(monitor: &Monitor) -> ScheduleKey {
        ScheduleKey {
            expression: monitor.schedule.expression().to_string(),
            zone: monitor.schedule.zone(),
            catch_up: monitor.catch_up,
            grace: monitor.grace,
            jitter: monitor.jitter,
        }
    }
}

impl Scheduler {
    /// A scheduler with no monitors yet; call [`Scheduler::apply`]. Its loops and runs
    /// are spawned on `tracker` and stop when `shutdown` is cancelled.
    pub fn new(
        store: Store,
        clock: Clock,
        launcher: Arc<dyn RunLauncher>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
        options: SchedulerOptions,
    ) -> Scheduler {
        Scheduler {
            store,
            clock,
            launcher,
            shutdown,
            tracker,
            options,
            status: watch::Sender::new(Statuses::new()),
            loops: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    /// Makes `monitors` the scheduled set. Monitors whose scheduling is unchanged keep
    /// their loop (and get the new definition for later launches); removed ones stop
    /// scheduling; changed and new ones start from their stored position, catch-up
    /// included. Runs in flight are never cut short.
    ///
    /// Every new or changed monitor is registered in the store before anything is
    /// changed, so on error the previous set keeps running untouched.
    pub async fn apply(&mut self, monitors: &[Monitor]) -> Result<ApplySummary, SchedulerError> {
        let mut seen = HashSet::new();
        for monitor in monitors {
            if !seen.insert(monitor.name.as_str()) {
                return Err(SchedulerError::DuplicateMonitor {
                    name: monitor.name.clone(),
                });
            }
        }
        let mut summary = ApplySummary::default();
        let mut to_start = Vec::new();
        for monitor in monitors {
            let key = ScheduleKey::of(monitor);
            match self.loops.get(&monitor.name) {
                Some(running) if running.key == key => {
                    summary.unchanged.push(monitor.name.clone());
                }
                existing => {
                    let id = match existing {
                        Some(running) => {
                            summary.changed.push(monitor.name.clone());
                            running.id
                        }
                        None => {
                            summary.added.push(monitor.name.clone());
                            self.store
                                .ensure_monitor(&monitor.name)
                                .await
                                .map_err(|source| SchedulerError::Store {
                                    name: monitor.name.clone(),
                                    source,
                                })?
                        }
                    };
                    to_start.push((id, monitor));
                }
            }
        }
        summary.removed = self
            .loops
            .keys()
            .filter(|name| !seen.contains(name.as_str()))
            .cloned()
            .collect();

        // Stop first, all at once, then wait: a loop stops at its next await point.
        let stopping: Vec<String> = summary
            .removed
            .iter()
            .chain(&summary.changed)
            .cloned()
            .collect();
        let mut handles = Vec::new();
        for name in &stopping {
            if let Some(running) = self.loops.remove(name) {
                running.stop.cancel();
                handles.push((name, running.task));
            }
        }
        for (name, task) in handles {
            if let Err(error) = task.await {
                error!(monitor = %name, %error, "a schedule loop ended abnormally");
            }
        }
        self.status.send_modify(|statuses| {
            for name in &summary.removed {
                statuses.remove(name);
            }
        });
        for monitor in monitors {
            if let Some(running) = self.loops.get(&monitor.name) {
                running.definition.send_replace(Arc::new(monitor.clone()));
            }
        }
        for (id, monitor) in to_start {
            self.start_loop(id, monitor);
        }
        // Forget the idle bookkeeping of monitors that are gone; a busy one is kept so
        // that, if it comes back, it still cannot overlap its own run.
        let loops = &self.loops;
        self.in_flight
            .retain(|name, in_flight| loops.contains_key(name) || !in_flight.is_idle());

        for list in [
            &mut summary.added,
            &mut summary.changed,
            &mut summary.unchanged,
            &mut summary.removed,
        ] {
            list.sort();
        }
        info!(
            added = %crate::text::names(&summary.added),
            changed = %crate::text::names(&summary.changed),
            unchanged = summary.unchanged.len(),
            removed = %crate::text::names(&summary.removed),
            "schedule applied"
        );
        Ok(summary)
    }

    /// Marks `monitor` busy with the run of `slot` that a previous process started
    /// and this one resumes, so that no slot starts a run beside it: runs of one
    /// monitor do not overlap across a restart either. Call it before [`apply`] starts
    /// the monitor's loop. `None` if the monitor is busy already.
    ///
    /// [`apply`]: Scheduler::apply
    pub fn hold_for_resumed_run(
        &mut self,
        monitor: &str,
        slot: DateTime<Utc>,
    ) -> Option<MonitorBusy> {
        let in_flight = self.in_flight.entry(monitor.to_string()).or_default();
        let claim = in_flight.try_claim(slot).ok()?;
        Some(MonitorBusy { _claim: claim })
    }

    fn start_loop(&mut self, id: MonitorId, monitor: &Monitor) {
        let name = monitor.name.clone();
        let stop = self.shutdown.child_token();
        let (definition, definition_receiver) = watch::channel(Arc::new(monitor.clone()));
        let in_flight = Arc::clone(self.in_flight.entry(name.clone()).or_default());
        let rng = match self.options.jitter_seed {
            Some(seed) => fastrand::Rng::with_seed(seed ^ stable_hash(&name)),
            None => fastrand::Rng::new(),
        };
        self.status.send_modify(|statuses| {
            statuses.insert(name.clone(), MonitorStatus::Starting);
        });
        let monitor_loop = MonitorLoop {
            name: name.clone(),
            id,
            schedule: monitor.schedule.clone(),
            policy: plan::Policy {
                catch_up: monitor.catch_up,
                grace: monitor.grace,
            },
            jitter: monitor.jitter,
            definition: definition_receiver,
            store: self.store.clone(),
            clock: self.clock.clone(),
            launcher: Arc::clone(&self.launcher),
            stop: stop.clone(),
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
            in_flight,
            status: self.status.clone(),
            rng,
        };
        let task = self.tracker.spawn(monitor_loop.run());
        self.loops.insert(
            name,
            LoopHandle {
                id,
                key: ScheduleKey::of(monitor),
                definition,
                stop,
                task,
            },
        );
    }

    /// The names of the scheduled monitors, sorted.
    pub fn monitors(&self) -> Vec<String> {
        let mut names: Vec<String> = self.loops.keys().cloned().collect();
        names.sort();
        names
    }

    /// Every loop's status, updated as it changes (for the health endpoint, and for
    /// tests to know when a loop has settled).
    pub fn statuses(&self) -> watch::Receiver<Statuses> {
        self.status.subscribe()
    }

    /// Stops every loop and waits for them to end. Runs in flight go on (on the
    /// tracker, under the shutdown token).
    pub async fn stop(mut self) {
        let loops: Vec<(String, LoopHandle)> = self.loops.drain().collect();
        for (_, running) in &loops {
            running.stop.cancel();
        }
        for (name, running) in loops {
            if let Err(error) = running.task.await {
                error!(monitor = %name, %error, "a schedule loop ended abnormally");
            }
        }
    }
}

impl Drop for Scheduler {
    /// Loops that no `Scheduler` can reload any more would be orphans: stop them.
    fn drop(&mut self) {
        for running in self.loops.values() {
            running.stop.cancel();
        }
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("monitors", &self.monitors())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// FNV-1a: a hash that is the same in every process, for seeding (std's is not).
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn a_closure_is_a_launcher_and_apply_can_run_on_any_worker() {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let sender = std::sync::Mutex::new(Some(sender));
        let launcher: Arc<dyn RunLauncher> = Arc::new(move |request: LaunchRequest| {
            let sender = sender.lock().unwrap().take();
            async move {
                if let Some(sender) = sender {
                    let _ = sender.send(request.trigger);
                }
            }
        });
        let slot = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let monitor = crate::config::Monitor {
            name: "m".to_string(),
            schedule: crate::schedule::Schedule::parse("0 * * * *", chrono_tz::UTC).unwrap(),
            catch_up: CatchUp::Skip,
            grace: Duration::ZERO,
            jitter: Duration::ZERO,
            authorizers: crate::config::AuthorizerSource::Inline(Vec::new()),
            rules: Vec::new(),
            routes: Vec::new(),
            repeat_interval: Duration::ZERO,
            send_resolved: false,
            alert_fields: Vec::new(),
            alert_labels: Vec::new(),
            debits: None,
        };
        launcher
            .launch(LaunchRequest {
                monitor: Arc::new(monitor.clone()),
                monitor_id: MonitorId(1),
                trigger: RunTrigger::CatchUp { slot },
                shutdown: CancellationToken::new(),
            })
            .await;
        assert_eq!(receiver.await.unwrap(), RunTrigger::CatchUp { slot });

        // The daemon calls `apply` from a signal-handling task on the multi-threaded
        // runtime: its future must be `Send`.
        let directory = tempfile::tempdir().unwrap();
        let store = Store::open(directory.path().join("state.db")).unwrap();
        let mut scheduler = Scheduler::new(
            store,
            Clock::system(),
            launcher,
            CancellationToken::new(),
            TaskTracker::new(),
            SchedulerOptions::default(),
        );
        let monitors = [monitor];
        let apply = scheduler.apply(&monitors);
        assert_send(&apply);
        assert_eq!(apply.await.unwrap().added, ["m"]);
    }

    #[test]
    fn the_seed_hash_is_stable_across_processes() {
        // FNV-1a test vectors.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
