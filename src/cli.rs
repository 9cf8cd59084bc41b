//! The command line: global options and subcommands, parsed by clap, and the dispatch
//! from a parsed command to the library.
//!
//! `main.rs` owns the process: it parses, sets up logging, calls [`run`] and maps a
//! [`Failure`] to an exit code. Nothing here calls `process::exit`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError};
use crate::sandbox::SANDBOX_DEFAULT_KEY;
use crate::secret::Environment;

pub const DEFAULT_CONFIG: &str = "/etc/balance-monitor/config.yaml";

/// `--version`: the crate version and the git revision `build.rs` found, such as
/// `0.1.0 (git 0123456789ab)`, `0.1.0 (git 0123456789ab-dirty)` or `0.1.0 (git unknown)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("BALANCE_MONITOR_GIT_REVISION"),
    ")"
);

/// Checks borrowers' bank balances through Rightfoot on cron schedules, keeps every
/// run in SQLite, and alerts before the ACH cut-off.
#[derive(Debug, Parser)]
#[command(name = "balance-monitor", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "BALANCE_MONITOR_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// How log lines are written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, such as `info`, `debug` or `balance_monitor=debug,warn`.
    #[arg(
        long,
        global = true,
        env = "BALANCE_MONITOR_LOG",
        default_value = "info"
    )]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for journald or a log shipper.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and summarise it: authorizers, next fire times,
    /// rules and routes. Exits 0 when it is valid and 2 when it is not.
    CheckConfig(CheckConfigArgs),
    /// Write a commented configuration for the built-in sandbox, an authorizer CSV
    /// template (0600) and a secrets folder (0700) into DIR, then print the next
    /// commands. Refuses (exit 1, nothing written) if any of the files exists.
    Init(InitArgs),
    /// Run the daemon: schedules, runs, the HTTP listener, until SIGTERM or SIGINT.
    /// SIGHUP reloads the configuration (a bad one is refused and the old one kept).
    Run,
    /// Run one monitor now, in the foreground, and print a summary. Recorded like a
    /// scheduled run (trigger `manual`). Exits 0 when the run is complete, 1 otherwise.
    RunNow(RunNowArgs),
    /// Run a local simulator of Rightfoot's balance-check API.
    #[command(long_about = crate::sandbox::ABOUT)]
    Sandbox(SandboxArgs),
    /// Show one authorizer's checks, newest first, under a sparkline of its balances.
    /// Exits 1 if the authorizer has never been part of a run.
    History(HistoryArgs),
    /// List recent runs, newest first; `runs show RUN_ID` shows one in full.
    Runs(RunsArgs),
    /// Write stored results in Rightfoot's CSV export format, streamed. Institution,
    /// Phone, Zip and Creator are empty: the daemon does not know them.
    ExportCsv(ExportCsvArgs),
    /// Copy the database to DEST while the daemon runs (SQLite's online backup). The
    /// copy is mode 0600 and checked with `PRAGMA integrity_check`.
    Backup(BackupArgs),
    /// Send a test digest, marked [TEST], through one route now, and print the
    /// server's answer. Exits 0 when it was delivered, 1 when it was not.
    TestAlert(TestAlertArgs),
    /// A guided demo with no setup: the built-in sandbox and the real daemon on a
    /// time-lapse clock (a weekday every 12 s) with a scripted drop, overdraft, closed
    /// account, unsupported bank, payment at risk and recovery; alerts to .eml files
    /// and a webhook receiver. Ignores --config.
    Demo(DemoArgs),
    /// Print a shell completion script, for example to
    /// /usr/share/bash-completion/completions/balance-monitor.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff, or with DIR write it and one page per
    /// subcommand there (used to build packages).
    #[command(hide = true)]
    Manpage {
        /// Write balance-monitor.1 and balance-monitor-SUBCOMMAND.1 files here.
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write the demo's config, authorizers, database and alerts here (a new or empty
    /// folder); by default a new folder under the temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Stop after this many runs.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Go on until Ctrl-C.
    #[arg(long)]
    pub forever: bool,
}

