//! The read API's Rightfoot-shaped routes over real HTTP, against runs stored the way a
//! run stores them: history, a batch's balances and the CSV export in Rightfoot's
//! shapes (checked against the OpenAPI document), exact money, keyset pages that stay
//! stable while runs are stored, Rightfoot's cache counted once, errors in the
//! envelope, bearer authentication, and the crate's own Rightfoot client reading it.

use std::collections::HashSet;

use balance_monitor::money::Cents;
use balance_monitor::rightfoot::{BalanceStatus, ClientConfig, HistoryStatus, RightfootClient};
use balance_monitor::secret::Secret;
use balance_monitor::store::ResultRow;
use serde_json::Value;

use crate::support::openapi::ResponseContract;
use crate::support::read_api::{
    Api, Check, TOKEN, assert_envelope, at, finished_run, start, start_with,
};

/// The entries' `batch_id`s of every page of `authorizer`'s history, walked with
/// `limit`, each page checked against the schema; `between` runs after each page.
async fn walk_history<F, Fut>(
    api: &Api,
    contract: &ResponseContract,
    authorizer: &str,
    limit: u32,
    mut between: F,
) -> Vec<String>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        assert!(page < 100, "the walk does not end");
        let mut path = format!("/v1/monitoring/authorizers/{authorizer}/history?limit={limit}");
        if let Some(token) = &token {
            path.push_str(&format!("&nextPageToken={token}"));
        }
        let answer = api.get(&path).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        contract.assert_matches("AuthorizerHistoryResponse", &body);
        let entries = body["history"].as_array().unwrap();
        assert!(entries.len() <= limit as usize);
        seen.extend(
            entries
                .iter()
                .map(|e| e["batch_id"].as_str().unwrap().to_string()),
        );
        between(page).await;
        if body["has_more"] == false {
            assert!(body["next_page_token"].is_null(), "{body}");
            break;
        }
        assert_eq!(
            entries.len(),
            limit as usize,
            "a page before the last is full"
        );
        token = Some(body["next_page_token"].as_str().unwrap().to_string());
    }
    seen
}

#[tokio::test]
async fn history_is_rightfoots_shape_newest_first_with_exact_cents() {
    let api = start().await;
    let contract = ResponseContract::load();
    let store = &api.store;
    let checks = [
        ("BATCH-1", Check::Balance(152_347)),
        ("BATCH-2", Check::Code(3300)),
        ("BATCH-3", Check::NotRetrieved),
        ("BATCH-4", Check::Balance(-8_368)),
        ("BATCH-5", Check::Rejected("Invalid SSN for authorizer(s).")),
        // 2^53 + 1 cents: an f64 cannot hold it, so only exact text survives.
        ("BATCH-6", Check::Balance(9_007_199_254_740_993)),
        ("BATCH-7", Check::Code(4242)),
    ];
    for (index, (batch, check)) in checks.iter().enumerate() {
        // Another authorizer in each chunk, so that the page is really filtered.
        finished_run(
            store,
            "nightly",
            batch,
            &[("1a2b3c4d", *check), ("other", Check::Balance(1))],
            at(2 + index as u32, 30),
        )
        .await;
    }

    let answer = api.get("/v1/monitoring/authorizers/1a2b3c4d/history").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.headers["content-type"], "application/json");
    let body = answer.json();
    contract.assert_matches("AuthorizerHistoryResponse", &body);
    assert_eq!(body["authorizer_unique_id"], "1a2b3c4d");
    assert_eq!(body["total_count"], 7);
    assert_eq!(body["has_more"], false);
    assert!(body["next_page_token"].is_null());
    let entries = body["history"].as_array().unwrap();
    let batches: Vec<&str> = entries
        .iter()
        .map(|e| e["batch_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        batches,
        [
            "BATCH-7", "BATCH-6", "BATCH-5", "BATCH-4", "BATCH-3", "BATCH-2", "BATCH-1"
        ],
        "newest run first"
    );
    let run_at: Vec<&str> = entries
        .iter()
        .map(|e| e["run_at"].as_str().unwrap())
        .collect();
    assert!(
        run_at.windows(2).all(|pair| pair[0] >= pair[1]),
        "run_at never increases down the list: {run_at:?}"
    );
    assert!(
        run_at.iter().all(|t| t.len() == 20 && t.ends_with('Z')),
        "{run_at:?}"
    );

    let shape = |index: usize| {
        let e = &entries[index];
        (
            e["status"].as_str().unwrap().to_string(),
            e["error_message"].as_str().map(str::to_string),
        )
    };
    assert_eq!(shape(6), ("success".into(), None));
    assert_eq!(
        shape(5),
        ("failed".into(), Some("Institution not supported".into()))
    );
    assert_eq!(
        shape(4),
        (
            "failed".into(),
            Some("Not retrieved: no result by the deadline".into())
        )
    );
    assert_eq!(
        shape(2),
        (
            "failed".into(),
            Some("Rejected by Rightfoot: Invalid SSN for authorizer(s).".into())
        )
    );
    assert_eq!(
        shape(0),
        (
            "failed".into(),
            Some("Unknown balance status code 4242".into())
        )
    );
    for failed in [0, 2, 4, 5] {
        assert!(entries[failed]["balance_amount"].is_null());
    }

    // The numbers are written from the cents, digit for digit.
    for exact in [
        r#""balance_amount":1523.47"#,
        r#""balance_amount":-83.68"#,
        r#""balance_amount":90071992547409.93"#,
    ] {
        assert!(answer.text.contains(exact), "{exact} in {}", answer.text);
    }
}

