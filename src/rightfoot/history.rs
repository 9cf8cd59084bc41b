//! One authorizer's balance history as Rightfoot keeps it:
//! `GET /v1/monitoring/authorizers/{id}/history?limit=&nextPageToken=` (Early Access).
//!
//! One call fetches one page, newest first; the caller passes the returned
//! [`HistoryPage::next_page_token`] to get the next. The id goes into the path as one
//! percent-encoded segment, so an id holding `/`, `?` or `#` cannot reach another
//! endpoint. This module does not merge Rightfoot's history with the local store's.

use chrono::{DateTime, Utc};

use super::client::{RightfootClient, decode_json};
use super::error::ApiError;
use super::models::{AuthorizerHistoryWire, HistoryEntryWire, money, timestamp};
use crate::domain::Cents;

const WHAT: &str = "authorizer history page";

/// One page of an authorizer's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    pub authorizer_unique_id: String,
    /// `total_count`: all history records for the authorizer.
    pub total_count: Option<u64>,
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
    pub has_more: bool,
    /// Pass to the next call; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// One past check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub run_at: Option<DateTime<Utc>>,
    pub batch_id: Option<String>,
    /// `balance_amount`, exact to the cent; `None` when the check failed.
    pub balance: Option<Cents>,
    pub status: HistoryStatus,
    pub error_message: Option<String>,
}

/// `status` of a history entry: `success` or `failed`, other values kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryStatus {
    Success,
    Failed,
    Other(String),
}

impl RightfootClient {
    /// Fetches one page of `authorizer_id`'s history. `limit` is 1 to 100 (Rightfoot's
    /// default is 10); `page_token` is the previous page's `next_page_token`.
    pub async fn authorizer_history(
        &self,
        authorizer_id: &str,
        limit: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<HistoryPage, ApiError> {
        if matches!(authorizer_id, "" | "." | "..") {
            return Err(ApiError::InvalidRequest(format!(
                "authorizer id {authorizer_id:?} cannot be used in a url path"
            )));
        }
        if let Some(limit) = limit.filter(|l| !(1..=100).contains(l)) {
            return Err(ApiError::InvalidRequest(format!(
                "history limit must be between 1 and 100, not {limit}"
            )));
        }
        let mut url = self.endpoint(&["v1", "monitoring", "authorizers", authorizer_id, "history"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.to_string());
            }
            if let Some(token) = page_token.filter(|t| !t.is_empty()) {
                query.append_pair("nextPageToken", token);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let body = self.get_body(url, WHAT).await?;
        parse_history_page(&body, authorizer_id)
    }
}

/// Parses the body of an authorizer-history answer, as [`RightfootClient::authorizer_history`]
/// does; `authorizer_id` is the one asked for, used when the body does not name it.
/// Public so that it can be driven with arbitrary bytes (the `rightfoot_responses`
/// fuzz target); any input gives a page or an [`ApiError::Decode`].
pub fn parse_history_page(body: &[u8], authorizer_id: &str) -> Result<HistoryPage, ApiError> {
    let wire: AuthorizerHistoryWire = decode_json(body, WHAT)?;
    let next = wire.cursor();
    let has_more = wire.has_more.unwrap_or(next.is_some()) && next.is_some();
    let entries = wire
        .history
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, entry)| history_entry(index, entry))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HistoryPage {
        authorizer_unique_id: wire
            .authorizer_unique_id
            .unwrap_or_else(|| authorizer_id.to_string()),
        total_count: wire.total_count,
        entries,
        has_more,
        next_page_token: if has_more { next } else { None },
    })
}

fn history_entry(index: usize, entry: HistoryEntryWire) -> Result<HistoryEntry, ApiError> {
    let fail = |reason: String| ApiError::Decode { what: WHAT, reason };
    let balance = match &entry.balance_amount {
        None => None,
        Some(raw) => Some(
            money(raw)
                .map_err(|e| fail(format!("history[{index}].balance_amount {}", e.describe())))?,
        ),
    };
    let run_at = match entry.run_at.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            timestamp(text)
                .ok_or_else(|| fail(format!("history[{index}].run_at is not a date and time")))?,
        ),
    };
    let status = match entry.status.as_deref().map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("success") => HistoryStatus::Success,
        Some(s) if s.eq_ignore_ascii_case("failed") => HistoryStatus::Failed,
        Some(other) => HistoryStatus::Other(other.to_string()),
        None => HistoryStatus::Other(String::new()),
    };
    Ok(HistoryEntry {
        run_at,
        batch_id: entry.batch_id,
        balance,
        status,
        error_message: entry.error_message,
    })
}
