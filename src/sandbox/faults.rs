//! Fault injection: errors, rate limits, latency and cut-off bodies, on purpose.
//!
//! After authentication, each request draws from the sandbox's seeded RNG: with the
//! configured shares it is answered `500`, `503` or `429` (with `Retry-After`) without
//! being processed, so a retried POST is always safe after one of these. Otherwise it
//! is processed, and a share of successful answers has its body cut in half (a
//! created batch stays created: the retry of an identical body then gets the cached
//! response, which is exactly what the 24-hour cache is for). Latency is added in real
//! time before answering. The 404 window after a create is per batch and lives in
//! [`super::results`].
//!
//! This module owns the draw and the altered responses; it does not know the routes.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::App;
use super::config::FaultConfig;
use super::routes::{ApiError, MAX_BODY_BYTES};

/// What one request suffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    InternalError,
    Unavailable,
    RateLimited,
}

/// One draw: an error fault by its share, and (independently) whether to cut the body.
pub fn draw(faults: &FaultConfig, rng: &mut fastrand::Rng) -> (Fault, bool) {
    let roll = rng.u8(0..100);
    let internal = faults.error_500_percent;
    let unavailable = internal.saturating_add(faults.error_503_percent);
    let rate_limited = unavailable.saturating_add(faults.error_429_percent);
    let fault = if roll < internal {
        Fault::InternalError
    } else if roll < unavailable {
        Fault::Unavailable
    } else if roll < rate_limited {
        Fault::RateLimited
    } else {
        Fault::None
    };
    let truncate = faults.malformed_percent > 0 && rng.u8(0..100) < faults.malformed_percent;
    (fault, truncate)
}

pub async fn apply(app: &App, request: Request, next: Next) -> Response {
    let faults = &app.settings.faults;
    let (fault, truncate) = draw(faults, &mut app.lock().rng);
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
    if truncate && response.status().is_success() {
        return cut_in_half(response).await;
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

    #[test]
    fn shares_are_respected_and_seeded() {
        let faults = FaultConfig {
            error_500_percent: 10,
            error_503_percent: 20,
            error_429_percent: 30,
            malformed_percent: 50,
            ..FaultConfig::default()
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let draws: Vec<(Fault, bool)> = (0..10_000).map(|_| draw(&faults, &mut rng)).collect();
        let count = |f: Fault| draws.iter().filter(|(d, _)| *d == f).count();
        assert!((800..1200).contains(&count(Fault::InternalError)));
        assert!((1700..2300).contains(&count(Fault::Unavailable)));
        assert!((2700..3300).contains(&count(Fault::RateLimited)));
        assert!((3600..4400).contains(&count(Fault::None)));
        let cut = draws.iter().filter(|(_, t)| *t).count();
        assert!((4500..5500).contains(&cut));
        let mut again = fastrand::Rng::with_seed(1);
        let replay: Vec<(Fault, bool)> = (0..10_000).map(|_| draw(&faults, &mut again)).collect();
        assert_eq!(draws, replay);
    }

    #[test]
    fn no_faults_means_no_faults() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..1000 {
            assert_eq!(
                draw(&FaultConfig::default(), &mut rng),
                (Fault::None, false)
            );
        }
    }
}
