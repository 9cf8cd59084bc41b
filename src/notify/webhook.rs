//! Webhook routes: the versioned JSON payload, its signature, and the POST.
//!
//! # Payload, version 1
//!
//! One `POST` per route per run, `Content-Type: application/json`:
//!
//! ```json
//! {
//!   "version": "1",
//!   "monitor": "morning-ach",
//!   "run": {
//!     "id": 42,
//!     "time": "2025-03-14T10:30:00Z",
//!     "local_time": "2025-03-14T06:30:00-04:00",
//!     "timezone": "America/New_York"
//!   },
//!   "test": false,
//!   "counts": {
//!     "firing": 3, "new": 2, "still_firing": 1, "reminded": 1, "resolved": 1,
//!     "firing_by_severity": { "critical": 1, "warning": 2, "info": 0 }
//!   },
//!   "alerts": [
//!     {
//!       "transition": "fired",
//!       "severity": "critical",
//!       "authorizer_id": "A-1001",
//!       "rule": "negative_balance",
//!       "reason": "the balance is negative",
//!       "metadata": { "loan_id": "L-77" },
//!       "balance_before": "1234.56", "balance_before_cents": 123456,
//!       "balance_after": "-83.68", "balance_after_cents": -8368
//!     }
//!   ],
//!   "omitted": 0
//! }
//! ```
//!
//! - `version`: the string `"1"`. A change that removes or retypes a field gets a new
//!   version; new fields may be added within a version, so receivers should ignore
//!   fields they do not know.
//! - `run.id`: the run number, or `null` for a test notification that belongs to no
//!   run. `run.time` is UTC (RFC 3339, `Z`); `run.local_time` is the same instant in
//!   the monitor's zone `run.timezone` (an IANA name).
//! - `test`: `true` for `balance-monitor test-alert`; its alerts are examples.
//! - `counts`: over every alert of the digest, including those `omitted`. `firing` is
//!   `new + still_firing`: every alert firing after the run. `still_firing` counts
//!   every alert that was firing before the run and still is, `reminded` those of
//!   them whose reminder is in `alerts` now; `firing_by_severity` counts the firing
//!   ones. (Before `reminded` was added, `still_firing` counted only the reminders.)
//! - `alerts`: in display order (new, then still firing, then resolved; most severe
//!   first), at most the route's `max_rows`. `transition` is `fired`, `reminder` or
//!   `resolved`; `severity` is `critical`, `warning` or `info`; `authorizer_id` is
//!   `null` for an alert about the run itself (`run_failed`); `metadata` holds only the
//!   monitor's `alert_fields`. Money is a decimal string with two places and the same
//!   amount as integer cents; both are `null` when the balance is unknown.
//! - `omitted`: alerts left out of `alerts` by `max_rows`.
//!
//! The machine-readable JSON Schema is `webhook-payload-v1.schema.json` beside this
//! file; the tests validate every payload they build against it.
//!
//! # Headers
//!
//! - `Idempotency-Key`: given by the caller, the same on every retry of one
//!   notification, so a receiver can drop duplicates.
//! - `Balance-Monitor-Signature: t=<unix seconds>,v1=<hex>` when the route has a
//!   secret: `v1` is HMAC-SHA256, keyed with the secret, of the bytes `<t>.<body>`. A
//!   receiver recomputes it over the raw body, compares in constant time, and rejects a
//!   `t` too far from its own clock (a replay).
//!
//! # Outcome
//!
//! 2xx is delivered. 408, 429 and 5xx, a timeout and a connection failure are
//! transient (retry later, with the same idempotency key); any other status is
//! permanent, redirects included (they are not followed). The answer is kept as the
//! status and the first bytes of the body, with the secret scrubbed from it.

use std::time::Duration;

use bytes::Bytes;
use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{Severity, WebhookRoute};
use crate::domain::Cents;
use crate::notify::digest::{Digest, DigestRow, Transition};
use crate::notify::{Delivered, Notification, SendError, ServerAnswer, redactor};
use crate::secret::Secret;
use crate::text::{error_chain, excerpt};

/// The payload's `version`.
pub const PAYLOAD_VERSION: &str = "1";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "Balance-Monitor-Signature";
/// The idempotency header.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// How much of an answer's body is read, and how many characters of it are kept.
const ANSWER_READ_LIMIT: usize = 4096;
const ANSWER_EXCERPT_CHARS: usize = 200;

