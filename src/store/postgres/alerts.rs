//! Alert state on PostgreSQL ([`AlertState`]): `balance_memory`, the open `alerts` rows,
//! a run's checks as the rules see them, the unjudged runs (`runs.alerts_evaluated_at`),
//! and the judgement's commit in one transaction.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::error::OpError;
use super::outbox::queue;
use super::rows::run_record;
use super::silences::write_held;
use super::sql::{self, cents, count};
use crate::store::alerts::{JudgementPart, judgement_abandoned, parse_peaks, peaks_text};
use crate::store::statements::{alerts, dollars};
use crate::store::types::{MonitorId, RunId};
use crate::store::{
    AlertState, AlertWrite, Judgement, MemoryRow, OpenAlertRow, OpenPhase, RunCheck,
    RunCheckOutcome, RunForJudgement, StoreError,
};

/// The statements of this file, in PostgreSQL's spelling.
const RUN_CHECKS_PAGE: &str = dollars!(alerts::RUN_CHECKS_PAGE);
const NEXT_UNJUDGED_RUN: &str = dollars!(alerts::NEXT_UNJUDGED_RUN);
const RUN_CHUNK_COUNTS: &str = dollars!(alerts::RUN_CHUNK_COUNTS);
const JUDGED_RUNS_AFTER: &str = dollars!(alerts::JUDGED_RUNS_AFTER);
const MEMORY_PAGE: &str = dollars!(alerts::MEMORY_PAGE);
const OPEN_RUN_ALERTS: &str = dollars!(alerts::OPEN_RUN_ALERTS);
const OPEN_ALERTS_BETWEEN: &str = dollars!(alerts::OPEN_ALERTS_BETWEEN);
const MARK_JUDGED: &str = dollars!(alerts::MARK_JUDGED);
const UPSERT_MEMORY: &str = dollars!(alerts::UPSERT_MEMORY);
const UPDATE_OPEN_ALERT: &str = dollars!(alerts::UPDATE_OPEN_ALERT);
const INSERT_ALERT: &str = dollars!(alerts::INSERT_ALERT);
const RESOLVE_FIRING: &str = dollars!(alerts::RESOLVE_FIRING);
const DELETE_PENDING: &str = dollars!(alerts::DELETE_PENDING);

impl AlertState for PostgresStore {
    fn balance_memory(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(memory_page(tx, monitor, String::new(), i64::MAX))))
    }

    fn open_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let mut rows = open_alert_rows(tx, monitor, None).await?;
                rows.extend(open_alert_rows(tx, monitor, Some((String::new(), None))).await?);
                Ok(rows)
            })
        }))
    }

    fn next_unjudged_run(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<RunForJudgement>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                // The oldest unjudged run, finished or not: a run still going holds back
                // every later one, so a monitor's runs are judged in order.
                let Some(record) = sql::opt(tx, NEXT_UNJUDGED_RUN, &[&monitor.0])
                    .await?
                    .as_ref()
                    .map(run_record)
                    .transpose()?
                    .filter(|record| record.state.is_final())
                else {
                    return Ok(None);
                };
                let counts = sql::one(tx, RUN_CHUNK_COUNTS, &[&record.id.0]).await?;
                Ok(Some(RunForJudgement {
                    slot: record.trigger.slot(),
                    record,
                    chunks: count(&counts, 0)?,
                    chunks_submitted: count(&counts, 1)?,
                    preflight_rejections: count(&counts, 2)?,
                }))
            })
        }))
    }

    fn run_checks(&self, run: RunId) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(checks_page(tx, run, String::new(), i64::MAX))))
    }

    fn commit_judgement(
        &self,
        monitor: MonitorId,
        run: RunId,
        judgement: Judgement,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                if !mark_judged(tx, run, judgement.judged_at).await? {
                    return Ok(false);
                }
                write_judgement(tx, monitor, run, &judgement).await?;
                Ok(true)
            })
        }))
    }

    fn run_checks_page(
        &self,
        run: RunId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(checks_page(tx, run, after, limit.into()))))
    }

    fn balance_memory_page(
        &self,
        monitor: MonitorId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(memory_page(tx, monitor, after, limit.into()))))
    }

    fn open_alerts_between(
        &self,
        monitor: MonitorId,
        after: String,
        through: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        Box::pin(
            self.read(move |tx| Box::pin(open_alert_rows(tx, monitor, Some((after, through))))),
        )
    }

    fn open_run_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        Box::pin(self.read(move |tx| Box::pin(open_alert_rows(tx, monitor, None))))
    }

    fn commit_judgement_parts(
        &self,
        monitor: MonitorId,
        run: RunId,
        judged_at: DateTime<Utc>,
        mut parts: tokio::sync::mpsc::Receiver<JudgementPart>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        // The transaction holds one pooled connection while the caller reads its pages
        // through the others (`storage.postgres.pool_size` is at least two).
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                if !mark_judged(tx, run, judged_at).await? {
                    return Ok(false);
                }
                loop {
                    match parts.recv().await {
                        Some(JudgementPart::Writes(judgement)) => {
                            write_judgement(tx, monitor, run, &judgement).await?
                        }
                        Some(JudgementPart::Commit) => return Ok(true),
                        None => return Err(OpError::from(judgement_abandoned())),
                    }
                }
            })
        }))
    }

    fn judged_runs_after(
        &self,
        monitor: MonitorId,
        after: RunId,
    ) -> BoxFuture<'_, Result<Vec<RunId>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                sql::all(tx, JUDGED_RUNS_AFTER, &[&monitor.0, &after.0])
                    .await?
                    .iter()
                    .map(|row| Ok(RunId(row.try_get(0)?)))
                    .collect()
            })
        }))
    }
}

