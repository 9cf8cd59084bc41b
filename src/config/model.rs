//! The validated configuration: precise types, defaults applied, secrets resolved.
//!
//! A value of these types has passed every check in `validate/`, so the rest of the
//! daemon never re-checks ranges or parses text. Rule and route types are defined here
//! because the configuration is where they are written; the alerting code evaluates
//! and delivers them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use crate::authorizers::source::{AuthorizerSource, InlineAuthorizer};
use crate::domain::{BusinessCalendar, Cents, Decision};
use crate::schedule::Schedule;
use crate::secret::Secret;
use crate::store::{PostgresOptions, Store, StoreError};

/// The whole configuration, ready to use.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from.
    pub file: PathBuf,
    pub rightfoot: RightfootConfig,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub routes: BTreeMap<String, Route>,
    pub monitors: Vec<Monitor>,
    /// Things that work but are probably not what the user meant.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RightfootConfig {
    pub base_url: Url,
    pub api_key: Secret,
    /// Where the key comes from, for messages (`api_key_env: RIGHTFOOT_API_KEY` or
    /// `api_key_file: PATH`); never the key itself.
    pub api_key_source: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How often a submitted batch is polled for results (30-60 s against Rightfoot).
    pub poll_interval: Duration,
    /// How long after `submitted_at` results are awaited before the missing ones are
    /// recorded as not retrieved: the 1 h SLA plus a margin.
    pub result_deadline: Duration,
    /// How long a 404 for a just-created batch is read as "not ready yet".
    pub not_found_grace: Duration,
    pub max_batch_size: usize,
    pub max_in_flight_batches: usize,
    pub completion_webhook: Option<CompletionWebhook>,
}

/// Rightfoot's `BALANCE_BATCH_COMPLETED` webhook, received by the daemon's listener.
#[derive(Debug, Clone)]
pub struct CompletionWebhook {
    /// The public URL Rightfoot posts to; the token is added as a query parameter.
    pub public_url: Url,
    pub token: Secret,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The SQLite file; unused when `postgres` is set.
    pub path: PathBuf,
    /// Runs and results older than this are pruned; `None` keeps history forever.
    pub retention: Option<Duration>,
    /// `storage.postgres`: the store is this PostgreSQL database, not the file.
    pub postgres: Option<PostgresConfig>,
}

/// `storage.postgres`, validated.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// The connection URL, which may hold the password.
    pub url: Secret,
    /// `postgres://user@host:port/db`: the URL without its password, for messages.
    pub location: String,
    pub pool_size: usize,
    /// The leadership lease of the daemons sharing the database, renewed every third
    /// of it (`storage.postgres.lease`; a restart applies a change).
    pub lease: Duration,
}

impl StorageConfig {
    /// The store, for messages: the SQLite file's path or the PostgreSQL location.
    pub fn describe(&self) -> String {
        match &self.postgres {
            Some(postgres) => postgres.location.clone(),
            None => self.path.display().to_string(),
        }
    }

