//! The Rightfoot balance-check API client.
//!
//! This module owns everything between a request body in bytes and typed results: the
//! HTTP client and its configuration (`client`), the wire structs (`models`), the
//! retry policy (`retry`), errors (`error`), the durations of its requests by endpoint
//! and status (`metrics`), and one module per endpoint (the balance status codes its
//! results carry are [`crate::domain::BalanceStatus`]):
//!
//! - `submit`: `POST /v1/balance_requests` → [`SubmitOutcome`]
//! - `results`: `GET /v1/balances` → [`BalancePages`], a cursor (or stream) of [`Page`]s
//!   of [`BalanceResult`]s, with the loop guard and the 404 grace rule
//! - `export`: `GET /v1/balances/csv` → [`CsvExport`], a byte stream
//! - `history`: `GET /v1/monitoring/authorizers/{id}/history` → [`HistoryPage`]
//! - `probe`: one `GET /v1/balances` for a batch that cannot exist, to check the
//!   connection and the key (`check-config --online`, the start of `run-now`)
//!
//! It does not build request bodies (`authorizers::wire` does), chunk authorizers,
//! decide when a batch is complete, poll, or store anything: those belong to the run.
//! The parsers of the answers' bodies ([`parse_batch_created`], [`parse_balances_page`],
//! [`parse_history_page`], [`ErrorEnvelope::parse`]) are public, apart from the
//! transport, so that the fuzz targets in `fuzz/` can drive them with arbitrary bytes.
//! Invariants: money never passes through a float; the API key and authorizers'
//! personal data never appear in an error, a log line or a `Debug` output.

mod client;
pub mod error;
mod export;
mod history;
pub mod metrics;
pub(crate) mod models;
mod probe;
mod results;
pub mod retry;
pub mod served;
mod submit;

/// The balance status code is the shared vocabulary's ([`crate::domain`]); the client's
/// results carry it, so it is part of the client's interface.
pub use crate::domain::BalanceStatus;
pub use client::{ClientConfig, RightfootClient, USER_AGENT};
pub use error::{ApiError, ClientBuildError, ErrorDetails, ErrorEnvelope, Redactor};
pub use export::{CSV_EXPORT_COLUMNS, CsvExport};
pub use history::{HistoryEntry, HistoryPage, HistoryStatus, parse_history_page};
pub use metrics::RequestMetrics;
pub use probe::{PROBE_TIMEOUT, is_fatal_first_error};
pub use results::{BalancePages, BalanceResult, BalancesPageBody, Page, parse_balances_page};
pub use retry::RetryPolicy;
pub use submit::{BatchCreated, FailedAuthorizer, SubmitOutcome, body_sha256, parse_batch_created};
