//! Benchmark: the local read API serving authorizer history over 10,000,000 stored
//! results (10,000 authorizers × 1,000 runs), measured from a load generator on
//! loopback.
//!
//! Run it with `cargo bench --bench history_api` (options: `--duration SECONDS`,
//! `--connections 1,8,32`, `--loader wrk|builtin`, `--small` for a 100 × 50 data set
//! that checks the program in seconds). `BENCHMARKS.md` records the figures.
//!
//! 1. **Data set, built once and cached.** `target/bench-data/history_api-10000x1000.db`
//!    is reused when its `.complete` marker exists. Otherwise the store creates the
//!    schema (every migration), and one plain SQLite connection fills it in one
//!    transaction with prepared statements: one monitor, 1,000 daily runs, 10 chunks of
//!    1,000 authorizers per run with Rightfoot batch ids, every chunk's members, and one
//!    result per authorizer per run (94% balances, 3% failed checks, 2% not retrieved,
//!    1% rejected; balances from a hash, some negative). The result and member indexes
//!    are dropped before the load and rebuilt after it from their own `CREATE INDEX`
//!    text (a sorted build is much faster than 10,000,000 random inserts), and the file
//!    goes back to WAL. Nothing else is changed: the daemon's own `Store::open` then
//!    opens it as it would any database.
//! 2. **Server.** `http::serve` on `127.0.0.1:0` with a bearer token, on its own
//!    multi-threaded tokio runtime with two workers (`api-rt`, as `#[tokio::main]`
//!    builds on this two-core machine), over the store's default pool of four read
//!    connections.
//! 3. **Verification, not timed.** Three authorizers' whole histories are walked with
//!    `limit=100` and every entry is checked against the seed: 1,000 entries, newest
//!    run first, the right batch id, status and message, and `balance_amount` equal, as
//!    text, to the seeded cents.
//! 4. **Requests.** 4,000 paths over random authorizers: half first pages
//!    (`limit=10`), a quarter second pages, a quarter deep pages (a cursor 100 to 900
//!    runs back), each cursor obtained from the API itself. A second set of 2,000
//!    `GET /v1/balances?batchId=&limit=100` pages is measured after it.
//! 5. **Load.** `wrk` (with `--latency` and a Lua script cycling through the paths)
//!    when it is installed, else a built-in tokio client with N connections; one short
//!    run per connection count. Every run must get only 200s. The exact `wrk` command
//!    is printed.

#![forbid(unsafe_code)]

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::http::{HttpState, serve};
use balance_monitor::money::Cents;
use balance_monitor::rightfoot::BalanceStatus;
use balance_monitor::secret::Secret;
use balance_monitor::store::Store;
use serde::Deserialize;
use serde_json::value::RawValue;

use support::history_data::{
    self, CHUNK, NOT_RETRIEVED, REJECTED, Seeded, authorizer_id, batch_id, mix, seeded,
};
use support::{ThreadCpu, machine_summary};

const TOKEN: &str = "bench-history-api-token";
const SERVER_THREAD: &str = "api-rt";

