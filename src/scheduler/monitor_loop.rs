//! One monitor's schedule loop: read the stored position, deal with the due slots
//! (launch, skip or record as missed), wait for the next slot, repeat until stopped.
//!
//! It owns the per-monitor sequence and nothing else: slot arithmetic is `plan.rs`'s,
//! the run itself belongs to the injected [`RunLauncher`], and which monitors have a
//! loop is [`Scheduler`](super::Scheduler)'s business.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::plan::{self, Context, Policy, Position, SlotPlan};
use super::{LaunchRequest, MonitorStatus, RunLauncher, Statuses};
use crate::clock::Clock;
use crate::config::Monitor;
use crate::config::duration::format_duration;
use crate::domain::{MonitorId, RunTrigger};
use crate::schedule::Schedule;
use crate::store::{SlotEvent, Store, StoreError};

/// The first wait after a failed store operation; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Which slot of one monitor has a run going, if any. Shared by every loop a monitor
/// has had in this process (a reload that changes its schedule starts a new loop while
/// the old loop's run may still be going), so runs of one monitor never overlap.
///
/// A `std::sync::Mutex`, not tokio's: it is held for a check-and-set and never across
/// an `.await`.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    slot: Mutex<Option<DateTime<Utc>>>,
}

/// The right to run one slot. Dropping it (the run finished, panicked or was dropped)
/// frees the monitor, so a crashed run cannot wedge its schedule.
#[derive(Debug)]
pub(super) struct Claim(Arc<InFlight>);

impl InFlight {
    /// Claims the monitor for `slot`, or returns the slot whose run is going.
    pub(super) fn try_claim(self: &Arc<Self>, slot: DateTime<Utc>) -> Result<Claim, DateTime<Utc>> {
        let mut current = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match *current {
            Some(running) => Err(running),
            None => {
                *current = Some(slot);
                Ok(Claim(Arc::clone(self)))
            }
        }
    }

