//! The HTTP client itself: [`ClientConfig`], [`RightfootClient`] and the one-attempt
//! plumbing every endpoint shares (authentication, timeouts, status → error, bounded
//! body reads).
//!
//! One `reqwest::Client` is built at start-up and shared by clones of
//! [`RightfootClient`]: rustls, the `balance-monitor/<version>` user agent, connect,
//! read and total timeouts, no redirects (a redirect could carry the bearer token to
//! another host) and no reqwest-level retries (the policy in `retry` is the only one).
//! The API key lives in a sensitive `Authorization` header value and nowhere else; the
//! client's `Debug` shows the base URL only.
//!
//! This module does not know the endpoints' bodies; `submit`, `results`, `history` and
//! `export` do.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use url::Url;

use super::error::{ApiError, ClientBuildError, Redactor};
use super::metrics::{Answer, Endpoint, RequestMetrics};
use super::models::describe_json_error;
use super::retry::{Replay, RetryPolicy, parse_retry_after, with_retries};
use crate::net::{self, UrlRefusal};
use crate::secret::Secret;

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("balance-monitor/", env!("CARGO_PKG_VERSION"));

/// The largest JSON response the client reads (a results page of 100 is about 15 KB).
pub(crate) const JSON_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How much of an error body the client reads before giving up on the rest.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Everything the client needs, validated by [`RightfootClient::new`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://api.rightfoot.com`, or a loopback `http://` URL for the sandbox. A path
    /// prefix is kept: `/v1/...` is appended to it.
    pub base_url: Url,
    /// The bearer token. Redacted in `Debug`.
    pub api_key: Secret,
    /// Time allowed to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for one JSON request, from connecting to the end of the body; also
    /// the longest silence allowed between two reads of any body.
    pub request_timeout: Duration,
    /// Time allowed for one whole CSV export download.
    pub export_timeout: Duration,
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// How long after a batch's submission a 404 from its results means "no results
    /// yet" rather than an error.
    pub not_found_grace: Duration,
    /// `limit` for results pages, 1 to 100.
    pub page_limit: u32,
    /// Pages allowed beyond `ceil(accepted / page_limit)` before the pagination guard
    /// stops a batch's results.
    pub page_slack: u32,
    /// Where every attempt's duration is recorded, by endpoint and status. The daemon
    /// shares one across the clients it builds; `new` starts a fresh one.
    pub metrics: RequestMetrics,
}

impl ClientConfig {
    /// A configuration with the defaults: connect 10 s, request 30 s, export 30 min,
    /// [`RetryPolicy::default`], a 5-minute 404 grace, pages of 100 with 2 pages' slack.
    pub fn new(base_url: Url, api_key: Secret) -> ClientConfig {
        ClientConfig {
            base_url,
            api_key,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            export_timeout: Duration::from_secs(30 * 60),
            retry: RetryPolicy::default(),
            not_found_grace: Duration::from_secs(5 * 60),
            page_limit: 100,
            page_slack: 2,
            metrics: RequestMetrics::default(),
        }
    }
}

/// The Rightfoot API client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct RightfootClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    authorization: HeaderValue,
    redactor: Redactor,
    request_timeout: Duration,
    export_timeout: Duration,
    retry: RetryPolicy,
    not_found_grace: Duration,
    page_limit: u32,
    page_slack: u32,
    metrics: RequestMetrics,
}

