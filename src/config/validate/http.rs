//! The `http` section: the daemon's listen address, its bearer token, which a
//! non-loopback address requires (history holds what the lender knows about borrowers),
//! how long a dashboard session lasts (`session_ttl`, one minute to 30 days), and the
//! public URL digests link to.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use super::validator::{SecretKeys, Validator};
use crate::config::model::{DEFAULT_SESSION_TTL, HttpConfig};
use crate::config::raw::RawHttp;
use crate::yaml::Position;

/// The listen address unless `http.listen` says otherwise: 127.0.0.1:9187, built from
/// its parts so that nothing has to be parsed.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9187));

impl Validator<'_> {
    pub(super) fn http(&mut self, raw: &RawHttp) -> HttpConfig {
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
                DEFAULT_LISTEN
            }),
            None => DEFAULT_LISTEN,
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
        let public_url = raw.public_url.as_ref().and_then(|text| {
            let refusal = match url::Url::parse(&text.value) {
                Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                    Err("must be an http or https URL".to_string())
                }
                Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                    Err("may not hold a user name or password".to_string())
                }
                Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                    Err("may not hold a query or a fragment".to_string())
                }
                Ok(mut url) => {
                    if !url.path().ends_with('/') {
                        let path = format!("{}/", url.path());
                        url.set_path(&path);
                    }
                    Ok(url)
                }
                Err(e) => Err(format!("is not a URL: {e}")),
            };
            refusal
                .map_err(|reason| {
                    self.at(
                        text,
                        "http.public_url",
                        format!("{:?} {reason}", text.value),
                    )
                })
                .ok()
        });
        let session_ttl = self.duration_in(
            &raw.session_ttl,
            "http.session_ttl",
            DEFAULT_SESSION_TTL,
            Duration::from_secs(60),
            Duration::from_secs(30 * 24 * 3600),
        );
        HttpConfig {
            listen,
            token,
            session_ttl,
            public_url,
        }
    }
}
