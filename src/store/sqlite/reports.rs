//! The terminal's reports on SQLite ([`Reports`]): an authorizer's checks across runs,
//! recent runs with their counts, and a run's notifications (an outbox row belongs to
//! the run its payload names, `rows::OUTBOX_RUN_ID`). Each answers from one snapshot.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::columns::{count, optional_cents, optional_time, time, time_text};
use super::error::OpError;
use super::rows::{OUTBOX_RUN_ID, RUN_COLUMNS, run_record, run_state};
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
                    .prepare(HISTORY_SQL)?
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
                    .query_row(
                        "SELECT id FROM monitors WHERE name = ?1",
                        params![name],
                        |row| row.get(0),
                    )
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
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                     WHERE ?1 IS NULL OR r.monitor_id = ?1 ORDER BY r.id DESC LIMIT ?2"
                );
                let runs = transaction
                    .prepare(&sql)?
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
                let mut alerts = transaction.prepare(
                    "SELECT state, count(*) FROM alerts \
                     WHERE last_run_id = ?1 AND state <> 'pending' GROUP BY state",
                )?;
                for row in alerts.query_map(params![run.0], |row| {
                    Ok((row.get::<_, String>(0)?, count(row, 1)?))
                })? {
                    match row? {
                        (state, number) if state == "firing" => summary.alerts_firing = number,
                        (_, number) => summary.alerts_resolved = number,
                    }
                }
                summary.counts = notification_counts_by_run(transaction)?
                    .remove(&run.0)
                    .unwrap_or_default();
                summary.undelivered = transaction
                    .prepare(&format!(
                        "SELECT o.route, o.state, o.attempts, o.last_error, o.next_attempt_at \
                         FROM outbox o WHERE o.state <> 'delivered' AND {OUTBOX_RUN_ID} = ?1 \
                         ORDER BY o.id"
                    ))?
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

/// Results and pre-flight rejections of the authorizer (`?1`), one row per run, with the
/// run's time and the latest earlier balance; `?2` is `since`, `?3` the limit.
const HISTORY_SQL: &str = "
WITH checks AS (
    SELECT r.run_id, r.outcome, r.balance_cents, r.balance_status_code, r.retrieved_at,
           r.reason
    FROM results r WHERE r.authorizer_unique_id = ?1
    UNION ALL
    -- A duplicate row is rejected once per position; one line per run is enough.
    SELECT p.run_id, 'preflight_rejected', NULL, NULL, NULL, p.reason
    FROM preflight_rejections p
    WHERE p.authorizer_unique_id = ?1
      AND p.position = (SELECT min(q.position) FROM preflight_rejections q
                        WHERE q.run_id = p.run_id AND q.authorizer_unique_id = ?1)
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
WHERE ?2 IS NULL OR t.run_time >= ?2
ORDER BY t.run_time DESC, t.run_id DESC
LIMIT ?3";

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

/// Whether any run ever included the authorizer. The indexed table first: the member
/// list has no index by authorizer alone, and is scanned only for an unknown id.
pub(super) fn authorizer_known(
    transaction: &Transaction<'_>,
    authorizer: &str,
) -> Result<bool, OpError> {
    Ok(transaction.query_row(
        "SELECT EXISTS (SELECT 1 FROM results WHERE authorizer_unique_id = ?1) \
             OR EXISTS (SELECT 1 FROM preflight_rejections WHERE authorizer_unique_id = ?1) \
             OR EXISTS (SELECT 1 FROM batch_members WHERE authorizer_unique_id = ?1)",
        params![authorizer],
        |row| row.get(0),
    )?)
}

fn run_counts(transaction: &Transaction<'_>, run: RunId) -> Result<RunCounts, OpError> {
    let mut counts = RunCounts::default();
    let mut by_outcome = transaction.prepare_cached(
        "SELECT outcome, balance_status_code = 0, count(*) FROM results \
         WHERE run_id = ?1 GROUP BY 1, 2",
    )?;
    for row in by_outcome.query_map(params![run.0], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<bool>>(1)?,
            count(row, 2)?,
        ))
    })? {
        match row? {
            (outcome, Some(true), number) if outcome == "retrieved" => counts.succeeded += number,
            (outcome, _, number) if outcome == "retrieved" => counts.failed += number,
            (outcome, _, number) if outcome == "not_retrieved" => counts.not_retrieved += number,
            (_, _, number) => counts.rejected += number,
        }
    }
    counts.preflight_rejected = transaction
        .prepare_cached("SELECT count(*) FROM preflight_rejections WHERE run_id = ?1")?
        .query_row(params![run.0], |row| count(row, 0))?;
    Ok(counts)
}

/// Notification counts of every run that has any, by run id: one pass over the outbox.
fn notification_counts_by_run(
    transaction: &Transaction<'_>,
) -> Result<HashMap<i64, NotificationCounts>, OpError> {
    let mut counts: HashMap<i64, NotificationCounts> = HashMap::new();
    let mut statement = transaction.prepare(&format!(
        "SELECT {OUTBOX_RUN_ID} AS run, o.state, count(*) FROM outbox o \
         WHERE run IS NOT NULL GROUP BY 1, 2"
    ))?;
    for row in statement.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            count(row, 2)?,
        ))
    })? {
        let (run, state, number) = row?;
        let entry = counts.entry(run).or_default();
        match state.as_str() {
            "delivered" => entry.delivered += number,
            "failed" => entry.failed += number,
            _ => entry.pending += number,
        }
    }
    Ok(counts)
}
