//! PagerDuty: Events API v2, paced, grouped so that a bad morning pages once per rule.
//!
//! **Grouped (the default).** One event per rule the digest speaks of: `trigger` while
//! the (monitor, rule) group has firing alerts after the run, with their count and the
//! top rows in `custom_details`; `resolve` when the group has none left and the digest
//! carries its resolutions (the monitor's `send_resolved`). `run_failed` is a rule, so
//! it is its own group.
//!
//! **Per authorizer** (`per_authorizer: true`). One event per alert row, in the
//! digest's order: `trigger` for a new or reminded alert, `resolve` for a resolved one.
//! Beyond `max_events_per_run`, the rest of the run's rows go as one event under the
//! monitor's `more` key (a trigger with their count while any of them fires, a resolve
//! otherwise), so one run can never send thousands of events.
//!
//! **Keys.** `dedup_key` is `balance-monitor:<monitor>:<rule>` for a group and
//! `balance-monitor:<monitor>:<rule>:<authorizer id>` for one alert: stable across
//! repeats, retries, restarts and an alert that resolves and fires again, so PagerDuty
//! never opens a second incident for it. A key longer than 255 characters is replaced
//! by `balance-monitor:` and its SHA-256. Monitor and rule names and the lender's own
//! authorizer ids are all it holds; no personal data exists in a digest to hold.
//!
//! **Payload.** `summary` (at most 1,024 characters), `source` (the host of
//! `http.public_url`, or `balance-monitor`), the route's mapped `severity`, `component`
//! (the monitor), `group` and `class` (the rule), and `custom_details` (ids,
//! `alert_fields`, balances and counts only). A run link is added when there is one.
//!
//! **Delivery.** Events are paced at most `rate_per_minute` per routing key. `2xx`
//! (PagerDuty answers `202`) is accepted; `429` and `5xx` are transient (a
//! `Retry-After` also holds the key's pace back); `400` is permanent and recorded with
//! PagerDuty's own message and errors. A notification's events are sent in order; the
//! ones accepted are remembered by the notifier ([`Progress`]) so a retry in the same
//! process resumes after them. After a restart every event is sent again under the same
//! keys, which PagerDuty deduplicates. Each request is bounded by the route's timeout.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::PagerDutyRoute;
use crate::notify::digest::{Digest, DigestRow, Transition};
use crate::notify::post::{Pacer, Post, post_json};
use crate::notify::{Delivered, Links, Notification, SendError, ServerAnswer, redactor};

/// PagerDuty's limits.
pub const MAX_DEDUP_KEY: usize = 255;
pub const MAX_SUMMARY: usize = 1024;
/// Rows of a group event's `custom_details.top`.
pub const TOP_ROWS: usize = 20;
/// The key's last part for the rows beyond `max_events_per_run`.
pub const MORE_KEY: &str = "more";

/// `trigger` or `resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Trigger,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Resolve => "resolve",
        }
    }
}

/// One event, without the routing key (which is added when it is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub dedup_key: String,
    pub action: Action,
    /// `payload` and the links for a trigger; `None` for a resolve.
    pub content: Option<Value>,
}

impl Event {
    /// The request body, with the routing key.
    pub fn body(&self, routing_key: &str) -> Bytes {
        let mut body = json!({
            "routing_key": routing_key,
            "event_action": self.action.as_str(),
            "dedup_key": self.dedup_key,
        });
        if let Some(Value::Object(content)) = &self.content {
            for (key, value) in content {
                body[key] = value.clone();
            }
        }
        Bytes::from(serde_json::to_vec(&body).expect("an event serializes"))
    }

    /// What identifies this event among a notification's, for [`Progress`].
    fn fingerprint(&self) -> [u8; 32] {
        let content = self
            .content
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        Sha256::digest(format!(
            "{}\0{}\0{content}",
            self.dedup_key,
            self.action.as_str()
        ))
        .into()
    }
}

