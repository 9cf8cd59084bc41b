//! The Rightfoot client against real HTTP servers on loopback, scripted per test.
//!
//! Each test binds an axum server (or, for a dropped connection, a raw TCP listener) to
//! `127.0.0.1:0`, scripts its answers, and checks both what the client returns and what
//! the server received. Backoff and `Retry-After` waits run on paused tokio time: the
//! clock jumps when the runtime is idle, so waits cost nothing and their lengths can be
//! asserted from the server's timestamps. Nothing sleeps to synchronize.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use balance_monitor::money::Cents;
use balance_monitor::rightfoot::{
    ApiError, BalanceStatus, ClientConfig, ErrorDetails, HistoryStatus, Page, RetryPolicy,
    RightfootClient, USER_AGENT, body_sha256,
};
use balance_monitor::secret::Secret;
use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;

const KEY: &str = "rf_live_TESTKEY_9f8e7d6c5b4a3f2e";

// ---------------------------------------------------------------------------------
// The scripted server

/// One request as the server received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// The path as sent, still percent-encoded.
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum ReplyBody {
    Bytes(Vec<u8>),
    /// Never answers: the client's timeout must fire.
    Hang,
    /// Chunks as the test sends them; the body ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: ReplyBody,
}

impl Reply {
    fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(body.as_bytes().to_vec()),
        }
    }

    /// A JSON reply from literal text, so numbers reach the client exactly as written.
    fn json(status: u16, body: &str) -> Reply {
        Reply::text(status, body).header("content-type", "application/json")
    }

    fn hang() -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Hang,
        }
    }

    fn stream(status: u16, chunks: mpsc::Receiver<Bytes>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Stream(chunks),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct TestServer {
    url: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    /// A server answering every request with `handler`.
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = TestServer::at(&listener);
        let app = router(Arc::new(handler), server.seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    /// A server answering with `replies` in order, and 418 once they run out.
    async fn scripted(replies: Vec<Reply>) -> TestServer {
        let queue = Mutex::new(VecDeque::from(replies));
        TestServer::start(move |_| {
            queue
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Reply::text(418, "script exhausted"))
        })
        .await
    }

    /// A server that accepts the first connection, reads from it and drops it without
    /// answering, then serves `handler` on every later connection.
    async fn dropping_first_connection(
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = TestServer::at(&listener);
        let app = router(Arc::new(handler), server.seen.clone());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 64];
            let read = socket.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the client sent nothing before the drop");
            drop(socket);
            axum::serve(listener, app).await.unwrap();
        });
        server
    }

    fn at(listener: &TcpListener) -> TestServer {
        let address = listener.local_addr().unwrap();
        TestServer {
            url: Url::parse(&format!("http://{address}")).unwrap(),
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn router(handler: Handler, seen: Arc<Mutex<Vec<Seen>>>) -> axum::Router {
    axum::Router::new().fallback(move |request: Request| {
        let handler = handler.clone();
        let seen = seen.clone();
        async move { respond(request, handler, seen).await }
    })
}

async fn respond(request: Request, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let entry = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        headers: parts.headers,
        body,
        at: Instant::now(),
    };
    let reply = handler(&entry);
    seen.lock().unwrap().push(entry);
    let body = match reply.body {
        ReplyBody::Bytes(bytes) => Body::from(bytes),
        ReplyBody::Hang => std::future::pending().await,
        ReplyBody::Stream(chunks) => Body::from_stream(futures_util::stream::unfold(
            chunks,
            |mut chunks| async move {
                chunks
                    .recv()
                    .await
                    .map(|chunk| (Ok::<_, Infallible>(chunk), chunks))
            },
        )),
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(body).unwrap()
}

// ---------------------------------------------------------------------------------
// Helpers

/// Retries fast enough to read: 100 ms, 200 ms, ... up to 4 attempts.
fn config(url: &Url) -> ClientConfig {
    let mut config = ClientConfig::new(url.clone(), Secret::new(KEY));
    config.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(60),
        post_retry_window: Duration::from_secs(23 * 3600),
    };
    config
}

fn client(server: &TestServer) -> RightfootClient {
    RightfootClient::new(config(&server.url)).unwrap()
}

/// A submission body as `authorizers::wire::request_body` writes it (sorted keys).
const BODY: &str = r#"{"authorizers":[{"account_number":"000123456789","address":{"country":"US","zip_code":"94107"},"authorizer_unique_id":"auth-1","date_of_birth":{"day":1,"month":1,"year":1980},"first_name":"Janet","phone_number":"5551234567","routing_number":"021000021","ssn":"123456789"}],"webhook_url":"https://hooks.example/rf?secret=hunter22"}"#;

const CREATED: &str = r#"{"batch_id":"BATCH-98765","submitted_at":"2024-09-17T10:00:00Z",
    "message":"Batch has been successfully submitted and is pending processing.",
    "failed_authorizers":[{"authorizer_unique_id":"auth-2","error":"Missing date of birth for authorizer(s).",
    "account_type":"ACCOUNT_NUMBER","row_number":3}]}"#;

