//! Silences, as Alertmanager has them: an operator's "no notifications about this
//! authorizer for a while", and what they do to a judgement's digests.
//!
//! A silence names one authorizer and, optionally, one monitor and one rule (a kind such
//! as `below_payment`, or one rule such as `balance_below#2`). It matches an alert only
//! when every matcher it has agrees: an alert about another authorizer, about the
//! monitor's runs, of another monitor or of another rule is never silenced.
//!
//! A silenced alert still fires, is reminded about and resolves in the store, as the
//! rules decide (they know nothing of silences); only the digests leave it out, so no
//! route hears of it while the silence lasts, and a digest left with no rows is not
//! queued. A firing or reminder transition left out marks the alert *held* in the
//! store. The first judgement after the silence has ended (it ran out, or was expired)
//! carries every still-firing held alert in its digests as fired, and clears the flag;
//! a restart in between changes nothing, since the flag and the silences are stored.
//!
//! What it does not do: decide what fires (`rules`), or keep rows (`store`).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use crate::notify::digest::FiringGroup;
use crate::notify::{DigestRow, Transition as DigestTransition};
use crate::rules::{RuleId, RuleType, RulesState, Transition, TransitionKind};
use crate::secret::Environment;
use crate::store::{HeldAlert, NewSilence, SilenceRecord};
use crate::text::Redactor;

use super::rows::severity_from_text;

/// The longest silence: a silence is a pause, not a way to switch a rule off.
pub const MAX_SILENCE: Duration = Duration::days(366);

/// The longest comment kept.
pub const MAX_COMMENT_CHARS: usize = 200;

/// Whether `silence` matches the alert of `rule` (its identity, `balance_below#1`)
/// about `authorizer` in `monitor`. Not whether it is in force: see
/// [`SilenceRecord::is_active`].
pub fn matches(
    silence: &SilenceRecord,
    monitor: &str,
    authorizer: Option<&str>,
    rule: &str,
) -> bool {
    let rule_matches = match &silence.silence.rule {
        None => true,
        Some(wanted) => {
            wanted == rule || rule.split_once('#').is_some_and(|(kind, _)| kind == wanted)
        }
    };
    authorizer == Some(silence.silence.authorizer_unique_id.as_str())
        && silence
            .silence
            .monitor
            .as_deref()
            .is_none_or(|m| m == monitor)
        && rule_matches
}

/// The silence in force at `at` that matches the alert, if any (the one that ends last).
pub fn silenced_by<'a>(
    silences: &'a [SilenceRecord],
    at: DateTime<Utc>,
    monitor: &str,
    authorizer: Option<&str>,
    rule: &str,
) -> Option<&'a SilenceRecord> {
    silences
        .iter()
        .filter(|s| s.is_active(at) && matches(s, monitor, authorizer, rule))
        .max_by_key(|s| s.silence.ends_at)
}

/// Why a silence was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SilenceError {
    #[error("--authorizer: an authorizer id is required")]
    NoAuthorizer,
    #[error("--rule: {0:?} is neither a rule kind ({kinds}) nor one rule such as balance_below#2", kinds = rule_kinds())]
    UnknownRule(String),
    #[error("--for: a silence lasts more than zero and at most 366 days")]
    Duration,
}

