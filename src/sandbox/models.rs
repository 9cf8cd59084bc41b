//! The bodies the sandbox writes, shaped exactly like Rightfoot's.
//!
//! These structs exist only to be serialized onto the wire (responses and the webhook
//! payload); they carry no behaviour and are separate from the sandbox's state types.
//! Field names, order and null-versus-absent choices follow the pages' examples.
//! The read API's bodies (`GET /v1/balances`, the history) and the `ApiErrorResponse`
//! envelope are `rightfoot::served`'s, which the daemon's local API writes too.

use serde::Serialize;

pub use crate::rightfoot::served::timestamp;

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

/// The `BALANCE_BATCH_COMPLETED` webhook body: no results, only the batch id.
#[derive(Serialize)]
pub struct BatchCompletedEvent<'a> {
    pub event_uuid: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub batch_id: &'a str,
}