/// The webhook body, version 1: the wire shape, separate from [`Digest`].
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub version: &'static str,
    pub monitor: &'a str,
    pub run: RunWire,
    pub test: bool,
    pub counts: CountsWire,
    pub alerts: Vec<AlertWire<'a>>,
    pub omitted: usize,
}

#[derive(Debug, Serialize)]
pub struct RunWire {
    pub id: Option<i64>,
    pub time: String,
    pub local_time: String,
    pub timezone: String,
}

#[derive(Debug, Serialize)]
pub struct CountsWire {
    pub firing: usize,
    pub new: usize,
    pub still_firing: usize,
    pub reminded: usize,
    pub resolved: usize,
    pub firing_by_severity: SeverityCounts,
}

#[derive(Debug, Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

#[derive(Debug, Serialize)]
pub struct AlertWire<'a> {
    pub transition: &'static str,
    pub severity: &'static str,
    pub authorizer_id: Option<&'a str>,
    pub rule: &'a str,
    pub reason: &'a str,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub balance_before: Option<String>,
    pub balance_before_cents: Option<i64>,
    pub balance_after: Option<String>,
    pub balance_after_cents: Option<i64>,
}

impl<'a> AlertWire<'a> {
    fn from_row(row: &'a DigestRow) -> AlertWire<'a> {
        let decimal = |c: Option<Cents>| c.map(Cents::to_decimal_string);
        AlertWire {
            transition: row.transition.as_str(),
            severity: row.severity.as_str(),
            authorizer_id: row.authorizer_id.as_deref(),
            rule: &row.rule,
            reason: &row.reason,
            metadata: row
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            balance_before: decimal(row.balance_before),
            balance_before_cents: row.balance_before.map(|c| c.0),
            balance_after: decimal(row.balance_after),
            balance_after_cents: row.balance_after.map(|c| c.0),
        }
    }
}

/// The payload for `digest`, with at most `max_rows` alerts.
pub fn payload(digest: &Digest, max_rows: usize) -> Payload<'_> {
    let counts = digest.counts();
    let sections = digest.sections(max_rows);
    let by_severity = |s: Severity| counts.firing_with(s);
    Payload {
        version: PAYLOAD_VERSION,
        monitor: &digest.monitor,
        run: RunWire {
            id: digest.run.map(|r| r.0),
            time: digest.run_time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            local_time: digest
                .run_time
                .with_timezone(&digest.zone)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            timezone: digest.zone.name().to_string(),
        },
        test: digest.test,
        counts: CountsWire {
            firing: counts.firing(),
            new: counts.of(Transition::Fired),
            still_firing: counts.still_firing(),
            reminded: counts.of(Transition::Reminder),
            resolved: counts.of(Transition::Resolved),
            firing_by_severity: SeverityCounts {
                critical: by_severity(Severity::Critical),
                warning: by_severity(Severity::Warning),
                info: by_severity(Severity::Info),
            },
        },
        alerts: sections
            .iter()
            .flat_map(|s| s.rows.iter().map(|row| AlertWire::from_row(row)))
            .collect(),
        omitted: sections.iter().map(|s| s.omitted).sum(),
    }
}

/// The payload as the exact bytes that are signed and sent.
pub fn payload_bytes(digest: &Digest, max_rows: usize) -> Bytes {
    Bytes::from(serde_json::to_vec(&payload(digest, max_rows)).expect("the payload serializes"))
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// One POST of `digest` to `webhook`, bounded as a whole by the route's timeout.
pub(crate) async fn send(
    http: &reqwest::Client,
    webhook: &WebhookRoute,
    notification: Notification<'_>,
) -> Result<Delivered, SendError> {
    let Notification {
        route,
        max_rows,
        digest,
        idempotency_key,
        now,
        ..
    } = notification;
    let body = payload_bytes(digest, max_rows);
    let key = HeaderValue::from_str(idempotency_key).map_err(|_| SendError::Build {
        route: route.to_string(),
        detail: "the idempotency key is not a valid header value".to_string(),
    })?;
    let mut request = http
        .post(webhook.url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(IDEMPOTENCY_HEADER, key);
    if let Some(secret) = &webhook.secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, now.timestamp(), &body));
    }
    let request = request.body(body);
    let secret = webhook.secret.as_ref();
    let attempt = async {
        let mut response = request
            .send()
            .await
            .map_err(|e| SendError::WebhookTransport {
                route: route.to_string(),
                detail: redactor(secret).scrub(&error_chain(&e.without_url())),
            })?;
        let status = response.status().as_u16();
        let retry_after = super::post::retry_after(&response, now);
        let excerpt = read_excerpt(&mut response, secret).await;
        Ok::<_, SendError>((ServerAnswer { status, excerpt }, retry_after))
    };
    let (answer, retry_after) = tokio::time::timeout(webhook.timeout, attempt)
        .await
        .map_err(|_| SendError::Timeout {
            route: route.to_string(),
            after: webhook.timeout,
        })??;
    if (200..300).contains(&answer.status) {
        Ok(Delivered::Webhook { answer })
    } else {
        Err(SendError::WebhookStatus {
            route: route.to_string(),
            answer,
            retry_after,
        })
    }
}

