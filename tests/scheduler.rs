//! The scheduler on paused tokio time, with a real SQLite store in a temporary
//! directory and a fake launcher that records each launch, creates the run row as the
//! real one will, and can hold a run until the test releases it.
//!
//! Time: the wall clock is `Clock::following_tokio`, and paused time moves only when a
//! test calls `advance_to`. Every other await goes through `settle`, which keeps a
//! blocking task alive while it waits. Tokio documents that a running `spawn_blocking`
//! task stops paused time from auto-advancing; without it, the runtime would jump to the
//! next timer whenever it sat idle waiting for the store's writer thread (an OS thread
//! tokio knows nothing of), and schedules would race ahead of the test. `settle` is
//! also the hang guard: it fails the test after `support::paused::GUARD` of real time. Nothing sleeps to
//! synchronize; tests know a loop has settled from its published status.
//!
//! A test waits for a run to finish before moving time to its monitor's next slot. The
//! fake's `create_run` takes real time on the writer thread while paused time can jump a
//! day at once; without the wait the run is still going at the next slot, which is then
//! (rightly) skipped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::config::{AuthorizerSource, CatchUp, Monitor};
use balance_monitor::schedule::Schedule;
use balance_monitor::scheduler::{
    ApplySummary, LaunchRequest, MonitorStatus, RunLauncher, Scheduler, SchedulerError,
    SchedulerOptions, Statuses,
};
use balance_monitor::store::{
    MonitorId, NewRun, RunTrigger, SlotEvent, SlotOutcome, Store, StoreError,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::support::paused::{advance_to, settle};

const HOUR: Duration = Duration::from_secs(3600);

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn monitor(name: &str, cron: &str, zone: Tz, catch_up: CatchUp, grace: Duration) -> Monitor {
    Monitor {
        name: name.to_string(),
        schedule: Schedule::parse(cron, zone).unwrap(),
        catch_up,
        grace,
        jitter: Duration::ZERO,
        authorizers: AuthorizerSource::Inline(Vec::new()),
        rules: Vec::new(),
        routes: Vec::new(),
        repeat_interval: Duration::from_secs(86_400),
        send_resolved: true,
        alert_fields: Vec::new(),
        alert_labels: Vec::new(),
        debits: None,
    }
}

fn hourly(name: &str) -> Monitor {
    monitor(name, "0 * * * *", chrono_tz::UTC, CatchUp::RunOnce, HOUR)
}

// ---------------------------------------------------------------------------------
// The fake launcher

/// One call to the launcher.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Launch {
    monitor: String,
    trigger: RunTrigger,
    /// The wall clock when the launcher was called.
    at: DateTime<Utc>,
    routes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Completed,
    /// The shutdown token was cancelled while the run was held.
    Cancelled,
    /// The store already had a run for the slot: a second launch of one slot.
    SlotTaken,
    /// Simulated crash: the run row was never created.
    Vanished,
}

#[derive(Debug)]
struct Finished {
    monitor: String,
    slot: DateTime<Utc>,
    ending: Ending,
}

struct FakeLauncher {
    store: Store,
    clock: Clock,
    launches: mpsc::UnboundedSender<Launch>,
    finished: mpsc::UnboundedSender<Finished>,
    /// Monitors whose runs wait for `release` (or shutdown) before ending.
    slow: Mutex<HashSet<String>>,
    /// Monitors whose runs end without creating their row, as if the process died.
    vanishing: Mutex<HashSet<String>>,
    /// Monitors whose runs wait for `release` before creating their row.
    slow_to_start: Mutex<HashSet<String>>,
    release: Arc<Notify>,
}

impl RunLauncher for FakeLauncher {
    fn launch(&self, request: LaunchRequest) -> BoxFuture<'static, ()> {
        let name = request.monitor.name.clone();
        self.launches
            .send(Launch {
                monitor: name.clone(),
                trigger: request.trigger,
                at: self.clock.now(),
                routes: request.monitor.routes.clone(),
            })
            .unwrap();
        let slow = self.slow.lock().unwrap().contains(&name);
        let vanishing = self.vanishing.lock().unwrap().contains(&name);
        let slow_to_start = self.slow_to_start.lock().unwrap().contains(&name);
        let store = self.store.clone();
        let finished = self.finished.clone();
        let release = Arc::clone(&self.release);
        Box::pin(async move {
            let slot = request.trigger.slot().unwrap();
            if slow_to_start {
                release.notified().await;
            }
            let ending = if vanishing {
                Ending::Vanished
            } else {
                let created = store
                    .create_run(NewRun {
                        created_at: chrono::Utc::now(),
                        monitor: request.monitor_id,
                        trigger: request.trigger,
                    })
                    .await;
                match created {
                    Err(StoreError::SlotTaken { .. }) => Ending::SlotTaken,
                    Err(error) => panic!("create_run: {error}"),
                    Ok(_) if slow => {
                        tokio::select! {
                            () = release.notified() => Ending::Completed,
                            () = request.shutdown.cancelled() => Ending::Cancelled,
                        }
                    }
                    Ok(_) => Ending::Completed,
                }
            };
            let _ = finished.send(Finished {
                monitor: name,
                slot,
                ending,
            });
        })
    }
}

