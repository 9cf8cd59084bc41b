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
use crate::store::types::RunId;

/// Each debit's latest decision in its monitor (`d`, of run `ru`): the run of the
/// monitor that decided it last.
const LATEST: &str = "d.run_id = (SELECT max(l.run_id) FROM debit_decisions l \
     JOIN runs lr ON lr.id = l.run_id \
     WHERE l.debit_id = d.debit_id AND lr.monitor_id = ru.monitor_id)";

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
                        "INSERT INTO debit_decisions (run_id, debit_id, authorizer_unique_id, \
                             debit_date, settles_on, amount_cents, decision, reason, \
                             balance_cents, checked_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (run_id, debit_id) DO UPDATE SET \
                             authorizer_unique_id = excluded.authorizer_unique_id, \
                             debit_date = excluded.debit_date, \
                             settles_on = excluded.settles_on, \
                             amount_cents = excluded.amount_cents, \
                             decision = excluded.decision, reason = excluded.reason, \
                             balance_cents = excluded.balance_cents, \
                             checked_at = excluded.checked_at",
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
                sql::all(
                    tx,
                    "SELECT debit_id, authorizer_unique_id, debit_date, settles_on, \
                         amount_cents, decision, reason, balance_cents, checked_at \
                     FROM debit_decisions WHERE run_id = $1 \
                     ORDER BY authorizer_unique_id, debit_id",
                    &[&run.0],
                )
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
                // A date's or an authorizer's decisions are found through their index,
                // whatever plan the server keeps for the statement.
                let settles_on = match query.settles_on {
                    Some(_) => "d.settles_on = $1",
                    None => "$1::DATE IS NULL",
                };
                let authorizer = match query.authorizer {
                    Some(_) => "d.authorizer_unique_id = $3",
                    None => "$3::TEXT IS NULL",
                };
                let sql = format!(
                    "SELECT d.debit_id, d.authorizer_unique_id, d.debit_date, d.settles_on, \
                         d.amount_cents, d.decision, d.reason, d.balance_cents, d.checked_at, \
                         m.name, d.run_id \
                     FROM debit_decisions d JOIN runs ru ON ru.id = d.run_id \
                         JOIN monitors m ON m.id = ru.monitor_id \
                     WHERE {settles_on} AND ($2::TEXT IS NULL OR m.name = $2) \
                       AND {authorizer} AND {LATEST} \
                     ORDER BY m.name, d.settles_on, d.authorizer_unique_id, d.debit_id"
                );
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
                let sql = format!(
                    "SELECT d.decision, r.return_code \
                     FROM debit_decisions d JOIN runs ru ON ru.id = d.run_id \
                         JOIN monitors m ON m.id = ru.monitor_id \
                         LEFT JOIN debit_returns r ON r.debit_id = d.debit_id \
                     WHERE d.settles_on >= $1 AND d.settles_on <= $2 \
                       AND ($3::TEXT IS NULL OR m.name = $3) AND {LATEST}"
                );
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
                    let stored = sql::opt(
                        tx,
                        "SELECT return_code, return_date FROM debit_returns WHERE debit_id = $1",
                        &[&r.debit_id],
                    )
                    .await?
                    .map(|row| Ok::<_, OpError>((row.try_get(0)?, row.try_get(1)?)))
                    .transpose()?;
                    if outcome.add(r, stored) {
                        sql::exec(
                            tx,
                            "INSERT INTO debit_returns (debit_id, return_code, return_date, \
                                 imported_at) VALUES ($1, $2, $3, $4)",
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
                    // Each debit's latest decision, newest settlement first; a returned
                    // debit was sent whatever its latest decision says.
                    let debits = sql::all(
                        tx,
                        "SELECT d.decision = 'send' OR r.debit_id IS NOT NULL, \
                             r.debit_id IS NOT NULL \
                         FROM debit_decisions d \
                             LEFT JOIN debit_returns r ON r.debit_id = d.debit_id \
                         WHERE d.authorizer_unique_id = $1 AND d.settles_on < $2 \
                           AND d.run_id = (SELECT max(run_id) FROM debit_decisions l \
                                           WHERE l.debit_id = d.debit_id) \
                         ORDER BY d.settles_on DESC, d.debit_id DESC",
                        &[&authorizer, &settled_before],
                    )
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
