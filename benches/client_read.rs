//! Benchmark: the Rightfoot client reading 100,000 results from the built-in sandbox.
//!
//! Run it with `cargo bench --bench client_read` (`-- --iterations N` for other than
//! ten measured rounds). `BENCHMARKS.md` records the figures and how to read them.
//!
//! 1. **Setup, not timed.** The sandbox serves on 127.0.0.1:0 in this process, on its
//!    own tokio runtime with one worker thread (`sandbox-rt`), with a processing time
//!    of zero and a frozen clock moved one second on, so every result is visible at
//!    once. 100,000 synthetic authorizers (fake data: ids `BENCH-000001` to
//!    `BENCH-100000`, SSNs `900xxxxxx`) are written as Rightfoot-format CSV text, 1,000
//!    per chunk, loaded with `parse_csv_bytes`, and submitted as 100 bodies with
//!    `submit_chunk`. Every row must be accepted and every batch id must be new.
//! 2. **Warm-up, not timed, verified in depth.** One client pass, which also records
//!    the URL of each of the 1,000 pages, then one raw pass over those URLs that parses
//!    every body as JSON and checks the ids it holds.
//! 3. **Measured rounds.** Each round is a client pass then a raw pass:
//!    - *client*: for each batch, `balance_pages(batch, 1000, submitted_at)` and
//!      `next_page()` until the end, pages of 100: 1,000 pages in all, read one after
//!      the other. The only work done with a result is counting its id; after the pass,
//!      every authorizer must have been read exactly once.
//!    - *raw*: the same 1,000 URLs with a bare `reqwest` GET whose body is read as
//!      bytes and not parsed. This is the floor set by the sandbox, HTTP on loopback and
//!      the two runtimes; client / raw is the client's own overhead as a ratio.
//!
//! Both passes run on a current-thread runtime on the main thread; the sandbox keeps
//! its own thread, so each side can use one of two cores. CPU time is read per thread
//! (`sandbox-rt` threads are the sandbox; all others the reading side), and the peak
//! resident set is reset before each pass so that it is the pass's own peak. The
//! sandbox's state (100,000 rows) is in that figure.

#![forbid(unsafe_code)]

mod support;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use balance_monitor::authorizers::csv::{COLUMNS, parse_csv_bytes};
use balance_monitor::authorizers::wire::request_body;
use balance_monitor::rightfoot::{ClientConfig, RightfootClient, USER_AGENT};
use balance_monitor::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use balance_monitor::secret::Secret;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use url::Url;

use support::{Memory, ProcessCpu, ThreadCpu, max, min_median, reset_peak_rss};

const AUTHORIZERS: usize = 100_000;
const CHUNK: usize = 1_000;
const PAGE_LIMIT: usize = 100;
const PAGES: usize = AUTHORIZERS / PAGE_LIMIT;
const DEFAULT_ITERATIONS: usize = 10;
const API_KEY: &str = "rf_bench_client_read";
const SANDBOX_THREAD: &str = "sandbox-rt";
const ID_PREFIX: &str = "BENCH-";