/// The first bytes of the answer's body as one line of text, the secret scrubbed. A
/// body that fails half-way keeps what was read.
async fn read_excerpt(response: &mut reqwest::Response, secret: Option<&Secret>) -> Option<String> {
    let bytes = super::post::read_start(response, ANSWER_READ_LIMIT).await;
    excerpt(&bytes, &redactor(secret), ANSWER_EXCERPT_CHARS)
}

/// Whether an HTTP status is worth another attempt: 408, 429 and 5xx.
pub fn is_transient_status(status: u16) -> bool {
    crate::rightfoot::error::is_transient_status(status)
}

/// The webhook client's idle-connection lifetime: short, since a route is used about
/// once per run.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::digest::tests::{digest, fired_warnings, row};

    fn schema() -> jsonschema::Validator {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("webhook-payload-v1.schema.json")).unwrap();
        jsonschema::validator_for(&schema).expect("the schema compiles")
    }

    #[test]
    fn payload_matches_the_documented_shape_and_schema() {
        use Transition::*;
        let mut run_level = row(Fired, Severity::Critical, None, "run_failed");
        run_level.balance_before = None;
        run_level.balance_after = None;
        run_level.metadata.clear();
        let d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            run_level,
            row(Reminder, Severity::Warning, Some("A-2"), "balance_below"),
            row(Resolved, Severity::Info, Some("A-3"), "stale"),
        ]);
        let json: serde_json::Value = serde_json::from_slice(&payload_bytes(&d, 50)).unwrap();
        let errors: Vec<String> = schema().iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{json:#}");
        assert_eq!(json["version"], "1");
        assert_eq!(json["monitor"], "morning-ach");
        assert_eq!(
            json["run"],
            serde_json::json!({
                "id": 42,
                "time": "2025-03-14T10:30:00Z",
                "local_time": "2025-03-14T06:30:00-04:00",
                "timezone": "America/New_York"
            })
        );
        assert_eq!(json["test"], false);
        assert_eq!(
            json["counts"],
            serde_json::json!({
                "firing": 3, "new": 2, "still_firing": 1, "reminded": 1, "resolved": 1,
                "firing_by_severity": { "critical": 2, "warning": 1, "info": 0 }
            })
        );
        assert_eq!(json["omitted"], 0);
        let alerts = json["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 4);
        // The run-level alert sorts first among the critical new ones.
        assert_eq!(alerts[0]["authorizer_id"], serde_json::Value::Null);
        assert_eq!(alerts[0]["balance_after"], serde_json::Value::Null);
        assert_eq!(
            alerts[1],
            serde_json::json!({
                "transition": "fired",
                "severity": "critical",
                "authorizer_id": "A-1",
                "rule": "negative_balance",
                "reason": "negative_balance for A-1",
                "metadata": { "loan_id": "L-A-1" },
                "balance_before": "1234.56",
                "balance_before_cents": 123456,
                "balance_after": "-83.68",
                "balance_after_cents": -8368
            })
        );
        assert_eq!(alerts[3]["transition"], "resolved");
    }

    #[test]
    fn payload_is_cut_at_max_rows_and_counts_still_cover_everything() {
        let rows = fired_warnings(5);
        let mut d = digest(rows);
        d.test = true;
        d.run = None;
        let json: serde_json::Value = serde_json::from_slice(&payload_bytes(&d, 2)).unwrap();
        assert!(schema().is_valid(&json));
        assert_eq!(json["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(json["omitted"], 3);
        assert_eq!(json["counts"]["firing"], 5);
        assert_eq!(json["test"], true);
        assert_eq!(json["run"]["id"], serde_json::Value::Null);
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently with Python's `hmac.new(b"whsec_test",
        // b'1700000000.{"a":1}', hashlib.sha256).hexdigest()`.
        let secret = Secret::new("whsec_test");
        assert_eq!(
            signature(&secret, 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn statuses_are_classified() {
        for status in [408, 429, 500, 502, 503] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410, 422] {
            assert!(!is_transient_status(status), "{status}");
        }
    }
}
