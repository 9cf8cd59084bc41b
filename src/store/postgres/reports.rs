//! The terminal's reports on PostgreSQL ([`Reports`]): an authorizer's checks across
//! runs, recent runs with their counts, and a run's notifications (an outbox row
//! belongs to the run its payload names, `rows::OUTBOX_RUN_ID`). Each answers from one
//! snapshot.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::OpError;
use super::rows::{OUTBOX_RUN_ID, run_records, run_state};
use super::sql::{self, cents, count};
use crate::store::statements::{dollars, reports, respell, runs};
use crate::store::types::{MonitorId, RunId};
use crate::store::{
    AuthorizerCheck, CheckOutcome, HistoryQuery, NotificationCounts, Reports, RunCounts,
    RunNotifications, RunOverview, StoreError, UndeliveredNotification,
};

/// The statements of this file, in PostgreSQL's spelling.
const HISTORY: &str = dollars!(reports::HISTORY);
const MONITOR_ID: &str = dollars!(runs::MONITOR_ID);
const RECENT_RUNS: &str = dollars!(reports::RECENT_RUNS);
const RUN_ALERT_STATES: &str = dollars!(reports::RUN_ALERT_STATES);
const AUTHORIZER_KNOWN: &str = dollars!(reports::AUTHORIZER_KNOWN);
const RESULT_COUNTS: &str = dollars!(reports::RESULT_COUNTS);
const PREFLIGHT_COUNT: &str = dollars!(reports::PREFLIGHT_COUNT);

impl Reports for PostgresStore {
    fn authorizer_checks(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let checks = sql::all(
                    tx,
                    HISTORY,
                    &[
                        &query.authorizer_unique_id,
                        &query.since,
                        &i64::from(query.limit),
                    ],
                )
                .await?
                .iter()
                .map(authorizer_check)
                .collect::<Result<Vec<_>, OpError>>()?;
                if checks.is_empty() && !authorizer_known(tx, &query.authorizer_unique_id).await? {
                    return Ok(None);
                }
                Ok(Some(checks))
            })
        }))
    }

    fn monitor_id<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<MonitorId>, StoreError>> {
        let name = name.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::opt(tx, MONITOR_ID, &[&name])
                    .await?
                    .map(|row| Ok(MonitorId(row.try_get(0)?)))
                    .transpose()
            })
        }))
    }

    fn recent_runs(
        &self,
        monitor: Option<MonitorId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunOverview>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let values: sql::Params<'_> = &[&monitor.map(|m| m.0), &i64::from(limit)];
                let runs = run_records(&sql::all(tx, RECENT_RUNS, values).await?)?;
                let notifications = notification_counts_by_run(tx).await?;
                let mut overviews = Vec::with_capacity(runs.len());
                for run in runs {
                    overviews.push(RunOverview {
                        counts: run_counts(tx, run.id).await?,
                        notifications: notifications.get(&run.id.0).copied().unwrap_or_default(),
                        run,
                    });
                }
                Ok(overviews)
            })
        }))
    }

    fn run_notifications(&self, run: RunId) -> BoxFuture<'_, Result<RunNotifications, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                run_state(tx, run).await?;
                let mut summary = RunNotifications::default();
                for row in sql::all(tx, RUN_ALERT_STATES, &[&run.0]).await? {
                    summary.add_alerts(row.try_get(0)?, count(&row, 1)?);
                }
                summary.counts = notification_counts_by_run(tx)
                    .await?
                    .remove(&run.0)
                    .unwrap_or_default();
                let sql = respell(&reports::undelivered_of_run(OUTBOX_RUN_ID));
                summary.undelivered = sql::all(tx, &sql, &[&run.0])
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(UndeliveredNotification {
                            route: row.try_get(0)?,
                            state: row.try_get(1)?,
                            attempts: count(row, 2)?,
                            last_error: row.try_get(3)?,
                            next_attempt_at: row.try_get(4)?,
                        })
                    })
                    .collect::<Result<_, OpError>>()?;
                Ok(summary)
            })
        }))
    }
}

pub(super) fn authorizer_check(row: &Row) -> Result<AuthorizerCheck, OpError> {
    let outcome: &str = row.try_get(3)?;
    Ok(AuthorizerCheck {
        run: RunId(row.try_get(0)?),
        monitor_name: row.try_get(1)?,
        run_time: row.try_get(2)?,
        outcome: CheckOutcome::from_db(outcome)
            .ok_or_else(|| OpError::unexpected(format!("unexpected outcome {outcome:?}")))?,
        balance: cents(row, 4)?,
        balance_status_code: row.try_get(5)?,
        retrieved_at: row.try_get(6)?,
        reason: row.try_get(7)?,
        previous_balance: cents(row, 8)?,
    })
}

/// Whether any run ever included the authorizer.
pub(super) async fn authorizer_known(
    tx: &Transaction<'_>,
    authorizer: &str,
) -> Result<bool, OpError> {
    Ok(sql::one(tx, AUTHORIZER_KNOWN, &[&authorizer])
        .await?
        .try_get(0)?)
}

async fn run_counts(tx: &Transaction<'_>, run: RunId) -> Result<RunCounts, OpError> {
    let mut counts = RunCounts::default();
    for row in sql::all(tx, RESULT_COUNTS, &[&run.0]).await? {
        counts.add(row.try_get(0)?, row.try_get(1)?, count(&row, 2)?);
    }
    counts.preflight_rejected = count(&sql::one(tx, PREFLIGHT_COUNT, &[&run.0]).await?, 0)?;
    Ok(counts)
}

/// Notification counts of every run that has any, by run id: one pass over the outbox.
async fn notification_counts_by_run(
    tx: &Transaction<'_>,
) -> Result<HashMap<i64, NotificationCounts>, OpError> {
    let mut counts: HashMap<i64, NotificationCounts> = HashMap::new();
    let sql = respell(&reports::notification_counts_by_run(OUTBOX_RUN_ID));
    for row in sql::all(tx, &sql, &[]).await? {
        let run: i64 = row.try_get(0)?;
        counts
            .entry(run)
            .or_default()
            .add(row.try_get(1)?, count(&row, 2)?);
    }
    Ok(counts)
}
