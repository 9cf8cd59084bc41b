//! The notifier against real receivers on loopback: an SMTP server, a webhook receiver,
//! a `sendmail` command and a directory of `.eml` files.

use std::path::Path;
use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::config::{
    EmailRoute, EmailTransport, Route, RouteTarget, Severity, SmtpTls, WebhookRoute,
};
use balance_monitor::money::Cents;
use balance_monitor::notify::{Delivered, Digest, DigestRow, Notifier, SendError, Transition};
use balance_monitor::secret::Secret;
use balance_monitor::store::RunId;
use chrono::TimeZone;
use mail_parser::{MessageParser, MimeHeaders};

use crate::support::receiver::{Receiver, Reply};
use crate::support::smtp::{SilentServer, SmtpServer, SmtpSettings};

const SMTP_USER: &str = "balance-monitor";
const SMTP_PASSWORD: &str = "smtp-pa55word-do-not-print";
const WEBHOOK_SECRET: &str = "whsec_do_not_print_0123456789";

fn alert(
    transition: Transition,
    severity: Severity,
    authorizer: Option<&str>,
    rule: &str,
    after: i64,
) -> DigestRow {
    DigestRow {
        transition,
        severity,
        authorizer_id: authorizer.map(str::to_string),
        metadata: vec![
            ("loan_id".into(), format!("L-{}", authorizer.unwrap_or("-"))),
            ("payment_amount".into(), "120.00".into()),
        ],
        balance_before: Some(Cents(123_456)),
        balance_after: Some(Cents(after)),
        rule: rule.into(),
        reason: format!("{rule}: balance {} < payment", Cents(after)),
    }
}

/// Seven alerts: five newly firing (one about the run), one reminder, one resolved,
/// with a reason and metadata full of characters HTML must escape.
fn digest() -> Digest {
    let mut rows = vec![
        alert(
            Transition::Fired,
            Severity::Critical,
            Some("A-1001"),
            "negative_balance",
            -8_368,
        ),
        alert(
            Transition::Fired,
            Severity::Warning,
            Some("A-1002"),
            "balance_below",
            4_200,
        ),
        alert(
            Transition::Fired,
            Severity::Warning,
            Some("A-1003"),
            "balance_below",
            4_300,
        ),
        alert(
            Transition::Fired,
            Severity::Warning,
            Some("A-1004"),
            "balance_below",
            4_400,
        ),
        alert(
            Transition::Reminder,
            Severity::Warning,
            Some("A-2001"),
            "drop_percent",
            10_000,
        ),
        alert(
            Transition::Resolved,
            Severity::Info,
            Some("A-3001"),
            "stale",
            50_000,
        ),
    ];
    let mut run_failed = alert(Transition::Fired, Severity::Critical, None, "run_failed", 0);
    run_failed.balance_before = None;
    run_failed.balance_after = None;
    run_failed.metadata.clear();
    run_failed.reason = "12% of authorizers <not retrieved> & \"late\"".into();
    rows.push(run_failed);
    rows[1].metadata[0].1 = "<b>L&7</b>".into();
    Digest {
        monitor: "morning-ach".into(),
        run: Some(RunId(42)),
        run_time: chrono::Utc
            .with_ymd_and_hms(2025, 3, 14, 10, 30, 0)
            .unwrap(),
        zone: chrono_tz::America::New_York,
        firing: Digest::firing_from_rows(&rows),
        rows,
        test: false,
        fields: Vec::new(),
    }
}

fn notifier() -> Notifier {
    Notifier::new(Clock::system()).unwrap()
}

fn email_route(transport: EmailTransport, max_rows: usize, timeout: Duration) -> Route {
    Route {
        name: "collections-email".into(),
        max_rows,
        give_up_after: Route::DEFAULT_GIVE_UP_AFTER,
        target: RouteTarget::Email(EmailRoute {
            from: "balance-monitor <alerts@lender.example>".parse().unwrap(),
            to: vec![
                "collections@lender.example".parse().unwrap(),
                "Ops Team <ops@lender.example>".parse().unwrap(),
            ],
            transport,
            timeout,
        }),
    }
}

fn smtp_route(port: u16, password: &str, timeout: Duration) -> Route {
    email_route(
        EmailTransport::Smtp {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            credentials: Some((SMTP_USER.into(), Secret::new(password))),
        },
        3,
        timeout,
    )
}