/// Up to `limit` of `run`'s checks with an id above `after`, by id.
async fn checks_page(
    tx: &Transaction<'_>,
    run: RunId,
    after: String,
    limit: i64,
) -> Result<Vec<RunCheck>, OpError> {
    sql::all(tx, RUN_CHECKS_PAGE, &[&run.0, &after, &limit])
        .await?
        .iter()
        .map(run_check)
        .collect()
}

/// Up to `limit` balance memory rows of `monitor` with an id above `after`, by id.
async fn memory_page(
    tx: &Transaction<'_>,
    monitor: MonitorId,
    after: String,
    limit: i64,
) -> Result<Vec<MemoryRow>, OpError> {
    sql::all(tx, MEMORY_PAGE, &[&monitor.0, &after, &limit])
        .await?
        .iter()
        .map(memory_row)
        .collect()
}

/// The open alerts of `monitor`: with `None` the run alerts (no authorizer), by rule;
/// with `(after, through)` the authorizers' with an id above `after` and at most
/// `through` (every id above `after` with `None`), by id and rule.
async fn open_alert_rows(
    tx: &Transaction<'_>,
    monitor: MonitorId,
    between: Option<(String, Option<String>)>,
) -> Result<Vec<OpenAlertRow>, OpError> {
    let rows = match between {
        None => sql::all(tx, OPEN_RUN_ALERTS, &[&monitor.0]).await?,
        Some((after, through)) => {
            sql::all(tx, OPEN_ALERTS_BETWEEN, &[&monitor.0, &after, &through]).await?
        }
    };
    rows.iter().map(open_alert_row).collect()
}

/// Sets a finished run's `alerts_evaluated_at`; `false` when it was judged already.
async fn mark_judged(
    tx: &Transaction<'_>,
    run: RunId,
    judged_at: DateTime<Utc>,
) -> Result<bool, OpError> {
    let marked = sql::exec(tx, MARK_JUDGED, &[&run.0, &judged_at]).await?;
    Ok(marked > 0)
}

/// The writes of a judgement (or of one of its parts), in the caller's transaction.
async fn write_judgement(
    tx: &Transaction<'_>,
    monitor: MonitorId,
    run: RunId,
    judgement: &Judgement,
) -> Result<(), OpError> {
    write_memory(tx, monitor, judgement).await?;
    for write in &judgement.alerts {
        write_alert(tx, monitor, run, write).await?;
    }
    write_held(tx, &judgement.held, &judgement.released).await?;
    for notification in &judgement.notifications {
        queue(tx, notification).await?;
    }
    Ok(())
}

fn run_check(row: &Row) -> Result<RunCheck, OpError> {
    let outcome: Option<&str> = row.try_get(1)?;
    let outcome = match outcome {
        Some("retrieved") => RunCheckOutcome::Retrieved {
            status_code: row.try_get(3)?,
            balance: cents(row, 2)?,
        },
        Some("rejected") => RunCheckOutcome::Rejected,
        _ => RunCheckOutcome::NotRetrieved,
    };
    Ok(RunCheck {
        authorizer_unique_id: row.try_get(0)?,
        outcome,
    })
}