#[derive(Debug, Args)]
pub struct TestAlertArgs {
    /// The route's name under `routes:`.
    pub route: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The authorizer's `authorizer_unique_id`.
    pub authorizer_id: String,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Only runs started on or after this date (`2025-03-01`, midnight UTC) or time
    /// (RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub show: Option<RunsCommand>,
    /// Only the runs of this monitor.
    #[arg(long)]
    pub monitor: Option<String>,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run in full: timings, counts by status, cache, alerts and notifications.
    Show {
        /// The run's number, as `runs` lists it.
        run_id: i64,
    },
}

#[derive(Debug, Args)]
pub struct ExportCsvArgs {
    /// Only this run's results.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["batch", "monitor"])]
    pub run: Option<i64>,
    /// Only these Rightfoot batch ids (repeatable).
    #[arg(long = "batch", value_name = "ID", num_args = 1.., conflicts_with = "monitor")]
    pub batch: Vec<String>,
    /// Only this monitor's results.
    #[arg(long)]
    pub monitor: Option<String>,
    /// Only results timestamped on or after this date or time.
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Only results timestamped before this date or time.
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub until: Option<DateTime<Utc>>,
    /// Write to FILE (atomically, mode 0600) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy.
    pub dest: PathBuf,
    /// Replace DEST if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunNowArgs {
    /// The monitor to run, by name.
    pub monitor: String,
}

/// Options of `balance-monitor sandbox`. The configuration file is not read.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8455")]
    pub listen: std::net::SocketAddr,

    /// A scenario file scripting outcomes per authorizer and injected faults.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Read the accepted API key from this environment variable.
    #[arg(long, value_name = "NAME", conflicts_with = "api_key_file")]
    pub api_key_env: Option<String>,

    /// Read the accepted API key from this file.
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// How long a batch takes to complete, on the sandbox clock.
    #[arg(long, default_value = "2m", value_parser = parse_duration_arg)]
    pub processing_time: std::time::Duration,

    /// Sandbox seconds per real second (60 turns minutes into seconds).
    #[arg(long, default_value_t = 1.0)]
    pub clock_speed: f64,

    /// Seeds fault injection and the order results complete in.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Share of requests answered 500, in percent.
    #[arg(long, default_value_t = 0)]
    pub error_500_percent: u8,

    /// Share of requests answered 503, in percent.
    #[arg(long, default_value_t = 0)]
    pub error_503_percent: u8,

    /// Share of requests answered 429 with Retry-After, in percent.
    #[arg(long, default_value_t = 0)]
    pub error_429_percent: u8,

    /// The Retry-After sent with a 429.
    #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
    pub retry_after: std::time::Duration,

    /// Delay added before every answer (real time).
    #[arg(long, default_value = "0s", value_parser = parse_duration_arg)]
    pub latency: std::time::Duration,

    /// GET /v1/balances answers 404 for this long after a batch is created.
    #[arg(long, default_value = "0s", value_parser = parse_duration_arg)]
    pub not_found_after_create: std::time::Duration,

    /// Share of successful answers cut in half, in percent.
    #[arg(long, default_value_t = 0)]
    pub malformed_percent: u8,
}

fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::config::duration::parse_duration(text)
}

/// `2025-03-01` (midnight UTC) or an RFC 3339 time such as `2025-03-01T09:00:00-05:00`.
fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            format!("{text:?} is neither a date (2025-03-01) nor an RFC 3339 time (2025-03-01T09:00:00Z)")
        })
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Also list every invalid authorizer, not only the first ten per monitor.
    #[arg(long)]
    pub all: bool,
    /// Also try each outside dependency (Rightfoot with the key, each route's server,
    /// the database), without checking anyone or sending any alert. Exits 1 when one
    /// cannot be reached.
    #[arg(long)]
    pub online: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing; refused if it already holds any
    /// of the files).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The configuration is invalid: exit 2, and systemd does not restart.
    Config(String),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::Config(e.to_string())
    }
}