fn webhook_route(receiver: &Receiver, secret: Option<&str>, timeout: Duration) -> Route {
    Route {
        name: "los-webhook".into(),
        max_rows: 500,
        give_up_after: Route::DEFAULT_GIVE_UP_AFTER,
        target: RouteTarget::Webhook(WebhookRoute {
            url: receiver.url(),
            secret: secret.map(Secret::new),
            timeout,
        }),
    }
}

fn assert_secret_free(error: &SendError, secret: &str) {
    assert!(!error.to_string().contains(secret), "{error}");
    assert!(!format!("{error:?}").contains(secret), "{error:?}");
}

/// The CSV attachment's records, header first.
fn csv_records(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

/// Checks a delivered digest email: headers, both bodies, and the CSV attachment.
fn check_digest_email(raw: &[u8]) -> String {
    let message = MessageParser::default()
        .parse(raw)
        .expect("a parseable message");
    assert_eq!(
        message.subject(),
        Some("2 critical, 4 warning, 1 resolved: morning-ach [balance-monitor]")
    );
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some("alerts@lender.example"));
    let to: Vec<&str> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["collections@lender.example", "ops@lender.example"]);

    let text = message.body_text(0).unwrap();
    assert!(
        text.contains("Time: 2025-03-14 06:30 EDT (2025-03-14 10:30 UTC)"),
        "{text}"
    );
    assert!(
        text.contains("5 new, 1 still firing (1 reminded now), 1 resolved"),
        "{text}"
    );
    assert!(text.contains("== CRITICAL (2) =="), "{text}");
    // max_rows 3: the run-level alert and A-1001 (critical), then A-1002.
    assert!(text.contains("(the run)"), "{text}");
    assert!(text.contains("$1,234.56 → -$83.68"), "{text}");
    assert!(text.contains("A-1002"), "{text}");
    assert!(!text.contains("A-1003"), "{text}");
    assert!(text.contains("… and 4 more alerts"), "{text}");
    assert!(text.contains("== WARNING (4) =="), "{text}");
    assert!(text.contains("<b>L&7</b>"), "{text}");

    let html = message.body_html(0).unwrap();
    assert!(html.contains("&lt;b&gt;L&amp;7&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>L&7</b>"), "{html}");
    assert!(
        html.contains("12% of authorizers &lt;not retrieved&gt; &amp; &quot;late&quot;"),
        "{html}"
    );
    assert!(html.contains("$1,234.56 → -$83.68"), "{html}");
    assert!(html.contains("… and 4 more alerts"), "{html}");

    let attachment = message.attachment(0).expect("a CSV attachment");
    assert_eq!(
        attachment.attachment_name(),
        Some("balance-monitor-morning-ach-run-42.csv")
    );
    let records = csv_records(attachment.contents());
    assert_eq!(
        records.len(),
        8,
        "a header and every row, cut ones included"
    );
    assert_eq!(
        records[0],
        [
            "transition",
            "severity",
            "authorizer_id",
            "meta_loan_id",
            "meta_payment_amount",
            "balance_before",
            "balance_after",
            "rule",
            "reason"
        ]
    );
    let ids: Vec<&str> = records[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        ids,
        [
            "", "A-1001", "A-1002", "A-1003", "A-1004", "A-2001", "A-3001"
        ]
    );
    assert_eq!(records[2][6], "-83.68");
    assert_eq!(
        records[1][8],
        "12% of authorizers <not retrieved> & \"late\""
    );
    message.message_id().unwrap().to_string()
}