fn main() -> anyhow::Result<()> {
    let iterations = iterations_from_args()?;
    println!(
        "client_read: {AUTHORIZERS} results in {} batches of {CHUNK}, pages of {PAGE_LIMIT} \
         ({PAGES} pages), {iterations} measured rounds after a warm-up",
        AUTHORIZERS / CHUNK
    );
    println!("machine: {}", support::machine_summary());

    let sandbox_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SANDBOX_THREAD)
        .enable_all()
        .build()
        .context("building the sandbox runtime")?;
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the client runtime")?;

    let server = sandbox_runtime.block_on(start_sandbox())?;
    let client = RightfootClient::new(ClientConfig::new(
        server.base_url.clone(),
        Secret::new(API_KEY),
    ))
    .context("building the rightfoot client")?;
    let raw = RawReader::new(&server.base_url)?;

    // Setup.
    let started = Instant::now();
    let batches = client_runtime.block_on(submit_all(&client))?;
    server.handle.clock().advance(Duration::from_secs(1));
    for batch in &batches {
        let summary = server
            .handle
            .batch(&batch.id)
            .with_context(|| format!("the sandbox does not know batch {}", batch.id))?;
        ensure!(
            summary.visible == batch.accepted && summary.accepted == CHUNK,
            "batch {} shows {} of {} results",
            batch.id,
            summary.visible,
            summary.accepted
        );
    }
    println!(
        "setup: {AUTHORIZERS} authorizers generated, loaded and submitted in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Warm-up, verified in depth.
    let mut urls = Vec::with_capacity(PAGES);
    client_runtime
        .block_on(read_with_client(&client, &batches, Some(&mut urls)))?
        .verify("warm-up client pass")?;
    let (tally, expected_bytes) = client_runtime.block_on(raw.read(&urls, true))?;
    tally.verify("warm-up raw pass")?;
    println!(
        "warm-up: both passes read every authorizer exactly once; {PAGES} pages, {:.1} MB of JSON",
        expected_bytes as f64 / 1e6
    );
    let memory = Memory::read();
    println!(
        "memory: {:.1} MiB resident, {:.1} MiB at the peak so far (setup included)",
        memory.rss_kib as f64 / 1024.0,
        memory.peak_kib as f64 / 1024.0
    );

    // Measured rounds.
    let mut client_runs = Vec::with_capacity(iterations);
    let mut raw_runs = Vec::with_capacity(iterations);
    println!();
    println!("{}", Measurement::HEADER);
    for round in 1..=iterations {
        let (tally, measured) =
            measure(&client_runtime, read_with_client(&client, &batches, None))?;
        tally.verify(&format!("client pass {round}"))?;
        println!("{}", measured.row(&format!("client {round}")));
        client_runs.push(measured);

        let ((tally, bytes), measured) = measure(&client_runtime, raw.read(&urls, false))?;
        ensure!(
            tally.pages == PAGES && bytes == expected_bytes,
            "raw pass {round} read {} pages and {bytes} bytes, expected {PAGES} and {expected_bytes}",
            tally.pages
        );
        println!("{}", measured.row(&format!("raw {round}")));
        raw_runs.push(measured);
    }
    println!();
    summarize(&client_runs, &raw_runs);

    // Close the client's pooled connections before asking the server to drain.
    drop(client);
    drop(raw);
    drop(client_runtime);
    server.stop(&sandbox_runtime);
    Ok(())
}

/// `--iterations N`; cargo passes `--bench` to every benchmark, which is ignored.
fn iterations_from_args() -> anyhow::Result<usize> {
    let mut iterations = DEFAULT_ITERATIONS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--iterations" => {
                iterations = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .context("--iterations needs a positive number")?;
            }
            other => bail!("unknown argument {other:?}; the only option is --iterations N"),
        }
    }
    Ok(iterations)
}

/// The sandbox, serving on the sandbox runtime until [`RunningSandbox::stop`].
struct RunningSandbox {
    base_url: Url,
    handle: SandboxHandle,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningSandbox {
    fn stop(self, runtime: &Runtime) {
        let _ = self.stop.send(());
        let served = self.served;
        match runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), served).await })
        {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => eprintln!("the sandbox stopped with an error: {error}"),
            Ok(Err(error)) => eprintln!("the sandbox task failed: {error}"),
            Err(_) => eprintln!("the sandbox did not stop within 10 seconds"),
        }
    }
}

