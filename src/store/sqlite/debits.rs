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
use crate::store::statements::debits::{
    FIND_RETURN, INSERT_RETURN, RECORD_DECISION, RUN_DECISIONS, SENT_AND_RETURNED, decision_tally,
    latest_decisions,
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

/// How the latest decision's subquery joins runs: see `statements::debits`.
const JOIN: &str = "CROSS JOIN";

impl DebitLedger for SqliteStore {
    fn record_decisions(
        &self,
        run: RunId,
        decisions: Vec<DecisionRow>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            let mut insert = transaction.prepare_cached(RECORD_DECISION)?;
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
            let mut statement = transaction.prepare_cached(RUN_DECISIONS)?;
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
            let mut statement = transaction.prepare_cached(&latest_decisions(&query, JOIN))?;
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
            let mut statement = transaction.prepare_cached(&decision_tally(JOIN))?;
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
            let mut find = transaction.prepare_cached(FIND_RETURN)?;
            let mut insert = transaction.prepare_cached(INSERT_RETURN)?;
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
            let mut statement = transaction.prepare_cached(SENT_AND_RETURNED)?;
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