fn memory_row(row: &Row) -> Result<MemoryRow, OpError> {
    let last_success = match (row.try_get::<_, Option<DateTime<Utc>>>(2)?, cents(row, 3)?) {
        (Some(at), Some(cents)) => Some((at, cents)),
        _ => None,
    };
    let peaks = parse_peaks(row.try_get(4)?).map_err(OpError::unexpected)?;
    Ok(MemoryRow {
        authorizer_unique_id: row.try_get(0)?,
        first_checked_at: row.try_get(1)?,
        last_success,
        peaks,
    })
}

fn open_alert_row(row: &Row) -> Result<OpenAlertRow, OpError> {
    let state: &str = row.try_get(4)?;
    let phase = match (state, row.try_get::<_, Option<DateTime<Utc>>>(7)?) {
        ("firing", Some(fired_at)) => OpenPhase::Firing {
            fired_at,
            last_notified_at: row
                .try_get::<_, Option<DateTime<Utc>>>(8)?
                .unwrap_or(fired_at),
        },
        _ => OpenPhase::Pending,
    };
    Ok(OpenAlertRow {
        fingerprint: row.try_get(0)?,
        authorizer_unique_id: row.try_get(1)?,
        rule: row.try_get(2)?,
        severity: row.try_get(3)?,
        phase,
        hits: count(row, 5)?,
        clears: count(row, 6)?,
    })
}

async fn write_memory(
    tx: &Transaction<'_>,
    monitor: MonitorId,
    judgement: &Judgement,
) -> Result<(), OpError> {
    for row in &judgement.memory_upserts {
        sql::exec(
            tx,
            UPSERT_MEMORY,
            &[
                &monitor.0,
                &row.authorizer_unique_id,
                &row.first_checked_at,
                &row.last_success.map(|(at, _)| at),
                &row.last_success.map(|(_, cents)| cents.0),
                &peaks_text(&row.peaks),
            ],
        )
        .await?;
    }
    if !judgement.memory_deletes.is_empty() {
        sql::exec(
            tx,
            "DELETE FROM balance_memory WHERE monitor_id = $1 \
             AND authorizer_unique_id = ANY($2::TEXT[])",
            &[&monitor.0, &judgement.memory_deletes],
        )
        .await?;
    }
    Ok(())
}

async fn write_alert(
    tx: &Transaction<'_>,
    monitor: MonitorId,
    run: RunId,
    write: &AlertWrite,
) -> Result<(), OpError> {
    match write {
        AlertWrite::Open { row, reason } => {
            let (state, fired_at, notified_at) = row.phase.stored();
            let hits = i64::from(row.hits);
            let clears = i64::from(row.clears);
            // The columns a judgement changes, as `$1` to `$9` of both statements.
            let changes: [&(dyn ToSql + Sync); 9] = [
                &row.fingerprint,
                &state,
                &row.severity,
                &hits,
                &clears,
                &fired_at,
                &notified_at,
                &run.0,
                reason,
            ];
            let updated = sql::exec(tx, UPDATE_OPEN_ALERT, &changes).await?;
            if updated == 0 {
                let mut values = changes.to_vec();
                values.extend::<[&(dyn ToSql + Sync); 3]>([
                    &monitor.0,
                    &row.authorizer_unique_id,
                    &row.rule,
                ]);
                sql::exec(tx, INSERT_ALERT, &values).await?;
            }
        }
        AlertWrite::Resolve {
            fingerprint,
            at,
            reason,
        } => {
            sql::exec(tx, RESOLVE_FIRING, &[fingerprint, at, &run.0, reason]).await?;
            // A pending alert "resolved" (its rule or authorizer went) never fired.
            delete_pending(tx, fingerprint).await?;
        }
        AlertWrite::DropPending { fingerprint } => delete_pending(tx, fingerprint).await?,
    }
    Ok(())
}

async fn delete_pending(tx: &Transaction<'_>, fingerprint: &String) -> Result<(), OpError> {
    sql::exec(tx, DELETE_PENDING, &[fingerprint]).await?;
    Ok(())
}
