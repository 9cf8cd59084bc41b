//! Fault injection: errors, rate limits, latency and cut-off bodies, on purpose.
//!
//! After authentication, each request draws from a [`FaultDeck`] shuffled by the
//! sandbox's seeded RNG: with the configured shares it is answered `500`, `503` or
//! `429` (with `Retry-After`) without being processed, so a retried POST is always safe
//! after one of these. Otherwise it is processed, and a share of successful answers has
//! its body cut in half (a created batch stays created: the retry of an identical body
//! then gets the cached response, which is exactly what the 24-hour cache is for).
//! Latency is added in real time before answering. The 404 window after a create is
//! per batch, and the results endpoint applies it.
//!
//! The shares are exact, not just expected: each block of requests (ten, for shares
//! that are multiples of 10%) holds each fault exactly its share of times, in a random
//! order, and likewise each block of successful answers its share of cut ones. So a
//! short session, such as a test's forty requests, sees every configured fault, and a
//! long one sees no run of luck either way.
//!
//! This module owns what may be injected ([`FaultConfig`]), the draw and the altered
//! responses; it does not know the routes.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::App;
use super::error::ApiError;
use super::request::MAX_BODY_BYTES;

/// Failures the sandbox injects into otherwise good answers, to exercise a client's
/// retry and recovery paths. Each share is exact within every block of requests (ten
/// for multiples of 10%), in a seeded random order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// Share of requests answered `500 Internal Server Error`, 0..=100.
    pub error_500_percent: u8,
    /// Share of requests answered `503 Service Unavailable`, 0..=100.
    pub error_503_percent: u8,
    /// Share of requests answered `429 Too Many Requests` with `Retry-After`, 0..=100.
    pub error_429_percent: u8,
    /// The `Retry-After` sent with a 429 (whole seconds, rounded up, at least 1).
    pub retry_after: Duration,
    /// Real-time delay added before every authenticated request is answered.
    pub latency: Duration,
    /// `GET /v1/balances` answers 404 for this long (sandbox time) after a batch's 201,
    /// as the real service may while a new batch propagates.
    pub not_found_after_create: Duration,
    /// Share of successful answers whose body is cut in half, 0..=100.
    pub malformed_percent: u8,
}

/// What one request suffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    InternalError,
    Unavailable,
    RateLimited,
}

/// The faults still to be dealt in the current blocks: one deck for the requests, one
/// for the successful answers. Each is refilled with a freshly shuffled block when it
/// runs out.
#[derive(Debug, Default)]
pub struct FaultDeck {
    faults: Vec<Fault>,
    cuts: Vec<bool>,
}

impl FaultDeck {
    /// The fault of the next request.
    pub fn fault(&mut self, config: &FaultConfig, rng: &mut fastrand::Rng) -> Fault {
        if self.faults.is_empty() {
            let shares = [
                (Fault::InternalError, config.error_500_percent),
                (Fault::Unavailable, config.error_503_percent),
                (Fault::RateLimited, config.error_429_percent),
            ];
            let size = block_size(shares.iter().map(|(_, percent)| *percent));
            for (fault, percent) in shares {
                let count = usize::from(percent) * size / 100;
                self.faults.extend(std::iter::repeat_n(fault, count));
            }
            self.faults.truncate(size);
            self.faults.resize(size, Fault::None);
            rng.shuffle(&mut self.faults);
        }
        self.faults.pop().unwrap_or(Fault::None)
    }

    /// Whether the next successful answer is cut.
    pub fn cut(&mut self, config: &FaultConfig, rng: &mut fastrand::Rng) -> bool {
        if self.cuts.is_empty() {
            let size = block_size([config.malformed_percent]);
            let count = usize::from(config.malformed_percent.min(100)) * size / 100;
            self.cuts.extend((0..size).map(|i| i < count));
            rng.shuffle(&mut self.cuts);
        }
        self.cuts.pop().unwrap_or(false)
    }
}

/// The fewest requests in which every share (in percent) is a whole number: 100 over
/// the greatest common divisor of 100 and the shares (10 for multiples of 10%).
fn block_size(percents: impl IntoIterator<Item = u8>) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    100 / percents
        .into_iter()
        .fold(100, |divisor, percent| gcd(divisor, usize::from(percent)))
}

