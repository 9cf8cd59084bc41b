//! The built-in Rightfoot sandbox, served on 127.0.0.1:0 and driven with reqwest.
//!
//! The sandbox clock is frozen in every test (speed 0): time passes only when a test
//! calls `clock().advance(..)`, so nothing here sleeps to wait for the server. The
//! webhook test waits on a channel fed by a real local receiver, with a timeout.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use balance_monitor::sandbox::{
    FaultConfig, Sandbox, SandboxConfig, SandboxHandle, Scenario, WebhookStatus,
};
use balance_monitor::secret::Secret;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const KEY: &str = "rf_test_alpha";
const OTHER_KEY: &str = "rf_test_beta";

fn start_time() -> DateTime<Utc> {
    "2025-01-06T12:00:00Z".parse().unwrap()
}

/// Two keys, a frozen clock, results spread over ten minutes, no faults.
fn config() -> SandboxConfig {
    let mut config = SandboxConfig::new([Secret::new(KEY), Secret::new(OTHER_KEY)]);
    config.clock_start = Some(start_time());
    config.clock_speed = 0.0;
    config.processing_time = Duration::from_secs(600);
    config
}

/// A sandbox served on an ephemeral port; dropped, it shuts down.
struct Running {
    base: String,
    handle: SandboxHandle,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start(config: SandboxConfig) -> Running {
    let sandbox = Sandbox::new(config).expect("valid sandbox config");
    let handle = sandbox.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sandbox.serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        base,
        handle,
        http: reqwest::Client::new(),
        _stop: stop,
    }
}

/// A complete, valid authorizer (the OpenAPI example's fields), with this id.
fn authorizer(id: &str) -> Value {
    json!({
        "authorizer_unique_id": id,
        "first_name": "John",
        "last_name": "Doe",
        "address": {
            "street_address_line1": "123 Main St",
            "city": "Anytown",
            "state": "CA",
            "zip_code": "12345",
            "country": "US"
        },
        "phone_number": "5551234567",
        "date_of_birth": {"day": 1, "month": 1, "year": 1980},
        "ssn": "123456789",
        "account_number": "1234567890",
        "routing_number": "021000021"
    })
}

fn batch_body(ids: &[String]) -> Vec<u8> {
    let authorizers: Vec<Value> = ids.iter().map(|id| authorizer(id)).collect();
    serde_json::to_vec(&json!({ "authorizers": authorizers })).unwrap()
}

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}-{n}")).collect()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Running {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the sandbox answers");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap_or_default(),
        }
    }

    async fn submit_as(&self, key: &str, body: Vec<u8>) -> Answer {
        self.send(
            self.http
                .post(format!("{}/v1/balance_requests", self.base))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    async fn submit(&self, body: Vec<u8>) -> Answer {
        self.submit_as(KEY, body).await
    }

    /// Submits and returns the new batch id, insisting on a 201.
    async fn create(&self, ids: &[String]) -> String {
        let answer = self.submit(batch_body(ids)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.json()["batch_id"].as_str().unwrap().to_string()
    }

    async fn get_as(&self, key: &str, path_and_query: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}{path_and_query}", self.base))
                .bearer_auth(key),
        )
        .await
    }

    async fn get(&self, path_and_query: &str) -> Answer {
        self.get_as(KEY, path_and_query).await
    }

    async fn upload_csv(&self, file: Vec<u8>, webhook_url: Option<&str>) -> Answer {
        let part = reqwest::multipart::Part::bytes(file)
            .file_name("authorizers.csv")
            .mime_str("text/csv")
            .unwrap();
        let mut form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("email", "ops@lender.example");
        if let Some(url) = webhook_url {
            form = form.text("webhook_url", url.to_string());
        }
        self.send(
            self.http
                .post(format!("{}/v1/balance_requests/csv", self.base))
                .bearer_auth(KEY)
                .multipart(form),
        )
        .await
    }

    fn advance(&self, by: Duration) {
        self.handle.clock().advance(by);
    }

    /// Every balance record of a batch, following page tokens.
    async fn all_balances(&self, batch_id: &str, limit: usize) -> Vec<Value> {
        let mut records = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let mut query = format!("/v1/balances?batchId={batch_id}&limit={limit}");
            if let Some(token) = &token {
                query.push_str(&format!("&nextPageToken={token}"));
            }
            let page = self.get(&query).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            let page = page.json();
            records.extend(page["balances"].as_array().unwrap().iter().cloned());
            if !page["has_more"].as_bool().unwrap() {
                assert!(page["next_page_token"].is_null());
                return records;
            }
            let next = page["next_page_token"].as_str().unwrap().to_string();
            assert_ne!(Some(&next), token.as_ref(), "a token must move forward");
            token = Some(next);
        }
        panic!("paging did not end");
    }
}