#[tokio::test]
async fn smtp_digest_arrives_once_with_subject_bodies_csv_and_recipients() {
    let server = SmtpServer::start(SmtpSettings {
        credentials: Some((SMTP_USER.into(), SMTP_PASSWORD.into())),
        rcpt: None,
    })
    .await;
    let route = smtp_route(server.addr.port(), SMTP_PASSWORD, Duration::from_secs(20));
    let delivered = notifier()
        .send(&route, &digest(), "run-42/collections-email")
        .await
        .unwrap();

    let mails = server.mails();
    assert_eq!(mails.len(), 1, "one digest per route per run");
    let mail = &mails[0];
    assert_eq!(mail.authenticated_as.as_deref(), Some(SMTP_USER));
    assert_eq!(mail.from, "alerts@lender.example");
    assert_eq!(
        mail.to,
        ["collections@lender.example", "ops@lender.example"]
    );
    let message_id = check_digest_email(&mail.data);
    let Delivered::Smtp {
        message_id: sent_id,
        recipients,
        answer,
    } = &delivered
    else {
        panic!("{delivered:?}")
    };
    assert_eq!(sent_id.trim_matches(['<', '>']), message_id);
    assert_eq!(*recipients, 2);
    assert!(answer.starts_with("250"), "{answer}");
    assert!(!String::from_utf8_lossy(&mail.data).contains(SMTP_PASSWORD));
}

#[tokio::test]
async fn smtp_retry_with_the_same_key_carries_the_same_message_id() {
    let server = SmtpServer::start(SmtpSettings {
        credentials: Some((SMTP_USER.into(), SMTP_PASSWORD.into())),
        rcpt: None,
    })
    .await;
    let route = smtp_route(server.addr.port(), SMTP_PASSWORD, Duration::from_secs(20));
    let notifier = notifier();
    for key in ["run-42/mail", "run-42/mail", "run-43/mail"] {
        notifier.send(&route, &digest(), key).await.unwrap();
    }
    let ids: Vec<String> = server
        .mails()
        .iter()
        .map(|m| {
            let parsed = MessageParser::default().parse(&m.data).unwrap();
            parsed.message_id().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn smtp_wrong_password_is_permanent_and_never_repeated() {
    let server = SmtpServer::start(SmtpSettings {
        credentials: Some((SMTP_USER.into(), "the-right-one".into())),
        rcpt: None,
    })
    .await;
    // The server echoes the wrong password in its 535 answer.
    let route = smtp_route(server.addr.port(), SMTP_PASSWORD, Duration::from_secs(20));
    let error = notifier()
        .send(&route, &digest(), "run-42/mail")
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Smtp { .. }), "{error:?}");
    assert!(error.is_permanent(), "{error}");
    assert!(error.to_string().contains("535"), "{error}");
    assert!(error.to_string().contains("[redacted]"), "{error}");
    assert_secret_free(&error, SMTP_PASSWORD);
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn smtp_temporary_rejection_is_transient() {
    let server = SmtpServer::start(SmtpSettings {
        credentials: Some((SMTP_USER.into(), SMTP_PASSWORD.into())),
        rcpt: Some((450, "4.2.1 mailbox busy, try again later".into())),
    })
    .await;
    let route = smtp_route(server.addr.port(), SMTP_PASSWORD, Duration::from_secs(20));
    let error = notifier()
        .send(&route, &digest(), "run-42/mail")
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Smtp { .. }), "{error:?}");
    assert!(!error.is_permanent(), "{error}");
    assert!(error.to_string().contains("try again later"), "{error}");
}

/// Regression: lettre's timeout covers only the TCP connect, so a server that accepts
/// and never greets held a send forever. The route's timeout bounds the whole send.
#[tokio::test]
async fn smtp_server_that_never_greets_is_a_transient_timeout() {
    let server = SilentServer::start().await;
    let route = smtp_route(
        server.addr.port(),
        SMTP_PASSWORD,
        Duration::from_millis(300),
    );
    // The outer bound turns the old hang into a failure instead of a stuck test.
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        notifier().send(&route, &digest(), "run-42/mail"),
    )
    .await
    .expect("the send gives up by itself")
    .unwrap_err();
    assert!(
        matches!(error, SendError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(!error.is_permanent());
}

#[tokio::test]
async fn file_transport_writes_one_8bit_eml_per_run_and_route_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let route = email_route(
        EmailTransport::File {
            directory: dir.path().to_path_buf(),
        },
        3,
        Duration::from_secs(10),
    );
    let notifier = notifier();
    let first = notifier.send(&route, &digest(), "bm-first").await.unwrap();
    // A retry of the same notification replaces the file rather than adding one.
    let again = notifier.send(&route, &digest(), "bm-first").await.unwrap();
    assert_eq!(first, again);
    let Delivered::File { path, message_id } = &first else {
        panic!("{first:?}")
    };
    let run = digest().run.expect("the digest of a run").0;
    assert_eq!(
        path,
        &dir.path().join(format!("{run}-collections-email.eml"))
    );
    let raw = std::fs::read(path).unwrap();
    let text = String::from_utf8(raw.clone()).expect("UTF-8 as written");
    assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
    assert!(!text.contains("quoted-printable"), "{text}");
    let parsed_id = check_digest_email(&raw);
    assert_eq!(message_id.trim_matches(['<', '>']), parsed_id);

    // Another notification for the same run and route is kept beside the first.
    let second = notifier.send(&route, &digest(), "bm-second").await.unwrap();
    let Delivered::File { path: second, .. } = &second else {
        panic!("{second:?}")
    };
    assert_eq!(
        second,
        &dir.path().join(format!("{run}-collections-email-2.eml"))
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{run}-collections-email-2.eml"),
            format!("{run}-collections-email.eml")
        ],
        "no temporary file is left"
    );
    assert_eq!(std::fs::read(path).unwrap(), raw, "the first is untouched");
}

