//! The real `balance-monitor run` as a child process: its configuration, its JSON log
//! read line by line, signals, and the database it leaves behind.
//!
//! [`Daemon::start`] spawns the binary with a clean environment and
//! `--log-format json`; a task reads its stderr into a channel, and
//! [`Daemon::wait_for`] waits for the next log line a predicate accepts. Waits are
//! bounded by [`PATIENCE`] of real time: the timeout only fails a test that would
//! otherwise hang, it never paces one. Signals are sent with `kill -s SIG PID`.
//! Restarting is starting again with the same configuration, hence the same database.
//!
//! [`Database`] reads the SQLite file read-only, as it stands on disk, whether or not
//! a daemon is running.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use balance_monitor::store::Store;
use chrono::{DateTime, Datelike as _, SubsecRound as _, Timelike as _, Utc};
use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::mpsc;
use url::Url;

use super::binary;
use super::sandbox::SANDBOX_KEY;

/// The longest any single wait may take before the test fails. Generous, because CI
/// runs the whole suite on two cores; a passing test never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The environment variable the daemon reads the Rightfoot key from.
pub const API_KEY_ENV: &str = "RIGHTFOOT_API_KEY";

/// The daemon's own debug lines (chunk steps), everything else at info.
const LOG_LEVEL: &str = "info,balance_monitor=debug";

/// One monitor of a test configuration.
#[derive(Clone, Debug)]
pub struct MonitorSpec {
    pub name: String,
    /// A cron expression in UTC (6 fields for seconds).
    pub schedule: String,
    /// The authorizers CSV, relative to the configuration's directory.
    pub csv: String,
}

impl MonitorSpec {
    pub fn new(name: &str, schedule: &str, csv: &str) -> MonitorSpec {
        MonitorSpec {
            name: name.to_string(),
            schedule: schedule.to_string(),
            csv: csv.to_string(),
        }
    }
}

/// A configuration for a daemon talking to a sandbox on loopback.
#[derive(Clone, Debug)]
pub struct ConfigSpec {
    pub base_url: Url,
    pub database: PathBuf,
    pub poll_interval: String,
    pub result_deadline: String,
    pub monitors: Vec<MonitorSpec>,
}

impl ConfigSpec {
    /// Polling every 200 ms with a 10-minute deadline, no monitors yet.
    pub fn new(base_url: &Url, database: &Path) -> ConfigSpec {
        ConfigSpec {
            base_url: base_url.clone(),
            database: database.to_path_buf(),
            poll_interval: "200ms".to_string(),
            result_deadline: "10m".to_string(),
            monitors: Vec::new(),
        }
    }

    pub fn monitor(mut self, monitor: MonitorSpec) -> ConfigSpec {
        self.monitors.push(monitor);
        self
    }

    pub fn poll_interval(mut self, interval: &str) -> ConfigSpec {
        self.poll_interval = interval.to_string();
        self
    }

    pub fn result_deadline(mut self, deadline: &str) -> ConfigSpec {
        self.result_deadline = deadline.to_string();
        self
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        let mut text = format!(
            "rightfoot:\n  base_url: {}\n  api_key_env: {API_KEY_ENV}\n  poll_interval: {}\n  result_deadline: {}\nstorage:\n  path: {}\nhttp:\n  listen: 127.0.0.1:0\nmonitors:\n",
            self.base_url,
            self.poll_interval,
            self.result_deadline,
            self.database.display()
        );
        for monitor in &self.monitors {
            text.push_str(&format!(
                "  - name: {}\n    schedule: \"{}\"\n    timezone: UTC\n    authorizers: {{ csv: {} }}\n",
                monitor.name, monitor.schedule, monitor.csv
            ));
        }
        text
    }

    /// Writes the configuration to `dir/config.yaml` (mode 0600) and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        super::write_file(dir, "config.yaml", self.yaml().as_bytes(), 0o600)
    }
}

