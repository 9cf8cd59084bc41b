//! Submissions: `POST /v1/balance_requests` (JSON) and `POST /v1/balance_requests/csv`.
//!
//! Both turn a request into a list of accepted authorizer ids and a list of rejected
//! rows, then create a batch. The JSON endpoint also honours Rightfoot's 24-hour
//! body-hash cache: a byte-identical body from the same API key within 24 hours of
//! sandbox time gets the first `201` back, byte for byte, with the same `batch_id`, and
//! no new check is made. (The pages document the cache for the JSON endpoint only, so
//! CSV uploads are never cached here: each upload is a new batch.)
//!
//! Personal data is parsed, validated and dropped inside the handler; only ids and CSV
//! metadata reach [`super::state`]. Nothing here logs request content.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::App;
use super::csv_upload;
use super::error::ApiError;
use super::models::{BatchCreatedResponse, FailedAuthorizer, timestamp};
use super::request::MAX_BODY_BYTES;
use super::state::{Accepted, CachedCreate, KeyId};
use super::validation::{account_type, check_rows, reported_id};
use crate::authorizers::validate::AuthorizerValidationError;
use crate::secret::Secret;

/// At most this many authorizers per JSON request.
pub const MAX_JSON_AUTHORIZERS: usize = 1_000;
/// At most this many data rows per CSV upload.
pub const MAX_CSV_ROWS: usize = 5_000;

const CREATED_MESSAGE: &str = "Batch has been successfully submitted and is pending processing.";

/// A submission reduced to what the sandbox keeps.
#[derive(Debug, Default)]
pub struct Prepared {
    pub accepted: Vec<Accepted>,
    pub failed: Vec<FailedAuthorizer>,
    pub webhook_url: Option<Secret>,
    pub warnings: Option<Vec<String>>,
}

pub async fn submit_json(
    State(app): State<Arc<App>>,
    Extension(key): Extension<KeyId>,
    body: Body,
) -> Response {
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large().respond(app.clock.now());
    };
    let now = app.clock.now();
    let hash: [u8; 32] = Sha256::digest(&bytes).into();
    if let Some(cached) = app.lock().cached(key, &hash, now) {
        return created(&cached.batch_id, cached.body.clone());
    }
    match prepare_json(&bytes) {
        Ok(prepared) => create(&app, key, prepared, Some(hash), now),
        Err(error) => error.on_submission().respond(now),
    }
}

/// Parses and validates a JSON submission.
pub fn prepare_json(bytes: &[u8]) -> Result<Prepared, ApiError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|error| {
        // serde_json's syntax errors name a position, never the content.
        ApiError::bad_request(
            "Invalid JSON in request body.",
            "Please send a JSON object with an authorizers array.",
        )
        .with_details(Value::String(error.to_string()))
    })?;
    let Value::Object(mut body) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
            "Please send a JSON object with an authorizers array.",
        ));
    };
    // The schema types `webhook_url` as a string: left out is no URL, `null` is invalid.
    let webhook_url = match body.remove("webhook_url") {
        None => None,
        Some(value) => Some(parse_webhook_url(value.as_str())?),
    };
    let Some(Value::Array(authorizers)) = body.remove("authorizers") else {
        return Err(ApiError::bad_request(
            "Missing authorizers in the request body. authorizers must be an array.",
            "Please provide an array of authorizers.",
        ));
    };
    if authorizers.len() > MAX_JSON_AUTHORIZERS {
        return Err(ApiError::bad_request(
            "Invalid batch size. The maximum batch size is 1,000 authorizers per request.",
            "Please reduce the number of authorizers in your batch and try again.",
        ));
    }
    // The schema sets no minimum: an empty list is a batch of nobody.
    let rows: Vec<Option<&Map<String, Value>>> = authorizers.iter().map(Value::as_object).collect();
    let mut prepared = sort_rows(&rows);
    prepared.webhook_url = webhook_url;
    Ok(prepared)
}

/// Splits validated JSON rows into accepted ids and failed rows.
fn sort_rows(rows: &[Option<&Map<String, Value>>]) -> Prepared {
    let mut prepared = Prepared::default();
    for (row, error) in rows.iter().zip(check_rows(rows)) {
        match (error, reported_id(*row)) {
            (None, Some(authorizer_id)) => prepared.accepted.push(Accepted {
                authorizer_id,
                metadata: BTreeMap::new(),
            }),
            (error, id) => prepared.failed.push(FailedAuthorizer {
                authorizer_unique_id: id,
                error: error
                    .unwrap_or(AuthorizerValidationError::MissingUniqueId)
                    .to_string(),
                account_type: account_type(*row),
                row_number: None,
            }),
        }
    }
    prepared
}

