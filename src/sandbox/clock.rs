//! The sandbox's own clock: injectable, jumpable and compressible.
//!
//! Every time the sandbox reasons about (submission and completion times, the 24-hour
//! body-hash cache, the 404 window after a create, webhook retry times, the random
//! walk's "day") is read from a [`SandboxClock`], never from the system clock directly.
//! The clock runs at `speed` sandbox seconds per real second from an anchor: speed 0
//! freezes it (tests move it with [`SandboxClock::advance`] and nothing happens behind
//! their back), 1 is real time, 60 makes a webhook's 30-minute retry window last 30
//! real seconds in a demo.
//!
//! This module owns the time arithmetic and the change notification that wakes the
//! webhook worker when a test jumps the clock. It does not own what happens at a
//! given time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

/// The fastest the clock may run: a sandbox day in under a tenth of a second.
pub const MAX_SPEED: f64 = 1_000_000.0;

/// A shared, cloneable clock. Clones observe and steer the same time.
#[derive(Clone)]
pub struct SandboxClock {
    inner: Arc<ClockInner>,
}

struct ClockInner {
    // A std mutex: it is held for a few arithmetic operations and never across an
    // `.await`, so a blocking lock is cheaper and simpler than an async one.
    anchor: Mutex<Anchor>,
    // Bumped on every jump or speed change, so that sleepers recompute their deadline.
    changed: watch::Sender<u64>,
}

#[derive(Clone, Copy)]
struct Anchor {
    sandbox: DateTime<Utc>,
    real: Instant,
    speed: f64,
}

impl Anchor {
    fn now(&self) -> DateTime<Utc> {
        self.sandbox
            .checked_add_signed(scale(self.real.elapsed(), self.speed))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// `real` × `speed` as a chrono delta, saturating instead of overflowing.
fn scale(real: Duration, speed: f64) -> TimeDelta {
    let nanos = real.as_nanos() as f64 * speed;
    // `as` saturates for floats, and NaN becomes 0.
    TimeDelta::nanoseconds(nanos as i64)
}

/// `at + by`, saturating at the end of representable time instead of panicking.
pub(crate) fn later(at: DateTime<Utc>, by: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A std duration as a chrono delta, saturating.
pub(crate) fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl SandboxClock {
    /// A clock showing `start` now and running at `speed` (clamped to 0..=[`MAX_SPEED`];
    /// a NaN speed freezes it).
    pub fn new(start: DateTime<Utc>, speed: f64) -> SandboxClock {
        let (changed, _) = watch::channel(0);
        SandboxClock {
            inner: Arc::new(ClockInner {
                anchor: Mutex::new(Anchor {
                    sandbox: start,
                    real: Instant::now(),
                    speed: clamp_speed(speed),
                }),
                changed,
            }),
        }
    }

    /// A frozen clock showing `start`: time moves only when [`advance`](Self::advance)d.
    pub fn frozen(start: DateTime<Utc>) -> SandboxClock {
        SandboxClock::new(start, 0.0)
    }

    fn anchor(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.inner
            .anchor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The sandbox's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.anchor().now()
    }

    /// Jumps the clock forward by `by` (sandbox time), waking anything waiting on it.
    pub fn advance(&self, by: Duration) {
        {
            let mut anchor = self.anchor();
            let now = anchor.now();
            anchor.sandbox = now
                .checked_add_signed(delta(by))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            anchor.real = Instant::now();
        }
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes how many sandbox seconds pass per real second, from now on.
    pub fn set_speed(&self, speed: f64) {
        {
            let mut anchor = self.anchor();
            anchor.sandbox = anchor.now();
            anchor.real = Instant::now();
            anchor.speed = clamp_speed(speed);
        }
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sandbox seconds per real second.
    pub fn speed(&self) -> f64 {
        self.anchor().speed
    }

    /// A receiver that sees every jump and speed change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// How long, in real time, until the clock shows `at`: zero if it already has,
    /// `None` if the clock is frozen (only a jump will get there).
    pub(crate) fn real_time_until(&self, at: DateTime<Utc>) -> Option<Duration> {
        let anchor = *self.anchor();
        let remaining = at.signed_duration_since(anchor.now());
        if remaining <= TimeDelta::zero() {
            return Some(Duration::ZERO);
        }
        if anchor.speed <= 0.0 {
            return None;
        }
        let remaining = remaining.to_std().unwrap_or(Duration::MAX);
        // Round up by a millisecond so a wake-up never lands just before the deadline.
        let real = remaining.as_secs_f64() / anchor.speed + 0.001;
        Some(Duration::try_from_secs_f64(real).unwrap_or(Duration::MAX))
    }
}

fn clamp_speed(speed: f64) -> f64 {
    if speed.is_nan() {
        0.0
    } else {
        speed.clamp(0.0, MAX_SPEED)
    }
}

impl std::fmt::Debug for SandboxClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let anchor = *self.anchor();
        f.debug_struct("SandboxClock")
            .field("now", &anchor.now())
            .field("speed", &anchor.speed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2025-01-06T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let clock = SandboxClock::frozen(start());
        assert_eq!(clock.now(), start());
        clock.advance(Duration::from_secs(86_400));
        assert_eq!(
            clock.now(),
            "2025-01-07T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(clock.real_time_until(start()), Some(Duration::ZERO));
        assert_eq!(
            clock.real_time_until(clock.now() + TimeDelta::seconds(1)),
            None
        );
    }

    #[test]
    fn a_fast_clock_compresses_waits() {
        let clock = SandboxClock::new(start(), 60.0);
        let wait = clock
            .real_time_until(clock.now() + TimeDelta::minutes(30))
            .unwrap();
        assert!(wait <= Duration::from_secs(31) && wait >= Duration::from_secs(29));
        assert!(clock.now() >= start());
    }

    #[test]
    fn jumps_are_announced_and_speeds_clamped() {
        let clock = SandboxClock::new(start(), f64::INFINITY);
        assert_eq!(clock.speed(), MAX_SPEED);
        clock.set_speed(f64::NAN);
        assert_eq!(clock.speed(), 0.0);
        let changes = clock.subscribe();
        assert!(!changes.has_changed().unwrap());
        clock.advance(Duration::from_secs(1));
        assert!(changes.has_changed().unwrap());
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
    }
}