/// What the program was asked to do.
struct Options {
    authorizers: usize,
    runs: usize,
    duration: Duration,
    connections: Vec<usize>,
    loader: Loader,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Loader {
    Wrk,
    Builtin,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        authorizers: 10_000,
        runs: 1_000,
        duration: Duration::from_secs(10),
        connections: vec![1, 4, 8, 16, 32],
        loader: if support::which("wrk").is_some() {
            Loader::Wrk
        } else {
            Loader::Builtin
        },
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--small" => {
                options.authorizers = 100;
                options.runs = 50;
            }
            "--duration" => {
                let seconds: u64 = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .context("--duration needs a positive number of seconds")?;
                options.duration = Duration::from_secs(seconds);
            }
            "--connections" => {
                options.connections = args
                    .next()
                    .context("--connections needs a list such as 1,8,32")?
                    .split(',')
                    .map(|n| n.trim().parse::<usize>().ok().filter(|n| *n > 0))
                    .collect::<Option<Vec<_>>>()
                    .context("--connections needs positive numbers, such as 1,8,32")?;
            }
            "--loader" => {
                options.loader = match args.next().as_deref() {
                    Some("wrk") => {
                        ensure!(
                            support::which("wrk").is_some(),
                            "--loader wrk: wrk is not installed"
                        );
                        Loader::Wrk
                    }
                    Some("builtin") => Loader::Builtin,
                    _ => bail!("--loader needs wrk or builtin"),
                };
            }
            other => bail!(
                "unknown argument {other:?}; options: --small, --duration S, --connections 1,8,32, --loader wrk|builtin"
            ),
        }
    }
    ensure!(
        options.authorizers.is_multiple_of(CHUNK) || options.authorizers < CHUNK,
        "authorizers must fill whole chunks"
    );
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    println!(
        "history_api: {} authorizers × {} runs = {} results",
        options.authorizers,
        options.runs,
        options.authorizers * options.runs
    );
    println!("machine: {}", machine_summary());
    println!("load average before: {}", load_average());

    let database = history_data::dataset(options.authorizers, options.runs)?;
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .context("building the server runtime")?;
    let store = Store::open(&database).context("opening the data set with the daemon's store")?;
    let (base, stop) = server_runtime.block_on(start_server(store.clone()))?;
    println!("serving {base} from {}", database.display());

    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the client runtime")?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .context("building the HTTP client")?;

    let started = Instant::now();
    for authorizer in [0, options.authorizers / 2, options.authorizers - 1] {
        client_runtime.block_on(verify_history(&client, &base, &options, authorizer))?;
    }
    println!(
        "verified: 3 whole histories ({} entries each) match the seed exactly ({:.1} s)",
        options.runs,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let history_paths = client_runtime.block_on(history_paths(&client, &base, &options))?;
    let balances_paths = balances_paths(&options);
    client_runtime.block_on(check_all_ok(&client, &base, &balances_paths[..200]))?;
    println!(
        "requests: {} history paths and {} balances paths prepared ({:.1} s)",
        history_paths.len(),
        balances_paths.len(),
        started.elapsed().as_secs_f64()
    );

    let scripts = database.with_file_name("history_api");
    std::fs::create_dir_all(&scripts)?;
    let mut table = Vec::new();
    for (name, paths) in [("history", &history_paths), ("balances", &balances_paths)] {
        for &connections in &options.connections {
            let cpu_before = ThreadCpu::snapshot();
            let figures = match options.loader {
                Loader::Wrk => {
                    let script = scripts.join(format!("{name}.lua"));
                    std::fs::write(&script, lua_script(paths))?;
                    wrk(&base, &script, connections, options.duration)?
                }
                Loader::Builtin => client_runtime.block_on(builtin_load(
                    &base,
                    paths,
                    connections,
                    options.duration,
                ))?,
            };
            let server_cpu =
                ThreadCpu::snapshot().since(&cpu_before, |n| n.starts_with(SERVER_THREAD));
            let per_request = server_cpu.as_secs_f64() * 1e6 / figures.requests.max(1) as f64;
            println!(
                "{name:>8} c={connections:<3} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  ({} requests, server CPU {:.0} µs/request)",
                figures.per_second, figures.p50_ms, figures.p99_ms, figures.requests, per_request
            );
            table.push((name, connections, figures, per_request));
        }
    }

    println!();
    println!("| endpoint | connections | requests/s | p50 | p99 | server CPU per request |");
    println!("|---|---|---|---|---|---|");
    for (name, connections, figures, per_request) in &table {
        println!(
            "| {name} | {connections} | {:.0} | {:.2} ms | {:.2} ms | {per_request:.0} µs |",
            figures.per_second, figures.p50_ms, figures.p99_ms
        );
    }
    println!("load average after: {}", load_average());

    drop(client);
    drop(client_runtime);
    let _ = stop.send(());
    server_runtime.block_on(store.close());
    Ok(())
}

// --- The server -------------------------------------------------------------------

