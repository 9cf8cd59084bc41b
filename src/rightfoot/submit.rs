//! Submitting one chunk: `POST /v1/balance_requests` → [`SubmitOutcome`].
//!
//! The client takes the body as bytes, already built by
//! [`crate::authorizers::wire::request_body`], and never re-serializes it: every attempt
//! sends the same `Bytes`, so a retry hits Rightfoot's 24-hour body-hash cache instead
//! of starting a second check. [`body_sha256`] is the hash that cache keys on, for the
//! caller to store and to recognise a cached answer.
//!
//! This module owns the request and the decoding of its `201`. It does not build the
//! body, split authorizers into chunks, decide whether a reused `batch_id` is stale,
//! or store anything.

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::client::{JSON_BODY_LIMIT, RightfootClient, decode_json};
use super::error::ApiError;
use super::models::{BatchCreatedWire, timestamp, value_text};
use super::retry::{Replay, with_retries_observed};

const WHAT: &str = "balance request response";

/// The lowercase hex SHA-256 of a request body: what Rightfoot's 24-hour cache keys on.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Rightfoot's answer to one submitted chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// Opaque: a UUID, `BATCH-98765`, anything. Compared, never parsed.
    pub batch_id: String,
    /// When Rightfoot says the batch was submitted. Older than this run's first attempt
    /// means the answer came from the 24-hour cache.
    pub submitted_at: DateTime<Utc>,
    pub message: String,
    /// The `Location` header, if sent.
    pub location: Option<String>,
    /// Rows Rightfoot rejected, as it listed them; the rest of the batch is accepted.
    pub failed: Vec<FailedAuthorizer>,
    /// Authorizers accepted: the distinct ids of the body sent, less those `failed`
    /// names (each once; an entry for an id that was not sent, or without an id,
    /// takes nobody away).
    pub accepted: usize,
    /// Non-fatal parsing warnings (CSV uploads only, per the docs).
    pub warnings: Vec<String>,
    /// [`body_sha256`] of the bytes sent.
    pub body_sha256: String,
    /// Attempts made, the successful one included.
    pub attempts: u32,
}

/// One row Rightfoot rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAuthorizer {
    /// `None` when Rightfoot could not name the row (e.g. a missing id).
    pub authorizer_unique_id: Option<String>,
    /// Rightfoot's validation message, e.g. `Missing date of birth for authorizer(s).`
    pub error: String,
    /// `ACCOUNT_NUMBER` or `DEBIT_CARD`, when sent.
    pub account_type: Option<String>,
    /// CSV uploads only: the source row, header = 1.
    pub row_number: Option<u64>,
}

