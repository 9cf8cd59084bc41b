//! `balance-monitor debits`: each debit's latest decision, as a table, as CSV (with
//! `--decision send`, the send file an ACH origination system can take) or as JSON.
//!
//! The rows come from the store (`DebitLedger::latest_decisions`); rendering is pure
//! functions of them. Nothing here is personal data: ids, dates, amounts, balances and
//! reasons written from figures.

use std::io::Write;

use super::timefmt::table;
use super::{open_store, write_out};
use crate::config::Config;
use crate::debits::DecisionJson;
use crate::domain::Decision;
use crate::store::{DecisionQuery, StoredDecision};

/// How `debits` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebitsFormat {
    Table,
    Csv,
    Json,
}

/// `debits`: the latest decisions matching `query` and `decisions` (every kind when
/// empty), written to `out` in `format`.
pub async fn debits(
    config: &Config,
    query: DecisionQuery,
    decisions: &[Decision],
    format: DebitsFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let rows = store.latest_decisions(query).await;
    store.close().await;
    let rows: Vec<StoredDecision> = rows?
        .into_iter()
        .filter(|row| decisions.is_empty() || decisions.contains(&row.decision.decision))
        .collect();
    write_out(out, &render(&rows, format)?)
}

/// The rows in `format`.
pub fn render(rows: &[StoredDecision], format: DebitsFormat) -> anyhow::Result<String> {
    Ok(match format {
        DebitsFormat::Table => render_table(rows),
        DebitsFormat::Csv => crate::debits::decisions_csv(rows)?,
        DebitsFormat::Json => {
            let items: Vec<DecisionJson<'_>> = rows.iter().map(DecisionJson::from).collect();
            format!("{}\n", serde_json::to_string_pretty(&items)?)
        }
    })
}

fn money(cents: Option<crate::domain::Cents>) -> String {
    cents.map(|c| c.to_decimal_string()).unwrap_or_default()
}

fn render_table(rows: &[StoredDecision]) -> String {
    if rows.is_empty() {
        return "no decisions\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let d = &row.decision;
            vec![
                row.monitor.clone(),
                d.settles_on.format("%a %Y-%m-%d").to_string(),
                d.debit_id.clone(),
                d.authorizer_unique_id.clone(),
                d.amount.to_decimal_string(),
                money(d.balance),
                d.decision.to_string(),
                d.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "monitor",
            "settles",
            "debit",
            "authorizer",
            "amount",
            "balance",
            "decision",
            "reason",
        ],
        &cells,
        &[4, 5],
    )
}

/// `debits report`: how the decisions about the debits settling from `from` through
/// `through` held up, written to `out`.
pub async fn report(
    config: &Config,
    from: chrono::NaiveDate,
    through: chrono::NaiveDate,
    monitor: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let tally = store.decision_tally(from, through, monitor).await;
    store.close().await;
    write_out(out, &render_tally(from, through, &tally?))
}

/// The report's lines.
pub fn render_tally(
    from: chrono::NaiveDate,
    through: chrono::NaiveDate,
    tally: &crate::store::DecisionTally,
) -> String {
    let share = |n: u64| match tally.send {
        0 => String::new(),
        sent => {
            let tenths = n * 1000 / sent;
            format!(" ({}.{}% of those sent)", tenths / 10, tenths % 10)
        }
    };
    format!(
        "debits settling {from} through {through}: {} sent, {} held, {} unknown\n\
         sent, then returned for insufficient funds (R01, R09): {}{}\n\
         sent, then returned otherwise: {}{}\n",
        tally.send,
        tally.hold,
        tally.unknown,
        tally.sent_returned_for_funds,
        share(tally.sent_returned_for_funds),
        tally.sent_returned_otherwise,
        share(tally.sent_returned_otherwise),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DecisionTally;

    #[test]
    fn the_report_counts_and_shares_without_floats() {
        let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let tally = DecisionTally {
            send: 3,
            hold: 1,
            unknown: 2,
            sent_returned_for_funds: 1,
            sent_returned_otherwise: 0,
        };
        assert_eq!(
            render_tally(day(1), day(31), &tally),
            "debits settling 2026-12-01 through 2026-12-31: 3 sent, 1 held, 2 unknown\n\
             sent, then returned for insufficient funds (R01, R09): 1 (33.3% of those sent)\n\
             sent, then returned otherwise: 0 (0.0% of those sent)\n"
        );
        let none = render_tally(day(1), day(2), &DecisionTally::default());
        assert!(none.contains("(R01, R09): 0\n"), "{none}");
    }
}
