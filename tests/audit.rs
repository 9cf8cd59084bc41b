//! The personal-data audit. Personal data goes to Rightfoot and
//! nowhere else, and this test looks everywhere else for it.
//!
//! 1,000 made-up authorizers with distinctive values (SSNs `79xxxxxxx`, EINs
//! `93xxxxxxx`, account numbers `6203…`, routing numbers `26…`, card numbers `4929…`,
//! CVVs `0101`–`0699`, phone numbers `555…`, birth dates from 1931 to 1990, and names,
//! streets and a city built on words no other text has), plus 40 rows pre-flight
//! rejects (each with its own personal values, the invalid ones included), go into a
//! mode-600 CSV. The real binary then runs against the built-in sandbox with every log
//! at trace level, through failures on purpose: the sandbox answers 4% of requests 500,
//! 4% 503, 4% 429 and cuts 4% of bodies in half, scripts closed accounts and other
//! failed checks, and batches of 250 make several chunks. `check-config`, `run-now`
//! (logs from `BALANCE_MONITOR_LOG=trace`, in text), then the daemon (`run
//! --log-level trace --log-format json`) on a slot due a sandbox day later, with rules
//! that fire, a digest route by SMTP to a real server, one by webhook to a receiver
//! that fails the first attempt, and one that answers 400 to everything; the read API
//! behind its token (every route, errors included); and the read-side commands,
//! succeeding and failing.
//!
//! Every byte that came out is then searched for every personal value, in each form it
//! could take (an SSN or EIN with and without dashes, a date as the CSV writes it,
//! unpadded, and in ISO form): stdout and stderr of each command and the daemon, the
//! SQLite file and its `-wal` (copied while the daemon ran, after it stopped, and after a
//! checkpoint), a backup, every email as received and as decoded MIME parts (the CSV
//! attachment included), every webhook body, every API answer and the exported CSV.
//! A leak fails the test with the value, the authorizer, the place and the context.
//!
//! The search is `support::leaks`: numbers are matched as whole numbers (not inside a
//! longer run of digits), the 4-digit CVVs only where no letter, digit or dash touches
//! them and no decimal point comes before them, so that a UUID, a base64 line or a
//! timestamp's fraction cannot look like a leak, and names case-insensitively.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use balance_monitor::sandbox::{FaultConfig, SandboxConfig, Scenario};
use balance_monitor::secret::Secret;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::sync::mpsc;

use crate::support::daemon::{API_KEY_ENV, PATIENCE, slot_due_now, yearly_cron};
use crate::support::leaks::{Edge, Needle, Outputs, find_leaks};
use crate::support::receiver::{Receiver, Reply};
use crate::support::sandbox::{RunningSandbox, SANDBOX_KEY};
use crate::support::smtp::{SmtpServer, SmtpSettings};
use crate::support::{binary, write_file};

const MONITOR: &str = "audit";
const VALID: usize = 1000;
const INVALID: usize = 40;
const HTTP_TOKEN: &str = "audit-http-token-5b8e1f";
const HOOK_SECRET: &str = "whsec_audit_2f9c4a";

/// The words every name, street and city is built on, in lower case: no other text
/// holds them, so any occurrence is a leak.
const WORDS: &[(&str, &str)] = &[
    ("first name", "yzoldquiv"),
    ("last name", "quorringtonvex"),
    ("street", "vexmoorquist"),
    ("street line 2", "wexqualdor"),
    ("city", "xanthorpequay"),
];

/// Fragments of a request body: none may appear anywhere.
const BODY_FRAGMENTS: &[&str] = &[
    "\"ssn\":\"",
    "\"ein\":\"",
    "\"account_number\":\"",
    "\"routing_number\":\"",
    "\"debit_card_number\":\"",
    "\"cvv\":\"",
    "\"first_name\":\"",
    "\"date_of_birth\":{",
    "\"year\":19",
];

