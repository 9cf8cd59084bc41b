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
use crate::store::statements::dashboard::{
    ALERTS_FILTERED, AT_RISK_EPISODES, AUTHORIZER_ALERTS, FIRING_COUNTS, OUTBOX_BACKLOG, RETRY_NOW,
    RUN_ALERTS, TIMELINE, UNDELIVERED,
};
use crate::store::types::{MonitorId, RunId};
use crate::store::{AlertRecord, AlertStateFilter, AuthorizerCheck, Paged, StoreError};

impl Dashboard for SqliteStore {
    fn firing_alert_counts(&self) -> BoxFuture<'_, Result<Vec<FiringCount>, StoreError>> {
        Box::pin(self.read(|transaction| {
            let mut statement = transaction.prepare_cached(FIRING_COUNTS)?;
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
            let mut statement = transaction.prepare_cached(OUTBOX_BACKLOG)?;
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
            let mut statement = transaction.prepare_cached(AT_RISK_EPISODES)?;
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
            let mut statement = transaction.prepare_cached(RUN_ALERTS)?;
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
                .prepare_cached(TIMELINE)?
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
            let mut statement = transaction.prepare_cached(AUTHORIZER_ALERTS)?;
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
            let mut statement = transaction.prepare_cached(ALERTS_FILTERED)?;
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
            let mut statement = transaction.prepare_cached(UNDELIVERED)?;
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
            let changed = transaction.execute(RETRY_NOW, params![id, time_text(now)])?;
            Ok(changed == 1)
        }))
    }
}
