//! The `rightfoot` section: the API's base URL and key, timeouts, polling, the result
//! deadline, batch limits and the completion webhook.
//!
//! Polling outside 30-60 s and a deadline under Rightfoot's 1 h SLA are allowed only
//! against a loopback sandbox. The base URL passes the crate's one rule for service URLs
//! (`net::check_service_url`), the same one the Rightfoot client applies.

use std::time::Duration;

use url::Url;

use super::validator::{SecretKeys, Validator};
use crate::config::model::{CompletionWebhook, RightfootConfig};
use crate::config::raw::RawRightfoot;
use crate::net;
use crate::secret::Secret;
use crate::yaml::Position;

/// Where the daemon reaches Rightfoot unless `rightfoot.base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.rightfoot.com";

/// [`DEFAULT_BASE_URL`] as a [`Url`].
pub fn default_base_url() -> Url {
    // A constant of this program, not input: the test below proves it parses, so this
    // cannot fail at run time.
    Url::parse(DEFAULT_BASE_URL).expect("DEFAULT_BASE_URL is a valid URL")
}

impl Validator<'_> {
    pub(super) fn rightfoot(&mut self, raw: &RawRightfoot) -> RightfootConfig {
        let base_url = raw
            .base_url
            .as_ref()
            .and_then(|text| self.url(text, "rightfoot.base_url", "base_url"))
            .unwrap_or_else(default_base_url);
        let loopback = net::is_loopback_url(&base_url);
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
        let api_key_source = match (&raw.api_key_file, &raw.api_key_env) {
            (Some(file), _) => format!("api_key_file: {}", file.value),
            (None, Some(env)) => format!("api_key_env: {}", env.value),
            (None, None) => "no api_key_file or api_key_env".to_string(),
        };
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
            api_key_source,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_base_url_parses_and_passes_the_service_url_rule() {
        let url = default_base_url();
        assert_eq!(url.as_str(), "https://api.rightfoot.com/");
        assert_eq!(net::check_service_url(&url), Ok(()));
    }
}