    /// Opens the configured store: connects to PostgreSQL and migrates it, or opens (and
    /// creates) the SQLite file. The SQLite open blocks briefly (file I/O).
    pub async fn open_store(&self) -> Result<Store, StoreError> {
        match &self.postgres {
            Some(postgres) => {
                let options = PostgresOptions {
                    pool_size: postgres.pool_size,
                };
                Store::open_postgres(postgres.url.expose(), &options).await
            }
            None => Store::open(&self.path),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Required for a non-loopback `listen`; then every endpoint but `/healthz` needs it.
    pub token: Option<Secret>,
    /// Where people reach this daemon's pages (`https://monitor.lender.example/`):
    /// digests link each row to `<public_url>authorizers/<id>` and the digest to
    /// `<public_url>runs/<run>`. Always ends with `/`.
    pub public_url: Option<Url>,
    /// How long a dashboard session lasts after `/login` (`http.session_ttl`, 12 h by
    /// default).
    pub session_ttl: Duration,
}

/// How long a dashboard session lasts unless `http.session_ttl` says otherwise.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// What to do about slots that passed while the daemon was down. Written `skip` or
/// `run_once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Record missed slots as missed and wait for the next one.
    Skip,
    /// Run the most recent missed slot once, if it is still within `grace`.
    RunOnce,
}

impl CatchUp {
    /// The word the configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Skip => "skip",
            CatchUp::RunOnce => "run_once",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Monitor {
    pub name: String,
    pub schedule: Schedule,
    pub catch_up: CatchUp,
    pub grace: Duration,
    pub jitter: Duration,
    pub authorizers: AuthorizerSource,
    pub rules: Vec<Rule>,
    pub routes: Vec<String>,
    pub repeat_interval: Duration,
    pub send_resolved: bool,
    /// Metadata keys that may appear in alerts beside the authorizer id.
    pub alert_fields: Vec<String>,
    /// The label each of `alert_fields` is shown under (the field name when none was
    /// given), in `alert_fields` order.
    pub alert_labels: Vec<String>,
    /// The debit schedule: when present, a run checks only the authorizers with a
    /// debit due soon, and decides each debit.
    pub debits: Option<Debits>,
}

/// A monitor's `debits:` section, validated.
#[derive(Debug, Clone)]
pub struct Debits {
    pub source: DebitSource,
    /// Business days ahead, counted from a run's local date, whose debits are checked.
    pub due_within: u32,
    /// The lender's ACH submission cut-off, in the monitor's zone.
    pub cutoff: chrono::NaiveTime,
    /// A balance must cover the amount plus this to be sent.
    pub margin: Cents,
    /// An older balance is not evidence.
    pub fresh_for: Duration,
    /// The FedACH calendar with the lender's `extra_holidays`.
    pub calendar: BusinessCalendar,
    pub recheck: Option<Recheck>,
}

/// Where a monitor's debits come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DebitSource {
    /// `authorizer_unique_id,debit_id,debit_date,amount`, re-read at each run.
    Csv(PathBuf),
    /// One debit per authorizer from its metadata: the keys (without `meta_`) of the
    /// date and the amount.
    FromMetadata { date: String, amount: String },
}

/// The recheck phase: its own schedule (in the monitor's zone), over the debits whose
/// current decision is in `only`.
#[derive(Debug, Clone)]
pub struct Recheck {
    pub schedule: Schedule,
    pub only: Vec<Decision>,
}

impl Monitor {
    /// Whether judging this monitor's runs reads the lender's metadata: a
    /// `below_payment` rule, or `alert_fields` to show.
    pub fn needs_metadata(&self) -> bool {
        !self.alert_fields.is_empty()
            || self
                .rules
                .iter()
                .any(|rule| matches!(rule.kind, RuleKind::BelowPayment { .. }))
    }
}

/// Written `info`, `warning` or `critical`, as [`Severity::as_str`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A detection rule with its lifecycle options.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub severity: Severity,
    /// The condition must hold this many consecutive runs before the alert fires.
    pub for_runs: u32,
    /// The condition must be clear this many consecutive runs before it resolves.
    pub resolve_after_runs: u32,
}

/// Percentages are held in basis points (hundredths of a percent): 12.5% is 1250.
pub type BasisPoints = u32;

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    BalanceBelow {
        amount: Cents,
    },
    /// Below the authorizer's own payment amount (a metadata field) plus a margin.
    BelowPayment {
        field: String,
        margin: Cents,
    },
    DropPercent {
        percent: BasisPoints,
        window: Option<Duration>,
    },
    DropAmount {
        amount: Cents,
        window: Option<Duration>,
    },
    NegativeBalance,
    CheckFailed {
        /// `None` means any failure code.
        codes: Option<Vec<u32>>,
        consecutive: u32,
    },
    Stale {
        after: Duration,
    },
    RunFailed {
        not_retrieved_percent: BasisPoints,
    },
}

