//! The Rightfoot client against the built-in sandbox, over real HTTP on loopback: the
//! acceptance tests for "the Rightfoot API client, and a built-in sandbox that behaves
//! like the real service", and the contract test of every request the client makes
//! against Rightfoot's OpenAPI document.
//!
//! Authorizers are loaded from private CSV files and serialized by
//! `authorizers::wire::request_body`, as the daemon does. The sandbox clock is frozen:
//! results appear only when a test advances it. Where a test must see or steer the
//! traffic (retries, a repeating page token, the contract), a recording proxy sits
//! between client and sandbox. Retry waits run on paused tokio time; channels are
//! awaited with a timeout; nothing sleeps to synchronize.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use balance_monitor::authorizers::Authorizer;
use balance_monitor::authorizers::wire::request_body;
use balance_monitor::money::Cents;
use balance_monitor::rightfoot::{
    ApiError, BalanceResult, BalanceStatus, FailedAuthorizer, HistoryStatus, Page, RetryPolicy,
    RightfootClient, SubmitOutcome,
};
use balance_monitor::sandbox::{FaultConfig, Scenario, WebhookStatus};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::openapi::{self, RequestContract};
use crate::support::proxy::Proxy;
use crate::support::sandbox::{
    CsvRow, PROCESSING_TIME, RunningSandbox, SANDBOX_KEY, authorizers_csv, bank_authorizers,
    fast_client_config, frozen_sandbox_config, load_authorizers,
};

// ---------------------------------------------------------------------------------
// Helpers

async fn submit(client: &RightfootClient, chunk: &[Authorizer]) -> SubmitOutcome {
    client
        .submit_chunk(&request_body(chunk, None), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("the sandbox accepts the chunk: {e}"))
}

/// Every page of a batch's results, insisting that the cursor ends cleanly.
async fn read_pages(client: &RightfootClient, batch_id: &str, accepted: usize) -> Vec<Page> {
    let mut cursor = client.balance_pages(batch_id, accepted, Utc::now());
    let mut pages = Vec::new();
    while let Some(page) = cursor
        .next_page()
        .await
        .unwrap_or_else(|e| panic!("batch {batch_id}: {e}"))
    {
        pages.push(page);
    }
    pages
}

/// Every result of a submitted chunk.
async fn read_results(client: &RightfootClient, outcome: &SubmitOutcome) -> Vec<BalanceResult> {
    read_pages(client, &outcome.batch_id, outcome.accepted)
        .await
        .into_iter()
        .flat_map(|page| page.results)
        .collect()
}

/// How many times each authorizer id appears in `results`.
fn count_ids<'a>(results: impl IntoIterator<Item = &'a BalanceResult>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for result in results {
        *counts
            .entry(result.authorizer_unique_id.clone())
            .or_insert(0) += 1;
    }
    counts
}

fn ids(authorizers: &[Authorizer]) -> BTreeSet<String> {
    authorizers.iter().map(|a| a.id().to_string()).collect()
}

fn scenario(yaml: &str) -> Scenario {
    Scenario::from_yaml(yaml, Path::new("scenario.yaml")).expect("a valid scenario")
}

/// The CSV export of `batch_ids`, read chunk by chunk through the client's stream.
async fn export_csv(client: &RightfootClient, batch_ids: &[&str]) -> String {
    let mut export = client.export_balances_csv(batch_ids).await.unwrap();
    assert!(
        export
            .content_type()
            .is_some_and(|t| t.starts_with("text/csv")),
        "{:?}",
        export.content_type()
    );
    let mut bytes = Vec::new();
    while let Some(chunk) = export.next_chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).unwrap()
}

/// The export parsed into its header and one map per row, keyed by column name.
fn parse_export(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            header
                .iter()
                .cloned()
                .zip(record.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

// ---------------------------------------------------------------------------------
// Submitting and reading

#[tokio::test]
async fn chunks_of_1000_1000_and_500_are_each_read_to_completion_with_one_result_each() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let authorizers = bank_authorizers("bulk", 2500);
    let chunks: Vec<&[Authorizer]> = authorizers.chunks(1000).collect();
    let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
    assert_eq!(sizes, [1000, 1000, 500]);

    let mut outcomes = Vec::new();
    for chunk in &chunks {
        let outcome = submit(&client, chunk).await;
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        assert_eq!(outcome.accepted, chunk.len());
        outcomes.push(outcome);
    }
    let batch_ids: BTreeSet<&str> = outcomes.iter().map(|o| o.batch_id.as_str()).collect();
    assert_eq!(batch_ids.len(), 3, "one batch per chunk");
    assert_eq!(sandbox.handle.batches_created(), 3);
    assert_eq!(sandbox.handle.checks_performed(), 2500);

    sandbox.advance(PROCESSING_TIME);
    let mut everyone: BTreeMap<String, usize> = BTreeMap::new();
    for (chunk, outcome) in chunks.iter().zip(&outcomes) {
        let results = read_results(&client, outcome).await;
        let counts = count_ids(&results);
        assert_eq!(
            counts.keys().cloned().collect::<BTreeSet<_>>(),
            ids(chunk),
            "batch {} holds exactly its chunk",
            outcome.batch_id
        );
        for (id, n) in counts {
            *everyone.entry(id).or_insert(0) += n;
        }
    }
    assert_eq!(everyone.len(), 2500);
    let repeated: Vec<_> = everyone.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "more than one result: {repeated:?}");
}

