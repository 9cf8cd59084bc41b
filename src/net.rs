//! The one rule for the URLs the daemon sends to, and the one loopback check.
//!
//! A URL the daemon opens a connection to and sends secrets or data over (Rightfoot's
//! base URL, the completion webhook's public URL, a webhook route) must be `https`, or
//! plain `http` to this machine only (the sandbox, a local receiver); it must name a
//! host; and it must not carry a user name or password, because a secret is written
//! only in `*_file`/`*_env`, never in the configuration. [`check_service_url`] decides
//! that, for the configuration's validation and for the Rightfoot client alike.
//! [`is_loopback_host`] decides what "this machine" means everywhere: `localhost`,
//! 127.0.0.0/8 and `::1`, nothing that a resolver could send elsewhere (`*.localhost`
//! is not accepted).
//!
//! This module depends on nothing else in the crate.

use std::net::IpAddr;

use url::{Host, Url};

/// Why a URL may not be used to reach a service. The messages never repeat the URL,
/// which may hold a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Not `http`/`https`, or no host (`ftp://`, `data:`, `file:///`).
    #[error("must be an http(s) URL with a host")]
    NotHttp,
    /// `https://user:password@host`.
    #[error(
        "must not carry a user name or password (a secret goes in a *_file or *_env key, never in the configuration)"
    )]
    Credentials,
    /// `http://` to a host that is not this machine.
    #[error(
        "uses plain http to a non-loopback host; https is required (http is allowed only to localhost, 127.0.0.0/8 or ::1)"
    )]
    PlainHttpToRemote,
}

/// Whether `url` may be used to reach a service: https, or http to a loopback host; a
/// host; no user name or password. Such a URL can always take a path.
///
/// Credentials are looked at first, so that a refused URL of any other kind holds no
/// password and its caller may show it.
pub fn check_service_url(url: &Url) -> Result<(), UrlRefusal> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let http = match url.scheme() {
        "https" => false,
        "http" => true,
        _ => return Err(UrlRefusal::NotHttp),
    };
    if url.host_str().is_none_or(str::is_empty) || url.cannot_be_a_base() {
        return Err(UrlRefusal::NotHttp);
    }
    if http && !is_loopback_url(url) {
        return Err(UrlRefusal::PlainHttpToRemote);
    }
    Ok(())
}

/// Whether a URL's host is this machine (see [`is_loopback_host`]).
pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => is_loopback_host(domain),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a host name or address, as written (an IPv6 address may be in brackets), is
/// this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_https_or_http_to_loopback_without_credentials() {
        let table: &[(&str, Result<(), UrlRefusal>)] = &[
            ("https://api.rightfoot.com", Ok(())),
            ("https://api.example.com/prefix/?x=1", Ok(())),
            ("http://127.0.0.1:8080", Ok(())),
            ("http://127.1.2.3", Ok(())),
            ("http://[::1]:8080/", Ok(())),
            ("http://localhost:1", Ok(())),
            ("http://LOCALHOST", Ok(())),
            (
                "http://api.rightfoot.com",
                Err(UrlRefusal::PlainHttpToRemote),
            ),
            (
                "http://sandbox.localhost",
                Err(UrlRefusal::PlainHttpToRemote),
            ),
            ("http://10.0.0.1", Err(UrlRefusal::PlainHttpToRemote)),
            ("http://[::2]", Err(UrlRefusal::PlainHttpToRemote)),
            (
                "https://user:pw@api.rightfoot.com",
                Err(UrlRefusal::Credentials),
            ),
            (
                "https://user@api.rightfoot.com",
                Err(UrlRefusal::Credentials),
            ),
            ("http://:pw@127.0.0.1", Err(UrlRefusal::Credentials)),
            ("ftp://u:pw@127.0.0.1", Err(UrlRefusal::Credentials)),
            ("ftp://127.0.0.1", Err(UrlRefusal::NotHttp)),
            ("data:text/plain,hello", Err(UrlRefusal::NotHttp)),
            ("file:///etc/passwd", Err(UrlRefusal::NotHttp)),
            ("mailto:ops@example.com", Err(UrlRefusal::NotHttp)),
        ];
        for (text, want) in table {
            let url = Url::parse(text).unwrap();
            assert_eq!(check_service_url(&url), *want, "{text}");
        }
    }

    #[test]
    fn refusals_do_not_repeat_the_url() {
        let url = Url::parse("https://user:hunter2@api.rightfoot.com").unwrap();
        let refusal = check_service_url(&url).unwrap_err();
        assert!(!format!("{refusal} {refusal:?}").contains("hunter2"));
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "localhost",
            "LocalHost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(yes), "{yes}");
        }
        for no in [
            "",
            "example.com",
            "localhost.example.com",
            "sandbox.localhost",
            "10.0.0.1",
            "[::2]",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_loopback_host(no), "{no}");
        }
    }
}