/// Shows the base URL; the key is never printed.
impl fmt::Debug for RightfootClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RightfootClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("api_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A success response read in full.
pub(crate) struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RightfootClient {
    /// Validates the configuration and builds the HTTP client.
    pub fn new(config: ClientConfig) -> Result<RightfootClient, ClientBuildError> {
        let base_url = validate_base_url(config.base_url)?;
        let key = config.api_key.expose();
        if key.trim().is_empty() {
            return Err(ClientBuildError::EmptyApiKey);
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| ClientBuildError::ApiKeyNotHeaderSafe)?;
        authorization.set_sensitive(true);
        for (name, value) in [
            ("connect_timeout", config.connect_timeout),
            ("request_timeout", config.request_timeout),
            ("export_timeout", config.export_timeout),
        ] {
            if value.is_zero() {
                return Err(ClientBuildError::ZeroSetting(name));
            }
        }
        if !(1..=100).contains(&config.page_limit) {
            return Err(ClientBuildError::PageLimit(config.page_limit));
        }
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.request_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        Ok(RightfootClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                authorization,
                redactor: Redactor::for_secret(key),
                request_timeout: config.request_timeout,
                export_timeout: config.export_timeout,
                retry: config.retry,
                not_found_grace: config.not_found_grace,
                page_limit: config.page_limit,
                page_slack: config.page_slack,
                metrics: config.metrics,
            }),
        })
    }

    /// The validated base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The retry policy every call follows.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The recorder of request durations this client writes to.
    pub fn metrics(&self) -> &RequestMetrics {
        &self.inner.metrics
    }

    pub(crate) fn not_found_grace(&self) -> Duration {
        self.inner.not_found_grace
    }

    pub(crate) fn page_limit(&self) -> u32 {
        self.inner.page_limit
    }

    pub(crate) fn page_slack(&self) -> u32 {
        self.inner.page_slack
    }

    pub(crate) fn export_timeout(&self) -> Duration {
        self.inner.export_timeout
    }

    /// The redactor for the API key.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment
    /// (a `/` in a segment becomes `%2F`). The caller rejects `.` and `..`.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .expect("validate_base_url checked that the base url can take a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// A request with the bearer token and the JSON request timeout.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.inner
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .timeout(self.inner.request_timeout)
    }

    /// One attempt: send, turn an error status into an [`ApiError`], and leave a
    /// success body unread. The duration recorded is the time to the response headers
    /// (a streamed body is read later, by the caller).
    pub(crate) async fn attempt_head(
        &self,
        request: RequestBuilder,
        redactor: &Redactor,
    ) -> Result<Response, ApiError> {
        let started = Instant::now();
        let (endpoint, result) = self.head(request, redactor).await;
        let answer = match &result {
            Ok(response) => Answer::Status(response.status().as_u16()),
            Err(error) => answer_of_error(error),
        };
        self.record(endpoint, answer, started);
        result
    }

    fn record(&self, endpoint: Endpoint, answer: Answer, started: Instant) {
        self.inner
            .metrics
            .record(endpoint, answer, started.elapsed());
    }

    /// Sends `request` and turns an error status into an [`ApiError`]; says which
    /// endpoint it was, for the metrics.
    async fn head(
        &self,
        request: RequestBuilder,
        redactor: &Redactor,
    ) -> (Endpoint, Result<Response, ApiError>) {
        let (http, request) = request.build_split();
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                return (
                    Endpoint::Other,
                    Err(ApiError::from_transport(error, redactor)),
                );
            }
        };
        let endpoint = Endpoint::of_path(request.url().path());
        let response = match http.execute(request).await {
            Ok(response) => response,
            Err(error) => return (endpoint, Err(ApiError::from_transport(error, redactor))),
        };
        (endpoint, self.check_status(response, redactor).await)
    }

    async fn check_status(
        &self,
        mut response: Response,
        redactor: &Redactor,
    ) -> Result<Response, ApiError> {
        let status = response.status();
        tracing::debug!(
            status = status.as_u16(),
            path = response.url().path(),
            "Rightfoot answered"
        );
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // A failure while reading an error body still leaves the status to report.
        let (body, _) = read_capped(&mut response, ERROR_BODY_LIMIT).await;
        Err(ApiError::from_status(
            status.as_u16(),
            retry_after,
            &body,
            redactor,
        ))
    }

    /// One attempt: send, check the status, and read the whole body (up to `limit`).
    /// A body that fails half-way is a transport error, so the attempt can be retried.
    /// The duration recorded runs to the end of the body; one that fails half-way is
    /// recorded as no answer.
    pub(crate) async fn attempt_full(
        &self,
        request: RequestBuilder,
        what: &'static str,
        redactor: &Redactor,
        limit: usize,
    ) -> Result<Received, ApiError> {
        let started = Instant::now();
        let (endpoint, result) = self.head(request, redactor).await;
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                self.record(endpoint, answer_of_error(&error), started);
                return Err(error);
            }
        };
        let headers = response.headers().clone();
        let status = response.status().as_u16();
        let (body, outcome) = read_capped(&mut response, limit).await;
        let answer = match outcome {
            ReadOutcome::Failed(_) => Answer::NoAnswer,
            _ => Answer::Status(status),
        };
        self.record(endpoint, answer, started);
        match outcome {
            ReadOutcome::Complete => Ok(Received {
                headers,
                body: Bytes::from(body),
            }),
            ReadOutcome::OverLimit => Err(ApiError::TooLarge { what, limit }),
            ReadOutcome::Failed(error) => Err(ApiError::from_transport(error, redactor)),
        }
    }

    /// GETs `url` with retries and returns the whole success body, for a parser.
    pub(crate) async fn get_body(&self, url: Url, what: &'static str) -> Result<Bytes, ApiError> {
        let redactor = self.redactor();
        let (received, _attempts) =
            with_retries(&self.inner.retry, Replay::Idempotent, what, || {
                self.attempt_full(
                    self.request(Method::GET, url.clone()),
                    what,
                    redactor,
                    JSON_BODY_LIMIT,
                )
            })
            .await?;
        Ok(received.body)
    }
}