#[tokio::test]
async fn invalid_rows_come_back_as_failed_authorizers_with_the_api_messages() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let valid = bank_authorizers("fine", 6);
    let card = load_authorizers(&[CsvRow::card("card-template")]);
    let wire = |chunk: &[Authorizer]| -> Value {
        serde_json::from_slice::<Value>(&request_body(chunk, None)).unwrap()["authorizers"][0]
            .clone()
    };
    let (bank_template, card_template) = (wire(&valid), wire(&card));
    let edited = |template: &Value, id: Option<&str>, edit: &dyn Fn(&mut Value)| {
        let mut row = template.clone();
        match id {
            Some(id) => row["authorizer_unique_id"] = json!(id),
            None => {
                row.as_object_mut().unwrap().remove("authorizer_unique_id");
            }
        }
        edit(&mut row);
        row
    };
    let invalid = [
        edited(&bank_template, Some("bad-routing"), &|r| {
            r["routing_number"] = json!("12")
        }),
        edited(&bank_template, Some("no-dob"), &|r| {
            r.as_object_mut().unwrap().remove("date_of_birth");
        }),
        edited(&bank_template, None, &|_| {}),
        edited(&bank_template, Some("bad-zip"), &|r| {
            r["address"]["zip_code"] = json!("9410")
        }),
        edited(&bank_template, Some("ssn-number"), &|r| {
            r["ssn"] = json!(123456789)
        }),
        edited(&card_template, Some("bad-cvv"), &|r| r["cvv"] = json!("12")),
        edited(&bank_template, Some("twice"), &|_| {}),
        edited(&bank_template, Some("twice"), &|_| {}),
    ];
    let valid_rows: Vec<Value> = serde_json::from_slice::<Value>(&request_body(&valid, None))
        .unwrap()["authorizers"]
        .as_array()
        .unwrap()
        .clone();
    // Valid and invalid rows interleaved: rows are rejected one by one, not the batch.
    let mut rows = Vec::new();
    for (n, bad) in invalid.iter().enumerate() {
        if let Some(good) = valid_rows.get(n) {
            rows.push(good.clone());
        }
        rows.push(bad.clone());
    }
    let submitted = rows.len();
    assert_eq!(submitted, 14);
    let body = serde_json::to_vec(&json!({ "authorizers": rows })).unwrap();
    let outcome = client.submit_chunk(&body, Utc::now()).await.unwrap();

    let failed = |id: Option<&str>, error: &str, account_type: &str| FailedAuthorizer {
        authorizer_unique_id: id.map(str::to_string),
        error: error.to_string(),
        account_type: Some(account_type.to_string()),
        row_number: None,
    };
    let duplicate = "Duplicate authorizer unique ID not allowed.";
    assert_eq!(
        outcome.failed,
        vec![
            failed(
                Some("bad-routing"),
                "Invalid routing number for authorizer(s). Routing number must be 9 digits long.",
                "ACCOUNT_NUMBER"
            ),
            failed(
                Some("no-dob"),
                "Missing date of birth for authorizer(s).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                None,
                "Missing authorizer unique ID for authorizer(s).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                Some("bad-zip"),
                "Invalid ZIP code for authorizer(s). Must be 5 digits or in 5+4 format (e.g., 94107 or 94107-1234).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                Some("ssn-number"),
                "SSN must be of type string for authorizer(s).",
                "ACCOUNT_NUMBER"
            ),
            failed(
                Some("bad-cvv"),
                "Invalid CVV for authorizer(s). Must be 3 or 4 digits.",
                "DEBIT_CARD"
            ),
            failed(Some("twice"), duplicate, "ACCOUNT_NUMBER"),
            failed(Some("twice"), duplicate, "ACCOUNT_NUMBER"),
        ]
    );
    assert_eq!(outcome.accepted, 6);
    let summary = sandbox.handle.batch(&outcome.batch_id).unwrap();
    assert_eq!(summary.accepted, 6);
    assert_eq!(sandbox.handle.checks_performed(), 6);

    sandbox.advance(PROCESSING_TIME);
    let results = read_results(&client, &outcome).await;
    assert_eq!(results.len(), outcome.accepted);
    let counts = count_ids(&results);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), ids(&valid));
}

#[tokio::test]
async fn more_than_100_results_are_paged_exactly_once_each() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let authorizers = bank_authorizers("paged", 250);
    let outcome = submit(&client, &authorizers).await;
    sandbox.advance(PROCESSING_TIME);

    let pages = read_pages(&client, &outcome.batch_id, 250).await;
    let shape: Vec<(u32, usize, bool, bool)> = pages
        .iter()
        .map(|p| {
            (
                p.number,
                p.results.len(),
                p.has_more,
                p.next_page_token.is_some(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, 100, true, true),
            (2, 100, true, true),
            (3, 50, false, false)
        ]
    );
    assert!(pages.iter().all(|p| p.total_processed == Some(250)));
    assert!(
        pages
            .iter()
            .all(|p| p.batch_id.as_deref() == Some(outcome.batch_id.as_str()))
    );
    let counts = count_ids(pages.iter().flat_map(|p| &p.results));
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        ids(&authorizers)
    );
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");

    // A cursor resumed from the first page's stored token reads exactly the rest.
    let token = pages[0].next_page_token.clone().unwrap();
    let mut resumed = client
        .balance_pages(&outcome.batch_id, 250, Utc::now())
        .starting_after(token);
    let mut rest = Vec::new();
    while let Some(page) = resumed.next_page().await.unwrap() {
        rest.extend(page.results);
    }
    let expected_rest: Vec<&BalanceResult> = pages[1..].iter().flat_map(|p| &p.results).collect();
    assert_eq!(rest.iter().collect::<Vec<_>>(), expected_rest);

    // Small pages: 36 of them, still each result once, within the page bound.
    let mut config = fast_client_config(&sandbox.url, SANDBOX_KEY);
    config.page_limit = 7;
    let small = RightfootClient::new(config).unwrap();
    let small_pages = read_pages(&small, &outcome.batch_id, 250).await;
    assert_eq!(small_pages.len(), 36);
    let counts = count_ids(small_pages.iter().flat_map(|p| &p.results));
    assert_eq!(counts.len(), 250);
    assert!(counts.values().all(|n| *n == 1));
}

