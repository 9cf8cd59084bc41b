//! How long Rightfoot takes to answer, by endpoint and HTTP status: a histogram per
//! series, recorded by the client around every attempt and read by `/metrics`; and how
//! many submissions were sent again because their `201` could not be decoded.
//!
//! [`RequestMetrics`] is cheap to clone (one `Arc`); the daemon makes one and gives it
//! to every client it builds, so the figures survive a reload that rebuilds the client.
//! This module records and snapshots; it renders nothing (the HTTP layer writes the
//! Prometheus text) and it never sees a URL beyond its endpoint class, so no
//! authorizer id or batch id becomes a label.
//!
//! Concurrency: recording is lock-light. The series map sits behind a
//! `std::sync::RwLock` that a recording thread takes for reading only, to find its
//! series; the counts themselves are atomics. The write lock is taken once per new
//! (endpoint, status) pair, which happens a handful of times in a process's life, and
//! never across an `.await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// Upper bounds of the histogram's buckets, in seconds (Prometheus's `le`). Rightfoot
/// answers a page in tens of milliseconds and a submission in up to tens of seconds;
/// the client's request timeout is 30 s by default.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Which of Rightfoot's operations a request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `POST /v1/balance_requests`
    SubmitBatch,
    /// `GET /v1/balances`
    Balances,
    /// `GET /v1/balances/csv`
    BalancesCsv,
    /// `GET /v1/monitoring/authorizers/{id}/history`
    AuthorizerHistory,
    /// Anything else.
    Other,
}

impl Endpoint {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::SubmitBatch => "balance_requests",
            Endpoint::Balances => "balances",
            Endpoint::BalancesCsv => "balances_csv",
            Endpoint::AuthorizerHistory => "authorizer_history",
            Endpoint::Other => "other",
        }
    }

    /// The endpoint of a request path (a base URL's path prefix is allowed).
    pub fn of_path(path: &str) -> Endpoint {
        let path = path.trim_end_matches('/');
        if path.ends_with("/v1/balance_requests") {
            Endpoint::SubmitBatch
        } else if path.ends_with("/v1/balances") {
            Endpoint::Balances
        } else if path.ends_with("/v1/balances/csv") {
            Endpoint::BalancesCsv
        } else if path.contains("/v1/monitoring/authorizers/") && path.ends_with("/history") {
            Endpoint::AuthorizerHistory
        } else {
            Endpoint::Other
        }
    }
}

/// What an attempt ended with: an HTTP status, or no answer (a timeout, a refused or
/// broken connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Answer {
    Status(u16),
    NoAnswer,
}

impl Answer {
    /// The label value: the status code, or `error`.
    pub fn label(self) -> String {
        match self {
            Answer::Status(code) => code.to_string(),
            Answer::NoAnswer => "error".to_string(),
        }
    }
}

/// The histograms of request durations, and the count of submissions re-sent after an
/// undecodable `201`. `Default` starts empty.
#[derive(Clone, Default)]
pub struct RequestMetrics {
    series: Arc<RwLock<SeriesMap>>,
    submission_decode_retries: Arc<AtomicU64>,
}

/// One histogram per (endpoint, answer) seen so far.
type SeriesMap = BTreeMap<(Endpoint, Answer), Arc<Series>>;

impl std::fmt::Debug for RequestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetrics").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Series {
    /// Per bucket (not cumulative), plus one for `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// One series as read at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    pub endpoint: Endpoint,
    pub answer: Answer,
    /// Cumulative counts for each of [`DURATION_BUCKETS`], in order.
    pub cumulative: [u64; DURATION_BUCKETS.len()],
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    pub sum_seconds: f64,
}

impl RequestMetrics {
    /// Records one attempt that took `elapsed`.
    pub fn record(&self, endpoint: Endpoint, answer: Answer, elapsed: Duration) {
        let key = (endpoint, answer);
        let existing = self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let series = match existing {
            Some(series) => series,
            None => Arc::clone(
                self.series
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(key)
                    .or_default(),
            ),
        };
        let seconds = elapsed.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        series.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        series.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        series.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Counts one submission sent again because its `201` could not be decoded.
    pub fn record_submission_decode_retry(&self) {
        self.submission_decode_retries
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Submissions sent again because their `201` could not be decoded, since start.
    pub fn submission_decode_retries(&self) -> u64 {
        self.submission_decode_retries.load(Ordering::Relaxed)
    }

    /// Every series, ordered by endpoint then answer. The counters of one series are
    /// read one after the other, so a recording in between can make `count` one ahead
    /// of the buckets; Prometheus tolerates that, and nothing here depends on it.
    pub fn snapshot(&self) -> Vec<HistogramSnapshot> {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        series
            .iter()
            .map(|(&(endpoint, answer), series)| {
                let mut cumulative = [0u64; DURATION_BUCKETS.len()];
                let mut running = 0;
                for (index, slot) in cumulative.iter_mut().enumerate() {
                    running += series.buckets[index].load(Ordering::Relaxed);
                    *slot = running;
                }
                let count = series.count.load(Ordering::Relaxed).max(running);
                HistogramSnapshot {
                    endpoint,
                    answer,
                    cumulative,
                    count,
                    sum_seconds: series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_classified_by_path_without_ids() {
        let table = [
            ("/v1/balance_requests", Endpoint::SubmitBatch),
            ("/prefix/v1/balance_requests", Endpoint::SubmitBatch),
            ("/v1/balances", Endpoint::Balances),
            ("/v1/balances/csv", Endpoint::BalancesCsv),
            (
                "/v1/monitoring/authorizers/A%2F1/history",
                Endpoint::AuthorizerHistory,
            ),
            ("/v1/balance_requests/csv", Endpoint::Other),
            ("/", Endpoint::Other),
        ];
        for (path, endpoint) in table {
            assert_eq!(Endpoint::of_path(path), endpoint, "{path}");
        }
    }

    #[test]
    fn observations_land_in_cumulative_buckets_with_their_sum() {
        let metrics = RequestMetrics::default();
        let ok = Answer::Status(200);
        metrics.record(Endpoint::Balances, ok, Duration::from_millis(5));
        metrics.record(Endpoint::Balances, ok, Duration::from_millis(10));
        metrics.record(Endpoint::Balances, ok, Duration::from_millis(300));
        metrics.record(Endpoint::Balances, ok, Duration::from_secs(120));
        metrics.record(
            Endpoint::SubmitBatch,
            Answer::NoAnswer,
            Duration::from_secs(30),
        );
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.len(), 2);
        let submit = &snapshot[0];
        assert_eq!(
            (submit.endpoint, submit.answer),
            (Endpoint::SubmitBatch, Answer::NoAnswer)
        );
        assert_eq!(submit.count, 1);
        assert_eq!(submit.cumulative[9], 0, "30 s is above the 10 s bucket");
        assert_eq!(submit.cumulative[10], 1, "and within the 30 s one");
        let balances = &snapshot[1];
        assert_eq!(
            balances.cumulative,
            [2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3],
            "0.005 and 0.010 in le=0.01, 0.3 in le=0.5, 120 only in +Inf"
        );
        assert_eq!(balances.count, 4);
        assert!((balances.sum_seconds - 120.315).abs() < 1e-9);
        assert_eq!(Answer::NoAnswer.label(), "error");
        assert_eq!(Answer::Status(503).label(), "503");
    }
}