/// `balance-monitor:<parts joined by :>`, or its SHA-256 when longer than 255.
pub fn dedup_key(parts: &[&str]) -> String {
    let key = format!("balance-monitor:{}", parts.join(":"));
    if key.chars().count() <= MAX_DEDUP_KEY {
        return key;
    }
    format!(
        "balance-monitor:{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

/// The events for `digest`, in the order they are sent.
pub fn events(route: &PagerDutyRoute, digest: &Digest, links: Links<'_>) -> Vec<Event> {
    let mut events = match route.per_authorizer {
        false => grouped(route, digest, links),
        true => per_alert(route, digest, links),
    };
    if digest.test {
        // A test closes what it opened.
        let opened: Vec<String> = events
            .iter()
            .filter(|e| e.action == Action::Trigger)
            .map(|e| e.dedup_key.clone())
            .collect();
        events.extend(opened.into_iter().map(|dedup_key| Event {
            dedup_key,
            action: Action::Resolve,
            content: None,
        }));
    }
    events
}

fn grouped(route: &PagerDutyRoute, digest: &Digest, links: Links<'_>) -> Vec<Event> {
    let ordered = digest.ordered_rows();
    digest
        .rule_groups()
        .into_iter()
        .filter_map(|group| {
            let key = dedup_key(&[&digest.monitor, &group.rule]);
            let rows: Vec<&DigestRow> = ordered
                .iter()
                .copied()
                .filter(|r| r.rule == group.rule)
                .collect();
            if group.count == 0 {
                let resolved = rows.iter().any(|r| r.transition == Transition::Resolved);
                return resolved.then_some(Event {
                    dedup_key: key,
                    action: Action::Resolve,
                    content: None,
                });
            }
            let summary = format!(
                "{}: {} firing ({})",
                digest.monitor,
                crate::text::count(group.count, &format!("{} alert", group.rule)),
                group.severity.as_str()
            );
            let firing: Vec<&DigestRow> = rows
                .into_iter()
                .filter(|r| r.transition != Transition::Resolved)
                .collect();
            Some(trigger(
                route,
                digest,
                links,
                Paged {
                    dedup_key: key,
                    summary,
                    severity: group.severity,
                    rule: &group.rule,
                    count: group.count,
                    rows: &firing,
                },
            ))
        })
        .collect()
}

fn per_alert(route: &PagerDutyRoute, digest: &Digest, links: Links<'_>) -> Vec<Event> {
    let ordered = digest.ordered_rows();
    let cut = ordered.len().min(route.max_events_per_run);
    let (each, rest) = ordered.split_at(cut);
    let mut events: Vec<Event> = each
        .iter()
        .map(|row| {
            let key = match &row.authorizer_id {
                Some(id) => dedup_key(&[&digest.monitor, &row.rule, id]),
                None => dedup_key(&[&digest.monitor, &row.rule]),
            };
            match row.transition {
                Transition::Resolved => Event {
                    dedup_key: key,
                    action: Action::Resolve,
                    content: None,
                },
                _ => trigger(
                    route,
                    digest,
                    links,
                    Paged {
                        dedup_key: key,
                        summary: format!(
                            "{}: {} {}: {}",
                            digest.monitor,
                            row.subject_text(),
                            row.rule,
                            crate::text::one_line(&row.reason)
                        ),
                        severity: row.severity,
                        rule: &row.rule,
                        count: 1,
                        rows: std::slice::from_ref(row),
                    },
                ),
            }
        })
        .collect();
    let firing: Vec<&DigestRow> = rest
        .iter()
        .copied()
        .filter(|r| r.transition != Transition::Resolved)
        .collect();
    let more_key = dedup_key(&[&digest.monitor, MORE_KEY]);
    if let Some(worst) = firing.iter().map(|r| r.severity).max() {
        let more_summary = format!(
            "{}: {} more firing beyond the {} paged one by one",
            digest.monitor,
            crate::text::count(firing.len(), "alert"),
            route.max_events_per_run
        );
        events.push(trigger(
            route,
            digest,
            links,
            Paged {
                dedup_key: more_key,
                summary: more_summary,
                severity: worst,
                rule: MORE_KEY,
                count: firing.len(),
                rows: &firing,
            },
        ));
    } else if !rest.is_empty() || digest.counts().firing() == 0 {
        events.push(Event {
            dedup_key: more_key,
            action: Action::Resolve,
            content: None,
        });
    }
    events
}

/// What one trigger is about: a rule's group, one alert, or the rest of a run.
struct Paged<'a> {
    dedup_key: String,
    summary: String,
    severity: crate::config::Severity,
    rule: &'a str,
    /// Firing alerts it stands for.
    count: usize,
    /// The rows to show first in `custom_details.top`.
    rows: &'a [&'a DigestRow],
}