fn assert_envelope(answer: &Answer, status: StatusCode, code: &str, message: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["status"], "error");
    assert_eq!(body["status_code"], status.as_u16());
    assert_eq!(body["error"]["code"], code);
    assert_eq!(body["error"]["message"], message, "{}", answer.text);
    assert!(body["error"]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(!body["error"]["suggestion"].as_str().unwrap().is_empty());
    assert_eq!(body["documentation_url"], "https://api.rightfoot.com/docs");
}

#[tokio::test]
async fn requests_without_a_valid_bearer_key_get_401_in_the_envelope() {
    let sandbox = start(config()).await;
    let url = format!("{}/v1/balance_requests", sandbox.base);
    let body = batch_body(&ids("auth", 1));
    let attempts = [
        sandbox.http.post(&url).body(body.clone()),
        sandbox
            .http
            .post(&url)
            .bearer_auth("rf_live_wrong")
            .body(body.clone()),
        sandbox
            .http
            .post(&url)
            .header("authorization", format!("Basic {KEY}"))
            .body(body.clone()),
        sandbox
            .http
            .get(format!("{}/v1/balances?batchId=x", sandbox.base)),
    ];
    for request in attempts {
        let answer = sandbox.send(request).await;
        assert_envelope(
            &answer,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Invalid API key provided.",
        );
    }
    assert_eq!(sandbox.handle.batches_created(), 0);
}

/// `authorizer(id)` changed by `edit`.
fn authorizer_with(id: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut value = authorizer(id);
    edit(value.as_object_mut().unwrap());
    value
}

