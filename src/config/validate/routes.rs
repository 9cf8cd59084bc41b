//! The `routes` section: named alert destinations, each an email (see `email.rs`) or a
//! signed webhook, with its digest size and how long delivery is retried.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::validator::{MAX_NAME_CHARS, SecretKeys, Validator, is_identifier};
use crate::config::model::{Route, RouteTarget, WebhookRoute};
use crate::config::raw::{RawRoute, RawWebhook};

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
}
