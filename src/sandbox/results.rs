//! Reading results: `GET /v1/balances`, `GET /v1/balances/csv` and
//! `GET /v1/monitoring/authorizers/{id}/history`.
//!
//! A batch shows the rows whose completion time has passed on the sandbox clock, so a
//! poll sees it empty, then partial, then complete; `total_processed` counts the rows
//! shown so far and nothing says "complete" (the client compares with the accepted
//! count, as with the real service). Rows appear only at the end of a batch's list,
//! so a page token (URL-safe base64 of the batch id and an offset) stays valid while
//! the batch fills. History tokens hold the position of the last entry returned, so
//! entries that appear meanwhile neither repeat nor shift the next page.
//!
//! The sandbox accepts the page cursor only under the OpenAPI name `nextPageToken`;
//! the `next_page_token` spelling in one of Rightfoot's code samples is ignored like
//! any unknown parameter, so a client that sends it sees page one again (and should
//! notice). This module reads state; it changes none.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::App;
use super::error::{ApiError, json_body};
use super::outcomes::{error_message, export_status};
use super::request::{parse_limit, query_pairs, query_value};
use super::state::KeyId;
use crate::domain::Cents;
use crate::rightfoot::CSV_EXPORT_COLUMNS;
use crate::rightfoot::served::{
    AuthorizerHistoryResponse, BalanceRecord, BatchBalancesResponse, HistoryEntry, timestamp,
};

fn encode_token<T: Serialize>(cursor: &T) -> Option<String> {
    serde_json::to_vec(cursor)
        .ok()
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

fn decode_token<T: DeserializeOwned>(token: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim().trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn invalid_token() -> ApiError {
    ApiError::bad_request(
        "Invalid page token.",
        "Please pass the next_page_token of the previous response unchanged.",
    )
}

/// The `nextPageToken` parameter, if present and non-empty.
fn page_token(pairs: &[(String, String)]) -> Option<&str> {
    query_value(pairs, "nextPageToken").filter(|t| !t.is_empty())
}

#[derive(Serialize, serde::Deserialize)]
struct BalancesCursor {
    #[serde(rename = "b")]
    batch_id: String,
    #[serde(rename = "o")]
    offset: usize,
}

pub async fn balances(
    State(app): State<Arc<App>>,
    Extension(key): Extension<KeyId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let now = app.clock.now();
    match balances_page(&app, key, raw.as_deref(), now) {
        Ok(page) => (StatusCode::OK, json_body(&page)).into_response(),
        Err(error) => error.respond(now),
    }
}

fn batch_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The specified batch ID does not exist.",
        "Please check the batch ID.",
    )
}

fn balances_page(
    app: &App,
    key: KeyId,
    raw_query: Option<&str>,
    now: DateTime<Utc>,
) -> Result<BatchBalancesResponse, ApiError> {
    let pairs = query_pairs(raw_query);
    let batch_id = query_value(&pairs, "batchId")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Batch ID was not provided in the request.",
                "Please provide a valid batch ID in the request URL.",
            )
        })?;
    let limit = parse_limit(query_value(&pairs, "limit"), 100)?;
    let start = match page_token(&pairs) {
        None => 0,
        Some(token) => {
            let cursor: BalancesCursor = decode_token(token).ok_or_else(invalid_token)?;
            if cursor.batch_id != batch_id {
                return Err(invalid_token());
            }
            cursor.offset
        }
    };
    let mut state = app.lock();
    let batch = state
        .batch(batch_id)
        .filter(|batch| batch.owner == key)
        .ok_or_else(batch_not_found)?;
    let window = super::clock::delta(app.settings.faults.not_found_after_create);
    if now < super::clock::later(batch.submitted_at, window) {
        return Err(batch_not_found());
    }
    let visible = batch.visible(now);
    let start = start.min(visible);
    let end = start.saturating_add(limit).min(visible);
    let balances = batch.rows[start..end]
        .iter()
        .map(|row| BalanceRecord {
            authorizer_unique_id: row.authorizer_id.clone(),
            balance: row.outcome.balance().and_then(Cents::to_json_number),
            timestamp: timestamp(row.completes_at),
            balance_status_code: i64::from(row.outcome.status_code()),
            status_code: i64::from(row.outcome.status_code()),
        })
        .collect();
    let has_more = end < visible;
    let next_page_token = if has_more {
        encode_token(&BalancesCursor {
            batch_id: batch.id.clone(),
            offset: end,
        })
    } else {
        None
    };
    let read_out = !has_more && visible == batch.rows.len();
    let response = BatchBalancesResponse {
        batch_id: batch.id.clone(),
        total_processed: visible as u64,
        balances,
        has_more,
        next_page_token,
    };
    if read_out {
        state.batch_read_out(&response.batch_id);
    }
    Ok(response)
}

