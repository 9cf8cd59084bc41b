//! `balance-monitor test-alert`: one digest marked as a test, sent through one route
//! now, without the outbox, so the service's answer can be printed.

use chrono::{DateTime, Utc};
use url::Url;

use super::idempotency_key;
use crate::clock::Clock;
use crate::config::{Route, Severity};
use crate::domain::Cents;
use crate::notify::digest::FieldLabel;
use crate::notify::{Delivered, Digest, DigestRow, Notifier, Transition};

/// `test-alert`: one test digest, marked as such, sent through `route` now, without the
/// outbox (the answer is printed, not retried). It shows every part of a real digest:
/// a firing and a resolved row, balances, a labelled money field, and a reason; with
/// `public_url`, its links.
pub async fn send_test(
    route: &Route,
    public_url: Option<&Url>,
) -> Result<Delivered, TestAlertError> {
    let clock = Clock::system();
    let notifier = Notifier::new(clock.clone()).map_err(TestAlertError::Notifier)?;
    let digest = test_digest(clock.now());
    notifier
        .send_linked(route, &digest, &idempotency_key(), public_url)
        .await
        .map_err(TestAlertError::Send)
}

/// Why `test-alert` failed.
#[derive(Debug, thiserror::Error)]
pub enum TestAlertError {
    #[error(transparent)]
    Notifier(crate::notify::NotifierError),
    #[error(transparent)]
    Send(crate::notify::SendError),
}

/// The digest `test-alert` sends.
pub fn test_digest(now: DateTime<Utc>) -> Digest {
    let row = |transition, severity, before, after, rule: &str, reason: &str| DigestRow {
        transition,
        severity,
        authorizer_id: Some("TEST-0001".to_string()),
        metadata: vec![("payment_amount".to_string(), "275.00".to_string())],
        balance_before: Some(Cents(before)),
        balance_after: Some(Cents(after)),
        rule: rule.to_string(),
        reason: reason.to_string(),
    };
    let rows = vec![
        row(
            Transition::Fired,
            Severity::Critical,
            123_456,
            -8_368,
            "negative_balance",
            "a test from balance-monitor: no authorizer is affected",
        ),
        row(
            Transition::Resolved,
            Severity::Warning,
            9_000,
            123_456,
            "balance_below",
            "a test from balance-monitor: no authorizer is affected",
        ),
    ];
    Digest {
        monitor: "test-alert".to_string(),
        run: None,
        run_time: now,
        zone: chrono_tz::UTC,
        firing: Digest::firing_from_rows(&rows),
        rows,
        test: true,
        fields: vec![FieldLabel {
            field: "payment_amount".to_string(),
            label: "Payment".to_string(),
            money: true,
        }],
    }
}
