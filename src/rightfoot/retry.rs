//! The retry policy: which failures get another attempt, how long to wait, and when a
//! POST may be sent again.
//!
//! This module owns [`RetryPolicy`], `Retry-After` parsing and the retry loop that every
//! client call goes through. It does not classify errors (that is
//! [`ApiError::is_retryable`]: 5xx, 408, 429, timeouts and connection failures; never
//! 400, 401, 403, and 404 only under the results grace rule, outside this loop) and does
//! no I/O of its own beyond sleeping on tokio's clock, so tests run it on paused time.
//!
//! Waiting: a `Retry-After` header (seconds or an HTTP date) is honoured as sent, up to
//! [`RetryPolicy::max_retry_after`]. Otherwise the wait before retry `n` is
//! `initial_backoff * 2^(n-1)`, capped at `max_backoff`, with "equal jitter": a uniform
//! draw from the upper half, `[d/2, d)`, which spreads clients out without ever
//! retrying at once (a [`crate::backoff::Backoff`] with these parameters).
//!
//! POSTs: `POST /v1/balance_requests` is safe to repeat only because Rightfoot caches
//! responses by body hash for 24 hours, so the client sends the identical bytes every
//! time and retries only while the retry would go out within
//! [`RetryPolicy::post_retry_window`] of the *first* attempt. The first-attempt time is
//! an input, so a run recovered after a crash passes the time it first sent the chunk.
//! The same cache makes a submission's undecodable `201` (a body cut short, say) worth
//! another attempt: the identical bytes get the cached answer, the same batch, and no
//! second check. So for a submission, and only there, an [`ApiError::Decode`] is
//! retried like a transient failure, under the same window and attempt limit.

use std::future::Future;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::backoff::{Backoff, Jitter};

/// How the client retries. See the module documentation for the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` disables retries.
    pub max_attempts: u32,
    /// The wait before the first retry, before jitter.
    pub initial_backoff: Duration,
    /// The longest computed wait, before jitter.
    pub max_backoff: Duration,
    /// The longest wait a `Retry-After` header can impose.
    pub max_retry_after: Duration,
    /// How long after the first attempt a submission may still be retried. Rightfoot's
    /// cache lasts 24 h from when it first received the body; the default keeps an
    /// hour's margin for clock skew between us and Rightfoot.
    pub post_retry_window: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts; waits of about 1, 2, 4 and 8 s (30 s cap); `Retry-After` up to 2
    /// minutes; submissions retried up to 23 h after the first attempt.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            post_retry_window: Duration::from_secs(23 * 3600),
        }
    }
}

