//! `balance-monitor returns import FILE`: the lender's ACH return file into the store.
//!
//! The file is parsed by `debits::returns` (bad rows refused with their line and
//! column); the good rows go to the store in one transaction, which keeps a return
//! already stored, so importing the same file twice changes nothing. What is shown is
//! rendered here: one line per refused row and per conflicting return, and a summary.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::open_store;
use crate::config::Config;
use crate::debits::{LoadedReturns, read_returns_file};
use crate::store::{NewReturn, ReturnImport};

/// What an import did, and the lines that say so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// Refused rows and conflicts, one per line, for stderr.
    pub problems: Vec<String>,
    /// The one-line summary, for stdout.
    pub summary: String,
}

/// Reads `file` and imports its good rows into the configured database.
pub async fn import(
    config: &Config,
    file: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportReport> {
    let loaded = read_returns_file(file)?;
    let store = open_store(config).await?;
    let rows: Vec<NewReturn> = loaded
        .returns
        .iter()
        .map(|r| NewReturn {
            debit_id: r.debit_id.clone(),
            return_code: r.return_code.clone(),
            return_date: r.return_date,
        })
        .collect();
    let imported = store.import_returns(rows, now).await;
    store.close().await;
    Ok(render(file, &loaded, &imported?))
}

/// The lines shown for an import of `loaded` from `file` that did `imported`.
pub fn render(file: &Path, loaded: &LoadedReturns, imported: &ReturnImport) -> ImportReport {
    let mut problems: Vec<String> = loaded.refused.iter().map(ToString::to_string).collect();
    problems.extend(imported.conflicts.iter().map(|c| {
        format!(
            "{}: debit {:?} was already returned with {} on {}; the stored return stays",
            file.display(),
            c.debit_id,
            c.stored_code,
            c.stored_date
        )
    }));
    let summary = format!(
        "{}: {} imported, {} already stored, {} refused, {} conflicting",
        file.display(),
        crate::text::count(imported.added, "return"),
        imported.unchanged,
        loaded.refused.len(),
        imported.conflicts.len()
    );
    ImportReport { problems, summary }
}
