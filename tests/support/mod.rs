//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod chromium_shot;
pub mod daemon;
pub mod dashboard;
pub mod faulty_store;
pub mod gate;
pub mod history;
pub mod leaks;
pub mod openapi;
pub mod paused;
pub mod proxy;
pub mod read_api;
pub mod receiver;
pub mod sandbox;
pub mod services;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `balance-monitor` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_balance-monitor"))
}

/// Runs the binary with `args` in `dir`, with a clean environment plus `env`.
pub fn run_binary(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    binary_command(dir, args, env)
        .output()
        .expect("the balance-monitor binary runs")
}

/// [`run_binary`] for a command that might hang (on a FIFO, say): the test fails, and
/// the process is killed, if it has not exited within `limit`.
pub fn run_binary_within(
    limit: std::time::Duration,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    use std::process::Stdio;
    let child = binary_command(dir, args, env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the balance-monitor binary runs");
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    match receive.recv_timeout(limit) {
        Ok(output) => output.expect("the balance-monitor binary runs"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("balance-monitor {args:?} did not exit within {limit:?}");
        }
    }
}

fn binary_command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(dir).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Writes `contents` to `dir/name` with the given Unix mode, and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// A loopback address nothing listens on (a port the system just handed out and
/// took back): a connection to it is refused until a test starts a server there.
pub fn vacant_loopback_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
