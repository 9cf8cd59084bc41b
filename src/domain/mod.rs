//! The shared vocabulary: the values every other module speaks in, and nothing else.
//!
//! - [`ids`]: [`MonitorId`], [`RunId`], [`BatchRowId`].
//! - [`run_state`]: [`RunState`], [`BatchState`], [`ResultOutcome`], each with its one
//!   spelling.
//! - [`trigger`]: [`RunTrigger`], why a run exists.
//! - [`balance_status`]: [`BalanceStatus`], Rightfoot's open set of status codes, and
//!   [`CsvStatus`], the export's seven names.
//! - [`money`]: [`Cents`], money as an exact integer count of cents.
//! - [`calendar`]: [`BusinessCalendar`], the FedACH settlement calendar: business days,
//!   the date a debit settles on, N business days ahead.
//! - [`decision`]: [`Decision`], send, hold or unknown for a debit that is due.
//! - [`role`]: [`Role`], leader or standby, and [`RoleView`], what a daemon says of it.
//!
//! Invariant: `domain` depends on nothing else in the crate (it names no other module;
//! a test below checks), so any module may use it without making a cycle. It does no I/O, holds no
//! personal data, and knows nothing of SQL, HTTP or the configuration: a type belongs
//! here when two or more of run, rules, alerting, store, http and the client share it,
//! and only its meaning and spelling come with it. How a value is stored, sent or shown
//! to people belongs to the module that does so.

pub mod balance_status;
pub mod calendar;
pub mod decision;
pub mod ids;
pub mod money;
pub mod role;
pub mod run_state;
pub mod trigger;

pub use balance_status::{BalanceStatus, CsvStatus, UnknownCsvStatus};
pub use calendar::{BusinessCalendar, Closure, FedHoliday};
pub use decision::Decision;
pub use ids::{BatchRowId, MonitorId, RunId};
pub use money::{Cents, MoneyError};
pub use role::{Role, RoleView};
pub use run_state::{BatchState, ResultOutcome, RunState};
pub use trigger::RunTrigger;

#[cfg(test)]
mod tests {
    /// The invariant above: no file of this module names another module of the crate.
    #[test]
    fn domain_names_no_other_module() {
        let mod_rs = include_str!("mod.rs");
        let mod_rs = &mod_rs[..mod_rs.find("#[cfg(test)]").unwrap_or(mod_rs.len())];
        let files = [
            ("mod.rs", mod_rs),
            ("balance_status.rs", include_str!("balance_status.rs")),
            ("calendar.rs", include_str!("calendar.rs")),
            ("calendar/tests.rs", include_str!("calendar/tests.rs")),
            ("decision.rs", include_str!("decision.rs")),
            ("ids.rs", include_str!("ids.rs")),
            ("money.rs", include_str!("money.rs")),
            ("role.rs", include_str!("role.rs")),
            ("run_state.rs", include_str!("run_state.rs")),
            ("trigger.rs", include_str!("trigger.rs")),
        ];
        for line in mod_rs.lines() {
            let declared = line.strip_prefix("pub mod ").or(line.strip_prefix("mod "));
            if let Some(name) = declared.and_then(|l| l.strip_suffix(';')) {
                let file = format!("{name}.rs");
                assert!(
                    files.iter().any(|(f, _)| *f == file),
                    "add {file} to this test"
                );
            }
        }
        for (file, text) in files {
            for (at, _) in text.match_indices("crate::") {
                let line = text[..at].lines().count();
                assert!(
                    text[at..].starts_with("crate::domain"),
                    "src/domain/{file}:{line} names a module outside domain"
                );
            }
            assert!(
                !text.contains("super::super"),
                "src/domain/{file} reaches outside domain through super::super"
            );
        }
    }
}