const INTERNAL_ERROR: &str = r#"{"status":"error","status_code":500,"error":{"code":"INTERNAL_SERVER_ERROR",
    "message":"An unexpected error occurred while processing your request."}}"#;

/// Fails the test if the key, or any personal value of `BODY`, shows in the error's
/// `Display`, `Debug` or source chain.
fn assert_clean(error: &ApiError) {
    let mut shown = format!("{error}\n{error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        shown.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    for secret in [
        KEY,
        "TESTKEY",
        "123456789",
        "000123456789",
        "Janet",
        "5551234567",
        "hunter22",
    ] {
        assert!(!shown.contains(secret), "{secret:?} leaked into: {shown}");
    }
}

async fn all_pages(client: &RightfootClient, batch: &str, accepted: usize) -> Vec<Page> {
    let mut cursor = client.balance_pages(batch, accepted, Utc::now());
    let mut pages = Vec::new();
    while let Some(page) = cursor.next_page().await.unwrap() {
        pages.push(page);
    }
    pages
}

// ---------------------------------------------------------------------------------
// Submitting

#[tokio::test]
async fn submit_sends_the_exact_bytes_with_bearer_auth_and_user_agent() {
    let server = TestServer::scripted(vec![
        Reply::json(201, CREATED).header("location", "/v1/balances?batchId=BATCH-98765"),
    ])
    .await;
    let outcome = client(&server)
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap();

    assert_eq!(outcome.batch_id, "BATCH-98765");
    assert_eq!(
        outcome.submitted_at.to_rfc3339(),
        "2024-09-17T10:00:00+00:00"
    );
    assert!(
        outcome
            .message
            .starts_with("Batch has been successfully submitted")
    );
    assert_eq!(
        outcome.location.as_deref(),
        Some("/v1/balances?batchId=BATCH-98765")
    );
    assert_eq!(outcome.failed.len(), 1);
    let failed = &outcome.failed[0];
    assert_eq!(failed.authorizer_unique_id.as_deref(), Some("auth-2"));
    assert_eq!(failed.error, "Missing date of birth for authorizer(s).");
    assert_eq!(failed.account_type.as_deref(), Some("ACCOUNT_NUMBER"));
    assert_eq!(failed.row_number, Some(3));
    // `auth-2` was refused, but it was not in the body sent: the one member stands.
    assert_eq!(outcome.accepted, 1);
    assert_eq!(outcome.attempts, 1);
    assert_eq!(outcome.body_sha256, body_sha256(BODY.as_bytes()));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/balance_requests");
    assert_eq!(request.body, BODY.as_bytes());
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some(USER_AGENT));
    assert_eq!(
        USER_AGENT,
        concat!("balance-monitor/", env!("CARGO_PKG_VERSION"))
    );
}

/// Regression: `accepted` subtracted every `failed_authorizers` entry, also one naming
/// an authorizer that was not in the chunk, one without an id, and the same member twice.
#[tokio::test]
async fn only_failed_members_of_the_chunk_reduce_the_accepted_count() {
    let body = r#"{"authorizers":[{"authorizer_unique_id":"m-1"},{"authorizer_unique_id":"m-2"},{"authorizer_unique_id":"m-3"}]}"#;
    let created = r#"{"batch_id":"B-1","submitted_at":"2024-09-17T10:00:00Z","failed_authorizers":[
        {"authorizer_unique_id":"m-2","error":"Missing date of birth for authorizer(s)."},
        {"authorizer_unique_id":"m-2","error":"Invalid SSN for authorizer(s)."},
        {"authorizer_unique_id":"stranger","error":"Missing zip code for authorizer(s)."},
        {"error":"Missing authorizer unique ID for authorizer(s)."}]}"#;
    let server = TestServer::scripted(vec![Reply::json(201, created)]).await;
    let outcome = client(&server)
        .submit_chunk(body.as_bytes(), Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.failed.len(), 4, "every entry is still reported");
    assert_eq!(outcome.accepted, 2, "only m-2 was refused");
}

