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
use crate::notify::digest::{FieldLabel, FiringGroup};
use crate::notify::{Digest, DigestRow, Transition};

use super::rows::severity_from_text;

/// The payload's format. Version 2 added the firing counts and the field labels; a
/// version 1 payload (queued by an earlier release) is read with the counts its rows
/// show and plain field names. Any other version is refused, not guessed at.
const VERSION: u32 = 2;

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
    #[serde(default)]
    firing: Vec<Firing>,
    #[serde(default)]
    fields: Vec<Field>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Firing {
    rule: String,
    severity: String,
    count: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Field {
    field: String,
    label: String,
    money: bool,
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
        firing: digest
            .firing
            .iter()
            .map(|group| Firing {
                rule: group.rule.clone(),
                severity: group.severity.as_str().to_string(),
                count: group.count,
            })
            .collect(),
        fields: digest
            .fields
            .iter()
            .map(|field| Field {
                field: field.field.clone(),
                label: field.label.clone(),
                money: field.money,
            })
            .collect(),
    };
    serde_json::to_string(&payload).expect("a payload of strings and numbers serializes")
}

/// Reads a stored payload back.
pub fn decode(text: &str) -> Result<Digest, String> {
    let payload: Payload =
        serde_json::from_str(text).map_err(|e| format!("unreadable payload: {e}"))?;
    if !(1..=VERSION).contains(&payload.version) {
        return Err(format!(
            "payload version {} is not one of 1 to {VERSION}",
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
    let firing = match payload.version {
        1 => Digest::firing_from_rows(&rows),
        _ => payload
            .firing
            .into_iter()
            .map(|group| {
                Ok(FiringGroup {
                    severity: severity_from_text(&group.severity)
                        .ok_or_else(|| format!("unknown severity {:?}", group.severity))?,
                    rule: group.rule,
                    count: group.count,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
    };
    Ok(Digest {
        monitor: payload.monitor,
        run: payload.run_id.map(RunId),
        run_time: payload.run_time,
        zone,
        rows,
        test: payload.test,
        firing,
        fields: payload
            .fields
            .into_iter()
            .map(|field| FieldLabel {
                field: field.field,
                label: field.label,
                money: field.money,
            })
            .collect(),
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
            firing: vec![FiringGroup {
                rule: "negative_balance".into(),
                severity: Severity::Critical,
                count: 3,
            }],
            fields: vec![FieldLabel {
                field: "payment_amount".into(),
                label: "Payment".into(),
                money: true,
            }],
        };
        let text = encode(&digest);
        assert!(text.contains("\"run_id\":42"), "{text}");
        assert_eq!(decode(&text).unwrap(), digest);
    }

    #[test]
    fn a_foreign_payload_is_refused_with_a_reason() {
        assert!(decode("{").unwrap_err().contains("unreadable payload"));
        let other = r#"{"version":3,"run_id":null,"monitor":"m","run_time":"2026-11-02T11:30:00Z","zone":"UTC","test":true,"rows":[]}"#;
        assert_eq!(
            decode(other).unwrap_err(),
            "payload version 3 is not one of 1 to 2"
        );
    }

    #[test]
    fn a_version_1_payload_reads_with_the_counts_its_rows_show() {
        let v1 = r#"{"version":1,"run_id":7,"monitor":"m","run_time":"2026-11-02T11:30:00Z","zone":"UTC","test":false,"rows":[
            {"transition":"fired","severity":"critical","authorizer_id":"A-1","metadata":[["loan_id","L-1"]],"balance_before_cents":null,"balance_after_cents":-5,"rule":"negative_balance","reason":"r"},
            {"transition":"reminder","severity":"critical","authorizer_id":"A-2","metadata":[],"balance_before_cents":null,"balance_after_cents":-9,"rule":"negative_balance","reason":"r"}]}"#;
        let digest = decode(v1).unwrap();
        assert_eq!(
            digest.firing,
            vec![FiringGroup {
                rule: "negative_balance".into(),
                severity: Severity::Critical,
                count: 2
            }]
        );
        assert!(digest.fields.is_empty());
        assert_eq!(
            digest.counts().summary(),
            "1 new, 1 still firing (1 reminded now), 0 resolved"
        );
    }
}
