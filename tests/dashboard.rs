//! The web dashboard over HTTP: who may see it (the login form, the session cookie, a
//! wrong token's wait, CSRF tokens on every POST), the headers every page carries,
//! that no page holds personal data, the first load's size, and the alerts page's
//! filters and silences. The pages serve a copy of a real demo week
//! (`support::dashboard`); `dashboard_browser` drives the same pages in Chromium.

use std::time::{Duration, Instant};

use balance_monitor::debits::DECISION_COLUMNS;
use balance_monitor::domain::Decision;
use balance_monitor::store::DecisionRow;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, COOKIE, LOCATION, REFERRER_POLICY, SET_COOKIE,
};

use crate::support::dashboard::{AUTHORIZERS, Dashboard, MONITOR, TOKEN, csrf_of, personal_values};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(dashboard: &Dashboard, path: &str, cookie: Option<&str>) -> Answer {
    send(client().get(format!("{}{path}", dashboard.base)), cookie).await
}

async fn post(
    dashboard: &Dashboard,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = client()
        .post(format!("{}{path}", dashboard.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    send(request, cookie).await
}

async fn send(mut request: reqwest::RequestBuilder, cookie: Option<&str>) -> Answer {
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// The `name=value` of the session cookie an answer sets.
fn session_cookie(answer: &Answer) -> String {
    let set = answer
        .headers
        .get(SET_COOKIE)
        .expect("the answer sets the session cookie")
        .to_str()
        .unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn log_in(dashboard: &Dashboard) -> String {
    let answer = post(dashboard, "/login", None, &[("token", TOKEN)]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    session_cookie(&answer)
}

/// Every page of the demo week: the overview, the monitor, each run, each authorizer,
/// the alerts (also filtered), the outbox and the debits (also filtered).
async fn every_page(dashboard: &Dashboard) -> Vec<String> {
    let mut pages = vec![
        "/".to_string(),
        format!("/monitors/{MONITOR}"),
        "/alerts".to_string(),
        "/alerts?state=firing&severity=critical".to_string(),
        "/outbox".to_string(),
    ];
    let runs = dashboard.run_ids().await;
    assert_eq!(runs.len(), 4, "the demo week has four runs");
    pages.extend(runs.iter().map(|id| format!("/runs/{id}")));
    pages.extend(AUTHORIZERS.iter().map(|id| format!("/authorizers/{id}")));
    let date = dashboard.settles_on;
    pages.extend([
        "/debits".to_string(),
        format!("/debits?date={date}"),
        format!("/debits?date={date}&monitor={MONITOR}&decision=hold"),
    ]);
    pages
}

#[tokio::test]
async fn without_a_session_every_page_sends_the_browser_to_login() {
    let dashboard = Dashboard::start(true).await;
    for page in every_page(&dashboard).await {
        let answer = get(&dashboard, &page, None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(answer.headers[LOCATION], "/login", "{page}");
        assert!(
            !answer.body.contains("B-100"),
            "{page} leaked: {}",
            answer.body
        );
    }
    let retry = format!("/outbox/{}/retry", dashboard.failed_notification);
    let answer = post(&dashboard, &retry, None, &[("csrf", "")]).await;
    assert_eq!(answer.headers[LOCATION], "/login");
    assert_eq!(
        dashboard
            .notification_state(dashboard.failed_notification)
            .await,
        "failed"
    );
    // A session cookie that was never issued is no session.
    let answer = get(&dashboard, "/", Some("balance_monitor_session=0123")).await;
    assert_eq!(answer.headers[LOCATION], "/login");
    // API clients keep the bearer header, on the pages too.
    let answer = client()
        .get(format!("{}/", dashboard.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let answer = client()
        .get(format!("{}/", dashboard.base))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_token_waits_a_second_and_the_right_one_opens_a_session_until_logout() {
    let dashboard = Dashboard::start(true).await;
    let form = get(&dashboard, "/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains(r#"<label for="token">"#),
        "{}",
        form.body
    );

    let started = Instant::now();
    let wrong = post(
        &dashboard,
        "/login",
        None,
        &[("token", "dashboard-token-5d1c9f")],
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(SET_COOKIE).is_none());
    assert!(wrong.body.contains("not the one configured"));

    let right = post(&dashboard, "/login", None, &[("token", TOKEN)]).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.headers[LOCATION], "/");
    let set = right.headers[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "on loopback the cookie is not Secure: {set}"
    );
    let cookie = session_cookie(&right);

    let overview = get(&dashboard, "/", Some(&cookie)).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains(MONITOR));
    let csrf = csrf_of(&overview.body);

    // Logging out needs the form's token, then ends the session and clears the cookie.
    let refused = post(&dashboard, "/logout", Some(&cookie), &[("csrf", "")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = post(&dashboard, "/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.headers[LOCATION], "/login");
    assert!(
        out.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = get(&dashboard, "/", Some(&cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let dashboard = Dashboard::start(true).await;
    let cookie = log_in(&dashboard).await;
    let outbox = get(&dashboard, "/outbox", Some(&cookie)).await;
    assert!(
        outbox.body.contains("550 5.1.1 mailbox unavailable"),
        "{}",
        outbox.body
    );
    let csrf = csrf_of(&outbox.body);
    let retry = format!("/outbox/{}/retry", dashboard.failed_notification);

    for form in [vec![], vec![("csrf", "")], vec![("csrf", "0000")]] {
        let answer = post(&dashboard, &retry, Some(&cookie), &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{form:?}");
    }
    let silence = [
        ("authorizer", "B-1002"),
        ("monitor", MONITOR),
        ("rule", "negative_balance"),
        ("for", "1h"),
    ];
    let answer = post(&dashboard, "/alerts/silence", Some(&cookie), &silence).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(dashboard.store.silences(None).await.unwrap().is_empty());
    assert_eq!(
        dashboard
            .notification_state(dashboard.failed_notification)
            .await,
        "failed"
    );

    // Another session's token is refused too.
    let other = log_in(&dashboard).await;
    let other_csrf = csrf_of(&get(&dashboard, "/outbox", Some(&other)).await.body);
    assert_ne!(other_csrf, csrf);
    let answer = post(&dashboard, &retry, Some(&cookie), &[("csrf", &other_csrf)]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // With its own token, the retry is made: the notification is due again.
    let answer = post(&dashboard, &retry, Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let landing = format!("/outbox?retried={}", dashboard.failed_notification);
    assert_eq!(answer.headers[LOCATION], landing.as_str());
    let outbox = get(&dashboard, &landing, Some(&cookie)).await;
    assert!(outbox.body.contains("id=\"flash\""), "{}", outbox.body);
    assert_eq!(
        dashboard
            .notification_state(dashboard.failed_notification)
            .await,
        "pending"
    );
}

#[tokio::test]
async fn every_page_is_strict_small_and_free_of_personal_data() {
    let dashboard = Dashboard::start(true).await;
    let cookie = log_in(&dashboard).await;
    let personal = personal_values();
    let mut stylesheet = None;
    for page in every_page(&dashboard).await {
        let answer = get(&dashboard, &page, Some(&cookie)).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}: {}", answer.body);
        let csp = answer.headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{page}: {csp}");
        }
        assert_eq!(answer.headers[REFERRER_POLICY], "no-referrer", "{page}");
        assert_eq!(answer.headers[CACHE_CONTROL], "no-store", "{page}");
        assert!(!answer.body.contains("<script"), "{page} has a script");
        assert!(
            !answer.body.contains("style="),
            "{page} has an inline style"
        );
        for value in &personal {
            assert!(
                !answer.body.contains(value.as_str()),
                "{page} shows {value}"
            );
        }
        let href = answer
            .body
            .split(r#"<link rel="stylesheet" href=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("every page links the stylesheet")
            .to_string();
        stylesheet.get_or_insert(href);

        // The first load over the wire: the page and its stylesheet, gzipped.
        let page_bytes = gzipped_size(&dashboard, &page, &cookie).await;
        let css_bytes = gzipped_size(&dashboard, stylesheet.as_ref().unwrap(), &cookie).await;
        assert!(
            page_bytes + css_bytes <= 150 * 1024,
            "{page}: {page_bytes} + {css_bytes} bytes"
        );
    }
    let stylesheet = stylesheet.unwrap();
    assert!(stylesheet.starts_with("/assets/style.") && stylesheet.ends_with(".css"));
    let css = get(&dashboard, &stylesheet, None).await;
    assert_eq!(
        css.status,
        StatusCode::OK,
        "the stylesheet needs no session"
    );
    assert_eq!(
        css.headers[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(css.body.contains("prefers-color-scheme: dark"));
}

/// The size of `path`'s body when the client accepts gzip (it must get gzip).
async fn gzipped_size(dashboard: &Dashboard, path: &str, cookie: &str) -> usize {
    let response = client()
        .get(format!("{}{path}", dashboard.base))
        .header(COOKIE, cookie)
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip", "{path}");
    response.bytes().await.unwrap().len()
}

#[tokio::test]
async fn the_alerts_filters_live_in_the_url_and_a_silence_is_listed() {
    let dashboard = Dashboard::start(false).await;
    // Without a token (loopback), a browser gets a session on its first page, for its
    // forms' CSRF token.
    let first = get(&dashboard, "/alerts", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let cookie = session_cookie(&first);
    let rows = |html: &str| html.matches("<tr><td>").count();
    let all = get(&dashboard, "/alerts", Some(&cookie)).await.body;
    let critical = get(&dashboard, "/alerts?severity=critical", Some(&cookie))
        .await
        .body;
    let drops = get(&dashboard, "/alerts?rule=drop_percent", Some(&cookie))
        .await
        .body;
    assert!(
        rows(&all) > rows(&critical) && rows(&critical) > 0,
        "{critical}"
    );
    assert!(critical.contains(r#"<option value="critical" selected>"#));
    assert!(!critical.contains("> warning</span>") && !critical.contains("> info</span>"));
    assert!(rows(&drops) >= 1 && rows(&drops) < rows(&all), "{drops}");
    assert!(drops.contains(r#"value="drop_percent""#));

    let firing = get(&dashboard, "/alerts?state=firing", Some(&cookie))
        .await
        .body;
    assert!(
        firing.contains("Silence</button>"),
        "a firing alert can be silenced: {firing}"
    );
    let csrf = csrf_of(&firing);
    let back = "/alerts?state=firing&monitor=&severity=&rule=";
    let form = [
        ("csrf", csrf.as_str()),
        ("authorizer", "B-1002"),
        ("monitor", MONITOR),
        ("rule", "negative_balance#1"),
        ("for", "4h"),
        ("comment", "promised to pay Friday"),
        ("back", back),
    ];
    let answer = post(&dashboard, "/alerts/silence", Some(&cookie), &form).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.headers[LOCATION], back);
    let silences = dashboard.store.silences(None).await.unwrap();
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0].silence.authorizer_unique_id, "B-1002");
    assert_eq!(
        silences[0].silence.rule.as_deref(),
        Some("negative_balance#1")
    );
    let listed = get(&dashboard, back, Some(&cookie)).await.body;
    assert!(listed.contains("promised to pay Friday"), "{listed}");

    // A redirect never leaves the alerts page.
    let mut away = form.to_vec();
    away.retain(|(key, _)| *key != "back");
    away.push(("back", "https://elsewhere.example/"));
    let answer = post(&dashboard, "/alerts/silence", Some(&cookie), &away).await;
    assert_eq!(answer.headers[LOCATION], "/alerts");
}

/// The rank of a decision on the debits page: holds first, then unknowns, then sends.
fn rank(decision: Decision) -> u8 {
    match decision {
        Decision::Hold => 0,
        Decision::Unknown => 1,
        Decision::Send => 2,
    }
}

#[tokio::test]
async fn the_debits_page_lists_holds_first_and_its_csv_holds_every_decision() {
    let dashboard = Dashboard::start(true).await;
    let cookie = log_in(&dashboard).await;
    let date = dashboard.settles_on;
    let decided = &dashboard.decisions;
    let count = |d: Decision| decided.iter().filter(|row| row.decision == d).count();
    assert!(
        count(Decision::Send) > 0 && count(Decision::Hold) > 0,
        "the demo week gives sends and holds: {decided:#?}"
    );

    // The page: every debit, holds first, and the tally by decision.
    let page = get(&dashboard, &format!("/debits?date={date}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let table = page.body.split(r#"<table id="debits">"#).nth(1).unwrap();
    let mut listed: Vec<(usize, &DecisionRow)> = decided
        .iter()
        .map(|row| {
            let cell = format!("<td>{}</td>", row.debit_id);
            (table.find(&cell).expect(&row.debit_id), row)
        })
        .collect();
    listed.sort_by_key(|(at, _)| *at);
    let ranks: Vec<u8> = listed.iter().map(|(_, row)| rank(row.decision)).collect();
    assert!(ranks.is_sorted(), "holds, unknowns, then sends: {ranks:?}");
    let tally = page.body.split(r#"<table id="tally">"#).nth(1).unwrap();
    for decision in Decision::ALL {
        let row = tally
            .split("<tr>")
            .find(|row| row.contains(&format!("</span> {decision}</span>")))
            .unwrap_or_else(|| panic!("no tally row for {decision}"));
        assert!(
            row.contains(&format!(r#"<td class="num">{}</td>"#, count(decision))),
            "{decision}: {row}"
        );
    }
    assert!(
        page.body.contains(&format!(
            r#"href="/debits.csv?date={date}&#38;monitor=&#38;decision=""#
        )),
        "{}",
        page.body
    );

    // The CSV: every decision, exact, as an attachment named after the date.
    let csv = get(
        &dashboard,
        &format!("/debits.csv?date={date}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.headers[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers[CONTENT_DISPOSITION],
        format!("attachment; filename=\"debits-{date}.csv\"").as_str()
    );
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, DECISION_COLUMNS);
    let mut from_csv: Vec<(String, String, String, String)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let field = |name: &str| {
                record[DECISION_COLUMNS.iter().position(|c| *c == name).unwrap()].to_string()
            };
            (
                field("debit_id"),
                field("decision"),
                field("amount"),
                field("balance"),
            )
        })
        .collect();
    from_csv.sort();
    let mut expected: Vec<(String, String, String, String)> = decided
        .iter()
        .map(|row| {
            (
                row.debit_id.clone(),
                row.decision.to_string(),
                row.amount.to_decimal_string(),
                row.balance
                    .map(|b| b.to_decimal_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(from_csv, expected);
    for value in personal_values() {
        assert!(!csv.body.contains(value.as_str()), "the CSV shows {value}");
    }

    // Filtered to the holds, and named so.
    let holds = get(
        &dashboard,
        &format!("/debits.csv?date={date}&decision=hold"),
        Some(&cookie),
    )
    .await;
    assert_eq!(
        holds.headers[CONTENT_DISPOSITION],
        format!("attachment; filename=\"debits-{date}-hold.csv\"").as_str()
    );
    assert_eq!(holds.body.lines().count(), 1 + count(Decision::Hold));
    assert!(
        holds
            .body
            .lines()
            .skip(1)
            .all(|line| line.contains(",hold,"))
    );

    // A held authorizer's page marks the debit on its chart and lists it.
    let held = decided
        .iter()
        .find(|row| row.decision == Decision::Hold)
        .unwrap();
    let page = get(
        &dashboard,
        &format!("/authorizers/{}", held.authorizer_unique_id),
        Some(&cookie),
    )
    .await;
    assert!(page.body.contains(r#"<line class="mark""#), "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "<title>debit {} of $120.00 USD settling",
            held.debit_id
        )),
        "{}",
        page.body
    );
    let debits = page.body.split(r#"<table id="debits">"#).nth(1).unwrap();
    assert!(debits.contains(&format!("<td>{}</td>", held.debit_id)));

    // A date that is not one is named; the CSV needs a session like every page.
    let bad = get(&dashboard, "/debits?date=2026-13-01", Some(&cookie)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body
            .contains("date &#34;2026-13-01&#34; is not a date written YYYY-MM-DD"),
        "{}",
        bad.body
    );
    let bad = get(
        &dashboard,
        &format!("/debits.csv?date={date}&decision=maybe"),
        Some(&cookie),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let anonymous = get(&dashboard, &format!("/debits.csv?date={date}"), None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers[LOCATION], "/login");
}

#[tokio::test]
async fn the_read_api_lists_the_decisions_of_a_date_or_an_authorizer() {
    let dashboard = Dashboard::start(true).await;
    let date = dashboard.settles_on;
    let api = |path: String| {
        let request = client()
            .get(format!("{}{path}", dashboard.base))
            .bearer_auth(TOKEN);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = api(format!("/v1/debits?date={date}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["debits"].as_array().unwrap();
    assert_eq!(items.len(), dashboard.decisions.len(), "{body}");
    for row in &dashboard.decisions {
        let item = items
            .iter()
            .find(|item| item["debit_id"] == row.debit_id.as_str())
            .unwrap_or_else(|| panic!("{} is missing: {body}", row.debit_id));
        assert_eq!(
            item["authorizer_unique_id"],
            row.authorizer_unique_id.as_str()
        );
        assert_eq!(item["settles_on"], date.to_string().as_str());
        assert_eq!(item["amount"], row.amount.to_decimal_string().as_str());
        assert_eq!(item["decision"], row.decision.as_str());
        assert_eq!(item["reason"], row.reason.as_str());
        assert_eq!(item["monitor"], MONITOR);
    }

    // One authorizer's, and only some decisions.
    let held = dashboard
        .decisions
        .iter()
        .find(|row| row.decision == Decision::Hold)
        .unwrap();
    let (_, body) = api(format!(
        "/v1/debits?authorizer={}",
        held.authorizer_unique_id
    ))
    .await;
    let ids: Vec<&str> = body["debits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["debit_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [held.debit_id.as_str()]);
    let (_, body) = api(format!("/v1/debits?date={date}&decision=send,unknown")).await;
    let expected = dashboard
        .decisions
        .iter()
        .filter(|row| row.decision != Decision::Hold)
        .count();
    let items = body["debits"].as_array().unwrap();
    assert_eq!(items.len(), expected, "{body}");
    assert!(items.iter().all(|item| item["decision"] != "hold"));

    // Without a date or an authorizer, or with a bad value, a 400 that says why.
    for (path, words) in [
        (
            "/v1/debits".to_string(),
            "A date or an authorizer is required.",
        ),
        ("/v1/debits?date=12/08/2026".to_string(), "Invalid date"),
        (
            format!("/v1/debits?date={date}&decision=maybe"),
            "Invalid decision",
        ),
    ] {
        let (status, body) = api(path.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.to_string().contains(words), "{path}: {body}");
    }
    // The bearer token is required, as on every route of the API.
    let anonymous = client()
        .get(format!("{}/v1/debits?date={date}", dashboard.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