fn rule_kinds() -> String {
    RuleType::ALL
        .iter()
        .filter(|kind| !kind.is_about_runs())
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an operator asked for.
#[derive(Clone, Debug)]
pub struct SilenceRequest {
    pub authorizer: String,
    pub monitor: Option<String>,
    pub rule: Option<String>,
    pub duration: Duration,
    pub comment: String,
}

/// The silence to store for `request`, set by `created_by` at `now`. The comment is
/// kept to one line of [`MAX_COMMENT_CHARS`], with every run of four or more digits
/// removed (an operator's note must not carry an account number into the database).
pub fn new_silence(
    request: SilenceRequest,
    created_by: String,
    now: DateTime<Utc>,
) -> Result<NewSilence, SilenceError> {
    let authorizer = request.authorizer.trim().to_string();
    if authorizer.is_empty() {
        return Err(SilenceError::NoAuthorizer);
    }
    if let Some(rule) = &request.rule
        && RuleType::from_name(rule).is_none_or(RuleType::is_about_runs)
        && RuleId::parse(rule).is_none_or(|id| id.rule_type.is_about_runs())
    {
        return Err(SilenceError::UnknownRule(rule.clone()));
    }
    if request.duration <= Duration::zero() || request.duration > MAX_SILENCE {
        return Err(SilenceError::Duration);
    }
    let comment = crate::text::one_line(&Redactor::digit_runs().scrub(&request.comment));
    let comment: String = comment.chars().take(MAX_COMMENT_CHARS).collect();
    Ok(NewSilence {
        authorizer_unique_id: authorizer,
        monitor: request.monitor,
        rule: request.rule,
        starts_at: now,
        ends_at: now + request.duration,
        created_by,
        comment,
    })
}

/// The OS user running the command, from the environment `main` read (`USER`, else
/// `LOGNAME`), or `unknown`.
pub fn operator(env: &Environment) -> String {
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| env.var(name))
        .map(str::trim)
        .find(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// A judgement's digest rows once silences are applied.
#[derive(Debug, Default)]
pub(crate) struct Silenced {
    pub rows: Vec<DigestRow>,
    /// Open alerts a silence kept out, by fingerprint.
    pub held: Vec<String>,
    /// Held alerts these rows carry, by fingerprint.
    pub released: Vec<String>,
}

/// The digest rows of a judgement of `monitor` (its name): every announced transition
/// no silence in force at `now` matches, then each held alert that is still firing, no longer silenced and not
/// in the rows already. `fields` gives an authorizer's `alert_fields`, `balance` its
/// latest balance. [`DigestRows`] does the same a page of transitions at a time.
#[cfg(test)]
pub(crate) fn digest_rows(
    monitor: &str,
    transitions: &[Transition],
    held_before: Vec<HeldAlert>,
    silences: &[SilenceRecord],
    now: DateTime<Utc>,
    fields: impl Fn(&str) -> Vec<(String, String)>,
    balance: impl Fn(&str) -> Option<crate::domain::Cents>,
) -> Silenced {
    let mut rows = DigestRows::new(monitor, &held_before, silences, now);
    rows.add(transitions);
    rows.finish(held_before, fields, balance)
}

/// [`digest_rows`] built as a judgement goes: [`DigestRows::add`] for each page's
/// transitions, in order, [`DigestRows::add_first`] for the run alerts' (they lead),
/// then [`DigestRows::finish`] with the held alerts. It holds the rows, which a run's
/// announced transitions make, and the held alerts' fingerprints, never the list.
pub(crate) struct DigestRows<'s> {
    monitor: &'s str,
    silences: &'s [SilenceRecord],
    now: DateTime<Utc>,
    was_held: HashSet<String>,
    /// Held alerts this run has a transition for: the transition speaks for them.
    touched: HashSet<String>,
    /// Whether rows are kept: without a route no digest is written, only the marks.
    keep_rows: bool,
    out: Silenced,
}

impl<'s> DigestRows<'s> {
    pub(crate) fn new(
        monitor: &'s str,
        held_before: &[HeldAlert],
        silences: &'s [SilenceRecord],
        now: DateTime<Utc>,
    ) -> DigestRows<'s> {
        DigestRows {
            monitor,
            silences,
            now,
            was_held: held_before.iter().map(|h| h.fingerprint.clone()).collect(),
            touched: HashSet::new(),
            keep_rows: true,
            out: Silenced::default(),
        }
    }

    /// Keeps no rows, only the held and released marks (no route would read them).
    pub(crate) fn marks_only(self) -> DigestRows<'s> {
        DigestRows {
            keep_rows: false,
            ..self
        }
    }

    /// The rows of `transitions`, after those added before.
    pub(crate) fn add(&mut self, transitions: &[Transition]) {
        let rows = self.rows(transitions);
        self.out.rows.extend(rows);
    }

    /// The rows of `transitions`, before those added before.
    pub(crate) fn add_first(&mut self, transitions: &[Transition]) {
        let rows = self.rows(transitions);
        self.out.rows.splice(0..0, rows);
    }

    fn rows(&mut self, transitions: &[Transition]) -> Vec<DigestRow> {
        let mut rows = Vec::new();
        for t in transitions {
            let rule = t.rule().to_string();
            let fingerprint = t.fingerprint.to_string();
            if self.was_held.contains(fingerprint.as_str()) {
                self.touched.insert(fingerprint.clone());
            }
            if !t.notify {
                continue;
            }
            if silenced_by(
                self.silences,
                self.now,
                self.monitor,
                t.authorizer_id(),
                &rule,
            )
            .is_some()
            {
                if t.kind != TransitionKind::Resolved {
                    self.out.held.push(fingerprint);
                }
                continue;
            }
            if self.was_held.contains(fingerprint.as_str()) {
                self.out.released.push(fingerprint);
            }
            if !self.keep_rows {
                continue;
            }
            rows.push(DigestRow {
                transition: match t.kind {
                    TransitionKind::Fired => DigestTransition::Fired,
                    TransitionKind::Reminder => DigestTransition::Reminder,
                    TransitionKind::Resolved => DigestTransition::Resolved,
                },
                severity: t.severity,
                authorizer_id: t.authorizer_id().map(str::to_string),
                metadata: t.fields.clone(),
                balance_before: t.balance_before,
                balance_after: t.balance_after,
                rule: t.rule().rule_type.as_str().to_string(),
                reason: t.reason.clone(),
            });
        }
        rows
    }

    /// The rows, with each held alert still firing that no transition spoke for and no
    /// silence holds any more.
    pub(crate) fn finish(
        self,
        held_before: Vec<HeldAlert>,
        fields: impl Fn(&str) -> Vec<(String, String)>,
        balance: impl Fn(&str) -> Option<crate::domain::Cents>,
    ) -> Silenced {
        let DigestRows {
            monitor,
            silences,
            now,
            touched,
            keep_rows,
            mut out,
            ..
        } = self;
        for alert in held_before {
            let authorizer = alert.authorizer_unique_id.as_deref();
            if touched.contains(&alert.fingerprint)
                || silenced_by(silences, now, monitor, authorizer, &alert.rule).is_some()
            {
                continue;
            }
            let (Some(severity), Some(rule)) = (
                severity_from_text(&alert.severity),
                RuleId::parse(&alert.rule),
            ) else {
                continue;
            };
            out.released.push(alert.fingerprint.clone());
            if !keep_rows {
                continue;
            }
            let reason = alert.reason.unwrap_or_default();
            out.rows.push(DigestRow {
                transition: DigestTransition::Fired,
                severity,
                authorizer_id: alert.authorizer_unique_id.clone(),
                metadata: authorizer.map(&fields).unwrap_or_default(),
                balance_before: None,
                balance_after: authorizer.and_then(&balance),
                rule: rule.rule_type.as_str().to_string(),
                reason: format!("{reason} (held by a silence that has ended)"),
            });
        }
        out
    }
}

