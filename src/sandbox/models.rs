//! The bodies the sandbox writes, shaped exactly like Rightfoot's.
//!
//! These structs exist only to be serialized onto the wire (responses and the webhook
//! payload); they carry no behaviour and are separate from the sandbox's state types.
//! Field names, order and null-versus-absent choices follow the pages' examples.
//! Money goes out as the exact decimal text of the cents (`-83.68`), never through a
//! float.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

/// RFC 3339 in UTC with a `Z` and whole seconds, as the pages' examples write times.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `ApiErrorResponse` envelope every error is wrapped in.
#[derive(Serialize)]
pub struct ApiErrorResponse {
    pub status: &'static str,
    pub status_code: u16,
    pub error: ApiErrorBody,
    /// The submission endpoints' examples carry `"batch_id": null`; the others do not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<()>,
    pub documentation_url: &'static str,
}

#[derive(Serialize)]
pub struct ApiErrorBody {
    pub code: &'static str,
    pub message: String,
    /// Sometimes a string, sometimes an object (the CSV upload's per-row failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    pub timestamp: String,
    pub suggestion: String,
}

/// `201 Created` from both submission endpoints.
#[derive(Serialize)]
pub struct BatchCreatedResponse {
    pub batch_id: String,
    pub submitted_at: String,
    pub message: &'static str,
    pub failed_authorizers: Vec<FailedAuthorizer>,
    /// Only for CSV uploads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// One rejected row of a submission.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FailedAuthorizer {
    /// The id as submitted. A row without one has no `authorizer_unique_id` key: the
    /// schema types the field as a string, not a nullable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_unique_id: Option<String>,
    /// An `AuthorizerValidationError` message, word for word.
    pub error: String,
    /// `ACCOUNT_NUMBER` or `DEBIT_CARD`.
    pub account_type: &'static str,
    /// Only for CSV uploads: the header is row 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_number: Option<u64>,
}

/// `GET /v1/balances`.
#[derive(Serialize)]
pub struct BatchBalancesResponse {
    pub batch_id: String,
    pub total_processed: usize,
    pub balances: Vec<BalanceRecord>,
    pub has_more: bool,
    pub next_page_token: Option<String>,
}

#[derive(Serialize)]
pub struct BalanceRecord {
    pub authorizer_unique_id: String,
    pub balance: Option<Box<RawValue>>,
    pub timestamp: String,
    pub balance_status_code: u32,
    /// Deprecated in favour of `balance_status_code`, and still sent.
    pub status_code: u32,
}

/// `GET /v1/monitoring/authorizers/{id}/history`.
#[derive(Serialize)]
pub struct AuthorizerHistoryResponse {
    pub authorizer_unique_id: String,
    pub total_count: usize,
    pub history: Vec<HistoryEntry>,
    pub next_page_token: Option<String>,
    pub has_more: bool,
}

#[derive(Serialize)]
pub struct HistoryEntry {
    pub run_at: String,
    pub batch_id: String,
    pub balance_amount: Option<Box<RawValue>>,
    /// `success` or `failed`.
    pub status: &'static str,
    pub error_message: Option<String>,
}

/// The `BALANCE_BATCH_COMPLETED` webhook body: no results, only the batch id.
#[derive(Serialize)]
pub struct BatchCompletedEvent<'a> {
    pub event_uuid: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub batch_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_seconds_with_z() {
        let at: DateTime<Utc> = "2024-08-09T18:10:44.123456Z".parse().unwrap();
        assert_eq!(timestamp(at), "2024-08-09T18:10:44Z");
    }
}