impl RetryPolicy {
    /// A policy that makes one attempt and never retries.
    pub fn no_retries() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The computed wait before retry number `retry` (1 for the first retry), with
    /// `jitter` in `[0, 1)` choosing a point in `[d/2, d)`.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        Backoff {
            first: self.initial_backoff,
            cap: self.max_backoff,
            jitter: Jitter::UpperHalf,
        }
        .wait(retry, jitter)
    }

    /// The wait before retry number `retry` after `error`: its `Retry-After` (capped)
    /// when it has one, the jittered backoff otherwise.
    pub fn delay(&self, retry: u32, error: &ApiError, jitter: f64) -> Duration {
        match error.retry_after() {
            Some(retry_after) => retry_after.min(self.max_retry_after),
            None => self.backoff(retry, jitter),
        }
    }

    /// Whether a submission first attempted at `first_attempt_at` may be sent again at
    /// `send_at`, i.e. whether Rightfoot's body-hash cache still covers it.
    pub fn cached_post_may_retry(
        &self,
        first_attempt_at: DateTime<Utc>,
        send_at: DateTime<Utc>,
    ) -> bool {
        let window =
            chrono::Duration::from_std(self.post_retry_window).unwrap_or(chrono::Duration::MAX);
        match first_attempt_at.checked_add_signed(window) {
            Some(closes_at) => send_at < closes_at,
            None => true,
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds (`120`) or an HTTP date, which becomes
/// the time from `now` until then (zero if it has passed). Anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a request may be sent more than once.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Replay {
    /// A GET: repeat freely.
    Idempotent,
    /// A submission: repeat with identical bytes, inside the cache window only.
    CachedPost { first_attempt_at: DateTime<Utc> },
}

impl Replay {
    /// Whether `error` is worth sending the request again: a transient failure, or, for
    /// a submission, an answer that could not be decoded (the resend is answered from
    /// Rightfoot's cache with the same batch).
    fn may_retry(self, error: &ApiError) -> bool {
        error.is_retryable()
            || matches!(
                (self, error),
                (Replay::CachedPost { .. }, ApiError::Decode { .. })
            )
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy says stop. Returns
/// the value and the number of attempts made.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    replay: Replay,
    operation: &'static str,
    attempt: F,
) -> Result<(T, u32), ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    with_retries_observed(policy, replay, operation, attempt, |_| {}).await
}

/// [`with_retries`], calling `on_retry` with each error that is about to be retried
/// (once the wait is decided, before it starts), for the caller's counters.
pub(crate) async fn with_retries_observed<T, F, Fut>(
    policy: &RetryPolicy,
    replay: Replay,
    operation: &'static str,
    mut attempt: F,
    mut on_retry: impl FnMut(&ApiError),
) -> Result<(T, u32), ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut attempts: u32 = 0;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(value) => return Ok((value, attempts)),
            Err(error) => error,
        };
        if !replay.may_retry(&error) || attempts >= policy.max_attempts.max(1) {
            return Err(error);
        }
        let delay = policy.delay(attempts, &error, fastrand::f64());
        if let Replay::CachedPost { first_attempt_at } = replay {
            let send_at = chrono::Duration::from_std(delay)
                .ok()
                .and_then(|d| Utc::now().checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if !policy.cached_post_may_retry(first_attempt_at, send_at) {
                tracing::warn!(
                    operation,
                    attempts,
                    error = %error,
                    "not retrying: the retry would fall outside Rightfoot's 24-hour body cache"
                );
                return Err(error);
            }
        }
        tracing::warn!(
            operation,
            attempt = attempts,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "retrying Rightfoot request"
        );
        on_retry(&error);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rightfoot::error::Redactor;

    fn status(code: u16, retry_after: Option<Duration>) -> ApiError {
        ApiError::from_status(code, retry_after, b"", &Redactor::default())
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_in_the_upper_half() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let table = [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (40, 10)];
        for (retry, seconds) in table {
            let full = Duration::from_secs(seconds);
            assert_eq!(policy.backoff(retry, 0.0), full / 2, "retry {retry}");
            let top = policy.backoff(retry, 0.999_999);
            assert!(
                top < full && top > full.mul_f64(0.99),
                "retry {retry}: {top:?}"
            );
            for _ in 0..100 {
                let d = policy.backoff(retry, fastrand::f64());
                assert!(d >= full / 2 && d < full, "retry {retry}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let with = |s| status(429, Some(Duration::from_secs(s)));
        assert_eq!(policy.delay(1, &with(7), 0.5), Duration::from_secs(7));
        assert_eq!(policy.delay(1, &with(0), 0.5), Duration::ZERO);
        assert_eq!(policy.delay(1, &with(86_400), 0.5), Duration::from_secs(60));
        assert_eq!(
            policy.delay(1, &status(503, None), 0.0),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        for junk in ["", "-5", "1.5", "soon", "Wed, 99 Foo 2024"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
        assert!(parse_retry_after("99999999999999999999999", now).is_some());
    }

    #[test]
    fn posts_retry_only_inside_the_cache_window() {
        let policy = RetryPolicy::default();
        let first = DateTime::parse_from_rfc3339("2024-09-17T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let hours = |h| first + chrono::Duration::hours(h);
        assert!(policy.cached_post_may_retry(first, first));
        assert!(policy.cached_post_may_retry(first, hours(22)));
        assert!(!policy.cached_post_may_retry(first, hours(23)));
        assert!(!policy.cached_post_may_retry(first, hours(48)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_stops_at_max_attempts_and_on_permanent_errors() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let result: Result<((), u32), _> =
            with_retries(&policy, Replay::Idempotent, "test", || {
                calls += 1;
                async { Err(status(500, None)) }
            })
            .await;
        assert_eq!(result.unwrap_err().http_status(), Some(500));
        assert_eq!(calls, 3);

        for permanent in [400, 401, 403, 404] {
            let mut calls = 0;
            let result: Result<((), u32), _> =
                with_retries(&policy, Replay::Idempotent, "test", || {
                    calls += 1;
                    async move { Err(status(permanent, None)) }
                })
                .await;
            assert_eq!(result.unwrap_err().http_status(), Some(permanent));
            assert_eq!(calls, 1, "{permanent} must not be retried");
        }

        let mut calls = 0;
        let (value, attempts) = with_retries(&policy, Replay::Idempotent, "test", || {
            calls += 1;
            let outcome = if calls < 3 {
                Err(status(503, None))
            } else {
                Ok(calls)
            };
            async move { outcome }
        })
        .await
        .unwrap();
        assert_eq!((value, attempts), (3, 3));
    }

    fn undecodable() -> ApiError {
        ApiError::Decode {
            what: "test body",
            reason: "truncated json at line 1 column 9".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_undecodable_answer_is_retried_for_a_submission_only() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let result: Result<((), u32), _> = with_retries(&policy, Replay::Idempotent, "get", || {
            calls += 1;
            async { Err(undecodable()) }
        })
        .await;
        assert!(matches!(result, Err(ApiError::Decode { .. })));
        assert_eq!(calls, 1, "a GET's undecodable answer is final");

        let post = Replay::CachedPost {
            first_attempt_at: Utc::now(),
        };
        let (mut calls, mut observed) = (0, 0);
        let (value, attempts) = with_retries_observed(
            &policy,
            post,
            "submit",
            || {
                calls += 1;
                let outcome = if calls < 3 {
                    Err(undecodable())
                } else {
                    Ok(calls)
                };
                async move { outcome }
            },
            |error| {
                assert!(matches!(error, ApiError::Decode { .. }));
                observed += 1;
            },
        )
        .await
        .unwrap();
        assert_eq!((value, attempts, observed), (3, 3, 2));

        let stale = Replay::CachedPost {
            first_attempt_at: Utc::now() - chrono::Duration::hours(24),
        };
        let mut calls = 0;
        let result: Result<((), u32), _> = with_retries(&policy, stale, "submit", || {
            calls += 1;
            async { Err(undecodable()) }
        })
        .await;
        assert!(matches!(result, Err(ApiError::Decode { .. })));
        assert_eq!(calls, 1, "outside the cache window a resend is a new batch");
    }

    #[tokio::test(start_paused = true)]
    async fn a_post_outside_the_window_is_not_retried() {
        let policy = RetryPolicy::default();
        let stale = Utc::now() - chrono::Duration::hours(24);
        let mut calls = 0;
        let result: Result<((), u32), _> = with_retries(
            &policy,
            Replay::CachedPost {
                first_attempt_at: stale,
            },
            "submit",
            || {
                calls += 1;
                async { Err(status(503, None)) }
            },
        )
        .await;
        assert!(result.unwrap_err().is_retryable());
        assert_eq!(calls, 1);
    }
}