async fn start_server(store: Store) -> anyhow::Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let mut state = HttpState::new(store, Completions::default(), Clock::system());
    state.set_token(Some(Secret::new(TOKEN)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok((base, stop))
}

// --- Verification and the request mix ---------------------------------------------

#[derive(Deserialize)]
struct HistoryPage {
    total_count: u64,
    history: Vec<HistoryEntry>,
    next_page_token: Option<String>,
    has_more: bool,
}

#[derive(Deserialize)]
struct HistoryEntry {
    batch_id: String,
    balance_amount: Option<Box<RawValue>>,
    status: String,
    error_message: Option<String>,
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = client.get(url).bearer_auth(TOKEN).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(
        status.as_u16() == 200,
        "{url}: {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(serde_json::from_slice(&body)?)
}

fn history_url(base: &str, authorizer: usize, limit: u32, token: Option<&str>) -> String {
    let mut url = format!(
        "{base}/v1/monitoring/authorizers/{}/history?limit={limit}",
        authorizer_id(authorizer)
    );
    if let Some(token) = token {
        let _ = write!(url, "&nextPageToken={token}");
    }
    url
}

async fn verify_history(
    client: &reqwest::Client,
    base: &str,
    options: &Options,
    authorizer: usize,
) -> anyhow::Result<()> {
    let mut run = options.runs;
    let mut token: Option<String> = None;
    loop {
        let page: HistoryPage = get_json(
            client,
            &history_url(base, authorizer, 100, token.as_deref()),
        )
        .await?;
        ensure!(
            page.total_count == options.runs as u64,
            "total_count {}",
            page.total_count
        );
        for entry in &page.history {
            ensure!(run >= 1, "more entries than runs");
            let chunk = authorizer / CHUNK;
            ensure!(
                entry.batch_id == batch_id(run, chunk),
                "run {run}: batch {}",
                entry.batch_id
            );
            let balance = entry
                .balance_amount
                .as_ref()
                .map(|raw| raw.get().to_string());
            let expected = match seeded(run, authorizer) {
                Seeded::Balance(cents) => ("success", Some(Cents(cents).to_decimal_string()), None),
                Seeded::Code(code) => {
                    let description = BalanceStatus::from_code(code).description();
                    let mut message = description.to_string();
                    message[..1].make_ascii_uppercase();
                    ("failed", None, Some(message))
                }
                Seeded::NotRetrieved => (
                    "failed",
                    None,
                    Some(format!("Not retrieved: {NOT_RETRIEVED}")),
                ),
                Seeded::Rejected => (
                    "failed",
                    None,
                    Some(format!("Rejected by Rightfoot: {REJECTED}")),
                ),
            };
            ensure!(
                (
                    entry.status.as_str(),
                    balance.clone(),
                    entry.error_message.clone()
                ) == expected,
                "authorizer {authorizer}, run {run}: got {:?} {balance:?} {:?}, expected {expected:?}",
                entry.status,
                entry.error_message
            );
            run -= 1;
        }
        if !page.has_more {
            break;
        }
        token = page.next_page_token;
    }
    ensure!(
        run == 0,
        "{run} runs were not listed for authorizer {authorizer}"
    );
    Ok(())
}

/// Paths relative to the server: half first pages, a quarter second pages, a quarter
/// deep pages, over random authorizers; every cursor comes from the API.
async fn history_paths(
    client: &reqwest::Client,
    base: &str,
    options: &Options,
) -> anyhow::Result<Vec<String>> {
    let strip = |url: String| url[base.len()..].to_string();
    let mut paths = Vec::with_capacity(4_000);
    let mut state = 0x5EED_u64;
    let mut next = |bound: usize| {
        state = mix(state as usize, 7);
        (state % bound as u64) as usize
    };
    for _ in 0..2_000 {
        paths.push(strip(history_url(
            base,
            next(options.authorizers),
            10,
            None,
        )));
    }
    for _ in 0..1_000 {
        let authorizer = next(options.authorizers);
        let first: HistoryPage = get_json(client, &history_url(base, authorizer, 10, None)).await?;
        let token = first.next_page_token.context("a second page")?;
        paths.push(strip(history_url(base, authorizer, 10, Some(&token))));
    }
    let deepest = (options.runs / 100).max(2) - 1;
    for _ in 0..1_000 {
        let authorizer = next(options.authorizers);
        let hops = 1 + next(deepest);
        let mut token: Option<String> = None;
        for _ in 0..hops {
            let page: HistoryPage = get_json(
                client,
                &history_url(base, authorizer, 100, token.as_deref()),
            )
            .await?;
            token = page.next_page_token;
        }
        paths.push(strip(history_url(base, authorizer, 10, token.as_deref())));
    }
    Ok(paths)
}

/// 2,000 first pages of 100 over random batches (Rightfoot's default page size).
fn balances_paths(options: &Options) -> Vec<String> {
    let chunks = options.authorizers.div_ceil(CHUNK);
    (0..2_000)
        .map(|i| {
            let h = mix(i, 99);
            let run = 1 + (h % options.runs as u64) as usize;
            let chunk = ((h >> 20) % chunks as u64) as usize;
            format!("/v1/balances?batchId={}&limit=100", batch_id(run, chunk))
        })
        .collect()
}

async fn check_all_ok(
    client: &reqwest::Client,
    base: &str,
    paths: &[String],
) -> anyhow::Result<()> {
    for path in paths {
        let _: serde_json::Value = get_json(client, &format!("{base}{path}")).await?;
    }
    Ok(())
}

// --- Load ---------------------------------------------------------------------------

struct Figures {
    requests: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn lua_script(paths: &[String]) -> String {
    let mut script =
        String::from("-- Generated by benches/history_api.rs: cycles through the paths.\n");
    let _ = writeln!(
        script,
        "wrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\""
    );
    script.push_str("local paths = {\n");
    for path in paths {
        let _ = writeln!(script, "  \"{path}\",");
    }
    script.push_str(
        "}\nlocal index = 0\nrequest = function()\n  index = index % #paths + 1\n  return wrk.format(\"GET\", paths[index])\nend\n",
    );
    script
}

fn wrk(
    base: &str,
    script: &Path,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let args = [
        "-t1".to_string(),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs()),
        "--latency".to_string(),
        "-s".to_string(),
        script.display().to_string(),
        base.to_string(),
    ];
    println!("$ wrk {}", args.join(" "));
    let output = Command::new("wrk")
        .args(&args)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        !text.contains("Non-2xx or 3xx responses") && !text.contains("Socket errors"),
        "wrk saw failures:\n{text}"
    );
    let field = |prefix: &str| -> anyhow::Result<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
            .with_context(|| format!("no {prefix:?} in wrk's output:\n{text}"))
    };
    let requests: u64 = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no request count in wrk's output:\n{text}"))?;
    Ok(Figures {
        requests,
        per_second: field("Requests/sec:")?.parse()?,
        p50_ms: milliseconds(field("50%")?)?,
        p99_ms: milliseconds(field("99%")?)?,
    })
}

/// `707.00us`, `1.77ms`, `2.01s` → milliseconds.
fn milliseconds(text: &str) -> anyhow::Result<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else {
        bail!("unknown latency unit in {text:?}")
    };
    Ok(number.parse::<f64>()? * factor)
}

/// `connections` tasks, each with its own keep-alive connection, requesting paths in
/// turn for `duration`; latencies from send to the end of the body.
async fn builtin_load(
    base: &str,
    paths: &[String],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    println!(
        "built-in loader: {connections} connections for {} s",
        duration.as_secs()
    );
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let urls: Vec<String> = paths.iter().map(|path| format!("{base}{path}")).collect();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut index = connection * 97 % urls.len();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client.get(&urls[index]).bearer_auth(TOKEN).send().await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                anyhow::ensure!(status == 200, "{}: {status}", urls[index]);
                latencies.push(sent.elapsed());
                index = (index + 1) % urls.len();
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let quantile =
        |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    Ok(Figures {
        requests: all.len() as u64,
        per_second: all.len() as f64 / elapsed,
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
    })
}

// --- Machine ------------------------------------------------------------------------

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