pub async fn apply(app: &App, request: Request, next: Next) -> Response {
    let faults = &app.settings.faults;
    let fault = {
        let mut state = app.lock();
        let state = &mut *state;
        state.fault_deck.fault(faults, &mut state.rng)
    };
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let now = app.clock.now();
    let error = match fault {
        Fault::None => None,
        Fault::InternalError => Some(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "An unexpected error occurred while processing your request.",
            "Please try again later. If the problem persists, contact our support team.",
        )),
        Fault::Unavailable => Some(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable.",
            "Please try again later.",
        )),
        Fault::RateLimited => {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "Too many requests.",
                "Please wait before retrying, as the Retry-After header says.",
            );
            let seconds =
                faults.retry_after.as_secs() + u64::from(faults.retry_after.subsec_nanos() > 0);
            error.retry_after_seconds = Some(seconds.max(1));
            Some(error)
        }
    };
    if let Some(error) = error {
        tracing::debug!(status = error.status.as_u16(), "sandbox injected an error");
        return error.respond(now);
    }
    let response = next.run(request).await;
    if faults.malformed_percent > 0 && response.status().is_success() {
        let cut = {
            let mut state = app.lock();
            let state = &mut *state;
            state.fault_deck.cut(faults, &mut state.rng)
        };
        if cut {
            return cut_in_half(response).await;
        }
    }
    response
}

/// The same response with only the first half of its body.
async fn cut_in_half(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    tracing::debug!("sandbox cut a response body in half");
    Response::from_parts(parts, Body::from(half))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` requests, and whether each successful one would be cut.
    fn deal(faults: &FaultConfig, seed: u64, count: usize) -> Vec<(Fault, bool)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut deck = FaultDeck::default();
        (0..count)
            .map(|_| {
                let fault = deck.fault(faults, &mut rng);
                let cut = fault == Fault::None && deck.cut(faults, &mut rng);
                (fault, cut)
            })
            .collect()
    }

    #[test]
    fn every_block_holds_each_share_exactly_in_a_seeded_order() {
        let faults = FaultConfig {
            error_500_percent: 10,
            error_503_percent: 20,
            error_429_percent: 30,
            malformed_percent: 50,
            ..FaultConfig::default()
        };
        let draws = deal(&faults, 1, 10_000);
        for block in draws.chunks(10) {
            let count = |f: Fault| block.iter().filter(|(d, _)| *d == f).count();
            assert_eq!(
                [
                    count(Fault::InternalError),
                    count(Fault::Unavailable),
                    count(Fault::RateLimited),
                    count(Fault::None)
                ],
                [1, 2, 3, 4],
                "{block:?}"
            );
        }
        // Of the 4,000 successful answers, exactly half are cut, five in every ten.
        let successes: Vec<bool> = draws
            .iter()
            .filter(|(fault, _)| *fault == Fault::None)
            .map(|(_, cut)| *cut)
            .collect();
        assert_eq!(successes.len(), 4_000);
        for block in successes.chunks(10) {
            assert_eq!(block.iter().filter(|cut| **cut).count(), 5);
        }
        // Shuffled: not the same order in every block, and the seed repeats it.
        assert!(draws.chunks(10).any(|block| block != &draws[..10]));
        assert_eq!(draws, deal(&faults, 1, 10_000));
        assert_ne!(draws, deal(&faults, 2, 10_000));
    }

    #[test]
    fn shares_that_are_not_multiples_of_ten_are_exact_per_hundred() {
        let faults = FaultConfig {
            error_500_percent: 7,
            error_503_percent: 0,
            error_429_percent: 25,
            malformed_percent: 3,
            ..FaultConfig::default()
        };
        assert_eq!(block_size([7, 0, 25]), 100);
        assert_eq!(block_size([10, 10, 10]), 10);
        assert_eq!(block_size([25]), 4);
        assert_eq!(block_size([0, 0, 0]), 1);
        let draws = deal(&faults, 9, 1_000);
        for block in draws.chunks(100) {
            let count = |f: Fault| block.iter().filter(|(d, _)| *d == f).count();
            assert_eq!(count(Fault::InternalError), 7);
            assert_eq!(count(Fault::Unavailable), 0);
            assert_eq!(count(Fault::RateLimited), 25);
        }
    }

    #[test]
    fn no_faults_means_no_faults() {
        let draws = deal(&FaultConfig::default(), 3, 1000);
        assert!(draws.iter().all(|draw| *draw == (Fault::None, false)));
    }
}
