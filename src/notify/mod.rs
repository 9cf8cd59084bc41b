//! Notifications: the digest of one run for one route, and its delivery by email,
//! webhook, Slack, Microsoft Teams or PagerDuty.
//!
//! - `digest`: the input, [`Digest`] and [`DigestRow`]: what changed in a run, already
//!   reduced to what may be shown (authorizer ids, the monitor's `alert_fields`,
//!   balances, rule and reason); ordering, counts, `max_rows` and formatting.
//! - `email_body`: subject, plain-text body and the CSV attachment; `email_html`: the
//!   HTML body, one narrow column with a dark mode.
//! - `email`: the MIME message and the `smtp`, `sendmail` and `file` transports.
//! - `webhook`: the versioned JSON payload (its schema is documented there), the
//!   `Balance-Monitor-Signature` HMAC, and the POST.
//! - `slack`: one Block Kit message within Slack's limits; `teams`: one Adaptive Card
//!   under 28 KB; `pagerduty`: Events API v2, grouped per rule or per alert, paced.
//! - `post`: the JSON POST and the per-destination pace those three share.
//!
//! [`Notifier::send`] is the entry point: one attempt to deliver one digest to one
//! route, bounded by the route's timeout, answering [`Delivered`] or a [`SendError`]
//! that says whether another attempt could help ([`SendError::is_permanent`]). It
//! does not retry, schedule, deduplicate or remember anything: the outbox owns
//! retries and passes the same idempotency key on each one, which becomes the email's
//! `Message-ID`, the webhook's `Idempotency-Key` header and the `.eml` file name.
//!
//! Invariants: one message per route per run, never one per authorizer; no secret (the
//! SMTP password, a webhook secret) appears in an error, a log line, a `Debug` output
//! or a [`Delivered`]; nothing here adds personal data to what the digest holds.

pub mod digest;
pub mod email;
pub mod email_body;
pub mod email_html;
mod email_layout;
pub mod pagerduty;
mod post;
pub mod slack;
pub mod teams;
pub mod webhook;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use digest::{Counts, Digest, DigestRow, Transition};
pub use email_body::EmailContent;

use url::Url;

use crate::clock::Clock;
use crate::config::{Route, RouteTarget};
use crate::domain::RunId;
use crate::secret::Secret;
use crate::text::{Redactor, error_chain};

/// Delivers digests. Holds the one HTTP client webhooks share; email transports are
/// built per send from the route, so a reloaded configuration takes effect at once.
/// Clones share the pace of each destination and PagerDuty's progress.
#[derive(Debug, Clone)]
pub struct Notifier {
    http: reqwest::Client,
    clock: Clock,
    pacer: post::Pacer,
    progress: pagerduty::Progress,
}

/// Why the notifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("cannot build the webhook http client: {0}")]
    Http(String),
}

impl Notifier {
    /// A notifier whose webhook client uses rustls, the `balance-monitor/<version>`
    /// user agent, no redirects and no retries of its own; `clock` stamps messages and
    /// signatures.
    pub fn new(clock: Clock) -> Result<Notifier, NotifierError> {
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(crate::rightfoot::USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .pool_idle_timeout(webhook::POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| NotifierError::Http(error_chain(&e)))?;
        Ok(Notifier {
            http,
            clock,
            pacer: post::Pacer::default(),
            progress: pagerduty::Progress::default(),
        })
    }

    /// One attempt to deliver `digest` to `route`. `idempotency_key` identifies the
    /// notification and must be the same on every retry of it.
    pub async fn send(
        &self,
        route: &Route,
        digest: &Digest,
        idempotency_key: &str,
    ) -> Result<Delivered, SendError> {
        self.send_linked(route, digest, idempotency_key, None).await
    }

    /// [`Notifier::send`], linking to the daemon's pages under `public_url` (the
    /// configuration's `http.public_url`) when there is one.
    pub async fn send_linked(
        &self,
        route: &Route,
        digest: &Digest,
        idempotency_key: &str,
        public_url: Option<&Url>,
    ) -> Result<Delivered, SendError> {
        let notification = Notification {
            route: &route.name,
            max_rows: route.max_rows,
            digest,
            idempotency_key,
            now: self.clock.now(),
            links: Links { public_url },
        };
        let result = match &route.target {
            RouteTarget::Email(email) => email::send(email, notification).await,
            RouteTarget::Webhook(hook) => webhook::send(&self.http, hook, notification).await,
            RouteTarget::Slack(chat) => {
                let permanent = slack::is_permanent;
                let body = slack::message(digest, route.max_rows, notification.links);
                post::post_to_chat(
                    &self.http,
                    &self.pacer,
                    chat,
                    &notification,
                    "slack",
                    body,
                    permanent,
                )
                .await
            }
            RouteTarget::Teams(chat) => {
                let permanent = teams::is_permanent;
                let body = teams::message(digest, route.max_rows, notification.links);
                post::post_to_chat(
                    &self.http,
                    &self.pacer,
                    chat,
                    &notification,
                    "teams",
                    body,
                    permanent,
                )
                .await
            }
            RouteTarget::PagerDuty(pagerduty) => {
                let sender = pagerduty::Sender {
                    http: &self.http,
                    pacer: &self.pacer,
                    progress: &self.progress,
                };
                sender.send(pagerduty, notification).await
            }
        };
        let counts = digest.counts();
        match &result {
            Ok(delivered) => tracing::info!(
                route = %route.name,
                monitor = %digest.monitor,
                run = digest.run.map(|r| r.0),
                test = digest.test,
                firing = counts.firing(),
                resolved = counts.of(Transition::Resolved),
                outcome = %delivered,
                "notification delivered"
            ),
            Err(error) => tracing::warn!(
                route = %route.name,
                monitor = %digest.monitor,
                run = digest.run.map(|r| r.0),
                permanent = error.is_permanent(),
                %error,
                "notification failed"
            ),
        }
        result
    }
}

/// What a receiving server answered: the status and the first bytes of its body, with
/// any secret scrubbed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAnswer {
    pub status: u16,
    /// At most 200 characters of the body, on one line; `None` when it was empty.
    pub excerpt: Option<String>,
}

