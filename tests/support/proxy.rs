//! A recording HTTP proxy on 127.0.0.1:0, to put between a client and a server.
//!
//! It forwards every request unchanged to the upstream base URL and records the whole
//! exchange: what the client sent (method, path, query, headers, body), what the
//! upstream answered (status, headers, body) and when the request arrived, on tokio's
//! clock so that waits measured under paused time are exact. A rewrite hook may replace
//! an answer's body, to play a server that misbehaves in ways the sandbox never does.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

/// One request and its answer, as they passed through the proxy.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub request_headers: HeaderMap,
    pub request_body: Bytes,
    pub status: u16,
    pub response_headers: HeaderMap,
    /// The body the client received (after any rewrite).
    pub response_body: Bytes,
    /// When the request reached the proxy.
    pub at: Instant,
}

impl Exchange {
    /// The decoded query pairs, in order, repeats kept.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    }

    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    pub fn response_json(&self) -> Value {
        serde_json::from_slice(&self.response_body).expect("a JSON answer")
    }

    /// Whether `other` sent the same request: method, path, query and body.
    pub fn same_request_as(&self, other: &Exchange) -> bool {
        self.method == other.method
            && self.path == other.path
            && self.query == other.query
            && self.request_body == other.request_body
    }
}

/// Given an exchange with the upstream's body, returns a replacement body, or `None`
/// to pass the answer through.
pub type Rewrite = Arc<dyn Fn(&Exchange) -> Option<Bytes> + Send + Sync>;

struct Shared {
    upstream: Url,
    http: reqwest::Client,
    rewrite: Rewrite,
    log: Mutex<Vec<Exchange>>,
}

/// A running proxy; it serves until the test's runtime ends.
pub struct Proxy {
    pub url: Url,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy that passes everything through unchanged.
    pub async fn start(upstream: &Url) -> Proxy {
        Proxy::rewriting(upstream, |_| None).await
    }

    /// A proxy whose answers' bodies `rewrite` may replace.
    pub async fn rewriting(
        upstream: &Url,
        rewrite: impl Fn(&Exchange) -> Option<Bytes> + Send + Sync + 'static,
    ) -> Proxy {
        let shared = Arc::new(Shared {
            upstream: upstream.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .retry(reqwest::retry::never())
                .build()
                .unwrap(),
            rewrite: Arc::new(rewrite),
            log: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Proxy { url, shared }
    }

    /// Every exchange so far, oldest first.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The exchanges whose path is `path`.
    pub fn exchanges_to(&self, path: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.path == path)
            .collect()
    }
}

/// `headers` without those that describe one hop's connection or framing.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let hop_by_hop = [
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ];
    let mut kept = HeaderMap::new();
    for (name, value) in headers {
        if !hop_by_hop.contains(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let request_body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = format!(
        "{}{path_and_query}",
        shared.upstream.as_str().trim_end_matches('/')
    );
    let answer = shared
        .http
        .request(parts.method.clone(), target)
        .headers(end_to_end(&parts.headers))
        .body(request_body.clone())
        .send()
        .await;
    let (status, response_headers, response_body) = match answer {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let headers = end_to_end(answer.headers());
            let body = answer.bytes().await.unwrap_or_default();
            (status, headers, body)
        }
        Err(_) => (502, HeaderMap::new(), Bytes::new()),
    };
    let mut exchange = Exchange {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        request_headers: parts.headers,
        request_body,
        status,
        response_headers: response_headers.clone(),
        response_body,
        at,
    };
    if let Some(replacement) = (shared.rewrite)(&exchange) {
        exchange.response_body = replacement;
    }
    let body = exchange.response_body.clone();
    shared.log.lock().unwrap().push(exchange);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    *response.headers_mut() = response_headers;
    response
}
