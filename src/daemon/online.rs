//! `check-config --online`: tries each outside dependency the configuration names and
//! reports each with ✓ or ✗, without checking any authorizer and without sending any
//! alert.
//!
//! - Rightfoot: the client's probe (`GET /v1/balances` for a batch that cannot exist),
//!   which proves the connection, TLS and the key;
//! - each email route over SMTP: connect, EHLO, STARTTLS or TLS as configured, AUTH
//!   when credentials are set, NOOP, and no message;
//! - each webhook route: a TCP connection to its host and port, and for `https` a TLS
//!   handshake (a `HEAD` request whose status is not judged; no body is posted);
//! - the database: opened for writing, migrated, closed.
//!
//! Every check is bounded in time, so the whole report ends within seconds even when
//! nothing answers. This module renders lines; `cli` prints them.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{Config, RouteTarget};
use crate::rightfoot::RequestMetrics;

use super::client_for;

/// How long one route check may take, whatever the route's own timeout.
const ROUTE_CHECK_TIMEOUT: Duration = Duration::from_secs(8);

/// The rendered report and whether every dependency answered.
pub struct OnlineReport {
    pub text: String,
    pub ok: bool,
}

/// Tries every outside dependency of `config`, one after the other.
pub async fn check_online(config: &Config) -> OnlineReport {
    let mut report = OnlineReport {
        text: String::new(),
        ok: true,
    };
    let rightfoot = &config.rightfoot;
    let what = format!(
        "Rightfoot at {} with the key from {}",
        rightfoot.base_url, rightfoot.api_key_source
    );
    match client_for(rightfoot, RequestMetrics::default()) {
        Err(error) => report.line(&what, Err(error.to_string())),
        Ok(client) => {
            let checked = client.check_access().await;
            report.line(
                &what,
                checked
                    .map(|()| "key accepted".to_string())
                    .map_err(|e| match e.http_status() {
                        Some(status) => format!("HTTP {status}: {e}"),
                        None => e.to_string(),
                    }),
            );
        }
    }
    for (name, route) in &config.routes {
        match &route.target {
            RouteTarget::Email(email) => {
                let mut bounded = email.clone();
                bounded.timeout = bounded.timeout.min(ROUTE_CHECK_TIMEOUT);
                let checked = crate::notify::email::check_route(name, &bounded).await;
                match checked {
                    Ok(None) => {}
                    Ok(Some(detail)) => report.line(&format!("route {name} (email)"), Ok(detail)),
                    Err(error) => {
                        report.line(&format!("route {name} (email)"), Err(error.to_string()));
                    }
                }
            }
            RouteTarget::Webhook(webhook) => {
                let checked = check_webhook(&webhook.url).await;
                report.line(&format!("route {name} (webhook)"), checked);
            }
            RouteTarget::Slack(chat) | RouteTarget::Teams(chat) => {
                // The URL is a secret: only its origin is probed, and named.
                let checked = match url::Url::parse(chat.webhook_url.expose().trim()) {
                    Ok(url) => check_webhook(&origin(&url)).await,
                    Err(_) => Err("the webhook URL does not parse".to_string()),
                };
                report.line(&format!("route {name} ({})", route.target.kind()), checked);
            }
            RouteTarget::PagerDuty(pagerduty) => {
                let checked = check_webhook(&origin(&pagerduty.events_url)).await;
                report.line(&format!("route {name} (pagerduty)"), checked);
            }
        }
    }
    let database = format!("database {}", config.storage.describe());
    match config.storage.open_store().await {
        Ok(store) => {
            store.close().await;
            report.line(&database, Ok("opened for writing".to_string()));
        }
        Err(error) => report.line(&database, Err(crate::text::error_chain(&error))),
    }
    report
}

impl OnlineReport {
    fn line(&mut self, what: &str, outcome: Result<String, String>) {
        match outcome {
            Ok(detail) => {
                let _ = writeln!(self.text, "✓ {what}: {detail}");
            }
            Err(problem) => {
                self.ok = false;
                let _ = writeln!(self.text, "✗ {what}: {problem}");
            }
        }
    }
}

/// A TCP connection to the webhook's host and port; for `https`, a TLS handshake too,
/// made by a `HEAD` request whose answer is not judged. Nothing is posted.
async fn check_webhook(url: &url::Url) -> Result<String, String> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    let address = format!("{host}:{port}");
    let connect = tokio::net::TcpStream::connect(address.as_str());
    match tokio::time::timeout(ROUTE_CHECK_TIMEOUT, connect).await {
        Err(_) => {
            return Err(format!(
                "{address}: no connection within {ROUTE_CHECK_TIMEOUT:?}"
            ));
        }
        Ok(Err(error)) => return Err(format!("{address}: cannot connect: {error}")),
        Ok(Ok(_)) => {}
    }
    if url.scheme() != "https" {
        return Ok(format!("{address}: connected"));
    }
    let client = reqwest::Client::builder()
        .tls_backend_rustls()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ROUTE_CHECK_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut probe = url.clone();
    probe.set_query(None);
    match client.head(probe).send().await {
        Ok(_) => Ok(format!("{address}: connected, TLS handshake done")),
        Err(error) => Err(format!(
            "{address}: TLS or HTTP failed: {}",
            crate::text::error_chain(&error)
        )),
    }
}

/// `scheme://host:port/` of a URL: what may be named and probed of a secret one.
fn origin(url: &url::Url) -> url::Url {
    let mut origin = url.clone();
    origin.set_path("/");
    origin.set_query(None);
    origin.set_fragment(None);
    origin
}
