//! What the Slack, Teams and PagerDuty routes share: one JSON POST with its answer read
//! and scrubbed, and the pace each destination is sent at.
//!
//! [`post_json`] makes one request, bounded by a timeout, and returns the status, the
//! first bytes of the body (scrubbed of the route's secret, for messages) and the
//! server's `Retry-After`. It never names the URL: a Slack or Teams URL is a bearer
//! secret, so a transport error is shown without it.
//!
//! [`Pacer`] spaces the requests to one destination: each call to [`Pacer::wait`]
//! takes the next free slot (`interval` after the previous one) and sleeps until it, on
//! tokio's clock, so paused-time tests see the pace exactly. A server's `Retry-After`
//! pushes the destination's next slot back ([`Pacer::hold`]). Destinations are known
//! by a digest of their URL or key, so the pacer holds no secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::config::ChatRoute;
use crate::notify::{Delivered, Notification, SendError, ServerAnswer, redactor};
use crate::text::{Redactor, error_chain, excerpt};

/// How much of an answer's body is read.
const ANSWER_READ_LIMIT: usize = 4096;
/// How many characters of it a message keeps.
const ANSWER_EXCERPT_CHARS: usize = 300;

/// One answer from a destination.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub answer: ServerAnswer,
    /// The body as read (at most 4 KiB), scrubbed, for the service's own error words.
    pub body: String,
    pub retry_after: Option<Duration>,
}

/// Who is posting, for one request: the route and its kind (for errors), the bound,
/// the redactor of what the server sends back, and the notifier's time.
pub(crate) struct Post<'a> {
    pub route: &'a str,
    pub service: &'static str,
    pub timeout: Duration,
    pub redactor: &'a Redactor,
    pub now: DateTime<Utc>,
}

/// One POST of `body` as JSON to `url`, bounded by `post.timeout`.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: url::Url,
    body: Bytes,
    post: Post<'_>,
) -> Result<Answer, SendError> {
    let Post {
        route,
        service,
        timeout,
        redactor,
        now,
    } = post;
    let request = http
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body);
    let attempt = async {
        let mut response = request
            .send()
            .await
            .map_err(|e| SendError::ServiceTransport {
                route: route.to_string(),
                service,
                detail: redactor.scrub(&error_chain(&e.without_url())),
            })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response, now);
        let bytes = read_start(&mut response, ANSWER_READ_LIMIT).await;
        let body = redactor.scrub(&String::from_utf8_lossy(&bytes));
        Ok::<_, SendError>(Answer {
            answer: ServerAnswer {
                status,
                excerpt: excerpt(&bytes, redactor, ANSWER_EXCERPT_CHARS),
            },
            body,
            retry_after,
        })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| SendError::Timeout {
            route: route.to_string(),
            after: timeout,
        })?
}

/// The server's `Retry-After`, read at `now`, when it sent one.
pub(crate) fn retry_after(response: &reqwest::Response, now: DateTime<Utc>) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    crate::rightfoot::retry::parse_retry_after(value, SystemTime::from(now))
}

/// At most `limit` bytes of the answer's body; a body that fails half-way keeps what
/// was read.
pub(crate) async fn read_start(response: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(limit);
    bytes
}

/// One paced POST of `body` (a Slack message, a Teams card) to a chat route's webhook,
/// whose URL is its secret: `2xx` is delivered; otherwise a `Retry-After` holds the
/// webhook back, and `permanent` judges the answer.
pub(crate) async fn post_to_chat(
    http: &reqwest::Client,
    pacer: &Pacer,
    chat: &ChatRoute,
    notification: &Notification<'_>,
    service: &'static str,
    body: Bytes,
    permanent: impl Fn(&Answer) -> bool,
) -> Result<Delivered, SendError> {
    let route = notification.route;
    let url = url::Url::parse(chat.webhook_url.expose().trim()).map_err(|_| SendError::Build {
        route: route.to_string(),
        detail: "the webhook URL does not parse".to_string(),
    })?;
    let destination = chat.webhook_url.expose().trim();
    pacer.wait(destination, CHAT_PACE).await;
    let scrub = redactor(Some(&chat.webhook_url));
    let post = Post {
        route,
        service,
        timeout: chat.timeout,
        redactor: &scrub,
        now: notification.now,
    };
    let answer = post_json(http, url, body, post).await?;
    if (200..300).contains(&answer.answer.status) {
        return Ok(Delivered::Service {
            service,
            requests: 1,
            answer: answer.answer,
        });
    }
    if let Some(wait) = answer.retry_after {
        pacer.hold(destination, wait);
    }
    Err(SendError::ServiceStatus {
        route: route.to_string(),
        service,
        permanent: permanent(&answer),
        answer: answer.answer,
        retry_after: answer.retry_after,
    })
}

/// At most one message a second per Slack or Teams webhook.
pub const CHAT_PACE: Duration = Duration::from_secs(1);

/// The next free slot of each destination, shared by every clone of the notifier.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pacer {
    next: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

impl Pacer {
    /// Waits for `destination`'s next slot, and books the one `interval` after it.
    pub async fn wait(&self, destination: &str, interval: Duration) {
        let slot = {
            // Held only to read and book a slot, never across an await.
            let mut next = self
                .next
                .lock()
                .expect("the pacer's lock is never poisoned");
            let now = Instant::now();
            let key = Self::key(destination);
            let slot = next.get(&key).copied().unwrap_or(now).max(now);
            next.insert(key, slot + interval);
            if next.len() > 1024 {
                next.retain(|_, at| *at > now);
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Keeps `destination` free of requests for `wait` from now (a `Retry-After`).
    pub fn hold(&self, destination: &str, wait: Duration) {
        let mut next = self
            .next
            .lock()
            .expect("the pacer's lock is never poisoned");
        let until = Instant::now() + wait;
        let entry = next.entry(Self::key(destination)).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn key(destination: &str) -> [u8; 32] {
        Sha256::digest(destination.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_per_destination_and_a_hold_pushes_them_back() {
        let pacer = Pacer::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        pacer.wait("a", second).await;
        assert_eq!(Instant::now() - start, Duration::ZERO);
        pacer.wait("b", second).await;
        assert_eq!(
            Instant::now() - start,
            Duration::ZERO,
            "another destination"
        );
        pacer.wait("a", second).await;
        assert_eq!(Instant::now() - start, second);
        pacer.hold("a", Duration::from_secs(5));
        pacer.wait("a", second).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(6));
    }
}
