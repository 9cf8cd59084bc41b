//! The daemon's HTTP listener: health, and Rightfoot's completion webhook
//! (authentication by token, any content type, deduplication, waking the reader).

use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::http::{HttpState, completion_webhook_url, serve};
use balance_monitor::secret::Secret;
use balance_monitor::store::Store;

struct Listener {
    base: String,
    completions: Completions,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start() -> Listener {
    start_with_token(None).await
}

/// A listener with the completion webhook and, if given, `http.token`.
async fn start_with_token(token: Option<&str>) -> Listener {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bm.db")).unwrap();
    let completions = Completions::default();
    let mut state = HttpState::new(store, completions.clone(), Clock::system());
    state.set_token(token.map(Secret::new));
    state.set_completion_webhook(Some((
        "/rightfoot/batch-completed".into(),
        Secret::new("s3cret-token"),
    )));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Listener {
        base,
        completions,
        _dir: dir,
        stop: Some(stop),
    }
}

#[tokio::test]
async fn healthz_answers() {
    let listener = start().await;
    let response = reqwest::get(format!("{}/healthz", listener.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_completion_webhook_wakes_the_reader_once_and_is_deduplicated() {
    let listener = start().await;
    let public = url::Url::parse(&format!("{}/rightfoot/batch-completed", listener.base)).unwrap();
    let url = completion_webhook_url(&public, &Secret::new("s3cret-token"));
    assert!(url.ends_with("?token=s3cret-token"), "{url}");
    let notify = listener.completions.watch("BATCH-98765");
    let client = reqwest::Client::new();
    let body = r#"{"event_uuid":"7d0a9c3e-1111-4b5b-9c1e-000000000001","type":"BALANCE_BATCH_COMPLETED","batch_id":"BATCH-98765"}"#;

    // Any content type is accepted.
    let first = client
        .post(&url)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(first.text().await.unwrap(), "ok\n");
    tokio::time::timeout(Duration::from_secs(5), notify.notified())
        .await
        .expect("the reader of BATCH-98765 was woken");

    // Rightfoot's retry of the same event is recognised.
    let again = client.post(&url).body(body).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.text().await.unwrap(), "duplicate\n");
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_404_without_http_token_and_a_bad_body_is_400() {
    let listener = start().await;
    let client = reqwest::Client::new();
    let body = r#"{"event_uuid":"e-2","type":"BALANCE_BATCH_COMPLETED","batch_id":"b"}"#;
    for query in ["", "?token=wrong", "?token=s3cret-tokenX"] {
        let response = client
            .post(format!(
                "{}/rightfoot/batch-completed{query}",
                listener.base
            ))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{query}");
    }
    let response = client
        .post(format!(
            "{}/rightfoot/batch-completed?token=s3cret-token",
            listener.base
        ))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

/// One answer as a client sees it: status, the headers that say anything (not `date`),
/// and the body (without an error envelope's `timestamp`).
async fn answer(response: reqwest::Response) -> (u16, Vec<(String, String)>, String) {
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
        .collect();
    headers.sort();
    let mut body = response.text().await.unwrap();
    // An error envelope says when it was written; two answers a second apart differ
    // there and nowhere else.
    if let Ok(mut envelope) = serde_json::from_str::<serde_json::Value>(&body)
        && let Some(error) = envelope.get_mut("error").and_then(|e| e.as_object_mut())
        && error.remove("timestamp").is_some()
    {
        body = envelope.to_string();
    }
    (status, headers, body)
}

/// Issue 15, defect 7: the webhook's path must not show that it exists. Every method
/// but POST, and a POST with a wrong or missing token, is answered exactly as the same
/// request to a path that is not served: 404 without `http.token`, 401 with it (the
/// bearer layer answers before any route does).
#[tokio::test]
async fn the_webhook_path_answers_like_an_unknown_path_but_to_a_good_post() {
    let body = r#"{"event_uuid":"e-3","type":"BALANCE_BATCH_COMPLETED","batch_id":"b"}"#;
    for (http_token, expected_status) in [(None, 404), (Some("bearer-t0ken"), 401)] {
        let listener = start_with_token(http_token).await;
        let client = reqwest::Client::new();
        let send = |path: &str, method: reqwest::Method, query: &str, bearer: bool| {
            let mut request = client
                .request(method, format!("{}{path}{query}", listener.base))
                .header("content-type", "application/json")
                .body(body);
            if bearer && let Some(token) = http_token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let good = "?token=s3cret-token";
        let cases = [
            (reqwest::Method::GET, good),
            (reqwest::Method::PUT, good),
            (reqwest::Method::DELETE, good),
            (reqwest::Method::HEAD, good),
            (reqwest::Method::PATCH, good),
            (reqwest::Method::OPTIONS, ""),
            (reqwest::Method::POST, "?token=wrong"),
            (reqwest::Method::POST, ""),
        ];
        for (method, query) in cases {
            for bearer in [false, true] {
                let webhook = answer(
                    send("/rightfoot/batch-completed", method.clone(), query, bearer)
                        .await
                        .unwrap(),
                )
                .await;
                let unknown = answer(
                    send("/rightfoot/no-such-path", method.clone(), query, bearer)
                        .await
                        .unwrap(),
                )
                .await;
                let case =
                    format!("{method} {query:?}, http.token {http_token:?}, bearer {bearer}");
                assert_eq!(webhook, unknown, "{case}");
                let status = if bearer { 404 } else { expected_status };
                assert_eq!(webhook.0, status, "{case}");
            }
        }
        // The right token still gets through, with or without the bearer.
        let response = send(
            "/rightfoot/batch-completed",
            reqwest::Method::POST,
            good,
            false,
        )
        .await
        .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
}