    fn running_slot(&self) -> Option<DateTime<Utc>> {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no run of this monitor is going.
    pub(super) fn is_idle(&self) -> bool {
        self.running_slot().is_none()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        *self.0.slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Why carrying out a plan stopped short.
enum Interrupted {
    /// The loop was told to stop.
    Cancelled,
    /// The store failed; nothing was launched. Retry after a pause.
    Store(StoreError),
    /// The stored position is ahead of this loop's; read it again.
    PositionAhead,
}

/// Everything one monitor's loop needs. Built by the scheduler, consumed by [`run`].
///
/// [`run`]: MonitorLoop::run
pub(super) struct MonitorLoop {
    pub name: String,
    pub id: MonitorId,
    pub schedule: Schedule,
    pub policy: Policy,
    pub jitter: Duration,
    /// The monitor's latest definition. Reloads that keep the schedule send new rules,
    /// routes or authorizers here; the loop reads it at each launch.
    pub definition: watch::Receiver<Arc<Monitor>>,
    pub store: Store,
    pub clock: Clock,
    pub launcher: Arc<dyn RunLauncher>,
    /// Stops this loop: a child of `shutdown`, also cancelled when the monitor is
    /// removed or its schedule changes.
    pub stop: CancellationToken,
    /// The daemon's token, handed to runs. Not `stop`: removing a monitor must not
    /// cut its run short.
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub in_flight: Arc<InFlight>,
    pub status: watch::Sender<Statuses>,
    pub rng: fastrand::Rng,
}

impl MonitorLoop {
    /// Runs until `stop` is cancelled (or the schedule has no further slot and then
    /// `stop` is cancelled).
    pub async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        let mut context = Context::Start;
        let mut position = None;
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            let mut current = match position {
                Some(current) => current,
                None => match self.load_position().await {
                    Ok(loaded) => *position.insert(loaded),
                    Err(error) => {
                        if !self.back_off(&error, &mut backoff).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            let now = self.clock.now();
            if let Some(plan) = plan::plan(&self.schedule, current, now, self.policy, context) {
                match self.carry_out(&plan).await {
                    Ok(()) => {
                        current = Position::after(plan.through);
                        position = Some(current);
                    }
                    Err(Interrupted::Cancelled) => return,
                    Err(Interrupted::PositionAhead) => {
                        position = None;
                        continue;
                    }
                    Err(Interrupted::Store(error)) => {
                        if !self.back_off(&error, &mut backoff).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            backoff = FIRST_BACKOFF;
            context = Context::Waiting;
            let Some(next) = current.first_due(&self.schedule) else {
                info!(monitor = %self.name, schedule = %self.schedule, "the schedule has no further slot");
                self.publish(MonitorStatus::Exhausted);
                self.stop.cancelled().await;
                return;
            };
            self.publish(MonitorStatus::Waiting { slot: next });
            // `biased`: when the stop and the slot are both ready, stopping wins, so a
            // cancelled loop never starts another run.
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = self.clock.sleep_until(next) => {}
            }
        }
    }

    /// The stored position. A monitor seen for the first time is positioned at now
    /// (stored, so that a restart before its first slot still catches that slot up).
    async fn load_position(&self) -> Result<Position, StoreError> {
        match self.store.schedule_position(self.id).await? {
            Some(stored) => {
                let last = stored.state.last_slot;
                // The position was moved to a slot that got no run and no record: the
                // process stopped between the two. Unless a run of ours still holds the
                // slot (its row may not be written yet), the slot is due again, and the
                // catch-up policy decides. A first-sight position is not a slot.
                let is_slot = self.schedule.latest_at_or_before(last) == Some(last);
                let last_is_due = !stored.last_slot_accounted_for
                    && is_slot
                    && self.in_flight.running_slot() != Some(last);
                Ok(Position { last, last_is_due })
            }
            None => {
                let now = self.clock.now();
                self.store
                    .advance_schedule(self.id, now, Vec::new())
                    .await?;
                debug!(monitor = %self.name, position = %now, "first sight of the monitor");
                Ok(Position::after(now))
            }
        }
    }

    /// Launches, skips or records the plan's slots, moving the stored position first.
    async fn carry_out(&mut self, plan: &SlotPlan) -> Result<(), Interrupted> {
        let mut events: Vec<SlotEvent> = plan.missed.iter().cloned().collect();
        let Some(trigger) = plan.launch else {
            self.record(plan.through, events).await?;
            self.log_missed(plan);
            return Ok(());
        };
        let slot = plan.through;
        self.delay_for_jitter(slot).await?;
        // The overlap check comes after the jitter: the previous run may end meanwhile.
        match self.in_flight.try_claim(slot) {
            Err(running) => {
                let reason = format!("the run for slot {running} was still going");
                events.push(SlotEvent::skipped(slot, reason));
                self.record(plan.through, events).await?;
                self.log_missed(plan);
                warn!(
                    monitor = %self.name,
                    %slot,
                    running_slot = %running,
                    "slot skipped: the previous run is still going"
                );
            }
            Ok(claim) => {
                // Recorded before the launch: a restart never runs the slot again. The
                // write is not raced against `stop`: once queued it commits anyway, and
                // abandoning it would only hide whether it did.
                self.record(plan.through, events).await?;
                self.log_missed(plan);
                if self.stop.is_cancelled() {
                    info!(
                        monitor = %self.name,
                        %slot,
                        "stopping before the run started; the next start applies the catch-up policy to this slot"
                    );
                    return Err(Interrupted::Cancelled);
                }
                self.launch(trigger, slot, claim);
            }
        }
        Ok(())
    }

    /// Waits a random delay of up to the monitor's jitter before a launch.
    async fn delay_for_jitter(&mut self, slot: DateTime<Utc>) -> Result<(), Interrupted> {
        let most = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        if most == 0 {
            return Ok(());
        }
        let delay = Duration::from_millis(self.rng.u64(0..=most));
        let until =
            self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        debug!(monitor = %self.name, %slot, %until, "jitter before the run");
        self.publish(MonitorStatus::Delaying { slot, until });
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Interrupted::Cancelled),
            () = self.clock.sleep_until(until) => Ok(()),
        }
    }

    async fn record(&self, to: DateTime<Utc>, events: Vec<SlotEvent>) -> Result<(), Interrupted> {
        match self.store.advance_schedule(self.id, to, events).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                warn!(
                    monitor = %self.name,
                    position = %to,
                    "the stored schedule position is ahead of this loop's (is another balance-monitor using the database?); reading it again"
                );
                Err(Interrupted::PositionAhead)
            }
            Err(error) => Err(Interrupted::Store(error)),
        }
    }

    fn launch(&self, trigger: RunTrigger, slot: DateTime<Utc>, claim: Claim) {
        let request = LaunchRequest {
            monitor: Arc::clone(&self.definition.borrow()),
            monitor_id: self.id,
            trigger,
            shutdown: self.shutdown.clone(),
        };
        info!(monitor = %self.name, %slot, trigger = trigger.kind_str(), "starting a run");
        let run = self.launcher.launch(request);
        // On the tracker, so shutdown waits for it; the claim lives as long as the run.
        self.tracker.spawn(async move {
            let _claim = claim;
            run.await;
        });
    }

    /// One line per stretch, whatever its length.
    fn log_missed(&self, plan: &SlotPlan) {
        let Some(missed) = &plan.missed else {
            return;
        };
        let count = if missed.slot_count_exact {
            missed.slot_count.to_string()
        } else {
            format!("at least {}", missed.slot_count)
        };
        warn!(
            monitor = %self.name,
            missed = missed.slot_count,
            first_slot = %missed.first_slot,
            last_slot = %missed.last_slot,
            reason = %missed.reason,
            "{count} slot(s) missed from {} to {}",
            missed.first_slot,
            missed.last_slot
        );
    }

    /// Waits before retrying a failed store operation. `false` if told to stop.
    async fn back_off(&self, error: &StoreError, backoff: &mut Duration) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        error!(
            monitor = %self.name,
            %error,
            retry_in = %format_duration(wait),
            "schedule: store operation failed; no run was started"
        );
        self.publish(MonitorStatus::StoreUnavailable {
            error: error.to_string(),
        });
        // A monotonic sleep, not the wall clock: this is a pause, not a date.
        tokio::select! {
            biased;
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(wait) => true,
        }
    }

    fn publish(&self, status: MonitorStatus) {
        self.status.send_modify(|statuses| {
            statuses.insert(self.name.clone(), status);
        });
    }
}