/// A cron expression with one slot a year, at `slot` (UTC, whole seconds).
pub fn yearly_cron(slot: DateTime<Utc>) -> String {
    format!(
        "{} {} {} {} {} *",
        slot.second(),
        slot.minute(),
        slot.hour(),
        slot.day(),
        slot.month()
    )
}

/// A slot that has just come: the current second, with `monitor`'s stored schedule
/// position one second before it, as a daemon that stopped a moment ago leaves it.
/// With [`yearly_cron`] of the returned slot, the next start runs that slot at once,
/// on time, whatever the start-up takes (up to the scheduler's one-minute on-time
/// window), and no other slot comes during the test.
pub async fn slot_due_now(database: &Path, monitor: &str) -> DateTime<Utc> {
    let slot = Utc::now().trunc_subsecs(0);
    let store = Store::open(database).expect("the test database opens");
    let id = store.ensure_monitor(monitor).await.unwrap();
    let moved = store
        .advance_schedule(id, slot - chrono::Duration::seconds(1), Vec::new())
        .await
        .unwrap();
    assert!(moved, "the schedule position was already past the slot");
    store.close().await;
    slot
}

/// One line the daemon wrote to stderr: a JSON log event, or plain text (the
/// process's last words, such as `error: ...`).
#[derive(Clone, Debug)]
pub struct LogLine {
    pub raw: String,
    pub json: Option<Value>,
}

impl LogLine {
    fn parse(raw: String) -> LogLine {
        let json = serde_json::from_str::<Value>(raw.trim())
            .ok()
            .filter(Value::is_object);
        LogLine { raw, json }
    }

    /// The event's `message`, or "" for a plain line.
    pub fn message(&self) -> &str {
        self.field("message").and_then(Value::as_str).unwrap_or("")
    }

    pub fn is(&self, message: &str) -> bool {
        self.message() == message
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.json.as_ref()?.get(name)
    }

    /// A field as text: strings as they are, other values in JSON.
    pub fn text(&self, name: &str) -> Option<String> {
        self.field(name).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }

    /// The `run` field.
    pub fn run(&self) -> Option<i64> {
        self.field("run").and_then(Value::as_i64)
    }

    /// The `monitor` field.
    pub fn monitor(&self) -> Option<&str> {
        self.field("monitor").and_then(Value::as_str)
    }

    pub fn level(&self) -> &str {
        self.field("level").and_then(Value::as_str).unwrap_or("")
    }
}

/// Whether `line` is the end of run `run` (`run finished`).
pub fn run_finished(run: i64) -> impl Fn(&LogLine) -> bool {
    move |line| line.is("run finished") && line.run() == Some(run)
}

/// How a daemon process ended, and everything it wrote.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    pub log: Vec<LogLine>,
}

impl Stopped {
    /// The first line `matches` accepts.
    pub fn find(&self, matches: impl Fn(&LogLine) -> bool) -> Option<&LogLine> {
        self.log.iter().find(|line| matches(line))
    }

    pub fn killed(&self) -> bool {
        self.status.signal() == Some(9)
    }
}

/// A running `balance-monitor run`. Dropping it kills the process.
pub struct Daemon {
    child: tokio::process::Child,
    pid: u32,
    lines: mpsc::UnboundedReceiver<LogLine>,
    log: Vec<LogLine>,
    /// Lines before this one have been looked at by [`Daemon::wait_for`].
    cursor: usize,
}

impl Daemon {
    /// Starts `balance-monitor --config CONFIG run` in `CONFIG`'s directory, with only
    /// `PATH` and the Rightfoot key in its environment.
    pub fn start(config: &Path) -> Daemon {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(["--config"])
            .arg(config)
            .args(["--log-format", "json", "--log-level", LOG_LEVEL, "run"])
            .current_dir(
                config
                    .parent()
                    .expect("the configuration is in a directory"),
            )
            .env_clear()
            .env(API_KEY_ENV, SANDBOX_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        let mut child = command.spawn().expect("the balance-monitor binary starts");
        let pid = child.id().expect("a running child has a pid");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if sender.send(LogLine::parse(line)).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            pid,
            lines,
            log: Vec::new(),
            cursor: 0,
        }
    }

