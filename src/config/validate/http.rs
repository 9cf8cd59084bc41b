//! The `http` section: the daemon's listen address, its bearer token, which a
//! non-loopback address requires (history holds what the lender knows about borrowers),
//! and how long a dashboard session lasts (`session_ttl`, one minute to 30 days).

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
        }
    }
}