#[tokio::test]
async fn results_appear_progressively_and_are_complete_after_the_processing_time() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let authorizers = bank_authorizers("progress", 300);
    let outcome = submit(&client, &authorizers).await;
    let accepted = outcome.accepted;

    let read = || async {
        let pages = read_pages(&client, &outcome.batch_id, accepted).await;
        assert!(pages.iter().all(|p| !p.batch_not_found_yet));
        let total = pages.last().and_then(|p| p.total_processed);
        let results: Vec<BalanceResult> = pages.into_iter().flat_map(|p| p.results).collect();
        assert_eq!(total, Some(results.len() as u64));
        results
    };
    assert!(read().await.is_empty(), "nothing is processed at once");

    // Results are spread evenly over the processing time.
    sandbox.advance(PROCESSING_TIME / 2);
    let half = read().await;
    assert_eq!(half.len(), 150);
    sandbox.advance(PROCESSING_TIME / 2 - Duration::from_secs(1));
    let almost = read().await;
    assert_eq!(
        almost.len(),
        299,
        "still incomplete a second before the end"
    );
    assert_eq!(almost[..150], half[..], "results only ever append");

    sandbox.advance(Duration::from_secs(1));
    let complete = read().await;
    assert_eq!(complete.len(), accepted, "the batch is complete");
    assert_eq!(
        count_ids(&complete)
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        ids(&authorizers)
    );
}

#[tokio::test]
async fn a_404_right_after_the_201_is_no_results_yet_within_the_grace_period() {
    let mut config = frozen_sandbox_config();
    config.faults.not_found_after_create = Duration::from_secs(30);
    let sandbox = RunningSandbox::start(config).await;
    let client = sandbox.client();
    let authorizers = bank_authorizers("new", 10);
    let outcome = submit(&client, &authorizers).await;

    let pages = read_pages(&client, &outcome.batch_id, 10).await;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].batch_not_found_yet && pages[0].results.is_empty());

    // Without a grace period the same 404 is an error naming the batch.
    let mut strict = fast_client_config(&sandbox.url, SANDBOX_KEY);
    strict.not_found_grace = Duration::ZERO;
    let strict = RightfootClient::new(strict).unwrap();
    let submitted_before = Utc::now() - chrono::TimeDelta::seconds(1);
    let error = strict
        .balance_pages(&outcome.batch_id, 10, submitted_before)
        .next_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ApiError::BatchNotFound { batch_id, .. } if *batch_id == outcome.batch_id),
        "{error:?}"
    );

    sandbox.advance(PROCESSING_TIME);
    let results = read_results(&client, &outcome).await;
    assert_eq!(results.len(), 10);
}

// ---------------------------------------------------------------------------------
// Retries

#[tokio::test(start_paused = true)]
async fn injected_500_503_and_429_are_retried_and_retry_after_is_honoured() {
    let mut config = frozen_sandbox_config();
    config.seed = 7;
    config.faults = FaultConfig {
        error_500_percent: 20,
        error_503_percent: 20,
        error_429_percent: 20,
        retry_after: Duration::from_secs(7),
        ..FaultConfig::default()
    };
    let sandbox = RunningSandbox::start(config).await;
    let proxy = Proxy::start(&sandbox.url).await;
    let mut client_config = fast_client_config(&proxy.url, SANDBOX_KEY);
    client_config.retry = RetryPolicy {
        max_attempts: 30,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(60),
        post_retry_window: Duration::from_secs(23 * 3600),
    };
    let client = RightfootClient::new(client_config).unwrap();

    let authorizers = bank_authorizers("flaky", 150);
    let outcome = submit(&client, &authorizers).await;
    assert_eq!(
        outcome.attempts as usize,
        proxy.exchanges_to("/v1/balance_requests").len()
    );
    assert_eq!(
        sandbox.handle.batches_created(),
        1,
        "a retried POST makes one batch"
    );
    assert_eq!(sandbox.handle.checks_performed(), 150);
    sandbox.advance(PROCESSING_TIME);
    assert_eq!(read_results(&client, &outcome).await.len(), 150);
    let export = export_csv(&client, &[outcome.batch_id.as_str()]).await;
    assert_eq!(export.lines().count(), 151);
    let history = client
        .authorizer_history("flaky-0", Some(5), None)
        .await
        .unwrap();
    assert_eq!(history.entries.len(), 1);

    let exchanges = proxy.exchanges();
    let statuses: Vec<u16> = exchanges.iter().map(|e| e.status).collect();
    let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
    for status in [500, 503, 429] {
        assert!(count(status) > 0, "no {status} was injected: {statuses:?}");
    }
    let successes = statuses.iter().filter(|s| (200..300).contains(*s)).count();
    assert_eq!(
        successes, 5,
        "submit, two pages, export and history each succeed once: {statuses:?}"
    );
    assert_eq!(
        successes + count(500) + count(503) + count(429),
        statuses.len()
    );
    for pair in exchanges.windows(2) {
        let (failed, next) = (&pair[0], &pair[1]);
        if (200..300).contains(&failed.status) {
            continue;
        }
        assert!(
            next.same_request_as(failed),
            "a {} on {} is followed by its retry, not by {} {}",
            failed.status,
            failed.path,
            next.method,
            next.path
        );
        let waited = next.at - failed.at;
        if failed.status == 429 {
            assert_eq!(failed.response_header("retry-after"), Some("7"));
            assert!(waited >= Duration::from_secs(7), "waited {waited:?}");
        } else {
            assert!(waited >= Duration::from_millis(50), "waited {waited:?}");
        }
    }
}

