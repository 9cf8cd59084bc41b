//! The daemon booted as systemd boots a `Type=notify` unit with `WatchdogSec=`: the real
//! `balance-monitor run` binary, `$NOTIFY_SOCKET` naming a datagram socket this test
//! binds, and `$WATCHDOG_USEC`.
//!
//! Every wait is on an event: a datagram from the daemon, or its exit. Read timeouts
//! and the exit guard only turn a hang into a failure.

use std::io::Read as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::sandbox::{RunningSandbox, SANDBOX_KEY, frozen_sandbox_config};
use crate::support::{binary, write_file};

/// How long any one wait may take before the test fails.
const GUARD: Duration = Duration::from_secs(20);
/// systemd's `WatchdogSec=500ms`: the daemon pings every 250 ms.
const WATCHDOG_USEC: &str = "500000";

const CSV: &str = "authorizer_unique_id,first_name,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number\nA-1,Test,62701,5550100001,01/15/1980,900000001,000111222,011000015\n";

/// A valid configuration against `base_url`, with one monitor that is not due soon
/// (06:00 on 1 January) and does not catch up, so the daemon sits idle.
fn config(base_url: &str) -> String {
    format!(
        r#"rightfoot:
  base_url: {base_url}
  api_key_env: RF_KEY
storage:
  path: state.db
http:
  listen: 127.0.0.1:0
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

/// `balance-monitor run` started in `dir` as systemd would start it, with a socket
/// receiving its notifications. Dropping it kills a daemon still running.
struct Booted {
    pid: u32,
    /// Taken by [`Booted::wait`].
    child: Option<Child>,
    notifications: UnixDatagram,
    /// Collects the daemon's log lines, shown when an assertion fails.
    stderr: Option<JoinHandle<String>>,
}

fn boot(dir: &Path, config_text: &str) -> Booted {
    write_file(dir, "a.csv", CSV.as_bytes(), 0o600);
    let config = write_file(dir, "config.yaml", config_text.as_bytes(), 0o600);
    let socket = dir.join("notify.sock");
    let notifications = UnixDatagram::bind(&socket).unwrap();
    notifications.set_read_timeout(Some(GUARD)).unwrap();
    let mut command = Command::new(binary());
    command
        .current_dir(dir)
        .args(["run", "--config", config.to_str().unwrap()])
        .env_clear()
        .env("RF_KEY", SANDBOX_KEY)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", WATCHDOG_USEC)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    let mut child = command.spawn().unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    Booted {
        pid: child.id(),
        child: Some(child),
        notifications,
        stderr: Some(stderr),
    }
}

impl Booted {
    /// The next notification. Fails the test after [`GUARD`] without one.
    fn next(&mut self) -> String {
        let mut buffer = [0u8; 4096];
        match self.notifications.recv(&mut buffer) {
            Ok(n) => String::from_utf8_lossy(&buffer[..n]).into_owned(),
            Err(error) => {
                self.kill();
                panic!(
                    "no notification from the daemon ({error}); its log:\n{}",
                    self.log()
                )
            }
        }
    }

    /// Notifications sent and not yet read; complete once the process has exited,
    /// since a datagram is queued on the socket before `send` returns.
    fn remaining(&self) -> Vec<String> {
        self.notifications.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 4096];
        let mut found = Vec::new();
        while let Ok(n) = self.notifications.recv(&mut buffer) {
            found.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
        found
    }

    /// Sends a signal the way an administrator (or systemd) would, without `unsafe`.
    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args(["-s", name, &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -s {name} {}", self.pid);
    }

    fn kill(&self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }

    /// Waits for the process to exit. `Child::wait` cannot time out, so a thread
    /// waits and the test gives up after [`GUARD`].
    fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("waited for once");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(child.wait());
        });
        match receiver.recv_timeout(GUARD) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                self.kill();
                panic!(
                    "the daemon did not exit within {GUARD:?}; its log:\n{}",
                    self.log()
                )
            }
        }
    }

    /// The daemon's stderr; complete once it has exited.
    fn log(&mut self) -> String {
        self.stderr
            .take()
            .map(|thread| thread.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Boot, readiness, watchdog, and a clean stop on SIGTERM, as systemd sees them.
#[test]
fn run_under_systemd_says_ready_pings_the_watchdog_and_stops_cleanly_on_sigterm() {
    // The sandbox serves on a runtime of its own while this thread blocks on the socket.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime.block_on(RunningSandbox::start(frozen_sandbox_config()));
    let dir = tempfile::tempdir().unwrap();
    let base_url = sandbox.url.as_str().trim_end_matches('/');
    let mut daemon = boot(dir.path(), &config(base_url));

    // Watchdog pings may come before readiness (the pinger starts first); systemd
    // accepts that. Everything else before READY=1 is unexpected.
    let mut before_ready = Vec::new();
    let ready = loop {
        let message = daemon.next();
        if message.lines().any(|line| line == "READY=1") {
            break message;
        }
        before_ready.push(message);
    };
    assert!(
        before_ready.iter().all(|m| m == "WATCHDOG=1"),
        "{before_ready:?}"
    );
    let status = ready
        .lines()
        .find_map(|line| line.strip_prefix("STATUS="))
        .unwrap_or_else(|| panic!("READY=1 comes with a STATUS= line: {ready:?}"));
    assert_eq!(status, "watching 1 monitor(s)");

    // At WatchdogSec=500ms the daemon must ping every 250 ms; two in a row after
    // readiness show the pinger keeps going, with nothing else sent meanwhile.
    for ping in 1..=2 {
        let message = daemon.next();
        assert_eq!(message, "WATCHDOG=1", "ping {ping} after READY=1");
    }

    daemon.signal("TERM");
    // Pings may still arrive until the daemon has seen the signal.
    let stopping = loop {
        let message = daemon.next();
        if message != "WATCHDOG=1" {
            break message;
        }
    };
    assert_eq!(stopping, "STOPPING=1");
    let exit = daemon.wait();
    let log = daemon.log();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean stop; log:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    // The pinger stops just after STOPPING=1 is sent, so a last ping may follow it.
    let after = daemon.remaining();
    assert!(
        after.iter().all(|m| m == "WATCHDOG=1"),
        "nothing but a late ping after STOPPING=1: {after:?}"
    );
    assert_eq!(
        sandbox.handle.batches_created(),
        0,
        "the monitor was not due: nothing was sent"
    );
}

/// A bad configuration is exit code 2 (`RestartPreventExitStatus=2` stops the restart
/// loop), and systemd is never told the service is ready.
#[test]
fn run_with_a_bad_configuration_exits_2_and_never_says_ready() {
    let dir = tempfile::tempdir().unwrap();
    let bad = config("http://127.0.0.1:9").replace("catch_up: skip", "catch_up: sometimes");
    let mut daemon = boot(dir.path(), &bad);

    let exit = daemon.wait();
    let log = daemon.log();
    assert_eq!(exit.code(), Some(2), "{log}");
    assert!(log.contains("catch_up"), "the message names the key: {log}");
    let sent = daemon.remaining();
    assert!(
        !sent.iter().any(|m| m.lines().any(|line| line == "READY=1")),
        "READY=1 sent for a configuration that was refused: {sent:?}"
    );
}
