//! The integration tests: one binary, one module per capability.
//!
//! Every test here talks to real things on loopback (the built-in sandbox, SQLite files
//! in temporary directories, the real `balance-monitor` binary) and never sleeps to wait
//! for a server: servers are bound to port 0 before they are used.
//!
//! - `authorizers`: pre-flight validation, YAML and CSV loading, the permission rule,
//!   the request body, and that no personal value is ever printed.
//! - `config`: the bad-configuration table, secrets, `check-config`.
//! - `rightfoot_client`: the API client against scripted local HTTP servers.
//! - `run`: one run of a monitor against the sandbox on paused time: a complete run,
//!   rejections, the result deadline, Rightfoot's 24-hour cache, bounded concurrency,
//!   crash recovery from each durable step, and cancellation.
//! - `sandbox`: the built-in Rightfoot simulator over HTTP: auth, validation, the body-hash
//!   cache, progressive results, paging, exports, history, scenarios, faults, webhooks.
//! - `store`: migrations, pragmas, one writer and non-blocking readers, idempotent
//!   upserts, a schema without personal data, and the run's plans and cache links.
//! - `support`: shared helpers (temporary directories, running the binary).
#![forbid(unsafe_code)]

mod authorizers;
mod config;
mod rightfoot_client;
mod run;
mod sandbox;
mod store;
mod support;