/// Issue 15, defect 4: a `201` cut short used to close the chunk as unknown. The
/// client now sends the identical bytes again, Rightfoot answers from its 24-hour cache,
/// and the batch is made and charged once.
#[tokio::test(start_paused = true)]
async fn a_201_cut_short_is_retried_with_the_same_bytes_and_makes_one_batch() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let cut_one = AtomicBool::new(false);
    let proxy = Proxy::rewriting(&sandbox.url, move |exchange| {
        let first_201 = exchange.status == 201 && !cut_one.swap(true, Ordering::SeqCst);
        first_201.then(|| {
            exchange
                .response_body
                .slice(..exchange.response_body.len() / 2)
        })
    })
    .await;
    let client = RightfootClient::new(fast_client_config(&proxy.url, SANDBOX_KEY)).unwrap();

    let authorizers = bank_authorizers("cut", 12);
    let outcome = submit(&client, &authorizers).await;

    let posts = proxy.exchanges_to("/v1/balance_requests");
    assert_eq!(posts.len(), 2, "the cut answer and its retry");
    assert!(
        posts[1].same_request_as(&posts[0]),
        "the retry sends the same bytes"
    );
    assert!(serde_json::from_slice::<Value>(&posts[0].response_body).is_err());
    assert_eq!(outcome.batch_id, posts[1].response_json()["batch_id"]);
    assert_eq!(outcome.attempts, 2);
    assert_eq!(sandbox.handle.batches_created(), 1, "one batch");
    assert_eq!(
        sandbox.handle.checks_performed(),
        12,
        "each authorizer checked once"
    );
    assert_eq!(client.metrics().submission_decode_retries(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_401_is_sent_once_and_never_retried() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let proxy = Proxy::start(&sandbox.url).await;
    let mut config = fast_client_config(&proxy.url, "rf_test_not_a_key_we_know");
    config.retry.max_attempts = 5;
    let client = RightfootClient::new(config).unwrap();
    let batch_id = "5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83";

    let body = request_body(&bank_authorizers("nokey", 3), None);
    let errors = [
        client.submit_chunk(&body, Utc::now()).await.unwrap_err(),
        client
            .balance_pages(batch_id, 3, Utc::now())
            .next_page()
            .await
            .unwrap_err(),
        client.export_balances_csv([batch_id]).await.unwrap_err(),
        client
            .authorizer_history("nokey-0", Some(10), None)
            .await
            .unwrap_err(),
    ];
    for error in &errors {
        assert!(matches!(error, ApiError::Unauthorized(_)), "{error:?}");
        assert!(!error.is_retryable());
    }
    let statuses: Vec<u16> = proxy.exchanges().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [401, 401, 401, 401], "one request per call");
    assert_eq!(sandbox.handle.batches_created(), 0);
}

// ---------------------------------------------------------------------------------
// Pagination guard

#[tokio::test]
async fn a_repeating_page_token_is_stopped_by_the_loop_guard() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    // The sandbox never repeats a token; this proxy makes every page after the first
    // hand back the first page's token, like a mock that loops forever.
    let first_token: Arc<Mutex<Option<String>>> = Arc::default();
    let proxy = Proxy::rewriting(&sandbox.url, move |exchange| {
        if exchange.path != "/v1/balances" || exchange.status != 200 {
            return None;
        }
        let token = exchange.response_json()["next_page_token"]
            .as_str()?
            .to_string();
        let first = first_token
            .lock()
            .unwrap()
            .get_or_insert_with(|| token.clone())
            .clone();
        let text = String::from_utf8(exchange.response_body.to_vec()).unwrap();
        Some(Bytes::from(
            text.replace(&format!("\"{token}\""), &format!("\"{first}\"")),
        ))
    })
    .await;
    let client = RightfootClient::new(fast_client_config(&proxy.url, SANDBOX_KEY)).unwrap();
    let outcome = submit(&client, &bank_authorizers("loop", 350)).await;
    sandbox.advance(PROCESSING_TIME);

    let mut cursor = client.balance_pages(&outcome.batch_id, 350, Utc::now());
    assert_eq!(cursor.max_pages(), 6, "4 pages for 350 results, plus slack");
    let (pages, error) = tokio::time::timeout(Duration::from_secs(30), async {
        let mut pages = Vec::new();
        loop {
            match cursor.next_page().await {
                Ok(Some(page)) => pages.push(page),
                Ok(None) => return (pages, None),
                Err(error) => return (pages, Some(error)),
            }
        }
    })
    .await
    .expect("the loop guard stops the cursor instead of hanging");
    let error = error.expect("a repeating token is an error, not the end of the results");
    assert!(
        matches!(&error, ApiError::PageTokenRepeated { batch_id, page: 2 } if *batch_id == outcome.batch_id),
        "{error:?}"
    );
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].next_page_token, pages[1].next_page_token);
    assert!(
        cursor.next_page().await.unwrap().is_none(),
        "the cursor is done"
    );
    assert_eq!(proxy.exchanges_to("/v1/balances").len(), 2);
}