#[tokio::test]
async fn a_batch_served_from_rightfoots_cache_is_counted_once() {
    let api = start().await;
    let contract = ResponseContract::load();
    let members = [("C-1", Check::Balance(10_000)), ("C-2", Check::Code(3400))];
    let first = finished_run(&api.store, "nightly", "BATCH-CACHED", &members, at(6, 0)).await;
    // The same list again within 24 hours: Rightfoot answers with the same batch.
    let second = finished_run(&api.store, "nightly", "BATCH-CACHED", &members, at(7, 0)).await;

    let history = api
        .get("/v1/monitoring/authorizers/C-1/history")
        .await
        .json();
    contract.assert_matches("AuthorizerHistoryResponse", &history);
    assert_eq!(history["total_count"], 1, "{history}");
    assert_eq!(history["history"][0]["batch_id"], "BATCH-CACHED");

    let balances = api.get("/v1/balances?batchId=BATCH-CACHED").await.json();
    contract.assert_matches("BatchBalancesResponse", &balances);
    assert_eq!(balances["total_processed"], 2, "{balances}");
    assert_eq!(balances["balances"].as_array().unwrap().len(), 2);

    let run = api.get(&format!("/v1/runs/{}", second.0)).await.json();
    assert_eq!(run["served_from_cache"], true, "{run}");
    assert_eq!(run["counts"]["cached"], 2, "{run}");
    assert_eq!(run["batches"][0]["cached_from_run"], first.0, "{run}");
}