// ---------------------------------------------------------------------------------
// The harness

struct Harness {
    _directory: tempfile::TempDir,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    launcher: Arc<FakeLauncher>,
    launches: mpsc::UnboundedReceiver<Launch>,
    finished: mpsc::UnboundedReceiver<Finished>,
}

impl Harness {
    /// A fresh store, and a wall clock reading `start` that follows paused time.
    fn start_at(start: &str) -> Harness {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::open(directory.path().join("state.db")).unwrap();
        let clock = Clock::following_tokio(utc(start));
        let (launches_tx, launches) = mpsc::unbounded_channel();
        let (finished_tx, finished) = mpsc::unbounded_channel();
        let launcher = Arc::new(FakeLauncher {
            store: store.clone(),
            clock: clock.clone(),
            launches: launches_tx,
            finished: finished_tx,
            slow: Mutex::default(),
            vanishing: Mutex::default(),
            slow_to_start: Mutex::default(),
            release: Arc::new(Notify::new()),
        });
        Harness {
            _directory: directory,
            store,
            clock,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            launcher,
            launches,
            finished,
        }
    }

    fn scheduler(&self) -> Scheduler {
        self.scheduler_with(SchedulerOptions::default())
    }

    fn scheduler_with(&self, options: SchedulerOptions) -> Scheduler {
        let launcher: Arc<dyn RunLauncher> = self.launcher.clone();
        Scheduler::new(
            self.store.clone(),
            self.clock.clone(),
            launcher,
            self.shutdown.clone(),
            self.tracker.clone(),
            options,
        )
    }

    async fn apply(&self, scheduler: &mut Scheduler, monitors: &[Monitor]) -> ApplySummary {
        settle("apply", scheduler.apply(monitors)).await.unwrap()
    }

    async fn next_launch(&mut self) -> Launch {
        settle("a launch", self.launches.recv())
            .await
            .expect("the launcher is alive")
    }

    async fn next_finished(&mut self) -> Finished {
        settle("a run to finish", self.finished.recv())
            .await
            .expect("the launcher is alive")
    }

    fn assert_no_launch(&mut self) {
        match self.launches.try_recv() {
            Err(mpsc::error::TryRecvError::Empty) => {}
            other => panic!("expected no launch, got {other:?}"),
        }
    }

    async fn monitor_id(&self, name: &str) -> MonitorId {
        settle("ensure_monitor", self.store.ensure_monitor(name))
            .await
            .unwrap()
    }

    /// The stretches recorded for `name`: (outcome, first slot, last slot, count).
    async fn events(&self, name: &str) -> Vec<(SlotOutcome, DateTime<Utc>, DateTime<Utc>, u64)> {
        let id = self.monitor_id(name).await;
        settle("schedule_events", self.store.schedule_events(id))
            .await
            .unwrap()
            .into_iter()
            .map(|event| {
                (
                    event.slots.outcome,
                    event.slots.first_slot,
                    event.slots.last_slot,
                    event.slots.slot_count,
                )
            })
            .collect()
    }

    /// Stores what a previous process left behind after running `slot` of `name`.
    async fn previous_process_ran(&self, name: &str, slot: DateTime<Utc>) {
        let id = self.monitor_id(name).await;
        let trigger = RunTrigger::Schedule { slot };
        settle(
            "create_run",
            self.store.create_run(NewRun {
                created_at: chrono::Utc::now(),
                monitor: id,
                trigger,
            }),
        )
        .await
        .unwrap();
        let moved = settle(
            "advance_schedule",
            self.store.advance_schedule(id, slot, Vec::new()),
        )
        .await
        .unwrap();
        assert!(moved);
    }

    fn make_slow(&self, name: &str) {
        self.launcher.slow.lock().unwrap().insert(name.to_string());
    }

    fn release_one_run(&self) {
        self.launcher.release.notify_one();
    }

