//! A Rightfoot batch's results, served from the store in Rightfoot's shapes:
//! `GET /v1/balances?batchId=&limit=&nextPageToken=` (`BatchBalancesResponse`) and
//! `GET /v1/balances/csv?batch_ids=..&batch_ids=..` (the CSV export).
//!
//! The batch id is Rightfoot's, as recorded on the chunk that submitted it. A batch's
//! balances are its `retrieved` results (what Rightfoot itself lists: authorizers it
//! refused at submission are in the 201's `failed_authorizers`, and authorizers the run
//! gave up waiting for have no result), ordered by authorizer id, paged by an opaque
//! keyset cursor over that id; `total_processed` counts them. A batch that a later run
//! got again from Rightfoot's 24-hour cache is one batch: its results are listed once
//! (`store::queries`).
//!
//! The CSV has Rightfoot's nine fixed columns and, since the daemon stores no lender
//! metadata, no `meta_<key>` columns. `Institution`, `Phone`, `Zip` and `Creator` are
//! always empty: the daemon keeps no personal data and Rightfoot's results page does
//! not carry the institution; `Creator` is empty for API submissions at Rightfoot too.
//! `Balance` is the exact decimal, `Status` the CSV name of the code
//! ([`BalanceStatus::csv_status`]), `Timestamp` Rightfoot's, as `+00:00`. The body is
//! streamed: the store is read a page at a time while the response is written, so an
//! export of many batches never sits in memory. An id that no chunk recorded makes the
//! whole request a 403 with no file, as Rightfoot answers for a batch that is not the
//! caller's; batch ids are opaque, not checked to be UUIDs.

use std::collections::{HashSet, VecDeque};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};

use super::HttpState;
use super::cursor::{self, Walk};
use super::error::ApiProblem;
use super::params::QueryParams;
use super::wire::{BalanceRecord, BatchBalancesResponse, json, timestamp};
use crate::domain::{BalanceStatus, Cents};
use crate::rightfoot::CSV_EXPORT_COLUMNS;
use crate::store::{BatchResultRow, Store};

/// `limit` when the query has none, as Rightfoot's.
const DEFAULT_LIMIT: u32 = 100;
/// Rows read from the store per chunk of the CSV body (a chunk has at most 1,000).
const CSV_PAGE: u32 = 1_000;
pub(crate) async fn balances(
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let params = QueryParams::parse(raw.as_deref());
    let batch_id = params
        .first("batchId")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiProblem::bad_request(
                "Batch ID was not provided in the request.",
                "Please provide a valid batch ID in the request URL.",
            )
        })?;
    let limit = params.limit(DEFAULT_LIMIT)?;
    let after = params
        .page_token()
        .map(|token| cursor::decode(Walk::Balances, batch_id, token))
        .transpose()?;
    let page = state
        .store
        .batch_results_page(batch_id, after, limit)
        .await
        .map_err(|error| ApiProblem::store(&error))?
        .ok_or_else(|| {
            ApiProblem::not_found(
                "The specified batch ID does not exist.",
                "Please check the batch ID.",
            )
        })?;
    let next_page_token = match (page.has_more, page.rows.last()) {
        (true, Some(last)) => Some(cursor::encode(
            Walk::Balances,
            batch_id,
            &last.authorizer_unique_id,
        )),
        _ => None,
    };
    json(&BatchBalancesResponse {
        batch_id: batch_id.to_string(),
        total_processed: page.total_processed,
        balances: page.rows.into_iter().map(record).collect(),
        has_more: next_page_token.is_some(),
        next_page_token,
    })
}

fn record(row: BatchResultRow) -> BalanceRecord {
    BalanceRecord {
        balance: row.balance.and_then(Cents::to_json_number),
        timestamp: timestamp(row.retrieved_at),
        balance_status_code: row.balance_status_code,
        status_code: row.balance_status_code,
        authorizer_unique_id: row.authorizer_unique_id,
    }
}

