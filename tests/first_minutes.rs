//! The first five minutes: `init`, `check-config` (offline and `--online`) and `run-now`
//! failing fast, as a newcomer meets them, through the real binary.
//!
//! The sandbox runs in process on port 0; a closed port is one the system just handed
//! out and took back. Times are bounded by what the issue promises (10 s for
//! `check-config --online`, 30 s for `run-now`), measured on the real clock because
//! the binary is a real process.

use std::path::Path;
use std::time::{Duration, Instant};

use balance_monitor::sandbox::{SANDBOX_DEFAULT_KEY, SandboxConfig};
use balance_monitor::secret::Secret;

use crate::support::sandbox::{CsvRow, RunningSandbox, authorizers_csv};
use crate::support::{run_binary, vacant_loopback_addr, write_file};

/// Runs the binary in `dir` with a clean environment plus `env`: (exit code, stdout,
/// stderr, how long it took).
async fn run(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String, Duration) {
    let mut command = tokio::process::Command::new(crate::support::binary());
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("the command ends")
        .expect("the binary starts");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `init` into `dir/name`, asserting it succeeded; returns the config path.
fn init(dir: &Path, name: &str) -> std::path::PathBuf {
    let target = dir.join(name);
    let output = run_binary(dir, &["init", target.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("config.yaml")
}

/// Points an `init` configuration at `url` instead of 127.0.0.1:8455.
fn point_at(config: &Path, url: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains("base_url: http://127.0.0.1:8455\n"), "{text}");
    let text = text.replace(
        "base_url: http://127.0.0.1:8455\n",
        &format!("base_url: {}\n", url.trim_end_matches('/')),
    );
    std::fs::write(config, text).unwrap();
}

/// One made-up borrower with the two fields the `init` configuration's rules and
/// alerts name.
fn one_borrower() -> String {
    let row = CsvRow::bank("A-1")
        .meta("loan_id", "LN-1")
        .meta("payment_amount", "100.00");
    authorizers_csv(&[row], &["loan_id", "payment_amount"])
}

/// A sandbox that accepts the key `init` writes.
async fn default_key_sandbox() -> RunningSandbox {
    let mut config = SandboxConfig::new([Secret::new(SANDBOX_DEFAULT_KEY)]);
    config.processing_time = Duration::ZERO;
    RunningSandbox::start(config).await
}

#[test]
fn init_writes_private_files_that_pass_check_config_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "fresh");
    let folder = config.parent().unwrap();
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&folder.join("authorizers.csv")), 0o600);
    assert_eq!(mode(&folder.join("secrets")), 0o700);
    assert_eq!(mode(&folder.join("secrets/rightfoot-api-key")), 0o600);
    let header = std::fs::read_to_string(folder.join("authorizers.csv")).unwrap();
    assert!(
        header.starts_with("authorizer_unique_id,first_name,last_name,"),
        "{header}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("api_key_file: secrets/rightfoot-api-key"),
        "{text}"
    );

    let output = run_binary(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.trim_end().ends_with(": valid"), "{stdout}");

    // A folder holding any one of the files is refused, and nothing is written.
    let partial = dir.path().join("partial");
    write_file(&partial, "authorizers.csv", b"mine\n", 0o600);
    let output = run_binary(dir.path(), &["init", partial.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("authorizers.csv already exists"),
        "{stderr}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&partial)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["authorizers.csv"]);
    assert_eq!(
        std::fs::read(partial.join("authorizers.csv")).unwrap(),
        b"mine\n"
    );
}

#[test]
fn check_config_says_valid_only_when_it_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "c");
    // The authorizer file is gone: the configuration parses, the list cannot load.
    std::fs::remove_file(config.parent().unwrap().join("authorizers.csv")).unwrap();
    let output = run_binary(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(!stdout.contains(": valid"), "{stdout}");
    assert!(stdout.contains(": invalid"), "{stdout}");

    // The storage folder does not exist yet: said, but not an error, because
    // check-config often runs before the folder is made.
    let config = init(dir.path(), "d");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "path: balance-monitor.db",
        "path: no-such-folder/balance-monitor.db",
    );
    std::fs::write(&config, text).unwrap();
    let output = run_binary(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("no-such-folder does not exist yet"),
        "{stdout}"
    );
    // A file where the folder should be is an error.
    let config = init(dir.path(), "e");
    write_file(config.parent().unwrap(), "not-a-folder", b"", 0o600);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "path: balance-monitor.db",
        "path: not-a-folder/balance-monitor.db",
    );
    std::fs::write(&config, text).unwrap();
    let output = run_binary(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("not-a-folder is not a folder"), "{stdout}");
    assert!(!stdout.contains(": valid"), "{stdout}");
}