    /// Every line read so far.
    pub fn log(&self) -> &[LogLine] {
        &self.log
    }

    /// Waits for the next line (after the last one a wait returned) that `matches`
    /// accepts. Fails the test if the process ends first or [`PATIENCE`] runs out;
    /// `what` names the line in that message.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&LogLine) -> bool) -> LogLine {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            while self.cursor < self.log.len() {
                let line = &self.log[self.cursor];
                self.cursor += 1;
                if matches(line) {
                    return line.clone();
                }
            }
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => self.log.push(line),
                Ok(None) => panic!(
                    "the daemon (pid {}) ended before logging {what}:\n{}",
                    self.pid,
                    tail(&self.log)
                ),
                Err(_) => panic!(
                    "the daemon (pid {}) did not log {what} within {PATIENCE:?}:\n{}",
                    self.pid,
                    tail(&self.log)
                ),
            }
        }
    }

    /// Waits until `done` holds of the log so far (and whatever else it looks at),
    /// asking it again after each log line and, for a state stored after its last log
    /// line (a delivery is logged before it is recorded), every 100 ms. Fails the test
    /// like [`Daemon::wait_for`].
    pub async fn wait_until(&mut self, what: &str, mut done: impl FnMut(&[LogLine]) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if done(&self.log) {
                return;
            }
            let next = tokio::time::Instant::now() + Duration::from_millis(100);
            match tokio::time::timeout_at(next.min(deadline), self.lines.recv()).await {
                Ok(Some(line)) => self.log.push(line),
                Ok(None) => panic!(
                    "the daemon (pid {}) ended before {what}:\n{}",
                    self.pid,
                    tail(&self.log)
                ),
                Err(_) if tokio::time::Instant::now() >= deadline => panic!(
                    "the daemon (pid {}): not {what} within {PATIENCE:?}:\n{}",
                    self.pid,
                    tail(&self.log)
                ),
                Err(_) => {}
            }
        }
    }

    /// Sends `signal` (`TERM`, `HUP`, `KILL`...) with `kill -s`, the shell's builtin
    /// (a minimal image may have no `kill` binary).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -s {signal} {}", self.pid)])
            .status()
            .expect("sh runs");
        assert!(status.success(), "kill -s {signal} {} failed", self.pid);
    }

    /// SIGKILL: the process ends wherever it is, with no chance to write anything.
    pub async fn kill(self) -> Stopped {
        self.signal("KILL");
        let stopped = self.exit().await;
        assert!(
            stopped.killed(),
            "the daemon was not ended by SIGKILL: {:?}",
            stopped.status
        );
        stopped
    }

    /// Waits for the process to end (after a signal), and reads the rest of its log.
    pub async fn exit(mut self) -> Stopped {
        let status = match tokio::time::timeout(PATIENCE, self.child.wait()).await {
            Ok(status) => status.expect("the daemon can be waited for"),
            Err(_) => panic!(
                "the daemon (pid {}) did not exit within {PATIENCE:?}:\n{}",
                self.pid,
                tail(&self.log)
            ),
        };
        // Its stderr is closed now: the reader ends after the last line.
        while let Ok(Some(line)) = tokio::time::timeout(PATIENCE, self.lines.recv()).await {
            self.log.push(line);
        }
        Stopped {
            status,
            log: std::mem::take(&mut self.log),
        }
    }
}