fn trigger(route: &PagerDutyRoute, digest: &Digest, links: Links<'_>, paged: Paged<'_>) -> Event {
    let Paged {
        dedup_key,
        summary,
        severity,
        rule,
        count,
        rows,
    } = paged;
    let test = if digest.test { "[TEST] " } else { "" };
    let columns = digest.columns();
    let top: Vec<Value> = rows
        .iter()
        .take(TOP_ROWS)
        .map(|row| {
            let fields: serde_json::Map<String, Value> = columns
                .iter()
                .filter_map(|c| Some((c.label.clone(), Value::String(row.field_text(c)?))))
                .collect();
            json!({
                "authorizer_id": row.authorizer_id,
                "severity": row.severity.as_str(),
                "transition": row.transition.as_str(),
                "balance": row.balance_change_text(),
                "fields": fields,
                "reason": row.reason,
            })
        })
        .collect();
    let source = links
        .public_url
        .and_then(|u| u.host_str())
        .unwrap_or("balance-monitor");
    let mut content = json!({
        "client": "balance-monitor",
        "payload": {
            "summary": cut(&format!("{test}{summary}"), MAX_SUMMARY),
            "source": source,
            "severity": route.severity_for(severity).as_str(),
            "component": digest.monitor,
            "group": rule,
            "class": rule,
            "custom_details": {
                "monitor": digest.monitor,
                "rule": rule,
                "firing": count,
                "run": digest.run_text(),
                "run_time": digest.run_time_text(),
                "counts": digest.counts().summary(),
                "top": top,
                "more": count.saturating_sub(top.len()),
            },
        },
    });
    if let Some(url) = links.run(digest.run) {
        content["client_url"] = json!(url.as_str());
        content["links"] = json!([{ "href": url.as_str(), "text": digest.run_text() }]);
    }
    Event {
        dedup_key,
        action: Action::Trigger,
        content: Some(content),
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// The events of each notification PagerDuty has accepted, by idempotency key, so a
/// retry in the same process resumes after them. Shared by the notifier's clones;
/// forgotten once the notification is delivered.
#[derive(Clone, Debug, Default)]
pub(crate) struct Progress {
    accepted: Arc<Mutex<HashMap<String, HashSet<[u8; 32]>>>>,
}

impl Progress {
    fn is_accepted(&self, key: &str, event: &Event) -> bool {
        let accepted = self.accepted.lock().expect("never poisoned");
        accepted
            .get(key)
            .is_some_and(|set| set.contains(&event.fingerprint()))
    }

    fn accept(&self, key: &str, event: &Event) {
        let mut accepted = self.accepted.lock().expect("never poisoned");
        if accepted.len() >= 1024 && !accepted.contains_key(key) {
            accepted.clear();
        }
        accepted
            .entry(key.to_string())
            .or_default()
            .insert(event.fingerprint());
    }

    fn forget(&self, key: &str) {
        self.accepted.lock().expect("never poisoned").remove(key);
    }
}

/// What sending to PagerDuty needs of the notifier.
pub(crate) struct Sender<'a> {
    pub http: &'a reqwest::Client,
    pub pacer: &'a Pacer,
    pub progress: &'a Progress,
}

impl Sender<'_> {
    /// Sends the digest's events in order, paced; stops at the first one refused.
    pub async fn send(
        &self,
        route: &PagerDutyRoute,
        notification: Notification<'_>,
    ) -> Result<Delivered, SendError> {
        let name = notification.route;
        let key = route.routing_key.expose();
        let interval = Duration::from_secs(60) / route.rate_per_minute.max(1);
        let scrub = redactor(Some(&route.routing_key));
        let mut sent = 0;
        let mut last: Option<ServerAnswer> = None;
        for event in events(route, notification.digest, notification.links) {
            if self
                .progress
                .is_accepted(notification.idempotency_key, &event)
            {
                continue;
            }
            self.pacer.wait(key, interval).await;
            let answer = post_json(
                self.http,
                route.events_url.clone(),
                event.body(key),
                Post {
                    route: name,
                    service: "pagerduty",
                    timeout: route.timeout,
                    redactor: &scrub,
                    now: notification.now,
                },
            )
            .await?;
            let status = answer.answer.status;
            if (200..300).contains(&status) {
                self.progress.accept(notification.idempotency_key, &event);
                sent += 1;
                last = Some(answer.answer);
                continue;
            }
            if let Some(wait) = answer.retry_after {
                self.pacer.hold(key, wait);
            }
            let transient = status == 429 || status == 408 || status >= 500;
            let excerpt = error_message(&answer.body).or(answer.answer.excerpt);
            return Err(SendError::ServiceStatus {
                route: name.to_string(),
                service: "pagerduty",
                answer: ServerAnswer { status, excerpt },
                retry_after: answer.retry_after,
                permanent: !transient,
            });
        }
        self.progress.forget(notification.idempotency_key);
        Ok(Delivered::Service {
            service: "pagerduty",
            requests: sent,
            answer: last.unwrap_or(ServerAnswer {
                status: 202,
                excerpt: Some("every event was accepted before".to_string()),
            }),
        })
    }
}