#[tokio::test]
async fn a_cached_batch_read_again_for_its_gaps_lists_each_authorizer_once() {
    let api = start().await;
    let contract = ResponseContract::load();
    let members = [
        ("G-1", Check::Balance(500)),
        ("G-2", Check::NotRetrieved),
        ("G-3", Check::Code(3400)),
    ];
    finished_run(&api.store, "nightly", "BATCH-G", &members, at(6, 0)).await;
    // Rightfoot serves the batch again; the later chunk reads the result the first run
    // gave up on, and stores it as its own (the run module's gap reading).
    let second = finished_run(&api.store, "nightly", "BATCH-G", &members, at(7, 0)).await;
    let chunk = api.store.run_batches(second).await.unwrap()[0].id;
    api.store
        .upsert_results(
            second,
            chunk,
            &[ResultRow {
                authorizer_unique_id: "G-2".into(),
                balance: Some(Cents(-1)),
                balance_status_code: 0,
                retrieved_at: at(6, 30),
            }],
        )
        .await
        .unwrap();

    for limit in [1, 2, 100] {
        let mut token: Option<String> = None;
        let mut listed = Vec::new();
        loop {
            let mut path = format!("/v1/balances?batchId=BATCH-G&limit={limit}");
            if let Some(token) = &token {
                path.push_str(&format!("&nextPageToken={token}"));
            }
            let body = api.get(&path).await.json();
            contract.assert_matches("BatchBalancesResponse", &body);
            assert_eq!(body["total_processed"], 3, "{body}");
            for record in body["balances"].as_array().unwrap() {
                listed.push(record["authorizer_unique_id"].as_str().unwrap().to_string());
            }
            if body["has_more"] == false {
                break;
            }
            token = Some(body["next_page_token"].as_str().unwrap().to_string());
        }
        assert_eq!(listed, ["G-1", "G-2", "G-3"], "pages of {limit}");
    }
    // G-2's history: the first run gave up, the second got it; both name the batch.
    let history = api
        .get("/v1/monitoring/authorizers/G-2/history")
        .await
        .json();
    let entries: Vec<(&str, &str)> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["batch_id"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries, [("BATCH-G", "success"), ("BATCH-G", "failed")]);
    let g1 = api
        .get("/v1/monitoring/authorizers/G-1/history")
        .await
        .json();
    assert_eq!(g1["total_count"], 1, "the cached run stores no copy: {g1}");
}

#[tokio::test]
async fn a_history_walk_returns_every_row_once_while_runs_are_stored() {
    let api = start().await;
    let contract = ResponseContract::load();
    let store = api.store.clone();
    let mut expected = Vec::new();
    for index in 0..11 {
        let batch = format!("BATCH-{index:02}");
        finished_run(
            &store,
            "nightly",
            &batch,
            &[
                ("W-1", Check::Balance(index)),
                ("W-2", Check::Balance(index)),
            ],
            at(1, index as u32),
        )
        .await;
        expected.push(batch);
    }
    expected.reverse();

    // A new run of W-1 is stored between every two page fetches.
    let inserted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = walk_history(&api, &contract, "W-1", 3, |page| {
        let store = store.clone();
        let inserted = inserted.clone();
        async move {
            let batch = format!("BATCH-NEW-{page}");
            finished_run(
                &store,
                "hourly",
                &batch,
                &[("W-1", Check::Code(3300)), ("W-3", Check::Balance(5))],
                at(3, page as u32),
            )
            .await;
            inserted.lock().unwrap().push(batch);
        }
    })
    .await;
    assert_eq!(
        seen, expected,
        "every row that existed when the walk began, once, newest first, none of the new ones"
    );

    // A walk begun now sees the new runs first, then the same rows.
    let inserted = inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 4);
    let again = walk_history(&api, &contract, "W-1", 4, |_| async {}).await;
    let mut newest_first: Vec<String> = inserted.into_iter().rev().collect();
    newest_first.extend(expected);
    assert_eq!(again, newest_first);
    let unique: HashSet<&String> = again.iter().collect();
    assert_eq!(unique.len(), again.len());
}

#[tokio::test]
async fn an_authorizer_without_history_is_a_404_in_the_envelope() {
    let api = start().await;
    let contract = ResponseContract::load();
    finished_run(
        &api.store,
        "nightly",
        "B",
        &[("known", Check::Balance(1))],
        at(6, 0),
    )
    .await;
    let answer = api.get("/v1/monitoring/authorizers/unknown/history").await;
    let body = assert_envelope(&answer, 404, "NOT_FOUND");
    contract.assert_matches("ApiErrorResponse", &body);
    let answer = api.get("/v1/balances?batchId=NO-SUCH-BATCH").await;
    contract.assert_matches(
        "ApiErrorResponse",
        &assert_envelope(&answer, 404, "NOT_FOUND"),
    );
    let answer = api.get("/v1/no/such/route").await;
    assert_envelope(&answer, 404, "NOT_FOUND");
}

