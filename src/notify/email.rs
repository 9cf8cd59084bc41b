//! Email routes: the MIME message and its three transports.
//!
//! The message is `multipart/mixed`: a `multipart/alternative` of the plain-text and
//! HTML bodies, then the CSV of every row as an attachment. Its `Message-ID` is derived
//! from the caller's idempotency key, so every retry of one notification carries the
//! same id and a receiving system can drop duplicates; its `References` names one
//! fixed id per monitor, so clients that thread by references keep a monitor's digests
//! together (the subject is stable too, see [`Digest::subject`]).
//!
//! Transports:
//! - `smtp`: lettre's tokio transport with `starttls` (TLS required after `STARTTLS`),
//!   `tls` (TLS from the first byte) or `none` (validated to a loopback host), AUTH
//!   PLAIN or LOGIN from the configured `Secret`.
//! - `sendmail`: the local MTA's command, as `sendmail -i -f <from> -- <to>...`; the
//!   child is killed if the send is abandoned.
//! - `file`: writes `<run-id>-<route>.eml` (`test-<route>.eml` for a test alert) into a
//!   directory, for demos and inspection. Its bodies are 8bit UTF-8, readable as they
//!   are, where SMTP and sendmail keep lettre's choice (quoted-printable or base64 for
//!   non-ASCII text), since a relay without `8BITMIME` cannot carry 8bit. A retry of
//!   one notification (the same `Message-ID`) replaces its file; another notification
//!   for the same run and route gets the next free name, `-2`, `-3`, and never
//!   overwrites. The message is written to a temporary name and then linked or renamed
//!   into place, so a reader never sees half a message.
//!
//! Every send, whatever the transport, runs inside `tokio::time::timeout` with the
//! route's timeout: lettre's own timeout covers only the TCP connect, and a server
//! that accepts and then says nothing would otherwise hold the send forever.
//!
//! The SMTP password goes to lettre's `Credentials` and nowhere else; error text is
//! scrubbed of it before it is kept.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest as _, Sha256};

use crate::config::{EmailRoute, EmailTransport, SmtpTls};
use crate::domain::RunId;
use crate::notify::email_body::render;
use crate::notify::{Delivered, Notification, SendError, redactor};
use crate::secret::Secret;
use crate::text::error_chain;

/// The MIME message for `digest`, showing at most `max_rows` rows in its bodies: 8bit
/// UTF-8 bodies for the file transport, lettre's choice of encoding for the others.
pub fn build_message(
    email: &EmailRoute,
    notification: Notification<'_>,
) -> Result<Message, SendError> {
    let content = render(
        notification.digest,
        notification.max_rows,
        notification.links,
    );
    let eight_bit = matches!(email.transport, EmailTransport::File { .. });
    let body = |text: &str| encoded_body(text, eight_bit);
    let csv_body = match std::str::from_utf8(&content.csv) {
        Ok(text) => body(text),
        Err(_) => Body::new(content.csv.clone()),
    };
    let domain = email.from.email.domain();
    let mut builder = Message::builder()
        .from(email.from.clone())
        .subject(content.subject.clone())
        .date(SystemTime::from(notification.now))
        .message_id(Some(message_id(notification.idempotency_key, domain)))
        .references(thread_id(&notification.digest.monitor, domain))
        .user_agent(crate::rightfoot::USER_AGENT.to_string());
    for to in &email.to {
        builder = builder.to(to.clone());
    }
    let csv_type = ContentType::parse("text/csv; charset=utf-8").expect("a valid content type");
    builder
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain(body(&content.text)))
                        .singlepart(SinglePart::html(body(&content.html))),
                )
                .singlepart(Attachment::new(content.csv_name.clone()).body(csv_body, csv_type)),
        )
        .map_err(|e| SendError::Build {
            route: notification.route.to_string(),
            detail: e.to_string(),
        })
}