fn parse_webhook_url(value: Option<&str>) -> Result<Secret, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "Invalid webhook URL. webhook_url must be an absolute http or https URL.",
            "Please provide a valid webhook URL or omit it.",
        )
    };
    let text = value.ok_or_else(invalid)?;
    let url = url::Url::parse(text).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(Secret::new(text))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "The request body is too large.",
        "Please split the submission into smaller batches.",
    )
    .on_submission()
}

/// Creates the batch (unless an identical body was cached meanwhile) and answers 201.
fn create(
    app: &App,
    key: KeyId,
    prepared: Prepared,
    body_hash: Option<[u8; 32]>,
    now: DateTime<Utc>,
) -> Response {
    let accepted = prepared.accepted.len();
    let failed = prepared.failed.len();
    let (batch_id, body) = {
        let mut state = app.lock();
        if let Some(hash) = &body_hash
            && let Some(cached) = state.cached(key, hash, now)
        {
            return created(&cached.batch_id, cached.body.clone());
        }
        let batch = state.create_batch(
            key,
            prepared.accepted,
            prepared.webhook_url,
            now,
            app.settings.processing_time,
            &app.scenario,
        );
        let batch_id = batch.id.clone();
        let response = BatchCreatedResponse {
            batch_id: batch_id.clone(),
            submitted_at: timestamp(now),
            message: CREATED_MESSAGE,
            failed_authorizers: prepared.failed,
            warnings: prepared.warnings,
        };
        let body = serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec());
        if let Some(hash) = body_hash {
            let entry = CachedCreate {
                created_at: now,
                batch_id: batch_id.clone(),
                body: body.clone(),
            };
            state.cache(key, hash, entry, now);
        }
        (batch_id, body)
    };
    app.notify_state_changed();
    tracing::info!(%batch_id, accepted, failed, "sandbox batch created");
    created(&batch_id, body)
}

fn created(batch_id: &str, body: Vec<u8>) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::LOCATION, format!("/v1/balances?batchId={batch_id}")),
        ],
        body,
    )
        .into_response()
}

pub async fn submit_csv(
    State(app): State<Arc<App>>,
    Extension(key): Extension<KeyId>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let result = read_upload(multipart).await;
    let now = app.clock.now();
    match result.and_then(prepare_csv) {
        Ok(prepared) => create(&app, key, prepared, None, now),
        Err(error) => error.on_submission().respond(now),
    }
}

/// The fields of a CSV upload.
struct Upload {
    file: Vec<u8>,
    webhook_url: Option<String>,
}

async fn read_upload(multipart: Result<Multipart, MultipartRejection>) -> Result<Upload, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "Invalid multipart body.",
            "Please upload the CSV as multipart/form-data in a field named file.",
        )
    };
    let mut multipart = multipart.map_err(|_| invalid())?;
    let mut file = None;
    let mut webhook_url = None;
    while let Some(field) = multipart.next_field().await.map_err(|_| invalid())? {
        match field.name() {
            Some("file") => file = Some(field.bytes().await.map_err(|_| invalid())?.to_vec()),
            Some("webhook_url") => webhook_url = Some(field.text().await.map_err(|_| invalid())?),
            // `email` asks Rightfoot to email the lender; the sandbox sends no email and
            // keeps no address. Other fields are ignored, as unknown JSON keys are.
            _ => {}
        }
    }
    let file = file.ok_or_else(|| {
        ApiError::bad_request(
            "No file was provided.",
            "Please upload the CSV in a multipart field named file.",
        )
    })?;
    Ok(Upload { file, webhook_url })
}

