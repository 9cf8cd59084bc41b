//! The dashboard's reads on PostgreSQL ([`Dashboard`]), and "retry now" on the outbox.
//!
//! The same questions as on SQLite, through the same indexes: counts through the
//! partial indexes on firing alerts and pending notifications, a run's alerts through
//! `alerts_by_last_run`. The at-risk counts and the timeline's previous balances are
//! worked out in memory by the interface's shared functions, as on SQLite.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::queries::alert_record;
use super::reports::{authorizer_check, authorizer_known};
use super::sql::{self, count, int};
use crate::store::dashboard::{
    AlertFilter, Dashboard, FiringCount, OutboxBacklog, UndeliveredRow, count_at_risk, timeline,
};
use crate::store::queries::paged;
use crate::store::types::{MonitorId, RunId};
use crate::store::{AlertRecord, AlertStateFilter, AuthorizerCheck, Paged, StoreError};

/// An authorizer's checks (`$1`), oldest first, without the balance each changed from:
/// its results and its pre-flight rejections (one line per run), with the run's monitor
/// and time.
const TIMELINE_SQL: &str = "
SELECT c.run_id, m.name, coalesce(u.started_at, u.created_at) AS run_time, c.outcome,
       c.balance_cents, c.balance_status_code, c.retrieved_at, c.reason, NULL::BIGINT
FROM (
    SELECT r.run_id, r.outcome, r.balance_cents, r.balance_status_code, r.retrieved_at,
           r.reason
    FROM results r WHERE r.authorizer_unique_id = $1
    UNION ALL
    SELECT p.run_id, 'preflight_rejected', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ,
           min(p.reason)
    FROM preflight_rejections p WHERE p.authorizer_unique_id = $1 GROUP BY p.run_id
) c JOIN runs u ON u.id = c.run_id JOIN monitors m ON m.id = u.monitor_id
ORDER BY run_time, c.run_id";

/// The columns [`alert_record`] reads, from `alerts a JOIN monitors m`.
const ALERT_COLUMNS: &str = "a.id, a.fingerprint, m.name, a.authorizer_unique_id, a.rule, \
                             a.state, a.severity, a.consecutive_failures, \
                             a.consecutive_passes, a.first_fired_at, a.last_fired_at, \
                             a.last_notified_at, a.resolved_at, a.last_run_id, a.reason";

/// Every row of `rows` as an alert.
fn alert_records(rows: &[tokio_postgres::Row]) -> Result<Vec<AlertRecord>, OpError> {
    rows.iter().map(alert_record).collect()
}