#[tokio::test]
async fn file_transport_into_a_missing_directory_is_a_transient_error() {
    let dir = tempfile::tempdir().unwrap();
    let route = email_route(
        EmailTransport::File {
            directory: dir.path().join("missing"),
        },
        3,
        Duration::from_secs(10),
    );
    let error = notifier()
        .send(&route, &digest(), "run-42")
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::File { .. }), "{error:?}");
    assert!(!error.is_permanent());
}

/// A `sendmail` stand-in that records its arguments and the message, then exits with
/// `status`.
fn fake_sendmail(dir: &Path, status: i32) -> std::path::PathBuf {
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/args'\ncat > '{0}/message.eml'\necho 'queue unavailable' >&2\nexit {status}\n",
        dir.display()
    );
    crate::support::write_file(dir, "sendmail", script.as_bytes(), 0o700)
}

#[tokio::test]
async fn sendmail_transport_pipes_the_message_to_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let command = fake_sendmail(dir.path(), 0);
    let route = email_route(
        EmailTransport::Sendmail { command },
        3,
        Duration::from_secs(20),
    );
    let delivered = notifier()
        .send(&route, &digest(), "run-42/mail")
        .await
        .unwrap();
    assert!(
        matches!(delivered, Delivered::Sendmail { recipients: 2, .. }),
        "{delivered:?}"
    );
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "-i",
            "-f",
            "alerts@lender.example",
            "--",
            "collections@lender.example",
            "ops@lender.example"
        ]
    );
    check_digest_email(&std::fs::read(dir.path().join("message.eml")).unwrap());
}

#[tokio::test]
async fn sendmail_failure_is_transient_and_reports_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let command = fake_sendmail(dir.path(), 75);
    let route = email_route(
        EmailTransport::Sendmail { command },
        3,
        Duration::from_secs(20),
    );
    let error = notifier()
        .send(&route, &digest(), "run-42/mail")
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Sendmail { .. }), "{error:?}");
    assert!(!error.is_permanent());
    assert!(error.to_string().contains("queue unavailable"), "{error}");
}

#[tokio::test]
async fn webhook_is_signed_and_carries_the_idempotency_key() {
    let receiver = Receiver::start(Some(WEBHOOK_SECRET), vec![]).await;
    let route = webhook_route(&receiver, Some(WEBHOOK_SECRET), Duration::from_secs(20));
    let delivered = notifier()
        .send(&route, &digest(), "run-42/los-webhook")
        .await
        .unwrap();
    assert_eq!(delivered.to_string(), "webhook answered http 200 OK: ok");

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "one digest per route per run");
    let request = &requests[0];
    assert_eq!(request.signature_valid, Some(true));
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some("run-42/los-webhook")
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert!(
        request
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("balance-monitor/")
    );
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(json["version"], "1");
    assert_eq!(json["monitor"], "morning-ach");
    assert_eq!(json["run"]["id"], 42);
    assert_eq!(json["counts"]["firing"], 6);
    assert_eq!(json["counts"]["resolved"], 1);
    assert_eq!(json["alerts"].as_array().unwrap().len(), 7);
    assert_eq!(json["alerts"][1]["authorizer_id"], "A-1001");
    assert_eq!(json["alerts"][1]["balance_after"], "-83.68");
    assert_eq!(json["alerts"][1]["balance_after_cents"], -8368);
    assert!(!String::from_utf8_lossy(&request.body).contains(WEBHOOK_SECRET));
}

