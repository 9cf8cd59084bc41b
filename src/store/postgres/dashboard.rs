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
use crate::store::statements::{dashboard, dollars};
use crate::store::types::{MonitorId, RunId};
use crate::store::{AlertRecord, AlertStateFilter, AuthorizerCheck, Paged, StoreError};

/// The statements of this file, in PostgreSQL's spelling.
const FIRING_COUNTS: &str = dollars!(dashboard::FIRING_COUNTS);
const OUTBOX_BACKLOG: &str = dollars!(dashboard::OUTBOX_BACKLOG);
const AT_RISK_EPISODES: &str = dollars!(dashboard::AT_RISK_EPISODES);
const RUN_ALERTS: &str = dollars!(dashboard::RUN_ALERTS);
const AUTHORIZER_ALERTS: &str = dollars!(dashboard::AUTHORIZER_ALERTS);
const ALERTS_FILTERED: &str = dollars!(dashboard::ALERTS_FILTERED);
const UNDELIVERED: &str = dollars!(dashboard::UNDELIVERED);
const RETRY_NOW: &str = dollars!(dashboard::RETRY_NOW);
const TIMELINE: &str = dollars!(dashboard::TIMELINE);

/// Every row of `rows` as an alert.
fn alert_records(rows: &[tokio_postgres::Row]) -> Result<Vec<AlertRecord>, OpError> {
    rows.iter().map(alert_record).collect()
}

impl Dashboard for PostgresStore {
    fn firing_alert_counts(&self) -> BoxFuture<'_, Result<Vec<FiringCount>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                sql::all(tx, FIRING_COUNTS, &[])
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
                sql::all(tx, OUTBOX_BACKLOG, &[])
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
                let episodes = sql::all(tx, AT_RISK_EPISODES, &[&monitor.0, &latest, &earliest])
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
            Box::pin(async move { alert_records(&sql::all(tx, RUN_ALERTS, &[&run.0]).await?) })
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
                let checks = sql::all(tx, TIMELINE, &[&authorizer])
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
                let values: sql::Params<'_> = &[&authorizer, &int(limit)];
                alert_records(&sql::all(tx, AUTHORIZER_ALERTS, values).await?)
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
                let state = filter.state.map(AlertStateFilter::as_str);
                let rows = sql::all(
                    tx,
                    ALERTS_FILTERED,
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
                sql::all(tx, UNDELIVERED, &[&int(limit)])
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
                let changed = sql::exec(tx, RETRY_NOW, &[&id, &now]).await?;
                Ok(changed == 1)
            })
        }))
    }
}