/// `text` as a body: 8bit UTF-8 when asked and allowed (no line over RFC 5322's 998
/// bytes, no NUL or bare CR), else lettre's choice of 7bit, quoted-printable or base64.
/// lettre's own 8bit check refuses lines over 76 characters, which the digest's tables
/// exceed, so the line ending conversion is done here.
fn encoded_body(text: &str, eight_bit: bool) -> Body {
    let fits = !text.contains(['\0', '\r']) && text.lines().all(|line| line.len() <= 998);
    match eight_bit && fits {
        true => Body::dangerous_pre_encoded(
            text.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::EightBit,
        ),
        false => Body::new(text.to_string()),
    }
}

/// `<bm.<32 hex of SHA-256(key)>@<from domain>>`: the same for every retry of one
/// notification, and free of whatever characters the key holds.
pub fn message_id(idempotency_key: &str, domain: &str) -> String {
    let hash = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
    format!("<bm.{}@{domain}>", &hash[..32])
}

/// The one id every digest of a monitor references.
fn thread_id(monitor: &str, domain: &str) -> String {
    let hash = hex::encode(Sha256::digest(monitor.as_bytes()));
    format!("<bm-thread.{}@{domain}>", &hash[..32])
}

/// Builds the message and sends it through the route's transport, bounded as a whole
/// by the route's timeout.
pub(crate) async fn send(
    email: &EmailRoute,
    notification: Notification<'_>,
) -> Result<Delivered, SendError> {
    let message = build_message(email, notification)?;
    let Notification {
        route,
        idempotency_key,
        digest,
        ..
    } = notification;
    let message_id = message_id(idempotency_key, email.from.email.domain());
    let recipients = email.to.len();
    let attempt = async {
        match &email.transport {
            EmailTransport::Smtp {
                host,
                port,
                tls,
                credentials,
            } => {
                let transport = smtp_transport(route, host, *port, *tls, credentials, email)?;
                let password = credentials.as_ref().map(|(_, p)| p);
                let response = transport
                    .send(message)
                    .await
                    .map_err(|e| smtp_error(route, &e, password))?;
                let answer = format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                );
                Ok(Delivered::Smtp {
                    message_id,
                    recipients,
                    answer: redactor(password).scrub(answer.trim()),
                })
            }
            EmailTransport::Sendmail { command } => {
                AsyncSendmailTransport::<Tokio1Executor>::new_with_command(command)
                    .send(message)
                    .await
                    .map_err(|e| SendError::Sendmail {
                        route: route.to_string(),
                        detail: error_chain(&e),
                    })?;
                Ok(Delivered::Sendmail {
                    message_id,
                    recipients,
                })
            }
            EmailTransport::File { directory } => {
                let stem = eml_file_stem(digest.run, route);
                let path = write_eml(directory, &stem, &message_id, &message.formatted())
                    .await
                    .map_err(|(path, source)| SendError::File {
                        route: route.to_string(),
                        path,
                        source,
                    })?;
                Ok(Delivered::File { message_id, path })
            }
        }
    };
    tokio::time::timeout(email.timeout, attempt)
        .await
        .map_err(|_| SendError::Timeout {
            route: route.to_string(),
            after: email.timeout,
        })?
}

/// `check-config --online`: connects to the route's SMTP server, says EHLO, upgrades to
/// TLS as configured, logs in when credentials are set and sends NOOP, without sending
/// any message. `Ok(None)` for a transport that has no server to reach.
pub async fn check_route(route: &str, email: &EmailRoute) -> Result<Option<String>, SendError> {
    let EmailTransport::Smtp {
        host,
        port,
        tls,
        credentials,
    } = &email.transport
    else {
        return Ok(None);
    };
    let transport = smtp_transport(route, host, *port, *tls, credentials, email)?;
    let password = credentials.as_ref().map(|(_, p)| p);
    let checked = tokio::time::timeout(email.timeout, transport.test_connection())
        .await
        .map_err(|_| SendError::Timeout {
            route: route.to_string(),
            after: email.timeout,
        })?;
    match checked {
        Ok(true) => Ok(Some(format!(
            "{host}:{port}: connected, EHLO{}",
            if credentials.is_some() { ", AUTH" } else { "" }
        ))),
        Ok(false) => Err(SendError::Smtp {
            route: route.to_string(),
            detail: format!("{host}:{port} did not answer NOOP"),
            permanent: false,
        }),
        Err(e) => Err(smtp_error(route, &e, password)),
    }
}

