//! A real webhook receiver (axum on 127.0.0.1:0) for the notifier tests.
//!
//! It does what a lender's system would: checks `Balance-Monitor-Signature` with its
//! own HMAC-SHA256 of `<t>.<body>` (computed here, not with the crate's code) and a
//! five-minute window on `t`, answers `401` to a bad signature, and records every
//! request, with its `Idempotency-Key`, before answering. Answers are scripted: each
//! request takes the next [`Reply`], and `200 ok` once the script is used up.
//!
//! A request is recorded before its answer is sent, so once the client has its answer
//! (or has given up on a [`Reply::Hang`]), the request is in [`Receiver::requests`].
//! [`Receiver::wait_for_requests`] waits for the n-th request without polling, and
//! [`Receiver::start_on`] serves on a given address, for a receiver that comes up
//! after a while with nothing listening there.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, body and headers.
    Status(u16, String, Vec<(&'static str, String)>),
    /// Never answer.
    Hang,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Status(status, body.to_string(), Vec::new())
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub idempotency_key: Option<String>,
    /// `Some(true)` when the signature checked out, `Some(false)` when it was missing,
    /// malformed, wrong or stale, `None` when the receiver has no secret.
    pub signature_valid: Option<bool>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub body: Bytes,
    /// When it arrived, on tokio's (possibly paused) clock.
    pub at: tokio::time::Instant,
}

struct Shared {
    secret: Option<String>,
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<ReceivedRequest>>,
    /// How many requests were recorded, for [`Receiver::wait_for_requests`].
    count: tokio::sync::watch::Sender<usize>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(secret: Option<&str>, script: Vec<Reply>) -> Receiver {
        Receiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), secret, script).await
    }

    /// [`Receiver::start`] on `addr`, such as one a client has been refused at.
    pub async fn start_on(addr: SocketAddr, secret: Option<&str>, script: Vec<Reply>) -> Receiver {
        let shared = Arc::new(Shared {
            secret: secret.map(str::to_string),
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            count: tokio::sync::watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .route("/hooks/balance-alerts", axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, shared, task }
    }

    pub fn url(&self) -> url::Url {
        format!("http://{}/hooks/balance-alerts", self.addr)
            .parse()
            .unwrap()
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have been recorded. Unbounded: a test on real
    /// time wraps it in a timeout, one on paused time lets the clock run to it.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut count = self.shared.count.subscribe();
        count.wait_for(|count| *count >= n).await.unwrap();
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The receiver's own check of `t=<unix>,v1=<hex>`.
fn signature_ok(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(header) = header else { return false };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature_valid = shared.secret.as_deref().map(|secret| {
        signature_ok(
            secret,
            header(&headers, "balance-monitor-signature").as_deref(),
            &body,
        )
    });
    {
        let mut requests = shared.requests.lock().unwrap();
        requests.push(ReceivedRequest {
            idempotency_key: header(&headers, "idempotency-key"),
            signature_valid,
            content_type: header(&headers, "content-type"),
            user_agent: header(&headers, "user-agent"),
            body,
            at: tokio::time::Instant::now(),
        });
        shared.count.send_replace(requests.len());
    }
    if signature_valid == Some(false) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let reply = shared.script.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::OK, "ok").into_response(),
        Some(Reply::Status(status, body, extra)) => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for (name, value) in extra {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
        Some(Reply::Hang) => std::future::pending().await,
    }
}