/// The last lines of a log, for a failure message.
pub fn tail(log: &[LogLine]) -> String {
    let from = log.len().saturating_sub(60);
    log[from..]
        .iter()
        .map(|line| line.raw.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `results` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResult {
    pub run: i64,
    pub authorizer: String,
    pub outcome: String,
    pub balance_cents: Option<i64>,
    pub status_code: Option<i64>,
    pub reason: Option<String>,
}

/// One `batches` row (a chunk of a run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChunk {
    pub run: i64,
    pub chunk_index: i64,
    pub state: String,
    pub rightfoot_batch_id: Option<String>,
    pub first_attempt_at: Option<String>,
    pub cached_from: Option<i64>,
}

/// One `runs` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRun {
    pub id: i64,
    pub monitor: String,
    pub trigger: String,
    pub scheduled_for: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// The daemon's SQLite file, opened read-only for each question.
#[derive(Clone, Debug)]
pub struct Database {
    pub path: PathBuf,
}

impl Database {
    pub fn new(path: &Path) -> Database {
        Database {
            path: path.to_path_buf(),
        }
    }

    fn connection(&self) -> Connection {
        let connection = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the database opens read-only");
        connection
            .busy_timeout(Duration::from_secs(10))
            .expect("a busy timeout can be set");
        connection
    }

    pub fn runs(&self) -> Vec<StoredRun> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT r.id, m.name, r.run_trigger, r.scheduled_for, r.state, r.reason, \
                        r.created_at, r.started_at, r.finished_at \
                 FROM runs r JOIN monitors m ON m.id = r.monitor_id ORDER BY r.id",
            )
            .unwrap();
        statement
            .query_map([], |row| {
                Ok(StoredRun {
                    id: row.get(0)?,
                    monitor: row.get(1)?,
                    trigger: row.get(2)?,
                    scheduled_for: row.get(3)?,
                    state: row.get(4)?,
                    reason: row.get(5)?,
                    created_at: row.get(6)?,
                    started_at: row.get(7)?,
                    finished_at: row.get(8)?,
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    pub fn run(&self, id: i64) -> StoredRun {
        self.runs()
            .into_iter()
            .find(|run| run.id == id)
            .unwrap_or_else(|| panic!("run {id} is in the database"))
    }

    pub fn chunks(&self, run: i64) -> Vec<StoredChunk> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT run_id, chunk_index, state, rightfoot_batch_id, first_attempt_at, \
                        cached_from \
                 FROM batches WHERE run_id = ?1 ORDER BY chunk_index",
            )
            .unwrap();
        statement
            .query_map(params![run], |row| {
                Ok(StoredChunk {
                    run: row.get(0)?,
                    chunk_index: row.get(1)?,
                    state: row.get(2)?,
                    rightfoot_batch_id: row.get(3)?,
                    first_attempt_at: row.get(4)?,
                    cached_from: row.get(5)?,
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Every result row of every run, by run and authorizer.
    pub fn results(&self) -> Vec<StoredResult> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT run_id, authorizer_unique_id, outcome, balance_cents, \
                        balance_status_code, reason \
                 FROM results ORDER BY run_id, authorizer_unique_id",
            )
            .unwrap();
        statement
            .query_map([], |row| {
                Ok(StoredResult {
                    run: row.get(0)?,
                    authorizer: row.get(1)?,
                    outcome: row.get(2)?,
                    balance_cents: row.get(3)?,
                    status_code: row.get(4)?,
                    reason: row.get(5)?,
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The result rows of one run.
    pub fn results_of(&self, run: i64) -> Vec<StoredResult> {
        self.results()
            .into_iter()
            .filter(|result| result.run == run)
            .collect()
    }

    /// The pre-flight rejections of a run: (authorizer id, source, reason).
    pub fn preflight_rejections(&self, run: i64) -> Vec<(String, String, String)> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT authorizer_unique_id, source, reason FROM preflight_rejections \
                 WHERE run_id = ?1 ORDER BY position",
            )
            .unwrap();
        statement
            .query_map(params![run], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The skipped and missed slot records of `monitor`: (outcome, first slot, reason).
    pub fn schedule_events(&self, monitor: &str) -> Vec<(String, String, String)> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT e.outcome, e.first_slot, e.reason FROM schedule_events e \
                 JOIN monitors m ON m.id = e.monitor_id WHERE m.name = ?1 ORDER BY e.first_slot",
            )
            .unwrap();
        statement
            .query_map(params![monitor], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
}
