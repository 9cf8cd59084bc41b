//! The read API's own routes and the operator's endpoints: runs and alerts, `/readyz`
//! (a write probe and overdue schedules), `/metrics` (every family, exact values for a
//! known store), the configuration refusing an open listener without a token, and the
//! real daemon serving all of it behind its token.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::config;
use balance_monitor::http::WatchedMonitor;
use balance_monitor::rightfoot::{ClientConfig, RequestMetrics, RightfootClient};
use balance_monitor::schedule::Schedule;
use balance_monitor::secret::{Environment, Secret};
use balance_monitor::store::{NewRun, RunTrigger};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::support::read_api::{
    Api, Check, TOKEN, assert_envelope, at, finished_run, start, start_with,
};
use crate::support::{binary, write_file};

/// A second connection to the store's file, playing the alerting layer and the outbox
/// worker, which write tables this branch only reads.
fn external(api: &Api) -> Connection {
    let connection = Connection::open(&api.database).unwrap();
    connection.busy_timeout(Duration::from_secs(5)).unwrap();
    connection
}

fn insert_alert(
    connection: &Connection,
    monitor: i64,
    fingerprint: &str,
    state: &str,
    severity: &str,
) {
    let resolved = (state == "resolved").then_some("2025-03-14T07:00:00.000000Z");
    connection
        .execute(
            "INSERT INTO alerts (fingerprint, monitor_id, authorizer_unique_id, rule, state, \
                 severity, consecutive_failures, first_fired_at, last_fired_at, resolved_at) \
             VALUES (?1, ?2, 'N-1', 'balance_below', ?3, ?4, 2, \
                     '2025-03-14T06:00:00.000000Z', '2025-03-14T06:30:00.000000Z', ?5)",
            params![fingerprint, monitor, state, severity, resolved],
        )
        .unwrap();
}

fn insert_outbox(connection: &Connection, key: &str, state: &str) {
    let delivered = (state == "delivered").then_some("2025-03-14T07:00:00.000000Z");
    connection
        .execute(
            "INSERT INTO outbox (route, idempotency_key, payload, created_at, next_attempt_at, \
                 state, delivered_at) \
             VALUES ('ops', ?1, '{}', '2025-03-14T06:00:00.000000Z', \
                     '2025-03-14T06:00:00.000000Z', ?2, ?3)",
            params![key, state, delivered],
        )
        .unwrap();
}

/// The known store of the runs, alerts and metrics tests: two monitors, four runs.
struct Known {
    nightly: [i64; 2],
    weekly: [i64; 2],
}

async fn known_store(api: &Api) -> Known {
    let first = finished_run(
        &api.store,
        "nightly",
        "N-B1",
        &[
            ("N-1", Check::Balance(100)),
            ("N-2", Check::Balance(200)),
            ("N-3", Check::Code(3300)),
        ],
        at(6, 0),
    )
    .await;
    let second = finished_run(
        &api.store,
        "nightly",
        "N-B2",
        &[
            ("N-1", Check::Balance(150)),
            ("N-2", Check::NotRetrieved),
            ("N-3", Check::Rejected("Invalid SSN for authorizer(s).")),
        ],
        at(7, 0),
    )
    .await;
    let weekly = finished_run(
        &api.store,
        "weekly",
        "W-B1",
        &[("W-1", Check::Balance(1))],
        at(5, 0),
    )
    .await;
    let monitor = api.store.ensure_monitor("weekly").await.unwrap();
    let pending = api
        .store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    Known {
        nightly: [first.0, second.0],
        weekly: [weekly.0, pending.0],
    }
}

