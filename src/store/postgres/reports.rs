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
use super::rows::{OUTBOX_RUN_ID, RUN_COLUMNS, run_records, run_state};
use super::sql::{self, cents, count};
use crate::store::types::{MonitorId, RunId};
use crate::store::{
    AuthorizerCheck, CheckOutcome, HistoryQuery, NotificationCounts, Reports, RunCounts,
    RunNotifications, RunOverview, StoreError, UndeliveredNotification,
};

impl Reports for PostgresStore {
    fn authorizer_checks(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let checks = sql::all(
                    tx,
                    HISTORY_SQL,
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
                sql::opt(tx, "SELECT id FROM monitors WHERE name = $1", &[&name])
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
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                     WHERE $1::BIGINT IS NULL OR r.monitor_id = $1 ORDER BY r.id DESC LIMIT $2"
                );
                let runs = run_records(
                    &sql::all(tx, &sql, &[&monitor.map(|m| m.0), &i64::from(limit)]).await?,
                )?;
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
                for row in sql::all(
                    tx,
                    "SELECT state, count(*) FROM alerts \
                     WHERE last_run_id = $1 AND state <> 'pending' GROUP BY state",
                    &[&run.0],
                )
                .await?
                {
                    let state: &str = row.try_get(0)?;
                    let number = count(&row, 1)?;
                    if state == "firing" {
                        summary.alerts_firing = number;
                    } else {
                        summary.alerts_resolved = number;
                    }
                }
                summary.counts = notification_counts_by_run(tx)
                    .await?
                    .remove(&run.0)
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT o.route, o.state, o.attempts, o.last_error, o.next_attempt_at \
                     FROM outbox o WHERE o.state <> 'delivered' AND {OUTBOX_RUN_ID} = $1 \
                     ORDER BY o.id"
                );
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

/// Results and pre-flight rejections of the authorizer (`$1`), one row per run, with the
/// run's time and the latest earlier balance; `$2` is `since`, `$3` the limit.
const HISTORY_SQL: &str = "
WITH checks AS (
    SELECT r.run_id, r.outcome, r.balance_cents, r.balance_status_code, r.retrieved_at,
           r.reason
    FROM results r WHERE r.authorizer_unique_id = $1
    UNION ALL
    SELECT p.run_id, 'preflight_rejected', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ, p.reason
    FROM preflight_rejections p
    WHERE p.authorizer_unique_id = $1
      AND p.position = (SELECT min(q.position) FROM preflight_rejections q
                        WHERE q.run_id = p.run_id AND q.authorizer_unique_id = $1)
),
timed AS MATERIALIZED (
    SELECT c.*, m.name AS monitor, coalesce(u.started_at, u.created_at) AS run_time
    FROM checks c JOIN runs u ON u.id = c.run_id JOIN monitors m ON m.id = u.monitor_id
)
SELECT t.run_id, t.monitor, t.run_time, t.outcome, t.balance_cents, t.balance_status_code,
       t.retrieved_at, t.reason,
       (SELECT e.balance_cents FROM timed e
        WHERE e.balance_cents IS NOT NULL
          AND (e.run_time < t.run_time OR (e.run_time = t.run_time AND e.run_id < t.run_id))
        ORDER BY e.run_time DESC, e.run_id DESC LIMIT 1)
FROM timed t
WHERE $2::TIMESTAMPTZ IS NULL OR t.run_time >= $2
ORDER BY t.run_time DESC, t.run_id DESC
LIMIT $3";

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
    Ok(sql::one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM results WHERE authorizer_unique_id = $1) \
             OR EXISTS (SELECT 1 FROM preflight_rejections WHERE authorizer_unique_id = $1) \
             OR EXISTS (SELECT 1 FROM batch_members WHERE authorizer_unique_id = $1)",
        &[&authorizer],
    )
    .await?
    .try_get(0)?)
}

async fn run_counts(tx: &Transaction<'_>, run: RunId) -> Result<RunCounts, OpError> {
    let mut counts = RunCounts::default();
    for row in sql::all(
        tx,
        "SELECT outcome, balance_status_code = 0, count(*) FROM results \
         WHERE run_id = $1 GROUP BY 1, 2",
        &[&run.0],
    )
    .await?
    {
        let outcome: &str = row.try_get(0)?;
        let succeeded: Option<bool> = row.try_get(1)?;
        let number = count(&row, 2)?;
        match (outcome, succeeded) {
            ("retrieved", Some(true)) => counts.succeeded += number,
            ("retrieved", _) => counts.failed += number,
            ("not_retrieved", _) => counts.not_retrieved += number,
            _ => counts.rejected += number,
        }
    }
    counts.preflight_rejected = count(
        &sql::one(
            tx,
            "SELECT count(*) FROM preflight_rejections WHERE run_id = $1",
            &[&run.0],
        )
        .await?,
        0,
    )?;
    Ok(counts)
}

/// Notification counts of every run that has any, by run id: one pass over the outbox.
async fn notification_counts_by_run(
    tx: &Transaction<'_>,
) -> Result<HashMap<i64, NotificationCounts>, OpError> {
    let mut counts: HashMap<i64, NotificationCounts> = HashMap::new();
    let sql = format!(
        "SELECT run, state, count(*) FROM \
             (SELECT {OUTBOX_RUN_ID} AS run, o.state FROM outbox o) AS linked \
         WHERE run IS NOT NULL GROUP BY 1, 2"
    );
    for row in sql::all(tx, &sql, &[]).await? {
        let run: i64 = row.try_get(0)?;
        let state: &str = row.try_get(1)?;
        let number = count(&row, 2)?;
        let entry = counts.entry(run).or_default();
        match state {
            "delivered" => entry.delivered += number,
            "failed" => entry.failed += number,
            _ => entry.pending += number,
        }
    }
    Ok(counts)
}
