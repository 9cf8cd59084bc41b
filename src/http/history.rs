//! `GET /v1/monitoring/authorizers/{id}/history?limit=&nextPageToken=`: one authorizer's
//! history in Rightfoot's `AuthorizerHistoryResponse` shape, served from the store, with
//! no expiry.
//!
//! One entry per run that stored a result for the authorizer, across monitors, newest
//! run first; `limit` 1 to 100, default 10; `total_count` counts every entry; an
//! authorizer with no entry at all is a 404. The page token is an opaque keyset cursor
//! over run ids (`cursor`), so a walk returns every entry that existed when it began
//! exactly once, while new runs are stored.
//!
//! How a stored result becomes an entry:
//!
//! | stored | `status` | `balance_amount` | `error_message` |
//! |---|---|---|---|
//! | retrieved, code 0 | `success` | the balance | `null` |
//! | retrieved, another code | `failed` | the stored balance, normally `null` | the code's description, e.g. `Institution not supported`, or `Unknown balance status code 4242` |
//! | not retrieved (the run stopped waiting) | `failed` | `null` | `Not retrieved: ` and the run's reason, e.g. `Not retrieved: no result by the deadline` |
//! | rejected by Rightfoot at submission | `failed` | `null` | `Rejected by Rightfoot: ` and its reason |
//!
//! - `run_at` is when the run began (its creation; runs are numbered in that order, so
//!   `run_at` never increases down the list), whole seconds, UTC.
//! - `batch_id` is Rightfoot's batch id for the chunk that carried the authorizer; for
//!   a chunk that never got one (Rightfoot refused it whole, or its POST's outcome is
//!   unknown) it is the empty string, since the schema allows no `null`.
//! - `balance_amount` is a JSON number written from the stored cents.
//! - A check answered from Rightfoot's 24-hour body cache appears once, under the run
//!   whose chunk first recorded the batch: a later run served the same batch stores no
//!   copy (`store::queries`). Authorizers that pre-flight validation kept out of a run
//!   were never checked and have no entry for it.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::HttpState;
use super::cursor::{self, Walk};
use super::error::ApiProblem;
use super::params::QueryParams;
use super::wire::{AuthorizerHistoryResponse, HistoryEntry, json, timestamp};
use crate::domain::{BalanceStatus, Cents, ResultOutcome, RunId};
use crate::store::HistoryRow;

/// `limit` when the query has none, as Rightfoot's.
const DEFAULT_LIMIT: u32 = 10;

pub(crate) async fn authorizer_history(
    State(state): State<HttpState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let Path(id) = path.map_err(|_| {
        ApiProblem::bad_request(
            "Invalid authorizer ID in the path.",
            "Percent-encode the authorizer_unique_id as one UTF-8 path segment.",
        )
    })?;
    let params = QueryParams::parse(raw.as_deref());
    let limit = params.limit(DEFAULT_LIMIT)?;
    let before = params
        .page_token()
        .map(|token| cursor::decode_id(Walk::History, &id, token))
        .transpose()?;
    let page = state
        .store
        .history_page(&id, before.map(RunId), limit)
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    if page.total_count == 0 {
        return Err(ApiProblem::not_found(
            format!("No balance history for authorizer {id:?}."),
            "Please check the authorizer ID; history starts with the first run that checked it.",
        ));
    }
    let next_page_token = match (page.has_more, page.rows.last()) {
        (true, Some(last)) => Some(cursor::encode(Walk::History, &id, &last.run.0.to_string())),
        _ => None,
    };
    json(&AuthorizerHistoryResponse {
        authorizer_unique_id: id.clone(),
        total_count: page.total_count,
        history: page.rows.iter().map(entry).collect(),
        has_more: next_page_token.is_some(),
        next_page_token,
    })
}

fn entry(row: &HistoryRow) -> HistoryEntry {
    let (status, error_message) = match row.outcome {
        ResultOutcome::Retrieved => {
            let status = BalanceStatus::from_code(row.balance_status_code.unwrap_or(0));
            match status {
                BalanceStatus::Success => ("success", None),
                BalanceStatus::Unknown(code) => (
                    "failed",
                    Some(format!("Unknown balance status code {code}")),
                ),
                known => ("failed", Some(sentence_case(known.description()))),
            }
        }
        ResultOutcome::NotRetrieved => ("failed", Some(with_reason("Not retrieved", row))),
        ResultOutcome::Rejected => ("failed", Some(with_reason("Rejected by Rightfoot", row))),
    };
    HistoryEntry {
        run_at: timestamp(row.run_created_at),
        batch_id: row.rightfoot_batch_id.clone().unwrap_or_default(),
        balance_amount: row.balance.and_then(Cents::to_json_number),
        status,
        error_message,
    }
}

fn with_reason(what: &str, row: &HistoryRow) -> String {
    match row.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => format!("{what}: {reason}"),
        _ => what.to_string(),
    }
}

/// `institution not supported` → `Institution not supported`, as Rightfoot writes it.
fn sentence_case(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(outcome: ResultOutcome, code: Option<i64>, reason: Option<&str>) -> HistoryRow {
        HistoryRow {
            run: RunId(7),
            run_created_at: chrono::Utc
                .with_ymd_and_hms(2024, 12, 12, 2, 30, 0)
                .unwrap()
                + chrono::Duration::microseconds(123_456),
            rightfoot_batch_id: Some("BATCH-98765".into()),
            outcome,
            balance: (code == Some(0)).then_some(Cents(152_347)),
            balance_status_code: code,
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn every_outcome_has_its_entry() {
        let table = [
            (
                row(ResultOutcome::Retrieved, Some(0), None),
                "success",
                Some("1523.47"),
                None,
            ),
            (
                row(ResultOutcome::Retrieved, Some(3300), None),
                "failed",
                None,
                Some("Institution not supported"),
            ),
            (
                row(ResultOutcome::Retrieved, Some(4242), None),
                "failed",
                None,
                Some("Unknown balance status code 4242"),
            ),
            (
                row(
                    ResultOutcome::NotRetrieved,
                    None,
                    Some("no result by the deadline"),
                ),
                "failed",
                None,
                Some("Not retrieved: no result by the deadline"),
            ),
            (
                row(
                    ResultOutcome::Rejected,
                    None,
                    Some("Invalid SSN for authorizer(s)."),
                ),
                "failed",
                None,
                Some("Rejected by Rightfoot: Invalid SSN for authorizer(s)."),
            ),
            (
                row(ResultOutcome::NotRetrieved, None, None),
                "failed",
                None,
                Some("Not retrieved"),
            ),
        ];
        for (row, status, balance, message) in table {
            let entry = entry(&row);
            assert_eq!(entry.status, status, "{row:?}");
            assert_eq!(entry.balance_amount.as_ref().map(|raw| raw.get()), balance);
            assert_eq!(entry.error_message.as_deref(), message);
            assert_eq!(entry.run_at, "2024-12-12T02:30:00Z");
            assert_eq!(entry.batch_id, "BATCH-98765");
        }
        let mut unsent = row(ResultOutcome::NotRetrieved, None, Some("refused"));
        unsent.rightfoot_batch_id = None;
        assert_eq!(entry(&unsent).batch_id, "");
    }
}
