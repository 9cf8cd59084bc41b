//! Decisions and returns on PostgreSQL ([`DebitLedger`]): the `debit_decisions` and
//! `debit_returns` tables (0010), dates as `DATE`. What a tally or an import counts is
//! the interface's (`DecisionTally::add`, `ReturnImport::add`, `returned_in_a_row`), as
//! on SQLite.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::OpError;
use super::sql::{self, cents, text_enum};
use crate::domain::{Cents, Decision};
use crate::store::StoreError;
use crate::store::debits::{
    DebitLedger, DecisionQuery, DecisionRow, DecisionTally, NewReturn, ReturnImport,
    StoredDecision, returned_in_a_row,
};
use crate::store::statements::{debits, dollars, respell};
use crate::store::types::RunId;

/// The statements of this file, in PostgreSQL's spelling.
const RECORD_DECISION: &str = dollars!(debits::RECORD_DECISION);
const RUN_DECISIONS: &str = dollars!(debits::RUN_DECISIONS);
const FIND_RETURN: &str = dollars!(debits::FIND_RETURN);
const INSERT_RETURN: &str = dollars!(debits::INSERT_RETURN);
const SENT_AND_RETURNED: &str = dollars!(debits::SENT_AND_RETURNED);

fn decision_row(row: &Row) -> Result<DecisionRow, OpError> {
    Ok(DecisionRow {
        debit_id: row.try_get(0)?,
        authorizer_unique_id: row.try_get(1)?,
        debit_date: row.try_get(2)?,
        settles_on: row.try_get(3)?,
        amount: Cents(row.try_get(4)?),
        decision: text_enum(row, 5, Decision::parse)?,
        reason: row.try_get(6)?,
        balance: cents(row, 7)?,
        checked_at: row.try_get(8)?,
    })
}

impl DebitLedger for PostgresStore {
    fn record_decisions(
        &self,
        run: RunId,
        decisions: Vec<DecisionRow>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                for d in &decisions {
                    sql::exec(
                        tx,
                        RECORD_DECISION,
                        &[
                            &run.0,
                            &d.debit_id,
                            &d.authorizer_unique_id,
                            &d.debit_date,
                            &d.settles_on,
                            &d.amount.0,
                            &d.decision.as_str(),
                            &d.reason,
                            &d.balance.map(|b| b.0),
                            &d.checked_at,
                        ],
                    )
                    .await?;
                }
                Ok(())
            })
        }))
    }

    fn run_decisions(&self, run: RunId) -> BoxFuture<'_, Result<Vec<DecisionRow>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, RUN_DECISIONS, &[&run.0])
                    .await?
                    .iter()
                    .map(decision_row)
                    .collect()
            })
        }))
    }

    fn latest_decisions(
        &self,
        query: DecisionQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredDecision>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let sql = respell(&debits::latest_decisions(&query, "JOIN"));
                sql::all(
                    tx,
                    &sql,
                    &[&query.settles_on, &query.monitor, &query.authorizer],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok(StoredDecision {
                        decision: decision_row(row)?,
                        monitor: row.try_get(9)?,
                        run: RunId(row.try_get(10)?),
                    })
                })
                .collect()
            })
        }))
    }

    fn decision_tally(
        &self,
        from: NaiveDate,
        through: NaiveDate,
        monitor: Option<String>,
    ) -> BoxFuture<'_, Result<DecisionTally, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let sql = respell(&debits::decision_tally("JOIN"));
                let mut tally = DecisionTally::default();
                for row in sql::all(tx, &sql, &[&from, &through, &monitor]).await? {
                    let decision = text_enum(&row, 0, Decision::parse)?;
                    tally.add(decision, row.try_get(1)?);
                }
                Ok(tally)
            })
        }))
    }

    fn import_returns(
        &self,
        returns: Vec<NewReturn>,
        imported_at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<ReturnImport, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let mut outcome = ReturnImport::default();
                for r in &returns {
                    let stored = sql::opt(tx, FIND_RETURN, &[&r.debit_id])
                        .await?
                        .map(|row| Ok::<_, OpError>((row.try_get(0)?, row.try_get(1)?)))
                        .transpose()?;
                    if outcome.add(r, stored) {
                        sql::exec(
                            tx,
                            INSERT_RETURN,
                            &[&r.debit_id, &r.return_code, &r.return_date, &imported_at],
                        )
                        .await?;
                    }
                }
                Ok(outcome)
            })
        }))
    }

    fn returns_in_a_row(
        &self,
        authorizers: Vec<String>,
        settled_before: NaiveDate,
    ) -> BoxFuture<'_, Result<BTreeMap<String, u32>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let mut counts = BTreeMap::new();
                for authorizer in authorizers {
                    let debits = sql::all(tx, SENT_AND_RETURNED, &[&authorizer, &settled_before])
                        .await?
                        .iter()
                        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                        .collect::<Result<Vec<(bool, bool)>, OpError>>()?;
                    let in_a_row = returned_in_a_row(debits);
                    if in_a_row > 0 {
                        counts.insert(authorizer, in_a_row);
                    }
                }
                Ok(counts)
            })
        }))
    }
}
