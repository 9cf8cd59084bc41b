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
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bm.db")).unwrap();
    let completions = Completions::default();
    let mut state = HttpState::new(store, completions.clone(), Clock::system());
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
async fn a_wrong_or_missing_token_is_404_and_a_bad_body_is_400() {
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