impl Dashboard for PostgresStore {
    fn firing_alert_counts(&self) -> BoxFuture<'_, Result<Vec<FiringCount>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                sql::all(
                    tx,
                    "SELECT m.name, a.severity, count(*) FROM alerts a \
                         JOIN monitors m ON m.id = a.monitor_id \
                     WHERE a.state = 'firing' GROUP BY m.name, a.severity \
                     ORDER BY m.name, a.severity",
                    &[],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok(FiringCount {
                        monitor_name: row.try_get(0)?,
                        severity: row.try_get(1)?,
                        count: row.try_get::<_, i64>(2)?.max(0) as u64,
                    })
                })
                .collect()
            })
        }))
    }

    fn outbox_backlog(&self) -> BoxFuture<'_, Result<Vec<OutboxBacklog>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                // Test notifications (no monitor) first, as SQLite sorts NULL.
                sql::all(
                    tx,
                    "SELECT monitor, count(*) FILTER (WHERE state = 'pending'), \
                         count(*) FILTER (WHERE state = 'failed') FROM outbox \
                     WHERE state IN ('pending', 'failed') GROUP BY monitor \
                     ORDER BY monitor NULLS FIRST",
                    &[],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok(OutboxBacklog {
                        monitor: row.try_get(0)?,
                        pending: row.try_get::<_, i64>(1)?.max(0) as u64,
                        failed: row.try_get::<_, i64>(2)?.max(0) as u64,
                    })
                })
                .collect()
            })
        }))
    }

    fn at_risk_counts(
        &self,
        monitor: MonitorId,
        instants: Vec<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<u64>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let (Some(earliest), Some(latest)) = (
                    instants.iter().min().copied(),
                    instants.iter().max().copied(),
                ) else {
                    return Ok(Vec::new());
                };
                let episodes = sql::all(
                    tx,
                    "SELECT authorizer_unique_id, first_fired_at, resolved_at FROM alerts \
                     WHERE monitor_id = $1 AND authorizer_unique_id IS NOT NULL \
                         AND state <> 'pending' AND first_fired_at <= $2 \
                         AND (resolved_at IS NULL OR resolved_at > $3) \
                     ORDER BY authorizer_unique_id",
                    &[&monitor.0, &latest, &earliest],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get::<_, String>(0)?,
                        row.try_get::<_, DateTime<Utc>>(1)?,
                        row.try_get::<_, Option<DateTime<Utc>>>(2)?,
                    ))
                })
                .collect::<Result<Vec<_>, OpError>>()?;
                Ok(count_at_risk(&episodes, &instants))
            })
        }))
    }

    fn run_alerts(&self, run: RunId) -> BoxFuture<'_, Result<Vec<AlertRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                     WHERE a.last_run_id = $1 AND a.state <> 'pending' ORDER BY a.id"
                );
                alert_records(&sql::all(tx, &sql, &[&run.0]).await?)
            })
        }))
    }

    fn authorizer_timeline(
        &self,
        authorizer: String,
        since: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let checks = sql::all(tx, TIMELINE_SQL, &[&authorizer])
                    .await?
                    .iter()
                    .map(authorizer_check)
                    .collect::<Result<Vec<_>, OpError>>()?;
                if checks.is_empty() && !authorizer_known(tx, &authorizer).await? {
                    return Ok(None);
                }
                Ok(Some(timeline(checks, since, limit)))
            })
        }))
    }

    fn authorizer_alerts<'a>(
        &'a self,
        authorizer: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AlertRecord>, StoreError>> {
        let authorizer = authorizer.to_string();
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                     WHERE a.authorizer_unique_id = $1 AND a.state <> 'pending' \
                     ORDER BY a.id DESC LIMIT $2"
                );
                alert_records(&sql::all(tx, &sql, &[&authorizer, &int(limit)]).await?)
            })
        }))
    }

    fn alerts_filtered(
        &self,
        filter: AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                     WHERE a.id < $1 AND a.state <> 'pending' \
                         AND ($2::TEXT IS NULL OR a.state = $2) \
                         AND ($3::TEXT IS NULL OR m.name = $3) \
                         AND ($4::TEXT IS NULL OR a.severity = $4) \
                         AND ($5::TEXT IS NULL OR a.rule = $5 \
                              OR left(a.rule, length($5) + 1) = $5 || '#') \
                     ORDER BY a.id DESC LIMIT $6"
                );
                let state = filter.state.map(AlertStateFilter::as_str);
                let rows = sql::all(
                    tx,
                    &sql,
                    &[
                        &before.unwrap_or(i64::MAX),
                        &state,
                        &filter.monitor,
                        &filter.severity,
                        &filter.rule,
                        &(int(limit) + 1),
                    ],
                )
                .await?;
                Ok(paged(alert_records(&rows)?, limit))
            })
        }))
    }

    fn undelivered(&self, limit: u32) -> BoxFuture<'_, Result<Vec<UndeliveredRow>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(
                    tx,
                    "SELECT id, route, monitor, state, attempts, last_error, created_at, \
                         next_attempt_at, last_attempt_at \
                     FROM outbox WHERE state IN ('pending', 'failed') ORDER BY id LIMIT $1",
                    &[&int(limit)],
                )
                .await?
                .iter()
                .map(|row| {
                    Ok(UndeliveredRow {
                        id: row.try_get(0)?,
                        route: row.try_get(1)?,
                        monitor: row.try_get(2)?,
                        state: row.try_get(3)?,
                        attempts: count(row, 4)?,
                        last_error: row.try_get(5)?,
                        created_at: row.try_get(6)?,
                        next_attempt_at: row.try_get(7)?,
                        last_attempt_at: row.try_get(8)?,
                    })
                })
                .collect()
            })
        }))
    }

    fn retry_notification(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let changed = sql::exec(
                    tx,
                    "UPDATE outbox SET state = 'pending', next_attempt_at = $2 \
                     WHERE id = $1 AND state IN ('pending', 'failed')",
                    &[&id, &now],
                )
                .await?;
                Ok(changed == 1)
            })
        }))
    }
}