#[tokio::test]
async fn runs_are_listed_newest_first_and_one_run_shows_its_counts() {
    let api = start().await;
    let known = known_store(&api).await;

    let page = api.get("/v1/runs?limit=3").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let body = page.json();
    let ids: Vec<i64> = body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [known.weekly[1], known.weekly[0], known.nightly[1]]);
    assert_eq!(body["has_more"], true);
    let token = body["next_page_token"].as_str().unwrap();
    let rest = api
        .get(&format!("/v1/runs?limit=3&nextPageToken={token}"))
        .await
        .json();
    let ids: Vec<i64> = rest["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [known.nightly[0]]);
    assert_eq!(rest["has_more"], false);
    assert!(rest["next_page_token"].is_null());
    // The token belongs to the unfiltered list.
    let other = api
        .get(&format!("/v1/runs?monitor=nightly&nextPageToken={token}"))
        .await;
    assert_envelope(&other, 400, "BAD_REQUEST");

    let nightly = api.get("/v1/runs?monitor=nightly").await.json();
    let listed = nightly["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|run| run["monitor"] == "nightly"));
    let pending = &body["runs"][0];
    assert_eq!(pending["state"], "pending");
    assert!(pending["started_at"].is_null() && pending["duration_seconds"].is_null());

    let detail = api.get(&format!("/v1/runs/{}", known.nightly[1])).await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    let run = detail.json();
    assert_eq!(run["monitor"], "nightly");
    assert_eq!(run["trigger"], "manual");
    assert!(run["scheduled_for"].is_null());
    assert_eq!(run["state"], "partial");
    assert_eq!(run["started_at"], "2025-03-14T06:50:00Z");
    assert_eq!(run["finished_at"], "2025-03-14T07:00:00Z");
    assert_eq!(run["duration_seconds"], 600.0);
    assert_eq!(
        run["counts"],
        serde_json::json!({
            "members": 3, "accepted": 2, "rejected_preflight": 0, "rejected_by_api": 1,
            "succeeded": 1, "failed": 0, "failed_by_code": {}, "not_retrieved": 1,
            "cached": 0, "awaiting": 0
        })
    );
    let batch = &run["batches"][0];
    assert_eq!(batch["batch_id"], "N-B2");
    assert_eq!(batch["state"], "complete");
    assert_eq!(
        (batch["members"].as_u64(), batch["results"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(batch["accepted"], 2);

    let first = api
        .get(&format!("/v1/runs/{}", known.nightly[0]))
        .await
        .json();
    assert_eq!(first["state"], "complete");
    assert_eq!(first["counts"]["failed"], 1);
    assert_eq!(
        first["counts"]["failed_by_code"],
        serde_json::json!({"3300": 1})
    );

    let missing = api.get("/v1/runs/999").await;
    assert_envelope(&missing, 404, "NOT_FOUND");
}

#[tokio::test]
async fn alerts_are_listed_by_state_newest_first() {
    let api = start().await;
    let empty = api.get("/v1/alerts?state=firing").await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(
        empty.json(),
        serde_json::json!({"alerts": [], "next_page_token": null, "has_more": false}),
        "the alerting layer has written nothing yet"
    );

    let monitor = api.store.ensure_monitor("nightly").await.unwrap();
    let connection = external(&api);
    insert_alert(&connection, monitor.0, "f-1", "firing", "critical");
    insert_alert(&connection, monitor.0, "f-2", "resolved", "critical");
    insert_alert(&connection, monitor.0, "f-3", "firing", "warning");
    insert_alert(&connection, monitor.0, "f-4", "firing", "info");

    let firing = api.get("/v1/alerts?state=firing&limit=2").await.json();
    let fingerprints: Vec<&str> = firing["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints, ["f-4", "f-3"]);
    let token = firing["next_page_token"].as_str().unwrap();
    let rest = api
        .get(&format!(
            "/v1/alerts?state=firing&limit=2&nextPageToken={token}"
        ))
        .await
        .json();
    let alert = &rest["alerts"][0];
    assert_eq!(rest["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(alert["fingerprint"], "f-1");
    assert_eq!(alert["monitor"], "nightly");
    assert_eq!(alert["authorizer_unique_id"], "N-1");
    assert_eq!(alert["rule"], "balance_below");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["consecutive_failures"], 2);
    assert_eq!(alert["first_fired_at"], "2025-03-14T06:00:00Z");
    assert!(alert["resolved_at"].is_null());

    let resolved = api.get("/v1/alerts?state=resolved").await.json();
    assert_eq!(resolved["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(resolved["alerts"][0]["resolved_at"], "2025-03-14T07:00:00Z");
    let all = api.get("/v1/alerts").await.json();
    assert_eq!(all["alerts"].as_array().unwrap().len(), 4);
}

fn monitor(name: &str, cron: &str, grace_minutes: u64) -> WatchedMonitor {
    WatchedMonitor {
        name: name.to_string(),
        schedule: Schedule::parse(cron, chrono_tz::UTC).unwrap(),
        grace: Duration::from_secs(grace_minutes * 60),
        jitter: Duration::ZERO,
        balance_below: None,
    }
}

#[tokio::test]
async fn readyz_is_not_ready_while_a_monitor_is_overdue_past_its_grace() {
    // The daemon started at 08:00 and it is now 10:30 on the API's clock.
    let (monitors, watched) = tokio::sync::watch::channel(Arc::new(Vec::new()));
    let api = start_with(|state| {
        state.set_token(Some(Secret::new(TOKEN)));
        state.clock = Clock::following_tokio(at(10, 30));
        state.started_at = at(8, 0);
        state.monitors = watched;
    })
    .await;
    let hourly = api.store.ensure_monitor("hourly").await.unwrap();
    api.store
        .advance_schedule(hourly, at(9, 0), Vec::new())
        .await
        .unwrap();

    let ready = api.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let body = ready.json();
    assert_eq!(body["ready"], true);
    assert_eq!(body["checks"][0]["check"], "store");
    assert_eq!(body["checks"][0]["ok"], true);

    // A reload brings the monitors: 10:00 is 30 minutes late with a 10-minute grace,
    // and the schedule still stands at 09:00. The daily 06:00 slot predates the start.
    monitors.send_replace(Arc::new(vec![
        monitor("hourly", "0 * * * *", 10),
        monitor("daily", "0 6 * * *", 10),
    ]));
    let overdue = api.get("/readyz").await;
    assert_eq!(overdue.status, 503, "{}", overdue.text);
    let body = overdue.json();
    assert_eq!(body["ready"], false);
    let checks: BTreeMap<String, Value> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["check"] == "schedule")
        .map(|check| {
            (
                check["monitor"].as_str().unwrap().to_string(),
                check.clone(),
            )
        })
        .collect();
    assert_eq!(checks["hourly"]["ok"], false);
    let detail = checks["hourly"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("2025-03-14T10:00:00Z") && detail.contains("2025-03-14T09:00:00Z"),
        "{detail}"
    );
    assert_eq!(checks["daily"]["ok"], true, "{}", checks["daily"]);

    // With a grace longer than the delay, the same position is in time.
    monitors.send_replace(Arc::new(vec![monitor("hourly", "0 * * * *", 45)]));
    assert_eq!(api.get("/readyz").await.status, 200);

    // The scheduler accounts for 10:00: ready again.
    monitors.send_replace(Arc::new(vec![monitor("hourly", "0 * * * *", 10)]));
    assert_eq!(api.get("/readyz").await.status, 503);
    api.store
        .advance_schedule(hourly, at(10, 0), Vec::new())
        .await
        .unwrap();
    let again = api.get("/readyz").await;
    assert_eq!(again.status, 200, "{}", again.text);
}

#[tokio::test]
async fn readyz_is_not_ready_when_the_store_takes_no_writes() {
    let api = start().await;
    assert_eq!(api.get("/readyz").await.status, 200);
    api.store.close().await;
    let closed = api.get("/readyz").await;
    assert_eq!(closed.status, 503, "{}", closed.text);
    let body = closed.json();
    assert_eq!(body["checks"][0]["ok"], false);
    assert!(
        body["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("write probe failed")
    );
}

/// The samples of a Prometheus exposition, `series → value`, after checking that
/// every sample's family has its HELP and TYPE lines.
fn samples(text: &str) -> BTreeMap<String, String> {
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        assert!(
            typed.iter().any(|family| name == family
                || name
                    .strip_prefix(family.as_str())
                    .is_some_and(|suffix| { ["_bucket", "_sum", "_count"].contains(&suffix) })),
            "{name} has no TYPE line before it"
        );
        samples.insert(series.to_string(), value.to_string());
    }
    samples
}

#[tokio::test]
async fn metrics_report_every_family_with_the_known_stores_values() {
    let mut recorder = None;
    let api = start_with(|state| {
        state.set_token(Some(Secret::new(TOKEN)));
        recorder = Some(state.rightfoot_metrics.clone());
    })
    .await;
    let recorder: RequestMetrics = recorder.unwrap();
    known_store(&api).await;
    let monitor = api.store.ensure_monitor("nightly").await.unwrap();
    let connection = external(&api);
    insert_alert(&connection, monitor.0, "a-1", "firing", "critical");
    insert_alert(&connection, monitor.0, "a-2", "firing", "critical");
    insert_alert(&connection, monitor.0, "a-3", "firing", "warning");
    insert_alert(&connection, monitor.0, "a-4", "resolved", "critical");
    insert_outbox(&connection, "k-1", "pending");
    insert_outbox(&connection, "k-2", "pending");
    insert_outbox(&connection, "k-3", "failed");
    insert_outbox(&connection, "k-4", "delivered");

    // The client records into the daemon's recorder: one 200 and one 404, from the
    // local API itself playing Rightfoot.
    let mut config = ClientConfig::new(api.base.parse().unwrap(), Secret::new(TOKEN));
    config.metrics = recorder;
    let client = RightfootClient::new(config).unwrap();
    client.authorizer_history("N-1", None, None).await.unwrap();
    client
        .authorizer_history("nobody", None, None)
        .await
        .unwrap_err();

    let answer = api.get("/metrics").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let samples = samples(&answer.text);
    let value = |series: &str| -> &str {
        samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", answer.text))
    };
    assert_eq!(
        value(r#"balance_monitor_runs{monitor="nightly",state="complete"}"#),
        "1"
    );
    assert_eq!(
        value(r#"balance_monitor_runs{monitor="nightly",state="partial"}"#),
        "1"
    );
    assert_eq!(
        value(r#"balance_monitor_runs{monitor="weekly",state="complete"}"#),
        "1"
    );
    assert_eq!(
        value(r#"balance_monitor_runs{monitor="weekly",state="pending"}"#),
        "1"
    );
    assert_eq!(
        samples
            .keys()
            .filter(|s| s.starts_with("balance_monitor_runs{"))
            .count(),
        4
    );

    // The latest finished nightly run is the partial one.
    for (series, expected) in [
        (
            r#"balance_monitor_last_run_results{monitor="nightly",outcome="retrieved",code="0"}"#,
            "1",
        ),
        (
            r#"balance_monitor_last_run_results{monitor="nightly",outcome="not_retrieved",code="none"}"#,
            "1",
        ),
        (
            r#"balance_monitor_last_run_results{monitor="nightly",outcome="rejected",code="none"}"#,
            "1",
        ),
        (
            r#"balance_monitor_last_run_results{monitor="weekly",outcome="retrieved",code="0"}"#,
            "1",
        ),
    ] {
        assert_eq!(value(series), expected, "{series}");
    }
    assert_eq!(
        samples
            .keys()
            .filter(|s| s.starts_with("balance_monitor_last_run_results{"))
            .count(),
        4,
        "nothing of the earlier nightly run (its 3300)"
    );

    assert_eq!(
        value(r#"balance_monitor_alerts_firing{severity="critical"}"#),
        "2"
    );
    assert_eq!(
        value(r#"balance_monitor_alerts_firing{severity="warning"}"#),
        "1"
    );
    assert_eq!(
        value(r#"balance_monitor_alerts_firing{severity="info"}"#),
        "0"
    );
    assert_eq!(value("balance_monitor_outbox_pending"), "2");
    assert_eq!(value("balance_monitor_outbox_failed"), "1");
    assert_eq!(value("balance_monitor_store_errors_total"), "0");

    let histogram = "balance_monitor_rightfoot_request_duration_seconds";
    for status in ["200", "404"] {
        let labels = format!(r#"endpoint="authorizer_history",status="{status}""#);
        assert_eq!(value(&format!("{histogram}_count{{{labels}}}")), "1");
        assert_eq!(
            value(&format!("{histogram}_bucket{{{labels},le=\"+Inf\"}}")),
            "1"
        );
        assert_eq!(
            value(&format!("{histogram}_bucket{{{labels},le=\"60\"}}")),
            "1"
        );
        let sum: f64 = value(&format!("{histogram}_sum{{{labels}}}"))
            .parse()
            .unwrap();
        assert!(sum > 0.0 && sum < 60.0, "{sum}");
        let buckets: Vec<u64> = samples
            .iter()
            .filter(|(series, _)| series.starts_with(&format!("{histogram}_bucket{{{labels}")))
            .map(|(_, value)| value.parse().unwrap())
            .collect();
        assert_eq!(buckets.len(), 13, "12 bounds and +Inf");
    }

    assert_eq!(
        value("balance_monitor_rightfoot_submission_decode_retries_total"),
        "0",
        "the counter is there before any submission"
    );

    assert_eq!(
        value(r#"balance_monitor_last_complete_run_timestamp_seconds{monitor="nightly"}"#),
        at(6, 0).timestamp().to_string(),
        "the complete run, not the later partial one"
    );
    assert_eq!(
        value(r#"balance_monitor_last_complete_run_timestamp_seconds{monitor="weekly"}"#),
        at(5, 0).timestamp().to_string()
    );
    assert_eq!(
        value(&format!(
            "balance_monitor_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        "1"
    );
}

const CSV: &str = "authorizer_unique_id,first_name,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number\nA-1,Test,62701,5550100001,01/15/1980,900000001,000111222,011000015\n";

/// A configuration with one monitor that is not due soon (06:00 on 1 January, no
/// catch-up), so a daemon started with it sits idle, and `http` as given.
fn daemon_config(http: &str) -> String {
    format!(
        r#"rightfoot:
  base_url: http://127.0.0.1:9
  api_key_env: RF_KEY
storage:
  path: state.db
{http}
routes:
  ops:
    email: {{ transport: file, from: "bm <bm@example.com>", to: ["ops@example.com"], directory: mail }}
monitors:
  - name: yearly
    schedule: "0 6 1 1 *"
    timezone: UTC
    catch_up: skip
    authorizers: {{ csv: a.csv }}
    rules:
      - balance_below: {{ amount: 100.00 }}
    routes: [ops]
"#
    )
}

#[test]
fn a_listener_beyond_loopback_needs_a_token() {
    let directory = tempfile::tempdir().unwrap();
    write_file(directory.path(), "a.csv", CSV.as_bytes(), 0o600);
    write_file(directory.path(), "http.token", b"t0ken\n", 0o600);
    let file = directory.path().join("config.yaml");
    let env = Environment::from_pairs([("RF_KEY", "rf_test_key"), ("HTTP_TOKEN", "t0ken")]);
    let table = [
        ("http:\n  listen: 0.0.0.0:9187", false),
        ("http:\n  listen: \"[::]:9187\"", false),
        ("http:\n  listen: 192.168.1.20:9187", false),
        (
            "http:\n  listen: 0.0.0.0:9187\n  token_env: HTTP_TOKEN",
            true,
        ),
        (
            "http:\n  listen: \"[::]:9187\"\n  token_file: http.token",
            true,
        ),
        ("http:\n  listen: 127.0.0.1:9187", true),
        ("http:\n  listen: \"[::1]:9187\"", true),
    ];
    for (http, accepted) in table {
        let result = config::load_str(&daemon_config(http), &file, &env);
        match (result, accepted) {
            (Ok(config), true) => {
                let expects_token = http.contains("token");
                assert_eq!(config.http.token.is_some(), expects_token, "{http}");
            }
            (Err(error), false) => {
                let message = error.to_string();
                assert!(
                    message.contains("http.listen") && message.contains("not a loopback address"),
                    "{http}: {message}"
                );
                assert!(message.contains(":7:"), "names the line: {message}");
            }
            (Ok(_), false) => panic!("{http}: accepted without a token"),
            (Err(error), true) => panic!("{http}: refused: {error}"),
        }
    }
}

/// Kills the daemon if the test fails before it stops it.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_daemon_serves_the_read_api_behind_its_token() {
    let directory = tempfile::tempdir().unwrap();
    write_file(directory.path(), "a.csv", CSV.as_bytes(), 0o600);
    let text = daemon_config("http:\n  listen: 127.0.0.1:0\n  token_env: HTTP_TOKEN");
    let config = write_file(directory.path(), "config.yaml", text.as_bytes(), 0o600);
    let mut command = Command::new(binary());
    command
        .current_dir(directory.path())
        .args(["run", "--config", config.to_str().unwrap()])
        .env_clear()
        .env("RF_KEY", "rf_test_key")
        .env("HTTP_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut daemon = Daemon(child);

    // The daemon logs the address it bound (port 0 became a real port).
    let (lines, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let address = loop {
        let line = log
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the daemon did not start; its log:\n{}", seen.join("\n")));
        if line.contains("balance-monitor started")
            && let Some(rest) = line.split("listen=").nth(1)
        {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        seen.push(line);
    };
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    assert_eq!(get("/healthz", None).await.unwrap().status().as_u16(), 200);
    for path in ["/readyz", "/metrics", "/v1/runs"] {
        assert_eq!(
            get(path, None).await.unwrap().status().as_u16(),
            401,
            "{path}"
        );
    }
    let ready = get("/readyz", Some(TOKEN)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let ready: Value = ready.json().await.unwrap();
    let schedule = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["check"] == "schedule")
        .expect("the daemon gave /readyz its monitors");
    assert_eq!(schedule["monitor"], "yearly");
    let metrics = get("/metrics", Some(TOKEN))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("balance_monitor_build_info{version="),
        "{metrics}"
    );
    let runs: Value = get("/v1/runs", Some(TOKEN))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["runs"], serde_json::json!([]));

    let pid = daemon.0.id().to_string();
    let stopped = Command::new("kill")
        .args(["-s", "TERM", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    // A daemon that does not stop is killed after 20 s, and the exit code says so.
    let (exited, guard) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if guard.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = Command::new("kill").args(["-s", "KILL", &pid]).status();
        }
    });
    let status = daemon.0.wait().unwrap();
    let _ = exited.send(());
    assert_eq!(status.code(), Some(0), "SIGTERM stops the daemon cleanly");
}