impl RuleKind {
    /// The name the configuration uses for this kind of rule.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::BalanceBelow { .. } => "balance_below",
            RuleKind::BelowPayment { .. } => "below_payment",
            RuleKind::DropPercent { .. } => "drop_percent",
            RuleKind::DropAmount { .. } => "drop_amount",
            RuleKind::NegativeBalance => "negative_balance",
            RuleKind::CheckFailed { .. } => "check_failed",
            RuleKind::Stale { .. } => "stale",
            RuleKind::RunFailed { .. } => "run_failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub target: RouteTarget,
    /// A digest lists at most this many rows, then "and N more".
    pub max_rows: usize,
    /// How long the outbox keeps retrying a notification that fails transiently
    /// before it records it as failed.
    pub give_up_after: Duration,
}

impl Route {
    /// The default [`Route::give_up_after`].
    pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
}

#[derive(Debug, Clone)]
pub enum RouteTarget {
    Email(EmailRoute),
    Webhook(WebhookRoute),
    Slack(ChatRoute),
    Teams(ChatRoute),
    PagerDuty(PagerDutyRoute),
}

impl RouteTarget {
    /// `email`, `webhook`, `slack`, `teams` or `pagerduty`: the key that configures it.
    pub fn kind(&self) -> &'static str {
        match self {
            RouteTarget::Email(_) => "email",
            RouteTarget::Webhook(_) => "webhook",
            RouteTarget::Slack(_) => "slack",
            RouteTarget::Teams(_) => "teams",
            RouteTarget::PagerDuty(_) => "pagerduty",
        }
    }
}

/// A Slack incoming webhook or a Teams Workflows webhook. The URL is a bearer secret:
/// it is kept as a [`Secret`] and parsed when a message is sent.
#[derive(Debug, Clone)]
pub struct ChatRoute {
    pub webhook_url: Secret,
    pub timeout: Duration,
}

/// PagerDuty's Events API v2.
#[derive(Debug, Clone)]
pub struct PagerDutyRoute {
    pub routing_key: Secret,
    pub events_url: Url,
    /// Our severity → PagerDuty's, indexed critical, warning, info.
    pub severity: [PagerDutySeverity; 3],
    /// One event per alert instead of one per (monitor, rule).
    pub per_authorizer: bool,
    /// With `per_authorizer`: the alerts of a run beyond this go as one group event.
    pub max_events_per_run: usize,
    /// Events are paced at most this many a minute per routing key.
    pub rate_per_minute: u32,
    /// Bounds each event's request.
    pub timeout: Duration,
}

impl PagerDutyRoute {
    /// PagerDuty's default events endpoint.
    pub const DEFAULT_EVENTS_URL: &'static str = "https://events.pagerduty.com/v2/enqueue";

    /// The PagerDuty severity for one of ours.
    pub fn severity_for(&self, severity: Severity) -> PagerDutySeverity {
        match severity {
            Severity::Critical => self.severity[0],
            Severity::Warning => self.severity[1],
            Severity::Info => self.severity[2],
        }
    }
}

/// PagerDuty's severities, written `critical`, `error`, `warning` or `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PagerDutySeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl PagerDutySeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            PagerDutySeverity::Critical => "critical",
            PagerDutySeverity::Error => "error",
            PagerDutySeverity::Warning => "warning",
            PagerDutySeverity::Info => "info",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmailRoute {
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    pub transport: EmailTransport,
    /// The whole send, not only the connect, is bounded by this.
    pub timeout: Duration,
}

/// Written `starttls`, `tls` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: allowed to a loopback host only.
    None,
}

#[derive(Debug, Clone)]
pub enum EmailTransport {
    Smtp {
        host: String,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, Secret)>,
    },
    /// A local MTA's `sendmail` command.
    Sendmail { command: PathBuf },
    /// Writes `.eml` files into a directory (for demos and inspection).
    File { directory: PathBuf },
}

#[derive(Debug, Clone)]
pub struct WebhookRoute {
    pub url: Url,
    /// Signs each body: `Balance-Monitor-Signature: t=<unix>,v1=<hex HMAC-SHA256>`.
    pub secret: Option<Secret>,
    pub timeout: Duration,
}
