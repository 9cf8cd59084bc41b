//! Rightfoot's answers as a server writes them: the bodies of `GET /v1/balances` and
//! `GET /v1/monitoring/authorizers/{id}/history`, the `ApiErrorResponse` envelope of
//! every error, the time format of its pages, and how its read routes take their
//! `limit`.
//!
//! Two servers speak Rightfoot's read API: the built-in sandbox, and the daemon's local
//! HTTP API, which serves the stored results in Rightfoot's shapes. Both write these
//! structs, so the two cannot drift apart. They exist only to be serialized: field
//! names and order follow the pages' examples, money goes out as the exact decimal text
//! of the cents ([`crate::domain::Cents::to_json_number`]), never through a float, and
//! times as [`timestamp`]. The client reads answers through `models`, not these.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

/// RFC 3339 in UTC with a `Z` and whole seconds, as the pages' examples write times
/// (`2024-08-09T18:10:44Z`).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The 400 for a `limit` that is not an integer from 1 to 100: message and suggestion.
pub const INVALID_LIMIT: (&str, &str) = (
    "Invalid limit. The limit must be an integer between 1 and 100.",
    "Please provide a limit between 1 and 100.",
);

/// A read route's `limit` parameter: absent is `default`; otherwise an integer from 1
/// to 100, or `None` for the 400 of [`INVALID_LIMIT`].
pub fn limit(text: Option<&str>, default: u32) -> Option<u32> {
    let Some(text) = text else {
        return Some(default);
    };
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|limit| (1..=100).contains(limit))
}

/// The `ApiErrorResponse` envelope every error answer is wrapped in.
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

/// The envelope's `error`.
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

impl ApiErrorResponse {
    /// The envelope of one error, time-stamped `at`, without `details` or `batch_id`
    /// (a caller that sends them sets those fields).
    pub fn new(
        status_code: u16,
        code: &'static str,
        message: String,
        suggestion: String,
        at: DateTime<Utc>,
        documentation_url: &'static str,
    ) -> ApiErrorResponse {
        ApiErrorResponse {
            status: "error",
            status_code,
            error: ApiErrorBody {
                code,
                message,
                details: None,
                timestamp: timestamp(at),
                suggestion,
            },
            batch_id: None,
            documentation_url,
        }
    }
}

/// `GET /v1/balances` (`BatchBalancesResponse`).
#[derive(Serialize)]
pub struct BatchBalancesResponse {
    pub batch_id: String,
    pub total_processed: u64,
    pub balances: Vec<BalanceRecord>,
    pub has_more: bool,
    pub next_page_token: Option<String>,
}

/// One entry of `balances[]` (`BalanceRecord`).
#[derive(Serialize)]
pub struct BalanceRecord {
    pub authorizer_unique_id: String,
    pub balance: Option<Box<RawValue>>,
    pub timestamp: String,
    pub balance_status_code: i64,
    /// Deprecated by Rightfoot in favour of `balance_status_code`, and still sent.
    pub status_code: i64,
}

/// `GET /v1/monitoring/authorizers/{id}/history`.
#[derive(Serialize)]
pub struct AuthorizerHistoryResponse {
    pub authorizer_unique_id: String,
    pub total_count: u64,
    pub history: Vec<HistoryEntry>,
    pub next_page_token: Option<String>,
    pub has_more: bool,
}

/// One entry of `history[]`.
#[derive(Serialize)]
pub struct HistoryEntry {
    pub run_at: String,
    pub batch_id: String,
    pub balance_amount: Option<Box<RawValue>>,
    /// `success` or `failed`.
    pub status: &'static str,
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_seconds_with_z() {
        let at: DateTime<Utc> = "2024-08-09T18:10:44.123456Z".parse().unwrap();
        assert_eq!(timestamp(at), "2024-08-09T18:10:44Z");
    }

    #[test]
    fn limits_are_1_to_100() {
        assert_eq!(limit(None, 10), Some(10));
        assert_eq!(limit(Some(" 100 "), 10), Some(100));
        for bad in ["0", "101", "-1", "ten", "", "1.5"] {
            assert_eq!(limit(Some(bad), 10), None, "{bad:?}");
        }
    }
}