    /// Cancels everything and waits for every loop and run to end.
    async fn shut_down(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        settle("every task to end", self.tracker.wait()).await;
    }
}

/// Waits until every named loop waits for the given slot.
async fn waiting(statuses: &mut watch::Receiver<Statuses>, expected: &[(&str, DateTime<Utc>)]) {
    let what = format!("loops waiting for {expected:?}");
    settle(
        &what,
        statuses.wait_for(|statuses| {
            expected.iter().all(|(name, slot)| {
                statuses.get(*name) == Some(&MonitorStatus::Waiting { slot: *slot })
            })
        }),
    )
    .await
    .map(|_| ())
    .unwrap_or_else(|_| panic!("{what}: the scheduler is gone"));
}

fn scheduled(slot: &str) -> RunTrigger {
    RunTrigger::Schedule { slot: utc(slot) }
}

// ---------------------------------------------------------------------------------
// Daylight saving

#[tokio::test(start_paused = true)]
async fn spring_forward_a_slot_in_the_skipped_hour_fires_once_at_three_edt() {
    // 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    let mut harness = Harness::start_at("2026-03-08T04:00:00Z");
    let mut scheduler = harness.scheduler();
    let mut statuses = scheduler.statuses();
    let daily = monitor(
        "ny",
        "30 2 * * *",
        chrono_tz::America::New_York,
        CatchUp::RunOnce,
        HOUR,
    );
    harness.apply(&mut scheduler, &[daily]).await;

    waiting(&mut statuses, &[("ny", utc("2026-03-08T07:00:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-03-08T07:00:00Z")).await;
    let launch = harness.next_launch().await;
    assert_eq!(
        launch.trigger,
        scheduled("2026-03-08T07:00:00Z"),
        "03:00 EDT"
    );
    assert_eq!(launch.at, utc("2026-03-08T07:00:00Z"));
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);

    // The next one is 02:30 EDT the next day; nothing else in between.
    waiting(&mut statuses, &[("ny", utc("2026-03-09T06:30:00Z"))]).await;
    harness.assert_no_launch();
    advance_to(&harness.clock, utc("2026-03-09T06:30:00Z")).await;
    assert_eq!(
        harness.next_launch().await.trigger,
        scheduled("2026-03-09T06:30:00Z")
    );
    assert_eq!(harness.events("ny").await, Vec::new());
    harness.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn fall_back_a_slot_in_the_repeated_hour_fires_once_not_twice() {
    // 2026-11-01 in New York: 01:00-02:00 happens twice (EDT, then EST).
    let mut harness = Harness::start_at("2026-11-01T04:00:00Z");
    let mut scheduler = harness.scheduler();
    let mut statuses = scheduler.statuses();
    let daily = monitor(
        "ny",
        "30 1 * * *",
        chrono_tz::America::New_York,
        CatchUp::RunOnce,
        HOUR,
    );
    harness.apply(&mut scheduler, &[daily]).await;

    waiting(&mut statuses, &[("ny", utc("2026-11-01T05:30:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-11-01T05:30:00Z")).await;
    let launch = harness.next_launch().await;
    assert_eq!(
        launch.trigger,
        scheduled("2026-11-01T05:30:00Z"),
        "01:30 EDT"
    );
    assert_eq!(launch.at, utc("2026-11-01T05:30:00Z"));
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);

    // Past 01:30 EST (06:30Z): the loop waits for the next day, and the next launch
    // is the next day's, so the repeated 01:30 never fired.
    waiting(&mut statuses, &[("ny", utc("2026-11-02T06:30:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-11-01T06:30:00Z")).await;
    waiting(&mut statuses, &[("ny", utc("2026-11-02T06:30:00Z"))]).await;
    harness.assert_no_launch();
    advance_to(&harness.clock, utc("2026-11-02T06:30:00Z")).await;
    let launch = harness.next_launch().await;
    assert_eq!(launch.trigger, scheduled("2026-11-02T06:30:00Z"));
    assert_eq!(harness.events("ny").await, Vec::new());
    harness.shut_down().await;
}

// ---------------------------------------------------------------------------------
// Catch-up at start

#[tokio::test(start_paused = true)]
async fn catch_up_after_three_hours_down_follows_the_policy() {
    // The previous process ran 06:00 and died; it is started again at `now`. The
    // slots 07:00, 08:00 and 09:00 passed meanwhile.
    struct Case {
        now: &'static str,
        catch_up: CatchUp,
        grace: Duration,
        launch: Option<RunTrigger>,
        missed: (&'static str, &'static str, u64),
        reason: &'static str,
    }
    let table = [
        Case {
            now: "2026-06-01T09:10:00Z",
            catch_up: CatchUp::RunOnce,
            grace: HOUR / 2,
            launch: Some(RunTrigger::CatchUp {
                slot: utc("2026-06-01T09:00:00Z"),
            }),
            missed: ("2026-06-01T07:00:00Z", "2026-06-01T08:00:00Z", 2),
            reason: "only the latest overdue slot is run",
        },
        Case {
            now: "2026-06-01T09:10:00Z",
            catch_up: CatchUp::Skip,
            grace: HOUR / 2,
            launch: None,
            missed: ("2026-06-01T07:00:00Z", "2026-06-01T09:00:00Z", 3),
            reason: "catch_up is skip",
        },
        Case {
            now: "2026-06-01T09:45:00Z",
            catch_up: CatchUp::RunOnce,
            grace: HOUR / 2,
            launch: None,
            missed: ("2026-06-01T07:00:00Z", "2026-06-01T09:00:00Z", 3),
            reason: "past the 30m grace",
        },
    ];
    for case in table {
        let label = format!("{:?} at {}", case.catch_up, case.now);
        let mut harness = Harness::start_at(case.now);
        harness
            .previous_process_ran("m", utc("2026-06-01T06:00:00Z"))
            .await;
        let mut scheduler = harness.scheduler();
        let mut statuses = scheduler.statuses();
        let hourly = monitor("m", "0 * * * *", chrono_tz::UTC, case.catch_up, case.grace);
        harness.apply(&mut scheduler, &[hourly]).await;
        waiting(&mut statuses, &[("m", utc("2026-06-01T10:00:00Z"))]).await;

        if let Some(trigger) = case.launch {
            let launch = harness.next_launch().await;
            assert_eq!(launch.trigger, trigger, "{label}");
            assert_eq!(launch.at, utc(case.now), "{label}: at start");
            assert_eq!(harness.next_finished().await.ending, Ending::Completed);
        }
        harness.assert_no_launch();
        let (first, last, count) = case.missed;
        assert_eq!(
            harness.events("m").await,
            vec![(SlotOutcome::Missed, utc(first), utc(last), count)],
            "{label}"
        );
        let id = harness.monitor_id("m").await;
        let event = &settle("events", harness.store.schedule_events(id))
            .await
            .unwrap()[0];
        assert!(
            event
                .slots
                .reason
                .contains("balance-monitor was not running")
                && event.slots.reason.contains(case.reason),
            "{label}: {}",
            event.slots.reason
        );

        // Back to normal: the next slot runs on time.
        advance_to(&harness.clock, utc("2026-06-01T10:00:00Z")).await;
        assert_eq!(
            harness.next_launch().await.trigger,
            scheduled("2026-06-01T10:00:00Z"),
            "{label}"
        );
        harness.shut_down().await;
    }
}

// ---------------------------------------------------------------------------------
// No overlap

#[tokio::test(start_paused = true)]
async fn a_slot_that_comes_while_the_previous_run_is_going_is_skipped_and_the_next_runs() {
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    harness.make_slow("m");
    let mut scheduler = harness.scheduler();
    let mut statuses = scheduler.statuses();
    harness.apply(&mut scheduler, &[hourly("m")]).await;

    waiting(&mut statuses, &[("m", utc("2026-06-01T10:00:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-06-01T10:00:00Z")).await;
    assert_eq!(
        harness.next_launch().await.trigger,
        scheduled("2026-06-01T10:00:00Z")
    );

    // 11:00 comes while the 10:00 run is still going.
    waiting(&mut statuses, &[("m", utc("2026-06-01T11:00:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-06-01T11:00:00Z")).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T12:00:00Z"))]).await;
    harness.assert_no_launch();
    let eleven = utc("2026-06-01T11:00:00Z");
    assert_eq!(
        harness.events("m").await,
        vec![(SlotOutcome::Skipped, eleven, eleven, 1)]
    );
    let id = harness.monitor_id("m").await;
    let reason = settle("events", harness.store.schedule_events(id))
        .await
        .unwrap()[0]
        .slots
        .reason
        .clone();
    assert!(
        reason.contains("2026-06-01 10:00:00 UTC was still going"),
        "{reason}"
    );

    // The 10:00 run ends; 12:00 runs normally.
    harness.release_one_run();
    let finished = harness.next_finished().await;
    assert_eq!(
        (finished.slot, finished.ending),
        (utc("2026-06-01T10:00:00Z"), Ending::Completed)
    );
    advance_to(&harness.clock, utc("2026-06-01T12:00:00Z")).await;
    assert_eq!(
        harness.next_launch().await.trigger,
        scheduled("2026-06-01T12:00:00Z")
    );
    harness.release_one_run();
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);
    harness.shut_down().await;
}

// ---------------------------------------------------------------------------------
// Several zones

#[tokio::test(start_paused = true)]
async fn monitors_in_new_york_london_and_tokyo_fire_at_their_own_utc_instants() {
    // 09:00 local in three zones across 2026-03-29, when London moves to summer time
    // (New York already has; Tokyo has none).
    let mut harness = Harness::start_at("2026-03-27T12:00:00Z");
    let mut scheduler = harness.scheduler();
    let mut statuses = scheduler.statuses();
    let zones = [
        ("new-york", chrono_tz::America::New_York),
        ("london", chrono_tz::Europe::London),
        ("tokyo", chrono_tz::Asia::Tokyo),
    ];
    let monitors: Vec<Monitor> = zones
        .iter()
        .map(|(name, zone)| monitor(name, "0 9 * * *", *zone, CatchUp::RunOnce, HOUR))
        .collect();
    harness.apply(&mut scheduler, &monitors).await;

    let expected = [
        ("new-york", "2026-03-27T13:00:00Z"),
        ("tokyo", "2026-03-28T00:00:00Z"),
        ("london", "2026-03-28T09:00:00Z"),
        ("new-york", "2026-03-28T13:00:00Z"),
        ("tokyo", "2026-03-29T00:00:00Z"),
        ("london", "2026-03-29T08:00:00Z"),
        ("new-york", "2026-03-29T13:00:00Z"),
    ];
    for (name, slot) in expected {
        settle(
            "every loop waiting",
            statuses.wait_for(|statuses| {
                statuses.len() == 3
                    && statuses
                        .values()
                        .all(|status| matches!(status, MonitorStatus::Waiting { .. }))
            }),
        )
        .await
        .unwrap();
        advance_to(&harness.clock, utc(slot)).await;
        let launch = harness.next_launch().await;
        assert_eq!(
            (launch.monitor.as_str(), launch.trigger, launch.at),
            (name, scheduled(slot), utc(slot))
        );
        let finished = harness.next_finished().await;
        assert_eq!(
            (finished.monitor.as_str(), finished.ending),
            (name, Ending::Completed)
        );
    }
    waiting(
        &mut statuses,
        &[
            ("tokyo", utc("2026-03-30T00:00:00Z")),
            ("london", utc("2026-03-30T08:00:00Z")),
            ("new-york", utc("2026-03-30T13:00:00Z")),
        ],
    )
    .await;
    harness.assert_no_launch();
    harness.shut_down().await;
}

// ---------------------------------------------------------------------------------
// Restarts

#[tokio::test(start_paused = true)]
async fn a_restart_never_launches_a_slot_twice() {
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    let mut first = harness.scheduler();
    let mut statuses = first.statuses();
    harness.apply(&mut first, &[hourly("m")]).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T10:00:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-06-01T10:00:00Z")).await;
    assert_eq!(
        harness.next_launch().await.trigger,
        scheduled("2026-06-01T10:00:00Z")
    );
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);
    settle("the first scheduler to stop", first.stop()).await;

    // Restarted 20 s after the slot, well within the on-time window and the grace:
    // 10:00 is done, so nothing runs until 11:00.
    advance_to(&harness.clock, utc("2026-06-01T10:00:20Z")).await;
    let mut second = harness.scheduler();
    let mut statuses = second.statuses();
    harness.apply(&mut second, &[hourly("m")]).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T11:00:00Z"))]).await;
    harness.assert_no_launch();
    advance_to(&harness.clock, utc("2026-06-01T11:00:00Z")).await;
    assert_eq!(
        harness.next_launch().await.trigger,
        scheduled("2026-06-01T11:00:00Z")
    );
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);
    drop(second);

    // Dropped rather than stopped, and restarted at once: still once per slot.
    let mut third = harness.scheduler();
    let mut statuses = third.statuses();
    harness.apply(&mut third, &[hourly("m")]).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T12:00:00Z"))]).await;
    harness.assert_no_launch();
    assert_eq!(harness.events("m").await, Vec::new());
    harness.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn a_slot_recorded_but_never_started_is_caught_up_once_after_a_restart() {
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    // The first process records 10:00 and dies before the run row is written.
    harness
        .launcher
        .vanishing
        .lock()
        .unwrap()
        .insert("m".to_string());
    let mut first = harness.scheduler();
    let mut statuses = first.statuses();
    harness.apply(&mut first, &[hourly("m")]).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T10:00:00Z"))]).await;
    advance_to(&harness.clock, utc("2026-06-01T10:00:00Z")).await;
    harness.next_launch().await;
    assert_eq!(harness.next_finished().await.ending, Ending::Vanished);
    settle("the first scheduler to stop", first.stop()).await;
    harness.launcher.vanishing.lock().unwrap().clear();

    // Back at 10:05: the slot is due again, late, so it is a catch-up.
    advance_to(&harness.clock, utc("2026-06-01T10:05:00Z")).await;
    let mut second = harness.scheduler();
    let mut statuses = second.statuses();
    harness.apply(&mut second, &[hourly("m")]).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T11:00:00Z"))]).await;
    let launch = harness.next_launch().await;
    assert_eq!(
        launch.trigger,
        RunTrigger::CatchUp {
            slot: utc("2026-06-01T10:00:00Z")
        }
    );
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);
    settle("the second scheduler to stop", second.stop()).await;

    // Now the run exists: a third start does nothing for 10:00.
    let mut third = harness.scheduler();
    let mut statuses = third.statuses();
    harness.apply(&mut third, &[hourly("m")]).await;
    waiting(&mut statuses, &[("m", utc("2026-06-01T11:00:00Z"))]).await;
    harness.assert_no_launch();
    harness.shut_down().await;
}

// ---------------------------------------------------------------------------------
// Cancellation and jitter

#[tokio::test(start_paused = true)]
async fn cancellation_stops_every_loop_promptly_and_reaches_the_run_in_flight() {
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    harness.make_slow("busy");
    let mut scheduler = harness.scheduler_with(SchedulerOptions {
        jitter_seed: Some(1),
    });
    let mut statuses = scheduler.statuses();
    let mut jittery = hourly("jittery");
    jittery.jitter = Duration::from_secs(30 * 60);
    let monitors = [hourly("busy"), hourly("idle"), jittery];
    harness.apply(&mut scheduler, &monitors).await;
    let ten = utc("2026-06-01T10:00:00Z");
    waiting(
        &mut statuses,
        &[("busy", ten), ("idle", ten), ("jittery", ten)],
    )
    .await;
    advance_to(&harness.clock, ten).await;
    // `busy` and `idle` start; `jittery` waits out its delay.
    let mut started = vec![
        harness.next_launch().await.monitor,
        harness.next_launch().await.monitor,
    ];
    started.sort();
    assert_eq!(started, ["busy", "idle"]);
    assert_eq!(harness.next_finished().await.monitor, "idle");
    settle(
        "jittery delaying",
        statuses.wait_for(|statuses| {
            matches!(
                statuses.get("jittery"),
                Some(MonitorStatus::Delaying { .. })
            )
        }),
    )
    .await
    .unwrap();

    let before = harness.clock.now();
    harness.shut_down().await;
    assert_eq!(
        harness.clock.now(),
        before,
        "every loop and the run ended without any time passing"
    );
    let finished = harness.next_finished().await;
    assert_eq!(
        (finished.monitor.as_str(), finished.ending),
        ("busy", Ending::Cancelled)
    );
    // Nothing is left to start anything later.
    advance_to(&harness.clock, utc("2026-06-01T12:00:00Z")).await;
    harness.assert_no_launch();
    assert!(harness.tracker.is_empty());
    drop(scheduler);
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_the_launch_but_the_run_keeps_its_slot() {
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    let mut scheduler = harness.scheduler_with(SchedulerOptions {
        jitter_seed: Some(42),
    });
    let mut statuses = scheduler.statuses();
    let mut jittery = hourly("m");
    jittery.jitter = Duration::from_secs(10 * 60);
    harness.apply(&mut scheduler, &[jittery]).await;
    let ten = utc("2026-06-01T10:00:00Z");
    waiting(&mut statuses, &[("m", ten)]).await;
    advance_to(&harness.clock, ten).await;
    let until = settle(
        "the jitter delay",
        statuses
            .wait_for(|statuses| matches!(statuses.get("m"), Some(MonitorStatus::Delaying { .. }))),
    )
    .await
    .map(|statuses| match statuses.get("m") {
        Some(MonitorStatus::Delaying { slot, until }) => {
            assert_eq!(*slot, ten);
            *until
        }
        other => panic!("{other:?}"),
    })
    .unwrap();
    assert!(
        until > ten && until <= ten + chrono::Duration::minutes(10),
        "{until}"
    );
    harness.assert_no_launch();
    advance_to(&harness.clock, until).await;
    let launch = harness.next_launch().await;
    assert_eq!(launch.trigger, RunTrigger::Schedule { slot: ten });
    assert_eq!(launch.at, until);
    harness.shut_down().await;
}

// ---------------------------------------------------------------------------------
// Reload

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_unchanged_loops_stops_removed_ones_and_restarts_changed_ones() {
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    harness.make_slow("gone");
    let mut scheduler = harness.scheduler();
    let mut statuses = scheduler.statuses();
    let mut keep = hourly("keep");
    keep.routes = vec!["ops".to_string()];
    harness
        .apply(
            &mut scheduler,
            &[keep.clone(), hourly("gone"), hourly("moved")],
        )
        .await;
    let ten = utc("2026-06-01T10:00:00Z");
    waiting(
        &mut statuses,
        &[("keep", ten), ("gone", ten), ("moved", ten)],
    )
    .await;
    advance_to(&harness.clock, ten).await;
    let mut started: Vec<String> = Vec::new();
    for _ in 0..3 {
        started.push(harness.next_launch().await.monitor);
    }
    started.sort();
    assert_eq!(started, ["gone", "keep", "moved"]);

    // The reload: `keep` gets a new route only, `gone` is dropped (its run is going),
    // `moved` changes to half past, `new` appears.
    keep.routes = vec!["ops".to_string(), "treasury".to_string()];
    let moved = monitor(
        "moved",
        "30 * * * *",
        chrono_tz::UTC,
        CatchUp::RunOnce,
        HOUR,
    );
    let summary = harness
        .apply(&mut scheduler, &[keep, moved, hourly("new")])
        .await;
    assert_eq!(
        summary,
        ApplySummary {
            added: vec!["new".to_string()],
            changed: vec!["moved".to_string()],
            unchanged: vec!["keep".to_string()],
            removed: vec!["gone".to_string()],
        }
    );
    assert_eq!(scheduler.monitors(), ["keep", "moved", "new"]);
    let eleven = utc("2026-06-01T11:00:00Z");
    let half_past_ten = utc("2026-06-01T10:30:00Z");
    waiting(
        &mut statuses,
        &[("keep", eleven), ("moved", half_past_ten), ("new", eleven)],
    )
    .await;
    assert!(!statuses.borrow().contains_key("gone"));

    // The removed monitor's run was not cut short.
    let mut endings = Vec::new();
    for _ in 0..2 {
        let finished = harness.next_finished().await;
        endings.push((finished.monitor, finished.ending));
    }
    endings.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        endings,
        [
            ("keep".to_string(), Ending::Completed),
            ("moved".to_string(), Ending::Completed)
        ]
    );
    harness.release_one_run();
    let finished = harness.next_finished().await;
    assert_eq!(
        (finished.monitor.as_str(), finished.ending),
        ("gone", Ending::Completed)
    );

    advance_to(&harness.clock, half_past_ten).await;
    let launch = harness.next_launch().await;
    assert_eq!(
        (launch.monitor.as_str(), launch.trigger),
        (
            "moved",
            RunTrigger::Schedule {
                slot: half_past_ten
            }
        )
    );
    waiting(
        &mut statuses,
        &[("moved", eleven + chrono::Duration::minutes(30))],
    )
    .await;
    advance_to(&harness.clock, eleven).await;
    let mut at_eleven = [harness.next_launch().await, harness.next_launch().await];
    at_eleven.sort_by(|a, b| a.monitor.cmp(&b.monitor));
    assert_eq!(
        at_eleven
            .iter()
            .map(|launch| (launch.monitor.as_str(), launch.trigger, launch.routes.len()))
            .collect::<Vec<_>>(),
        [
            ("keep", RunTrigger::Schedule { slot: eleven }, 2),
            ("new", RunTrigger::Schedule { slot: eleven }, 0)
        ],
        "`gone` no longer runs; `keep` runs with its new routes"
    );
    waiting(
        &mut statuses,
        &[("keep", eleven + chrono::Duration::hours(1))],
    )
    .await;
    harness.assert_no_launch();
    harness.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_while_a_run_has_not_yet_written_its_row_leaves_its_slot_alone() {
    // Regression guard: the restarted loop finds the slot recorded with no run row. At a
    // process start that means "never started", but here the old loop's run holds it.
    let mut harness = Harness::start_at("2026-06-01T09:30:00Z");
    harness
        .launcher
        .slow_to_start
        .lock()
        .unwrap()
        .insert("m".to_string());
    let mut scheduler = harness.scheduler();
    let mut statuses = scheduler.statuses();
    harness.apply(&mut scheduler, &[hourly("m")]).await;
    let ten = utc("2026-06-01T10:00:00Z");
    waiting(&mut statuses, &[("m", ten)]).await;
    advance_to(&harness.clock, ten).await;
    assert_eq!(
        harness.next_launch().await.trigger,
        scheduled("2026-06-01T10:00:00Z")
    );

    let mut regraced = hourly("m");
    regraced.grace = HOUR * 2;
    let summary = harness.apply(&mut scheduler, &[regraced]).await;
    assert_eq!(summary.changed, ["m"]);
    waiting(&mut statuses, &[("m", utc("2026-06-01T11:00:00Z"))]).await;
    harness.assert_no_launch();
    assert_eq!(
        harness.events("m").await,
        Vec::new(),
        "nothing skipped or missed"
    );

    harness.release_one_run();
    assert_eq!(harness.next_finished().await.ending, Ending::Completed);
    harness.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_a_duplicate_name_changes_nothing() {
    let harness = Harness::start_at("2026-06-01T09:30:00Z");
    let mut scheduler = harness.scheduler();
    harness.apply(&mut scheduler, &[hourly("a")]).await;
    let error = settle(
        "apply",
        scheduler.apply(&[hourly("a"), hourly("b"), hourly("b")]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, SchedulerError::DuplicateMonitor { name } if name == "b"),
        "{error}"
    );
    assert_eq!(error.to_string(), "monitor `b` appears more than once");
    assert_eq!(scheduler.monitors(), ["a"]);
    harness.shut_down().await;
}

// ---------------------------------------------------------------------------------
// The store's side

#[tokio::test]
async fn the_position_and_the_missed_slots_are_written_together_and_only_forward() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("state.db")).unwrap();
    let monitor = store.ensure_monitor("m").await.unwrap();
    let at = |hour: u32| utc(&format!("2026-06-01T{hour:02}:00:00Z"));
    let missed = SlotEvent {
        outcome: SlotOutcome::Missed,
        first_slot: at(7),
        last_slot: at(8),
        slot_count: 2,
        slot_count_exact: true,
        reason: "balance-monitor was not running".to_string(),
    };
    assert!(
        store
            .advance_schedule(monitor, at(9), vec![missed.clone()])
            .await
            .unwrap()
    );
    // Backwards: refused whole, the event included.
    let late = SlotEvent::skipped(at(6), "late".to_string());
    assert!(
        !store
            .advance_schedule(monitor, at(6), vec![late])
            .await
            .unwrap()
    );
    // The same stretch again (a retried write) is recorded once.
    assert!(
        store
            .advance_schedule(monitor, at(9), vec![missed])
            .await
            .unwrap()
    );
    let events = store.schedule_events(monitor).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].slots.first_slot,
            events[0].slots.last_slot,
            events[0].slots.slot_count
        ),
        (at(7), at(8), 2)
    );

    // 09:00 has neither a run nor an event: not accounted for.
    let position = store.schedule_position(monitor).await.unwrap().unwrap();
    assert_eq!(position.state.last_slot, at(9));
    assert!(!position.last_slot_accounted_for);
    store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Schedule { slot: at(9) },
        })
        .await
        .unwrap();
    assert!(
        store
            .schedule_position(monitor)
            .await
            .unwrap()
            .unwrap()
            .last_slot_accounted_for
    );
    // A skipped slot is accounted for by its event.
    let skipped = SlotEvent::skipped(at(10), "the run for slot 09:00 was still going".into());
    assert!(
        store
            .advance_schedule(monitor, at(10), vec![skipped])
            .await
            .unwrap()
    );
    assert!(
        store
            .schedule_position(monitor)
            .await
            .unwrap()
            .unwrap()
            .last_slot_accounted_for
    );
    // A reversed stretch is refused before anything is written.
    let reversed = SlotEvent {
        outcome: SlotOutcome::Missed,
        first_slot: at(12),
        last_slot: at(11),
        slot_count: 2,
        slot_count_exact: true,
        reason: "x".to_string(),
    };
    let error = store
        .advance_schedule(monitor, at(12), vec![reversed])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput { .. }), "{error}");
    assert_eq!(
        store
            .schedule_position(monitor)
            .await
            .unwrap()
            .unwrap()
            .state
            .last_slot,
        at(10)
    );
}