#[tokio::test]
async fn bad_parameters_are_a_400_in_the_envelope() {
    let api = start().await;
    let contract = ResponseContract::load();
    finished_run(
        &api.store,
        "nightly",
        "BATCH-P",
        &[("P-1", Check::Balance(1)), ("P-2", Check::Balance(2))],
        at(6, 0),
    )
    .await;
    finished_run(
        &api.store,
        "nightly",
        "BATCH-Q",
        &[("P-1", Check::Balance(3))],
        at(7, 0),
    )
    .await;
    let first = api
        .get("/v1/monitoring/authorizers/P-1/history?limit=1")
        .await
        .json();
    let history_token = first["next_page_token"].as_str().unwrap().to_string();
    let balances = api.get("/v1/balances?batchId=BATCH-P&limit=1").await.json();
    let balances_token = balances["next_page_token"].as_str().unwrap().to_string();
    // The tokens work where they belong.
    let next = api
        .get(&format!(
            "/v1/monitoring/authorizers/P-1/history?limit=1&nextPageToken={history_token}"
        ))
        .await;
    assert_eq!(next.status, 200, "{}", next.text);

    let history = "/v1/monitoring/authorizers/P-1/history";
    let table: Vec<(String, &str)> = vec![
        (format!("{history}?limit=0"), "limit"),
        (format!("{history}?limit=101"), "limit"),
        (format!("{history}?limit=abc"), "limit"),
        (format!("{history}?limit="), "limit"),
        (format!("{history}?nextPageToken=not-a-token"), "page token"),
        (format!("{history}?nextPageToken=%FF%FE"), "page token"),
        (
            format!("/v1/monitoring/authorizers/P-2/history?nextPageToken={history_token}"),
            "page token",
        ),
        (
            format!("{history}?nextPageToken={balances_token}"),
            "page token",
        ),
        ("/v1/balances".to_string(), "Batch ID"),
        ("/v1/balances?batchId=".to_string(), "Batch ID"),
        ("/v1/balances?batchId=BATCH-P&limit=0".to_string(), "limit"),
        (
            "/v1/balances?batchId=BATCH-P&limit=101".to_string(),
            "limit",
        ),
        (
            format!("/v1/balances?batchId=BATCH-Q&nextPageToken={balances_token}"),
            "page token",
        ),
        ("/v1/balances/csv".to_string(), "batch_ids"),
        ("/v1/runs?limit=0".to_string(), "limit"),
        ("/v1/runs/abc".to_string(), "run ID"),
        ("/v1/runs/0".to_string(), "run ID"),
        ("/v1/alerts?state=burning".to_string(), "state"),
    ];
    for (path, names) in table {
        let answer = api.get(&path).await;
        let body = assert_envelope(&answer, 400, "BAD_REQUEST");
        contract.assert_matches("ApiErrorResponse", &body);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.to_lowercase().contains(&names.to_lowercase()),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn a_batchs_balances_page_in_rightfoots_shape() {
    let api = start().await;
    let contract = ResponseContract::load();
    let ids: Vec<String> = (0..25).map(|i| format!("B-{i:02}")).collect();
    let checks: Vec<(&str, Check)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let check = match i {
                0..=16 => Check::Balance(i as i64 * 100 - 500),
                17..=19 => Check::Code(3200),
                20..=22 => Check::NotRetrieved,
                _ => Check::Rejected("Invalid routing number for authorizer(s)."),
            };
            (id.as_str(), check)
        })
        .collect();
    finished_run(
        &api.store,
        "nightly",
        "5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83",
        &checks,
        at(6, 0),
    )
    .await;

    let mut token: Option<String> = None;
    let mut listed = Vec::new();
    let mut texts = String::new();
    let mut pages = 0;
    loop {
        let mut path =
            "/v1/balances?batchId=5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83&limit=8".to_string();
        if let Some(token) = &token {
            path.push_str(&format!("&nextPageToken={token}"));
        }
        let answer = api.get(&path).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        texts.push_str(&answer.text);
        let body = answer.json();
        contract.assert_matches("BatchBalancesResponse", &body);
        assert_eq!(body["batch_id"], "5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83");
        assert_eq!(body["total_processed"], 20, "retrieved results only");
        pages += 1;
        for record in body["balances"].as_array().unwrap() {
            assert_eq!(record["status_code"], record["balance_status_code"]);
            listed.push(record.clone());
        }
        if body["has_more"] == false {
            assert!(body["next_page_token"].is_null());
            break;
        }
        token = Some(body["next_page_token"].as_str().unwrap().to_string());
    }
    assert_eq!(pages, 3);
    let listed_ids: Vec<&str> = listed
        .iter()
        .map(|r| r["authorizer_unique_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed_ids,
        ids[..20].iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Written from the cents: `-5.00`, not `-5.0`.
    for exact in [
        r#"{"authorizer_unique_id":"B-00","balance":-5.00,"#,
        r#"{"authorizer_unique_id":"B-16","balance":11.00,"#,
        r#"{"authorizer_unique_id":"B-17","balance":null,"#,
    ] {
        assert!(texts.contains(exact), "{exact} in {texts}");
    }
    assert!(listed[17]["balance"].is_null());
    assert_eq!(listed[17]["balance_status_code"], 3200);
    assert_eq!(listed[0]["timestamp"], "2025-03-14T05:53:00Z");
}

#[tokio::test]
async fn the_csv_export_streams_rightfoots_columns() {
    let api = start().await;
    let contract = ResponseContract::load();
    finished_run(
        &api.store,
        "nightly",
        "BATCH-X",
        &[
            ("authz-001", Check::Balance(284_351)),
            ("authz-002", Check::Code(3400)),
            ("authz-003", Check::NotRetrieved),
        ],
        at(6, 0),
    )
    .await;
    finished_run(
        &api.store,
        "nightly",
        "BATCH-Y",
        &[
            ("authz,004", Check::Balance(-8_368)),
            ("authz-005", Check::Code(3300)),
        ],
        at(7, 0),
    )
    .await;

    let answer = api
        .get("/v1/balances/csv?batch_ids=BATCH-Y&batch_ids=BATCH-X&batch_ids=BATCH-Y")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = answer.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"batch-export-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert_eq!(
        answer.headers["transfer-encoding"], "chunked",
        "streamed, not buffered: no content-length"
    );
    assert!(answer.headers.get("content-length").is_none());
    let mut lines = answer.text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(header, contract.csv_fixed_columns());
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows,
        [
            "\"authz,004\",BATCH-Y,,,,-83.68,SUCCESS,,2025-03-14T06:53:00+00:00",
            "authz-005,BATCH-Y,,,,,BANK_UNSUPPORTED,,2025-03-14T06:53:00+00:00",
            "authz-001,BATCH-X,,,,2843.51,SUCCESS,,2025-03-14T05:53:00+00:00",
            "authz-002,BATCH-X,,,,,NO_MATCH,,2025-03-14T05:53:00+00:00",
        ],
        "batches in the order asked, once each; not-retrieved members have no result"
    );

    let refused = api
        .get("/v1/balances/csv?batch_ids=BATCH-X&batch_ids=NOT-OURS")
        .await;
    let body = assert_envelope(&refused, 403, "FORBIDDEN");
    contract.assert_matches("ApiErrorResponse", &body);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NOT-OURS")
    );
}