/// Adds `more` (counted over later subjects) to `groups`, keeping the order in which
/// each rule and severity first appeared.
pub(crate) fn add_firing_groups(groups: &mut Vec<FiringGroup>, more: Vec<FiringGroup>) {
    for group in more {
        match groups
            .iter_mut()
            .find(|g| g.rule == group.rule && g.severity == group.severity)
        {
            Some(existing) => existing.count += group.count,
            None => groups.push(group),
        }
    }
}

/// The alerts firing after a run that the routes are told of (every firing alert no
/// silence in force at `now` holds), counted by rule kind and severity: the digest's
/// "still firing" counts and PagerDuty's groups.
pub(crate) fn firing_groups(
    monitor: &str,
    state: &RulesState,
    silences: &[SilenceRecord],
    now: DateTime<Utc>,
) -> Vec<FiringGroup> {
    let mut groups: Vec<FiringGroup> = Vec::new();
    let subjects = state
        .authorizers
        .iter()
        .flat_map(|entry| entry.alerts.iter().map(|a| (Some(entry.id.as_str()), a)))
        .chain(state.run_alerts.iter().map(|a| (None, a)));
    for (authorizer, alert) in subjects {
        if !alert.phase.is_firing() {
            continue;
        }
        if !silences.is_empty()
            && silenced_by(silences, now, monitor, authorizer, &alert.rule.to_string()).is_some()
        {
            continue;
        }
        let rule = alert.rule.rule_type.as_str();
        match groups
            .iter_mut()
            .find(|g| g.rule == rule && g.severity == alert.severity)
        {
            Some(group) => group.count += 1,
            None => groups.push(FiringGroup {
                rule: rule.to_string(),
                severity: alert.severity,
                count: 1,
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn silence(monitor: Option<&str>, rule: Option<&str>) -> SilenceRecord {
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
        SilenceRecord {
            id: 1,
            silence: NewSilence {
                authorizer_unique_id: "A-1".into(),
                monitor: monitor.map(str::to_string),
                rule: rule.map(str::to_string),
                starts_at: start,
                ends_at: start + Duration::days(14),
                created_by: "ops".into(),
                comment: "payment plan".into(),
            },
            ended_early_at: None,
        }
    }

    #[test]
    fn a_silence_never_matches_more_than_its_matchers_say() {
        // (silence monitor, silence rule, alert monitor, alert authorizer, alert rule, matches)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
            &'a str,
            bool,
        );
        let cases: &[Case<'_>] = &[
            (None, None, "m", Some("A-1"), "below_payment#1", true),
            (None, None, "other", Some("A-1"), "negative_balance#1", true),
            (None, None, "m", Some("A-2"), "below_payment#1", false),
            (None, None, "m", Some("A-10"), "below_payment#1", false),
            (None, None, "m", Some("a-1"), "below_payment#1", false),
            (None, None, "m", None, "run_failed#1", false),
            (Some("m"), None, "m", Some("A-1"), "below_payment#1", true),
            (Some("m"), None, "m2", Some("A-1"), "below_payment#1", false),
            (
                None,
                Some("below_payment"),
                "m",
                Some("A-1"),
                "below_payment#2",
                true,
            ),
            (
                None,
                Some("below_payment"),
                "m",
                Some("A-1"),
                "balance_below#1",
                false,
            ),
            (
                None,
                Some("balance_below#2"),
                "m",
                Some("A-1"),
                "balance_below#2",
                true,
            ),
            (
                None,
                Some("balance_below#2"),
                "m",
                Some("A-1"),
                "balance_below#1",
                false,
            ),
            (
                None,
                Some("balance"),
                "m",
                Some("A-1"),
                "balance_below#1",
                false,
            ),
            (Some("m"), Some("stale"), "m", Some("A-1"), "stale#1", true),
            (Some("m"), Some("stale"), "m", Some("A-2"), "stale#1", false),
        ];
        for (monitor, rule, alert_monitor, authorizer, alert_rule, expected) in cases {
            assert_eq!(
                matches(
                    &silence(*monitor, *rule),
                    alert_monitor,
                    *authorizer,
                    alert_rule
                ),
                *expected,
                "silence {monitor:?}/{rule:?} against {alert_monitor}/{authorizer:?}/{alert_rule}"
            );
        }
    }

    #[test]
    fn a_silence_is_in_force_from_its_start_to_its_end() {
        let s = silence(None, None);
        assert!(!s.is_active(s.silence.starts_at - Duration::seconds(1)));
        assert!(s.is_active(s.silence.starts_at));
        assert!(s.is_active(s.silence.ends_at - Duration::seconds(1)));
        assert!(!s.is_active(s.silence.ends_at));
        let silences = [s.clone()];
        assert!(silenced_by(&silences, s.silence.ends_at, "m", Some("A-1"), "stale#1").is_none());
        assert!(silenced_by(&silences, s.silence.starts_at, "m", Some("A-1"), "stale#1").is_some());
    }

    #[test]
    fn a_request_is_checked_and_its_comment_scrubbed() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
        let request = |rule: Option<&str>, days: i64| SilenceRequest {
            authorizer: "A-1".into(),
            monitor: None,
            rule: rule.map(str::to_string),
            duration: Duration::days(days),
            comment: "plan for acct 12345678\nsecond line".into(),
        };
        let ok = new_silence(request(Some("below_payment"), 14), "ops".into(), now).unwrap();
        assert_eq!(ok.ends_at, now + Duration::days(14));
        assert!(!ok.comment.contains("12345678"), "{}", ok.comment);
        assert!(!ok.comment.contains('\n'), "{}", ok.comment);
        assert!(new_silence(request(Some("balance_below#2"), 1), "ops".into(), now).is_ok());
        let unknown = new_silence(request(Some("below"), 14), "ops".into(), now).unwrap_err();
        assert!(
            unknown.to_string().starts_with("--rule: \"below\""),
            "{unknown}"
        );
        assert_eq!(
            new_silence(request(Some("run_failed"), 14), "ops".into(), now).unwrap_err(),
            SilenceError::UnknownRule("run_failed".into())
        );
        assert_eq!(
            new_silence(request(None, 0), "ops".into(), now).unwrap_err(),
            SilenceError::Duration
        );
        assert_eq!(
            new_silence(request(None, 400), "ops".into(), now).unwrap_err(),
            SilenceError::Duration
        );
    }

    #[test]
    fn the_operator_is_the_os_user() {
        let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
        assert_eq!(operator(&env(&[("USER", "ops"), ("LOGNAME", "x")])), "ops");
        assert_eq!(operator(&env(&[("LOGNAME", "collections")])), "collections");
        assert_eq!(operator(&env(&[])), "unknown");
    }

    #[test]
    fn a_silenced_transition_is_held_and_carried_once_its_silence_has_ended() {
        use crate::config::Severity;
        use crate::domain::{Cents, RunId};
        use crate::rules::{Fingerprint, Subject};

        let s = silence(Some("m"), Some("check_failed"));
        let transition = |id: &str, kind| Transition {
            kind,
            notify: true,
            fingerprint: Fingerprint {
                monitor: "m".into(),
                rule: RuleId::new(RuleType::CheckFailed, 1),
                subject: Subject::Authorizer(id.into()),
            },
            run: RunId(1),
            at: s.silence.starts_at,
            firing_since: s.silence.starts_at,
            severity: Severity::Critical,
            reason: "check failed".into(),
            balance_before: None,
            balance_after: None,
            status_code: Some(3200),
            fields: Vec::new(),
        };
        let fired = [
            transition("A-1", TransitionKind::Fired),
            transition("A-2", TransitionKind::Fired),
        ];
        let during = s.silence.starts_at + Duration::hours(1);
        let none = |_: &str| Vec::new();
        let no_balance = |_: &str| None;
        let silences = [s.clone()];
        let out = digest_rows("m", &fired, Vec::new(), &silences, during, none, no_balance);
        let ids = |out: &Silenced| {
            out.rows
                .iter()
                .map(|r| r.authorizer_id.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&out), ["A-2"]);
        assert_eq!(out.held, ["m/check_failed#1/authorizer/A-1"]);
        assert!(out.released.is_empty());

        let held = vec![HeldAlert {
            fingerprint: "m/check_failed#1/authorizer/A-1".into(),
            authorizer_unique_id: Some("A-1".into()),
            rule: "check_failed#1".into(),
            severity: "critical".into(),
            reason: Some("check failed".into()),
        }];
        // Still silenced: nothing is carried, nothing released.
        let out = digest_rows("m", &[], held.clone(), &silences, during, none, no_balance);
        assert!(out.rows.is_empty() && out.released.is_empty());
        // Ended: carried as fired, with its latest balance, and released.
        let after = s.silence.ends_at;
        let out = digest_rows("m", &[], held, &silences, after, none, |_| {
            Some(Cents(-100))
        });
        assert_eq!(ids(&out), ["A-1"]);
        assert_eq!(out.rows[0].transition, DigestTransition::Fired);
        assert_eq!(out.rows[0].balance_after, Some(Cents(-100)));
        assert_eq!(out.released, ["m/check_failed#1/authorizer/A-1"]);
    }
}