/// Regression: a field the daemon never reads, with a value outside its schema (a
/// negative `total_processed`, a numeric `message`), threw away a whole `201` or a whole
/// results page. Fields it uses (ids, balances, status codes, page tokens) stay strict.
#[tokio::test]
async fn fields_the_daemon_does_not_use_are_read_leniently() {
    let created = r#"{"batch_id":"B-2","submitted_at":"2024-09-17T10:00:00Z","message":7,
        "warnings":"not a list","failed_authorizers":[{"authorizer_unique_id":"auth-1",
        "error":"Invalid SSN for authorizer(s).","account_type":5,"row_number":-1}]}"#;
    let page = r#"{"batch_id":"B-2","total_processed":-1,"balances":[{"authorizer_unique_id":"a1",
        "balance":-83.68,"balance_status_code":0,"status_code":"soon","timestamp":"2024-08-09T18:10:44Z"}],
        "has_more":false,"next_page_token":null}"#;
    let history = r#"{"authorizer_unique_id":"a1","total_count":-3,"history":[{"run_at":"2024-12-12T02:30:00Z",
        "batch_id":"B-2","balance_amount":1.5,"status":"success","error_message":42}],"has_more":false}"#;
    let strict = r#"{"balances":[{"authorizer_unique_id":"a1","balance":1.00,"balance_status_code":"zero"}],"has_more":false}"#;
    let server = TestServer::scripted(vec![
        Reply::json(201, created),
        Reply::json(200, page),
        Reply::json(200, history),
        Reply::json(200, strict),
    ])
    .await;
    let client = client(&server);

    let outcome = client
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.batch_id, "B-2");
    assert_eq!(outcome.message, "");
    assert!(outcome.warnings.is_empty());
    let failed = &outcome.failed[0];
    assert_eq!(failed.authorizer_unique_id.as_deref(), Some("auth-1"));
    assert_eq!(
        (failed.account_type.as_deref(), failed.row_number),
        (None, None)
    );
    assert_eq!(outcome.accepted, 0);

    let read = client
        .balance_pages("B-2", 1, Utc::now())
        .next_page()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.total_processed, None);
    assert_eq!(read.results.len(), 1);
    assert_eq!(read.results[0].balance, Some(Cents(-8368)));

    let entries = client.authorizer_history("a1", None, None).await.unwrap();
    assert_eq!(entries.total_count, None);
    assert_eq!(entries.entries.len(), 1);
    assert_eq!(entries.entries[0].error_message, None);

    let error = client
        .balance_pages("B-2", 1, Utc::now())
        .next_page()
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Decode { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn submit_retries_500_and_503_with_byte_identical_bodies() {
    let server = TestServer::scripted(vec![
        Reply::json(500, INTERNAL_ERROR),
        Reply::text(503, "<html><body>upstream unavailable</body></html>"),
        Reply::json(201, CREATED),
    ])
    .await;
    let outcome = client(&server)
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.batch_id, "BATCH-98765");
    assert_eq!(outcome.attempts, 3);

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(
            request.body,
            BODY.as_bytes(),
            "every attempt sends the same bytes"
        );
        assert_eq!(body_sha256(&request.body), outcome.body_sha256);
    }
    // Equal jitter: the n-th wait is in [d/2, d) with d = 100 ms * 2^(n-1); tokio's
    // timers round deadlines up to the next millisecond, so d itself can be observed.
    let first_wait = requests[1].at - requests[0].at;
    let second_wait = requests[2].at - requests[1].at;
    assert!(
        first_wait >= Duration::from_millis(50) && first_wait <= Duration::from_millis(100),
        "{first_wait:?}"
    );
    assert!(
        second_wait >= Duration::from_millis(100) && second_wait <= Duration::from_millis(200),
        "{second_wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_is_honoured() {
    let server = TestServer::scripted(vec![
        Reply::json(
            429,
            r#"{"status":"error","error":{"code":"RATE_LIMITED","message":"slow down"}}"#,
        )
        .header("retry-after", "7"),
        Reply::json(201, CREATED),
    ])
    .await;
    let outcome = client(&server)
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.attempts, 2);
    let requests = server.requests();
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_millis(7050),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_is_honoured() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let server = TestServer::scripted(vec![
        Reply::text(503, "").header("retry-after", at),
        Reply::json(200, r#"{"batch_id":"b","balances":[],"has_more":false}"#),
    ])
    .await;
    let pages = all_pages(&client(&server), "b", 0).await;
    assert_eq!(pages.len(), 1);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // The date has whole seconds, so the wait is between 29 and 30 s (plus slack).
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(28) && waited <= Duration::from_secs(30),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped_by_the_policy() {
    let server = TestServer::scripted(vec![
        Reply::text(503, "").header("retry-after", "86400"),
        Reply::json(200, r#"{"balances":[],"has_more":false}"#),
    ])
    .await;
    all_pages(&client(&server), "b", 0).await;
    let requests = server.requests();
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(60) && waited < Duration::from_millis(60_050),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_max_attempts_with_the_last_error() {
    let server =
        TestServer::scripted((0..10).map(|_| Reply::json(500, INTERNAL_ERROR)).collect()).await;
    let error = client(&server)
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 4);
    assert!(matches!(error, ApiError::Status { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(error.http_status(), Some(500));
    assert_eq!(
        error.envelope().unwrap().code.as_deref(),
        Some("INTERNAL_SERVER_ERROR")
    );
    assert_clean(&error);
}

#[tokio::test(start_paused = true)]
async fn a_submission_past_the_cache_window_is_not_retried() {
    let server = TestServer::scripted(vec![
        Reply::json(503, INTERNAL_ERROR),
        Reply::json(201, CREATED),
    ])
    .await;
    let first_sent = Utc::now() - chrono::Duration::hours(24);
    let error = client(&server)
        .submit_chunk(BODY.as_bytes(), first_sent)
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(503));
    assert_eq!(
        server.requests().len(),
        1,
        "a retry would start a new batch"
    );
}

#[tokio::test(start_paused = true)]
async fn no_retry_on_400_401_403() {
    let bad_request = r#"{"status":"error","status_code":400,"error":{"code":"BAD_REQUEST",
        "message":"Invalid batch size. The maximum batch size is 1,000 authorizers per request.",
        "details":{"max_batch_size":1000,"received":1001},"timestamp":"2024-09-16T12:00:00Z",
        "suggestion":"Please reduce the number of authorizers in your batch and try again."},
        "batch_id":null,"documentation_url":"https://api.rightfoot.com/docs"}"#;
    let unauthorized = r#"{"status":"error","status_code":401,"error":{"code":"UNAUTHORIZED",
        "message":"Invalid API key provided.","suggestion":"Please check your API key."}}"#;
    let forbidden = r#"{"status":"error","status_code":403,"error":{"code":"FORBIDDEN","message":"Not yours."}}"#;
    for (status, body) in [(400, bad_request), (401, unauthorized), (403, forbidden)] {
        let server =
            TestServer::scripted(vec![Reply::json(status, body), Reply::json(201, CREATED)]).await;
        let error = client(&server)
            .submit_chunk(BODY.as_bytes(), Utc::now())
            .await
            .unwrap_err();
        assert_eq!(server.requests().len(), 1, "{status} was retried");
        assert!(!error.is_retryable(), "{status}");
        assert_eq!(error.http_status(), Some(status));
        assert_clean(&error);
        match (status, &error) {
            (400, ApiError::BadRequest(envelope)) => {
                assert_eq!(envelope.code.as_deref(), Some("BAD_REQUEST"));
                assert!(
                    envelope
                        .message
                        .as_deref()
                        .unwrap()
                        .starts_with("Invalid batch size.")
                );
                assert_eq!(
                    envelope.details,
                    Some(ErrorDetails::Structured(
                        serde_json::json!({"max_batch_size":1000,"received":1001})
                    ))
                );
                assert_eq!(envelope.status_code, Some(400));
                assert_eq!(
                    envelope.documentation_url.as_deref(),
                    Some("https://api.rightfoot.com/docs")
                );
                assert!(error.to_string().contains("Invalid batch size."), "{error}");
            }
            (401, ApiError::Unauthorized(envelope)) => {
                assert_eq!(
                    envelope.suggestion.as_deref(),
                    Some("Please check your API key.")
                );
            }
            (403, ApiError::Forbidden(envelope)) => {
                assert_eq!(envelope.message.as_deref(), Some("Not yours."));
            }
            _ => panic!("{status} gave {error:?}"),
        }
    }
}

