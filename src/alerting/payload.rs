//! A queued notification's payload: the [`Digest`] as JSON in the outbox, and back.
//!
//! The payload is what the delivery worker sends, possibly days later and after
//! restarts, so it holds everything the message needs and nothing the configuration
//! could have changed since (the route's address and secret are read at delivery). It
//! names its run as `run_id`, which the reports and retention read. Money is integer
//! cents; times are RFC 3339 UTC. No personal data: authorizer ids and the monitor's
//! `alert_fields` only, as the digest holds them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Cents, RunId};
use crate::notify::{Digest, DigestRow, Transition};

use super::rows::severity_from_text;

/// The payload's format; a payload of another version is refused, not guessed at.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    version: u32,
    run_id: Option<i64>,
    monitor: String,
    run_time: DateTime<Utc>,
    zone: String,
    test: bool,
    rows: Vec<Row>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    transition: String,
    severity: String,
    authorizer_id: Option<String>,
    metadata: Vec<(String, String)>,
    balance_before_cents: Option<i64>,
    balance_after_cents: Option<i64>,
    rule: String,
    reason: String,
}

/// The digest as the outbox stores it.
pub fn encode(digest: &Digest) -> String {
    let payload = Payload {
        version: VERSION,
        run_id: digest.run.map(|run| run.0),
        monitor: digest.monitor.clone(),
        run_time: digest.run_time,
        zone: digest.zone.name().to_string(),
        test: digest.test,
        rows: digest
            .rows
            .iter()
            .map(|row| Row {
                transition: row.transition.as_str().to_string(),
                severity: row.severity.as_str().to_string(),
                authorizer_id: row.authorizer_id.clone(),
                metadata: row.metadata.clone(),
                balance_before_cents: row.balance_before.map(|c| c.0),
                balance_after_cents: row.balance_after.map(|c| c.0),
                rule: row.rule.clone(),
                reason: row.reason.clone(),
            })
            .collect(),
    };
    serde_json::to_string(&payload).expect("a payload of strings and numbers serializes")
}

/// Reads a stored payload back.
pub fn decode(text: &str) -> Result<Digest, String> {
    let payload: Payload =
        serde_json::from_str(text).map_err(|e| format!("unreadable payload: {e}"))?;
    if payload.version != VERSION {
        return Err(format!(
            "payload version {} is not {VERSION}",
            payload.version
        ));
    }
    let zone = payload
        .zone
        .parse()
        .map_err(|_| format!("unknown time zone {:?} in the payload", payload.zone))?;
    let rows = payload
        .rows
        .into_iter()
        .map(|row| {
            let transition = Transition::ALL
                .into_iter()
                .find(|t| t.as_str() == row.transition)
                .ok_or_else(|| format!("unknown transition {:?}", row.transition))?;
            let severity = severity_from_text(&row.severity)
                .ok_or_else(|| format!("unknown severity {:?}", row.severity))?;
            Ok(DigestRow {
                transition,
                severity,
                authorizer_id: row.authorizer_id,
                metadata: row.metadata,
                balance_before: row.balance_before_cents.map(Cents),
                balance_after: row.balance_after_cents.map(Cents),
                rule: row.rule,
                reason: row.reason,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Digest {
        monitor: payload.monitor,
        run: payload.run_id.map(RunId),
        run_time: payload.run_time,
        zone,
        rows,
        test: payload.test,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::Severity;

    #[test]
    fn a_digest_survives_the_round_trip() {
        let digest = Digest {
            monitor: "morning-ach".into(),
            run: Some(RunId(42)),
            run_time: Utc.with_ymd_and_hms(2026, 11, 2, 11, 30, 0).unwrap(),
            zone: chrono_tz::America::New_York,
            rows: vec![
                DigestRow {
                    transition: Transition::Fired,
                    severity: Severity::Critical,
                    authorizer_id: Some("A-1".into()),
                    metadata: vec![("loan_id".into(), "L-9".into())],
                    balance_before: Some(Cents(120_000)),
                    balance_after: Some(Cents(-8_368)),
                    rule: "negative_balance".into(),
                    reason: "balance -$83.68 is negative".into(),
                },
                DigestRow {
                    transition: Transition::Resolved,
                    severity: Severity::Warning,
                    authorizer_id: None,
                    metadata: vec![],
                    balance_before: None,
                    balance_after: None,
                    rule: "run_failed".into(),
                    reason: "the run completed".into(),
                },
            ],
            test: false,
        };
        let text = encode(&digest);
        assert!(text.contains("\"run_id\":42"), "{text}");
        assert_eq!(decode(&text).unwrap(), digest);
    }

    #[test]
    fn a_foreign_payload_is_refused_with_a_reason() {
        assert!(decode("{").unwrap_err().contains("unreadable payload"));
        let other = r#"{"version":2,"run_id":null,"monitor":"m","run_time":"2026-11-02T11:30:00Z","zone":"UTC","test":true,"rows":[]}"#;
        assert_eq!(decode(other).unwrap_err(), "payload version 2 is not 1");
    }
}
