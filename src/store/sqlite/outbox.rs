//! The outbox on SQLite ([`Outbox`]): the `outbox` table, what is due and each
//! attempt's outcome.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{Transaction, params};

use super::SqliteStore;
use super::columns::{count, optional_time, time, time_text};
use super::error::OpError;
use crate::store::statements::outbox::{ALL, DELIVERED, DUE, FAILED, NEXT_DUE, QUEUE, RETRY};
use crate::store::{
    AttemptOutcome, NewNotification, NotificationRecord, Outbox, QueuedNotification, StoreError,
};

impl Outbox for SqliteStore {
    fn queue_notification(
        &self,
        notification: NewNotification,
    ) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| queue(transaction, &notification))
                .await
        })
    }

    fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<QueuedNotification>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let mut statement = transaction.prepare_cached(DUE)?;
                let rows = statement
                    .query_map(params![time_text(now), i64::from(limit)], |row| {
                        Ok(QueuedNotification {
                            id: row.get(0)?,
                            route: row.get(1)?,
                            idempotency_key: row.get(2)?,
                            payload: row.get(3)?,
                            monitor: row.get(4)?,
                            created_at: time(row, 5)?,
                            next_attempt_at: time(row, 6)?,
                            attempts: count(row, 7)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
        })
    }

    fn next_notification_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        Box::pin(async move {
            self.read(|transaction| {
                let next: Option<String> = transaction.query_row(NEXT_DUE, [], |row| row.get(0))?;
                Ok(next
                    .map(|text| {
                        DateTime::parse_from_rfc3339(&text).map(|time| time.with_timezone(&Utc))
                    })
                    .transpose()
                    .map_err(|error| {
                        rusqlite::Error::FromSqlConversionFailure(
                            0,
                            rusqlite::types::Type::Text,
                            error.into(),
                        )
                    })?)
            })
            .await
        })
    }

    fn record_attempt(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                let at = time_text(at);
                match outcome {
                    AttemptOutcome::Delivered => transaction.execute(DELIVERED, params![id, at])?,
                    AttemptOutcome::Retry {
                        error,
                        next_attempt_at,
                    } => transaction
                        .execute(RETRY, params![id, at, error, time_text(next_attempt_at)])?,
                    AttemptOutcome::Failed { error } => {
                        transaction.execute(FAILED, params![id, at, error])?
                    }
                };
                Ok(())
            })
            .await
        })
    }

    fn notifications(&self) -> BoxFuture<'_, Result<Vec<NotificationRecord>, StoreError>> {
        Box::pin(async move {
            self.read(|transaction| {
                let mut statement = transaction.prepare_cached(ALL)?;
                let rows = statement
                    .query_map([], |row| {
                        Ok(NotificationRecord {
                            id: row.get(0)?,
                            route: row.get(1)?,
                            idempotency_key: row.get(2)?,
                            payload: row.get(3)?,
                            state: row.get(4)?,
                            attempts: count(row, 5)?,
                            last_error: row.get(6)?,
                            created_at: time(row, 7)?,
                            delivered_at: optional_time(row, 8)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
        })
    }
}

/// Inserts one notification, `pending` and due at once. Shared by
/// [`Outbox::queue_notification`] and [`AlertState::commit_judgement`].
pub(super) fn queue(
    transaction: &Transaction<'_>,
    notification: &NewNotification,
) -> Result<i64, OpError> {
    Ok(transaction.prepare_cached(QUEUE)?.query_row(
        params![
            notification.route,
            notification.idempotency_key,
            notification.payload,
            time_text(notification.created_at),
            notification.monitor,
        ],
        |row| row.get(0),
    )?)
}