/// Runs inside the sandbox runtime, so the listener and the server belong to it.
async fn start_sandbox() -> anyhow::Result<RunningSandbox> {
    let mut config = SandboxConfig::new([Secret::new(API_KEY)]);
    config.processing_time = Duration::ZERO;
    config.clock_speed = 0.0;
    let sandbox = Sandbox::new(config).context("configuring the sandbox")?;
    let handle = sandbox.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding 127.0.0.1:0")?;
    let base_url = Url::parse(&format!("http://{}/", listener.local_addr()?))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(sandbox.serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(RunningSandbox {
        base_url,
        handle,
        stop,
        served,
    })
}

/// One submitted chunk.
struct Batch {
    id: String,
    accepted: usize,
    submitted_at: DateTime<Utc>,
}

/// Rightfoot-format CSV text for authorizers `first..first + count`. Every value is
/// made up: 900-series SSNs are never issued, 555 phone numbers are fictional.
fn csv_chunk(first: usize, count: usize) -> String {
    let mut text = COLUMNS.join(",");
    text.push('\n');
    for n in first..first + count {
        // The columns, in order: id, first and last name, street lines 1 and 2, city,
        // state, ZIP, country, phone, date of birth, SSN, EIN, account number, routing
        // number, and the four empty debit-card columns.
        writeln!(
            text,
            "{ID_PREFIX}{n:06},Bench,Borrower{n},{n} Test Street,,Springfield,IL,62701,US,\
             555{n:07},01/15/1980,900{n:06},,40{n:08},011000015,,,,"
        )
        .expect("writing to a String cannot fail");
    }
    text
}

/// Builds, loads and submits the 100 chunks; every row must be accepted.
async fn submit_all(client: &RightfootClient) -> anyhow::Result<Vec<Batch>> {
    let mut batches = Vec::with_capacity(AUTHORIZERS / CHUNK);
    for chunk in 0..AUTHORIZERS / CHUNK {
        let name = format!("bench-chunk-{:03}.csv", chunk + 1);
        let text = csv_chunk(chunk * CHUNK + 1, CHUNK);
        let loaded = parse_csv_bytes(text.as_bytes(), Path::new(&name))
            .with_context(|| format!("loading {name}"))?;
        ensure!(
            loaded.valid.len() == CHUNK && loaded.rejected.is_empty(),
            "{name}: {} valid and {} rejected rows, first rejection: {:?}",
            loaded.valid.len(),
            loaded.rejected.len(),
            loaded.rejected.first()
        );
        ensure!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
        let body = request_body(&loaded.valid, None);
        let outcome = client
            .submit_chunk(&body, Utc::now())
            .await
            .with_context(|| format!("submitting {name}"))?;
        ensure!(
            outcome.failed.is_empty(),
            "{name}: the sandbox rejected {} rows",
            outcome.failed.len()
        );
        batches.push(Batch {
            accepted: outcome.accepted,
            id: outcome.batch_id,
            submitted_at: outcome.submitted_at,
        });
    }
    let distinct: HashSet<&str> = batches.iter().map(|b| b.id.as_str()).collect();
    ensure!(
        distinct.len() == batches.len(),
        "the sandbox answered some chunks from its cache"
    );
    Ok(batches)
}

/// How many times each authorizer was read, and what else was seen.
struct Tally {
    /// Index `n` counts `BENCH-{n:06}`; index 0 is unused.
    seen: Vec<u32>,
    unexpected: usize,
    results: usize,
    pages: usize,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            seen: vec![0; AUTHORIZERS + 1],
            unexpected: 0,
            results: 0,
            pages: 0,
        }
    }

    fn count(&mut self, id: Option<&str>) {
        self.results += 1;
        let index = id
            .and_then(|id| id.strip_prefix(ID_PREFIX))
            .filter(|digits| digits.len() == 6)
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|n| (1..=AUTHORIZERS).contains(n));
        match index {
            Some(n) => self.seen[n] += 1,
            None => self.unexpected += 1,
        }
    }

    /// Every authorizer read exactly once, nothing else read, in exactly 1,000 pages.
    fn verify(&self, pass: &str) -> anyhow::Result<()> {
        let missing = self.seen[1..].iter().filter(|n| **n == 0).count();
        let repeated = self.seen[1..].iter().filter(|n| **n > 1).count();
        ensure!(
            missing == 0 && repeated == 0 && self.unexpected == 0,
            "{pass}: {missing} authorizers missing, {repeated} read more than once, \
             {} unexpected ids",
            self.unexpected
        );
        ensure!(
            self.results == AUTHORIZERS && self.pages == PAGES,
            "{pass}: {} results in {} pages, expected {AUTHORIZERS} in {PAGES}",
            self.results,
            self.pages
        );
        Ok(())
    }
}

