//! The integration tests: one binary, one module per capability.
//!
//! Every test here talks to real things on loopback (the built-in sandbox, SQLite files
//! in temporary directories, the real `balance-monitor` binary) and never sleeps to wait
//! for a server: servers are bound to port 0 before they are used.
//!
//! - `support`: shared helpers (temporary directories, running the binary).
//! - `sandbox`: the built-in Rightfoot simulator over HTTP: auth, validation, the body-hash
//!   cache, progressive results, paging, exports, history, scenarios, faults, webhooks.
#![forbid(unsafe_code)]

mod sandbox;
mod support;