#[tokio::test]
async fn invalid_rows_are_reported_with_exact_messages_and_valid_rows_accepted() {
    let body = json!({
        "authorizers": [
            authorizer("V-1"),
            authorizer_with("x", |a| { a.remove("authorizer_unique_id"); }),
            authorizer_with("R-1", |a| { a.insert("routing_number".into(), json!("12345")); }),
            authorizer_with("Z-1", |a| { a["address"]["zip_code"] = json!("9410"); }),
            authorizer_with("B-1", |a| { a.remove("date_of_birth"); }),
            authorizer_with("S-1", |a| { a.insert("ssn".into(), json!(123456789)); }),
            authorizer_with("C-1", |a| {
                a.remove("account_number");
                a.insert("debit_card_number".into(), json!("4111111111111111"));
                a.insert("cvv".into(), json!("12"));
                a.insert("expiration_month".into(), json!(12));
                a.insert("expiration_year".into(), json!(2030));
            }),
            authorizer("D-1"),
            authorizer("D-1"),
            authorizer("V-2"),
        ]
    });
    let sandbox = start(config()).await;
    let answer = sandbox.submit(serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let created = answer.json();
    let batch_id = created["batch_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(batch_id).is_ok(), "{batch_id}");
    assert_eq!(
        answer.header("location"),
        Some(format!("/v1/balances?batchId={batch_id}").as_str())
    );
    assert_eq!(created["submitted_at"], "2025-01-06T12:00:00Z");
    assert_eq!(
        created["message"],
        "Batch has been successfully submitted and is pending processing."
    );
    // A row without an id has no `authorizer_unique_id` key at all.
    let failed = |id: Value, error: &str, account_type: &str| {
        let mut row = json!({"error": error, "account_type": account_type});
        if !id.is_null() {
            row["authorizer_unique_id"] = id;
        }
        row
    };
    let duplicate = "Duplicate authorizer unique ID not allowed.";
    assert_eq!(
        created["failed_authorizers"],
        json!([
            failed(
                Value::Null,
                "Missing authorizer unique ID for authorizer(s).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                json!("R-1"),
                "Invalid routing number for authorizer(s). Routing number must be 9 digits long.",
                "ACCOUNT_NUMBER"
            ),
            failed(
                json!("Z-1"),
                "Invalid ZIP code for authorizer(s). Must be 5 digits or in 5+4 format (e.g., 94107 or 94107-1234).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                json!("B-1"),
                "Missing date of birth for authorizer(s).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                json!("S-1"),
                "SSN must be of type string for authorizer(s).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                json!("C-1"),
                "Invalid CVV for authorizer(s). Must be 3 or 4 digits.",
                "DEBIT_CARD"
            ),
            failed(json!("D-1"), duplicate, "ACCOUNT_NUMBER"),
            failed(json!("D-1"), duplicate, "ACCOUNT_NUMBER"),
        ])
    );
    assert!(created.get("warnings").is_none());
    assert_eq!(sandbox.handle.batch(batch_id).unwrap().accepted, 2);
    assert_eq!(sandbox.handle.checks_performed(), 2);
    sandbox.advance(Duration::from_secs(600));
    let results = sandbox.all_balances(batch_id, 100).await;
    let ids: BTreeSet<&str> = results
        .iter()
        .map(|r| r["authorizer_unique_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["V-1", "V-2"]));
}

#[tokio::test]
async fn more_than_1000_authorizers_or_malformed_json_is_a_400() {
    let sandbox = start(config()).await;
    let too_many = sandbox.submit(batch_body(&ids("big", 1001))).await;
    assert_envelope(
        &too_many,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "Invalid batch size. The maximum batch size is 1,000 authorizers per request.",
    );
    assert!(too_many.json()["batch_id"].is_null());
    for malformed in [&b"{\"authorizers\": [ {"[..], b"", b"authorizers=1"] {
        let answer = sandbox.submit(malformed.to_vec()).await;
        assert_envelope(
            &answer,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Invalid JSON in request body.",
        );
    }
    assert_eq!(sandbox.handle.batches_created(), 0);
    let at_limit = sandbox.submit(batch_body(&ids("max", 1000))).await;
    assert_eq!(at_limit.status, StatusCode::CREATED, "{}", at_limit.text);
}

/// Regression: an empty `authorizers` list was refused with a message the OpenAPI
/// document does not have. The schema sets no minimum, so it is a batch of nobody.
#[tokio::test]
async fn an_empty_authorizers_list_is_an_empty_batch() {
    let sandbox = start(config()).await;
    let answer = sandbox.submit(batch_body(&[])).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let created = answer.json();
    assert_eq!(created["failed_authorizers"], json!([]));
    let batch_id = created["batch_id"].as_str().unwrap();
    assert!(sandbox.all_balances(batch_id, 100).await.is_empty());
}

/// Regression: `"webhook_url": null` was taken as no URL, where the schema allows only
/// a string (the key may be left out instead).
#[tokio::test]
async fn a_null_webhook_url_is_a_400() {
    let sandbox = start(config()).await;
    let body = json!({ "authorizers": [authorizer("N-1")], "webhook_url": null });
    let answer = sandbox.submit(serde_json::to_vec(&body).unwrap()).await;
    assert_envelope(
        &answer,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "Invalid webhook URL. webhook_url must be an absolute http or https URL.",
    );
    assert_eq!(sandbox.handle.batches_created(), 0);
    let without = json!({ "authorizers": [authorizer("N-1")] });
    let answer = sandbox.submit(serde_json::to_vec(&without).unwrap()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
}

#[tokio::test]
async fn identical_bytes_within_24_hours_return_the_first_response() {
    let sandbox = start(config()).await;
    let body = batch_body(&ids("cache", 3));
    let first = sandbox.submit(body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let first_id = first.json()["batch_id"].as_str().unwrap().to_string();

    sandbox.advance(Duration::from_secs(23 * 3600 + 59 * 60));
    let again = sandbox.submit(body.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.text, first.text, "the first response, byte for byte");
    assert_eq!(sandbox.handle.batches_created(), 1);
    assert_eq!(sandbox.handle.checks_performed(), 3, "no new check");

    // One more space: different bytes, a new batch.
    let mut changed = body.clone();
    changed.push(b' ');
    let other = sandbox.submit(changed).await;
    assert_ne!(other.json()["batch_id"], first_id.as_str());

    // The same bytes under another key are another requester's batch.
    let other_key = sandbox.submit_as(OTHER_KEY, body.clone()).await;
    assert_ne!(other_key.json()["batch_id"], first_id.as_str());

    // 24 hours after the first submission, the cache has expired.
    sandbox.advance(Duration::from_secs(60));
    let later = sandbox.submit(body).await;
    assert_eq!(later.status, StatusCode::CREATED);
    assert_ne!(later.json()["batch_id"], first_id.as_str());
    assert_eq!(later.json()["submitted_at"], "2025-01-07T12:00:00Z");
    assert_eq!(sandbox.handle.batches_created(), 4);
    assert_eq!(sandbox.handle.checks_performed(), 12);
}

#[tokio::test]
async fn results_appear_progressively_over_the_processing_time() {
    let sandbox = start(config()).await;
    let batch_id = sandbox.create(&ids("prog", 10)).await;
    let query = format!("/v1/balances?batchId={batch_id}");

    let empty = sandbox.get(&query).await.json();
    assert_eq!(empty["batch_id"], batch_id.as_str());
    assert_eq!(empty["total_processed"], 0);
    assert_eq!(empty["balances"], json!([]));
    assert_eq!(empty["has_more"], false);
    assert!(empty["next_page_token"].is_null());

    sandbox.advance(Duration::from_secs(300));
    let half = sandbox.get(&query).await.json();
    assert_eq!(half["total_processed"], 5);
    assert_eq!(half["balances"].as_array().unwrap().len(), 5);

    sandbox.advance(Duration::from_secs(300));
    let done = sandbox.get(&query).await.json();
    assert_eq!(done["total_processed"], 10);
    let records = done["balances"].as_array().unwrap();
    let seen: BTreeSet<&str> = records
        .iter()
        .map(|r| r["authorizer_unique_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ids("prog", 10).iter().map(String::as_str).collect());
    for record in records {
        assert_eq!(record["balance_status_code"], record["status_code"]);
        let ok = record["balance_status_code"] == 0;
        assert_eq!(record["balance"].is_number(), ok, "{record}");
        let at: DateTime<Utc> = record["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(at > start_time() && at <= start_time() + TimeDelta::minutes(10));
    }
    // The first five are the same records, in the same order, as before.
    assert_eq!(records[..5], half["balances"].as_array().unwrap()[..]);
}

#[tokio::test]
async fn pages_deliver_every_result_exactly_once() {
    let sandbox = start(config()).await;
    let submitted = ids("page", 250);
    let batch_id = sandbox.create(&submitted).await;
    let expected: BTreeSet<String> = submitted.iter().cloned().collect();

    // Paging while the batch fills: each page may see more rows, never the same twice.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        sandbox.advance(Duration::from_secs(90));
        let mut query = format!("/v1/balances?batchId={batch_id}&limit=40");
        if let Some(t) = &token {
            query.push_str(&format!("&nextPageToken={t}"));
        }
        let page = sandbox.get(&query).await.json();
        for record in page["balances"].as_array().unwrap() {
            seen.push(record["authorizer_unique_id"].as_str().unwrap().to_string());
        }
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no record twice");

    // Complete: 100 + 100 + 50, and every id exactly once.
    sandbox.advance(Duration::from_secs(600));
    for limit in [100, 7] {
        let records = sandbox.all_balances(&batch_id, limit).await;
        let got: Vec<String> = records
            .iter()
            .map(|r| r["authorizer_unique_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got.len(), 250);
        assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), expected);
    }
    let first = sandbox
        .get(&format!("/v1/balances?batchId={batch_id}"))
        .await
        .json();
    assert_eq!(
        first["balances"].as_array().unwrap().len(),
        100,
        "default limit"
    );
    assert_eq!(first["has_more"], true);
}

#[tokio::test]
async fn bad_balance_queries_are_400_and_unknown_or_foreign_batches_404() {
    let sandbox = start(config()).await;
    let batch_id = sandbox.create(&ids("q", 2)).await;
    for limit in ["0", "101", "-1", "ten"] {
        let answer = sandbox
            .get(&format!("/v1/balances?batchId={batch_id}&limit={limit}"))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "limit={limit}");
        assert_eq!(answer.json()["error"]["code"], "BAD_REQUEST");
    }
    for query in [
        "/v1/balances",
        "/v1/balances?batchId=",
        "/v1/balances?limit=5",
    ] {
        assert_envelope(
            &sandbox.get(query).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Batch ID was not provided in the request.",
        );
    }
    let garbage = sandbox
        .get(&format!(
            "/v1/balances?batchId={batch_id}&nextPageToken=garbage"
        ))
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let not_found = "The specified batch ID does not exist.";
    assert_envelope(
        &sandbox
            .get("/v1/balances?batchId=5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83")
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        not_found,
    );
    assert_envelope(
        &sandbox
            .get_as(OTHER_KEY, &format!("/v1/balances?batchId={batch_id}"))
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        not_found,
    );
    let ok = sandbox
        .get(&format!("/v1/balances?batchId={batch_id}&limit=1"))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn csv_export_has_the_documented_columns_meta_columns_sorted_and_403_for_others() {
    let mut config = config();
    config.scenario = Scenario::from_yaml(
        "authorizers:\n  E-1: [-83.68]\n  E-2: [no_match]\n",
        "s.yaml".as_ref(),
    )
    .unwrap();
    let sandbox = start(config).await;
    let json_batch = sandbox.create(&["E-0".to_string()]).await;
    let file = "authorizer_unique_id,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number,meta_zeta,meta_alpha\n\
                E-1,12345,5551234567,01/01/1980,123456789,1234567890,021000021,z1,a1\n\
                E-2,12345,5551234567,01/01/1980,123456789,1234567890,021000021,,a2\n";
    let upload = sandbox.upload_csv(file.as_bytes().to_vec(), None).await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.text);
    let csv_batch = upload.json()["batch_id"].as_str().unwrap().to_string();
    let foreign = sandbox
        .submit_as(OTHER_KEY, batch_body(&["F-1".to_string()]))
        .await
        .json()["batch_id"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox.advance(Duration::from_secs(600));

    let export = sandbox
        .get(&format!(
            "/v1/balances/csv?batch_ids={json_batch}&batch_ids={csv_batch}"
        ))
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.text);
    assert_eq!(
        export.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        export.header("content-disposition"),
        Some("attachment; filename=\"batch-export-20250106T121000Z.csv\"")
    );
    let mut reader = csv::Reader::from_reader(export.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "Authorizer ID",
            "Batch ID",
            "Institution",
            "Phone",
            "Zip",
            "Balance",
            "Status",
            "Creator",
            "Timestamp",
            "meta_alpha",
            "meta_zeta"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], "E-0");
    assert_eq!(rows[0][1], json_batch);
    assert_eq!(rows[0][9..], ["", ""]);
    let row = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    let e1 = row("E-1");
    assert_eq!(
        (
            e1[1].as_str(),
            e1[3].as_str(),
            e1[4].as_str(),
            e1[5].as_str(),
            e1[6].as_str()
        ),
        (csv_batch.as_str(), "", "", "-83.68", "SUCCESS")
    );
    assert!(!e1[2].is_empty(), "an institution name");
    assert!(e1[8].ends_with("+00:00"), "{}", e1[8]);
    assert_eq!(e1[9..], ["a1", "z1"]);
    let e2 = row("E-2");
    assert_eq!((e2[5].as_str(), e2[6].as_str()), ("", "NO_MATCH"));
    assert_eq!(e2[9..], ["a2", ""]);

    let forbidden = sandbox
        .get(&format!(
            "/v1/balances/csv?batch_ids={json_batch}&batch_ids={foreign}"
        ))
        .await;
    assert_envelope(
        &forbidden,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "One or more requested batches don't belong to the authenticated requester.",
    );
    for bad in ["/v1/balances/csv", "/v1/balances/csv?batch_ids=BATCH-98765"] {
        assert_eq!(
            sandbox.get(bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn csv_uploads_report_row_numbers_latin1_warnings_and_limits() {
    let sandbox = start(config()).await;
    let mut file = b"authorizer_unique_id,first_name,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number\n\
                     C-1,Ren\xe9e,12345,5551234567,01/01/1980,123456789,1234567890,021000021\n\
                     ,Bob,12345,5551234567,01/01/1980,123456789,1234567890,021000021\n"
        .to_vec();
    let upload = sandbox.upload_csv(file.clone(), None).await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.text);
    let created = upload.json();
    assert_eq!(
        created["warnings"],
        json!([
            "File was not UTF-8 encoded and was decoded using Latin-1. Some characters may appear incorrectly. For best results, save your CSV as UTF-8."
        ])
    );
    assert_eq!(
        created["failed_authorizers"],
        json!([{
            "error": "Missing authorizer unique ID for authorizer(s).",
            "account_type": "ACCOUNT_NUMBER",
            "row_number": 3
        }])
    );
    let batch_id = created["batch_id"].as_str().unwrap();
    assert_eq!(sandbox.handle.batch(batch_id).unwrap().accepted, 1);

    // Uploads are not cached: the same file again is a second batch.
    let again = sandbox.upload_csv(file.clone(), None).await;
    assert_ne!(again.json()["batch_id"], batch_id);

    // Every row invalid: 400, no batch, the failures in error.details.
    let invalid = sandbox
        .upload_csv(b"authorizer_unique_id,first_name\n,Ann\n".to_vec(), None)
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.text);
    assert_eq!(
        invalid.json()["error"]["details"]["failed_authorizers"][0]["row_number"],
        2
    );
    assert_eq!(sandbox.handle.batches_created(), 2);

    // 5,001 data rows: refused before any row is judged.
    file.truncate(file.iter().position(|&b| b == b'\n').unwrap() + 1);
    for n in 0..5001 {
        file.extend_from_slice(
            format!("L-{n},x,12345,5551234567,01/01/1980,123456789,1,021000021\n").as_bytes(),
        );
    }
    let too_many = sandbox.upload_csv(file, None).await;
    assert_envelope(
        &too_many,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "Invalid batch size. The maximum batch size is 5,000 rows per CSV.",
    );
    assert_eq!(sandbox.handle.batches_created(), 2);
}

#[tokio::test]
async fn history_is_newest_first_in_the_documented_shape() {
    let mut config = config();
    config.scenario = Scenario::from_yaml(
        "authorizers:\n  H-1: [100.00, unsupported, 300.25]\n",
        "s.yaml".as_ref(),
    )
    .unwrap();
    let sandbox = start(config).await;
    let mut batches = Vec::new();
    for run in 0..3 {
        // A different companion id per run makes each body, and so each batch, new.
        batches.push(
            sandbox
                .create(&["H-1".to_string(), format!("other-{run}")])
                .await,
        );
        sandbox.advance(Duration::from_secs(3600));
    }
    let first = sandbox
        .get("/v1/monitoring/authorizers/H-1/history?limit=2")
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first = first.json();
    assert_eq!(first["authorizer_unique_id"], "H-1");
    assert_eq!(first["total_count"], 3);
    assert_eq!(first["has_more"], true);
    assert_eq!(
        first["history"],
        json!([
            {
                "run_at": "2025-01-06T14:00:00Z",
                "batch_id": batches[2],
                "balance_amount": 300.25,
                "status": "success",
                "error_message": null
            },
            {
                "run_at": "2025-01-06T13:00:00Z",
                "batch_id": batches[1],
                "balance_amount": null,
                "status": "failed",
                "error_message": "Institution not supported"
            }
        ])
    );
    let token = first["next_page_token"].as_str().unwrap();
    let second = sandbox
        .get(&format!(
            "/v1/monitoring/authorizers/H-1/history?limit=2&nextPageToken={token}"
        ))
        .await
        .json();
    assert_eq!(second["history"].as_array().unwrap().len(), 1);
    assert_eq!(second["history"][0]["batch_id"], batches[0].as_str());
    assert_eq!(second["history"][0]["balance_amount"], 100.0);
    assert_eq!(second["has_more"], false);
    assert!(second["next_page_token"].is_null());

    let default_limit = sandbox
        .get("/v1/monitoring/authorizers/H-1/history")
        .await
        .json();
    assert_eq!(default_limit["history"].as_array().unwrap().len(), 3);
    for bad in ["limit=0", "limit=101"] {
        let answer = sandbox
            .get(&format!("/v1/monitoring/authorizers/H-1/history?{bad}"))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let unknown = sandbox
        .get("/v1/monitoring/authorizers/nobody/history")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let foreign = sandbox
        .get_as(OTHER_KEY, "/v1/monitoring/authorizers/H-1/history")
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scenario_sequences_are_followed_and_the_last_entry_repeats() {
    let mut config = config();
    config.processing_time = Duration::ZERO;
    config.scenario = Scenario::from_yaml(
        "authorizers:\n  A-1: [1200.00, 1150.00, 90.00, closed, unsupported, -20.50]\n",
        "s.yaml".as_ref(),
    )
    .unwrap();
    let sandbox = start(config).await;
    let mut seen = Vec::new();
    for run in 0..8 {
        let batch_id = sandbox
            .create(&["A-1".to_string(), format!("filler-{run}")])
            .await;
        let page = sandbox
            .get(&format!("/v1/balances?batchId={batch_id}"))
            .await
            .json();
        let record = page["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["authorizer_unique_id"] == "A-1")
            .unwrap()
            .clone();
        seen.push((
            record["balance"].clone(),
            record["balance_status_code"].clone(),
        ));
        if run == 2 {
            // A cached replay is not a check: the sequence does not advance.
            let replay = sandbox
                .submit(batch_body(&["A-1".to_string(), format!("filler-{run}")]))
                .await;
            assert_eq!(replay.json()["batch_id"], batch_id.as_str());
        }
    }
    let expected = [
        (json!(1200.0), json!(0)),
        (json!(1150.0), json!(0)),
        (json!(90.0), json!(0)),
        (Value::Null, json!(3200)),
        (Value::Null, json!(3300)),
        (json!(-20.5), json!(0)),
        (json!(-20.5), json!(0)),
        (json!(-20.5), json!(0)),
    ];
    for (n, ((balance, code), (want_balance, want_code))) in seen.iter().zip(&expected).enumerate()
    {
        assert_eq!(code, want_code, "check {n}");
        assert_eq!(balance.as_f64(), want_balance.as_f64(), "check {n}");
    }
}

#[tokio::test]
async fn injected_faults_answer_503_and_429_with_retry_after() {
    let mut config = config();
    config.seed = 42;
    config.faults = FaultConfig {
        error_503_percent: 50,
        error_429_percent: 50,
        retry_after: Duration::from_secs(30),
        ..FaultConfig::default()
    };
    let sandbox = start(config).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let answer = sandbox.submit(batch_body(&ids("fault", 1))).await;
        match answer.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.json()["error"]["code"], "SERVICE_UNAVAILABLE");
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(answer.header("retry-after"), Some("30"));
                assert_eq!(answer.json()["error"]["code"], "TOO_MANY_REQUESTS");
            }
            other => panic!("expected an injected fault, got {other}: {}", answer.text),
        }
        statuses.push(answer.status);
    }
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(
        sandbox.handle.batches_created(),
        0,
        "a faulted request creates nothing"
    );
}

#[tokio::test]
async fn a_new_batch_is_404_during_the_configured_window() {
    let mut config = config();
    config.faults.not_found_after_create = Duration::from_secs(30);
    let sandbox = start(config).await;
    let batch_id = sandbox.create(&ids("window", 1)).await;
    let query = format!("/v1/balances?batchId={batch_id}");
    assert_eq!(sandbox.get(&query).await.status, StatusCode::NOT_FOUND);
    sandbox.advance(Duration::from_secs(29));
    assert_eq!(sandbox.get(&query).await.status, StatusCode::NOT_FOUND);
    sandbox.advance(Duration::from_secs(1));
    assert_eq!(sandbox.get(&query).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_cut_off_body_is_recovered_by_resubmitting_the_same_bytes() {
    let mut config = config();
    config.seed = 7;
    config.faults.malformed_percent = 50;
    let sandbox = start(config).await;
    let body = batch_body(&ids("cut", 2));
    let mut cut = 0;
    let mut batch_id = None;
    for _ in 0..40 {
        let answer = sandbox.submit(body.clone()).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        match serde_json::from_str::<Value>(&answer.text) {
            Err(_) => cut += 1,
            Ok(created) if cut > 0 => {
                batch_id = created["batch_id"].as_str().map(String::from);
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(cut > 0, "some bodies are cut off");
    let batch_id = batch_id.expect("an intact answer after a cut one");
    assert_eq!(
        sandbox.handle.batches_created(),
        1,
        "one batch, however many retries"
    );
    assert!(sandbox.handle.batch(&batch_id).is_some());
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 `failures` times, then 200, and
/// reports each request's body and the sandbox time it arrived at.
async fn start_receiver(
    failures: usize,
    handle: SandboxHandle,
) -> (String, mpsc::UnboundedReceiver<(Value, DateTime<Utc>)>) {
    use axum::extract::State;
    use axum::http::StatusCode as AxumStatus;
    #[derive(Clone)]
    struct Receiver {
        calls: Arc<AtomicUsize>,
        failures: usize,
        sender: mpsc::UnboundedSender<(Value, DateTime<Utc>)>,
        handle: SandboxHandle,
    }
    async fn hook(State(r): State<Receiver>, body: String) -> AxumStatus {
        let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        let _ = r.sender.send((value, r.handle.clock().now()));
        if r.calls.fetch_add(1, Ordering::SeqCst) < r.failures {
            AxumStatus::INTERNAL_SERVER_ERROR
        } else {
            AxumStatus::OK
        }
    }
    let (sender, receiver) = mpsc::unbounded_channel();
    let state = Receiver {
        calls: Arc::new(AtomicUsize::new(0)),
        failures,
        sender,
        handle,
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook?secret=s3cr3t",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

async fn next_delivery(
    receiver: &mut mpsc::UnboundedReceiver<(Value, DateTime<Utc>)>,
) -> (Value, DateTime<Utc>) {
    tokio::time::timeout(Duration::from_secs(10), receiver.recv())
        .await
        .expect("a webhook delivery within 10 s")
        .expect("the receiver is running")
}

async fn wait_for_attempts(handle: &SandboxHandle, count: usize) {
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for_webhook_attempts(count),
    )
    .await
    .expect("the sandbox records the attempt within 10 s");
}

#[tokio::test]
async fn the_completion_webhook_is_delivered_and_retried_on_the_sandbox_clock() {
    let sandbox = start(config()).await;
    let (url, mut deliveries) = start_receiver(1, sandbox.handle.clone()).await;
    let body = json!({ "authorizers": [authorizer("W-1"), authorizer("W-2")], "webhook_url": url });
    let created = sandbox.submit(serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let batch_id = created.json()["batch_id"].as_str().unwrap().to_string();

    sandbox.advance(Duration::from_secs(599));
    assert_eq!(
        sandbox.handle.webhook_status(&batch_id),
        Some(WebhookStatus::AwaitingCompletion)
    );
    sandbox.advance(Duration::from_secs(1));
    let completed_at = start_time() + TimeDelta::minutes(10);

    let (first, first_at) = next_delivery(&mut deliveries).await;
    assert_eq!(first["type"], "BALANCE_BATCH_COMPLETED");
    assert_eq!(first["batch_id"], batch_id.as_str());
    assert_eq!(
        first.as_object().unwrap().len(),
        3,
        "no results in the body: {first}"
    );
    let event_uuid = first["event_uuid"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&event_uuid).is_ok());
    assert_eq!(first_at, completed_at);

    // The receiver answered 500: the retry is scheduled a minute later, not sent now.
    wait_for_attempts(&sandbox.handle, 1).await;
    match sandbox.handle.webhook_status(&batch_id) {
        Some(WebhookStatus::Scheduled {
            attempts,
            next_attempt_at,
            ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(next_attempt_at, completed_at + TimeDelta::minutes(1));
        }
        other => panic!("expected a scheduled retry, got {other:?}"),
    }
    assert!(deliveries.try_recv().is_err(), "no retry before its time");

    sandbox.advance(Duration::from_secs(60));
    let (second, second_at) = next_delivery(&mut deliveries).await;
    assert_eq!(
        second["event_uuid"],
        event_uuid.as_str(),
        "a retry keeps its event_uuid"
    );
    assert_eq!(second_at, completed_at + TimeDelta::minutes(1));
    wait_for_attempts(&sandbox.handle, 2).await;
    assert_eq!(
        sandbox.handle.webhook_status(&batch_id),
        Some(WebhookStatus::Delivered {
            event_uuid: event_uuid.clone(),
            attempts: 2
        })
    );
    let attempts = sandbox.handle.webhook_attempts();
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
}

/// The OpenAPI document's component `name` as a JSON Schema validator.
///
/// Three readings are applied to the document, all from the API README: OpenAPI 3.0's
/// `nullable: true` (left in this 3.1 document) allows `null`; the balances page's
/// `next_page_token` is `null` on the last page, as the history page says of its own;
/// and an error's `details` may be an object (the CSV upload's per-row failures).
fn openapi_validator(name: &str) -> jsonschema::Validator {
    fn allow_null(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.get("nullable") == Some(&Value::Bool(true))
                    && let Some(Value::String(kind)) = map.get("type").cloned()
                {
                    map.insert("type".into(), json!([kind, "null"]));
                }
                map.values_mut().for_each(allow_null);
            }
            Value::Array(items) => items.iter_mut().for_each(allow_null),
            _ => {}
        }
    }
    let text = std::fs::read_to_string("tests/data/rightfoot-openapi.yaml").unwrap();
    let mut spec: Value =
        balance_monitor::yaml::from_str(&text, "rightfoot-openapi.yaml".as_ref()).unwrap();
    allow_null(&mut spec);
    spec["components"]["schemas"]["BatchBalancesResponse"]["properties"]["next_page_token"]["type"] =
        json!(["string", "null"]);
    spec["components"]["schemas"]["ApiErrorResponse"]["properties"]["error"]["properties"]["details"]
        ["type"] = json!(["string", "object"]);
    spec["$ref"] = json!(format!("#/components/schemas/{name}"));
    jsonschema::validator_for(&spec).expect("the OpenAPI components compile")
}

fn assert_matches_schema(name: &str, body: &Value) {
    let validator = openapi_validator(name);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{body}");
}

#[tokio::test]
async fn every_json_answer_matches_the_openapi_schemas() {
    let sandbox = start(config()).await;
    let mut rows: Vec<Value> = ids("schema", 150).iter().map(|id| authorizer(id)).collect();
    rows.push(authorizer_with("x", |a| {
        a.remove("authorizer_unique_id");
    }));
    rows.push(authorizer_with("R-1", |a| {
        a.insert("routing_number".into(), json!("12"));
    }));
    let created = sandbox
        .submit(serde_json::to_vec(&json!({ "authorizers": rows })).unwrap())
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_matches_schema("BatchCreatedResponse", &created.json());
    let batch_id = created.json()["batch_id"].as_str().unwrap().to_string();

    let upload = sandbox
        .upload_csv(
            b"authorizer_unique_id,first_name,zip_code\nU-1,Ren\xe9e,1\n,x,12345\n".to_vec(),
            None,
        )
        .await;
    assert_eq!(upload.status, StatusCode::BAD_REQUEST, "{}", upload.text);
    assert_matches_schema("ApiErrorResponse", &upload.json());

    sandbox.advance(Duration::from_secs(300));
    let partial = sandbox
        .get(&format!("/v1/balances?batchId={batch_id}&limit=50"))
        .await;
    assert_eq!(partial.json()["has_more"], true);
    assert_matches_schema("BatchBalancesResponse", &partial.json());
    sandbox.advance(Duration::from_secs(300));
    let last = sandbox
        .get(&format!("/v1/balances?batchId={batch_id}"))
        .await;
    let token = last.json()["next_page_token"].as_str().unwrap().to_string();
    let last = sandbox
        .get(&format!(
            "/v1/balances?batchId={batch_id}&nextPageToken={token}"
        ))
        .await;
    assert_eq!(last.json()["has_more"], false);
    assert_matches_schema("BatchBalancesResponse", &last.json());

    let history = sandbox
        .get("/v1/monitoring/authorizers/schema-0/history")
        .await;
    assert_matches_schema("AuthorizerHistoryResponse", &history.json());

    let errors = [
        sandbox.get_as("wrong", "/v1/balances?batchId=x").await,
        sandbox.get("/v1/balances").await,
        sandbox.get("/v1/balances?batchId=nope").await,
        sandbox.submit(b"{".to_vec()).await,
        sandbox.submit(batch_body(&ids("many", 1001))).await,
    ];
    for error in &errors {
        assert!(error.status.is_client_error(), "{}", error.text);
        assert_matches_schema("ApiErrorResponse", &error.json());
    }
}