const HEADER: &[&str] = &[
    "authorizer_unique_id",
    "first_name",
    "last_name",
    "street_address_line1",
    "street_address_line2",
    "city",
    "state",
    "zip_code",
    "country",
    "phone_number",
    "date_of_birth",
    "ssn",
    "ein",
    "account_number",
    "routing_number",
    "debit_card_number",
    "cvv",
    "expiration_month",
    "expiration_year",
    "meta_loan_id",
    "meta_payment_amount",
];

/// Three lowercase letters for `n` (distinct below 17,576).
fn letters(n: usize) -> String {
    [(n / 676) % 26, (n / 26) % 26, n % 26]
        .iter()
        .map(|&k| char::from(b'a' + k as u8))
        .collect()
}

/// One CSV row: its cells by column, and its personal values in every form.
struct Row {
    cells: HashMap<&'static str, String>,
    needles: Vec<Needle>,
}

impl Row {
    fn id(&self) -> &str {
        &self.cells["authorizer_unique_id"]
    }

    fn set(&mut self, column: &'static str, value: impl Into<String>) {
        self.cells.insert(column, value.into());
    }

    fn csv_line(&self) -> String {
        HEADER
            .iter()
            .map(|column| self.cells.get(column).cloned().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Adds the numeric needles of every personal cell as it now stands.
    fn collect_needles(&mut self) {
        let id = self.id().to_string();
        let mut add = |what: &'static str, form: String, edge: Edge| {
            if !form.is_empty() {
                self.needles.push(Needle {
                    owner: id.clone(),
                    what,
                    form,
                    edge,
                });
            }
        };
        let cell = |name: &str| self.cells.get(name).cloned().unwrap_or_default();
        let digits = |text: &str| {
            text.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        };
        let ssn = digits(&cell("ssn"));
        if ssn.len() == 9 {
            add(
                "SSN",
                format!("{}-{}-{}", &ssn[..3], &ssn[3..5], &ssn[5..]),
                Edge::Digits,
            );
        }
        add("SSN", ssn, Edge::Digits);
        let ein = digits(&cell("ein"));
        if ein.len() == 9 {
            add("EIN", format!("{}-{}", &ein[..2], &ein[2..]), Edge::Digits);
        }
        add("EIN", ein, Edge::Digits);
        add("account number", cell("account_number"), Edge::Digits);
        add("routing number", cell("routing_number"), Edge::Digits);
        add("card number", cell("debit_card_number"), Edge::Digits);
        add("CVV", cell("cvv"), Edge::Word);
        add("phone number", cell("phone_number"), Edge::Digits);
        let birth = cell("date_of_birth");
        let parts: Vec<&str> = birth.split('/').collect();
        if let [month, day, year] = parts.as_slice() {
            add("date of birth", birth.clone(), Edge::Digits);
            let (m, d) = (month.parse::<u32>().unwrap(), day.parse::<u32>().unwrap());
            add("date of birth", format!("{m}/{d}/{year}"), Edge::Digits);
            add(
                "date of birth",
                format!("{year}-{m:02}-{d:02}"),
                Edge::Digits,
            );
        }
    }
}

/// The authorizer numbered `n`: every personal value distinct and distinctive.
fn row(id: String, n: usize) -> Row {
    let tag = letters(n);
    let mut row = Row {
        cells: HashMap::new(),
        needles: Vec::new(),
    };
    row.set("authorizer_unique_id", id);
    row.set("first_name", format!("Yzoldquiv{tag}"));
    row.set("last_name", format!("Quorringtonvex{tag}"));
    row.set(
        "street_address_line1",
        format!("{} Vexmoorquist Lane", 100 + n),
    );
    if n.is_multiple_of(5) {
        row.set("street_address_line2", format!("Apt Wexqualdor{tag}"));
    }
    row.set("city", "Xanthorpequay");
    row.set("state", "CA");
    row.set("zip_code", format!("9{:04}", 4000 + n % 1000));
    row.set("country", "US");
    row.set("phone_number", format!("555{:07}", 3_100_000 + n));
    row.set(
        "date_of_birth",
        format!(
            "{:02}/{:02}/{}",
            1 + (n / 28) % 12,
            1 + n % 28,
            1931 + (n * 7) % 60
        ),
    );
    let ssn = format!("79{:07}", 1_000_000 + n);
    row.set(
        "ssn",
        if n.is_multiple_of(2) {
            format!("{}-{}-{}", &ssn[..3], &ssn[3..5], &ssn[5..])
        } else {
            ssn
        },
    );
    if n.is_multiple_of(3) {
        let ein = format!("93{:07}", 2_000_000 + n);
        row.set(
            "ein",
            if n.is_multiple_of(2) {
                format!("{}-{}", &ein[..2], &ein[2..])
            } else {
                ein
            },
        );
    }
    if n % 4 == 3 {
        let k = n / 4;
        row.set(
            "debit_card_number",
            format!("4929{:012}", 500_000_000_000 + n),
        );
        row.set("cvv", format!("0{}{:02}", 1 + k / 99, 1 + k % 99));
        row.set("expiration_month", "12");
        row.set("expiration_year", "2031");
    } else {
        row.set("account_number", format!("6203{:08}", 40_000_000 + n));
        row.set("routing_number", format!("26{:07}", 3_000_000 + n));
    }
    row.set("meta_loan_id", format!("LN-{n}"));
    row.set(
        "meta_payment_amount",
        format!("{}.{:02}", 100 + n % 400, n % 100),
    );
    row
}

/// The valid authorizers `AUD-0` … `AUD-999`, then rows that fail pre-flight in ten
/// ways, four each (one way is a duplicated id).
fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = (0..VALID).map(|n| row(format!("AUD-{n}"), n)).collect();
    for j in 0..INVALID {
        let n = 2000 + j;
        let mut bad = row(format!("AUD-X{}", letters(j)), n);
        match j % 10 {
            0 => bad.set("zip_code", "9410"),
            1 => {
                bad.cells.remove("debit_card_number");
                bad.cells.remove("cvv");
                bad.set("account_number", format!("6203{:08}", 40_000_000 + n));
                bad.set("routing_number", format!("26{:06}", 900_000 + j));
            }
            2 => bad.set("ssn", format!("79{:08}", 90_000_000 + j)),
            3 => {
                bad.cells.remove("account_number");
                bad.cells.remove("routing_number");
                bad.set(
                    "debit_card_number",
                    format!("4929{:011}", 90_000_000_000 + j),
                );
                bad.set("cvv", "0777");
                bad.set("expiration_month", "12");
                bad.set("expiration_year", "2031");
            }
            4 => {
                bad.cells.remove("account_number");
                bad.cells.remove("routing_number");
                bad.set(
                    "debit_card_number",
                    format!("4929{:012}", 500_000_000_000 + n),
                );
                bad.set("cvv", format!("0{:04}", 9000 + j));
                bad.set("expiration_month", "12");
                bad.set("expiration_year", "2031");
            }
            5 => {
                bad.set("account_number", format!("6203{:08}", 40_000_000 + n));
                bad.set("routing_number", format!("26{:07}", 3_000_000 + n));
                bad.set(
                    "debit_card_number",
                    format!("4929{:012}", 500_000_000_000 + n),
                );
                bad.set("cvv", "0888");
                bad.set("expiration_month", "12");
                bad.set("expiration_year", "2031");
            }
            6 => bad.set("date_of_birth", format!("02/30/19{}", 40 + j)),
            7 => {
                bad.cells.remove("phone_number");
            }
            8 => bad.set("ein", format!("93{:06}", 900_000 + j)),
            _ => bad.set("authorizer_unique_id", "AUD-TWIN"),
        }
        rows.push(bad);
    }
    for row in &mut rows {
        row.collect_needles();
    }
    rows
}

