//! Benchmark: the dashboard's pages over 10,000,000 stored results (10,000 authorizers
//! × 1,000 daily runs, the data set `history_api` uses), one request at a time.
//!
//! Run it with `cargo bench --bench dashboard` (`--small` for a 1,000 × 50 data set that
//! checks the program in seconds; `--requests N`, 300 by default). `BENCHMARKS.md`
//! records the figures.
//!
//! 1. **Data set.** `support::history_data::dataset`, built once and cached, plus 3,000
//!    alert episodes over the last 100 runs (a third still firing, by severity), added
//!    once and marked by a `.dashboard` file beside it; and a debit every 14 days per
//!    authorizer, decided by the run two days before it settles (about 714,000
//!    decisions at 10,000 × 1,000), added once and marked by a `.debits` file.
//! 2. **Server.** `http::serve` on `127.0.0.1:0` on a two-worker runtime, its clock
//!    stopped a day after the last run, so `/authorizers/{id}` shows two years (732
//!    daily checks) and `/` the last runs.
//! 3. **Requests.** After 20 unmeasured ones, N sequential `GET /` and N sequential
//!    `GET /authorizers/{id}` over random authorizers, each timed from the request to
//!    the last byte of the body at a client on loopback (an upper bound on the server's
//!    time), every answer a 200; then N of `GET /debits?date=D` for the settlement dates
//!    of the last N runs. Then the first load of each page over the wire: the
//!    page and its stylesheet as gzip.

#![forbid(unsafe_code)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::http::{HttpState, WatchedMonitor, serve};
use balance_monitor::schedule::Schedule;
use balance_monitor::store::Store;
use rusqlite::{Connection, params};

use support::history_data::{self, authorizer_id, slot, text};
use support::machine_summary;

/// The data set's monitor, as `history_data` names it.
const MONITOR: &str = "bench";

fn main() -> anyhow::Result<()> {
    let mut authorizers = 10_000;
    let mut runs = 1_000;
    let mut requests = 300;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--small" => {
                authorizers = 1_000;
                runs = 50;
            }
            "--requests" => {
                requests = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .context("--requests needs a positive number")?;
            }
            other => anyhow::bail!("unknown argument {other:?}; options: --small, --requests N"),
        }
    }
    println!("{}", machine_summary());
    let database = history_data::dataset(authorizers, runs)?;
    add_alerts(&database, authorizers, runs)?;
    add_debits(&database, authorizers, runs)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(measure(&database, authorizers, runs, requests))
}

/// 3,000 alert episodes over the last 100 runs, once.
fn add_alerts(database: &Path, authorizers: usize, runs: usize) -> anyhow::Result<()> {
    let marker = database.with_extension("dashboard");
    if marker.exists() {
        return Ok(());
    }
    let mut connection = Connection::open(database)?;
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO alerts (fingerprint, monitor_id, authorizer_unique_id, rule, state, \
                 severity, consecutive_failures, consecutive_passes, first_fired_at, \
                 last_fired_at, last_notified_at, resolved_at, last_run_id, reason) \
             VALUES (?1, 1, ?2, ?3, ?4, ?5, 1, 0, ?6, ?6, ?6, ?7, ?8, ?9)",
        )?;
        for episode in 0..3_000usize {
            let authorizer = authorizer_id((episode * 7) % authorizers);
            let (rule, severity) = match episode % 3 {
                0 => ("below_payment#1", "critical"),
                1 => ("drop_percent#1", "warning"),
                _ => ("balance_below#1", "info"),
            };
            let fired = runs.saturating_sub(100).max(1) + episode % 90;
            let resolved = (episode % 3 != 0).then(|| (fired + 5).min(runs));
            insert.execute(params![
                format!("{MONITOR}/{rule}/authorizer/{authorizer}/{episode}"),
                authorizer,
                rule,
                if resolved.is_some() {
                    "resolved"
                } else {
                    "firing"
                },
                severity,
                text(slot(fired)),
                resolved.map(|run| text(slot(run))),
                resolved.unwrap_or(runs) as i64,
                "the balance is below the payment",
            ])?;
        }
    }
    transaction.commit()?;
    std::fs::write(&marker, b"alerts added\n")?;
    Ok(())
}

