//! The dashboard in a real browser: headless Chromium driven through chromedriver
//! (fantoccini), on a copy of a real demo week served with a token. It logs in, follows
//! links from the overview to a monitor, a run and an authorizer, checks each chart's
//! series and hover titles, changes an alerts filter (the URL and the rows change),
//! retries a failed notification from the outbox, downloads a date's debits as CSV
//! through the page's link, and after every page reads the browser's console: no error
//! and no Content-Security-Policy violation.
//!
//! It needs `BALANCE_MONITOR_TEST_CHROMIUM` and `BALANCE_MONITOR_TEST_CHROMEDRIVER`,
//! which `scripts/test` sets (installing Debian's chromium and chromium-driver where
//! missing); without them it fails and says so.

use std::process::Stdio;
use std::time::Duration;

use axum::http::Method;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::support::dashboard::{Dashboard, MONITOR, TOKEN};
use crate::support::vacant_loopback_addr;

/// `POST /session/{id}/se/log` for the `browser` log: the console entries since the
/// last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type":"browser"}"#.to_string()))
    }
}

fn required(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: run the tests with scripts/test, which installs Chromium \
             and chromedriver where missing and sets it"
        )
    })
}

/// chromedriver on a free port, and a headless Chromium session with a fresh profile.
struct Browser {
    client: Client,
    /// Where the browser saves downloads, without asking.
    downloads: tempfile::TempDir,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

async fn start_browser() -> Browser {
    let chromium = required("BALANCE_MONITOR_TEST_CHROMIUM");
    let chromedriver = required("BALANCE_MONITOR_TEST_CHROMEDRIVER");
    let port = vacant_loopback_addr().port();
    let mut driver = tokio::process::Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}"));
    // chromedriver says when it listens; no polling.
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    let started = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(started, Ok(true), "chromedriver did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let profile = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ],
            "prefs": {
                "download.default_directory": downloads.path(),
                "download.prompt_for_download": false,
            },
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    Browser {
        client,
        downloads,
        _driver: driver,
        _profile: profile,
    }
}

/// Clicks the element `css` finds and returns once the browser has left the page:
/// the old page's root element has gone stale. chromedriver's click does not always
/// wait for the navigation it starts, so reading the URL at once could race it.
async fn navigate_by_click(client: &Client, css: &str) {
    let old_root = client.find(Locator::Css("html")).await.unwrap();
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
    let left = tokio::time::timeout(Duration::from_secs(60), async {
        while old_root.tag_name().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(left.is_ok(), "clicking {css} did not leave the page");
    // The new page has loaded once its root can be found.
    client
        .wait()
        .for_element(Locator::Css("body"))
        .await
        .unwrap();
}

/// The text of the download `path` once the browser has finished it (Chromium writes
/// `<name>.crdownload` and renames it when complete), within a minute.
async fn downloaded(path: &std::path::Path) -> String {
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(text) = tokio::fs::read_to_string(path).await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    finished.unwrap_or_else(|_| panic!("the browser did not save {}", path.display()))
}

/// Fails on any console error or CSP violation since the last call.
async fn console_is_clean(client: &Client, page: &str) {
    let log = client
        .issue_cmd(BrowserLog)
        .await
        .expect("the browser's console log");
    let entries = log.as_array().cloned().unwrap_or_default();
    let bad: Vec<&Value> = entries
        .iter()
        .filter(|entry| {
            let message = entry["message"].as_str().unwrap_or_default();
            entry["level"] == "SEVERE" || message.contains("Content Security Policy")
        })
        .collect();
    assert!(bad.is_empty(), "{page}: the console has {bad:#?}");
}

async fn path_of(client: &Client) -> String {
    let url = client.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// The page's charts have their series drawn and a hover title on every point.
async fn charts_are_drawn(client: &Client, page: &str, series: usize) {
    let charts = client.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert!(!charts.is_empty(), "{page}: no chart");
    for chart in charts {
        let lines = chart.find_all(Locator::Css("polyline")).await.unwrap();
        assert!(
            lines.len() >= series,
            "{page}: {} series drawn",
            lines.len()
        );
        let points = chart.find_all(Locator::Css("circle.point")).await.unwrap();
        let titles = chart
            .find_all(Locator::Css("circle.point > title"))
            .await
            .unwrap();
        assert!(
            !points.is_empty() && titles.len() == points.len(),
            "{page}: titles"
        );
        let title = titles[0].html(true).await.unwrap();
        assert!(title.contains("run "), "{page}: {title}");
    }
}

#[tokio::test]
async fn a_collections_lead_clicks_through_the_dashboard_in_chromium() {
    let dashboard = Dashboard::start(true).await;
    let browser = start_browser().await;
    let client = &browser.client;
    let base = dashboard.base.clone();

    // Every page sends a browser without a session to the login form.
    client.goto(&format!("{base}/alerts")).await.unwrap();
    assert_eq!(path_of(client).await, "/login");
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    navigate_by_click(client, "form.login button[type=submit]").await;
    assert_eq!(path_of(client).await, "/");
    console_is_clean(client, "/").await;
    charts_are_drawn(client, "/", 1).await;

    // Overview → monitor → run → authorizer, by their links.
    navigate_by_click(client, "section.card h2 a").await;
    assert_eq!(path_of(client).await, format!("/monitors/{MONITOR}"));
    console_is_clean(client, "monitor").await;
    charts_are_drawn(client, "monitor", 2).await;
    navigate_by_click(client, "#runs tbody a").await;
    let run_page = path_of(client).await;
    assert!(run_page.starts_with("/runs/"), "{run_page}");
    console_is_clean(client, &run_page).await;
    navigate_by_click(client, r#"#unsuccessful a[href="/authorizers/B-1003"]"#).await;
    assert_eq!(path_of(client).await, "/authorizers/B-1003");
    console_is_clean(client, "authorizer").await;
    charts_are_drawn(client, "authorizer", 1).await;
    let source = client.source().await.unwrap();
    assert!(
        source.contains("class=\"threshold\""),
        "the balance_below line is drawn"
    );

    // An alerts filter: the URL and the rows change.
    client.goto(&format!("{base}/alerts")).await.unwrap();
    console_is_clean(client, "/alerts").await;
    let all = client
        .find_all(Locator::Css("#alerts tbody tr"))
        .await
        .unwrap()
        .len();
    client
        .find(Locator::Css("#f-severity"))
        .await
        .unwrap()
        .select_by_value("critical")
        .await
        .unwrap();
    navigate_by_click(client, "form.filters button[type=submit]").await;
    let filtered_path = path_of(client).await;
    assert!(
        filtered_path.contains("severity=critical"),
        "{filtered_path}"
    );
    console_is_clean(client, &filtered_path).await;
    let rows = client
        .find_all(Locator::Css("#alerts tbody tr"))
        .await
        .unwrap();
    assert!(
        !rows.is_empty() && rows.len() < all,
        "{} of {all} rows",
        rows.len()
    );
    for row in rows {
        assert!(row.text().await.unwrap().contains("critical"));
    }

    // Retry a failed notification from the outbox.
    client.goto(&format!("{base}/outbox")).await.unwrap();
    console_is_clean(client, "/outbox").await;
    let retry = format!(
        r#"form[action="/outbox/{}/retry"] button"#,
        dashboard.failed_notification
    );
    navigate_by_click(client, &retry).await;
    // The retry lands on the outbox with a status line; waiting for it waits for the POST.
    let flash = client
        .wait()
        .for_element(Locator::Css("#flash"))
        .await
        .unwrap();
    assert!(
        flash
            .text()
            .await
            .unwrap()
            .contains(&dashboard.failed_notification.to_string())
    );
    assert_eq!(
        path_of(client).await,
        format!("/outbox?retried={}", dashboard.failed_notification)
    );
    console_is_clean(client, "/outbox after retry").await;
    assert_eq!(
        dashboard
            .notification_state(dashboard.failed_notification)
            .await,
        "pending"
    );

    // A date's debits, holds first, and their CSV through the page's link.
    let date = dashboard.settles_on;
    navigate_by_click(client, r#"nav a[href="/debits"]"#).await;
    assert_eq!(path_of(client).await, "/debits");
    console_is_clean(client, "/debits").await;
    client
        .goto(&format!("{base}/debits?date={date}"))
        .await
        .unwrap();
    console_is_clean(client, "/debits of the date").await;
    let rows = client
        .find_all(Locator::Css("#debits tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), dashboard.decisions.len());
    let first = rows[0].text().await.unwrap();
    assert!(first.starts_with("■ hold"), "holds come first: {first}");
    client
        .find(Locator::Css("a#csv"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let csv = downloaded(&browser.downloads.path().join(format!("debits-{date}.csv"))).await;
    assert_eq!(csv.lines().count(), 1 + dashboard.decisions.len(), "{csv}");
    for row in &dashboard.decisions {
        let line = format!(
            "{},{},{},{}",
            row.debit_id,
            row.authorizer_unique_id,
            row.debit_date,
            row.amount.to_decimal_string()
        );
        assert!(csv.contains(&line), "{line} is missing from\n{csv}");
    }

    browser.client.close().await.unwrap();
}
