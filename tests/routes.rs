//! Slack, Microsoft Teams and PagerDuty routes against local receivers that play each
//! service's part (`support::services`): what the services accept, their answers, and
//! the outbox's guarantees.
//!
//! - A run with 5,000 firing alerts under two rules, judged by [`Alerting`] and
//!   delivered by the [`Outbox`]: one Slack message within every limit, one Teams card
//!   under 28 KB, two grouped PagerDuty triggers with their counts; with
//!   `per_authorizer`, 100 per-alert triggers and one event for the rest, paced. When
//!   the alerts resolve, resolve events follow under the same keys.
//! - Slack's 429 with `Retry-After: 2` (the next attempt no sooner), `invalid_payload`
//!   failed at once; PagerDuty's 400 (failed, with PagerDuty's message) and 429.
//! - `balance-monitor test-alert` for each kind, printing the service's answer.
//! - The real daemon killed (SIGKILL) in the middle of a PagerDuty delivery and started
//!   again: no incident opened twice, none lost; and no personal value of the
//!   authorizer file in any Slack, Teams or PagerDuty body.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use balance_monitor::alerting::{Alerting, Outbox};
use balance_monitor::clock::Clock;
use balance_monitor::config::{self, ChatRoute, Route, RouteTarget};
use balance_monitor::notify::Notifier;
use balance_monitor::sandbox::Scenario;
use balance_monitor::secret::{Environment, Secret};
use balance_monitor::store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::daemon::{
    ConfigSpec, Daemon, MonitorSpec, PATIENCE, slot_due_now, yearly_cron,
};
use crate::support::gate::sandbox_config;
use crate::support::history::{KEY_ENV, Seen, march, seed_run};
use crate::support::receiver::Reply;
use crate::support::sandbox::{CsvRow, RunningSandbox, authorizers_csv};
use crate::support::services::{Service, ServiceReceiver};
use crate::support::{run_binary, write_file};

const MONITOR: &str = "morning-ach";
const ROUTING_KEY: &str = "R0UTINGKEYabcdefABCDEFghijklmnop";

/// The monitor's rules: a negative balance (critical) and a failed check (warning).
const RULES: &str = "    rules:\n      - negative_balance: {}\n      - check_failed: { codes: any, consecutive: 1, severity: warning }\n    send_resolved: true\n";

fn pagerduty_route(url: &str, per_authorizer: bool, rate: u32) -> String {
    format!(
        "    pagerduty:\n      routing_key_env: PD_KEY\n      events_url: {url}\n      \
         per_authorizer: {per_authorizer}\n      rate_per_minute: {rate}\n"
    )
}

/// A store and the configuration of [`MONITOR`] with `routes` (name, body), secrets
/// from the environment, on the system clock.
struct Library {
    _dir: tempfile::TempDir,
    store: Store,
    outbox: Outbox,
    alerting: Alerting,
    config: Arc<config::Config>,
}