/// A debit every 14 days per authorizer, decided by the run two days before it
/// settles, once.
fn add_debits(database: &Path, authorizers: usize, runs: usize) -> anyhow::Result<()> {
    let marker = database.with_extension("debits");
    if marker.exists() {
        return Ok(());
    }
    let mut connection = Connection::open(database)?;
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO debit_decisions (run_id, debit_id, authorizer_unique_id, debit_date, \
                 settles_on, amount_cents, decision, reason, balance_cents, checked_at) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for run in 1..=runs {
            let settles = (slot(run) + chrono::Duration::days(2))
                .date_naive()
                .to_string();
            for index in (0..authorizers).filter(|a| (run + a) % 14 == 0) {
                let authorizer = authorizer_id(index);
                let amount = 5_000 + (history_data::mix(run, index) % 20_000) as i64;
                let balance = (history_data::mix(index, run) % 60_000) as i64;
                let (decision, reason) = match balance.cmp(&(amount + 2_500)) {
                    _ if run % 97 == 0 => ("unknown", "the latest check was not retrieved"),
                    std::cmp::Ordering::Less => ("hold", "the balance does not cover it"),
                    _ => ("send", "the balance covers it"),
                };
                insert.execute(params![
                    run as i64,
                    format!("{authorizer}@{settles}"),
                    authorizer,
                    settles,
                    amount,
                    decision,
                    reason,
                    balance,
                    text(slot(run)),
                ])?;
            }
        }
    }
    transaction.commit()?;
    std::fs::write(&marker, b"debits added\n")?;
    Ok(())
}

async fn measure(
    database: &Path,
    authorizers: usize,
    runs: usize,
    requests: usize,
) -> anyhow::Result<()> {
    let store = Store::open(database).context("opening the data set with the daemon's store")?;
    let stopped_at = slot(runs) + chrono::Duration::days(1);
    let mut state = HttpState::new(
        store.clone(),
        Completions::default(),
        Clock::following_tokio(stopped_at),
    );
    let (_monitors, watched) = tokio::sync::watch::channel(Arc::new(vec![WatchedMonitor {
        name: MONITOR.to_string(),
        schedule: Schedule::parse("0 6 * * *", chrono_tz::UTC).map_err(anyhow::Error::msg)?,
        grace: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        balance_below: Some(balance_monitor::money::Cents(15_000)),
    }]));
    state.monitors = watched;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().no_proxy().build()?;

    let authorizer_page = |i: usize| {
        let index = (history_data::mix(i, 17) as usize) % authorizers;
        format!("/authorizers/{}", authorizer_id(index))
    };
    for i in 0..20 {
        fetch(&client, &base, "/").await?;
        fetch(&client, &base, &authorizer_page(i)).await?;
    }
    let checks = fetch(&client, &base, &authorizer_page(0)).await?.1;
    println!(
        "/authorizers/{{id}} lists {} checks",
        checks.matches("<tr><td><time").count()
    );
    let debits_page = |i: usize| {
        let run = runs - (i % runs);
        let date = (slot(run) + chrono::Duration::days(2)).date_naive();
        format!("/debits?date={date}")
    };
    let debits = fetch(&client, &base, &debits_page(0)).await?.1;
    println!(
        "/debits lists {} debits",
        debits.matches("<tr><td><span class=\"badge").count()
    );
    for name in ["/", "/authorizers/{id}", "/debits?date=D"] {
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests {
            let path = match name {
                "/" => "/".to_string(),
                "/authorizers/{id}" => authorizer_page(1_000 + i),
                _ => debits_page(i),
            };
            times.push(fetch(&client, &base, &path).await?.0);
        }
        times.sort();
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "GET {name:<18} n={requests}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    }

    let (_, overview) = fetch(&client, &base, "/").await?;
    let stylesheet = overview
        .split(r#"<link rel="stylesheet" href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the page links its stylesheet")?
        .to_string();
    let css = gzipped(&client, &base, &stylesheet).await?;
    let pages = [
        "/".to_string(),
        format!("/monitors/{MONITOR}"),
        format!("/runs/{runs}"),
        authorizer_page(0),
        debits_page(0),
        "/alerts".to_string(),
        "/outbox".to_string(),
    ];
    for path in pages {
        let (plain, zipped) = gzipped(&client, &base, &path).await?;
        println!(
            "first load {path:<22} page {:>7} B ({:>6} B gzip) + stylesheet {:>5} B gzip = {:>6} B over the wire",
            plain,
            zipped,
            css.1,
            zipped + css.1
        );
    }
    let _ = stop.send(());
    store.close().await;
    Ok(())
}

/// Times one `GET`, to the last byte; the body.
async fn fetch(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let response = client.get(format!("{base}{path}")).send().await?;
    let status = response.status();
    let body = response.text().await?;
    let took = started.elapsed();
    ensure!(status == 200, "{path} answered {status}: {body}");
    Ok((took, body))
}

/// `path`'s body size as sent plain and as gzip.
async fn gzipped(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<(usize, usize)> {
    let plain = client
        .get(format!("{base}{path}"))
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let response = client
        .get(format!("{base}{path}"))
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .send()
        .await?;
    ensure!(
        response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|e| e == "gzip"),
        "{path} is not compressed"
    );
    Ok((plain, response.bytes().await?.len()))
}
