//! The terminal's reports on SQLite ([`Reports`]): an authorizer's checks across runs,
//! recent runs with their counts, and a run's notifications (an outbox row belongs to
//! the run its payload names, `rows::OUTBOX_RUN_ID`). Each answers from one snapshot.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::columns::{count, optional_cents, optional_time, time, time_text};
use super::error::OpError;
use super::rows::{OUTBOX_RUN_ID, run_record, run_state};
use crate::store::statements::reports::{
    AUTHORIZER_KNOWN, HISTORY, PREFLIGHT_COUNT, RECENT_RUNS, RESULT_COUNTS, RUN_ALERT_STATES,
    notification_counts_by_run as notification_counts_by_run_sql, undelivered_of_run,
};
use crate::store::statements::runs::MONITOR_ID;
use crate::store::types::{MonitorId, RunId};
use crate::store::{
    AuthorizerCheck, CheckOutcome, HistoryQuery, NotificationCounts, Reports, RunCounts,
    RunNotifications, RunOverview, StoreError, UndeliveredNotification,
};

impl Reports for SqliteStore {
    fn authorizer_checks(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let checks = transaction
                    .prepare(HISTORY)?
                    .query_map(
                        params![
                            query.authorizer_unique_id,
                            query.since.map(time_text),
                            query.limit
                        ],
                        authorizer_check,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                if checks.is_empty() && !authorizer_known(transaction, &query.authorizer_unique_id)?
                {
                    return Ok(None);
                }
                Ok(Some(checks))
            })
            .await
        })
    }

    fn monitor_id<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<MonitorId>, StoreError>> {
        Box::pin(async move {
            let name = name.to_string();
            self.read(move |transaction| {
                Ok(transaction
                    .query_row(MONITOR_ID, params![name], |row| row.get(0))
                    .optional()?
                    .map(MonitorId))
            })
            .await
        })
    }

    fn recent_runs(
        &self,
        monitor: Option<MonitorId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunOverview>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let runs = transaction
                    .prepare(RECENT_RUNS)?
                    .query_map(params![monitor.map(|m| m.0), limit], run_record)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let notifications = notification_counts_by_run(transaction)?;
                runs.into_iter()
                    .map(|run| {
                        Ok(RunOverview {
                            counts: run_counts(transaction, run.id)?,
                            notifications: notifications
                                .get(&run.id.0)
                                .copied()
                                .unwrap_or_default(),
                            run,
                        })
                    })
                    .collect()
            })
            .await
        })
    }

    fn run_notifications(&self, run: RunId) -> BoxFuture<'_, Result<RunNotifications, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                run_state(transaction, run)?;
                let mut summary = RunNotifications::default();
                let mut alerts = transaction.prepare(RUN_ALERT_STATES)?;
                for row in alerts.query_map(params![run.0], |row| {
                    Ok((row.get::<_, String>(0)?, count(row, 1)?))
                })? {
                    let (state, number) = row?;
                    summary.add_alerts(&state, number);
                }
                summary.counts = notification_counts_by_run(transaction)?
                    .remove(&run.0)
                    .unwrap_or_default();
                summary.undelivered = transaction
                    .prepare(&undelivered_of_run(OUTBOX_RUN_ID))?
                    .query_map(params![run.0], |row| {
                        Ok(UndeliveredNotification {
                            route: row.get(0)?,
                            state: row.get(1)?,
                            attempts: count(row, 2)?,
                            last_error: row.get(3)?,
                            next_attempt_at: time(row, 4)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(summary)
            })
            .await
        })
    }
}

pub(super) fn authorizer_check(row: &Row<'_>) -> rusqlite::Result<AuthorizerCheck> {
    let outcome: String = row.get(3)?;
    Ok(AuthorizerCheck {
        run: RunId(row.get(0)?),
        monitor_name: row.get(1)?,
        run_time: time(row, 2)?,
        outcome: CheckOutcome::from_db(&outcome).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unexpected outcome {outcome:?}").into(),
            )
        })?,
        balance: optional_cents(row, 4)?,
        balance_status_code: row.get(5)?,
        retrieved_at: optional_time(row, 6)?,
        reason: row.get(7)?,
        previous_balance: optional_cents(row, 8)?,
    })
}

/// Whether any run ever included the authorizer.
pub(super) fn authorizer_known(
    transaction: &Transaction<'_>,
    authorizer: &str,
) -> Result<bool, OpError> {
    Ok(transaction.query_row(AUTHORIZER_KNOWN, params![authorizer], |row| row.get(0))?)
}

fn run_counts(transaction: &Transaction<'_>, run: RunId) -> Result<RunCounts, OpError> {
    let mut counts = RunCounts::default();
    let mut by_outcome = transaction.prepare_cached(RESULT_COUNTS)?;
    for row in by_outcome.query_map(params![run.0], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<bool>>(1)?,
            count(row, 2)?,
        ))
    })? {
        let (outcome, succeeded, number) = row?;
        counts.add(&outcome, succeeded, number);
    }
    counts.preflight_rejected = transaction
        .prepare_cached(PREFLIGHT_COUNT)?
        .query_row(params![run.0], |row| count(row, 0))?;
    Ok(counts)
}

/// Notification counts of every run that has any, by run id: one pass over the outbox.
fn notification_counts_by_run(
    transaction: &Transaction<'_>,
) -> Result<HashMap<i64, NotificationCounts>, OpError> {
    let mut counts: HashMap<i64, NotificationCounts> = HashMap::new();
    let mut statement = transaction.prepare(&notification_counts_by_run_sql(OUTBOX_RUN_ID))?;
    for row in statement.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            count(row, 2)?,
        ))
    })? {
        let (run, state, number) = row?;
        counts.entry(run).or_default().add(&state, number);
    }
    Ok(counts)
}