#[test]
fn a_missing_configuration_suggests_config_and_init() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.yaml");
    let output = run_binary(
        dir.path(),
        &["check-config", "--config", missing.to_str().unwrap()],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("balance-monitor init"), "{stderr}");
    if !Path::new(balance_monitor::cli::DEFAULT_CONFIG).exists() {
        let output = run_binary(dir.path(), &["check-config"], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--config PATH"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_online_passes_against_the_sandbox_and_fails_fast_on_a_closed_port() {
    let sandbox = default_key_sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "online");
    point_at(&config, sandbox.url.as_str());
    let args = [
        "check-config",
        "--online",
        "--config",
        config.to_str().unwrap(),
    ];
    let (code, stdout, stderr, _) = run(dir.path(), &args, &[]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("✓ Rightfoot at") && stdout.contains("key accepted"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ database"), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");

    // A wrong key: ✗ with the status and where the key comes from.
    write_file(
        config.parent().unwrap(),
        "secrets/rightfoot-api-key",
        b"rf_wrong\n",
        0o600,
    );
    let (code, stdout, stderr, _) = run(dir.path(), &args, &[]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("✗ Rightfoot at")
            && stdout.contains("HTTP 401")
            && stdout.contains("api_key_file: secrets/rightfoot-api-key"),
        "{stdout}"
    );
    assert!(!stdout.contains("rf_wrong"), "{stdout}");

    let closed = vacant_loopback_addr();
    let config = init(dir.path(), "closed");
    point_at(&config, &format!("http://{closed}"));
    let args = [
        "check-config",
        "--online",
        "--config",
        config.to_str().unwrap(),
    ];
    let (code, stdout, stderr, took) = run(dir.path(), &args, &[]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        stdout.contains(&format!("✗ Rightfoot at http://{closed}/")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_against_a_closed_port_or_with_a_wrong_key_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let closed = vacant_loopback_addr();
    let config = init(dir.path(), "closed");
    point_at(&config, &format!("http://{closed}"));
    write_file(
        config.parent().unwrap(),
        "authorizers.csv",
        one_borrower().as_bytes(),
        0o600,
    );
    let args = [
        "run-now",
        "--config",
        config.to_str().unwrap(),
        "morning-ach",
    ];
    let (code, stdout, stderr, took) = run(dir.path(), &args, &[]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        stderr.contains(&format!("Rightfoot at http://{closed}/ cannot be used")),
        "{stderr}"
    );
    assert!(
        stderr.contains("api_key_file: secrets/rightfoot-api-key"),
        "{stderr}"
    );

    let sandbox = default_key_sandbox().await;
    let config = init(dir.path(), "wrong-key");
    point_at(&config, sandbox.url.as_str());
    let folder = config.parent().unwrap();
    write_file(folder, "authorizers.csv", one_borrower().as_bytes(), 0o600);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "api_key_file: secrets/rightfoot-api-key",
        "api_key_env: RIGHTFOOT_API_KEY",
    );
    std::fs::write(&config, text).unwrap();
    let args = [
        "run-now",
        "--config",
        config.to_str().unwrap(),
        "morning-ach",
    ];
    let (code, stdout, stderr, took) =
        run(dir.path(), &args, &[("RIGHTFOOT_API_KEY", "rf_wrong_key")]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("api_key_env: RIGHTFOOT_API_KEY"),
        "{stderr}"
    );
    assert!(!stderr.contains("rf_wrong_key"), "{stderr}");

    // With the right key, the same configuration runs to completion.
    let (code, stdout, stderr, _) = run(
        dir.path(),
        &args,
        &[("RIGHTFOOT_API_KEY", SANDBOX_DEFAULT_KEY)],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("run 1 of morning-ach: complete"),
        "{stdout}"
    );
}

/// The README's quick start, taken from README.md itself (the ```sh block between
/// `<!-- quick-start:begin -->` and `<!-- quick-start:end -->`), run line by line with
/// `sh -c` in a fresh folder holding a copy of `examples/`.
///
/// The one mechanical substitution: the install step (`cargo install`, above the
/// markers) is replaced by putting this build's binary first on PATH. A line ending in
/// `&` is started in the background and awaited until it says it is serving (read from
/// its stderr, not slept for), and stopped at the end, as the README's `kill %1` would.
#[test]
fn the_readme_quick_start_runs_verbatim() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let begin = readme
        .find("<!-- quick-start:begin -->")
        .expect("README.md marks its quick start");
    let end = readme[begin..]
        .find("<!-- quick-start:end -->")
        .expect("README.md ends its quick start")
        + begin;
    let block = &readme[begin..end];
    let commands: Vec<&str> = block
        .split("```sh\n")
        .skip(1)
        .flat_map(|fenced| fenced.split("```").next().unwrap_or("").lines())
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert!(commands.len() >= 5, "{commands:?}");

    let dir = tempfile::tempdir().unwrap();
    let examples = dir.path().join("examples");
    std::fs::create_dir(&examples).unwrap();
    std::fs::copy(
        root.join("examples/authorizers.csv"),
        examples.join("authorizers.csv"),
    )
    .unwrap();
    let bin_dir = crate::support::binary().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shell = |line: &str| {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", &path);
        command
    };
    let mut background = Vec::new();
    let mut last_output = String::new();
    for line in &commands {
        if let Some(command) = line.strip_suffix('&') {
            let mut child = shell(&format!("exec {command}"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let mut lines = std::io::BufReader::new(stderr).lines();
            let serving = lines
                .by_ref()
                .map_while(Result::ok)
                .find(|l| l.contains("serving"));
            assert!(serving.is_some(), "{line} started serving");
            // Keep reading, so that its later lines never meet a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            background.push(child);
            continue;
        }
        let output = shell(line).output().unwrap();
        last_output = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "`{line}` failed ({:?}):\n{last_output}",
            output.status.code()
        );
    }
    for mut child in background {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        commands.iter().any(|c| c.contains("run-now")),
        "{commands:?}"
    );
    assert!(last_output.contains("morning-ach"), "{last_output}");
    let runs = shell("balance-monitor runs --config my-monitor/config.yaml")
        .output()
        .unwrap();
    let runs = String::from_utf8_lossy(&runs.stdout);
    assert!(runs.contains("complete"), "{runs}");
}

/// `run-now` and `runs show` list every authorizer without a balance: the one the
/// pre-flight check rejected, and the failed check with its code and what it means.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_and_runs_show_list_the_rejected_and_failed_authorizers() {
    let mut sandbox_config = SandboxConfig::new([Secret::new(SANDBOX_DEFAULT_KEY)]);
    sandbox_config.processing_time = Duration::ZERO;
    sandbox_config.scenario = balance_monitor::sandbox::Scenario::from_yaml(
        "authorizers:\n  A-1002: [closed]\n",
        Path::new("scenario.yaml"),
    )
    .unwrap();
    let sandbox = RunningSandbox::start(sandbox_config).await;
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "listing");
    point_at(&config, sandbox.url.as_str());
    // The example list: A-1004 has a four-digit ZIP code, which pre-flight rejects.
    let examples = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/authorizers.csv"
    ))
    .unwrap();
    write_file(
        config.parent().unwrap(),
        "authorizers.csv",
        &examples,
        0o600,
    );
    let config_arg = config.to_str().unwrap();
    let (code, stdout, stderr, _) = run(
        dir.path(),
        &["run-now", "--config", config_arg, "morning-ach"],
        &[],
    )
    .await;
    assert_eq!(code, Some(1), "partial: {stdout}{stderr}");
    let failed = "    A-1002: failed 3200 (account closed)";
    let rejected = "    A-1004: rejected";
    assert!(stdout.contains("without a balance:         2"), "{stdout}");
    assert!(stdout.contains(failed), "{stdout}");
    assert!(stdout.contains(rejected), "{stdout}");
    let (code, shown, stderr, _) = run(
        dir.path(),
        &["--config", config_arg, "runs", "show", "1"],
        &[],
    )
    .await;
    assert_eq!(code, Some(0), "{shown}{stderr}");
    assert!(shown.contains(failed), "{shown}");
    assert!(shown.contains(rejected), "{shown}");
    for personal in ["Ben", "Sample", "000111333", "6270,"] {
        assert!(
            !stdout.contains(personal) && !shown.contains(personal),
            "{personal}"
        );
    }
}

