//! The sandbox's settings, independent of how they were obtained.
//!
//! [`SandboxConfig`] is what the CLI (flags, a scenario file) or a test builds; it
//! holds precise types (durations, percentages, secrets) and no clap or YAML types.
//! [`SandboxConfig::validate`] checks the combinations a type cannot (fault shares
//! that add up to more than 100%, no API key) and merges the scenario's fault
//! overrides, giving the [`Settings`] the server runs with. This module does no I/O.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::clock::MAX_SPEED;
use super::faults::FaultConfig;
use super::scenario::Scenario;
use crate::secret::Secret;

/// How the sandbox behaves. Build one with [`SandboxConfig::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Bearer tokens the sandbox accepts. Each key sees only its own batches.
    pub api_keys: Vec<Secret>,
    /// How long a batch takes to complete, on the sandbox clock. Results appear one by
    /// one, evenly spread over this time; the last appears exactly at its end. The
    /// real service promises one hour at most and documents no typical figure.
    pub processing_time: Duration,
    /// What the sandbox clock shows at start-up; `None` means the system time.
    pub clock_start: Option<DateTime<Utc>>,
    /// Sandbox seconds per real second: 0 freezes the clock (tests), 1 is real time,
    /// 60 turns minutes into seconds (demos).
    pub clock_speed: f64,
    /// Seeds the random choices (fault injection, the order results complete in), so
    /// that one sequence of requests always gives one sequence of answers.
    pub seed: u64,
    /// Injected failures; a scenario's `faults:` section overrides these field by field.
    pub faults: FaultConfig,
    /// Scripted outcomes per authorizer, and fault overrides.
    pub scenario: Scenario,
    /// How long one webhook delivery attempt may take, in real time.
    pub webhook_timeout: Duration,
    /// How long an identical body gets the first `201` back, on the sandbox clock.
    /// Rightfoot's is 24 hours ([`BODY_CACHE_TTL`](super::state::BODY_CACHE_TTL)); the
    /// demo shortens it so that runs a day apart on its time-lapse clock always check
    /// afresh.
    pub body_cache_ttl: Duration,
}

/// Why a [`SandboxConfig`] cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SandboxConfigError {
    #[error("the sandbox needs at least one api key")]
    NoApiKeys,
    #[error("api key {index} is empty or contains whitespace")]
    BadApiKey { index: usize },
    #[error("clock speed {0} is not a number between 0 and {MAX_SPEED}")]
    ClockSpeed(f64),
    #[error("processing time {0:?} is longer than 24 hours")]
    ProcessingTime(Duration),
    #[error("{name} is {value}, but a percentage is at most 100")]
    Percent { name: &'static str, value: u8 },
    #[error(
        "error_500_percent, error_503_percent and error_429_percent add up to {0}, more than 100"
    )]
    ErrorShares(u32),
    #[error("the webhook http client cannot be built: {0}")]
    HttpClient(String),
}

impl SandboxConfig {
    /// A sandbox accepting `api_keys`, with results spread over two minutes, a clock
    /// at real time, no faults and no scenario.
    pub fn new(api_keys: impl IntoIterator<Item = Secret>) -> SandboxConfig {
        SandboxConfig {
            api_keys: api_keys.into_iter().collect(),
            processing_time: Duration::from_secs(120),
            clock_start: None,
            clock_speed: 1.0,
            seed: 0,
            faults: FaultConfig::default(),
            scenario: Scenario::default(),
            webhook_timeout: Duration::from_secs(10),
            body_cache_ttl: Duration::from_secs(24 * 3600),
        }
    }

    /// Checks the configuration and merges the scenario's fault overrides.
    pub(crate) fn validate(&self) -> Result<Settings, SandboxConfigError> {
        if self.api_keys.is_empty() {
            return Err(SandboxConfigError::NoApiKeys);
        }
        for (index, key) in self.api_keys.iter().enumerate() {
            let value = key.expose();
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                return Err(SandboxConfigError::BadApiKey { index });
            }
        }
        if !(0.0..=MAX_SPEED).contains(&self.clock_speed) {
            return Err(SandboxConfigError::ClockSpeed(self.clock_speed));
        }
        if self.processing_time > Duration::from_secs(86_400) {
            return Err(SandboxConfigError::ProcessingTime(self.processing_time));
        }
        let faults = self.scenario.faults.apply_to(&self.faults);
        for (name, value) in [
            ("error_500_percent", faults.error_500_percent),
            ("error_503_percent", faults.error_503_percent),
            ("error_429_percent", faults.error_429_percent),
            ("malformed_percent", faults.malformed_percent),
        ] {
            if value > 100 {
                return Err(SandboxConfigError::Percent { name, value });
            }
        }
        let shares = u32::from(faults.error_500_percent)
            + u32::from(faults.error_503_percent)
            + u32::from(faults.error_429_percent);
        if shares > 100 {
            return Err(SandboxConfigError::ErrorShares(shares));
        }
        Ok(Settings {
            processing_time: self.processing_time,
            faults,
            seed: self.seed,
            webhook_timeout: self.webhook_timeout,
            body_cache_ttl: self.body_cache_ttl,
        })
    }
}

/// The validated settings the server consults on every request.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub processing_time: Duration,
    pub faults: FaultConfig,
    pub seed: u64,
    pub webhook_timeout: Duration,
    pub body_cache_ttl: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::scenario::FaultOverrides;

    #[test]
    fn rejects_what_cannot_run() {
        let good = SandboxConfig::new([Secret::new("rf_test_a")]);
        assert!(good.validate().is_ok());
        let table: Vec<(SandboxConfig, SandboxConfigError)> = vec![
            (SandboxConfig::new([]), SandboxConfigError::NoApiKeys),
            (
                SandboxConfig::new([Secret::new("ok"), Secret::new("has space")]),
                SandboxConfigError::BadApiKey { index: 1 },
            ),
            (
                SandboxConfig {
                    clock_speed: -1.0,
                    ..good.clone()
                },
                SandboxConfigError::ClockSpeed(-1.0),
            ),
            (
                SandboxConfig {
                    faults: FaultConfig {
                        error_503_percent: 60,
                        error_429_percent: 50,
                        ..FaultConfig::default()
                    },
                    ..good.clone()
                },
                SandboxConfigError::ErrorShares(110),
            ),
            (
                SandboxConfig {
                    faults: FaultConfig {
                        malformed_percent: 101,
                        ..FaultConfig::default()
                    },
                    ..good.clone()
                },
                SandboxConfigError::Percent {
                    name: "malformed_percent",
                    value: 101,
                },
            ),
        ];
        for (config, expected) in table {
            assert_eq!(config.validate().unwrap_err(), expected);
        }
    }

    #[test]
    fn scenario_faults_override_config_faults_field_by_field() {
        let mut config = SandboxConfig::new([Secret::new("k")]);
        config.faults.error_503_percent = 10;
        config.faults.error_429_percent = 20;
        config.scenario.faults = FaultOverrides {
            error_429_percent: Some(5),
            retry_after_seconds: Some(7),
            ..FaultOverrides::default()
        };
        let faults = config.validate().unwrap().faults;
        assert_eq!(faults.error_503_percent, 10);
        assert_eq!(faults.error_429_percent, 5);
        assert_eq!(faults.retry_after, Duration::from_secs(7));
    }
}