/// The CSV export of one or more of the caller's batches.
///
/// `Phone` and `Zip` are always empty: the real export fills them from what the lender
/// submitted, but the sandbox keeps no personal data after validation. `Creator` is
/// empty, as the page says it is for API submissions. Only results that have appeared
/// are exported. An unknown batch id is treated like another requester's: 403.
pub async fn balances_csv(
    State(app): State<Arc<App>>,
    Extension(key): Extension<KeyId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let now = app.clock.now();
    match export_csv(&app, key, raw.as_deref(), now) {
        Ok(bytes) => {
            let disposition = format!(
                "attachment; filename=\"batch-export-{}.csv\"",
                now.format("%Y%m%dT%H%M%SZ")
            );
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => error.respond(now),
    }
}

fn export_csv(
    app: &App,
    key: KeyId,
    raw_query: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ApiError> {
    let pairs = query_pairs(raw_query);
    let mut seen = HashSet::new();
    let ids: Vec<&str> = pairs
        .iter()
        .filter(|(name, _)| name == "batch_ids")
        .map(|(_, value)| value.trim())
        .filter(|id| seen.insert(*id))
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "Missing batch_ids. Provide at least one batch ID.",
            "Please repeat the batch_ids query parameter once per batch.",
        ));
    }
    if let Some(bad) = ids.iter().find(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err(ApiError::bad_request(
            format!("Invalid batch ID {bad:?}: not a valid UUID."),
            "Please provide batch IDs as returned by the submission endpoints.",
        ));
    }
    let state = app.lock();
    let mut batches = Vec::with_capacity(ids.len());
    for id in &ids {
        match state.batch(id) {
            Some(batch) if batch.owner == key => batches.push(batch),
            _ => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "One or more requested batches don't belong to the authenticated requester.",
                    "Please request only batches submitted with this API key.",
                ));
            }
        }
    }
    let rows: Vec<(&str, &super::state::ResultRow)> = batches
        .iter()
        .flat_map(|batch| {
            let visible = batch.visible(now);
            batch.rows[..visible]
                .iter()
                .map(move |row| (batch.id.as_str(), row))
        })
        .collect();
    let meta_keys: BTreeSet<&str> = rows
        .iter()
        .flat_map(|(_, row)| row.metadata.keys().map(String::as_str))
        .collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = CSV_EXPORT_COLUMNS
        .iter()
        .map(|c| (*c).to_string())
        .chain(meta_keys.iter().map(|k| format!("meta_{k}")));
    writer.write_record(header).map_err(|_| export_failed())?;
    for (batch_id, row) in &rows {
        let code = row.outcome.status_code();
        let fixed = [
            row.authorizer_id.clone(),
            (*batch_id).to_string(),
            row.institution.to_string(),
            String::new(),
            String::new(),
            row.outcome
                .balance()
                .map(|c| c.to_decimal_string())
                .unwrap_or_default(),
            export_status(code).to_string(),
            String::new(),
            row.completes_at
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string(),
        ];
        let meta = meta_keys
            .iter()
            .map(|k| row.metadata.get(*k).cloned().unwrap_or_default());
        writer
            .write_record(fixed.into_iter().chain(meta))
            .map_err(|_| export_failed())?;
    }
    writer.into_inner().map_err(|_| export_failed())
}

fn export_failed() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "An unexpected error occurred while exporting the balances.",
        "Please try again later.",
    )
}

#[derive(Serialize, serde::Deserialize)]
struct HistoryCursor {
    #[serde(rename = "a")]
    authorizer_id: String,
    /// The creation sequence number of the last batch returned.
    #[serde(rename = "s")]
    before_seq: u64,
}

pub async fn history(
    State(app): State<Arc<App>>,
    Extension(key): Extension<KeyId>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let now = app.clock.now();
    let Ok(Path(authorizer_id)) = path else {
        return ApiError::bad_request(
            "Invalid authorizer ID in the request URL.",
            "Please check the authorizer ID.",
        )
        .respond(now);
    };
    match history_page(&app, key, &authorizer_id, raw.as_deref(), now) {
        Ok(page) => (StatusCode::OK, json_body(&page)).into_response(),
        Err(error) => error.respond(now),
    }
}

fn history_page(
    app: &App,
    key: KeyId,
    authorizer_id: &str,
    raw_query: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AuthorizerHistoryResponse, ApiError> {
    let pairs = query_pairs(raw_query);
    let limit = parse_limit(query_value(&pairs, "limit"), 10)?;
    let before = match page_token(&pairs) {
        None => None,
        Some(token) => {
            let cursor: HistoryCursor = decode_token(token).ok_or_else(invalid_token)?;
            if cursor.authorizer_id != authorizer_id {
                return Err(invalid_token());
            }
            Some(cursor.before_seq)
        }
    };
    let state = app.lock();
    if !state.knows_authorizer(key, authorizer_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The specified authorizer does not exist.",
            "Please check the authorizer ID.",
        ));
    }
    let entries = state.history(key, authorizer_id, now);
    let total_count = entries.len();
    let remaining: Vec<_> = entries
        .into_iter()
        .filter(|(batch, _)| before.is_none_or(|seq| batch.seq < seq))
        .collect();
    let has_more = remaining.len() > limit;
    let page = &remaining[..remaining.len().min(limit)];
    let next_page_token = match page.last() {
        Some((batch, _)) if has_more => encode_token(&HistoryCursor {
            authorizer_id: authorizer_id.to_string(),
            before_seq: batch.seq,
        }),
        _ => None,
    };
    let history = page
        .iter()
        .map(|(batch, row)| HistoryEntry {
            run_at: timestamp(batch.submitted_at),
            batch_id: batch.id.clone(),
            balance_amount: row.outcome.balance().and_then(Cents::to_json_number),
            status: if row.outcome.status_code() == 0 {
                "success"
            } else {
                "failed"
            },
            error_message: error_message(row.outcome.status_code()),
        })
        .collect();
    Ok(AuthorizerHistoryResponse {
        authorizer_unique_id: authorizer_id.to_string(),
        total_count: total_count as u64,
        history,
        next_page_token,
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let token = encode_token(&BalancesCursor {
            batch_id: "b-1".into(),
            offset: 200,
        })
        .unwrap();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let back: BalancesCursor = decode_token(&token).unwrap();
        assert_eq!((back.batch_id.as_str(), back.offset), ("b-1", 200));
        assert!(decode_token::<BalancesCursor>("not a token!").is_none());
        assert!(decode_token::<BalancesCursor>("eyJ0ZXN0IjogImN1cnNvciJ9").is_none());
    }
}