/// `http 500 Internal Server Error: upstream down`.
impl fmt::Display for ServerAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http {}", self.status)?;
        if let Some(reason) = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, ": {excerpt}")?;
        }
        Ok(())
    }
}

/// One notification on its way to a route: what a transport's `send` is given.
#[derive(Clone, Copy, Debug)]
pub struct Notification<'a> {
    /// The route's name, for messages and logs.
    pub route: &'a str,
    /// How many rows the bodies show at most.
    pub max_rows: usize,
    pub digest: &'a Digest,
    /// The same on every retry of this notification.
    pub idempotency_key: &'a str,
    /// When it is sent, on the notifier's clock.
    pub now: DateTime<Utc>,
    /// Where the daemon's pages are, for links.
    pub links: Links<'a>,
}

/// Links to the daemon's pages under `http.public_url`: none without one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Links<'a> {
    pub public_url: Option<&'a Url>,
}

impl Links<'_> {
    /// `<public_url>runs/<id>`: the run's page.
    pub fn run(&self, run: Option<RunId>) -> Option<Url> {
        self.page(&["runs", &run?.0.to_string()])
    }

    /// `<public_url>authorizers/<id>`: the borrower's page, the id percent-encoded.
    pub fn authorizer(&self, id: Option<&str>) -> Option<Url> {
        self.page(&["authorizers", id?])
    }

    /// The dashboard's front page.
    pub fn home(&self) -> Option<Url> {
        self.public_url.cloned()
    }

    fn page(&self, segments: &[&str]) -> Option<Url> {
        let mut url = self.public_url?.clone();
        {
            let mut path = url.path_segments_mut().ok()?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Some(url)
    }
}

/// A notification that reached its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The SMTP server accepted the message for every recipient.
    Smtp {
        message_id: String,
        recipients: usize,
        /// The server's final answer, `250 OK`.
        answer: String,
    },
    /// The local MTA's `sendmail` command took the message (exit status 0).
    Sendmail {
        message_id: String,
        recipients: usize,
    },
    /// The message was written as an `.eml` file.
    File { message_id: String, path: PathBuf },
    /// The webhook answered 2xx.
    Webhook { answer: ServerAnswer },
    /// Slack, Teams or PagerDuty took the message (PagerDuty: every event of it).
    Service {
        service: &'static str,
        /// Requests the service accepted in this attempt.
        requests: usize,
        /// Its last answer.
        answer: ServerAnswer,
    },
}

/// One line for `test-alert` and the log: what the destination said.
impl fmt::Display for Delivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivered::Smtp {
                message_id,
                recipients,
                answer,
            } => write!(
                f,
                "smtp server accepted {message_id} for {recipients} recipient(s): {answer}"
            ),
            Delivered::Sendmail {
                message_id,
                recipients,
            } => write!(
                f,
                "sendmail accepted {message_id} for {recipients} recipient(s)"
            ),
            Delivered::File { message_id, path } => {
                write!(f, "wrote {message_id} to {}", path.display())
            }
            Delivered::Webhook { answer } => write!(f, "webhook answered {answer}"),
            Delivered::Service {
                service,
                requests,
                answer,
            } => match requests {
                1 => write!(f, "{service} answered {answer}"),
                n => write!(
                    f,
                    "{service} accepted {n} requests; the last answered {answer}"
                ),
            },
        }
    }
}