#[tokio::test]
async fn a_rejected_batch_never_echoes_personal_data_or_the_key() {
    // A careless server quoting the request back in its error.
    let server = TestServer::start(|seen| {
        let echoed = String::from_utf8_lossy(&seen.body).replace('"', "'");
        let auth = seen.header("authorization").unwrap_or_default().to_string();
        Reply::json(
            400,
            &serde_json::json!({"error": {"code": "BAD_REQUEST", "message": format!("bad ssn 123456789 in {echoed}"),
                "details": {"authorization": auth, "ssn": "123456789", "name": "Janet"}}})
            .to_string(),
        )
    })
    .await;
    let error = client(&server)
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::BadRequest(_)), "{error:?}");
    assert_clean(&error);
    // The lender's own id stays, so the error is still useful.
    assert!(error.to_string().contains("auth-1"), "{error}");
}

// ---------------------------------------------------------------------------------
// Network failures

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_retried() {
    let server = TestServer::dropping_first_connection(|_| Reply::json(201, CREATED)).await;
    let outcome = client(&server)
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.batch_id, "BATCH-98765");
    assert_eq!(outcome.attempts, 2);
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1,
        "the first attempt died with its connection"
    );
    assert_eq!(requests[0].body, BODY.as_bytes());
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_then_reported() {
    let mut config = config(&Url::parse("http://127.0.0.1:1").unwrap());
    config.request_timeout = Duration::from_secs(5);
    let server = TestServer::scripted(vec![Reply::hang(), Reply::json(201, CREATED)]).await;
    config.base_url = server.url.clone();
    let outcome = RightfootClient::new(config.clone())
        .unwrap()
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.attempts, 2);
    let requests = server.requests();
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(5));

    let server = TestServer::start(|_| Reply::hang()).await;
    config.base_url = server.url.clone();
    config.retry.max_attempts = 2;
    let error = RightfootClient::new(config)
        .unwrap()
        .submit_chunk(BODY.as_bytes(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(server.requests().len(), 2);
    assert_clean(&error);
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_a_retryable_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let client = RightfootClient::new(config(&url)).unwrap();
    let error = client
        .balance_pages("b", 1, Utc::now())
        .next_page()
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Connect(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(
        !error.to_string().contains("batchId"),
        "the url is left out: {error}"
    );
    assert_clean(&error);
}

// ---------------------------------------------------------------------------------
// Results

/// 250 results in pages of `limit`, addressed by `offset-<n>` tokens. The first page
/// names its cursor `next_page_token`, later ones `nextPageToken` (README errata).
fn paging_server(total: usize) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen| {
        let limit: usize = seen.param("limit").unwrap().parse().unwrap();
        let offset: usize = seen
            .param("nextPageToken")
            .map(|t| t.strip_prefix("offset-").unwrap().parse().unwrap())
            .unwrap_or(0);
        let end = (offset + limit).min(total);
        let rows: Vec<String> = (offset..end)
            .map(|i| format!(r#"{{"authorizer_unique_id":"a{i}","balance":{i}.05,"balance_status_code":0,"timestamp":"2024-08-09T18:10:44Z"}}"#))
            .collect();
        let more = end < total;
        let cursor_name = if offset == 0 {
            "next_page_token"
        } else {
            "nextPageToken"
        };
        let cursor = if more {
            format!(r#""offset-{end}""#)
        } else {
            "null".into()
        };
        Reply::json(
            200,
            &format!(
                r#"{{"batch_id":"{}","total_processed":{total},"balances":[{}],"has_more":{more},"{cursor_name}":{cursor}}}"#,
                seen.param("batchId").unwrap(),
                rows.join(",")
            ),
        )
    }
}

#[tokio::test]
async fn more_than_100_results_are_paged_exactly_once_each() {
    let server = TestServer::start(paging_server(250)).await;
    let client = client(&server);
    let pages = all_pages(&client, "5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83", 250).await;

    assert_eq!(
        pages.iter().map(|p| p.results.len()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(pages[0].next_page_token.as_deref(), Some("offset-100"));
    assert_eq!(pages[1].next_page_token.as_deref(), Some("offset-200"));
    assert!(!pages[2].has_more && pages[2].next_page_token.is_none());
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.results)
        .map(|r| r.authorizer_unique_id.as_str())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (250, 250));
    assert_eq!(pages[2].results[49].balance, Some(Cents(24905)));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let tokens: Vec<Option<&str>> = requests.iter().map(|r| r.param("nextPageToken")).collect();
    assert_eq!(tokens, [None, Some("offset-100"), Some("offset-200")]);
    for request in &requests {
        assert_eq!(request.path, "/v1/balances");
        assert_eq!(
            request.param("batchId"),
            Some("5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83")
        );
        assert_eq!(request.param("limit"), Some("100"));
    }

    // The same pages as a stream.
    let streamed: Vec<Page> = client
        .balance_pages("5d3c6bbb-fc1a-46a4-93da-1ce4a54b0d83", 250, Utc::now())
        .into_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(streamed, pages);
}

#[tokio::test]
async fn resuming_after_a_stored_token_reads_only_the_rest() {
    let server = TestServer::start(paging_server(250)).await;
    let mut cursor = client(&server)
        .balance_pages("b", 250, Utc::now())
        .starting_after("offset-200");
    let page = cursor.next_page().await.unwrap().unwrap();
    assert_eq!(page.results.len(), 50);
    assert!(cursor.next_page().await.unwrap().is_none());
    assert_eq!(
        server.requests()[0].param("nextPageToken"),
        Some("offset-200")
    );
}

#[tokio::test]
async fn a_repeating_page_token_is_an_error_not_a_hang() {
    let server = TestServer::start(|_| {
        Reply::json(
            200,
            r#"{"balances":[{"authorizer_unique_id":"x","balance":1,"balance_status_code":0}],
                "has_more":true,"next_page_token":"same-token"}"#,
        )
    })
    .await;
    let mut cursor = client(&server).balance_pages("b", 10_000, Utc::now());
    assert!(cursor.next_page().await.unwrap().is_some());
    assert!(cursor.next_page().await.unwrap().is_some());
    let error = cursor.next_page().await.unwrap_err();
    assert!(
        matches!(&error, ApiError::PageTokenRepeated { batch_id, page: 2 } if batch_id == "b"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(
        cursor.next_page().await.unwrap().is_none(),
        "the cursor is finished"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn more_pages_than_the_accepted_count_allows_is_an_error() {
    // Fresh tokens forever, one result each: only the page count can stop it.
    let server = TestServer::start(|seen| {
        let n: u32 = seen.param("nextPageToken").map_or(0, |t| t.parse().unwrap());
        Reply::json(
            200,
            &format!(
                r#"{{"balances":[{{"authorizer_unique_id":"a{n}","balance":1,"balance_status_code":0}}],
                    "has_more":true,"next_page_token":"{}"}}"#,
                n + 1
            ),
        )
    })
    .await;
    // 150 accepted in pages of 100: 2 pages, plus 2 pages of slack.
    let mut cursor = client(&server).balance_pages("b", 150, Utc::now());
    assert_eq!(cursor.max_pages(), 4);
    let stream_error = loop {
        match cursor.next_page().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the server never ends"),
            Err(error) => break error,
        }
    };
    assert!(
        matches!(
            stream_error,
            ApiError::TooManyPages {
                max_pages: 4,
                accepted: 150,
                ..
            }
        ),
        "{stream_error:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_404_within_the_grace_period_is_no_results_yet() {
    let not_found = r#"{"status":"error","status_code":404,"error":{"code":"NOT_FOUND","message":"The specified batch ID does not exist."}}"#;
    let server = TestServer::scripted(vec![Reply::json(404, not_found)]).await;
    let mut cursor =
        client(&server).balance_pages("BATCH-1", 5, Utc::now() - chrono::Duration::seconds(10));
    let page = cursor.next_page().await.unwrap().unwrap();
    assert!(page.batch_not_found_yet);
    assert!(page.results.is_empty() && !page.has_more);
    assert!(cursor.next_page().await.unwrap().is_none());
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn a_404_after_the_grace_period_is_an_error() {
    let not_found = r#"{"status":"error","status_code":404,"error":{"code":"NOT_FOUND","message":"The specified batch ID does not exist.","details":"no batch BATCH-1"}}"#;
    let server = TestServer::scripted(vec![Reply::json(404, not_found)]).await;
    let submitted = Utc::now() - chrono::Duration::minutes(10);
    let error = client(&server)
        .balance_pages("BATCH-1", 5, submitted)
        .next_page()
        .await
        .unwrap_err();
    match &error {
        ApiError::BatchNotFound {
            batch_id,
            seconds_since_submission,
            envelope,
        } => {
            assert_eq!(batch_id, "BATCH-1");
            assert!(*seconds_since_submission >= 600);
            assert_eq!(
                envelope.details,
                Some(ErrorDetails::Text("no batch BATCH-1".into()))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("no batch BATCH-1"), "{error}");
}

#[tokio::test]
async fn balances_are_exact_to_the_cent_and_unknown_codes_are_kept() {
    let body = r#"{"batch_id":"b","total_processed":7,"has_more":false,"next_page_token":null,"balances":[
        {"authorizer_unique_id":"1286672","balance":-83.68,"timestamp":"2024-08-09T18:10:44Z","balance_status_code":0,"status_code":0},
        {"authorizer_unique_id":"big","balance":12345678901.23,"balance_status_code":0},
        {"authorizer_unique_id":"beyond-f64","balance":90071992547409.93,"balance_status_code":0},
        {"authorizer_unique_id":"f64-trap","balance":0.29,"balance_status_code":0},
        {"authorizer_unique_id":"1258831","balance":null,"timestamp":"2024-08-09T17:55:25Z","balance_status_code":3300,"status_code":3300},
        {"authorizer_unique_id":"new-code","balance":null,"balance_status_code":4242},
        {"authorizer_unique_id":1258900,"balance":3851.09,"status_code":3001}
    ]}"#;
    let server = TestServer::scripted(vec![Reply::json(200, body)]).await;
    let pages = all_pages(&client(&server), "b", 7).await;
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(page.total_processed, Some(7));
    let got: Vec<(&str, Option<Cents>, BalanceStatus)> = page
        .results
        .iter()
        .map(|r| (r.authorizer_unique_id.as_str(), r.balance, r.status))
        .collect();
    assert_eq!(
        got,
        [
            ("1286672", Some(Cents(-8368)), BalanceStatus::Success),
            (
                "big",
                Some(Cents(1_234_567_890_123)),
                BalanceStatus::Success
            ),
            (
                "beyond-f64",
                Some(Cents(9_007_199_254_740_993)),
                BalanceStatus::Success
            ),
            ("f64-trap", Some(Cents(29)), BalanceStatus::Success),
            ("1258831", None, BalanceStatus::InstitutionNotSupported),
            ("new-code", None, BalanceStatus::Unknown(4242)),
            // Only the deprecated `status_code`: it is the fallback.
            ("1258900", Some(Cents(385109)), BalanceStatus::NoSsnMatch),
        ]
    );
    assert_eq!(
        page.results[0].timestamp.unwrap().to_rfc3339(),
        "2024-08-09T18:10:44+00:00"
    );
    assert_eq!(page.results[5].status.code(), 4242);
}

#[tokio::test]
async fn an_unreadable_balance_fails_the_page_without_quoting_it() {
    let body = r#"{"balances":[{"authorizer_unique_id":"a1","balance":12.345,"balance_status_code":0}],"has_more":false}"#;
    let server = TestServer::scripted(vec![Reply::json(200, body)]).await;
    let error = client(&server)
        .balance_pages("b", 1, Utc::now())
        .next_page()
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Decode { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(
        shown.contains("authorizer a1") && !shown.contains("12.345"),
        "{shown}"
    );
}

#[tokio::test]
async fn error_bodies_that_are_not_json_still_give_status_and_excerpt() {
    let mut config = config(&Url::parse("http://127.0.0.1:1").unwrap());
    config.retry = RetryPolicy::no_retries();
    for (body, want) in [
        (
            "<html><head><title>502 Bad Gateway</title></head></html>",
            "502 Bad Gateway</title>",
        ),
        (
            r#"{"status":"error","error":{"code":"BAD_GATEW"#,
            r#"{"status":"error""#,
        ),
    ] {
        let server = TestServer::scripted(vec![Reply::text(502, body)]).await;
        config.base_url = server.url.clone();
        let error = RightfootClient::new(config.clone())
            .unwrap()
            .balance_pages("b", 1, Utc::now())
            .next_page()
            .await
            .unwrap_err();
        assert_eq!(error.http_status(), Some(502));
        let envelope = error.envelope().unwrap();
        assert!(
            envelope.body_excerpt.as_deref().unwrap().contains(want),
            "{envelope:?}"
        );
        let shown = error.to_string();
        assert!(shown.starts_with("Rightfoot answered http 502"), "{shown}");
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn the_key_is_absent_from_every_error_and_from_debug() {
    // A server that echoes the Authorization header into every kind of error body.
    let server = TestServer::start(|seen| {
        let auth = seen.header("authorization").unwrap_or_default().to_string();
        match seen.param("batchId") {
            Some("json") => Reply::json(
                401,
                &serde_json::json!({"error": {"code": "UNAUTHORIZED", "message": format!("bad key {auth}"),
                    "details": auth.clone(), "suggestion": auth}}).to_string(),
            ),
            Some("object") => Reply::json(
                403,
                &serde_json::json!({"error": {"message": "no", "details": {"header": auth}}}).to_string(),
            ),
            _ => Reply::text(500, &format!("<pre>request had {auth}</pre>")),
        }
    })
    .await;
    let mut config = config(&server.url);
    config.retry = RetryPolicy::no_retries();
    let client = RightfootClient::new(config.clone()).unwrap();
    let mut errors = Vec::new();
    for batch in ["json", "object", "text"] {
        errors.push(
            client
                .balance_pages(batch, 1, Utc::now())
                .next_page()
                .await
                .unwrap_err(),
        );
    }
    errors.push(client.submit_chunk(b"", Utc::now()).await.unwrap_err());
    errors.push(
        client
            .authorizer_history("..", None, None)
            .await
            .unwrap_err(),
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.base_url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let refused = RightfootClient::new(config).unwrap();
    errors.push(
        refused
            .balance_pages("b", 1, Utc::now())
            .next_page()
            .await
            .unwrap_err(),
    );

    assert!(matches!(errors[0], ApiError::Unauthorized(_)));
    assert!(matches!(errors[1], ApiError::Forbidden(_)));
    assert!(matches!(errors[2], ApiError::Status { .. }));
    assert!(matches!(errors[3], ApiError::InvalidRequest(_)));
    assert!(matches!(errors[4], ApiError::InvalidRequest(_)));
    assert!(matches!(errors[5], ApiError::Connect(_)));
    for error in &errors {
        assert_clean(error);
    }
    assert!(
        errors[0].to_string().contains("Bearer [redacted]"),
        "{}",
        errors[0]
    );
    assert!(!format!("{client:?}").contains(KEY));
}

// ---------------------------------------------------------------------------------
// CSV export and history

#[tokio::test]
async fn the_csv_export_streams_before_the_body_is_complete() {
    let (chunks, receiver) = mpsc::channel::<Bytes>(4);
    let server = TestServer::scripted(vec![
        Reply::stream(200, receiver)
            .header("content-type", "text/csv; charset=utf-8")
            .header(
                "content-disposition",
                r#"attachment; filename="batch-export-1.csv""#,
            ),
    ])
    .await;
    let header = "Authorizer ID,Batch ID,Institution,Phone,Zip,Balance,Status,Creator,Timestamp\n";
    chunks.send(Bytes::from(header)).await.unwrap();

    let mut export = client(&server)
        .export_balances_csv([
            "8ac1f4a6-1234-4abc-9d3e-001122334455",
            "12c4d6ee-aaaa-4abc-9d3e-bbbbccccdddd",
        ])
        .await
        .unwrap();
    assert_eq!(export.content_type(), Some("text/csv; charset=utf-8"));
    assert_eq!(
        export.content_disposition(),
        Some(r#"attachment; filename="batch-export-1.csv""#)
    );

    // The header arrives while the server still holds the rows back: nothing buffers
    // the whole body. The timeout only turns a regression into a failure, not a hang.
    let mut received = Vec::new();
    while received.len() < header.len() {
        let chunk = tokio::time::timeout(Duration::from_secs(10), export.next_chunk())
            .await
            .expect("the first chunk arrives before the body is complete")
            .unwrap()
            .expect("the body has not ended");
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, header.as_bytes());

    let rows = [
        "authz-001,8ac1f4a6-1234-4abc-9d3e-001122334455,Bank of America,,10001,2843.51,SUCCESS,,2026-05-17T19:24:12+00:00\n",
        "authz-002,8ac1f4a6-1234-4abc-9d3e-001122334455,Wells Fargo,,90210,,NO_MATCH,,2026-05-17T19:25:03+00:00\n",
    ];
    for row in rows {
        chunks.send(Bytes::from(row)).await.unwrap();
    }
    drop(chunks);
    let mut stream = std::pin::pin!(export.into_stream());
    while let Some(chunk) = stream.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(
        String::from_utf8(received).unwrap(),
        format!("{header}{}{}", rows[0], rows[1])
    );

    let requests = server.requests();
    assert_eq!(requests[0].path, "/v1/balances/csv");
    assert_eq!(
        requests[0].query,
        [
            (
                "batch_ids".to_string(),
                "8ac1f4a6-1234-4abc-9d3e-001122334455".to_string()
            ),
            (
                "batch_ids".to_string(),
                "12c4d6ee-aaaa-4abc-9d3e-bbbbccccdddd".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn a_csv_export_of_someone_elses_batch_is_forbidden_and_not_retried() {
    let server = TestServer::scripted(vec![
        Reply::json(403, r#"{"status":"error","status_code":403,"error":{"code":"FORBIDDEN","message":"Batch not owned by requester."}}"#),
        Reply::text(200, "should not be fetched"),
    ])
    .await;
    let client = client(&server);
    let error = client.export_balances_csv(["a", "b"]).await.unwrap_err();
    match &error {
        ApiError::Forbidden(envelope) => {
            assert_eq!(
                envelope.message.as_deref(),
                Some("Batch not owned by requester.")
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    let none: [&str; 0] = [];
    assert!(matches!(
        client.export_balances_csv(none).await,
        Err(ApiError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn history_escapes_the_id_and_reads_exact_amounts() {
    let body = r#"{"authorizer_unique_id":"a/b c?#","total_count":250,"history":[
        {"run_at":"2024-12-12T02:30:00Z","batch_id":"BATCH-98765","balance_amount":1523.47,"status":"success","error_message":null},
        {"run_at":"2024-11-28T02:30:00Z","batch_id":"BATCH-98763","balance_amount":null,"status":"failed","error_message":"Institution not supported"}],
        "nextPageToken":"eyJjdXJzb3IiOiA1MDB9","has_more":true}"#;
    let server = TestServer::scripted(vec![Reply::json(200, body)]).await;
    let page = client(&server)
        .authorizer_history("a/b c?#", Some(25), Some("tok-1"))
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(
        requests[0].path,
        "/v1/monitoring/authorizers/a%2Fb%20c%3F%23/history"
    );
    assert_eq!(requests[0].param("limit"), Some("25"));
    assert_eq!(requests[0].param("nextPageToken"), Some("tok-1"));

    assert_eq!(page.authorizer_unique_id, "a/b c?#");
    assert_eq!(page.total_count, Some(250));
    assert!(page.has_more);
    assert_eq!(
        page.next_page_token.as_deref(),
        Some("eyJjdXJzb3IiOiA1MDB9")
    );
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.entries[0].balance, Some(Cents(152347)));
    assert_eq!(page.entries[0].status, HistoryStatus::Success);
    assert_eq!(page.entries[0].batch_id.as_deref(), Some("BATCH-98765"));
    assert_eq!(page.entries[1].balance, None);
    assert_eq!(page.entries[1].status, HistoryStatus::Failed);
    assert_eq!(
        page.entries[1].error_message.as_deref(),
        Some("Institution not supported")
    );
    assert_eq!(
        page.entries[1].run_at.unwrap().to_rfc3339(),
        "2024-11-28T02:30:00+00:00"
    );
}