fn csv(rows: &[Row]) -> String {
    let mut text = HEADER.join(",");
    text.push('\n');
    for row in rows {
        text.push_str(&row.csv_line());
        text.push('\n');
    }
    text
}

/// Scripted checks: failures of every kind, overdrafts and low balances.
fn scenario() -> Scenario {
    let mut text = String::from("authorizers:\n");
    let scripted = [
        "[closed, 1200.00]",
        "[unsupported]",
        "[{code: 3001}, 250.00]",
        "[no_dob_match]",
        "[failed, failed]",
        "[-250.00, 40.00]",
        "[12.34, -5.00]",
        "[9000.00, 80.00]",
        "[no_match]",
        "[testing]",
    ];
    for (k, outcome) in scripted.iter().cycle().take(40).enumerate() {
        text.push_str(&format!("  AUD-{}: {outcome}\n", k * 23 + 1));
    }
    Scenario::from_yaml(&text, Path::new("scenario.yaml")).unwrap()
}

fn config_yaml(
    sandbox: &url::Url,
    schedule: &str,
    csv_file: &str,
    smtp: &SmtpServer,
    hook: &Receiver,
    broken: &Receiver,
) -> String {
    format!(
        "rightfoot:\n  base_url: {sandbox}\n  api_key_env: {API_KEY_ENV}\n  poll_interval: 500ms\n  \
         result_deadline: 20s\n  not_found_grace: 10s\n  max_batch_size: 250\n  max_in_flight_batches: 4\n\
         storage:\n  path: audit.db\n\
         http:\n  listen: 127.0.0.1:0\n  token_env: HTTP_TOKEN\n\
         defaults:\n  alert_fields: [loan_id, payment_amount]\n\
         routes:\n  mail:\n    max_rows: 20\n    email:\n      transport: smtp\n      \
         from: \"balance-monitor <alerts@lender.example>\"\n      to: [\"collections@lender.example\"]\n      \
         smtp_host: 127.0.0.1\n      smtp_port: {}\n      tls: none\n      timeout: 10s\n  \
         hook:\n    max_rows: 50\n    webhook:\n      url: {}\n      secret_env: HOOK_SECRET\n      timeout: 10s\n  \
         broken-hook:\n    webhook:\n      url: {}\n      timeout: 10s\n\
         monitors:\n  - name: {MONITOR}\n    schedule: \"{schedule}\"\n    timezone: UTC\n    \
         authorizers: {{ csv: {csv_file} }}\n    routes: [mail, hook, broken-hook]\n    rules:\n      \
         - balance_below: {{ amount: 500.00 }}\n      - below_payment: {{ field: payment_amount, margin: 25.00 }}\n      \
         - negative_balance: {{}}\n      - check_failed: {{ codes: any }}\n      \
         - drop_percent: {{ percent: 20 }}\n      - stale: {{ after: 1h }}\n      \
         - run_failed: {{ not_retrieved_percent: 10 }}\n",
        smtp.addr.port(),
        hook.url(),
        broken.url(),
    )
}

