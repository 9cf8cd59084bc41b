//! The `routes` section: named alert destinations, each an email (see `email.rs`), a
//! signed webhook, a Slack or Teams webhook (whose URL is a secret) or PagerDuty, with
//! its digest size and how long delivery is retried.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use url::Url;

use super::validator::{MAX_NAME_CHARS, SecretKeys, Validator, is_identifier};
use crate::config::model::{
    ChatRoute, PagerDutyRoute, PagerDutySeverity, Route, RouteTarget, WebhookRoute,
};
use crate::config::raw::{RawChatWebhook, RawPagerDuty, RawRoute, RawWebhook, Text};
use crate::net;
use crate::yaml::Position;

impl Validator<'_> {
    pub(super) fn routes(
        &mut self,
        raw: &BTreeMap<String, Spanned<RawRoute>>,
    ) -> BTreeMap<String, Route> {
        let mut routes = BTreeMap::new();
        for (name, spanned) in raw {
            let key = format!("routes.{name}");
            if !is_identifier(name) {
                self.at(
                    spanned,
                    &key,
                    format!("a route name may use letters, digits, '-', '_' and '.' only, at most {MAX_NAME_CHARS} of them"),
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
            let kinds = [
                route.email.is_some(),
                route.webhook.is_some(),
                route.slack.is_some(),
                route.teams.is_some(),
                route.pagerduty.is_some(),
            ];
            let target = match kinds.iter().filter(|k| **k).count() {
                0 => {
                    self.at(
                        spanned,
                        &key,
                        "a route needs one of: email, webhook, slack, teams, pagerduty",
                    );
                    None
                }
                1 => self.route_target(route, &key, Position::of(spanned)),
                _ => {
                    self.at(
                        spanned,
                        &key,
                        "a route is exactly one of email, webhook, slack, teams or pagerduty",
                    );
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

    fn route_target(
        &mut self,
        route: &RawRoute,
        key: &str,
        anchor: Position,
    ) -> Option<RouteTarget> {
        if let Some(email) = &route.email {
            return self
                .email(email, &format!("{key}.email"))
                .map(RouteTarget::Email);
        }
        if let Some(hook) = &route.webhook {
            return self
                .webhook(hook, &format!("{key}.webhook"))
                .map(RouteTarget::Webhook);
        }
        if let Some(slack) = &route.slack {
            return self
                .chat(slack, &format!("{key}.slack"), anchor)
                .map(RouteTarget::Slack);
        }
        if let Some(teams) = &route.teams {
            return self
                .chat(teams, &format!("{key}.teams"), anchor)
                .map(RouteTarget::Teams);
        }
        let pagerduty = route.pagerduty.as_ref()?;
        self.pagerduty(pagerduty, &format!("{key}.pagerduty"), anchor)
            .map(RouteTarget::PagerDuty)
    }

    /// A Slack or Teams webhook: its URL is a secret, read from a file or the
    /// environment, and must pass the one URL rule. A message about it never repeats it.
    fn chat(&mut self, raw: &RawChatWebhook, key: &str, anchor: Position) -> Option<ChatRoute> {
        let url = self.secret(
            key,
            "webhook_url",
            SecretKeys {
                literal: &raw.webhook_url,
                file: &raw.webhook_url_file,
                env: &raw.webhook_url_env,
            },
            Some(anchor),
            true,
        );
        let timeout = self.route_timeout(&raw.timeout, key);
        let url = url?;
        let source = raw
            .webhook_url_file
            .as_ref()
            .or(raw.webhook_url_env.as_ref());
        let suffix = if raw.webhook_url_file.is_some() {
            "_file"
        } else {
            "_env"
        };
        let refusal = match Url::parse(url.expose().trim()) {
            Ok(parsed) => net::check_service_url(&parsed).err().map(|r| r.to_string()),
            Err(e) => Some(format!("is not a URL ({e})")),
        };
        if let Some(refusal) = refusal {
            let message = format!("the webhook URL it holds {refusal}");
            match source {
                Some(text) => self.at(text, format!("{key}.webhook_url{suffix}"), message),
                None => self.problem(Some(anchor), key, message),
            }
            return None;
        }
        Some(ChatRoute {
            webhook_url: url,
            timeout,
        })
    }

    fn pagerduty(
        &mut self,
        raw: &RawPagerDuty,
        key: &str,
        anchor: Position,
    ) -> Option<PagerDutyRoute> {
        let routing_key = self.secret(
            key,
            "routing_key",
            SecretKeys {
                literal: &raw.routing_key,
                file: &raw.routing_key_file,
                env: &raw.routing_key_env,
            },
            Some(anchor),
            true,
        );
        let events_url = match &raw.events_url {
            Some(text) => self.url(text, &format!("{key}.events_url"), "events_url"),
            None => Some(
                Url::parse(PagerDutyRoute::DEFAULT_EVENTS_URL).expect("the default URL parses"),
            ),
        };
        let mapped = raw.severity.as_ref();
        let pick = |chosen: Option<PagerDutySeverity>, default| chosen.unwrap_or(default);
        let severity = [
            pick(mapped.and_then(|m| m.critical), PagerDutySeverity::Critical),
            pick(mapped.and_then(|m| m.warning), PagerDutySeverity::Warning),
            pick(mapped.and_then(|m| m.info), PagerDutySeverity::Info),
        ];
        let max_events_per_run = self.count(
            &raw.max_events_per_run,
            &format!("{key}.max_events_per_run"),
            100,
            1,
            10_000,
        ) as usize;
        let rate_per_minute = self.count(
            &raw.rate_per_minute,
            &format!("{key}.rate_per_minute"),
            120,
            1,
            60_000,
        ) as u32;
        let timeout = self.route_timeout(&raw.timeout, key);
        Some(PagerDutyRoute {
            routing_key: routing_key?,
            events_url: events_url?,
            severity,
            per_authorizer: raw.per_authorizer.unwrap_or(false),
            max_events_per_run,
            rate_per_minute,
            timeout,
        })
    }

    /// A route's `timeout`: 10 s unless set, from 1 s to 5 min.
    fn route_timeout(&mut self, raw: &Option<Text>, key: &str) -> Duration {
        self.duration_in(
            raw,
            &format!("{key}.timeout"),
            Duration::from_secs(10),
            Duration::from_secs(1),
            Duration::from_secs(300),
        )
    }

    pub(super) fn webhook(&mut self, raw: &RawWebhook, key: &str) -> Option<WebhookRoute> {
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
        let timeout = self.route_timeout(&raw.timeout, key);
        Some(WebhookRoute {
            url: url?,
            secret,
            timeout,
        })
    }
}
