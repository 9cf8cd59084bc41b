//! Raw configuration → [`Config`]: every check, every default, every secret.
//!
//! Validation does not stop at the first problem: it collects them all, each with the
//! file, line, column and key path, so one `check-config` shows everything to fix.
//! It reads the files that secrets name (through [`Environment`]) and nothing else;
//! authorizer files are loaded later, at each run and by `check-config`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use url::Url;

use super::duration::{format_duration, parse_duration};
use super::model::*;
use super::raw::*;
use super::yaml::{self, Position, YamlError};
use crate::domain::Cents;
use crate::schedule::{Schedule, parse_zone};
use crate::secret::{Environment, Secret, SecretSource};

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read at all.
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// One or more problems, each with its position and key.
    Invalid(Vec<YamlError>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, source } => {
                write!(f, "cannot read configuration {}: {source}", file.display())
            }
            ConfigError::Invalid(problems) => {
                for (i, problem) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The problems, or the read error as a single problem.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Read { .. } => vec![self.to_string()],
            ConfigError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
        }
    }
}

pub const DEFAULT_BASE_URL: &str = "https://api.rightfoot.com";
pub const DEFAULT_STORAGE_PATH: &str = "/var/lib/balance-monitor/balance-monitor.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9187";

/// Loads and validates the configuration file at `path`.
pub fn load(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path, env)
}

/// Validates configuration `text` as if read from `file` (relative paths in it are
/// taken relative to the file's directory).
pub fn load_str(text: &str, file: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let raw: RawConfig = yaml::from_str(text, file).map_err(|e| ConfigError::Invalid(vec![e]))?;
    let mut validator = Validator {
        file: file.to_path_buf(),
        base_dir: file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        env,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let config = validator.config(raw);
    if validator.problems.is_empty() {
        Ok(config)
    } else {
        validator.problems.sort_by_key(|p| p.position);
        Err(ConfigError::Invalid(validator.problems))
    }
}

struct Validator<'e> {
    file: PathBuf,
    base_dir: PathBuf,
    env: &'e Environment,
    problems: Vec<YamlError>,
    warnings: Vec<String>,
}

/// Names of personal-data fields: never allowed as alert fields.
const PERSONAL_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "name",
    "street_address_line1",
    "street_address_line2",
    "address",
    "city",
    "zip_code",
    "phone_number",
    "phone",
    "date_of_birth",
    "dob",
    "ssn",
    "ein",
    "account_number",
    "routing_number",
    "debit_card_number",
    "card_number",
    "cvv",
    "expiration_month",
    "expiration_year",
];