#[tokio::test]
async fn webhook_without_a_secret_is_unsigned() {
    let receiver = Receiver::start(None, vec![]).await;
    let route = webhook_route(&receiver, None, Duration::from_secs(20));
    notifier().send(&route, &digest(), "k").await.unwrap();
    assert_eq!(receiver.requests()[0].signature_valid, None);
}

#[tokio::test]
async fn webhook_statuses_are_classified_and_retries_keep_the_key() {
    let receiver = Receiver::start(
        Some(WEBHOOK_SECRET),
        vec![
            Reply::status(500, "upstream down"),
            Reply::Status(429, "slow down".into(), vec![("retry-after", "7".into())]),
            Reply::status(408, ""),
            Reply::status(503, ""),
            Reply::status(400, "{\"error\":\"unknown monitor\"}"),
            Reply::status(404, "no such hook"),
            Reply::status(301, ""),
        ],
    )
    .await;
    let route = webhook_route(&receiver, Some(WEBHOOK_SECRET), Duration::from_secs(20));
    let notifier = notifier();
    let mut outcomes = Vec::new();
    for _ in 0..7 {
        let error = notifier
            .send(&route, &digest(), "run-42/los-webhook")
            .await
            .unwrap_err();
        assert!(
            matches!(error, SendError::WebhookStatus { .. }),
            "{error:?}"
        );
        outcomes.push((error.to_string(), error.is_permanent(), error.retry_after()));
    }
    let expected = [
        (
            "route los-webhook: webhook answered http 500 Internal Server Error: upstream down",
            false,
            None,
        ),
        (
            "route los-webhook: webhook answered http 429 Too Many Requests: slow down",
            false,
            Some(Duration::from_secs(7)),
        ),
        (
            "route los-webhook: webhook answered http 408 Request Timeout",
            false,
            None,
        ),
        (
            "route los-webhook: webhook answered http 503 Service Unavailable",
            false,
            None,
        ),
        (
            "route los-webhook: webhook answered http 400 Bad Request: {\"error\":\"unknown monitor\"}",
            true,
            None,
        ),
        (
            "route los-webhook: webhook answered http 404 Not Found: no such hook",
            true,
            None,
        ),
        (
            "route los-webhook: webhook answered http 301 Moved Permanently",
            true,
            None,
        ),
    ];
    for (got, want) in outcomes.iter().zip(expected) {
        assert_eq!((got.0.as_str(), got.1, got.2), want);
    }
    // The script is used up: the next attempt is delivered.
    notifier
        .send(&route, &digest(), "run-42/los-webhook")
        .await
        .unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 8);
    for request in &requests {
        assert_eq!(
            request.idempotency_key.as_deref(),
            Some("run-42/los-webhook")
        );
        assert_eq!(request.signature_valid, Some(true));
    }
}

#[tokio::test]
async fn webhook_that_never_answers_is_a_transient_timeout() {
    let receiver = Receiver::start(Some(WEBHOOK_SECRET), vec![Reply::Hang]).await;
    let route = webhook_route(&receiver, Some(WEBHOOK_SECRET), Duration::from_secs(1));
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        notifier().send(&route, &digest(), "run-42/los-webhook"),
    )
    .await
    .expect("the send gives up by itself")
    .unwrap_err();
    assert!(
        matches!(error, SendError::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{error:?}"
    );
    assert!(!error.is_permanent());
    assert_eq!(
        receiver.requests().len(),
        1,
        "the request reached the receiver"
    );
}

#[tokio::test]
async fn webhook_connection_refused_is_transient() {
    let receiver = Receiver::start(None, vec![]).await;
    let mut route = webhook_route(&receiver, Some(WEBHOOK_SECRET), Duration::from_secs(20));
    // A port that was just bound and released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    if let RouteTarget::Webhook(hook) = &mut route.target {
        hook.url = format!("http://127.0.0.1:{port}/hooks/x?token=query-token-secret")
            .parse()
            .unwrap();
    }
    let error = notifier().send(&route, &digest(), "k").await.unwrap_err();
    assert!(
        matches!(error, SendError::WebhookTransport { .. }),
        "{error:?}"
    );
    assert!(!error.is_permanent());
    assert_secret_free(&error, "query-token-secret");
    assert_secret_free(&error, WEBHOOK_SECRET);
}