/// Reads every batch through the client's cursor. With `urls`, also records the URL
/// of each page (the cursor the client sent for it) for the raw pass.
async fn read_with_client(
    client: &RightfootClient,
    batches: &[Batch],
    mut urls: Option<&mut Vec<Url>>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new();
    for batch in batches {
        let mut pages = client.balance_pages(&batch.id, batch.accepted, batch.submitted_at);
        let mut token: Option<String> = None;
        let mut results = 0;
        while let Some(page) = pages
            .next_page()
            .await
            .with_context(|| format!("reading batch {}", batch.id))?
        {
            ensure!(
                !page.batch_not_found_yet && page.batch_id.as_deref() == Some(batch.id.as_str()),
                "page {} of batch {} is not that batch's results",
                page.number,
                batch.id
            );
            if let Some(urls) = urls.as_deref_mut() {
                urls.push(page_url(client.base_url(), &batch.id, token.as_deref())?);
            }
            tally.pages += 1;
            results += page.results.len();
            for result in &page.results {
                tally.count(Some(&result.authorizer_unique_id));
            }
            token = page.next_page_token;
        }
        ensure!(
            results == batch.accepted,
            "batch {} gave {results} results, expected {}",
            batch.id,
            batch.accepted
        );
    }
    Ok(tally)
}

/// The URL the client requests for a page, built as the client builds it.
fn page_url(base: &Url, batch_id: &str, token: Option<&str>) -> anyhow::Result<Url> {
    let mut url = base.join("v1/balances")?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("batchId", batch_id)
            .append_pair("limit", &PAGE_LIMIT.to_string());
        if let Some(token) = token {
            query.append_pair("nextPageToken", token);
        }
    }
    Ok(url)
}

/// The reference reader: a bare reqwest client set up like the Rightfoot client
/// (user agent, no redirects, no retries, a timeout), and no parsing.
struct RawReader {
    http: reqwest::Client,
    authorization: HeaderValue,
}

impl RawReader {
    fn new(base: &Url) -> anyhow::Result<RawReader> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .build()
            .with_context(|| format!("building the raw client for {base}"))?;
        let authorization = HeaderValue::from_str(&format!("Bearer {API_KEY}"))?;
        Ok(RawReader {
            http,
            authorization,
        })
    }

    /// GETs every URL in turn and reads each body in full; returns the pages read and
    /// the bytes received. With `parse`, also decodes each body and counts its ids.
    async fn read(&self, urls: &[Url], parse: bool) -> anyhow::Result<(Tally, usize)> {
        let mut tally = Tally::new();
        let mut bytes = 0;
        for url in urls {
            let response = self
                .http
                .get(url.clone())
                .header(AUTHORIZATION, self.authorization.clone())
                .send()
                .await?;
            ensure!(
                response.status() == StatusCode::OK,
                "raw GET answered {}",
                response.status()
            );
            let body = response.bytes().await?;
            bytes += body.len();
            tally.pages += 1;
            if parse {
                let page: serde_json::Value = serde_json::from_slice(&body)?;
                let records = page["balances"]
                    .as_array()
                    .context("a page without balances")?;
                for record in records {
                    tally.count(record["authorizer_unique_id"].as_str());
                }
            }
        }
        Ok((tally, bytes))
    }
}

/// What one pass cost.
struct Measurement {
    wall: Duration,
    /// CPU time of every thread but the sandbox's: the reader and its runtime.
    reader_cpu: Duration,
    /// CPU time of the sandbox runtime's threads.
    sandbox_cpu: Duration,
    /// The whole process, user and system.
    process: ProcessCpu,
    /// Resident set when the pass started.
    start_kib: u64,
    /// Peak resident set during the pass (since start if the reset was refused).
    peak_kib: u64,
    peak_was_reset: bool,
}

impl Measurement {
    const HEADER: &str = "pass          wall ms   pages/s  results/s  µs/result  \
                          reader CPU ms  sandbox CPU ms  user+sys ms  peak RSS MiB (growth)";

