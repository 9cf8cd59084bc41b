//! Wall-clock time, injectable, so that schedules and deadlines can be tested with
//! tokio's paused time instead of sleeps.
//!
//! [`Clock::system`] reads the real wall clock. [`Clock::following_tokio`] starts at a
//! given UTC instant and advances with `tokio::time::Instant`, so under
//! `tokio::time::pause()` it moves exactly as far as the test advances tokio's time.
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
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Tokio { .. } => write!(f, "Clock::following_tokio(now {})", self.now()),
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
            tokio::time::sleep(remaining.min(MAX_SLEEP)).await;
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
}
