//! The dashboard's reads on SQLite ([`Dashboard`]), and "retry now" on the outbox.
//!
//! Counts go through the partial indexes on firing alerts and pending notifications;
//! a run's alerts through `alerts_by_last_run`; the at-risk counts read a monitor's
//! alerts that overlap the instants once, sorted by authorizer, and count in memory.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::params;

use super::SqliteStore;
use super::columns::{count, optional_time, time, time_text};
use super::queries::alert_record;
use super::reports::{authorizer_check, authorizer_known};
use crate::store::dashboard::{
    AlertFilter, Dashboard, FiringCount, OutboxBacklog, UndeliveredRow, count_at_risk, timeline,
};
use crate::store::queries::paged;
use crate::store::types::{MonitorId, RunId};
use crate::store::{AlertRecord, AlertStateFilter, AuthorizerCheck, Paged, StoreError};

/// An authorizer's checks, oldest first, without the balance each changed from: its
/// results and its pre-flight rejections (one line per run), with the run's monitor
/// and time.
const TIMELINE_SQL: &str = "
SELECT c.run_id, m.name, coalesce(u.started_at, u.created_at) AS run_time, c.outcome,
       c.balance_cents, c.balance_status_code, c.retrieved_at, c.reason, NULL
FROM (
    SELECT r.run_id, r.outcome, r.balance_cents, r.balance_status_code, r.retrieved_at,
           r.reason
    FROM results r WHERE r.authorizer_unique_id = ?1
    UNION ALL
    SELECT p.run_id, 'preflight_rejected', NULL, NULL, NULL, min(p.reason)
    FROM preflight_rejections p WHERE p.authorizer_unique_id = ?1 GROUP BY p.run_id
) c JOIN runs u ON u.id = c.run_id JOIN monitors m ON m.id = u.monitor_id
ORDER BY run_time, c.run_id";

/// The columns [`alert_record`] reads, from `alerts a JOIN monitors m`.
const ALERT_COLUMNS: &str = "a.id, a.fingerprint, m.name, a.authorizer_unique_id, a.rule, \
                             a.state, a.severity, a.consecutive_failures, \
                             a.consecutive_passes, a.first_fired_at, a.last_fired_at, \
                             a.last_notified_at, a.resolved_at, a.last_run_id, a.reason";

impl Dashboard for SqliteStore {
    fn firing_alert_counts(&self) -> BoxFuture<'_, Result<Vec<FiringCount>, StoreError>> {
        Box::pin(self.read(|transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT m.name, a.severity, count(*) FROM alerts a \
                     JOIN monitors m ON m.id = a.monitor_id \
                 WHERE a.state = 'firing' GROUP BY m.name, a.severity ORDER BY m.name, a.severity",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok(FiringCount {
                        monitor_name: row.get(0)?,
                        severity: row.get(1)?,
                        count: row.get::<_, i64>(2)?.max(0) as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn outbox_backlog(&self) -> BoxFuture<'_, Result<Vec<OutboxBacklog>, StoreError>> {
        Box::pin(self.read(|transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT monitor, sum(state = 'pending'), sum(state = 'failed') FROM outbox \
                 WHERE state IN ('pending', 'failed') GROUP BY monitor ORDER BY monitor",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok(OutboxBacklog {
                        monitor: row.get(0)?,
                        pending: row.get::<_, i64>(1)?.max(0) as u64,
                        failed: row.get::<_, i64>(2)?.max(0) as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn at_risk_counts(
        &self,
        monitor: MonitorId,
        instants: Vec<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<u64>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let (Some(earliest), Some(latest)) = (instants.iter().min(), instants.iter().max())
            else {
                return Ok(Vec::new());
            };
            // Stored times are fixed-width RFC 3339 in UTC, so their text sorts as they
            // do: the episodes are compared as text, sorted by authorizer, and each
            // instant counts the authorizers with at least one episode spanning it.
            let mut statement = transaction.prepare_cached(
                "SELECT authorizer_unique_id, first_fired_at, resolved_at FROM alerts \
                 WHERE monitor_id = ?1 AND authorizer_unique_id IS NOT NULL \
                     AND state <> 'pending' AND first_fired_at <= ?2 \
                     AND (resolved_at IS NULL OR resolved_at > ?3) \
                 ORDER BY authorizer_unique_id",
            )?;
            let episodes = statement
                .query_map(
                    params![monitor.0, time_text(*latest), time_text(*earliest)],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, Option<String>>(2)?,
                        ))
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let instants: Vec<String> = instants.into_iter().map(time_text).collect();
            Ok(count_at_risk(&episodes, &instants))
        }))
    }

    fn run_alerts(&self, run: RunId) -> BoxFuture<'_, Result<Vec<AlertRecord>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                 WHERE a.last_run_id = ?1 AND a.state <> 'pending' ORDER BY a.id"
            ))?;
            let rows = statement
                .query_map(params![run.0], alert_record)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn authorizer_timeline(
        &self,
        authorizer: String,
        since: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let checks = transaction
                .prepare_cached(TIMELINE_SQL)?
                .query_map(params![authorizer], authorizer_check)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if checks.is_empty() && !authorizer_known(transaction, &authorizer)? {
                return Ok(None);
            }
            Ok(Some(timeline(checks, since, limit)))
        }))
    }

    fn authorizer_alerts<'a>(
        &'a self,
        authorizer: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AlertRecord>, StoreError>> {
        let authorizer = authorizer.to_string();
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                 WHERE a.authorizer_unique_id = ?1 AND a.state <> 'pending' \
                 ORDER BY a.id DESC LIMIT ?2"
            ))?;
            let rows = statement
                .query_map(params![authorizer, i64::from(limit)], alert_record)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn alerts_filtered(
        &self,
        filter: AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
                 WHERE a.id < ?1 AND a.state <> 'pending' AND (?2 IS NULL OR a.state = ?2) \
                     AND (?3 IS NULL OR m.name = ?3) AND (?4 IS NULL OR a.severity = ?4) \
                     AND (?5 IS NULL OR a.rule = ?5 \
                          OR substr(a.rule, 1, length(?5) + 1) = ?5 || '#') \
                 ORDER BY a.id DESC LIMIT ?6"
            ))?;
            let rows = statement
                .query_map(
                    params![
                        before.unwrap_or(i64::MAX),
                        filter.state.map(AlertStateFilter::as_str),
                        filter.monitor,
                        filter.severity,
                        filter.rule,
                        i64::from(limit) + 1
                    ],
                    alert_record,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(paged(rows, limit))
        }))
    }

    fn undelivered(&self, limit: u32) -> BoxFuture<'_, Result<Vec<UndeliveredRow>, StoreError>> {
        Box::pin(self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT id, route, monitor, state, attempts, last_error, created_at, \
                        next_attempt_at, last_attempt_at \
                 FROM outbox WHERE state IN ('pending', 'failed') ORDER BY id LIMIT ?1",
            )?;
            let rows = statement
                .query_map(params![i64::from(limit)], |row| {
                    Ok(UndeliveredRow {
                        id: row.get(0)?,
                        route: row.get(1)?,
                        monitor: row.get(2)?,
                        state: row.get(3)?,
                        attempts: count(row, 4)?,
                        last_error: row.get(5)?,
                        created_at: time(row, 6)?,
                        next_attempt_at: time(row, 7)?,
                        last_attempt_at: optional_time(row, 8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        }))
    }

    fn retry_notification(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let changed = transaction.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2 \
                 WHERE id = ?1 AND state IN ('pending', 'failed')",
                params![id, time_text(now)],
            )?;
            Ok(changed == 1)
        }))
    }
}
