//! The cheapest documented call that proves the API can be reached with this key:
//! `GET /v1/balances` for a batch that cannot exist. Rightfoot answers `404` when the key
//! is accepted and `401` when it is not (the results page documents both), and nothing
//! is checked or paid for.
//!
//! `check-config --online` reports its answer, and `run-now` makes it the run's first
//! request, so that an unreachable API or a refused key ends the command in seconds
//! instead of being retried until the result deadline.

use std::time::Duration;

use reqwest::Method;

use super::client::RightfootClient;
use super::error::ApiError;

/// A batch id no submission is ever given (the nil UUID).
const NO_SUCH_BATCH: &str = "00000000-0000-0000-0000-000000000000";

/// How long the probe waits for an answer, connection included.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl RightfootClient {
    /// One attempt, no retries, at most [`PROBE_TIMEOUT`]: `Ok` when Rightfoot answered
    /// and accepted the key (`404` for the made-up batch, or a success), the error
    /// otherwise (connection, DNS, TLS, timeout, `401`, `403`, `5xx`...).
    pub async fn check_access(&self) -> Result<(), ApiError> {
        let mut url = self.endpoint(&["v1", "balances"]);
        url.query_pairs_mut()
            .append_pair("batchId", NO_SUCH_BATCH)
            .append_pair("limit", "1");
        let request = self.request(Method::GET, url).timeout(PROBE_TIMEOUT);
        let attempt = self.attempt_head(request, self.redactor());
        match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
            Err(_) => Err(ApiError::Timeout(format!(
                "no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ))),
            Ok(Ok(_)) | Ok(Err(ApiError::NotFound(_))) => Ok(()),
            Ok(Err(error)) => Err(error),
        }
    }
}

/// Whether an error from the first request means the run cannot go on at all: no
/// connection (refused, DNS, TLS), no answer, or a refused key. A `5xx` or `429` is
/// transient and left to the run's retries.
pub fn is_fatal_first_error(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Connect(_)
            | ApiError::Timeout(_)
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden(_)
    )
}