// ---------------------------------------------------------------------------------
// Status codes and money

#[tokio::test]
async fn an_unknown_status_code_is_kept_as_unknown() {
    let mut config = frozen_sandbox_config();
    config.scenario = scenario(
        "authorizers:\n  odd-1: [{code: 4242}]\n  closed-1: [closed]\n  fine-1: [10.00]\n",
    );
    let sandbox = RunningSandbox::start(config).await;
    let client = sandbox.client();
    let authorizers = load_authorizers(&[
        CsvRow::bank("odd-1"),
        CsvRow::bank("closed-1"),
        CsvRow::bank("fine-1"),
    ]);
    let outcome = submit(&client, &authorizers).await;
    sandbox.advance(PROCESSING_TIME);

    let results: BTreeMap<String, BalanceResult> = read_results(&client, &outcome)
        .await
        .into_iter()
        .map(|r| (r.authorizer_unique_id.clone(), r))
        .collect();
    let odd = &results["odd-1"];
    assert_eq!(odd.status, BalanceStatus::Unknown(4242));
    assert_eq!(odd.status.code(), 4242);
    assert!(!odd.status.is_success());
    assert_eq!(odd.balance, None);
    assert_eq!(results["closed-1"].status, BalanceStatus::AccountClosed);
    assert_eq!(results["fine-1"].status, BalanceStatus::Success);
    assert_eq!(results["fine-1"].balance, Some(Cents(1000)));

    let history = client
        .authorizer_history("odd-1", None, None)
        .await
        .unwrap();
    assert_eq!(history.entries.len(), 1);
    let entry = &history.entries[0];
    assert_eq!(entry.status, HistoryStatus::Failed);
    assert_eq!(entry.balance, None);
    assert_eq!(
        entry.error_message.as_deref(),
        Some("Unknown error (code 4242)")
    );
    assert_eq!(entry.batch_id.as_deref(), Some(outcome.batch_id.as_str()));
}

#[tokio::test]
async fn negative_and_large_balances_are_exact_to_the_cent() {
    // (id, as the scenario writes it, cents, as the CSV export writes it)
    let table: &[(&str, &str, i64, &str)] = &[
        ("overdrawn", "-83.68", -8368, "-83.68"),
        (
            "large",
            "12345678901.23",
            1_234_567_890_123,
            "12345678901.23",
        ),
        // Past 2^53 cents: a float cannot hold it, the number text can.
        (
            "past-f64",
            "\"90071992547409.93\"",
            9_007_199_254_740_993,
            "90071992547409.93",
        ),
        // 0.29 * 100 is 28.999999999999996 in floating point.
        ("float-trap", "0.29", 29, "0.29"),
        ("one-cent-over", "-0.01", -1, "-0.01"),
    ];
    let mut yaml = String::from("authorizers:\n");
    for (id, amount, _, _) in table {
        yaml.push_str(&format!("  {id}: [{amount}]\n"));
    }
    let mut config = frozen_sandbox_config();
    config.scenario = scenario(&yaml);
    let sandbox = RunningSandbox::start(config).await;
    let client = sandbox.client();
    let rows: Vec<CsvRow> = table.iter().map(|(id, ..)| CsvRow::bank(*id)).collect();
    let outcome = submit(&client, &load_authorizers(&rows)).await;
    sandbox.advance(PROCESSING_TIME);

    let results: BTreeMap<String, BalanceResult> = read_results(&client, &outcome)
        .await
        .into_iter()
        .map(|r| (r.authorizer_unique_id.clone(), r))
        .collect();
    let (_, exported) = parse_export(&export_csv(&client, &[outcome.batch_id.as_str()]).await);
    for (id, _, cents, text) in table {
        let result = &results[*id];
        assert_eq!(result.balance, Some(Cents(*cents)), "{id}");
        assert_eq!(result.status, BalanceStatus::Success, "{id}");
        let history = client.authorizer_history(id, None, None).await.unwrap();
        assert_eq!(history.entries[0].balance, Some(Cents(*cents)), "{id}");
        let row = exported
            .iter()
            .find(|row| row["Authorizer ID"] == *id)
            .unwrap();
        assert_eq!(row["Balance"], *text, "{id}");
    }
}

// ---------------------------------------------------------------------------------
// The 24-hour body cache