/// PagerDuty's `message: error, error` from an error body, one line.
fn error_message(body: &str) -> Option<String> {
    let json: Value = serde_json::from_str(body).ok()?;
    let message = json.get("message")?.as_str()?;
    let errors: Vec<&str> = json
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let text = match errors.is_empty() {
        true => message.to_string(),
        false => format!("{message}: {}", errors.join("; ")),
    };
    Some(cut(&crate::text::one_line(&text), 300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PagerDutySeverity, Severity};
    use crate::notify::digest::FiringGroup;
    use crate::notify::digest::tests::{digest, row};
    use crate::secret::Secret;

    fn route(per_authorizer: bool) -> PagerDutyRoute {
        PagerDutyRoute {
            routing_key: Secret::new("R0UTINGKEY"),
            events_url: "http://127.0.0.1:9/v2/enqueue".parse().unwrap(),
            severity: [
                PagerDutySeverity::Critical,
                PagerDutySeverity::Warning,
                PagerDutySeverity::Info,
            ],
            per_authorizer,
            max_events_per_run: 2,
            rate_per_minute: 120,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn groups_trigger_while_firing_and_resolve_when_none_is_left() {
        use Transition::*;
        let mut d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            row(Reminder, Severity::Warning, Some("A-2"), "balance_below"),
            row(Resolved, Severity::Warning, Some("A-3"), "stale"),
        ]);
        d.firing = vec![
            FiringGroup {
                rule: "negative_balance".into(),
                severity: Severity::Critical,
                count: 4,
            },
            FiringGroup {
                rule: "balance_below".into(),
                severity: Severity::Warning,
                count: 7,
            },
        ];
        let events = events(&route(false), &d, Links::default());
        let summary: Vec<(&str, Action)> = events
            .iter()
            .map(|e| (e.dedup_key.as_str(), e.action))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "balance-monitor:morning-ach:negative_balance",
                    Action::Trigger
                ),
                ("balance-monitor:morning-ach:balance_below", Action::Trigger),
                ("balance-monitor:morning-ach:stale", Action::Resolve),
            ]
        );
        let body: Value = serde_json::from_slice(&events[1].body("K")).unwrap();
        assert_eq!(body["routing_key"], "K");
        assert_eq!(body["payload"]["severity"], "warning");
        assert_eq!(body["payload"]["component"], "morning-ach");
        assert_eq!(body["payload"]["custom_details"]["firing"], 7);
        assert_eq!(body["payload"]["custom_details"]["more"], 6);
    }

    #[test]
    fn per_alert_events_stop_at_the_limit_and_the_rest_is_one_event() {
        use Transition::*;
        let d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            row(Fired, Severity::Critical, Some("A-2"), "negative_balance"),
            row(Fired, Severity::Warning, Some("A-3"), "balance_below"),
            row(Fired, Severity::Warning, Some("A-4"), "balance_below"),
        ]);
        let events = events(&route(true), &d, Links::default());
        let keys: Vec<&str> = events.iter().map(|e| e.dedup_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "balance-monitor:morning-ach:negative_balance:A-1",
                "balance-monitor:morning-ach:negative_balance:A-2",
                "balance-monitor:morning-ach:more",
            ]
        );
        let more: Value = serde_json::from_slice(&events[2].body("K")).unwrap();
        assert_eq!(more["payload"]["custom_details"]["firing"], 2);
        assert_eq!(more["payload"]["severity"], "warning");
    }

    #[test]
    fn keys_are_bounded_and_summaries_cut() {
        let long = "x".repeat(300);
        let key = dedup_key(&["m", "r", &long]);
        assert!(key.len() <= MAX_DEDUP_KEY);
        assert_eq!(key, dedup_key(&["m", "r", &long]), "stable");
        assert!(!key.contains("xxx"));
        assert_eq!(
            cut(&"y".repeat(2000), MAX_SUMMARY).chars().count(),
            MAX_SUMMARY
        );
    }

    #[test]
    fn error_bodies_read_as_pagerdutys_message() {
        let body = r#"{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}"#;
        assert_eq!(
            error_message(body).unwrap(),
            "Event object is invalid: 'payload.summary' is missing"
        );
        assert_eq!(error_message("not json"), None);
    }
}