impl Library {
    async fn new(routes: &[(&str, String)], env: &[(&str, &str)]) -> Library {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<&str> = routes.iter().map(|(name, _)| *name).collect();
        let mut text = format!(
            "rightfoot:\n  api_key_env: {KEY_ENV}\nstorage:\n  path: state.db\nmonitors:\n  \
             - name: {MONITOR}\n    schedule: \"0 9 * * 1-5\"\n    authorizers: {{ csv: authorizers.csv }}\n{RULES}    routes: [{}]\nroutes:\n",
            names.join(", ")
        );
        for (name, body) in routes {
            text.push_str(&format!("  {name}:\n    max_rows: 10000\n{body}"));
        }
        let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
        let mut pairs = vec![(KEY_ENV, "rf_test_key")];
        pairs.extend_from_slice(env);
        let env = Environment::from_pairs(pairs);
        let config = config::load(&path, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let store = Store::open(dir.path().join("state.db")).unwrap();
        let clock = Clock::system();
        let config = Arc::new(config);
        let alerting = Alerting::new(store.clone(), clock.clone(), Arc::clone(&config));
        let outbox = Outbox::new(alerting.clone(), Notifier::new(clock).unwrap());
        Library {
            _dir: dir,
            store,
            outbox,
            alerting,
            config,
        }
    }

    async fn judge_and_deliver(&self) -> balance_monitor::alerting::DeliveryRound {
        for judged in self.alerting.judge_pending(MONITOR).await {
            judged.expect("the run is judged");
        }
        self.outbox
            .deliver_due(&CancellationToken::new())
            .await
            .unwrap()
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// Every authorizer of the 5,000: `N-0000`… with a negative balance, `F-0000`… with a
/// failed check.
fn five_thousand(recovered: bool) -> Vec<(String, Seen)> {
    let mut entries = Vec::new();
    for n in 0..2500 {
        let balance = if recovered { 50_000 } else { -500 };
        entries.push((format!("N-{n:04}"), Seen::Balance(balance)));
        let check = if recovered {
            Seen::Balance(50_000)
        } else {
            Seen::Failed(5)
        };
        entries.push((format!("F-{n:04}"), check));
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_alerts_make_one_message_one_card_two_pages_and_resolve_under_the_same_keys()
{
    let slack = ServiceReceiver::start(Service::Slack, None, Vec::new()).await;
    let teams = ServiceReceiver::start(Service::Teams, None, Vec::new()).await;
    let grouped = ServiceReceiver::start(Service::PagerDuty, Some(ROUTING_KEY), Vec::new()).await;
    let each = ServiceReceiver::start(Service::PagerDuty, Some(ROUTING_KEY), Vec::new()).await;
    let library = Library::new(
        &[
            (
                "chat",
                "    slack: { webhook_url_env: SLACK_URL }\n".to_string(),
            ),
            (
                "channel",
                "    teams: { webhook_url_env: TEAMS_URL }\n".to_string(),
            ),
            ("oncall", pagerduty_route(&grouped.url(), false, 120)),
            ("oncall-each", pagerduty_route(&each.url(), true, 1200)),
        ],
        &[
            ("SLACK_URL", &slack.url()),
            ("TEAMS_URL", &teams.url()),
            ("PD_KEY", ROUTING_KEY),
        ],
    )
    .await;
    library.run_the_five_thousand(10, false).await;

    // Slack: one message, within every limit, "and N more" for the rest.
    let messages = slack.requests();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].problems.is_empty(),
        "{:?}",
        messages[0].problems
    );
    let message = String::from_utf8(messages[0].body.to_vec()).unwrap();
    assert!(message.len() <= 40_000, "{}", message.len());
    assert!(
        message.contains("2500 critical, 2500 warning: morning-ach"),
        "{message}"
    );
    assert!(message.contains("5000 new, 0 still firing, 0 resolved"));
    assert!(message.contains("more alerts, not listed here"));
    // Teams: one card under 28 KB, valid for its version.
    let cards = teams.requests();
    assert_eq!(cards.len(), 1);
    assert!(cards[0].problems.is_empty(), "{:?}", cards[0].problems);
    assert!(cards[0].body.len() < 28 * 1024);
    // PagerDuty, grouped: two triggers with their counts.
    let pages = grouped.requests();
    assert_eq!(pages.len(), 2, "one event per rule");
    let incidents = grouped.incidents();
    assert_eq!(incidents.len(), 2);
    let negative = &incidents["balance-monitor:morning-ach:negative_balance"];
    assert_eq!((negative.opened, negative.open), (1, true));
    assert_eq!(negative.details["firing"], 2500);
    assert_eq!(negative.details["top"].as_array().unwrap().len(), 20);
    assert_eq!(
        incidents["balance-monitor:morning-ach:check_failed"].details["firing"],
        2500
    );
    assert_eq!(json(&pages[0].body)["payload"]["severity"], "critical");
    assert_eq!(json(&pages[1].body)["payload"]["severity"], "warning");
    // PagerDuty, one per alert: 100 triggers and one for the rest, paced under the rate.
    let events = each.requests();
    assert_eq!(events.len(), 101);
    assert!(
        events
            .iter()
            .all(|e| e.problems.is_empty() && e.status == 202)
    );
    let more = &each.incidents()["balance-monitor:morning-ach:more"];
    assert_eq!(more.details["firing"], 4900);
    let opened: Vec<String> = each.incidents().into_keys().collect();
    assert!(opened.contains(&"balance-monitor:morning-ach:negative_balance:N-0000".to_string()));
    // Sent one slot every 50 ms: arrivals may bunch by a request's jitter, never more.
    for pair in events.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(25),
            "events {gap:?} apart at 1,200 a minute"
        );
    }
    let span = events[100].at - events[0].at;
    assert!(
        span >= Duration::from_millis(100 * 50 - 25),
        "101 events in {span:?}"
    );

    // They all recover: resolves follow, under the same keys.
    library.run_the_five_thousand(11, true).await;
    let incidents = grouped.incidents();
    assert_eq!(incidents.len(), 2, "no new key");
    assert!(
        incidents
            .values()
            .all(|i| !i.open && i.opened == 1 && i.resolves == 1)
    );
    let incidents = each.incidents();
    assert_eq!(incidents.len(), 101, "no new key");
    assert!(
        incidents.values().all(|i| !i.open && i.opened == 1),
        "{:?}",
        incidents
            .iter()
            .filter(|(_, i)| i.open)
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    );
    let second = &slack.requests()[1];
    assert!(String::from_utf8_lossy(&second.body).contains("5000 resolved"));
}

fn slack_route(url: &str) -> Route {
    Route {
        name: "chat".to_string(),
        target: RouteTarget::Slack(ChatRoute {
            webhook_url: Secret::new(url),
            timeout: Duration::from_secs(10),
        }),
        max_rows: 50,
        give_up_after: Route::DEFAULT_GIVE_UP_AFTER,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_429_waits_its_retry_after_and_invalid_payload_is_not_retried() {
    let slack = ServiceReceiver::start(
        Service::Slack,
        None,
        vec![Reply::Status(
            429,
            "rate_limited".into(),
            vec![("retry-after", "2".into())],
        )],
    )
    .await;
    let notifier = Notifier::new(Clock::system()).unwrap();
    let route = slack_route(&slack.url());
    let digest = balance_monitor::alerting::test_digest(chrono::Utc::now());
    let error = notifier.send(&route, &digest, "key-1").await.unwrap_err();
    assert!(!error.is_permanent());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    assert!(
        !error.to_string().contains(&slack.url()),
        "the URL is a secret: {error}"
    );
    // The outbox waits at least that long; the notifier itself holds the webhook too.
    assert!(balance_monitor::alerting::outbox::backoff(1, &error).num_seconds() >= 2);
    let delivered = notifier.send(&route, &digest, "key-1").await.unwrap();
    assert_eq!(delivered.to_string(), "slack answered http 200 OK: ok");
    let requests = slack.requests();
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(2));

    // Through the outbox: `invalid_payload` is failed at the first attempt, and recorded.
    let refusing = ServiceReceiver::start(
        Service::Slack,
        None,
        vec![Reply::status(400, "invalid_payload")],
    )
    .await;
    let library = Library::new(
        &[(
            "chat",
            "    slack: { webhook_url_env: SLACK_URL }\n".to_string(),
        )],
        &[("SLACK_URL", &refusing.url())],
    )
    .await;
    seed_run(
        &library.store,
        MONITOR,
        march(10, 9),
        "b-1",
        &[("N-1", Seen::Balance(-1))],
    )
    .await;
    let round = library.judge_and_deliver().await;
    assert_eq!((round.delivered, round.retrying, round.failed), (0, 0, 1));
    assert_eq!(
        library.store.next_notification_due().await.unwrap(),
        None,
        "nothing left to retry"
    );
    assert_eq!(refusing.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_answers_400_with_its_message_and_429_is_retried_without_repeating() {
    let pagerduty = ServiceReceiver::start(
        Service::PagerDuty,
        Some(ROUTING_KEY),
        vec![
            Reply::status(202, r#"{"status":"success"}"#),
            Reply::Status(429, "{}".into(), vec![("retry-after", "1".into())]),
        ],
    )
    .await;
    let library = Library::new(
        &[("oncall", pagerduty_route(&pagerduty.url(), true, 6000))],
        &[("PD_KEY", ROUTING_KEY)],
    )
    .await;
    seed_run(
        &library.store,
        MONITOR,
        march(10, 9),
        "b-1",
        &[
            ("N-1", Seen::Balance(-1)),
            ("N-2", Seen::Balance(-2)),
            ("N-3", Seen::Balance(-3)),
        ],
    )
    .await;
    let round = library.judge_and_deliver().await;
    assert_eq!(round.retrying, 1, "the 429 is retried");
    let due = library
        .store
        .next_notification_due()
        .await
        .unwrap()
        .unwrap();
    assert!(due > chrono::Utc::now(), "not retried early");
    // A retry in the same process resumes after the accepted event, under the same keys.
    let key_of = |r: &crate::support::services::Received| {
        json(&r.body)["dedup_key"].as_str().unwrap().to_string()
    };
    let keys: Vec<String> = pagerduty.requests().iter().map(key_of).collect();
    assert_eq!(
        keys,
        [
            "balance-monitor:morning-ach:negative_balance:N-1",
            "balance-monitor:morning-ach:negative_balance:N-2"
        ]
    );
    let notifier = Notifier::new(Clock::system()).unwrap();
    let route = library.route("oncall");
    let digest = balance_monitor::alerting::test_digest(chrono::Utc::now());
    let script_free = ServiceReceiver::start(
        Service::PagerDuty,
        Some(ROUTING_KEY),
        vec![
            Reply::status(202, "{}"),
            Reply::Status(429, "{}".into(), vec![("retry-after", "1".into())]),
        ],
    )
    .await;
    let mut direct = route.clone();
    if let RouteTarget::PagerDuty(pd) = &mut direct.target {
        pd.events_url = script_free.url().parse().unwrap();
    }
    let error = notifier.send(&direct, &digest, "key-1").await.unwrap_err();
    assert!(
        !error.is_permanent() && error.retry_after() == Some(Duration::from_secs(1)),
        "{error}"
    );
    notifier.send(&direct, &digest, "key-1").await.unwrap();
    let sent: Vec<(String, String)> = script_free
        .requests()
        .iter()
        .map(|r| {
            (
                key_of(r),
                json(&r.body)["event_action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let key = |id: &str| format!("balance-monitor:test-alert:negative_balance:{id}");
    assert_eq!(
        sent,
        [
            (key("TEST-0001"), "trigger".to_string()),
            (
                "balance-monitor:test-alert:balance_below:TEST-0001".to_string(),
                "resolve".to_string()
            ),
            (
                "balance-monitor:test-alert:balance_below:TEST-0001".to_string(),
                "resolve".to_string()
            ),
            (key("TEST-0001"), "resolve".to_string()),
        ],
        "the accepted trigger is not sent again; the refused resolve is"
    );
    let requests = script_free.requests();
    assert!(
        requests[2].at - requests[1].at >= Duration::from_secs(1),
        "Retry-After holds the key"
    );

    // A wrong routing key: PagerDuty's 400, permanent, with its own words.
    let wrong = ServiceReceiver::start(Service::PagerDuty, Some("another-key"), Vec::new()).await;
    let library = Library::new(
        &[("oncall", pagerduty_route(&wrong.url(), false, 120))],
        &[("PD_KEY", ROUTING_KEY)],
    )
    .await;
    seed_run(
        &library.store,
        MONITOR,
        march(10, 9),
        "b-1",
        &[("N-1", Seen::Balance(-1))],
    )
    .await;
    let round = library.judge_and_deliver().await;
    assert_eq!((round.delivered, round.failed), (0, 1));
    let digest = balance_monitor::alerting::test_digest(chrono::Utc::now());
    let route = library.route("oncall");
    let error = Notifier::new(Clock::system())
        .unwrap()
        .send(&route, &digest, "k")
        .await
        .unwrap_err();
    assert!(error.is_permanent());
    let text = error.to_string();
    assert!(
        text.contains("Event object is invalid: 'routing_key' is invalid"),
        "{text}"
    );
    assert!(!text.contains(ROUTING_KEY), "{text}");
}

impl Library {
    /// A run on March `day` of the 5,000 ([`five_thousand`]), judged, and its four
    /// digests delivered.
    async fn run_the_five_thousand(&self, day: u32, recovered: bool) {
        let all = five_thousand(recovered);
        let entries: Vec<(&str, Seen)> =
            all.iter().map(|(id, seen)| (id.as_str(), *seen)).collect();
        seed_run(
            &self.store,
            MONITOR,
            march(day, 9),
            &format!("b-{day}"),
            &entries,
        )
        .await;
        let round = self.judge_and_deliver().await;
        assert_eq!((round.delivered, round.failed), (4, 0), "{round:?}");
    }

    fn route(&self, name: &str) -> Route {
        self.config.routes[name].clone()
    }
}

/// `test-alert` for each kind, as the binary, against the receivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_reaches_each_service_and_prints_its_answer() {
    let slack = ServiceReceiver::start(Service::Slack, None, Vec::new()).await;
    let teams = ServiceReceiver::start(Service::Teams, None, Vec::new()).await;
    let pagerduty = ServiceReceiver::start(Service::PagerDuty, Some(ROUTING_KEY), Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "slack-url", slack.url().as_bytes(), 0o600);
    write_file(dir.path(), "teams-url", teams.url().as_bytes(), 0o600);
    write_file(dir.path(), "pd-key", ROUTING_KEY.as_bytes(), 0o600);
    write_file(
        dir.path(),
        "a.csv",
        authorizers_csv(&[CsvRow::bank("A-1")], &[]).as_bytes(),
        0o600,
    );
    let text = format!(
        "rightfoot:\n  api_key_env: {KEY_ENV}\nstorage:\n  path: state.db\nhttp:\n  public_url: https://monitor.lender.example/\n\
         routes:\n  chat:\n    slack: {{ webhook_url_file: slack-url }}\n  channel:\n    teams: {{ webhook_url_file: teams-url }}\n  \
         oncall:\n    pagerduty:\n      routing_key_file: pd-key\n      events_url: {}\n\
         monitors:\n  - name: m\n    schedule: \"0 9 * * *\"\n    authorizers: {{ csv: a.csv }}\n    rules: [{{ negative_balance: {{}} }}]\n    routes: [chat, channel, oncall]\n",
        pagerduty.url()
    );
    write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    for (route, answer) in [
        ("chat", "slack answered http 200 OK: ok"),
        ("channel", "teams answered http 202 Accepted"),
        (
            "oncall",
            "pagerduty accepted 3 requests; the last answered http 202 Accepted: {\"dedup_key\":\"balance-monitor:test-alert:negative_balance\"",
        ),
    ] {
        let dir = dir.path().to_path_buf();
        let output = tokio::task::spawn_blocking(move || {
            run_binary(
                &dir,
                &["--config", "config.yaml", "test-alert", route],
                &[(KEY_ENV, "rf_test_key")],
            )
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{route}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("test notification sent through {route}: {answer}")),
            "{stdout}"
        );
    }
    let message = String::from_utf8(slack.requests()[0].body.to_vec()).unwrap();
    assert!(
        message.contains("[TEST]") && message.contains("Payment: $275.00"),
        "{message}"
    );
    assert!(teams.requests()[0].problems.is_empty());
    // The test opens one incident and closes it.
    let incidents = pagerduty.incidents();
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let test = &incidents["balance-monitor:test-alert:negative_balance"];
    assert_eq!((test.opened, test.open), (1, false));
    let trigger = json(&pagerduty.requests()[0].body);
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("[TEST] ")
    );
    assert_eq!(trigger["payload"]["source"], "monitor.lender.example");
}

/// Personal values of [`authorizers_csv`]'s rows that no payload may hold.
const PERSONAL: [&str; 9] = [
    "Jane",
    "Doe",
    "1 Main St",
    "Anytown",
    "94107",
    "5551234567",
    "01/31/1980",
    "123456789",
    "021000021",
];

/// The real daemon, with six authorizers below the threshold and three routes
/// (PagerDuty one event per alert at one a second, then Slack and Teams), is killed
/// after PagerDuty took three events. Started again, it sends the digest's events
/// again under the same keys: every alert has its incident, none was opened twice.
/// No body sent to any of the three holds a personal value of the authorizer file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_during_pagerduty_delivery_opens_no_incident_twice_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (1..=6).map(|n| format!("K-{n}")).collect();
    let scenario: String = ids
        .iter()
        .map(|id| format!("  {id}: [\"50.00\"]\n"))
        .collect();
    let scenario =
        Scenario::from_yaml(&format!("authorizers:\n{scenario}"), Path::new("s.yaml")).unwrap();
    let rows: Vec<CsvRow> = ids
        .iter()
        .map(|id| CsvRow::bank(id).meta("loan_id", &format!("L-{id}")))
        .collect();
    write_file(
        dir.path(),
        "payday.csv",
        authorizers_csv(&rows, &["loan_id"]).as_bytes(),
        0o600,
    );
    let sandbox = RunningSandbox::start(sandbox_config(Duration::ZERO, scenario)).await;
    let pagerduty = ServiceReceiver::start(Service::PagerDuty, Some(ROUTING_KEY), Vec::new()).await;
    let slack = ServiceReceiver::start(Service::Slack, None, Vec::new()).await;
    let teams = ServiceReceiver::start(Service::Teams, None, Vec::new()).await;
    write_file(dir.path(), "slack-url", slack.url().as_bytes(), 0o600);
    write_file(dir.path(), "teams-url", teams.url().as_bytes(), 0o600);
    write_file(dir.path(), "pd-key", ROUTING_KEY.as_bytes(), 0o600);
    let database = dir.path().join("balance-monitor.db");
    let slot = slot_due_now(&database, MONITOR).await;
    let spec = ConfigSpec::new(&sandbox.url, &database).monitor(MonitorSpec::new(
        MONITOR,
        &yearly_cron(slot),
        "payday.csv",
    ));
    let text = format!(
        "{}    rules:\n      - balance_below: {{ amount: 100.00 }}\n    routes: [oncall, chat, channel]\n    \
         alert_fields: [{{ field: loan_id, label: Loan }}]\nroutes:\n  oncall:\n    pagerduty:\n      routing_key_file: pd-key\n      \
         events_url: {}\n      per_authorizer: true\n      rate_per_minute: 60\n  chat:\n    slack: {{ webhook_url_file: slack-url }}\n  \
         channel:\n    teams: {{ webhook_url_file: teams-url }}\n",
        spec.yaml(),
        pagerduty.url()
    );
    let config = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);

    let daemon = Daemon::start(&config);
    tokio::time::timeout(PATIENCE, pagerduty.wait_for_requests(3))
        .await
        .expect("PagerDuty gets the first events");
    daemon.kill().await;
    let before = pagerduty.requests().len();
    assert!(before < 7, "killed mid-delivery: {before} events");

    let mut daemon = Daemon::start(&config);
    for _ in 0..3 {
        daemon
            .wait_for("a notification delivered", |line| {
                line.is("notification delivered")
            })
            .await;
    }
    daemon.signal("TERM");
    daemon.exit().await;

    let incidents = pagerduty.incidents();
    let expected: Vec<String> = ids
        .iter()
        .map(|id| format!("balance-monitor:morning-ach:balance_below:{id}"))
        .collect();
    let keys: Vec<String> = incidents.keys().cloned().collect();
    assert_eq!(
        keys, expected,
        "every alert has its incident, under its key"
    );
    for (key, incident) in &incidents {
        assert_eq!((incident.opened, incident.open), (1, true), "{key}");
    }
    assert!(
        pagerduty.requests().len() >= 6 + before.min(6) - 1,
        "the digest was sent again after the restart"
    );

    let mut bodies: Vec<(String, String)> = Vec::new();
    for (name, receiver) in [
        ("pagerduty", &pagerduty),
        ("slack", &slack),
        ("teams", &teams),
    ] {
        let requests = receiver.requests();
        assert!(!requests.is_empty(), "{name} got nothing");
        for request in requests {
            assert!(
                request.problems.is_empty(),
                "{name}: {:?}",
                request.problems
            );
            bodies.push((
                name.to_string(),
                String::from_utf8(request.body.to_vec()).unwrap(),
            ));
        }
    }
    for (name, body) in &bodies {
        for value in PERSONAL {
            assert!(!body.contains(value), "{name} body holds {value:?}: {body}");
        }
        for n in 0..6 {
            let account = (100_000_000 + n).to_string();
            assert!(
                !body.contains(&account),
                "{name} body holds an account number"
            );
        }
    }
    // What they do hold: the ids and the labelled field.
    assert!(
        bodies
            .iter()
            .any(|(name, body)| name == "slack" && body.contains("Loan: L-K-1"))
    );
}
