//! Decisions and returns on SQLite ([`DebitLedger`]): the `debit_decisions` and
//! `debit_returns` tables (0010).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use super::columns::{optional_cents, optional_time, text_enum, time_text};
use crate::domain::{Cents, Decision};
use crate::store::StoreError;
use crate::store::debits::{
    DebitLedger, DecisionQuery, DecisionRow, DecisionTally, NewReturn, ReturnImport,
    StoredDecision, returned_in_a_row,
};
use crate::store::types::RunId;

const DATE: &str = "%Y-%m-%d";

fn date_text(date: NaiveDate) -> String {
    date.format(DATE).to_string()
}

fn date(row: &Row<'_>, column: usize) -> rusqlite::Result<NaiveDate> {
    let text: String = row.get(column)?;
    NaiveDate::parse_from_str(&text, DATE)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, e.into()))
}

fn decision_row(row: &Row<'_>) -> rusqlite::Result<DecisionRow> {
    Ok(DecisionRow {
        debit_id: row.get(0)?,
        authorizer_unique_id: row.get(1)?,
        debit_date: date(row, 2)?,
        settles_on: date(row, 3)?,
        amount: Cents(row.get(4)?),
        decision: text_enum(row, 5, Decision::parse)?,
        reason: row.get(6)?,
        balance: optional_cents(row, 7)?,
        checked_at: optional_time(row, 8)?,
    })
}