/// What a failed attempt is recorded as: its error status, or no answer.
fn answer_of_error(error: &ApiError) -> Answer {
    error.http_status().map_or(Answer::NoAnswer, Answer::Status)
}

/// Decodes a success body, with an error that names the position but no values.
pub(crate) fn decode_json<W: DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<W, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        what,
        reason: describe_json_error(&e),
    })
}

enum ReadOutcome {
    Complete,
    OverLimit,
    Failed(reqwest::Error),
}

/// Reads a body up to `limit` bytes, returning what was read and how reading ended.
async fn read_capped(response: &mut Response, limit: usize) -> (Vec<u8>, ReadOutcome) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body, ReadOutcome::OverLimit);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body, ReadOutcome::Complete),
            Err(error) => return (body, ReadOutcome::Failed(error)),
        }
    }
}

/// The crate's one rule for service URLs ([`net::check_service_url`]): HTTPS, or
/// HTTP to a loopback host; a host; no credentials. Such a URL can always take a path.
fn validate_base_url(url: Url) -> Result<Url, ClientBuildError> {
    match net::check_service_url(&url) {
        Ok(()) => Ok(url),
        Err(UrlRefusal::Credentials) => Err(ClientBuildError::CredentialsInBaseUrl),
        Err(UrlRefusal::NotHttp | UrlRefusal::PlainHttpToRemote) => {
            Err(ClientBuildError::InsecureBaseUrl(url.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str) -> ClientConfig {
        ClientConfig::new(Url::parse(base).unwrap(), Secret::new("rf_live_unit"))
    }

    #[test]
    fn base_urls_must_be_https_or_loopback() {
        for ok in [
            "https://api.rightfoot.com",
            "https://api.example.com/prefix/",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:1",
        ] {
            assert!(RightfootClient::new(config(ok)).is_ok(), "{ok}");
        }
        for (bad, want) in [
            ("http://api.rightfoot.com", "must use https"),
            ("ftp://127.0.0.1", "must use https"),
            ("https://user:pw@api.rightfoot.com", "user name or password"),
            ("ftp://user:pw@127.0.0.1", "user name or password"),
            ("data:text/plain,hello", "must use https"),
            ("http://sandbox.localhost", "must use https"),
        ] {
            let error = RightfootClient::new(config(bad)).unwrap_err().to_string();
            assert!(error.contains(want), "{bad}: {error}");
            assert!(!error.contains("pw@"), "{error}");
        }
    }

    #[test]
    fn settings_are_checked() {
        let mut empty_key = config("https://api.rightfoot.com");
        empty_key.api_key = Secret::new(" ");
        assert!(matches!(
            RightfootClient::new(empty_key),
            Err(ClientBuildError::EmptyApiKey)
        ));
        let mut bad_key = config("https://api.rightfoot.com");
        bad_key.api_key = Secret::new("rf_live_\nsecret");
        let error = RightfootClient::new(bad_key).unwrap_err();
        assert!(matches!(error, ClientBuildError::ApiKeyNotHeaderSafe));
        assert!(!format!("{error} {error:?}").contains("secret"));
        let mut zero = config("https://api.rightfoot.com");
        zero.request_timeout = Duration::ZERO;
        assert!(
            RightfootClient::new(zero)
                .unwrap_err()
                .to_string()
                .contains("request_timeout")
        );
        let mut limit = config("https://api.rightfoot.com");
        limit.page_limit = 101;
        assert!(matches!(
            RightfootClient::new(limit),
            Err(ClientBuildError::PageLimit(101))
        ));
    }

    #[test]
    fn endpoints_append_encoded_segments_to_the_base_path() {
        let client = RightfootClient::new(config("https://api.example.com/prefix/?x=1")).unwrap();
        assert_eq!(
            client.endpoint(&["v1", "balances"]).as_str(),
            "https://api.example.com/prefix/v1/balances"
        );
        assert_eq!(
            client.endpoint(&["v1", "a/b c?#%"]).as_str(),
            "https://api.example.com/prefix/v1/a%2Fb%20c%3F%23%25"
        );
        let bare = RightfootClient::new(config("https://api.rightfoot.com")).unwrap();
        assert_eq!(
            bare.endpoint(&["v1"]).as_str(),
            "https://api.rightfoot.com/v1"
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let client = RightfootClient::new(config("https://api.rightfoot.com")).unwrap();
        let shown = format!("{client:?} {:?}", config("https://api.rightfoot.com"));
        assert!(!shown.contains("rf_live_unit"), "{shown}");
        assert!(shown.contains("api.rightfoot.com"));
    }
}
