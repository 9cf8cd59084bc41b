//! Wall-clock time, injectable, so that schedules and deadlines can be tested with
//! tokio's paused time instead of sleeps.
//!
//! [`Clock::system`] reads the real wall clock. [`Clock::following_tokio`] starts at a
//! given UTC instant and advances with `tokio::time::Instant`, so under
//! `tokio::time::pause()` it moves exactly as far as the test advances tokio's time.
//! [`Clock::accelerated`] is a time-lapse for `balance-monitor demo`: it starts at a
//! given instant and runs a fixed number of times faster than real time, so a daily
//! schedule can be watched for a week in a minute.
//! Waiting is always done with bounded tokio sleeps that re-read this clock (see
//! [`Clock::sleep_until`]), so a loop that waits for a wall-clock instant stays correct
//! across clock steps and suspend.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long one sleep may last before the wall clock is read again.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// A source of the current UTC time. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Tokio {
        base_utc: DateTime<Utc>,
        base_instant: tokio::time::Instant,
    },
    Accelerated {
        base_utc: DateTime<Utc>,
        base_instant: tokio::time::Instant,
        speed: u32,
    },
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Tokio { .. } => write!(f, "Clock::following_tokio(now {})", self.now()),
            Source::Accelerated { speed, .. } => {
                write!(f, "Clock::accelerated({speed}x, now {})", self.now())
            }
        }
    }
}

impl Clock {
    /// The real wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that reads `start` now and then advances with tokio's (possibly paused)
    /// time. Must be created inside a tokio runtime.
    pub fn following_tokio(start: DateTime<Utc>) -> Clock {
        Clock(Arc::new(Source::Tokio {
            base_utc: start,
            base_instant: tokio::time::Instant::now(),
        }))
    }

    /// A clock that reads `start` now and then runs `speed` times faster than tokio's
    /// time (at least 1). Must be created inside a tokio runtime.
    pub fn accelerated(start: DateTime<Utc>, speed: u32) -> Clock {
        Clock(Arc::new(Source::Accelerated {
            base_utc: start,
            base_instant: tokio::time::Instant::now(),
            speed: speed.max(1),
        }))
    }

    /// How many times faster than real time the clock runs (1 but for
    /// [`Clock::accelerated`]).
    pub fn speed(&self) -> u32 {
        match &*self.0 {
            Source::Accelerated { speed, .. } => *speed,
            _ => 1,
        }
    }

    /// The current UTC time.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.0 {
            Source::System => Utc::now(),
            Source::Tokio {
                base_utc,
                base_instant,
            } => {
                let elapsed = tokio::time::Instant::now().duration_since(*base_instant);
                *base_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
            }
            Source::Accelerated {
                base_utc,
                base_instant,
                speed,
            } => {
                let elapsed = tokio::time::Instant::now().duration_since(*base_instant);
                *base_utc
                    + chrono::Duration::from_std(elapsed.saturating_mul(*speed))
                        .unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    /// Sleeps until the wall clock reaches `deadline`, in sleeps of at most
    /// [`MAX_SLEEP`] that re-read the clock. Returns at once if it is already past.
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let now = self.now();
            if now >= deadline {
                return;
            }
            let remaining = (deadline - now).to_std().unwrap_or(Duration::ZERO);
            let wait = match self.speed() {
                1 => remaining,
                // At least a millisecond: an accelerated clock's last microseconds would
                // otherwise be slept as nothing, over and over.
                speed => (remaining / speed).max(Duration::from_millis(1)),
            };
            tokio::time::sleep(wait.min(MAX_SLEEP)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_paused_time() {
        let start = DateTime::parse_from_rfc3339("2026-03-08T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::following_tokio(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        let target = start + chrono::Duration::hours(3);
        clock.sleep_until(target).await;
        assert!(clock.now() >= target);
        assert!(clock.now() < target + chrono::Duration::seconds(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_accelerated_clock_runs_its_speed_times_faster() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T11:58:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::accelerated(start, 3600);
        assert_eq!(clock.speed(), 3600);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(clock.now(), start + chrono::Duration::hours(2));
        let target = start + chrono::Duration::days(1);
        let before = tokio::time::Instant::now();
        clock.sleep_until(target).await;
        assert!(clock.now() >= target);
        assert!(clock.now() < target + chrono::Duration::seconds(4));
        let slept = tokio::time::Instant::now() - before;
        assert!(slept <= Duration::from_secs(23), "{slept:?}");
    }
}
