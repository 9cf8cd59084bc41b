//! From a connection URL to a pool: the URL read the way libpq reads it, TLS through
//! rustls (never OpenSSL), and the pool (deadpool-postgres) with its timeouts.
//!
//! `sslmode` is ours to read, because tokio-postgres knows only `disable`, `prefer` and
//! `require`: `disable` sends everything in clear; `prefer` (the default, as in libpq)
//! and `require` encrypt without checking the server's certificate, as libpq does
//! without a root certificate; `verify-ca` and `verify-full` check the chain against
//! the system's roots and the host name (`verify-ca` is held to `verify-full`). A
//! database across a network should be reached with `verify-full`.
//!
//! The password never leaves the URL: [`Target::location`] names the user, hosts,
//! ports and database only, for messages and `Debug`. This module decides nothing about
//! the schema or the queries.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};

/// How long opening one connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a pooled connection before the store reports it busy.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// What `sslmode` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Disable,
    /// `prefer` and `require`: encrypted, the certificate not checked.
    Encrypt {
        required: bool,
    },
    /// `verify-ca` and `verify-full`: the chain and the host name checked.
    Verify,
}

/// A parsed connection URL.
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: TlsMode,
}

impl Target {
    /// Reads `url` (`postgres://user:password@host:port/db?sslmode=...`). The error
    /// never quotes the URL, which holds the password.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let mut parsed = url::Url::parse(url)
            .map_err(|error| format!("not a PostgreSQL connection URL ({error})"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "the URL's scheme is {:?}; it must be postgres:// or postgresql://",
                parsed.scheme()
            ));
        }
        let mut sslmode = None;
        let others: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(key, value)| {
                if key == "sslmode" {
                    sslmode = Some(value.into_owned());
                    None
                } else {
                    Some((key.into_owned(), value.into_owned()))
                }
            })
            .collect();
        let tls = match sslmode.as_deref() {
            None | Some("prefer") => TlsMode::Encrypt { required: false },
            Some("disable") => TlsMode::Disable,
            Some("require") => TlsMode::Encrypt { required: true },
            Some("verify-ca" | "verify-full") => TlsMode::Verify,
            Some(other) => {
                return Err(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        if others.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(others);
        }
        let mut config: tokio_postgres::Config = parsed
            .as_str()
            .parse()
            .map_err(|error| format!("not a PostgreSQL connection URL ({error})"))?;
        if config.get_hosts().is_empty() {
            return Err("the URL names no host".to_string());
        }
        if config.get_dbname().is_none() {
            return Err(
                "the URL names no database (postgres://user@host:5432/DATABASE)".to_string(),
            );
        }
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Encrypt { required: false } => SslMode::Prefer,
            TlsMode::Encrypt { required: true } | TlsMode::Verify => SslMode::Require,
        });
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("balance-monitor");
        Ok(Target { config, tls })
    }

    /// `postgres://user@host:port/database`, without the password.
    pub(crate) fn location(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .zip(
                self.config
                    .get_ports()
                    .iter()
                    .chain(std::iter::repeat(&5432)),
            )
            .map(|(host, port)| match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            })
            .collect();
        format!(
            "postgres://{}@{}/{}",
            self.config.get_user().unwrap_or(""),
            hosts.join(","),
            self.config.get_dbname().unwrap_or("")
        )
    }

    /// A pool of at most `size` connections to the target.
    pub(crate) fn pool(&self, size: usize) -> Result<Pool, String> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(self.config.clone(), tls(self.tls)?, manager_config);
        Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(5)))
            .wait_timeout(Some(WAIT_TIMEOUT))
            .build()
            .map_err(|error| format!("cannot build the connection pool: {error}"))
    }
}

/// The rustls connector for a mode (unused when TLS is disabled, but the type is one).
fn tls(mode: TlsMode) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS: {error}"))?;
    let config = match mode {
        TlsMode::Verify => {
            let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|error| {
                format!("TLS: cannot read the system's root certificates: {error}")
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
        TlsMode::Disable | TlsMode::Encrypt { .. } => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `sslmode=prefer|require`: the server's signature over the handshake is checked (so
/// the session is encrypted to the holder of the certificate's key), the certificate
/// itself is not, as libpq does without a root certificate.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_and_the_location_hides_the_password() {
        let target =
            Target::parse("postgres://bm:s3cret@db.example:6543/balance?sslmode=verify-full")
                .unwrap();
        assert_eq!(target.tls, TlsMode::Verify);
        assert_eq!(target.location(), "postgres://bm@db.example:6543/balance");
        assert_eq!(
            Target::parse("postgresql://bm@localhost/balance")
                .unwrap()
                .tls,
            TlsMode::Encrypt { required: false }
        );
        assert_eq!(
            Target::parse("postgres://bm@localhost/b?sslmode=disable&connect_timeout=3")
                .unwrap()
                .tls,
            TlsMode::Disable
        );
    }

    #[test]
    fn a_bad_url_is_refused_without_quoting_it() {
        for (url, expected) in [
            ("mysql://bm:s3cret@db/balance", "scheme"),
            (
                "postgres://bm:s3cret@db/balance?sslmode=sometimes",
                "sslmode=sometimes",
            ),
            ("postgres://bm:s3cret@db", "no database"),
            ("not a url s3cret", "not a PostgreSQL connection URL"),
        ] {
            let error = Target::parse(url).err().unwrap();
            assert!(error.contains(expected), "{url}: {error}");
            assert!(!error.contains("s3cret"), "{url}: {error}");
        }
    }
}