#[tokio::test]
async fn the_crates_own_rightfoot_client_reads_the_local_api() {
    let api = start().await;
    let mut ids = Vec::new();
    for index in 0..5 {
        let checks: Vec<(String, Check)> = (0..30)
            .map(|i| {
                let check = if i % 7 == 3 {
                    Check::Code(3300)
                } else {
                    Check::Balance(index * 1000 + i)
                };
                (format!("L-{i:02}"), check)
            })
            .collect();
        let borrowed: Vec<(&str, Check)> = checks.iter().map(|(id, c)| (id.as_str(), *c)).collect();
        let batch = format!("8ac1f4a6-1234-4abc-9d3e-00112233445{index}");
        finished_run(
            &api.store,
            "nightly",
            &batch,
            &borrowed,
            at(3 + index as u32, 0),
        )
        .await;
        ids.push(batch);
    }
    let mut config = ClientConfig::new(api.base.parse().unwrap(), Secret::new(TOKEN));
    config.page_limit = 7;
    let client = RightfootClient::new(config).unwrap();

    // History, page by page, as Rightfoot's client code walks it.
    let mut token = None;
    let mut entries = Vec::new();
    loop {
        let page = client
            .authorizer_history("L-05", Some(2), token.as_deref())
            .await
            .unwrap();
        assert_eq!(page.total_count, Some(5));
        entries.extend(page.entries);
        if !page.has_more {
            break;
        }
        token = page.next_page_token;
    }
    let balances: Vec<Option<Cents>> = entries.iter().map(|e| e.balance).collect();
    assert_eq!(
        balances,
        [4005, 3005, 2005, 1005, 5].map(|c| Some(Cents(c))),
        "exact cents, newest first"
    );
    assert!(entries.iter().all(|e| e.status == HistoryStatus::Success));

    // A batch's results through the run's own reader.
    let mut pages = client.balance_pages(&ids[2], 30, at(5, 0));
    let mut results = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        assert_eq!(page.total_processed, Some(30));
        results.extend(page.results);
    }
    assert_eq!(pages.pages_fetched(), 5, "30 results in pages of 7");
    assert_eq!(results.len(), 30);
    assert_eq!(results[3].status, BalanceStatus::InstitutionNotSupported);
    assert_eq!(results[4].balance, Some(Cents(2004)));

    // The export, streamed.
    let export = client.export_balances_csv(&ids[..2]).await.unwrap();
    assert_eq!(export.content_type(), Some("text/csv; charset=utf-8"));
    let mut body = Vec::new();
    let mut export = export;
    while let Some(chunk) = export.next_chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().count(), 61, "a header and 2 × 30 rows");

    // A 404 is Rightfoot's 404 to the client too.
    let missing = client
        .authorizer_history("nobody", None, None)
        .await
        .unwrap_err();
    assert_eq!(missing.http_status(), Some(404));
}

