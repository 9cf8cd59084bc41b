//! Capped exponential backoff with jitter: how long to wait before the `n`-th retry.
//!
//! This module owns [`Backoff`], the one way the crate spaces out retries: a first wait,
//! doubled on every retry up to a cap, then spread by a [`Jitter`]. Its users hold their
//! own parameters: the Rightfoot client's retry policy (`rightfoot::retry`) and the
//! outbox (`alerting::outbox`). It decides nothing about whether to retry, reads no
//! clock and draws no random number: the caller passes the draw, so tests can pin it.
//! It depends on nothing else in the crate.

use std::time::Duration;

/// How a computed wait `d` is spread so that many clients do not retry at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// "Equal jitter": a point in the upper half, `[d/2, d)`. Never retries at once.
    UpperHalf,
    /// Up to this many percent added: `[d, d + d * percent / 100)`.
    AddedPercent(u32),
}

/// A first wait doubled on every retry, capped, then jittered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry, before jitter.
    pub first: Duration,
    /// The longest wait, before jitter.
    pub cap: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    /// The wait before retry `retry` (1 for the first) before jitter:
    /// `first * 2^(retry-1)`, at most `cap`. Retry 0 counts as the first.
    pub fn base(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry`, with `draw` in `[0, 1)` (clamped) choosing the
    /// point inside the jitter's range.
    pub fn wait(&self, retry: u32, draw: f64) -> Duration {
        let base = self.base(retry);
        let draw = draw.clamp(0.0, 1.0);
        match self.jitter {
            Jitter::UpperHalf => {
                let half = base / 2;
                half + half.mul_f64(draw)
            }
            Jitter::AddedPercent(percent) => {
                let most = base.mul_f64(f64::from(percent) / 100.0);
                base.saturating_add(most.mul_f64(draw))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(10),
            jitter,
        }
    }

    #[test]
    fn the_base_doubles_to_its_cap_without_overflow() {
        let backoff = backoff(Jitter::UpperHalf);
        let table = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 10),
            (33, 10),
            (u32::MAX, 10),
        ];
        for (retry, seconds) in table {
            assert_eq!(
                backoff.base(retry),
                Duration::from_secs(seconds),
                "retry {retry}"
            );
        }
    }

    #[test]
    fn each_jitter_stays_in_its_range() {
        let half = backoff(Jitter::UpperHalf);
        let added = backoff(Jitter::AddedPercent(10));
        for retry in 1..8 {
            let base = half.base(retry);
            assert_eq!(half.wait(retry, 0.0), base / 2);
            assert_eq!(added.wait(retry, 0.0), base);
            assert_eq!(added.wait(retry, 1.0), base + base / 10);
            for _ in 0..100 {
                let draw = fastrand::f64();
                let wait = half.wait(retry, draw);
                assert!(wait >= base / 2 && wait < base, "retry {retry}: {wait:?}");
                let wait = added.wait(retry, draw);
                assert!(
                    wait >= base && wait <= base + base / 10,
                    "retry {retry}: {wait:?}"
                );
            }
        }
        assert_eq!(half.wait(1, -3.0), Duration::from_millis(500));
        assert_eq!(half.wait(1, 7.0), Duration::from_secs(1));
    }
}