fn smtp_transport(
    route: &str,
    host: &str,
    port: u16,
    tls: SmtpTls,
    credentials: &Option<(String, Secret)>,
    email: &EmailRoute,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let parameters = || {
        TlsParameters::new(host.to_string()).map_err(|e| SendError::Build {
            route: route.to_string(),
            detail: format!("tls settings for {host}: {}", error_chain(&e)),
        })
    };
    let tls = match tls {
        SmtpTls::StartTls => Tls::Required(parameters()?),
        SmtpTls::Tls => Tls::Wrapper(parameters()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(email.timeout));
    if let Some((user, password)) = credentials {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// An SMTP failure: a 5xx answer is permanent; a 4xx answer, a network, connection or
/// TLS failure is transient.
fn smtp_error(
    route: &str,
    error: &lettre::transport::smtp::Error,
    password: Option<&Secret>,
) -> SendError {
    SendError::Smtp {
        route: route.to_string(),
        detail: redactor(password).scrub(&error_chain(error)),
        permanent: error.is_permanent(),
    }
}

/// The `.eml` file name's stem: `<run-id>-<route>`, or `test-<route>` for a digest of
/// no run, with whatever is not a letter, digit, `-`, `_` or `.` left out of the route.
pub fn eml_file_stem(run: Option<RunId>, route: &str) -> String {
    let route: String = route
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(100)
        .collect();
    match run {
        Some(run) => format!("{}-{route}", run.0),
        None => format!("test-{route}"),
    }
}

/// The most notifications one run and route can leave as files (`-2` to `-999`).
const MAX_COPIES: u32 = 999;

/// Writes the message as `<stem>.eml`, replacing the file only when it holds the same
/// message (a retry, recognised by its `Message-ID`), and otherwise taking the first
/// free name of `<stem>-2.eml`, `<stem>-3.eml`, ...: a hard link from the temporary
/// file, which fails rather than replacing a file another writer just made.
async fn write_eml(
    directory: &Path,
    stem: &str,
    message_id: &str,
    bytes: &[u8],
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let temporary = directory.join(format!(".{stem}.{}.tmp", std::process::id()));
    tokio::fs::write(&temporary, bytes)
        .await
        .map_err(|e| (temporary.clone(), e))?;
    let header = format!("Message-ID: {message_id}");
    for copy in 1..=MAX_COPIES {
        let path = match copy {
            1 => directory.join(format!("{stem}.eml")),
            n => directory.join(format!("{stem}-{n}.eml")),
        };
        match tokio::fs::read(&path).await {
            Ok(existing) if holds(&existing, header.as_bytes()) => {
                tokio::fs::rename(&temporary, &path)
                    .await
                    .map_err(|e| (path.clone(), e))?;
                return Ok(path);
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err((path, e)),
        }
        match tokio::fs::hard_link(&temporary, &path).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(&temporary).await;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temporary).await;
                return Err((path, e));
            }
        }
    }
    let _ = tokio::fs::remove_file(&temporary).await;
    Err((
        directory.join(format!("{stem}-{MAX_COPIES}.eml")),
        std::io::Error::other(format!("{MAX_COPIES} files for one run and route already")),
    ))
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;
    use crate::notify::Digest;
    use crate::notify::digest::Transition;
    use crate::notify::digest::tests::{digest, row};
    use chrono::{DateTime, TimeZone, Utc};
    use mail_parser::{MessageParser, MimeHeaders};
    use std::time::Duration;

    fn route(transport: EmailTransport) -> EmailRoute {
        EmailRoute {
            from: "balance-monitor <alerts@lender.example>".parse().unwrap(),
            to: vec![
                "collections@lender.example".parse().unwrap(),
                "Ops <ops@lender.example>".parse().unwrap(),
            ],
            transport,
            timeout: Duration::from_secs(5),
        }
    }

    fn notification(digest: &Digest, now: DateTime<Utc>) -> Notification<'_> {
        Notification {
            route: "mail",
            max_rows: 50,
            digest,
            idempotency_key: "run-42/mail",
            now,
            links: crate::notify::Links::default(),
        }
    }

    fn file_route() -> EmailRoute {
        route(EmailTransport::File {
            directory: PathBuf::from("/nonexistent"),
        })
    }

    #[test]
    fn message_has_both_bodies_the_csv_and_stable_ids() {
        let d = digest(vec![
            row(
                Transition::Fired,
                Severity::Critical,
                Some("A-1"),
                "negative_balance",
            ),
            row(Transition::Resolved, Severity::Info, Some("A-2"), "stale"),
        ]);
        let now = Utc.with_ymd_and_hms(2025, 3, 14, 10, 31, 0).unwrap();
        let message = build_message(&file_route(), notification(&d, now)).unwrap();
        let bytes = message.formatted();
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            parsed.subject(),
            Some("1 critical, 1 resolved: morning-ach [balance-monitor]")
        );
        let id = message_id("run-42/mail", "lender.example");
        assert_eq!(parsed.message_id(), Some(id.trim_matches(['<', '>'])));
        let again = build_message(&file_route(), notification(&d, now)).unwrap();
        assert_eq!(
            MessageParser::default()
                .parse(&again.formatted())
                .unwrap()
                .message_id(),
            parsed.message_id()
        );
        assert!(
            parsed
                .body_text(0)
                .unwrap()
                .contains("negative_balance for A-1")
        );
        assert!(
            parsed
                .body_html(0)
                .unwrap()
                .contains("<strong>A-1</strong>")
        );
        let attachment = parsed.attachment(0).unwrap();
        assert_eq!(
            attachment.attachment_name(),
            Some("balance-monitor-morning-ach-run-42.csv")
        );
        assert_eq!(attachment.content_type().unwrap().subtype(), Some("csv"));
        let recipients: Vec<&str> = parsed
            .to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(
            recipients,
            ["collections@lender.example", "ops@lender.example"]
        );
        assert_eq!(parsed.date().unwrap().to_rfc3339(), "2025-03-14T10:31:00Z");
    }

    #[test]
    fn message_ids_differ_by_key_and_are_header_safe() {
        let a = message_id("run-42/mail", "lender.example");
        let b = message_id("run-43/mail", "lender.example");
        assert_ne!(a, b);
        assert!(a.starts_with("<bm.") && a.ends_with("@lender.example>"));
        assert!(
            message_id("a\r\nBcc: x@y", "d")
                .chars()
                .all(|c| c.is_ascii_graphic())
        );
    }

    #[test]
    fn eml_file_stems_name_the_run_and_the_route_safely() {
        assert_eq!(eml_file_stem(Some(RunId(42)), "mail"), "42-mail");
        assert_eq!(eml_file_stem(None, "mail"), "test-mail");
        assert_eq!(eml_file_stem(Some(RunId(7)), "a/../b c"), "7-a..bc");
    }

    #[test]
    fn file_transport_bodies_are_8bit_and_smtp_bodies_are_not() {
        let mut d = digest(vec![row(
            Transition::Fired,
            Severity::Critical,
            Some("A-1"),
            "negative_balance",
        )]);
        d.monitor = "matin-café".to_string();
        let now = Utc.with_ymd_and_hms(2025, 3, 14, 10, 31, 0).unwrap();
        let file = build_message(&file_route(), notification(&d, now))
            .unwrap()
            .formatted();
        let text = String::from_utf8(file).unwrap();
        assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
        assert!(!text.contains("quoted-printable"), "{text}");
        assert!(text.contains("matin-café"), "{text}");
        let smtp = route(EmailTransport::Smtp {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            credentials: None,
        });
        let sent = build_message(&smtp, notification(&d, now))
            .unwrap()
            .formatted();
        assert!(sent.is_ascii());
    }

    #[test]
    fn smtp_errors_never_show_the_password() {
        let password = Secret::new("hunter2-smtp-password");
        let error = SendError::Smtp {
            route: "mail".into(),
            detail: redactor(Some(&password)).scrub("535 rejected hunter2-smtp-password"),
            permanent: true,
        };
        assert!(!error.to_string().contains("hunter2"));
        assert!(!format!("{error:?}").contains("hunter2"));
        let transport = EmailTransport::Smtp {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            credentials: Some(("user".into(), password)),
        };
        assert!(!format!("{:?}", route(transport)).contains("hunter2"));
    }
}