impl Validator<'_> {
    fn problem(
        &mut self,
        position: Option<Position>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(YamlError {
            file: self.file.clone(),
            position: Some(position.unwrap_or(Position::DOCUMENT_START)),
            key: key.into(),
            message: message.into(),
        });
    }

    fn at<T>(&mut self, spanned: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) {
        self.problem(Some(Position::of(spanned)), key, message);
    }

    fn warn(&mut self, spanned_position: Option<Position>, key: &str, message: impl Into<String>) {
        let place = match spanned_position {
            Some(p) => format!("{}:{}:{}: {key}", self.file.display(), p.line, p.column),
            None => format!("{}: {key}", self.file.display()),
        };
        self.warnings.push(format!("{place}: {}", message.into()));
    }

    fn path(&self, text: &str) -> PathBuf {
        let path = PathBuf::from(text);
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }

    fn duration(&mut self, value: &Option<Text>, key: &str, default: Duration) -> Duration {
        match value {
            None => default,
            Some(text) => match parse_duration(&text.value) {
                Ok(d) => d,
                Err(message) => {
                    self.at(text, key, message);
                    default
                }
            },
        }
    }

    fn duration_in(
        &mut self,
        value: &Option<Text>,
        key: &str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let d = self.duration(value, key, default);
        if let Some(text) = value
            && (d < min || d > max)
        {
            self.at(
                text,
                key,
                format!(
                    "{} is out of range ({} to {})",
                    text.value,
                    format_duration(min),
                    format_duration(max)
                ),
            );
        }
        d
    }

    fn count(
        &mut self,
        value: &Option<Spanned<u64>>,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> u64 {
        match value {
            None => default,
            Some(v) if v.value < min || v.value > max => {
                self.at(
                    v,
                    key,
                    format!("{} is out of range ({min} to {max})", v.value),
                );
                default
            }
            Some(v) => v.value,
        }
    }

    fn money(&mut self, text: &Text, key: &str) -> Cents {
        match Cents::parse(&text.value) {
            Ok(c) => c,
            Err(e) => {
                self.at(text, key, e.to_string());
                Cents::ZERO
            }
        }
    }

    fn percent(&mut self, text: &Text, key: &str) -> BasisPoints {
        match Cents::parse(text.value.trim_end_matches('%')) {
            Ok(Cents(bp)) if bp > 0 && bp <= 10_000 => bp as BasisPoints,
            Ok(_) => {
                self.at(
                    text,
                    key,
                    format!("percent {} must be above 0 and at most 100", text.value),
                );
                0
            }
            Err(_) => {
                self.at(
                    text,
                    key,
                    format!(
                        "invalid percent {:?}: expected a number such as 20 or 12.5",
                        text.value
                    ),
                );
                0
            }
        }
    }

    /// Reads a secret given as `<name>_file` or `<name>_env`, refusing a literal.
    fn secret(
        &mut self,
        prefix: &str,
        name: &str,
        keys: SecretKeys<'_>,
        anchor: Option<Position>,
        required: bool,
    ) -> Option<Secret> {
        let key = |suffix: &str| {
            if prefix.is_empty() {
                format!("{name}{suffix}")
            } else {
                format!("{prefix}.{name}{suffix}")
            }
        };
        let SecretKeys { literal, file, env } = keys;
        if let Some(lit) = literal {
            self.at(
                lit,
                key(""),
                format!(
                    "a secret may not be written in the configuration; use {name}_file (a file path, or a systemd credential name) or {name}_env (an environment variable)"
                ),
            );
            return None;
        }
        let (source, spanned) = match (file, env) {
            (Some(f), Some(e)) => {
                self.at(
                    e,
                    key("_env"),
                    format!("give either {name}_file or {name}_env, not both"),
                );
                let _ = f;
                return None;
            }
            (Some(f), None) => (SecretSource::File(PathBuf::from(&f.value)), f),
            (None, Some(e)) => (SecretSource::Env(e.value.clone()), e),
            (None, None) => {
                if required {
                    self.problem(
                        anchor,
                        key(""),
                        format!("missing {name}: set {name}_file or {name}_env"),
                    );
                }
                return None;
            }
        };
        let suffix = if matches!(source, SecretSource::File(_)) {
            "_file"
        } else {
            "_env"
        };
        match source.resolve(self.env, &self.base_dir) {
            Ok(secret) => Some(secret),
            Err(e) => {
                let hint = match &source {
                    SecretSource::File(path)
                        if path.is_relative() && self.env.credentials_directory().is_none() =>
                    {
                        " (a relative path is looked up in $CREDENTIALS_DIRECTORY, which is not set, then beside the configuration file)"
                    }
                    _ => "",
                };
                self.at(spanned, key(suffix), format!("{e}{hint}"));
                None
            }
        }
    }

    fn url(&mut self, text: &Text, key: &str, what: &str) -> Option<Url> {
        match Url::parse(&text.value) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
                if url.scheme() == "http" && !is_loopback_url(&url) {
                    self.at(
                        text,
                        key,
                        format!(
                            "{what} {} uses plain http to a non-loopback host; https is required (http is allowed only to localhost, 127.0.0.0/8 or ::1)",
                            text.value
                        ),
                    );
                    return None;
                }
                Some(url)
            }
            Ok(_) => {
                self.at(
                    text,
                    key,
                    format!("{what} {:?} must be an http(s) URL with a host", text.value),
                );
                None
            }
            Err(e) => {
                self.at(text, key, format!("invalid {what} {:?}: {e}", text.value));
                None
            }
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let rightfoot = self.rightfoot(&raw.rightfoot);
        let storage = self.storage(&raw.storage);
        let http = self.http(&raw.http);
        let routes = self.routes(&raw.routes);
        let defaults = self.defaults(&raw.defaults, &routes);
        let monitors = self.monitors(&raw.monitors, &defaults, &routes);
        if monitors.is_empty() && raw.monitors.is_empty() {
            self.warn(
                None,
                "monitors",
                "no monitors are configured: the daemon will check nothing",
            );
        }
        Config {
            file: self.file.clone(),
            rightfoot,
            storage,
            http,
            routes,
            monitors,
            warnings: std::mem::take(&mut self.warnings),
        }
    }

    fn rightfoot(&mut self, raw: &RawRightfoot) -> RightfootConfig {
        let base_url = match &raw.base_url {
            Some(text) => self
                .url(text, "rightfoot.base_url", "base_url")
                .unwrap_or_else(|| Url::parse(DEFAULT_BASE_URL).unwrap()),
            None => Url::parse(DEFAULT_BASE_URL).unwrap(),
        };
        let loopback = is_loopback_url(&base_url);
        let api_key = self
            .secret(
                "rightfoot",
                "api_key",
                SecretKeys {
                    literal: &raw.api_key,
                    file: &raw.api_key_file,
                    env: &raw.api_key_env,
                },
                None,
                true,
            )
            .unwrap_or_else(|| Secret::new(""));
        let connect_timeout = self.duration_in(
            &raw.connect_timeout,
            "rightfoot.connect_timeout",
            Duration::from_secs(10),
            Duration::from_millis(100),
            Duration::from_secs(300),
        );
        let request_timeout = self.duration_in(
            &raw.request_timeout,
            "rightfoot.request_timeout",
            Duration::from_secs(60),
            Duration::from_millis(100),
            Duration::from_secs(600),
        );
        let poll_interval = self.duration(
            &raw.poll_interval,
            "rightfoot.poll_interval",
            Duration::from_secs(45),
        );
        if let Some(text) = &raw.poll_interval
            && !loopback
            && (poll_interval < Duration::from_secs(30) || poll_interval > Duration::from_secs(60))
        {
            self.at(
                text,
                "rightfoot.poll_interval",
                format!(
                    "{} is outside 30s-60s, the polling interval Rightfoot asks for (other values are allowed only against a loopback sandbox)",
                    text.value
                ),
            );
        }
        if poll_interval.is_zero()
            && let Some(text) = &raw.poll_interval
        {
            self.at(text, "rightfoot.poll_interval", "must be above zero");
        }
        let result_deadline = self.duration_in(
            &raw.result_deadline,
            "rightfoot.result_deadline",
            Duration::from_secs(75 * 60),
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        );
        if let Some(text) = &raw.result_deadline {
            if result_deadline < poll_interval {
                self.at(
                    text,
                    "rightfoot.result_deadline",
                    format!("{} is shorter than poll_interval", text.value),
                );
            } else if !loopback && result_deadline < Duration::from_secs(3600) {
                self.warn(
                    Some(Position::of(text)),
                    "rightfoot.result_deadline",
                    "shorter than Rightfoot's 1 h SLA: late results will be recorded as not retrieved",
                );
            }
        }
        let not_found_grace = self.duration_in(
            &raw.not_found_grace,
            "rightfoot.not_found_grace",
            Duration::from_secs(120),
            Duration::ZERO,
            Duration::from_secs(3600),
        );
        let max_batch_size = self.count(
            &raw.max_batch_size,
            "rightfoot.max_batch_size",
            1000,
            1,
            1000,
        ) as usize;
        let max_in_flight_batches = self.count(
            &raw.max_in_flight_batches,
            "rightfoot.max_in_flight_batches",
            4,
            1,
            64,
        ) as usize;
        let completion_webhook = raw.completion_webhook.as_ref().and_then(|hook| {
            let url = self.url(
                &hook.value.public_url,
                "rightfoot.completion_webhook.public_url",
                "public_url",
            );
            let token = self.secret(
                "rightfoot.completion_webhook",
                "token",
                SecretKeys {
                    literal: &hook.value.token,
                    file: &hook.value.token_file,
                    env: &hook.value.token_env,
                },
                Some(Position::of(hook)),
                true,
            );
            Some(CompletionWebhook {
                public_url: url?,
                token: token?,
            })
        });
        RightfootConfig {
            base_url,
            api_key,
            connect_timeout,
            request_timeout,
            poll_interval,
            result_deadline,
            not_found_grace,
            max_batch_size,
            max_in_flight_batches,
            completion_webhook,
        }
    }

    fn storage(&mut self, raw: &RawStorage) -> StorageConfig {
        let path = match &raw.path {
            Some(text) if text.value.trim().is_empty() => {
                self.at(text, "storage.path", "must not be empty");
                PathBuf::from(DEFAULT_STORAGE_PATH)
            }
            Some(text) => self.path(&text.value),
            None => PathBuf::from(DEFAULT_STORAGE_PATH),
        };
        let retention = raw.retention.as_ref().map(|text| {
            let d = self.duration(&Some(clone_text(text)), "storage.retention", Duration::ZERO);
            if d < Duration::from_secs(86_400) && !d.is_zero() {
                self.at(
                    text,
                    "storage.retention",
                    format!("{} is shorter than one day", text.value),
                );
            }
            d
        });
        StorageConfig { path, retention }
    }

    fn http(&mut self, raw: &RawHttp) -> HttpConfig {
        let listen = match &raw.listen {
            Some(text) => text.value.parse::<SocketAddr>().unwrap_or_else(|e| {
                self.at(
                    text,
                    "http.listen",
                    format!(
                        "invalid address {:?}: {e} (expected IP:PORT, such as 127.0.0.1:9187)",
                        text.value
                    ),
                );
                DEFAULT_LISTEN.parse().unwrap()
            }),
            None => DEFAULT_LISTEN.parse().unwrap(),
        };
        let token = self.secret(
            "http",
            "token",
            SecretKeys {
                literal: &raw.token,
                file: &raw.token_file,
                env: &raw.token_env,
            },
            None,
            false,
        );
        if !listen.ip().is_loopback() && token.is_none() && raw.token.is_none() {
            let position = raw.listen.as_ref().map(Position::of);
            self.problem(
                position,
                "http.listen",
                format!(
                    "{listen} is not a loopback address: set http.token_file or http.token_env, so that history is not served to anyone who can reach the port"
                ),
            );
        }
        HttpConfig { listen, token }
    }

    fn routes(&mut self, raw: &BTreeMap<String, Spanned<RawRoute>>) -> BTreeMap<String, Route> {
        let mut routes = BTreeMap::new();
        for (name, spanned) in raw {
            let key = format!("routes.{name}");
            if !is_identifier(name) {
                self.at(
                    spanned,
                    &key,
                    "a route name may use letters, digits, '-', '_' and '.' only",
                );
            }
            let route = &spanned.value;
            let max_rows =
                self.count(&route.max_rows, &format!("{key}.max_rows"), 50, 1, 10_000) as usize;
            let give_up_after = self.duration_in(
                &route.give_up_after,
                &format!("{key}.give_up_after"),
                Route::DEFAULT_GIVE_UP_AFTER,
                Duration::from_secs(60),
                Duration::from_secs(30 * 24 * 3600),
            );
            let target = match (&route.email, &route.webhook) {
                (Some(email), None) => self
                    .email(email, &format!("{key}.email"))
                    .map(RouteTarget::Email),
                (None, Some(hook)) => self
                    .webhook(hook, &format!("{key}.webhook"))
                    .map(RouteTarget::Webhook),
                (Some(_), Some(_)) => {
                    self.at(
                        spanned,
                        &key,
                        "a route is either email or webhook, not both",
                    );
                    None
                }
                (None, None) => {
                    self.at(spanned, &key, "a route needs an email or a webhook section");
                    None
                }
            };
            if let Some(target) = target {
                routes.insert(
                    name.clone(),
                    Route {
                        name: name.clone(),
                        target,
                        max_rows,
                        give_up_after,
                    },
                );
            }
        }
        routes
    }

    fn mailbox(&mut self, text: &Text, key: &str) -> Option<lettre::message::Mailbox> {
        match text.value.parse::<lettre::message::Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                self.at(
                    text,
                    key,
                    format!("invalid email address {:?}: {e}", text.value),
                );
                None
            }
        }
    }

    fn email(&mut self, raw: &RawEmail, key: &str) -> Option<EmailRoute> {
        let from = self.mailbox(&raw.from, &format!("{key}.from"));
        if raw.to.is_empty() {
            self.at(
                &raw.from,
                format!("{key}.to"),
                "at least one recipient is needed",
            );
        }
        let to: Vec<_> = raw
            .to
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.mailbox(t, &format!("{key}.to[{i}]")))
            .collect();
        let timeout = self.duration_in(
            &raw.timeout,
            &format!("{key}.timeout"),
            Duration::from_secs(30),
            Duration::from_secs(1),
            Duration::from_secs(600),
        );
        let transport_name = raw
            .transport
            .as_ref()
            .map(|t| t.value.as_str())
            .unwrap_or("smtp");
        let smtp_only: [(&str, bool); 6] = [
            ("smtp_host", raw.smtp_host.is_some()),
            ("smtp_port", raw.smtp_port.is_some()),
            ("tls", raw.tls.is_some()),
            ("username", raw.username.is_some()),
            ("password_file", raw.password_file.is_some()),
            ("password_env", raw.password_env.is_some()),
        ];
        let transport = match transport_name {
            "smtp" => {
                let tls = match raw.tls.as_ref().map(|t| t.value.as_str()) {
                    None | Some("starttls") => SmtpTls::StartTls,
                    Some("tls") => SmtpTls::Tls,
                    Some("none") => SmtpTls::None,
                    Some(other) => {
                        let t = raw.tls.as_ref().unwrap();
                        self.at(
                            t,
                            format!("{key}.tls"),
                            format!("unknown tls mode {other:?} (use starttls, tls or none)"),
                        );
                        SmtpTls::StartTls
                    }
                };
                let host = match &raw.smtp_host {
                    Some(h) => h.value.clone(),
                    None => {
                        self.at(
                            &raw.from,
                            format!("{key}.smtp_host"),
                            "missing smtp_host for transport smtp",
                        );
                        String::new()
                    }
                };
                if tls == SmtpTls::None && !host.is_empty() && !is_loopback_host(&host) {
                    let t = raw.tls.as_ref().unwrap();
                    self.at(
                        t,
                        format!("{key}.tls"),
                        format!("tls: none sends mail and the SMTP password in clear text; it is allowed only to a loopback host, not {host:?}"),
                    );
                }
                let port = match &raw.smtp_port {
                    Some(p) if p.value == 0 || p.value > 65_535 => {
                        self.at(
                            p,
                            format!("{key}.smtp_port"),
                            format!("{} is not a port number", p.value),
                        );
                        0
                    }
                    Some(p) => p.value as u16,
                    None => match tls {
                        SmtpTls::StartTls => 587,
                        SmtpTls::Tls => 465,
                        SmtpTls::None => 25,
                    },
                };
                let password = self.secret(
                    key,
                    "password",
                    SecretKeys {
                        literal: &raw.password,
                        file: &raw.password_file,
                        env: &raw.password_env,
                    },
                    None,
                    false,
                );
                let credentials = match (&raw.username, password) {
                    (Some(user), Some(password)) => Some((user.value.clone(), password)),
                    (None, None) => None,
                    (Some(user), None) => {
                        if raw.password.is_none()
                            && raw.password_file.is_none()
                            && raw.password_env.is_none()
                        {
                            self.at(
                                user,
                                format!("{key}.username"),
                                "username without password_file or password_env",
                            );
                        }
                        None
                    }
                    (None, Some(_)) => {
                        self.at(
                            &raw.from,
                            format!("{key}.username"),
                            "a password is set but no username",
                        );
                        None
                    }
                };
                Some(EmailTransport::Smtp {
                    host,
                    port,
                    tls,
                    credentials,
                })
            }
            "sendmail" | "file" => {
                for (name, present) in smtp_only {
                    if present {
                        let t = raw.transport.as_ref().unwrap();
                        self.at(
                            t,
                            format!("{key}.{name}"),
                            format!("{name} applies only to transport smtp"),
                        );
                    }
                }
                if raw.password.is_some() {
                    let t = raw.transport.as_ref().unwrap();
                    self.at(
                        t,
                        format!("{key}.password"),
                        "password applies only to transport smtp",
                    );
                }
                if transport_name == "sendmail" {
                    let command = raw
                        .sendmail_command
                        .as_ref()
                        .map(|c| PathBuf::from(&c.value))
                        .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail"));
                    Some(EmailTransport::Sendmail { command })
                } else {
                    match &raw.directory {
                        Some(d) => Some(EmailTransport::File {
                            directory: self.path(&d.value),
                        }),
                        None => {
                            let t = raw.transport.as_ref().unwrap();
                            self.at(
                                t,
                                format!("{key}.directory"),
                                "transport file needs a directory",
                            );
                            None
                        }
                    }
                }
            }
            other => {
                let t = raw.transport.as_ref().unwrap();
                self.at(
                    t,
                    format!("{key}.transport"),
                    format!("unknown transport {other:?} (use smtp, sendmail or file)"),
                );
                None
            }
        };
        if transport_name != "sendmail"
            && let Some(c) = &raw.sendmail_command
        {
            self.at(
                c,
                format!("{key}.sendmail_command"),
                "sendmail_command applies only to transport sendmail",
            );
        }
        if transport_name != "file"
            && let Some(d) = &raw.directory
        {
            self.at(
                d,
                format!("{key}.directory"),
                "directory applies only to transport file",
            );
        }
        Some(EmailRoute {
            from: from?,
            to,
            transport: transport?,
            timeout,
        })
    }

    fn webhook(&mut self, raw: &RawWebhook, key: &str) -> Option<WebhookRoute> {
        let url = self.url(&raw.url, &format!("{key}.url"), "url");
        let secret = self.secret(
            key,
            "secret",
            SecretKeys {
                literal: &raw.secret,
                file: &raw.secret_file,
                env: &raw.secret_env,
            },
            None,
            false,
        );
        let timeout = self.duration_in(
            &raw.timeout,
            &format!("{key}.timeout"),
            Duration::from_secs(10),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        Some(WebhookRoute {
            url: url?,
            secret,
            timeout,
        })
    }

    fn defaults(&mut self, raw: &RawDefaults, routes: &BTreeMap<String, Route>) -> Defaults {
        let zone = match &raw.timezone {
            Some(text) => parse_zone(&text.value).unwrap_or_else(|e| {
                self.at(text, "defaults.timezone", e);
                chrono_tz::UTC
            }),
            None => chrono_tz::UTC,
        };
        Defaults {
            zone,
            catch_up: self.catch_up(&raw.catch_up, "defaults.catch_up", CatchUp::RunOnce),
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

    fn catch_up(&mut self, value: &Option<Text>, key: &str, default: CatchUp) -> CatchUp {
        match value.as_ref().map(|t| (t, t.value.as_str())) {
            None => default,
            Some((_, "skip")) => CatchUp::Skip,
            Some((_, "run_once")) => CatchUp::RunOnce,
            Some((t, other)) => {
                self.at(
                    t,
                    key,
                    format!("unknown catch_up {other:?} (use skip or run_once)"),
                );
                default
            }
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
                let hint = match yaml::did_you_mean(&r.value, &names) {
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

    fn alert_fields(&mut self, fields: &[Text], key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let name = f.value.strip_prefix("meta_").unwrap_or(&f.value);
            if PERSONAL_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
                self.at(
                    f,
                    format!("{key}[{i}]"),
                    format!("`{name}` is personal data and may never appear in an alert"),
                );
            } else if !is_identifier(name) {
                self.at(
                    f,
                    format!("{key}[{i}]"),
                    "a metadata field name may use letters, digits, '-', '_' and '.' only",
                );
            } else {
                out.push(name.to_string());
            }
        }
        out
    }

    fn monitors(
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
                self.at(&m.name, format!("{key}.name"), "a monitor name may use letters, digits, '-', '_' and '.' only, and may not be empty");
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
            let catch_up =
                self.catch_up(&m.catch_up, &format!("{key}.catch_up"), defaults.catch_up);
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
                    alert_fields,
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
                if let Err(e) = crate::authorizers::permissions::check_private(&self.file) {
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

    fn rules(&mut self, raw: &[Spanned<RawRule>], key: &str) -> Vec<Rule> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, r)| self.rule(r, &format!("{key}[{i}]")))
            .collect()
    }

    fn rule(&mut self, spanned: &Spanned<RawRule>, key: &str) -> Option<Rule> {
        let before = self.problems.len();
        let (kind, severity, for_runs, resolve_after_runs, default_severity) = match &spanned.value
        {
            RawRule::BalanceBelow {
                amount,
                severity,
                for_runs,
                resolve_after_runs,
            } => (
                RuleKind::BalanceBelow {
                    amount: self.money(amount, &format!("{key}.balance_below.amount")),
                },
                severity,
                for_runs,
                resolve_after_runs,
                Severity::Warning,
            ),
            RawRule::BelowPayment {
                field,
                margin,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.below_payment");
                let name = field
                    .value
                    .strip_prefix("meta_")
                    .unwrap_or(&field.value)
                    .to_string();
                if !is_identifier(&name) {
                    self.at(
                        field,
                        format!("{k}.field"),
                        "expected a metadata field name, such as payment_amount",
                    );
                }
                let margin = match margin {
                    Some(m) => self.money(m, &format!("{k}.margin")),
                    None => Cents::ZERO,
                };
                (
                    RuleKind::BelowPayment {
                        field: name,
                        margin,
                    },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Critical,
                )
            }
            RawRule::DropPercent {
                percent,
                window,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.drop_percent");
                let percent = self.percent(percent, &format!("{k}.percent"));
                let window = window.as_ref().map(|w| {
                    self.duration(&Some(clone_text(w)), &format!("{k}.window"), Duration::ZERO)
                });
                (
                    RuleKind::DropPercent { percent, window },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::DropAmount {
                amount,
                window,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.drop_amount");
                let value = self.money(amount, &format!("{k}.amount"));
                if value <= Cents::ZERO && self.problems.len() == before {
                    self.at(
                        amount,
                        format!("{k}.amount"),
                        "a drop amount must be above zero",
                    );
                }
                let window = window.as_ref().map(|w| {
                    self.duration(&Some(clone_text(w)), &format!("{k}.window"), Duration::ZERO)
                });
                (
                    RuleKind::DropAmount {
                        amount: value,
                        window,
                    },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::NegativeBalance {
                severity,
                for_runs,
                resolve_after_runs,
            } => (
                RuleKind::NegativeBalance,
                severity,
                for_runs,
                resolve_after_runs,
                Severity::Critical,
            ),
            RawRule::CheckFailed {
                codes,
                consecutive,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let k = format!("{key}.check_failed");
                let codes = match codes {
                    None => None,
                    Some(c) => {
                        match &c.value {
                            serde_json::Value::String(s) if s == "any" => None,
                            serde_json::Value::Array(items) if !items.is_empty() => {
                                let mut out = Vec::new();
                                for item in items {
                                    match item.as_u64() {
                                        Some(0) => self.at(
                                            c,
                                            format!("{k}.codes"),
                                            "code 0 is success, not a failure",
                                        ),
                                        Some(code) if code <= 99_999 => out.push(code as u32),
                                        _ => self.at(
                                            c,
                                            format!("{k}.codes"),
                                            format!("{item} is not a balance status code"),
                                        ),
                                    }
                                }
                                Some(out)
                            }
                            _ => {
                                self.at(c, format!("{k}.codes"), "expected `any` or a list of status codes, such as [3200, 3300]");
                                None
                            }
                        }
                    }
                };
                let consecutive =
                    self.count(consecutive, &format!("{k}.consecutive"), 1, 1, 1000) as u32;
                (
                    RuleKind::CheckFailed { codes, consecutive },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::Stale {
                after,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let after = self.duration_in(
                    &Some(clone_text(after)),
                    &format!("{key}.stale.after"),
                    Duration::from_secs(86_400),
                    Duration::from_secs(60),
                    Duration::from_secs(3650 * 86_400),
                );
                (
                    RuleKind::Stale { after },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Warning,
                )
            }
            RawRule::RunFailed {
                not_retrieved_percent,
                severity,
                for_runs,
                resolve_after_runs,
            } => {
                let percent = match not_retrieved_percent {
                    Some(p) => self.percent(p, &format!("{key}.run_failed.not_retrieved_percent")),
                    None => 1_000,
                };
                (
                    RuleKind::RunFailed {
                        not_retrieved_percent: percent,
                    },
                    severity,
                    for_runs,
                    resolve_after_runs,
                    Severity::Critical,
                )
            }
        };
        let kind_key = format!("{key}.{}", kind.name());
        let severity = match severity {
            None => default_severity,
            Some(t) => match t.value.as_str() {
                "critical" => Severity::Critical,
                "warning" => Severity::Warning,
                "info" => Severity::Info,
                other => {
                    self.at(
                        t,
                        format!("{kind_key}.severity"),
                        format!("unknown severity {other:?} (use critical, warning or info)"),
                    );
                    default_severity
                }
            },
        };
        let for_runs = self.count(for_runs, &format!("{kind_key}.for_runs"), 1, 1, 1000) as u32;
        let resolve_after_runs = self.count(
            resolve_after_runs,
            &format!("{kind_key}.resolve_after_runs"),
            1,
            1,
            1000,
        ) as u32;
        (self.problems.len() == before).then_some(Rule {
            kind,
            severity,
            for_runs,
            resolve_after_runs,
        })
    }
}

fn clone_text(text: &Text) -> Text {
    Spanned {
        value: text.value.clone(),
        referenced: text.referenced,
        defined: text.defined,
    }
}

/// The three ways a secret can be written: refused literal, `_file`, `_env`.
struct SecretKeys<'a> {
    literal: &'a Option<Spanned<IgnoredAny>>,
    file: &'a Option<Text>,
    env: &'a Option<Text>,
}

/// Settings inherited by monitors.
struct Defaults {
    zone: chrono_tz::Tz,
    catch_up: CatchUp,
    grace: Duration,
    jitter: Duration,
    rules: Vec<Rule>,
    routes: Vec<String>,
    repeat_interval: Duration,
    send_resolved: bool,
    alert_fields: Vec<String>,
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether a host name or address is this machine: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Whether a URL points at this machine.
pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Route names referenced but unused, and similar whole-config observations.
pub fn unused_routes(config: &Config) -> BTreeSet<String> {
    let used: BTreeSet<&String> = config.monitors.iter().flat_map(|m| &m.routes).collect();
    config
        .routes
        .keys()
        .filter(|r| !used.contains(r))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a problem that belongs to no written value (here the Rightfoot key
    /// of a file that has no `rightfoot` section, or none at all) was printed without
    /// a line and column; it is now reported at the start of the document.
    #[test]
    fn a_problem_with_nothing_to_point_at_is_at_the_start_of_the_document() {
        let env = Environment::from_pairs([("K", "rf_test_key")]);
        for text in ["", "storage: {}\n", "# nothing\n"] {
            let error = load_str(text, Path::new("c.yaml"), &env).unwrap_err();
            let problems = error.problems();
            assert!(
                problems
                    .iter()
                    .any(|p| p == "c.yaml:1:1: rightfoot.api_key: missing api_key: set api_key_file or api_key_env"),
                "{text:?}: {problems:?}"
            );
            assert!(
                problems.iter().all(|p| p.starts_with("c.yaml:1:1: ")),
                "{problems:?}"
            );
        }
    }
}
