//! The `defaults` and `monitors` sections: each monitor's schedule and zone, catch-up
//! and grace, jitter, where its authorizers are, its rules (see `rules.rs`), its routes
//! (which must exist), the metadata fields its alerts may show (never personal data) and
//! its debit schedule (see `debits.rs`).
//!
//! A monitor's own setting wins over `defaults`. An inline authorizer list makes the
//! configuration file itself a personal-data file, so it must pass the same permission
//! rule as an authorizers file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::validator::{MAX_NAME_CHARS, Validator, is_identifier};
use crate::authorizers::{fields, permissions};
use crate::config::duration::format_duration;
use crate::config::model::{AuthorizerSource, CatchUp, InlineAuthorizer, Monitor, Route, Rule};
use crate::config::raw::{RawAlertField, RawAuthorizers, RawDefaults, RawMonitor, Text};
use crate::schedule::{Schedule, parse_zone};
use crate::yaml::Position;

/// The schema's fields that are not personal data on their own: the lender's own id, and
/// the coarse parts of an address (also common names for a lender's metadata).
const NOT_PERSONAL_COLUMNS: [&str; 3] = ["authorizer_unique_id", "state", "country"];

/// Names that are not schema fields but would carry one: the documented aliases a lender
/// might give personal data in its metadata.
const PERSONAL_ALIASES: [&str; 5] = ["name", "address", "phone", "dob", "card_number"];

/// Whether an alert field names personal data (case-insensitive): a field of the
/// schema's one list ([`fields::CSV_COLUMNS`]) other than [`NOT_PERSONAL_COLUMNS`], or one
/// of [`PERSONAL_ALIASES`].
fn is_personal_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.as_str();
    PERSONAL_ALIASES.contains(&name)
        || (fields::CSV_COLUMNS.contains(&name) && !NOT_PERSONAL_COLUMNS.contains(&name))
}

/// Settings inherited by monitors.
pub(super) struct Defaults {
    zone: chrono_tz::Tz,
    catch_up: CatchUp,
    grace: Duration,
    jitter: Duration,
    rules: Vec<Rule>,
    routes: Vec<String>,
    repeat_interval: Duration,
    send_resolved: bool,
    /// `(field, label)` pairs.
    alert_fields: Vec<(String, String)>,
}