impl From<crate::daemon::DaemonError> for Failure {
    fn from(e: crate::daemon::DaemonError) -> Failure {
        match e {
            crate::daemon::DaemonError::Config(message) => Failure::Config(message),
            crate::daemon::DaemonError::Runtime(error) => Failure::Runtime(error),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Runtime(e)
    }
}

/// Runs a parsed command. `env` is the process environment, read once in `main`.
pub fn run(cli: Cli, env: Environment) -> Result<(), Failure> {
    match cli.command {
        Command::Completions { shell } => {
            crate::manual::write_completions(shell, Cli::command(), &mut std::io::stdout());
            Ok(())
        }
        Command::Manpage { dir } => write_manual(dir.as_deref()),
        Command::Sandbox(args) => run_sandbox(args, &env),
        Command::Run => runtime()?
            .block_on(crate::daemon::run(&cli.config, &env))
            .map_err(Failure::from),
        Command::RunNow(args) => {
            let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                crate::daemon::Progress::Bar
            } else {
                crate::daemon::Progress::Lines
            };
            let runtime = runtime()?;
            let report = runtime.block_on(crate::daemon::run_now(
                &cli.config,
                &env,
                &args.monitor,
                progress,
            ));
            // The run has stopped at a durable step and the store is closed: an idle
            // worker thread must not hold up the exit after Ctrl-C.
            runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            let report = report.map_err(Failure::from)?;
            print!("{}", crate::daemon::render_summary(&report.summary));
            print!("{}", crate::daemon::render_alerts(&report));
            let summary = report.summary;
            if crate::daemon::is_complete(&summary) {
                Ok(())
            } else {
                Err(Failure::Runtime(anyhow::anyhow!(
                    "run {} of {} ended {}",
                    summary.run.0,
                    summary.monitor,
                    summary.state.as_str()
                )))
            }
        }
        Command::History(args) => {
            let config = config::load(&cli.config, &env)?;
            let options = crate::report::HistoryOptions {
                authorizer_id: args.authorizer_id,
                limit: args.limit,
                since: args.since,
                json: args.json,
            };
            runtime()?.block_on(crate::report::history(
                &config,
                &options,
                &mut std::io::stdout(),
            ))?;
            Ok(())
        }
        Command::Runs(args) => {
            let config = config::load(&cli.config, &env)?;
            let out = &mut std::io::stdout();
            match args.show {
                Some(RunsCommand::Show { run_id }) => runtime()?.block_on(
                    crate::report::run_show(&config, crate::domain::RunId(run_id), out),
                )?,
                None => runtime()?.block_on(crate::report::runs(
                    &config,
                    args.monitor.as_deref(),
                    args.limit,
                    out,
                ))?,
            }
            Ok(())
        }
        Command::ExportCsv(args) => {
            use crate::report::{ExportOutput, ExportSelection};
            let config = config::load(&cli.config, &env)?;
            let selection = match (args.run, args.batch.is_empty(), args.monitor) {
                (Some(run), _, _) => ExportSelection::Run(crate::domain::RunId(run)),
                (None, false, _) => ExportSelection::RightfootBatches(args.batch),
                (None, true, Some(monitor)) => ExportSelection::Monitor(monitor),
                (None, true, None) => ExportSelection::All,
            };
            let output = args
                .output
                .clone()
                .map_or(ExportOutput::Stdout, ExportOutput::File);
            let rows = runtime()?.block_on(crate::report::export_csv(
                &config, selection, args.since, args.until, output,
            ))?;
            if let Some(path) = args.output {
                eprintln!("exported {rows} results to {}", path.display());
            }
            Ok(())
        }
        Command::Demo(args) => {
            let options = crate::demo::DemoOptions {
                dir: args.dir,
                runs: args.runs,
                forever: args.forever,
            };
            runtime()?
                .block_on(crate::demo::demo(options, &env))
                .map_err(Failure::from)
        }
        Command::TestAlert(args) => {
            let config = config::load(&cli.config, &env)?;
            let Some(route) = config.routes.get(&args.route) else {
                let names: Vec<&str> = config.routes.keys().map(String::as_str).collect();
                let hint = match crate::yaml::did_you_mean(&args.route, &names) {
                    Some(best) => format!(", did you mean `{best}`?"),
                    None if names.is_empty() => " (no routes are configured)".to_string(),
                    None => format!(" (configured: {})", names.join(", ")),
                };
                return Err(Failure::Config(format!(
                    "{}: no route named `{}`{hint}",
                    cli.config.display(),
                    args.route
                )));
            };
            match runtime()?.block_on(crate::alerting::send_test(route)) {
                Ok(delivered) => {
                    println!("test notification sent through {}: {delivered}", route.name);
                    Ok(())
                }
                Err(error) => Err(Failure::Runtime(
                    anyhow::Error::new(error).context("the test notification was not delivered"),
                )),
            }
        }
        Command::Backup(args) => {
            let config = config::load(&cli.config, &env)?;
            let options = crate::store::BackupOptions {
                replace: if args.force {
                    crate::private_file::Replace::Allow
                } else {
                    crate::private_file::Replace::Refuse
                },
                ..crate::store::BackupOptions::default()
            };
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let (path, bytes) = runtime()?.block_on(crate::report::backup(
                &config,
                &args.dest,
                options,
                move |step| {
                    if terminal && step.pages_total > 0 {
                        let done = step.pages_total - step.pages_remaining;
                        eprint!("\rcopied {}%", done * 100 / step.pages_total);
                    }
                },
            ))?;
            if terminal {
                eprintln!();
            }
            eprintln!("backed up {} bytes to {}", bytes, path.display());
            Ok(())
        }
        Command::CheckConfig(args) => {
            use crate::config::summary;
            let config = config::load(&cli.config, &env)
                .map_err(|e| Failure::Config(summary::explain_unreadable(e, DEFAULT_CONFIG)))?;
            let report = summary::check(&config, args.all);
            print!("{}", report.text);
            if let Some(message) = summary::failure(&report, &config) {
                return Err(Failure::Config(message));
            }
            if args.online {
                let online = runtime()?.block_on(crate::daemon::check_online(&config));
                print!("\n{}", online.text);
                if !online.ok {
                    return Err(Failure::Runtime(anyhow::anyhow!(
                        "the dependencies marked ✗ above cannot be reached or refused access"
                    )));
                }
            }
            Ok(())
        }
        Command::Init(args) => {
            let written = crate::config::init::init(&args.dir).map_err(anyhow::Error::new)?;
            print!("{written}");
            Ok(())
        }
    }
}