    fn row(&self, pass: &str) -> String {
        let wall = self.wall.as_secs_f64();
        format!(
            "{pass:<12} {:>8.1} {:>9.0} {:>10.0} {:>10.2} {:>14.1} {:>15.1} {:>12.0} {:>13.1} (+{:.1}){}",
            wall * 1e3,
            PAGES as f64 / wall,
            AUTHORIZERS as f64 / wall,
            wall * 1e6 / AUTHORIZERS as f64,
            self.reader_cpu.as_secs_f64() * 1e3,
            self.sandbox_cpu.as_secs_f64() * 1e3,
            self.process.total().as_secs_f64() * 1e3,
            self.peak_kib as f64 / 1024.0,
            self.peak_kib.saturating_sub(self.start_kib) as f64 / 1024.0,
            if self.peak_was_reset {
                ""
            } else {
                " (peak since start)"
            },
        )
    }
}

/// Runs `pass` on `runtime` and measures it. Only the pass is timed; the readings of
/// `/proc` are outside the wall-clock window.
fn measure<T>(
    runtime: &Runtime,
    pass: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Measurement)> {
    let peak_was_reset = reset_peak_rss();
    let start_kib = Memory::read().rss_kib;
    let threads_before = ThreadCpu::snapshot();
    let process_before = ProcessCpu::snapshot();
    let started = Instant::now();
    let output = runtime.block_on(pass)?;
    let wall = started.elapsed();
    let process = ProcessCpu::snapshot().since(&process_before);
    let threads_after = ThreadCpu::snapshot();
    let memory = Memory::read();
    let is_sandbox = |name: &str| name.starts_with(SANDBOX_THREAD);
    Ok((
        output,
        Measurement {
            wall,
            reader_cpu: threads_after.since(&threads_before, |name| !is_sandbox(name)),
            sandbox_cpu: threads_after.since(&threads_before, is_sandbox),
            process,
            start_kib,
            peak_kib: memory.peak_kib,
            peak_was_reset,
        },
    ))
}

/// Min and median of each figure, and the client's overhead against the raw reader.
fn summarize(client: &[Measurement], raw: &[Measurement]) {
    let seconds = |runs: &[Measurement], f: fn(&Measurement) -> Duration| -> Vec<f64> {
        runs.iter().map(|m| f(m).as_secs_f64()).collect()
    };
    let per_result_us = |s: f64| s * 1e6 / AUTHORIZERS as f64;
    println!(
        "summary over {} rounds (min / median; rates from the min and median times):",
        client.len()
    );
    let mut medians = Vec::new();
    for (name, runs) in [("client", client), ("raw", raw)] {
        let (wall_min, wall_median) = min_median(&seconds(runs, |m| m.wall));
        let (_, reader_median) = min_median(&seconds(runs, |m| m.reader_cpu));
        let (_, sandbox_median) = min_median(&seconds(runs, |m| m.sandbox_cpu));
        let peak = max(&runs.iter().map(|m| m.peak_kib as f64).collect::<Vec<_>>());
        let growth = max(&runs
            .iter()
            .map(|m| m.peak_kib.saturating_sub(m.start_kib) as f64)
            .collect::<Vec<_>>());
        println!(
            "  {name:<6} wall {:.1} / {:.1} ms; {:.0} / {:.0} pages/s; {:.0} / {:.0} results/s; \
             {:.2} / {:.2} µs per result",
            wall_min * 1e3,
            wall_median * 1e3,
            PAGES as f64 / wall_min,
            PAGES as f64 / wall_median,
            AUTHORIZERS as f64 / wall_min,
            AUTHORIZERS as f64 / wall_median,
            per_result_us(wall_min),
            per_result_us(wall_median),
        );
        println!(
            "         median CPU per result: reader {:.2} µs, sandbox {:.2} µs; \
             peak RSS {:.1} MiB, at most {:.1} MiB above the pass's start",
            per_result_us(reader_median),
            per_result_us(sandbox_median),
            peak / 1024.0,
            growth / 1024.0,
        );
        medians.push((wall_min, wall_median, reader_median));
    }
    let (client_min, client_median, client_cpu) = medians[0];
    let (raw_min, raw_median, raw_cpu) = medians[1];
    println!(
        "  client / raw wall time: {:.2} (min) / {:.2} (median); the client adds {:.2} µs \
         of wall time and {:.2} µs of reader CPU per result (medians)",
        client_min / raw_min,
        client_median / raw_median,
        per_result_us(client_median - raw_median),
        per_result_us(client_cpu - raw_cpu),
    );
}