/// Ctrl-C during `run-now`, while Rightfoot is still checking: the process ends within
/// a second, says the run is recorded `interrupted` and resumes later, and leaves it so
/// in the store; the daemon then resumes it from the batch already submitted, to
/// `complete`, without submitting it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_run_now_within_a_second_and_the_daemon_resumes_the_interrupted_run() {
    use crate::support::daemon::{Daemon, Database, run_finished};
    use crate::support::gate::{Exchange, GatedSandbox};

    let mut sandbox_config = SandboxConfig::new([Secret::new(SANDBOX_DEFAULT_KEY)]);
    // Results take an hour: the run is still reading when the signal comes.
    sandbox_config.processing_time = Duration::from_secs(3600);
    let sandbox = GatedSandbox::start(sandbox_config).await;
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "ctrl-c");
    point_at(&config, sandbox.url.as_str());
    write_file(
        config.parent().unwrap(),
        "authorizers.csv",
        one_borrower().as_bytes(),
        0o600,
    );
    let config_arg = config.to_str().unwrap().to_string();
    let mut child = tokio::process::Command::new(crate::support::binary())
        .args(["run-now", "--config", &config_arg, "morning-ach"])
        .current_dir(dir.path())
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The probe is a results page too, for a batch that cannot exist: wait for a read
    // of the batch the run submitted.
    sandbox
        .wait_for("a read of the submitted batch", |e: &Exchange| {
            e.is_results_page()
                && e.param("batchId").as_deref() != Some("00000000-0000-0000-0000-000000000000")
        })
        .await;
    let pid = child.id().unwrap();
    let signalled = Instant::now();
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -s INT {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("run-now ends after Ctrl-C")
        .unwrap();
    let took = signalled.elapsed();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(took < Duration::from_secs(1), "took {took:?}\n{stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: run 1 is recorded `interrupted`; `balance-monitor run` resumes it"
        ),
        "{stderr}"
    );
    let database = Database::new(&config.parent().unwrap().join("balance-monitor.db"));
    assert_eq!(database.run(1).state, "interrupted");
    let (code, listed, stderr, _) = run(dir.path(), &["--config", &config_arg, "runs"], &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(listed.contains("interrupted"), "{listed}");
    assert_eq!(sandbox.submissions().len(), 1);

    // The daemon, on the same database (and on a port of its own), resumes the run
    // from the batch already submitted once its results are ready.
    let text = std::fs::read_to_string(&config).unwrap();
    let listen = crate::support::vacant_loopback_addr();
    let text = text.replace("listen: 127.0.0.1:9187", &format!("listen: {listen}"));
    std::fs::write(&config, text).unwrap();
    sandbox.advance(Duration::from_secs(3600));
    let mut daemon = Daemon::start(&config);
    daemon
        .wait_for("the end of the resumed run", run_finished(1))
        .await;
    daemon.signal("TERM");
    let stopped = daemon.exit().await;
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert_eq!(database.run(1).state, "complete");
    assert_eq!(database.runs().len(), 1, "no second run was created");
    assert_eq!(
        sandbox.submissions().len(),
        1,
        "one chunk, submitted once: the resumed run read the batch run-now submitted"
    );
}