/// What a finished command printed.
struct Command {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Command {
    fn text(&self) -> String {
        format!(
            "exit {:?}\n{}\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// The environment of every command: trace logs, the key, the tokens.
fn environment() -> Vec<(&'static str, &'static str)> {
    vec![
        ("BALANCE_MONITOR_LOG", "trace"),
        (API_KEY_ENV, SANDBOX_KEY),
        ("HTTP_TOKEN", HTTP_TOKEN),
        ("HOOK_SECRET", HOOK_SECRET),
    ]
}

async fn cli(dir: &Path, args: &[&str]) -> Command {
    let mut command = tokio::process::Command::new(binary());
    command
        .current_dir(dir)
        .args(args)
        .env_clear()
        .envs(environment())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .unwrap_or_else(|_| panic!("{args:?} ends"))
        .unwrap();
    Command {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// `balance-monitor run` with trace logs in JSON, its stdout and stderr kept whole.
struct Daemon {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<Value>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let mut command = tokio::process::Command::new(binary());
        command
            .current_dir(dir)
            .args([
                "--config",
                "config.yaml",
                "--log-format",
                "json",
                "--log-level",
                "trace",
                "run",
            ])
            .env_clear()
            .envs(environment())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        let mut child = command.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (sender, lines) = mpsc::unbounded_channel();
        let mut out = child.stdout.take().unwrap();
        let kept_out = Arc::clone(&stdout);
        let stdout_reader = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes).await;
            kept_out.lock().unwrap().extend_from_slice(&bytes);
        });
        let err = child.stderr.take().unwrap();
        let kept_err = Arc::clone(&stderr);
        let stderr_reader = tokio::spawn(async move {
            let mut reader = BufReader::new(err);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                kept_err.lock().unwrap().extend_from_slice(&line);
                if let Ok(value) = serde_json::from_slice::<Value>(&line) {
                    let _ = sender.send(value);
                }
            }
        });
        Daemon {
            child,
            lines,
            stdout,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// The next log event `matches` accepts.
    async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if matches(&line) => return line,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the daemon ended before {what}"),
                Err(_) => panic!("no {what} within {PATIENCE:?}"),
            }
        }
    }

