//! The shared vocabulary: the values every other module speaks in, and nothing else.
//!
//! - [`ids`]: [`MonitorId`], [`RunId`], [`BatchRowId`].
//! - [`run_state`]: [`RunState`], [`BatchState`], [`ResultOutcome`], each with its one
//!   spelling.
//! - [`trigger`]: [`RunTrigger`], why a run exists.
//! - [`balance_status`]: [`BalanceStatus`], Rightfoot's open set of status codes, and
//!   [`CsvStatus`], the export's seven names.
//! - [`money`]: [`Cents`], money as an exact integer count of cents.
//!
//! Invariant: `domain` depends on nothing else in the crate (no `crate::` path leads out
//! of it), so any module may use it without making a cycle. It does no I/O, holds no
//! personal data, and knows nothing of SQL, HTTP or the configuration: a type belongs
//! here when two or more of run, rules, alerting, store, http and the client share it,
//! and only its meaning and spelling come with it. How a value is stored, sent or shown
//! to people belongs to the module that does so.

pub mod balance_status;
pub mod ids;
pub mod money;
pub mod run_state;
pub mod trigger;

pub use balance_status::{BalanceStatus, CsvStatus, UnknownCsvStatus};
pub use ids::{BatchRowId, MonitorId, RunId};
pub use money::{Cents, MoneyError};
pub use run_state::{BatchState, ResultOutcome, RunState};
pub use trigger::RunTrigger;
