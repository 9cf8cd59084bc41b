//! What every section's validation shares: the [`Validator`] that collects problems and
//! warnings with their positions, and the checks of single values (durations, counts,
//! money, percents, secrets, service URLs, names) that more than one section uses.
//!
//! The section files (`rightfoot.rs`, `storage.rs`, `http.rs`, `routes.rs`,
//! `email.rs`, `monitors.rs`, `rules.rs`, `debits.rs`) depend on this file and never on each other.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use url::Url;

use crate::config::duration::{format_duration, parse_duration};
use crate::config::model::BasisPoints;
use crate::config::raw::Text;
use crate::domain::Cents;
use crate::net;
use crate::secret::{Environment, Secret, SecretSource};
use crate::yaml::{Position, YamlError};

/// Collects every problem and warning of one configuration file.
pub(super) struct Validator<'e> {
    pub(super) file: PathBuf,
    pub(super) base_dir: PathBuf,
    pub(super) env: &'e Environment,
    pub(super) problems: Vec<YamlError>,
    pub(super) warnings: Vec<String>,
}

impl Validator<'_> {
    /// Records a problem at `position`, or at the start of the document when nothing
    /// written can be pointed at.
    pub(super) fn problem(
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

    /// Records a problem at the position where `spanned` was written.
    pub(super) fn at<T>(
        &mut self,
        spanned: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problem(Some(Position::of(spanned)), key, message);
    }

    /// Records a warning: the configuration works, but is probably not what was meant.
    pub(super) fn warn(
        &mut self,
        spanned_position: Option<Position>,
        key: &str,
        message: impl Into<String>,
    ) {
        let place = match spanned_position {
            Some(p) => format!("{}:{}:{}: {key}", self.file.display(), p.line, p.column),
            None => format!("{}: {key}", self.file.display()),
        };
        self.warnings.push(format!("{place}: {}", message.into()));
    }

    /// A path from the configuration, relative ones taken from the file's directory.
    pub(super) fn path(&self, text: &str) -> PathBuf {
        let path = PathBuf::from(text);
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }

    /// A duration such as `45s` or `1h30m`, or `default` when absent or invalid.
    pub(super) fn duration(
        &mut self,
        value: &Option<Text>,
        key: &str,
        default: Duration,
    ) -> Duration {
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

    /// A duration that must lie within `min..=max`.
    pub(super) fn duration_in(
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

    /// A whole number that must lie within `min..=max`.
    pub(super) fn count(
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

    /// An amount of money, exact to the cent.
    pub(super) fn money(&mut self, text: &Text, key: &str) -> Cents {
        match Cents::parse(&text.value) {
            Ok(c) => c,
            Err(e) => {
                self.at(text, key, e.to_string());
                Cents::ZERO
            }
        }
    }

    /// A percent above 0 and at most 100, such as `20` or `12.5%`, in basis points.
    pub(super) fn percent(&mut self, text: &Text, key: &str) -> BasisPoints {
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
    pub(super) fn secret(
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

    /// A URL the daemon sends to, under the crate's one rule for them
    /// ([`net::check_service_url`]). The text is repeated in a message only when it
    /// cannot hold a password (no `@`).
    pub(super) fn url(&mut self, text: &Text, key: &str, what: &str) -> Option<Url> {
        let shown = if text.value.contains('@') {
            String::new()
        } else {
            format!(" {:?}", text.value)
        };
        match Url::parse(&text.value) {
            Ok(url) => match net::check_service_url(&url) {
                Ok(()) => Some(url),
                Err(refusal) => {
                    self.at(text, key, format!("{what}{shown} {refusal}"));
                    None
                }
            },
            Err(e) => {
                self.at(text, key, format!("invalid {what}{shown}: {e}"));
                None
            }
        }
    }
}

/// The three ways a secret can be written: refused literal, `_file`, `_env`.
pub(super) struct SecretKeys<'a> {
    pub(super) literal: &'a Option<Spanned<IgnoredAny>>,
    pub(super) file: &'a Option<Text>,
    pub(super) env: &'a Option<Text>,
}

/// The most characters a route, monitor or metadata field name may have. Names appear
/// in every log line, metric label, alert and stored run of their monitor.
pub const MAX_NAME_CHARS: usize = 64;

/// Whether `name` is usable as a route, monitor or field name: 1 to [`MAX_NAME_CHARS`]
/// letters, digits, `-`, `_` and `.`.
pub(super) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