/// Why a notification was not delivered. Messages name the route, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message or request could not be built (an address or key lettre or HTTP
    /// refuses). Permanent.
    #[error("route {route}: cannot build the notification: {detail}")]
    Build { route: String, detail: String },
    /// The whole send did not finish within the route's timeout. Transient.
    #[error("route {route}: no answer within {after:?}")]
    Timeout { route: String, after: Duration },
    /// The SMTP exchange failed; a 5xx answer is permanent, anything else transient.
    #[error("route {route}: smtp: {detail}")]
    Smtp {
        route: String,
        detail: String,
        permanent: bool,
    },
    /// The `sendmail` command failed. Transient: the local MTA may recover.
    #[error("route {route}: sendmail: {detail}")]
    Sendmail { route: String, detail: String },
    /// The `.eml` file could not be written. Transient (a full disk may be freed).
    #[error("route {route}: cannot write {}: {source}", path.display())]
    File {
        route: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The webhook answered with a status other than 2xx: 408, 429 and 5xx are
    /// transient, the rest permanent.
    #[error("route {route}: webhook answered {answer}")]
    WebhookStatus {
        route: String,
        answer: ServerAnswer,
        /// The server's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// The webhook could not be reached or stopped answering (connect, TLS, reset).
    /// Transient.
    #[error("route {route}: webhook request failed: {detail}")]
    WebhookTransport { route: String, detail: String },
    /// Slack, Teams or PagerDuty refused the message; `permanent` says whether the
    /// service's answer rules out another attempt (Slack's `invalid_payload`,
    /// PagerDuty's 400).
    #[error("route {route}: {service} answered {answer}")]
    ServiceStatus {
        route: String,
        service: &'static str,
        answer: ServerAnswer,
        retry_after: Option<Duration>,
        permanent: bool,
    },
    /// Slack, Teams or PagerDuty could not be reached. Transient. The URL is never
    /// named: a chat webhook's URL is a secret.
    #[error("route {route}: {service} request failed: {detail}")]
    ServiceTransport {
        route: String,
        service: &'static str,
        detail: String,
    },
}

impl SendError {
    /// Whether another attempt with the same message cannot succeed: the outbox should
    /// stop retrying and report it.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Build { .. } => true,
            SendError::Smtp { permanent, .. } => *permanent,
            SendError::WebhookStatus { answer, .. } => !webhook::is_transient_status(answer.status),
            SendError::ServiceStatus { permanent, .. } => *permanent,
            SendError::ServiceTransport { .. }
            | SendError::Timeout { .. }
            | SendError::Sendmail { .. }
            | SendError::File { .. }
            | SendError::WebhookTransport { .. } => false,
        }
    }

    /// The route the notification was for.
    pub fn route(&self) -> &str {
        match self {
            SendError::Build { route, .. }
            | SendError::Timeout { route, .. }
            | SendError::Smtp { route, .. }
            | SendError::Sendmail { route, .. }
            | SendError::File { route, .. }
            | SendError::WebhookStatus { route, .. }
            | SendError::WebhookTransport { route, .. }
            | SendError::ServiceStatus { route, .. }
            | SendError::ServiceTransport { route, .. } => route,
        }
    }

    /// How long the server asked the sender to wait, when it did (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::WebhookStatus { retry_after, .. }
            | SendError::ServiceStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The redactor for a route's secret (the SMTP password, the webhook secret), if it has
/// one: what every text a receiver or a transport error sends back passes through.
pub(crate) fn redactor(secret: Option<&Secret>) -> Redactor {
    secret.map_or_else(Redactor::default, |secret| {
        Redactor::for_secret(secret.expose())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: u16) -> SendError {
        SendError::WebhookStatus {
            route: "hook".into(),
            answer: ServerAnswer {
                status,
                excerpt: None,
            },
            retry_after: None,
        }
    }

    #[test]
    fn permanence_follows_the_cause() {
        assert!(status_error(400).is_permanent());
        assert!(status_error(404).is_permanent());
        assert!(status_error(301).is_permanent());
        assert!(!status_error(408).is_permanent());
        assert!(!status_error(429).is_permanent());
        assert!(!status_error(503).is_permanent());
        let timeout = SendError::Timeout {
            route: "r".into(),
            after: Duration::from_secs(1),
        };
        assert!(!timeout.is_permanent());
        let smtp = |permanent| SendError::Smtp {
            route: "r".into(),
            detail: String::new(),
            permanent,
        };
        assert!(smtp(true).is_permanent());
        assert!(!smtp(false).is_permanent());
    }

    #[test]
    fn answers_read_as_status_reason_and_excerpt() {
        let answer = ServerAnswer {
            status: 500,
            excerpt: Some("upstream down".into()),
        };
        assert_eq!(
            answer.to_string(),
            "http 500 Internal Server Error: upstream down"
        );
        assert_eq!(
            status_error(429).to_string(),
            "route hook: webhook answered http 429 Too Many Requests"
        );
    }

    #[test]
    fn the_redactor_removes_the_secret_only() {
        let secret = Secret::new("s3cr3t");
        assert_eq!(
            redactor(Some(&secret)).scrub("a s3cr3t b s3cr3t"),
            "a [redacted] b [redacted]"
        );
        assert_eq!(redactor(None).scrub("plain"), "plain");
    }
}
