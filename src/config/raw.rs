//! The configuration file as written: serde structs that mirror the YAML one to one.
//!
//! Every struct denies unknown keys, and every value that a later check may reject is
//! `Spanned`, so the error can point at its line and column. Durations, money, zones,
//! crons and URLs are still text, which `validate/` turns into the precise types of
//! `model.rs`. A closed set of words (`transport`, `tls`, `severity`, `catch_up`) is a
//! serde enum instead: the parser refuses any other word with its position, its key
//! and the allowed words.
//!
//! A literal secret (`api_key: rf_live_...`) is accepted by the parser only so that
//! validation can refuse it with a message that says what to write instead.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::model::{CatchUp, PagerDutySeverity, Severity, SmtpTls};
use crate::domain::Decision;

pub type Text = Spanned<String>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub rightfoot: RawRightfoot,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub routes: BTreeMap<String, Spanned<RawRoute>>,
    #[serde(default)]
    pub monitors: Vec<Spanned<RawMonitor>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRightfoot {
    pub base_url: Option<Text>,
    pub api_key: Option<Spanned<IgnoredAny>>,
    pub api_key_file: Option<Text>,
    pub api_key_env: Option<Text>,
    pub connect_timeout: Option<Text>,
    pub request_timeout: Option<Text>,
    pub poll_interval: Option<Text>,
    pub result_deadline: Option<Text>,
    pub not_found_grace: Option<Text>,
    pub max_batch_size: Option<Spanned<u64>>,
    pub max_in_flight_batches: Option<Spanned<u64>>,
    pub completion_webhook: Option<Spanned<RawCompletionWebhook>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompletionWebhook {
    pub public_url: Text,
    pub token: Option<Spanned<IgnoredAny>>,
    pub token_file: Option<Text>,
    pub token_env: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub path: Option<Text>,
    pub retention: Option<Text>,
    pub postgres: Option<Spanned<RawPostgres>>,
}

/// `storage.postgres`: the database server instead of an SQLite file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPostgres {
    /// Refused: the URL may hold a password.
    pub url: Option<Spanned<IgnoredAny>>,
    pub url_file: Option<Text>,
    pub url_env: Option<Text>,
    pub pool_size: Option<Spanned<u64>>,
    pub lease: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<Text>,
    pub token: Option<Spanned<IgnoredAny>>,
    pub token_file: Option<Text>,
    pub token_env: Option<Text>,
    /// Where people reach this daemon's pages; digests link to them.
    pub public_url: Option<Text>,
    pub session_ttl: Option<Text>,
}

/// Settings every monitor inherits unless it sets its own.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    // What a monitor's alerting inherits.
    pub rules: Option<Vec<Spanned<RawRule>>>,
    pub routes: Option<Vec<Text>>,
    pub repeat_interval: Option<Text>,
    pub send_resolved: Option<bool>,
    pub alert_fields: Option<Vec<Spanned<RawAlertField>>>,
    // What its schedule inherits.
    pub timezone: Option<Text>,
    pub catch_up: Option<CatchUp>,
    pub grace: Option<Text>,
    pub jitter: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    pub name: Text,
    pub schedule: Text,
    pub timezone: Option<Text>,
    pub catch_up: Option<CatchUp>,
    pub grace: Option<Text>,
    pub jitter: Option<Text>,
    pub authorizers: Spanned<RawAuthorizers>,
    pub rules: Option<Vec<Spanned<RawRule>>>,
    pub routes: Option<Vec<Text>>,
    pub repeat_interval: Option<Text>,
    pub send_resolved: Option<bool>,
    pub alert_fields: Option<Vec<Spanned<RawAlertField>>>,
    pub debits: Option<Spanned<RawDebits>>,
}

/// A monitor's debit schedule: exactly one of `csv` or `from_metadata`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDebits {
    pub csv: Option<Text>,
    pub from_metadata: Option<Spanned<RawFromMetadata>>,
    pub due_within: Option<Spanned<u64>>,
    pub cutoff: Option<Text>,
    pub margin: Option<Text>,
    pub fresh_for: Option<Text>,
    pub extra_holidays: Option<Vec<Text>>,
    pub recheck: Option<Spanned<RawRecheck>>,
}