#[tokio::test]
async fn identical_bytes_get_the_same_batch_until_24_hours_pass() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let chunk = bank_authorizers("cached", 20);
    let body = request_body(&chunk, None);

    let first = client.submit_chunk(&body, Utc::now()).await.unwrap();
    let again = client
        .submit_chunk(&request_body(&chunk, None), Utc::now())
        .await
        .unwrap();
    assert_eq!(again.batch_id, first.batch_id);
    assert_eq!(
        again.submitted_at, first.submitted_at,
        "the cached response is the first one, time included"
    );
    assert_eq!(again.body_sha256, first.body_sha256);
    assert_eq!(sandbox.handle.batches_created(), 1);
    assert_eq!(sandbox.handle.checks_performed(), 20, "no new check");

    // Same authorizers in another order: other bytes, a new batch.
    let reversed: Vec<Authorizer> = chunk.iter().rev().cloned().collect();
    let changed = submit(&client, &reversed).await;
    assert_ne!(changed.batch_id, first.batch_id);
    assert_eq!(sandbox.handle.batches_created(), 2);
    assert_eq!(sandbox.handle.checks_performed(), 40);

    sandbox.advance(Duration::from_secs(24 * 3600 - 1));
    let late = client.submit_chunk(&body, Utc::now()).await.unwrap();
    assert_eq!(late.batch_id, first.batch_id, "still cached at 23:59:59");
    assert_eq!(sandbox.handle.checks_performed(), 40);

    sandbox.advance(Duration::from_secs(1));
    let next_day = client.submit_chunk(&body, Utc::now()).await.unwrap();
    assert_ne!(next_day.batch_id, first.batch_id);
    assert_ne!(next_day.batch_id, changed.batch_id);
    assert!(next_day.submitted_at > first.submitted_at);
    assert_eq!(sandbox.handle.batches_created(), 3);
    assert_eq!(sandbox.handle.checks_performed(), 60);
}

// ---------------------------------------------------------------------------------
// The CSV export of uploaded batches

/// Uploads `file` through `POST /v1/balance_requests/csv`, which the client does not
/// call, and returns the `201` body.
async fn upload_csv(sandbox: &RunningSandbox, file: String) -> Value {
    let part = reqwest::multipart::Part::bytes(file.into_bytes())
        .file_name("authorizers.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("email", "ops@lender.example");
    let response = reqwest::Client::new()
        .post(sandbox.url.join("/v1/balance_requests/csv").unwrap())
        .bearer_auth(SANDBOX_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_csv_export_of_uploaded_batches_has_the_documented_and_sorted_meta_columns() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let first_rows = [
        CsvRow::bank("up-1")
            .meta("region", "west")
            .meta("customer_ref", "CR-1"),
        CsvRow::card("up-2")
            .meta("region", "east")
            .meta("customer_ref", "CR-2"),
        CsvRow::bank("up-3").meta("region", "north"),
    ];
    let second_rows = [
        CsvRow::bank("up-4")
            .meta("customer_ref", "CR-4")
            .meta("account_manager", "Ana"),
        CsvRow::bank("up-5").meta("account_manager", "Bo"),
    ];
    // Each file lists its meta columns out of alphabetical order.
    let first = upload_csv(
        &sandbox,
        authorizers_csv(&first_rows, &["region", "customer_ref"]),
    )
    .await;
    let second = upload_csv(
        &sandbox,
        authorizers_csv(&second_rows, &["customer_ref", "account_manager"]),
    )
    .await;
    for created in [&first, &second] {
        assert_eq!(created["failed_authorizers"], json!([]), "{created}");
    }
    let (first_id, second_id) = (
        first["batch_id"].as_str().unwrap(),
        second["batch_id"].as_str().unwrap(),
    );
    sandbox.advance(PROCESSING_TIME);

    let (header, rows) = parse_export(&export_csv(&client, &[first_id, second_id]).await);
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
            "meta_account_manager",
            "meta_customer_ref",
            "meta_region",
        ]
    );
    let expected: BTreeMap<&str, (&str, &CsvRow)> = first_rows
        .iter()
        .map(|row| (row.id.as_str(), (first_id, row)))
        .chain(
            second_rows
                .iter()
                .map(|row| (row.id.as_str(), (second_id, row))),
        )
        .collect();
    assert_eq!(rows.len(), expected.len());
    let statuses = [
        "SUCCESS",
        "NO_MATCH",
        "ACCOUNT_CLOSED",
        "BANK_UNSUPPORTED",
        "RETRIEVAL_FAILED",
        "PROCESSING_ERROR",
        "RETRY_LIMIT",
    ];
    let mut seen = BTreeSet::new();
    for row in &rows {
        let id = row["Authorizer ID"].as_str();
        let (batch_id, source) = expected[id];
        assert!(seen.insert(id), "{id} exported twice");
        assert_eq!(row["Batch ID"], batch_id, "{id}");
        for key in ["account_manager", "customer_ref", "region"] {
            let want = source.meta.get(key).map_or("", String::as_str);
            assert_eq!(row[&format!("meta_{key}")], want, "{id} meta_{key}");
        }
        assert!(statuses.contains(&row["Status"].as_str()), "{row:?}");
        assert!(
            row["Balance"].is_empty() || Cents::parse(&row["Balance"]).is_ok(),
            "{row:?}"
        );
        assert_eq!(row["Balance"].is_empty(), row["Status"] != "SUCCESS");
        assert!(!row["Institution"].is_empty());
        assert!(DateTime::parse_from_rfc3339(&row["Timestamp"]).is_ok());
    }
}

// ---------------------------------------------------------------------------------
// The completion webhook

/// What the local receiver saw: the event, and the batch as it then read it.
type Delivery = (Value, Result<Vec<BalanceResult>, String>);

