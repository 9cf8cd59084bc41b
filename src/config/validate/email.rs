//! An email route (`routes.<name>.email`): sender, recipients, timeout and one of three
//! transports (SMTP, a local `sendmail`, `.eml` files in a directory), each with its
//! own keys; a key of another transport is refused rather than ignored.
//!
//! SMTP without TLS is allowed only to a loopback host, by the crate's one loopback
//! check (`net::is_loopback_host`): it would send mail and the password in clear text.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;

use super::validator::{SecretKeys, Validator};
use crate::config::model::{EmailRoute, EmailTransport, SmtpTls};
use crate::config::raw::{RawEmail, RawTransport, Text};
use crate::net;
use crate::yaml::Position;

/// Where a local MTA's command is unless `sendmail_command` says otherwise.
const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail";

impl Validator<'_> {
    pub(super) fn email(&mut self, raw: &RawEmail, key: &str) -> Option<EmailRoute> {
        let from = self.mailbox(&raw.from, &format!("{key}.from"));
        if raw.to.is_empty() {
            self.at(
                &raw.from,
                format!("{key}.to"),
                "at least one recipient is needed",
            );
        }
        let to: Vec<_> = raw
            .to
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.mailbox(t, &format!("{key}.to[{i}]")))
            .collect();
        let timeout = self.duration_in(
            &raw.timeout,
            &format!("{key}.timeout"),
            Duration::from_secs(30),
            Duration::from_secs(1),
            Duration::from_secs(600),
        );
        // A problem with the transport as a whole points at the `transport` word, or at
        // `from` when the word was left out (and the transport is smtp).
        let (kind, anchor) = match &raw.transport {
            Some(t) => (t.value, Position::of(t)),
            None => (RawTransport::Smtp, Position::of(&raw.from)),
        };
        let transport = match kind {
            RawTransport::Smtp => Some(self.smtp(raw, key)),
            RawTransport::Sendmail => {
                self.refuse_smtp_keys(raw, key, kind, anchor);
                let command = raw.sendmail_command.as_ref().map_or_else(
                    || PathBuf::from(DEFAULT_SENDMAIL),
                    |c| PathBuf::from(&c.value),
                );
                Some(EmailTransport::Sendmail { command })
            }
            RawTransport::File => {
                self.refuse_smtp_keys(raw, key, kind, anchor);
                match &raw.directory {
                    Some(d) => Some(EmailTransport::File {
                        directory: self.path(&d.value),
                    }),
                    None => {
                        self.problem(
                            Some(anchor),
                            format!("{key}.directory"),
                            "transport file needs a directory",
                        );
                        None
                    }
                }
            }
        };
        if kind != RawTransport::Sendmail
            && let Some(c) = &raw.sendmail_command
        {
            self.at(
                c,
                format!("{key}.sendmail_command"),
                "sendmail_command applies only to transport sendmail",
            );
        }
        if kind != RawTransport::File
            && let Some(d) = &raw.directory
        {
            self.at(
                d,
                format!("{key}.directory"),
                "directory applies only to transport file",
            );
        }
        Some(EmailRoute {
            from: from?,
            to,
            transport: transport?,
            timeout,
        })
    }

    fn smtp(&mut self, raw: &RawEmail, key: &str) -> EmailTransport {
        let tls = raw.tls.as_ref().map_or(SmtpTls::StartTls, |t| t.value);
        let host = match &raw.smtp_host {
            Some(h) => h.value.clone(),
            None => {
                self.at(
                    &raw.from,
                    format!("{key}.smtp_host"),
                    "missing smtp_host for transport smtp",
                );
                String::new()
            }
        };
        if let Some(t) = &raw.tls
            && t.value == SmtpTls::None
            && !host.is_empty()
            && !net::is_loopback_host(&host)
        {
            self.at(
                t,
                format!("{key}.tls"),
                format!("tls: none sends mail and the SMTP password in clear text; it is allowed only to a loopback host, not {host:?}"),
            );
        }
        let port = match &raw.smtp_port {
            Some(p) => u16::try_from(p.value)
                .ok()
                .filter(|port| *port != 0)
                .unwrap_or_else(|| {
                    self.at(
                        p,
                        format!("{key}.smtp_port"),
                        format!("{} is not a port number", p.value),
                    );
                    0
                }),
            None => match tls {
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
                SmtpTls::None => 25,
            },
        };
        let password = self.secret(
            key,
            "password",
            SecretKeys {
                literal: &raw.password,
                file: &raw.password_file,
                env: &raw.password_env,
            },
            None,
            false,
        );
        let credentials = match (&raw.username, password) {
            (Some(user), Some(password)) => Some((user.value.clone(), password)),
            (None, None) => None,
            (Some(user), None) => {
                if raw.password.is_none()
                    && raw.password_file.is_none()
                    && raw.password_env.is_none()
                {
                    self.at(
                        user,
                        format!("{key}.username"),
                        "username without password_file or password_env",
                    );
                }
                None
            }
            (None, Some(_)) => {
                self.at(
                    &raw.from,
                    format!("{key}.username"),
                    "a password is set but no username",
                );
                None
            }
        };
        EmailTransport::Smtp {
            host,
            port,
            tls,
            credentials,
        }
    }

    /// Refuses the keys that only transport smtp reads, at the `transport` word.
    fn refuse_smtp_keys(&mut self, raw: &RawEmail, key: &str, kind: RawTransport, at: Position) {
        let smtp_only = [
            ("smtp_host", raw.smtp_host.is_some()),
            ("smtp_port", raw.smtp_port.is_some()),
            ("tls", raw.tls.is_some()),
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
            ("password_file", raw.password_file.is_some()),
            ("password_env", raw.password_env.is_some()),
        ];
        for (name, present) in smtp_only {
            if present {
                self.problem(
                    Some(at),
                    format!("{key}.{name}"),
                    format!(
                        "{name} applies only to transport smtp, not {}",
                        kind.as_str()
                    ),
                );
            }
        }
    }

    fn mailbox(&mut self, text: &Text, key: &str) -> Option<Mailbox> {
        match text.value.parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                self.at(
                    text,
                    key,
                    format!("invalid email address {:?}: {e}", text.value),
                );
                None
            }
        }
    }
}