/// One debit per authorizer, from two of the authorizer file's metadata columns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFromMetadata {
    pub date: Text,
    pub amount: Text,
}

/// The second, smaller phase before the cut-off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecheck {
    pub schedule: Text,
    pub only: Option<Vec<Decision>>,
}

/// Exactly one of the three sources.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorizers {
    pub csv: Option<Text>,
    pub yaml: Option<Text>,
    pub inline: Option<Vec<Spanned<serde_json::Value>>>,
}

/// An entry of `alert_fields`: a field name, or `{ field: payment_amount, label:
/// Payment }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawAlertField {
    Name(String),
    Labelled(RawLabelledField),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabelledField {
    pub field: String,
    pub label: Option<String>,
}

/// A named alert destination: exactly one of `email`, `webhook`, `slack`, `teams` or
/// `pagerduty`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub email: Option<RawEmail>,
    pub webhook: Option<RawWebhook>,
    pub slack: Option<RawChatWebhook>,
    pub teams: Option<RawChatWebhook>,
    pub pagerduty: Option<RawPagerDuty>,
    pub max_rows: Option<Spanned<u64>>,
    pub give_up_after: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub transport: Option<Spanned<RawTransport>>,
    pub from: Text,
    pub to: Vec<Text>,
    pub smtp_host: Option<Text>,
    pub smtp_port: Option<Spanned<u64>>,
    pub tls: Option<Spanned<SmtpTls>>,
    pub username: Option<Text>,
    pub password: Option<Spanned<IgnoredAny>>,
    pub password_file: Option<Text>,
    pub password_env: Option<Text>,
    pub timeout: Option<Text>,
    pub sendmail_command: Option<Text>,
    pub directory: Option<Text>,
}

/// How an email route sends: the word under `transport`. The validated
/// `EmailTransport` carries each one's settings.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawTransport {
    Smtp,
    Sendmail,
    File,
}

impl RawTransport {
    /// The word the configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RawTransport::Smtp => "smtp",
            RawTransport::Sendmail => "sendmail",
            RawTransport::File => "file",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Text,
    pub secret: Option<Spanned<IgnoredAny>>,
    pub secret_file: Option<Text>,
    pub secret_env: Option<Text>,
    pub timeout: Option<Text>,
}

/// A Slack incoming webhook or a Teams Workflows webhook: the URL is a bearer secret,
/// so only `webhook_url_file` or `webhook_url_env` is accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChatWebhook {
    pub webhook_url: Option<Spanned<IgnoredAny>>,
    pub webhook_url_file: Option<Text>,
    pub webhook_url_env: Option<Text>,
    pub timeout: Option<Text>,
}

/// PagerDuty's Events API v2.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDuty {
    pub routing_key: Option<Spanned<IgnoredAny>>,
    pub routing_key_file: Option<Text>,
    pub routing_key_env: Option<Text>,
    pub events_url: Option<Text>,
    pub severity: Option<RawPagerDutySeverity>,
    pub per_authorizer: Option<bool>,
    pub max_events_per_run: Option<Spanned<u64>>,
    pub rate_per_minute: Option<Spanned<u64>>,
    pub timeout: Option<Text>,
}

/// Which PagerDuty severity each of ours maps to.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDutySeverity {
    pub critical: Option<PagerDutySeverity>,
    pub warning: Option<PagerDutySeverity>,
    pub info: Option<PagerDutySeverity>,
}

/// A rule, written as a one-key map: `- balance_below: { amount: 150.00 }`.
///
/// The common options are repeated in each variant rather than flattened, because a
/// flattened struct cannot deny unknown keys and loses positions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawRule {
    BalanceBelow {
        amount: Text,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    BelowPayment {
        field: Text,
        margin: Option<Text>,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    DropPercent {
        percent: Text,
        window: Option<Text>,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    DropAmount {
        amount: Text,
        window: Option<Text>,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    NegativeBalance {
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    CheckFailed {
        codes: Option<Spanned<serde_json::Value>>,
        consecutive: Option<Spanned<u64>>,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    Stale {
        after: Text,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
    RunFailed {
        not_retrieved_percent: Option<Text>,
        severity: Option<Severity>,
        for_runs: Option<Spanned<u64>>,
        resolve_after_runs: Option<Spanned<u64>>,
    },
}