/// A lender's webhook receiver: it checks its own secret, answers 200 at once, then
/// reads the batch the event names with the client.
#[derive(Clone)]
struct Receiver {
    client: RightfootClient,
    /// Accepted counts of the batches the lender submitted, by batch id.
    accepted: Arc<Mutex<HashMap<String, usize>>>,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

async fn on_event(
    State(receiver): State<Receiver>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> StatusCode {
    if query.as_deref() != Some("token=s3cr3t") {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let batch_id = event["batch_id"].as_str().unwrap_or_default().to_string();
    let accepted = receiver.accepted.lock().unwrap().get(&batch_id).copied();
    tokio::spawn(async move {
        let results = match accepted {
            None => Err(format!("batch {batch_id} is not ours")),
            Some(accepted) => {
                let mut cursor = receiver
                    .client
                    .balance_pages(&batch_id, accepted, Utc::now());
                let mut results = Vec::new();
                loop {
                    match cursor.next_page().await {
                        Ok(Some(page)) => results.extend(page.results),
                        Ok(None) => break Ok(results),
                        Err(error) => break Err(error.to_string()),
                    }
                }
            }
        };
        let _ = receiver.deliveries.send((event, results));
    });
    StatusCode::OK
}

#[tokio::test]
async fn the_completion_webhook_reaches_a_local_receiver_which_then_reads_the_batch() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let client = sandbox.client();
    let (sender, mut deliveries) = mpsc::unbounded_channel();
    let receiver = Receiver {
        client: client.clone(),
        accepted: Arc::default(),
        deliveries: sender,
    };
    let accepted = Arc::clone(&receiver.accepted);
    let app = axum::Router::new()
        .route("/hooks/rightfoot", axum::routing::post(on_event))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!(
        "http://{}/hooks/rightfoot?token=s3cr3t",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let chunk = bank_authorizers("hooked", 30);
    let outcome = client
        .submit_chunk(&request_body(&chunk, Some(&webhook_url)), Utc::now())
        .await
        .unwrap();
    accepted
        .lock()
        .unwrap()
        .insert(outcome.batch_id.clone(), outcome.accepted);
    assert_eq!(
        sandbox.handle.webhook_status(&outcome.batch_id),
        Some(WebhookStatus::AwaitingCompletion)
    );

    sandbox.advance(PROCESSING_TIME);
    let (event, results) = tokio::time::timeout(Duration::from_secs(10), deliveries.recv())
        .await
        .expect("the webhook arrives within 10 s")
        .expect("the receiver is running");
    assert_eq!(event["type"], "BALANCE_BATCH_COMPLETED");
    assert_eq!(event["batch_id"], outcome.batch_id.as_str());
    assert!(uuid::Uuid::parse_str(event["event_uuid"].as_str().unwrap()).is_ok());
    let results = results.expect("the receiver reads the batch");
    assert_eq!(results.len(), 30, "complete when the webhook arrives");
    assert_eq!(
        count_ids(&results).keys().cloned().collect::<BTreeSet<_>>(),
        ids(&chunk)
    );

    tokio::time::timeout(
        Duration::from_secs(10),
        sandbox.handle.wait_for_webhook_attempts(1),
    )
    .await
    .expect("the sandbox records the delivery");
    assert!(matches!(
        sandbox.handle.webhook_status(&outcome.batch_id),
        Some(WebhookStatus::Delivered { attempts: 1, .. })
    ));
}

// ---------------------------------------------------------------------------------
// The contract

/// Headers as the client sends them, for the negative controls.
fn client_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer rf_x"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

#[tokio::test]
async fn every_request_the_client_makes_matches_the_openapi_contract() {
    let sandbox = RunningSandbox::start(frozen_sandbox_config()).await;
    let proxy = Proxy::start(&sandbox.url).await;
    let client = RightfootClient::new(fast_client_config(&proxy.url, SANDBOX_KEY)).unwrap();

    // Bank-account and debit-card authorizers: both branches of the Authorizer anyOf.
    // Lender metadata is loaded too, and must not reach the wire.
    let mut rows: Vec<CsvRow> = (0..140)
        .map(|n| CsvRow::bank(format!("contract-{n}")).meta("customer_ref", &format!("CR-{n}")))
        .collect();
    rows.extend((0..10).map(|n| CsvRow::card(format!("card-{n}"))));
    let authorizers = load_authorizers(&rows);
    // Nothing listens on port 9: the sandbox's deliveries fail, which is fine here.
    let webhook = "http://127.0.0.1:9/hooks/rightfoot?token=s3cr3t";
    let big = client
        .submit_chunk(&request_body(&authorizers, Some(webhook)), Utc::now())
        .await
        .unwrap();
    let small = submit(&client, &authorizers[..3]).await;
    let smaller = submit(&client, &authorizers[..2]).await;
    sandbox.advance(PROCESSING_TIME);

    let pages = read_pages(&client, &big.batch_id, big.accepted).await;
    assert_eq!(pages.len(), 2, "one page without a token, one with");
    let export = export_csv(
        &client,
        &[&big.batch_id, &small.batch_id, &smaller.batch_id],
    )
    .await;
    assert_eq!(export.lines().count(), 1 + 150 + 3 + 2);
    let newest = client
        .authorizer_history("contract-0", Some(2), None)
        .await
        .unwrap();
    assert!(newest.has_more);
    let oldest = client
        .authorizer_history("contract-0", Some(2), newest.next_page_token.as_deref())
        .await
        .unwrap();
    assert_eq!(oldest.entries.len(), 1);
    assert!(!oldest.has_more);
    client
        .authorizer_history("card-0", None, None)
        .await
        .unwrap();

    let spec = openapi::load();
    let contract = RequestContract::from_spec(&spec);
    let operations: BTreeSet<String> = contract.operation_ids().into_iter().collect();
    assert_eq!(
        operations,
        BTreeSet::from(
            [
                "POST /v1/balance_requests",
                "GET /v1/balances",
                "GET /v1/balances/csv",
                "GET /v1/monitoring/authorizers/{id}/history",
            ]
            .map(String::from)
        )
    );

    let exchanges = proxy.exchanges();
    let mut covered = BTreeSet::new();
    let mut problems = Vec::new();
    for exchange in &exchanges {
        assert!(
            (200..300).contains(&exchange.status),
            "{} {} answered {}",
            exchange.method,
            exchange.path,
            exchange.status
        );
        match contract.check(
            &exchange.method,
            &exchange.path,
            exchange.query.as_deref(),
            &exchange.request_headers,
            &exchange.request_body,
        ) {
            Ok(operation) => {
                covered.insert(operation);
            }
            Err(found) => problems.extend(found),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(covered, operations, "every operation was exercised");

    // The variants the client can send were all exercised.
    let balances = proxy.exchanges_to("/v1/balances");
    assert!(balances.iter().any(|e| e.param("nextPageToken").is_none()));
    assert!(balances.iter().any(|e| e.param("nextPageToken").is_some()));
    let exports = proxy.exchanges_to("/v1/balances/csv");
    assert!(exports.iter().any(|e| {
        e.query_pairs()
            .iter()
            .filter(|(k, _)| k == "batch_ids")
            .count()
            == 3
    }));
    let history: Vec<_> = exchanges
        .iter()
        .filter(|e| e.path.ends_with("/history"))
        .collect();
    assert!(
        history
            .iter()
            .any(|e| e.param("limit").is_some() && e.param("nextPageToken").is_none())
    );
    assert!(
        history
            .iter()
            .any(|e| e.param("limit").is_some() && e.param("nextPageToken").is_some())
    );
    assert!(history.iter().any(|e| e.query.is_none()));
    let submissions = proxy.exchanges_to("/v1/balance_requests");
    let first_body: Value = serde_json::from_slice(&submissions[0].request_body).unwrap();
    assert_eq!(first_body["webhook_url"], webhook);
    let authorizers_sent = first_body["authorizers"].as_array().unwrap();
    assert!(
        authorizers_sent
            .iter()
            .any(|a| a.get("debit_card_number").is_some())
    );
    assert!(
        authorizers_sent
            .iter()
            .any(|a| a.get("account_number").is_some())
    );

    // Negative controls: the same checks refuse what the document does not allow, so
    // the pass above is not a validator that accepts anything.
    let headers = client_headers();
    let body_check = |body: &Value| {
        contract.check(
            "POST",
            "/v1/balance_requests",
            None,
            &headers,
            &serde_json::to_vec(body).unwrap(),
        )
    };
    assert!(body_check(&first_body).is_ok());
    let card_index = authorizers_sent
        .iter()
        .position(|a| a.get("debit_card_number").is_some())
        .unwrap();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut body = first_body.clone();
        edit(&mut body);
        body
    };
    let refused = [
        (
            "a short routing number",
            edited(&|b| b["authorizers"][0]["routing_number"] = json!("12")),
        ),
        (
            "no phone number",
            edited(&|b| {
                b["authorizers"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("phone_number");
            }),
        ),
        (
            "undocumented metadata",
            edited(&|b| b["authorizers"][0]["metadata"] = json!({"customer_ref": "CR-0"})),
        ),
        (
            "a two-digit cvv",
            edited(&|b| b["authorizers"][card_index]["cvv"] = json!("12")),
        ),
        (
            "a webhook url that is not a uri",
            edited(&|b| b["webhook_url"] = json!("not a url")),
        ),
        (
            "more than 1000 authorizers",
            edited(&|b| {
                let one = b["authorizers"][0].clone();
                b["authorizers"] = Value::Array(vec![one; 1001]);
            }),
        ),
        (
            "no authorizers",
            edited(&|b| {
                b.as_object_mut().unwrap().remove("authorizers");
            }),
        ),
    ];
    for (what, body) in &refused {
        assert!(body_check(body).is_err(), "{what} was accepted");
    }
    let get = |path: &str, query: &str| contract.check("GET", path, Some(query), &headers, b"");
    let history_path = "/v1/monitoring/authorizers/contract-0/history";
    for (path, good, bad) in [
        ("/v1/balances", "batchId=b&limit=100", "batchId=b&limit=0"),
        ("/v1/balances", "batchId=b&limit=1", "batchId=b&limit=101"),
        ("/v1/balances", "batchId=b", "batchId=b&limit=ten"),
        ("/v1/balances", "batchId=b", "limit=10"),
        (
            "/v1/balances",
            "batchId=b&nextPageToken=t",
            "batchId=b&next_page_token=t",
        ),
        ("/v1/balances", "batchId=b", "batchId=b&batchId=c"),
        (
            "/v1/balances/csv",
            "batch_ids=5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83",
            "batch_ids=BATCH-98765",
        ),
        (
            "/v1/balances/csv",
            "batch_ids=5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83",
            "",
        ),
        (history_path, "limit=100", "limit=101"),
        (history_path, "nextPageToken=t", "nextPageToken=t&limit=0"),
    ] {
        assert!(
            get(path, good).is_ok(),
            "{path}?{good}: {:?}",
            get(path, good)
        );
        assert!(get(path, bad).is_err(), "{path}?{bad} was accepted");
    }
    let no_key = HeaderMap::new();
    assert!(
        contract
            .check("GET", "/v1/balances", Some("batchId=b"), &no_key, b"")
            .is_err()
    );
    assert!(
        contract
            .check("GET", "/v1/balances", Some("batchId=b"), &headers, b"{}")
            .is_err()
    );
    assert!(
        contract
            .check("DELETE", "/v1/balances", Some("batchId=b"), &headers, b"")
            .is_err()
    );
}