impl RightfootClient {
    /// Submits one chunk's request body.
    ///
    /// `first_attempt_at` is when this exact body was first sent: now for a new chunk,
    /// the stored time for a chunk resubmitted after a crash. Retries (5xx, 408, 429,
    /// timeouts, connection failures, and a `201` whose body cannot be decoded, counted in
    /// [`super::RequestMetrics::submission_decode_retries`]) send the same bytes, which
    /// Rightfoot answers from its cache with the same batch, and stop once a retry would
    /// leave the policy's `post_retry_window` from that time. The first attempt is
    /// always made; resubmitting after the window is the caller's decision, and
    /// Rightfoot treats it as a new batch.
    ///
    /// A `400` rejecting the whole batch is [`ApiError::BadRequest`] with the envelope.
    /// Error messages have the API key and the body's personal data redacted.
    pub async fn submit_chunk(
        &self,
        body: &[u8],
        first_attempt_at: DateTime<Utc>,
    ) -> Result<SubmitOutcome, ApiError> {
        if body.is_empty() {
            return Err(ApiError::InvalidRequest("the request body is empty".into()));
        }
        let body = Bytes::copy_from_slice(body);
        let body_hash = body_sha256(&body);
        let redactor = self.redactor().with_body_strings(&body);
        let url = self.endpoint(&["v1", "balance_requests"]);
        let ((received, created), attempts) = with_retries_observed(
            self.retry_policy(),
            Replay::CachedPost { first_attempt_at },
            "submit balance request",
            || {
                let request = self
                    .request(Method::POST, url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
                let redactor = &redactor;
                async move {
                    let received = self
                        .attempt_full(request, WHAT, redactor, JSON_BODY_LIMIT)
                        .await?;
                    let created = parse_batch_created(&received.body)?;
                    Ok((received, created))
                }
            },
            |error| {
                if matches!(error, ApiError::Decode { .. }) {
                    self.metrics().record_submission_decode_retry();
                }
            },
        )
        .await?;
        let accepted = accepted_members(&body, &created.failed);
        Ok(SubmitOutcome {
            batch_id: created.batch_id,
            submitted_at: created.submitted_at,
            message: created.message,
            location: received
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            failed: created.failed,
            accepted,
            warnings: created.warnings,
            body_sha256: body_hash,
            attempts,
        })
    }
}

/// How many distinct authorizer ids of the request `body` the `failed` entries do not
/// name. A body that is not a submission (the caller's mistake) has none.
fn accepted_members(body: &[u8], failed: &[FailedAuthorizer]) -> usize {
    #[derive(Deserialize)]
    struct Sent<'a> {
        #[serde(default, borrow)]
        authorizers: Vec<SentAuthorizer<'a>>,
    }
    #[derive(Deserialize)]
    struct SentAuthorizer<'a> {
        #[serde(default, borrow)]
        authorizer_unique_id: Option<Cow<'a, str>>,
    }
    let sent: Sent<'_> = match serde_json::from_slice(body) {
        Ok(sent) => sent,
        Err(_) => return 0,
    };
    let members: HashSet<&str> = sent
        .authorizers
        .iter()
        .filter_map(|a| a.authorizer_unique_id.as_deref())
        .collect();
    let refused: HashSet<&str> = failed
        .iter()
        .filter_map(|f| f.authorizer_unique_id.as_deref())
        .filter(|id| members.contains(id))
        .collect();
    members.len() - refused.len()
}

/// The body of a `201` to `POST /v1/balance_requests`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchCreated {
    pub batch_id: String,
    pub submitted_at: DateTime<Utc>,
    pub message: String,
    pub failed: Vec<FailedAuthorizer>,
    pub warnings: Vec<String>,
}

/// Parses the body of a `201` answer to a submission, as
/// [`RightfootClient::submit_chunk`] does. Public so that it can be driven with
/// arbitrary bytes (the `rightfoot_responses` fuzz target); any input gives the batch
/// or an [`ApiError::Decode`].
pub fn parse_batch_created(body: &[u8]) -> Result<BatchCreated, ApiError> {
    let wire: BatchCreatedWire = decode_json(body, WHAT)?;
    let batch_id = wire
        .batch_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::Decode {
            what: WHAT,
            reason: "no batch_id".into(),
        })?;
    let submitted_at = wire
        .submitted_at
        .as_deref()
        .and_then(timestamp)
        .ok_or_else(|| ApiError::Decode {
            what: WHAT,
            reason: format!("batch {batch_id} has a missing or unreadable submitted_at"),
        })?;
    let failed = wire
        .failed_authorizers
        .unwrap_or_default()
        .into_iter()
        .map(|row| FailedAuthorizer {
            authorizer_unique_id: row.authorizer_unique_id,
            error: row.error.as_ref().and_then(value_text).unwrap_or_default(),
            account_type: row.account_type,
            row_number: row.row_number,
        })
        .collect();
    Ok(BatchCreated {
        batch_id,
        submitted_at,
        message: wire.message.unwrap_or_default(),
        failed,
        warnings: wire.warnings.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lowercase_hex_of_the_bytes() {
        assert_eq!(
            body_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            body_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