pub(crate) async fn balances_csv(
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let params = QueryParams::parse(raw.as_deref());
    let mut seen = HashSet::new();
    let ids: Vec<String> = params
        .all("batch_ids")
        .into_iter()
        .map(str::trim)
        .filter(|id| !id.is_empty() && seen.insert(*id))
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(ApiProblem::bad_request(
            "Missing batch_ids. Provide at least one batch ID.",
            "Please repeat the batch_ids query parameter once per batch.",
        ));
    }
    let unknown = state
        .store
        .unknown_batch_ids(ids.clone())
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    if !unknown.is_empty() {
        return Err(ApiProblem::forbidden(
            format!(
                "One or more requested batches don't belong to the authenticated requester: {} not submitted by this balance-monitor.",
                unknown.join(", ")
            ),
            "Please request only batches this daemon submitted.",
        ));
    }
    let disposition = format!(
        "attachment; filename=\"batch-export-{}.csv\"",
        state.clock.now().format("%Y%m%dT%H%M%SZ")
    );
    let export = Export {
        store: state.store.clone(),
        batches: ids.into(),
        after: None,
        header_sent: false,
    };
    let body = Body::from_stream(futures_util::stream::unfold(Some(export), next_chunk));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Where a streamed export stands: the batches left, and the last authorizer written
/// of the first of them.
struct Export {
    store: Store,
    batches: VecDeque<String>,
    after: Option<String>,
    header_sent: bool,
}

type Chunk = Result<Bytes, std::io::Error>;

/// The next piece of the CSV body: the header, then one page of one batch at a time.
/// A store failure ends the body early (the client sees a truncated transfer, not a
/// short file that looks complete) and is logged.
async fn next_chunk(export: Option<Export>) -> Option<(Chunk, Option<Export>)> {
    let mut export = export?;
    if !export.header_sent {
        export.header_sent = true;
        let header = format!("{}\n", CSV_EXPORT_COLUMNS.join(","));
        return Some((Ok(Bytes::from(header)), Some(export)));
    }
    let batch = export.batches.front()?.clone();
    let page = export
        .store
        .batch_results_after(&batch, export.after.take(), CSV_PAGE)
        .await;
    let failure = |message: String| {
        tracing::error!(batch_id = %batch, "csv export stopped: {message}");
        Some((Err(std::io::Error::other(message)), None))
    };
    let page = match page {
        Ok(Some(page)) => page,
        Ok(None) => return failure("the batch is no longer in the store".to_string()),
        Err(error) => return failure(error.to_string()),
    };
    let bytes = match csv_rows(&batch, &page.rows) {
        Ok(bytes) => bytes,
        Err(error) => return failure(error.to_string()),
    };
    match (page.has_more, page.rows.last()) {
        (true, Some(last)) => export.after = Some(last.authorizer_unique_id.clone()),
        _ => {
            export.batches.pop_front();
        }
    }
    Some((Ok(Bytes::from(bytes)), Some(export)))
}

/// CSV lines (no header) for rows of batch `batch_id`.
fn csv_rows(batch_id: &str, rows: &[BatchResultRow]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 96));
    for row in rows {
        let status = BalanceStatus::from_code(row.balance_status_code).csv_status();
        let balance = row
            .balance
            .map(|cents| cents.to_decimal_string())
            .unwrap_or_default();
        let timestamp = row
            .retrieved_at
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, false);
        writer.write_record([
            row.authorizer_unique_id.as_str(),
            batch_id,
            "",
            "",
            "",
            balance.as_str(),
            status.as_str(),
            "",
            timestamp.as_str(),
        ])?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rows_have_the_nine_columns_with_exact_balances_and_quoting() {
        let at = Utc.with_ymd_and_hms(2026, 5, 17, 19, 24, 12).unwrap();
        let rows = [
            BatchResultRow {
                authorizer_unique_id: "authz-001".into(),
                balance: Some(Cents(-8_368)),
                balance_status_code: 0,
                retrieved_at: at,
            },
            BatchResultRow {
                authorizer_unique_id: "a,b".into(),
                balance: None,
                balance_status_code: 3400,
                retrieved_at: at,
            },
        ];
        let text = String::from_utf8(csv_rows("BATCH-1", &rows).unwrap()).unwrap();
        assert_eq!(
            text,
            "authz-001,BATCH-1,,,,-83.68,SUCCESS,,2026-05-17T19:24:12+00:00\n\
             \"a,b\",BATCH-1,,,,,NO_MATCH,,2026-05-17T19:24:12+00:00\n"
        );
    }
}