impl DebitLedger for SqliteStore {
    fn record_decisions(
        &self,
        run: RunId,
        decisions: Vec<DecisionRow>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            let mut insert = transaction.prepare_cached(
                "INSERT OR REPLACE INTO debit_decisions (run_id, debit_id, authorizer_unique_id, \
                     debit_date, settles_on, amount_cents, decision, reason, balance_cents, \
                     checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for d in &decisions {
                insert.execute(params![
                    run.0,
                    d.debit_id,
                    d.authorizer_unique_id,
                    date_text(d.debit_date),
                    date_text(d.settles_on),
                    d.amount.0,
                    d.decision.as_str(),
                    d.reason,
                    d.balance.map(|b| b.0),
                    d.checked_at.map(time_text),
                ])?;
            }
            Ok(())
        }))
    }

    fn run_decisions(&self, run: RunId) -> BoxFuture<'_, Result<Vec<DecisionRow>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT debit_id, authorizer_unique_id, debit_date, settles_on, amount_cents, \
                     decision, reason, balance_cents, checked_at FROM debit_decisions \
                 WHERE run_id = ?1 ORDER BY authorizer_unique_id, debit_id",
            )?;
            let rows = statement
                .query_map(params![run.0], decision_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn latest_decisions(
        &self,
        query: DecisionQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredDecision>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            // A date's or an authorizer's decisions are found through their index; a test
            // of the parameter for NULL inside an OR would keep the planner from it.
            let settles_on = match query.settles_on {
                Some(_) => "d.settles_on = ?1",
                None => "?1 IS NULL",
            };
            let authorizer = match query.authorizer {
                Some(_) => "d.authorizer_unique_id = ?3",
                None => "?3 IS NULL",
            };
            // `CROSS JOIN` keeps SQLite's join order: the debit's few rows first (by
            // its index), then their runs. Left to itself the planner may walk every run
            // of the monitor for each row instead, a hundred times slower at 700,000
            // decisions.
            let mut statement = transaction.prepare_cached(&format!(
                "SELECT d.debit_id, d.authorizer_unique_id, d.debit_date, d.settles_on, \
                     d.amount_cents, d.decision, d.reason, d.balance_cents, d.checked_at, \
                     m.name, d.run_id \
                 FROM debit_decisions d JOIN runs r ON r.id = d.run_id \
                     JOIN monitors m ON m.id = r.monitor_id \
                 WHERE {settles_on} AND (?2 IS NULL OR m.name = ?2) \
                   AND {authorizer} AND d.run_id = (SELECT max(l.run_id) FROM debit_decisions l \
                                   CROSS JOIN runs lr ON lr.id = l.run_id \
                                   WHERE l.debit_id = d.debit_id \
                                     AND lr.monitor_id = r.monitor_id) \
                 ORDER BY m.name, d.settles_on, d.authorizer_unique_id, d.debit_id"
            ))?;
            let rows = statement
                .query_map(
                    params![
                        query.settles_on.map(date_text),
                        query.monitor,
                        query.authorizer
                    ],
                    |row| {
                        Ok(StoredDecision {
                            decision: decision_row(row)?,
                            monitor: row.get(9)?,
                            run: RunId(row.get(10)?),
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn decision_tally(
        &self,
        from: NaiveDate,
        through: NaiveDate,
        monitor: Option<String>,
    ) -> BoxFuture<'_, Result<DecisionTally, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT d.decision, r.return_code \
                 FROM debit_decisions d JOIN runs ru ON ru.id = d.run_id \
                     JOIN monitors m ON m.id = ru.monitor_id \
                     LEFT JOIN debit_returns r ON r.debit_id = d.debit_id \
                 WHERE d.settles_on >= ?1 AND d.settles_on <= ?2 \
                   AND (?3 IS NULL OR m.name = ?3) \
                   AND d.run_id = (SELECT max(l.run_id) FROM debit_decisions l \
                                   CROSS JOIN runs lr ON lr.id = l.run_id \
                                   WHERE l.debit_id = d.debit_id \
                                     AND lr.monitor_id = ru.monitor_id)",
            )?;
            let mut rows =
                statement.query(params![date_text(from), date_text(through), monitor])?;
            let mut tally = DecisionTally::default();
            while let Some(row) = rows.next()? {
                let decision = text_enum(row, 0, Decision::parse)?;
                let code: Option<String> = row.get(1)?;
                tally.add(decision, code.as_deref());
            }
            Ok(tally)
        }))
    }

    fn import_returns(
        &self,
        returns: Vec<NewReturn>,
        imported_at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<ReturnImport, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let mut outcome = ReturnImport::default();
            let mut find = transaction.prepare_cached(
                "SELECT return_code, return_date FROM debit_returns WHERE debit_id = ?1",
            )?;
            let mut insert = transaction.prepare_cached(
                "INSERT INTO debit_returns (debit_id, return_code, return_date, imported_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let imported_at = time_text(imported_at);
            for r in &returns {
                let stored = find
                    .query_row(params![r.debit_id], |row| {
                        Ok((row.get::<_, String>(0)?, date(row, 1)?))
                    })
                    .optional()?;
                if outcome.add(r, stored) {
                    insert.execute(params![
                        r.debit_id,
                        r.return_code,
                        date_text(r.return_date),
                        imported_at
                    ])?;
                }
            }
            Ok(outcome)
        }))
    }

    fn returns_in_a_row(
        &self,
        authorizers: Vec<String>,
        settled_before: NaiveDate,
    ) -> BoxFuture<'_, Result<BTreeMap<String, u32>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            // Each debit's latest decision, newest settlement first; a returned debit
            // was sent whatever its latest decision says.
            let mut statement = transaction.prepare_cached(
                "SELECT d.decision = 'send' OR r.debit_id IS NOT NULL, r.debit_id IS NOT NULL \
                 FROM debit_decisions d LEFT JOIN debit_returns r ON r.debit_id = d.debit_id \
                 WHERE d.authorizer_unique_id = ?1 AND d.settles_on < ?2 \
                   AND d.run_id = (SELECT max(run_id) FROM debit_decisions l \
                                   WHERE l.debit_id = d.debit_id) \
                 ORDER BY d.settles_on DESC, d.debit_id DESC",
            )?;
            let before = date_text(settled_before);
            let mut counts = BTreeMap::new();
            for authorizer in authorizers {
                let debits = statement
                    .query_map(params![authorizer, before], |row| {
                        Ok((row.get::<_, bool>(0)?, row.get::<_, bool>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let in_a_row = returned_in_a_row(debits);
                if in_a_row > 0 {
                    counts.insert(authorizer, in_a_row);
                }
            }
            Ok(counts)
        }))
    }
}