    /// SIGTERM, the exit, and everything it wrote.
    async fn stop(mut self) -> Command {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -s TERM {pid}")])
            .status()
            .unwrap();
        assert!(status.success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the daemon stops on SIGTERM")
            .unwrap();
        for reader in self.readers {
            reader.await.unwrap();
        }
        let stdout = std::mem::take(&mut *self.stdout.lock().unwrap());
        let stderr = std::mem::take(&mut *self.stderr.lock().unwrap());
        Command {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or("")
}

/// Polls until `done` holds: the SMTP server has no notification of its own.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The read API, with its token.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut bytes = format!("{:?}\n", response.headers()).into_bytes();
        bytes.extend_from_slice(&response.bytes().await.unwrap());
        (status, bytes)
    }

    /// GETs `path` and keeps the answer; JSON answers come back parsed.
    async fn read(&self, outputs: &mut Outputs, path: &str) -> Option<Value> {
        let (status, bytes) = self.get(path, Some(HTTP_TOKEN)).await;
        let body_start = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        let json = serde_json::from_slice::<Value>(&bytes[body_start..]).ok();
        outputs.add(format!("the read API's answer to {path} ({status})"), bytes);
        json
    }
}

/// Every page of a paged route, following `next_page_token`.
async fn read_pages(api: &Api, outputs: &mut Outputs, path: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..200 {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match &token {
            Some(token) => format!("{path}{separator}nextPageToken={token}"),
            None => path.to_string(),
        };
        let Some(page) = api.read(outputs, &url).await else {
            break;
        };
        token = page["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        pages.push(page);
        if token.is_none() {
            break;
        }
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_value_leaves_for_anywhere_but_rightfoot() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let rows = rows();
    assert_eq!(rows.len(), VALID + INVALID);
    write_file(dir, "authorizers.csv", csv(&rows).as_bytes(), 0o600);
    // The same people with one row cut short (a structural error), and a copy others
    // may read: both refused whole, without quoting a cell.
    let mut broken = csv(&rows[..20]);
    broken.push_str(&rows[20].csv_line());
    broken.push_str(",extra\n");
    write_file(dir, "broken.csv", broken.as_bytes(), 0o600);
    write_file(dir, "readable.csv", csv(&rows[..20]).as_bytes(), 0o644);

    let mut sandbox_config = SandboxConfig::new([Secret::new(SANDBOX_KEY)]);
    sandbox_config.processing_time = Duration::from_secs(2);
    sandbox_config.seed = 8;
    sandbox_config.scenario = scenario();
    sandbox_config.faults = FaultConfig {
        error_500_percent: 4,
        error_503_percent: 4,
        error_429_percent: 4,
        retry_after: Duration::from_secs(1),
        malformed_percent: 4,
        ..FaultConfig::default()
    };
    let sandbox = RunningSandbox::start(sandbox_config).await;
    let smtp = SmtpServer::start(SmtpSettings::default()).await;
    let hook = Receiver::start(
        Some(HOOK_SECRET),
        vec![Reply::status(503, "busy, try again")],
    )
    .await;
    let broken_hook = Receiver::start(
        None,
        (0..20)
            .map(|_| Reply::status(400, "this payload is not welcome here"))
            .collect(),
    )
    .await;
    let write_config = |schedule: &str, csv_file: &str, name: &str| {
        let text = config_yaml(&sandbox.url, schedule, csv_file, &smtp, &hook, &broken_hook);
        write_file(dir, name, text.as_bytes(), 0o600);
    };
    write_config("0 0 1 1 *", "authorizers.csv", "config.yaml");
    write_config("0 0 1 1 *", "broken.csv", "broken.yaml");
    write_config("0 0 1 1 *", "readable.csv", "readable.yaml");
    let mut outputs = Outputs::default();
    let database = dir.join("audit.db");

    // check-config: the rejected rows are listed by file and row.
    let checked = cli(dir, &["--config", "config.yaml", "check-config"]).await;
    assert_eq!(checked.code, Some(0), "{}", checked.text());
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("authorizers.csv row"),
        "{}",
        checked.text()
    );
    outputs.add_output("check-config", &checked.stdout, &checked.stderr);
    for config in ["broken.yaml", "readable.yaml"] {
        let refused = cli(dir, &["--config", config, "check-config"]).await;
        assert_ne!(refused.code, Some(0), "{}", refused.text());
        outputs.add_output(
            &format!("check-config of {config}"),
            &refused.stdout,
            &refused.stderr,
        );
    }

    // run-now: the first run, judged, with one delivery attempt per route.
    let first = cli(dir, &["--config", "config.yaml", "run-now", MONITOR]).await;
    assert!(
        matches!(first.code, Some(0 | 1)),
        "run-now ran: {}",
        first.text()
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("rejected by pre-flight:    40"),
        "{}",
        first.text()
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("3200 account closed"),
        "the scripted failed checks: {}",
        first.text()
    );
    outputs.add_output("run-now", &first.stdout, &first.stderr);
    outputs.add_sqlite("after run-now", &database);

    // The daemon: a slot due now, a sandbox day later (new balances, drops).
    sandbox.advance(Duration::from_secs(25 * 3600));
    let slot = slot_due_now(&database, MONITOR).await;
    write_config(&yearly_cron(slot), "authorizers.csv", "config.yaml");
    let mut daemon = Daemon::start(dir);
    let started = daemon
        .wait_for("the start", |l| message(l) == "balance-monitor started")
        .await;
    let api = Api {
        base: format!("http://{}", started["listen"].as_str().unwrap()),
        http: reqwest::Client::new(),
    };
    daemon
        .wait_for("a chunk submitted", |l| message(l) == "chunk submitted")
        .await;
    outputs.add_sqlite("while the daemon runs", &database);
    let finished = daemon
        .wait_for("the scheduled run's end", |l| message(l) == "run finished")
        .await;
    outputs.add_sqlite("after the daemon's run", &database);
    // Both runs' digests: mail twice, the hook's first attempt refused then one
    // accepted, the broken hook refusing each run's digest for good.
    for (what, receiver) in [("hook", &hook), ("broken hook", &broken_hook)] {
        tokio::time::timeout(PATIENCE, receiver.wait_for_requests(2))
            .await
            .unwrap_or_else(|_| panic!("the {what} did not get both runs' digests"));
    }
    until("both runs' emails", || smtp.mails().len() >= 2).await;

    // The read API, every route, and its errors.
    for (path, token) in [
        ("/healthz", None),
        ("/v1/runs", None),
        ("/v1/runs", Some("wrong-token")),
    ] {
        let (status, bytes) = api.get(path, token).await;
        outputs.add(format!("the read API's answer to {path} ({status})"), bytes);
    }
    let mut batch_ids = Vec::new();
    for page in read_pages(&api, &mut outputs, "/v1/runs?limit=1").await {
        for run in page["runs"].as_array().unwrap() {
            let id = run["id"].as_i64().unwrap();
            let detail = api
                .read(&mut outputs, &format!("/v1/runs/{id}"))
                .await
                .unwrap();
            for batch in detail["batches"].as_array().unwrap() {
                if let Some(batch_id) = batch["batch_id"].as_str().filter(|b| !b.is_empty()) {
                    batch_ids.push(batch_id.to_string());
                }
            }
        }
    }
    assert!(!batch_ids.is_empty(), "the runs submitted batches");
    for batch in &batch_ids {
        read_pages(&api, &mut outputs, &format!("/v1/balances?batchId={batch}")).await;
    }
    let csv_query: Vec<String> = batch_ids.iter().map(|b| format!("batch_ids={b}")).collect();
    api.read(
        &mut outputs,
        &format!("/v1/balances/csv?{}", csv_query.join("&")),
    )
    .await;
    for state in ["firing", "resolved"] {
        read_pages(
            &api,
            &mut outputs,
            &format!("/v1/alerts?state={state}&limit=100"),
        )
        .await;
    }
    for row in rows.iter().step_by(7) {
        read_pages(
            &api,
            &mut outputs,
            &format!("/v1/monitoring/authorizers/{}/history?limit=100", row.id()),
        )
        .await;
    }
    for path in [
        "/metrics",
        "/readyz",
        "/v1/balances?batchId=no-such-batch",
        "/v1/balances/csv?batch_ids=no-such-batch",
        "/v1/balances?batchId=x&limit=0",
        "/v1/runs/999",
        "/v1/runs?nextPageToken=garbage",
        "/v1/monitoring/authorizers/AUD-1/history?nextPageToken=garbage",
    ] {
        api.read(&mut outputs, path).await;
    }

    let stopped = daemon.stop().await;
    assert_eq!(stopped.code, Some(0), "SIGTERM is a clean stop");
    outputs.add_output("the daemon (run)", &stopped.stdout, &stopped.stderr);
    outputs.add_sqlite("after the daemon stopped", &database);
    let log = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        log.contains("\"level\":\"TRACE\""),
        "the daemon logged at trace level"
    );
    // About 12% of ~70 requests draw an injected error: some were retried.
    let both_logs = format!("{}{log}", String::from_utf8_lossy(&first.stderr));
    assert!(
        both_logs.contains("retrying Rightfoot request"),
        "the injected faults were retried"
    );
    assert!(
        finished["state"].is_string(),
        "the run finished: {finished}"
    );

    // The read side, succeeding and failing.
    let config = ["--config", "config.yaml"];
    // (what, arguments, whether it succeeds)
    let mut commands: Vec<(String, Vec<&str>, bool)> = vec![
        ("runs".into(), vec!["runs", "--limit", "50"], true),
        ("runs show 1".into(), vec!["runs", "show", "1"], true),
        ("runs show 2".into(), vec!["runs", "show", "2"], true),
        ("runs show 999".into(), vec!["runs", "show", "999"], false),
        ("export-csv".into(), vec!["export-csv"], true),
        (
            "export-csv --run 999".into(),
            vec!["export-csv", "--run", "999"],
            false,
        ),
        (
            "export-csv -o".into(),
            vec!["export-csv", "-o", "export.csv"],
            true,
        ),
        (
            "history of an unknown id".into(),
            vec!["history", "AUD-NOBODY"],
            false,
        ),
        (
            "history of a rejected row".into(),
            vec!["history", "AUD-TWIN"],
            true,
        ),
        ("test-alert mail".into(), vec!["test-alert", "mail"], true),
        (
            "test-alert broken-hook".into(),
            vec!["test-alert", "broken-hook"],
            false,
        ),
        (
            "test-alert of no route".into(),
            vec!["test-alert", "AUD-1"],
            false,
        ),
        ("backup".into(), vec!["backup", "backup.db"], true),
    ];
    for row in rows.iter().step_by(50) {
        commands.push((
            format!("history {}", row.id()),
            vec!["history", row.id(), "--limit", "5"],
            true,
        ));
        commands.push((
            format!("history --json {}", row.id()),
            vec!["history", row.id(), "--json"],
            true,
        ));
    }
    for (what, args, succeeds) in &commands {
        let all: Vec<&str> = config.iter().copied().chain(args.iter().copied()).collect();
        let output = cli(dir, &all).await;
        assert_eq!(
            output.code == Some(0),
            *succeeds,
            "{what}: {}",
            output.text()
        );
        outputs.add_output(what, &output.stdout, &output.stderr);
    }
    outputs.add_file("the exported CSV", &dir.join("export.csv"));
    outputs.add_file("the backup", &dir.join("backup.db"));
    {
        let connection = rusqlite::Connection::open(&database).unwrap();
        connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    outputs.add_sqlite("after a checkpoint", &database);

    // Every alert that went out.
    let mails = smtp.mails();
    assert!(mails.len() >= 3, "two digests and a test: {}", mails.len());
    for (n, mail) in mails.iter().enumerate() {
        outputs.add_email(&format!("email {n}"), &mail.data);
    }
    assert!(
        outputs
            .0
            .iter()
            .any(|(_, part)| part.starts_with(b"transition,severity,authorizer_id,")),
        "a digest attached its CSV"
    );
    for (name, receiver) in [("hook", &hook), ("broken-hook", &broken_hook)] {
        for (n, request) in receiver.requests().iter().enumerate() {
            outputs.add(format!("{name} request {n}"), request.body.to_vec());
        }
    }

    // What the test saw is the real thing: the people were checked and alerts fired.
    let all_text: String = outputs
        .0
        .iter()
        .map(|(_, bytes)| String::from_utf8_lossy(bytes))
        .collect();
    assert!(all_text.contains("AUD-999"), "the authorizers were checked");
    assert!(
        all_text.contains("AUD-Xaaa"),
        "the rejections were reported"
    );
    assert!(all_text.contains("firing"), "alerts fired");

    let needles: Vec<Needle> = rows.iter().flat_map(|row| row.needles.clone()).collect();
    let leaks = find_leaks(&needles, WORDS, BODY_FRAGMENTS, &outputs);
    assert!(
        leaks.is_empty(),
        "{} personal value(s) left for somewhere other than Rightfoot ({} places, {} bytes searched):\n{}",
        leaks.len(),
        outputs.0.len(),
        outputs.len(),
        leaks
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The search finds a value where it stands on its own, and not inside a longer number,
/// a word, the fraction of a timestamp that a database page holds cut short, or the
/// bytes of a binary integer.
#[test]
fn the_search_finds_values_standing_alone_and_only_them() {
    let needle = |what, form: &str, edge| Needle {
        owner: "AUD-1".to_string(),
        what,
        form: form.to_string(),
        edge,
    };
    let needles = [
        needle("CVV", "0326", Edge::Word),
        needle("SSN", "318527946", Edge::Digits),
    ];
    let hits = |text: &str| {
        let mut outputs = Outputs::default();
        outputs.add("text", text.as_bytes().to_vec());
        find_leaks(&needles, &[], &[], &outputs).len()
    };
    assert_eq!(hits(r#"{"cvv":"0326"}"#), 1);
    assert_eq!(hits("AUD-1,0326,x"), 1);
    assert_eq!(hits("cvv 0326."), 1);
    assert_eq!(hits("2026-11-22T06:53:28.0326'CAUD-90"), 0);
    assert_eq!(hits("c2d1-0326-ab"), 0);
    assert_eq!(hits("x0326"), 0);
    assert_eq!(hits("103260"), 0);
    assert_eq!(
        hits("retrieved\u{1}0326\u{0}\u{5}"),
        0,
        "inside a page's integer"
    );
    assert_eq!(hits("\u{1}0326,"), 1, "text on one side");
    assert_eq!(hits("cvv \u{0}0326\n"), 1, "a line break is text");
    assert_eq!(hits("ssn=318527946;"), 1);
    assert_eq!(
        hits("v.318527946"),
        1,
        "a long number counts after a point too"
    );
    assert_eq!(hits("1318527946"), 0);
}