impl Validator<'_> {
    pub(super) fn defaults(
        &mut self,
        raw: &RawDefaults,
        routes: &BTreeMap<String, Route>,
    ) -> Defaults {
        let zone = match &raw.timezone {
            Some(text) => parse_zone(&text.value).unwrap_or_else(|e| {
                self.at(text, "defaults.timezone", e);
                chrono_tz::UTC
            }),
            None => chrono_tz::UTC,
        };
        Defaults {
            zone,
            catch_up: raw.catch_up.unwrap_or(CatchUp::RunOnce),
            grace: self.duration(&raw.grace, "defaults.grace", Duration::from_secs(3600)),
            jitter: self.duration_in(
                &raw.jitter,
                "defaults.jitter",
                Duration::ZERO,
                Duration::ZERO,
                Duration::from_secs(3600),
            ),
            rules: raw
                .rules
                .as_ref()
                .map(|r| self.rules(r, "defaults.rules"))
                .unwrap_or_default(),
            routes: raw
                .routes
                .as_ref()
                .map(|r| self.route_refs(r, "defaults.routes", routes))
                .unwrap_or_default(),
            repeat_interval: self.duration(
                &raw.repeat_interval,
                "defaults.repeat_interval",
                Duration::from_secs(86_400),
            ),
            send_resolved: raw.send_resolved.unwrap_or(true),
            alert_fields: raw
                .alert_fields
                .as_ref()
                .map(|f| self.alert_fields(f, "defaults.alert_fields"))
                .unwrap_or_default(),
        }
    }

    fn route_refs(
        &mut self,
        refs: &[Text],
        key: &str,
        routes: &BTreeMap<String, Route>,
    ) -> Vec<String> {
        let names: Vec<&str> = routes.keys().map(String::as_str).collect();
        let mut out = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            if routes.contains_key(&r.value) {
                if !out.contains(&r.value) {
                    out.push(r.value.clone());
                }
            } else {
                let hint = match crate::yaml::did_you_mean(&r.value, &names) {
                    Some(best) => format!(", did you mean `{best}`?"),
                    None if names.is_empty() => {
                        " (no routes are defined under `routes`)".to_string()
                    }
                    None => format!(" (defined routes: {})", names.join(", ")),
                };
                self.at(
                    r,
                    format!("{key}[{i}]"),
                    format!("route `{}` does not exist{hint}", r.value),
                );
            }
        }
        out
    }

    /// `alert_fields`: each a field name, or `{ field, label }`; the label is the field
    /// name when none is given. Returns `(field, label)` pairs.
    fn alert_fields(
        &mut self,
        fields: &[Spanned<RawAlertField>],
        key: &str,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let (field, label) = match &f.value {
                RawAlertField::Name(name) => (name.as_str(), None),
                RawAlertField::Labelled(labelled) => {
                    (labelled.field.as_str(), labelled.label.as_deref())
                }
            };
            let name = field.strip_prefix("meta_").unwrap_or(field);
            if is_personal_field(name) {
                self.at(
                    f,
                    format!("{key}[{i}]"),
                    format!("`{name}` is personal data and may never appear in an alert"),
                );
            } else if !is_identifier(name) {
                self.at(
                    f,
                    format!("{key}[{i}]"),
                    format!("a metadata field name may use letters, digits, '-', '_' and '.' only, at most {MAX_NAME_CHARS} of them"),
                );
            } else if let Some(label) = label
                && (label.trim().is_empty()
                    || label.chars().count() > 64
                    || label.chars().any(char::is_control))
            {
                self.at(
                    f,
                    format!("{key}[{i}].label"),
                    "a label is 1 to 64 characters on one line",
                );
            } else {
                out.push((
                    name.to_string(),
                    label.map_or_else(|| name.to_string(), |l| l.trim().to_string()),
                ));
            }
        }
        out
    }

    pub(super) fn monitors(
        &mut self,
        raw: &[Spanned<RawMonitor>],
        defaults: &Defaults,
        routes: &BTreeMap<String, Route>,
    ) -> Vec<Monitor> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut monitors = Vec::new();
        for (i, spanned) in raw.iter().enumerate() {
            let m = &spanned.value;
            let key = format!("monitors[{i}]");
            let name = m.name.value.trim().to_string();
            if name.is_empty() || !is_identifier(&name) {
                self.at(&m.name, format!("{key}.name"), format!("a monitor name may use letters, digits, '-', '_' and '.' only, at least 1 and at most {MAX_NAME_CHARS} of them"));
            }
            if let Some(first) = seen.insert(name.clone(), i) {
                self.at(
                    &m.name,
                    format!("{key}.name"),
                    format!("duplicate monitor name `{name}` (also monitors[{first}])"),
                );
            }
            let zone = match &m.timezone {
                Some(text) => parse_zone(&text.value).unwrap_or_else(|e| {
                    self.at(text, format!("{key}.timezone"), e);
                    defaults.zone
                }),
                None => defaults.zone,
            };
            let schedule = match Schedule::parse(&m.schedule.value, zone) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.at(&m.schedule, format!("{key}.schedule"), e.to_string());
                    None
                }
            };
            if let Some(s) = &schedule {
                if s.next_after(chrono::Utc::now()).is_none() {
                    self.at(
                        &m.schedule,
                        format!("{key}.schedule"),
                        "this schedule never fires",
                    );
                } else if let Some(gap) =
                    s.shortest_gap_under(chrono::Utc::now(), chrono::Duration::hours(23))
                {
                    self.warn(
                        Some(Position::of(&m.schedule)),
                        &format!("{key}.schedule"),
                        format!(
                            "fires more than once a day (as little as {} apart); Rightfoot answers a byte-identical list within 24 h with its cached batch, so such runs get the earlier results back and are recorded as served_from_cache",
                            format_duration(gap.to_std().unwrap_or_default())
                        ),
                    );
                }
            }
            let catch_up = m.catch_up.unwrap_or(defaults.catch_up);
            let grace = self.duration(&m.grace, &format!("{key}.grace"), defaults.grace);
            let jitter = self.duration_in(
                &m.jitter,
                &format!("{key}.jitter"),
                defaults.jitter,
                Duration::ZERO,
                Duration::from_secs(3600),
            );
            let authorizers = self.authorizer_source(&m.authorizers, &format!("{key}.authorizers"));
            let rules = match &m.rules {
                Some(r) => self.rules(r, &format!("{key}.rules")),
                None => defaults.rules.clone(),
            };
            let route_names = match &m.routes {
                Some(r) => self.route_refs(r, &format!("{key}.routes"), routes),
                None => defaults.routes.clone(),
            };
            if rules.is_empty() {
                self.warn(
                    Some(Position::of(&m.name)),
                    &key,
                    format!("monitor `{name}` has no rules: results are stored but nothing alerts"),
                );
            } else if route_names.is_empty() {
                self.warn(Some(Position::of(&m.name)), &key, format!("monitor `{name}` has rules but no routes: alerts are recorded but sent nowhere"));
            }
            let repeat_interval = self.duration_in(
                &m.repeat_interval,
                &format!("{key}.repeat_interval"),
                defaults.repeat_interval,
                Duration::from_secs(60),
                Duration::from_secs(365 * 86_400),
            );
            let alert_fields = match &m.alert_fields {
                Some(f) => self.alert_fields(f, &format!("{key}.alert_fields")),
                None => defaults.alert_fields.clone(),
            };
            let debits = m
                .debits
                .as_ref()
                .and_then(|d| self.debits(d, &format!("{key}.debits"), zone));
            if let (Some(schedule), Some(authorizers)) = (schedule, authorizers) {
                monitors.push(Monitor {
                    name,
                    schedule,
                    catch_up,
                    grace,
                    jitter,
                    authorizers,
                    rules,
                    routes: route_names,
                    repeat_interval,
                    send_resolved: m.send_resolved.unwrap_or(defaults.send_resolved),
                    alert_fields: alert_fields.iter().map(|(f, _)| f.clone()).collect(),
                    alert_labels: alert_fields.into_iter().map(|(_, l)| l).collect(),
                    debits,
                });
            }
        }
        monitors
    }

    fn authorizer_source(
        &mut self,
        raw: &Spanned<RawAuthorizers>,
        key: &str,
    ) -> Option<AuthorizerSource> {
        let a = &raw.value;
        match (&a.csv, &a.yaml, &a.inline) {
            (Some(csv), None, None) => Some(AuthorizerSource::Csv(self.path(&csv.value))),
            (None, Some(yaml), None) => Some(AuthorizerSource::Yaml(self.path(&yaml.value))),
            (None, None, Some(items)) => {
                if items.is_empty() {
                    self.at(raw, format!("{key}.inline"), "the inline list is empty");
                    return None;
                }
                if let Err(e) = permissions::check_private(&self.file) {
                    self.at(raw, format!("{key}.inline"), e.to_string());
                }
                Some(AuthorizerSource::Inline(
                    items.iter().cloned().map(InlineAuthorizer).collect(),
                ))
            }
            (None, None, None) => {
                self.at(
                    raw,
                    key,
                    "give the authorizers as one of csv: PATH, yaml: PATH or inline: [...]",
                );
                None
            }
            _ => {
                self.at(raw, key, "give only one of csv, yaml or inline");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_are_the_schema_fields_and_their_aliases() {
        for personal in [
            "first_name",
            "street_address_line1",
            "Date_Of_Birth",
            "SSN",
            "debit_card_number",
            "cvv",
            "name",
            "dob",
            "card_number",
        ] {
            assert!(is_personal_field(personal), "{personal}");
        }
        for lender_field in ["loan_id", "payment_amount", "authorizer_unique_id", "state"] {
            assert!(!is_personal_field(lender_field), "{lender_field}");
        }
        let every_name = fields::CSV_COLUMNS.into_iter().chain(PERSONAL_ALIASES);
        assert_eq!(
            every_name.filter(|name| is_personal_field(name)).count(),
            21
        );
    }
}
