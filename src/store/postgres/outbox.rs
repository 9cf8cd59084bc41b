//! The outbox on PostgreSQL ([`Outbox`]): the `outbox` table, what is due and each
//! attempt's outcome.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::sql::{self, count};
use crate::store::statements::{dollars, outbox};
use crate::store::{
    AttemptOutcome, NewNotification, NotificationRecord, Outbox, QueuedNotification, StoreError,
};

/// The statements of this file, in PostgreSQL's spelling.
const DUE: &str = dollars!(outbox::DUE);
const NEXT_DUE: &str = dollars!(outbox::NEXT_DUE);
const DELIVERED: &str = dollars!(outbox::DELIVERED);
const RETRY: &str = dollars!(outbox::RETRY);
const FAILED: &str = dollars!(outbox::FAILED);
const ALL: &str = dollars!(outbox::ALL);
const QUEUE: &str = dollars!(outbox::QUEUE);

impl Outbox for PostgresStore {
    fn queue_notification(
        &self,
        notification: NewNotification,
    ) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.write(move |tx| Box::pin(async move { queue(tx, &notification).await })))
    }

    fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<QueuedNotification>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, DUE, &[&now, &i64::from(limit)])
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(QueuedNotification {
                            id: row.try_get(0)?,
                            route: row.try_get(1)?,
                            idempotency_key: row.try_get(2)?,
                            payload: row.try_get(3)?,
                            monitor: row.try_get(4)?,
                            created_at: row.try_get(5)?,
                            next_attempt_at: row.try_get(6)?,
                            attempts: count(row, 7)?,
                        })
                    })
                    .collect()
            })
        }))
    }

    fn next_notification_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                let row = sql::one(tx, NEXT_DUE, &[]).await?;
                Ok(row.try_get(0)?)
            })
        }))
    }

    fn record_attempt(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                match outcome {
                    AttemptOutcome::Delivered => sql::exec(tx, DELIVERED, &[&id, &at]).await?,
                    AttemptOutcome::Retry {
                        error,
                        next_attempt_at,
                    } => sql::exec(tx, RETRY, &[&id, &at, &error, &next_attempt_at]).await?,
                    AttemptOutcome::Failed { error } => {
                        sql::exec(tx, FAILED, &[&id, &at, &error]).await?
                    }
                };
                Ok(())
            })
        }))
    }

    fn notifications(&self) -> BoxFuture<'_, Result<Vec<NotificationRecord>, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                sql::all(tx, ALL, &[])
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(NotificationRecord {
                            id: row.try_get(0)?,
                            route: row.try_get(1)?,
                            idempotency_key: row.try_get(2)?,
                            payload: row.try_get(3)?,
                            state: row.try_get(4)?,
                            attempts: count(row, 5)?,
                            last_error: row.try_get(6)?,
                            created_at: row.try_get(7)?,
                            delivered_at: row.try_get(8)?,
                        })
                    })
                    .collect()
            })
        }))
    }
}

/// Inserts one notification, `pending` and due at once. Shared by
/// [`Outbox::queue_notification`] and [`AlertState::commit_judgement`](crate::store::AlertState::commit_judgement).
pub(super) async fn queue(
    tx: &Transaction<'_>,
    notification: &NewNotification,
) -> Result<i64, OpError> {
    let row = sql::one(
        tx,
        QUEUE,
        &[
            &notification.route,
            &notification.idempotency_key,
            &notification.payload,
            &notification.created_at,
            &notification.monitor,
        ],
    )
    .await?;
    Ok(row.try_get(0)?)
}