fn prepare_csv(upload: Upload) -> Result<Prepared, ApiError> {
    let webhook_url = match upload.webhook_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_webhook_url(Some(text))?),
    };
    let parsed = csv_upload::parse(&upload.file).map_err(|error| {
        // The loader's messages name the row and the problem, never a cell's value.
        ApiError::bad_request(
            format!("Invalid CSV file: {error}."),
            "Please check the file against the documented columns.",
        )
    })?;
    if parsed.rows() > MAX_CSV_ROWS {
        return Err(ApiError::bad_request(
            "Invalid batch size. The maximum batch size is 5,000 rows per CSV.",
            "Please split the file into files of at most 5,000 rows.",
        ));
    }
    if parsed.rows() == 0 {
        return Err(ApiError::bad_request(
            "The CSV file contains no authorizer rows.",
            "Please add one row per authorizer below the header row.",
        ));
    }
    if parsed.accepted.is_empty() {
        // The CSV page: when no row is valid, no batch is created and the per-row
        // failures come back in `error.details.failed_authorizers`.
        let details = serde_json::json!({ "failed_authorizers": parsed.failed });
        return Err(ApiError::bad_request(
            "No valid authorizers in the CSV file. No batch was created.",
            "Please correct the rows listed in details and upload the file again.",
        )
        .with_details(details));
    }
    Ok(Prepared {
        accepted: parsed.accepted,
        failed: parsed.failed,
        webhook_url,
        warnings: Some(parsed.warnings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<Prepared, ApiError>) -> String {
        result.unwrap_err().message
    }

    #[test]
    fn whole_request_problems_are_400s() {
        let big = format!(
            "{{\"authorizers\":[{}]}}",
            vec!["{\"authorizer_unique_id\":\"x\"}"; 1001].join(",")
        );
        let table: &[(&[u8], &str)] = &[
            (b"{not json", "Invalid JSON in request body."),
            (b"[]", "The request body must be a JSON object."),
            (b"{}", "Missing authorizers"),
            (b"{\"authorizers\":{}}", "Missing authorizers"),
            (
                b"{\"authorizers\":[{}],\"webhook_url\":null}",
                "Invalid webhook URL",
            ),
            (
                b"{\"authorizers\":[{}],\"webhook_url\":\"ftp://x\"}",
                "Invalid webhook URL",
            ),
            (
                b"{\"authorizers\":[{}],\"webhook_url\":7}",
                "Invalid webhook URL",
            ),
            (
                big.as_bytes(),
                "Invalid batch size. The maximum batch size is 1,000 authorizers per request.",
            ),
        ];
        for (body, needle) in table {
            let shown = message(prepare_json(body));
            assert!(
                shown.contains(needle),
                "{}: {shown}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn valid(id: &str) -> Value {
        serde_json::json!({
            "authorizer_unique_id": id,
            "address": {"zip_code": "94107"},
            "phone_number": "5551234567",
            "date_of_birth": {"day": 1, "month": 1, "year": 1980},
            "ssn": "123456789",
            "account_number": "1234567890",
            "routing_number": "021000021"
        })
    }

    #[test]
    fn rows_are_sorted_into_accepted_and_failed() {
        let mut bad_routing = valid("B");
        bad_routing["routing_number"] = "12".into();
        let mut card = valid("C");
        let card_fields = card.as_object_mut().unwrap();
        card_fields.remove("account_number");
        card_fields.insert("debit_card_number".into(), "4111111111111111".into());
        let body = serde_json::json!({
            "authorizers": [valid("A"), {"authorizer_unique_id": ""}, 7, bad_routing, card,
                            valid("D"), valid("D")],
            "webhook_url": "https://example.test/hook?secret=s"
        });
        let prepared = prepare_json(&serde_json::to_vec(&body).unwrap()).unwrap();
        let ids: Vec<&str> = prepared
            .accepted
            .iter()
            .map(|a| a.authorizer_id.as_str())
            .collect();
        assert_eq!(ids, ["A"]);
        let failed: Vec<(Option<&str>, &str, &str)> = prepared
            .failed
            .iter()
            .map(|f| {
                (
                    f.authorizer_unique_id.as_deref(),
                    f.error.as_str(),
                    f.account_type,
                )
            })
            .collect();
        let missing_id = "Missing authorizer unique ID for authorizer(s).";
        let duplicate = "Duplicate authorizer unique ID not allowed.";
        assert_eq!(
            failed,
            vec![
                (None, missing_id, "ACCOUNT_NUMBER"),
                (None, missing_id, "ACCOUNT_NUMBER"),
                (
                    Some("B"),
                    "Invalid routing number for authorizer(s). Routing number must be 9 digits long.",
                    "ACCOUNT_NUMBER"
                ),
                (
                    Some("C"),
                    "Invalid CVV for authorizer(s). Must be 3 or 4 digits.",
                    "DEBIT_CARD"
                ),
                (Some("D"), duplicate, "ACCOUNT_NUMBER"),
                (Some("D"), duplicate, "ACCOUNT_NUMBER"),
            ]
        );
        assert!(prepared.failed.iter().all(|f| f.row_number.is_none()));
        assert!(prepared.webhook_url.is_some());
        assert!(!format!("{prepared:?}").contains("secret=s"));
    }
}
