//! Headless Chromium from the command line, for looking at a rendered email the way a
//! reader does: a screenshot (`--screenshot`) and the DOM after rendering
//! (`--dump-dom`), at a given window width, in light or dark mode
//! (`--force-dark-mode`, which makes `prefers-color-scheme: dark` match).
//!
//! The browser is Debian's chromium, named by `BALANCE_MONITOR_TEST_CHROMIUM`
//! (`scripts/test` sets it); without it the test fails saying so. Each call gets its
//! own profile directory and runs with networking, sync and updates off, under a time
//! limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one Chromium run may take.
const LIMIT: Duration = Duration::from_secs(90);

/// The Chromium binary the tests use.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("BALANCE_MONITOR_TEST_CHROMIUM").unwrap_or_else(|| {
        panic!(
            "BALANCE_MONITOR_TEST_CHROMIUM is not set: run the tests with scripts/test, which installs Chromium and sets it"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "BALANCE_MONITOR_TEST_CHROMIUM={} does not exist: run the tests with scripts/test",
        path.display()
    );
    path
}

/// How a page is shown.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub width: u32,
    pub height: u32,
    pub dark: bool,
}

fn command(profile: &Path, view: View) -> Command {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={},{}", view.width, view.height))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if view.dark {
        command.arg("--force-dark-mode");
    }
    command
}

fn run(mut command: Command) -> std::process::Output {
    let child = command.spawn().expect("chromium starts");
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    match receive.recv_timeout(LIMIT) {
        Ok(output) => output.expect("chromium runs"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("chromium did not finish within {LIMIT:?}");
        }
    }
}

fn file_url(page: &Path) -> String {
    url::Url::from_file_path(page)
        .expect("an absolute path")
        .to_string()
}

/// Saves a PNG of `page` as shown in `view` to `png`.
pub fn screenshot(page: &Path, view: View, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut command = command(profile.path(), view);
    command
        .arg(format!("--screenshot={}", png.display()))
        .arg(file_url(page));
    let output = run(command);
    assert!(
        png.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The DOM of `page` after it rendered (and ran its scripts) in `view`.
pub fn dump_dom(page: &Path, view: View) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = command(profile.path(), view);
    command.arg("--dump-dom").arg(file_url(page));
    let output = run(command);
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

/// A PNG's width and height, read from its `IHDR` chunk.
pub fn png_size(png: &Path) -> (u32, u32) {
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}
