//! `balance-monitor sandbox`: a local simulator of Rightfoot's balance-check API.
//!
//! The simulator is `crate::sandbox`; this file holds its options, resolves the key it
//! accepts, and serves it until SIGTERM or SIGINT. It reads no configuration file.

use std::path::PathBuf;

use clap::Args;

use super::{Failure, runtime};
use crate::sandbox::SANDBOX_DEFAULT_KEY;
use crate::secret::Environment;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor sandbox
  balance-monitor sandbox --listen 127.0.0.1:9000 --processing-time 0s
  balance-monitor sandbox --scenario scenario.yaml --error-503-percent 10";

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

pub(super) fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::config::duration::parse_duration(text)
}

pub fn sandbox(args: SandboxArgs, env: &Environment) -> Result<(), Failure> {
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