#[tokio::test]
async fn with_a_token_every_route_but_healthz_needs_it() {
    let api = start().await;
    let contract = ResponseContract::load();
    let run = finished_run(
        &api.store,
        "nightly",
        "BATCH-A",
        &[("A-1", Check::Balance(1))],
        at(6, 0),
    )
    .await;
    let protected = [
        "/v1/monitoring/authorizers/A-1/history".to_string(),
        "/v1/balances?batchId=BATCH-A".to_string(),
        "/v1/balances/csv?batch_ids=BATCH-A".to_string(),
        "/v1/runs".to_string(),
        format!("/v1/runs/{}", run.0),
        "/v1/alerts?state=firing".to_string(),
        "/readyz".to_string(),
        "/metrics".to_string(),
        "/v1/no-such-route".to_string(),
    ];
    let wrong = [
        None,
        Some("Bearer wrong".to_string()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_string()),
        Some("Bearer ".to_string()),
    ];
    for path in &protected {
        for authorization in &wrong {
            let answer = api.get_with(path, authorization.clone()).await;
            let body = assert_envelope(&answer, 401, "UNAUTHORIZED");
            contract.assert_matches("ApiErrorResponse", &body);
            assert_eq!(answer.headers["www-authenticate"], "Bearer");
            assert!(!answer.text.contains(TOKEN), "{}", answer.text);
        }
        let allowed = api.get_with(path, Some(format!("bearer {TOKEN}"))).await;
        assert_ne!(allowed.status, 401, "{path}: {}", allowed.text);
    }
    let health = api.get_with("/healthz", None).await;
    assert_eq!((health.status, health.text.as_str()), (200, "ok\n"));

    // Without a configured token (a loopback listener), nothing is asked for.
    let open = start_with(|_| {}).await;
    finished_run(
        &open.store,
        "nightly",
        "BATCH-A",
        &[("A-1", Check::Balance(1))],
        at(6, 0),
    )
    .await;
    let answer = open
        .get_with("/v1/monitoring/authorizers/A-1/history", None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn other_methods_are_refused_in_the_envelope() {
    let api = start().await;
    let response = api
        .http
        .post(format!("{}/v1/runs", api.base))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
}