/// `manpage`: the main page to standard output, or every page into `dir`.
fn write_manual(dir: Option<&std::path::Path>) -> Result<(), Failure> {
    let written = match dir {
        None => crate::manual::write_main_page(Cli::command(), &mut std::io::stdout().lock())
            .map(|()| Vec::new()),
        Some(dir) => crate::manual::write_pages(Cli::command(), dir),
    }
    .map_err(|e| anyhow::Error::new(e).context("cannot write the manual pages"))?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::Runtime(anyhow::Error::new(e).context("cannot start the async runtime"))
        })
}

fn run_sandbox(args: SandboxArgs, env: &Environment) -> Result<(), Failure> {
    use crate::sandbox::{FaultConfig, SandboxConfig, scenario::Scenario};
    use crate::secret::{Secret, SecretSource};

    let key = match (&args.api_key_env, &args.api_key_file) {
        (Some(name), _) => SecretSource::Env(name.clone()).resolve(env, std::path::Path::new("")),
        (None, Some(path)) => SecretSource::File(path.clone()).resolve(env, std::path::Path::new("")),
        (None, None) => {
            eprintln!(
                "sandbox: accepting the API key {SANDBOX_DEFAULT_KEY} (choose another with --api-key-env or --api-key-file)"
            );
            Ok(Secret::new(SANDBOX_DEFAULT_KEY))
        }
    }
    .map_err(|e| Failure::Config(e.to_string()))?;
    let mut config = SandboxConfig::new([key]);
    config.processing_time = args.processing_time;
    config.clock_speed = args.clock_speed;
    config.seed = args.seed;
    config.faults = FaultConfig {
        error_500_percent: args.error_500_percent,
        error_503_percent: args.error_503_percent,
        error_429_percent: args.error_429_percent,
        retry_after: args.retry_after,
        latency: args.latency,
        not_found_after_create: args.not_found_after_create,
        malformed_percent: args.malformed_percent,
    };
    if let Some(path) = &args.scenario {
        config.scenario = Scenario::load(path).map_err(|e| Failure::Config(e.to_string()))?;
    }
    let sandbox =
        crate::sandbox::Sandbox::new(config).map_err(|e| Failure::Config(e.to_string()))?;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(format!("cannot listen on {}", args.listen))
            })?;
        let address = listener.local_addr().map_err(anyhow::Error::new)?;
        eprintln!("sandbox: serving Rightfoot's API at http://{address} (Ctrl-C to stop)");
        sandbox
            .serve(listener, crate::daemon::shutdown_signal())
            .await
            .map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("sandbox server failed")))
    })
}
