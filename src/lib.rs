//! balance-monitor: scheduled bank-balance checks through Rightfoot, kept in SQLite,
//! with alerts before the ACH cut-off.
//!
//! The crate is laid out the way data flows through the daemon (see `ARCHITECTURE.md`):
//!
//! - [`config`]: YAML text → validated [`config::Config`], with file/line/column errors.
//! - [`yaml`]: the one YAML parser, its limits, its error shape and its did-you-mean.
//! - [`net`]: the one rule for URLs the daemon sends to, and the one loopback check.
//! - [`authorizers`]: the monitored borrowers, loaded from YAML or Rightfoot-format CSV;
//!   their personal data can reach the Rightfoot request body and nothing else.
//! - [`debits`]: a monitor's debit schedule (a file, or two metadata fields), which
//!   debits are due within a run's business-day window, and the pure send/hold/unknown
//!   decision about each.
//! - [`schedule`]: cron + IANA time zone → fire times.
//! - [`scheduler`]: one loop per monitor: waits for its slots, catches up after
//!   downtime, never overlaps or repeats a slot, and hands each slot to a run launcher.
//! - [`rightfoot`]: the API client, its wire models and its retry policy.
//! - [`run`]: one run of a monitor, a durable state machine in the store that resumes
//!   after a crash without checking anyone twice or losing a result.
//! - [`sandbox`]: a built-in Rightfoot simulator for tests, demos and dry runs.
//! - [`store`]: SQLite: migrations, one writer thread, read connections.
//! - [`http`]: the daemon's listener: history, balances and the CSV export in
//!   Rightfoot's shapes from the store, runs and alerts, `/healthz`, `/readyz`,
//!   `/metrics`, Rightfoot's completion webhook, and the web dashboard (`http::pages`).
//! - [`notify`]: one digest per route per run, rendered and delivered by email (SMTP,
//!   sendmail, `.eml` files), a signed webhook, Slack, Microsoft Teams or PagerDuty.
//! - [`rules`]: detection as a pure function: a run's results and the previous alert
//!   state in, the new state and the alert transitions (fired, reminder, resolved) out.
//! - [`alerting`]: the two joined to the runs: each finished run judged once, its
//!   transitions and one digest per route written in one transaction, and the durable
//!   outbox that delivers them with backoff across restarts.
//! - [`report`]: the read side at the terminal: `history`, `runs`, `export-csv` (Rightfoot's
//!   CSV export format, streamed) and `backup` (SQLite's online backup).
//! - [`retention`]: the daemon's hourly pruning of history older than `storage.retention`.
//! - [`private_file`]: files of mode 0600 written under a temporary name and renamed.
//! - [`domain`]: the shared vocabulary, depending on nothing else in the crate: ids, run
//!   states and triggers, balance status codes, money ([`domain::Cents`]), the FedACH
//!   calendar and the debit decisions.
//! - [`secret`]: the value type that keeps secrets redacted.
//! - [`backoff`] and [`text`]: leaf helpers every layer may use: capped exponential
//!   backoff with jitter; error chains, body excerpts and the redactor.
//! - [`daemon`]: `balance-monitor run` and `run-now`: the wiring, signals, the live
//!   configuration (one `watch` every long-lived part reads, rebuilt in one place on
//!   reload) and the one run pipeline (run, then judgement).
//! - [`demo`]: `balance-monitor demo`: the sandbox, the real daemon on a time-lapse clock
//!   and alerts to files, in one command.
//! - [`cli`]: the command line, parsed by clap; `main.rs` maps results to exit codes.
//! - [`manual`]: the man pages and shell completions, generated from [`cli`].
#![forbid(unsafe_code)]

pub mod alerting;
pub mod authorizers;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod completions;
pub mod config;
pub mod daemon;
pub mod debits;
pub mod demo;
pub mod domain;
pub mod http;
pub mod manual;
pub mod net;
pub mod notify;
pub mod private_file;
pub mod report;
pub mod retention;
pub mod rightfoot;
pub mod rules;
pub mod run;
pub mod sandbox;
pub mod schedule;
pub mod scheduler;
pub mod secret;
pub mod store;
pub mod systemd;
pub mod text;
pub mod yaml;

/// The old path of [`domain::money`], kept for the integration tests and benchmarks.
pub use domain::money;