#[tokio::test]
async fn webhook_signed_with_the_wrong_secret_is_refused_permanently() {
    let receiver = Receiver::start(Some("the-receivers-secret"), vec![]).await;
    let route = webhook_route(&receiver, Some(WEBHOOK_SECRET), Duration::from_secs(20));
    let error = notifier().send(&route, &digest(), "k").await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert_eq!(
        error.to_string(),
        "route los-webhook: webhook answered http 401 Unauthorized: bad signature"
    );
    assert_eq!(receiver.requests()[0].signature_valid, Some(false));
    assert_secret_free(&error, WEBHOOK_SECRET);
}

#[tokio::test]
async fn webhook_answer_excerpt_is_short_one_line_and_secret_free() {
    let body = format!(
        "line one\nyour secret was {WEBHOOK_SECRET}\n{}",
        "x".repeat(5000)
    );
    let receiver = Receiver::start(None, vec![Reply::Status(502, body, vec![])]).await;
    let route = webhook_route(&receiver, Some(WEBHOOK_SECRET), Duration::from_secs(20));
    let error = notifier().send(&route, &digest(), "k").await.unwrap_err();
    let SendError::WebhookStatus { answer, .. } = &error else {
        panic!("{error:?}")
    };
    let excerpt = answer.excerpt.as_deref().unwrap();
    assert!(
        excerpt.starts_with("line one your secret was [redacted] xxx"),
        "{excerpt}"
    );
    assert_eq!(
        excerpt.chars().count(),
        201,
        "200 characters and an ellipsis"
    );
    assert!(!excerpt.contains('\n'));
    assert_secret_free(&error, WEBHOOK_SECRET);
}

#[tokio::test]
async fn test_digests_are_marked_on_every_route() {
    let mut digest = digest();
    digest.test = true;
    digest.run = None;
    let dir = tempfile::tempdir().unwrap();
    let route = email_route(
        EmailTransport::File {
            directory: dir.path().to_path_buf(),
        },
        50,
        Duration::from_secs(10),
    );
    let notifier = notifier();
    let Delivered::File { path, .. } = notifier.send(&route, &digest, "test-1").await.unwrap()
    else {
        panic!("expected a file")
    };
    let raw = std::fs::read(path).unwrap();
    let message = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        message.subject(),
        Some("[TEST] 2 critical, 4 warning, 1 resolved: morning-ach [balance-monitor]")
    );
    assert!(message.body_text(0).unwrap().starts_with("[TEST] "));
    assert!(
        message
            .body_html(0)
            .unwrap()
            .contains("<strong>[TEST]</strong>")
    );

    let receiver = Receiver::start(None, vec![]).await;
    let hook = webhook_route(&receiver, None, Duration::from_secs(20));
    notifier.send(&hook, &digest, "test-1").await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&receiver.requests()[0].body).unwrap();
    assert_eq!(json["test"], true);
    assert_eq!(json["run"]["id"], serde_json::Value::Null);
}

/// `tls: starttls` must never fall back to clear text: against a server that offers no
/// STARTTLS (or an attacker who strips it), nothing is sent, the password included.
#[tokio::test]
async fn starttls_route_sends_nothing_to_a_server_without_starttls() {
    let server = SmtpServer::start(SmtpSettings {
        credentials: Some((SMTP_USER.into(), SMTP_PASSWORD.into())),
        rcpt: None,
    })
    .await;
    let mut route = smtp_route(server.addr.port(), SMTP_PASSWORD, Duration::from_secs(20));
    if let RouteTarget::Email(email) = &mut route.target
        && let EmailTransport::Smtp { tls, host, .. } = &mut email.transport
    {
        *tls = SmtpTls::StartTls;
        *host = "localhost".into();
    }
    let error = notifier()
        .send(&route, &digest(), "run-42/mail")
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Smtp { .. }), "{error:?}");
    assert!(!error.is_permanent(), "{error}");
    assert!(server.mails().is_empty());
    assert_eq!(server.auth_attempts(), 0);
    assert_secret_free(&error, SMTP_PASSWORD);
}
