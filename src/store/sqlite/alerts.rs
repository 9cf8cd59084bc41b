//! Alert state on SQLite ([`AlertState`]): `balance_memory`, the open `alerts` rows,
//! a run's checks as the rules see them, the unjudged runs (`runs.alerts_evaluated_at`),
//! and the judgement's commit in one transaction.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, Row, ToSql, Transaction, params};

use super::SqliteStore;
use super::columns::{count, optional_cents, optional_time, time, time_text};
use super::error::OpError;
use super::outbox::queue;
use super::rows::run_record;
use crate::store::alerts::{JudgementPart, judgement_abandoned, parse_peaks, peaks_text};
use crate::store::statements::alerts::{
    DELETE_PENDING, INSERT_ALERT, JUDGED_RUNS_AFTER, MARK_JUDGED, MEMORY_PAGE, NEXT_UNJUDGED_RUN,
    OPEN_ALERTS_BETWEEN, OPEN_RUN_ALERTS, RESOLVE_FIRING, RUN_CHECKS_PAGE, RUN_CHUNK_COUNTS,
    UPDATE_OPEN_ALERT, UPSERT_MEMORY,
};
use crate::store::types::{MonitorId, RunId};
use crate::store::{
    AlertState, AlertWrite, Judgement, MemoryRow, OpenAlertRow, OpenPhase, RunCheck,
    RunCheckOutcome, RunForJudgement, StoreError,
};

impl AlertState for SqliteStore {
    fn balance_memory(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>> {
        Box::pin(async move {
            self.scan(move |transaction| memory_page(transaction, monitor, "", i64::MAX))
                .await
        })
    }

    fn open_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        Box::pin(async move {
            self.scan(move |transaction| {
                let mut rows = open_alert_rows(transaction, monitor, OpenAlerts::Runs)?;
                rows.extend(open_alert_rows(
                    transaction,
                    monitor,
                    OpenAlerts::Between(String::new(), None),
                )?);
                Ok(rows)
            })
            .await
        })
    }

    fn next_unjudged_run(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<RunForJudgement>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                // The oldest unjudged run, finished or not: a run still going holds back
                // every later one, so a monitor's runs are judged in order.
                let Some(record) = transaction
                    .query_row(NEXT_UNJUDGED_RUN, params![monitor.0], run_record)
                    .optional()?
                    .filter(|record| record.state.is_final())
                else {
                    return Ok(None);
                };
                let (chunks, chunks_submitted, preflight_rejections) =
                    transaction.query_row(RUN_CHUNK_COUNTS, params![record.id.0], |row| {
                        Ok((count(row, 0)?, count(row, 1)?, count(row, 2)?))
                    })?;
                Ok(Some(RunForJudgement {
                    slot: record.trigger.slot(),
                    record,
                    chunks_submitted,
                    chunks,
                    preflight_rejections,
                }))
            })
            .await
        })
    }

    fn run_checks(&self, run: RunId) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>> {
        Box::pin(async move {
            self.scan(move |transaction| checks_page(transaction, run, "", i64::MAX))
                .await
        })
    }

    fn commit_judgement(
        &self,
        monitor: MonitorId,
        run: RunId,
        judgement: Judgement,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            self.write(move |transaction| {
                if !mark_judged(transaction, run, judgement.judged_at)? {
                    return Ok(false);
                }
                write_judgement(transaction, monitor, run, &judgement)?;
                Ok(true)
            })
            .await
        })
    }

    fn run_checks_page(
        &self,
        run: RunId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>> {
        Box::pin(async move {
            // Unmapped: a judgement's pages pass over the whole run once.
            self.scan(move |transaction| checks_page(transaction, run, &after, limit.into()))
                .await
        })
    }

    fn balance_memory_page(
        &self,
        monitor: MonitorId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>> {
        Box::pin(async move {
            self.scan(move |transaction| memory_page(transaction, monitor, &after, limit.into()))
                .await
        })
    }

    fn open_alerts_between(
        &self,
        monitor: MonitorId,
        after: String,
        through: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                open_alert_rows(transaction, monitor, OpenAlerts::Between(after, through))
            })
            .await
        })
    }

    fn open_run_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| open_alert_rows(transaction, monitor, OpenAlerts::Runs))
                .await
        })
    }

    fn commit_judgement_parts(
        &self,
        monitor: MonitorId,
        run: RunId,
        judged_at: DateTime<Utc>,
        mut parts: tokio::sync::mpsc::Receiver<JudgementPart>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            // The writer is an OS thread outside the runtime: it waits for each part
            // with `blocking_recv`, holding the write transaction open meanwhile.
            self.write(move |transaction| {
                if !mark_judged(transaction, run, judged_at)? {
                    return Ok(false);
                }
                loop {
                    match parts.blocking_recv() {
                        Some(JudgementPart::Writes(judgement)) => {
                            write_judgement(transaction, monitor, run, &judgement)?
                        }
                        Some(JudgementPart::Commit) => return Ok(true),
                        None => return Err(judgement_abandoned().into()),
                    }
                }
            })
            .await
        })
    }

    fn judged_runs_after(
        &self,
        monitor: MonitorId,
        after: RunId,
    ) -> BoxFuture<'_, Result<Vec<RunId>, StoreError>> {
        Box::pin(async move {
            self.read(move |transaction| {
                let mut statement = transaction.prepare_cached(JUDGED_RUNS_AFTER)?;
                let rows = statement
                    .query_map(params![monitor.0, after.0], |row| Ok(RunId(row.get(0)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
        })
    }
}

/// Up to `limit` of `run`'s checks with an id above `after`, by id.
fn checks_page(
    transaction: &Transaction<'_>,
    run: RunId,
    after: &str,
    limit: i64,
) -> Result<Vec<RunCheck>, OpError> {
    let mut statement = transaction.prepare_cached(RUN_CHECKS_PAGE)?;
    let rows = statement
        .query_map(params![run.0, after, limit], run_check)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Up to `limit` balance memory rows of `monitor` with an id above `after`, by id.
fn memory_page(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
    after: &str,
    limit: i64,
) -> Result<Vec<MemoryRow>, OpError> {
    let mut statement = transaction.prepare_cached(MEMORY_PAGE)?;
    let rows = statement
        .query_map(params![monitor.0, after, limit], memory_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Which open alerts to read.
enum OpenAlerts {
    /// The run alerts (no authorizer), by rule.
    Runs,
    /// The authorizers' with an id above the first and at most the second (every id
    /// above the first with `None`), by id and rule.
    Between(String, Option<String>),
}

fn open_alert_rows(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
    which: OpenAlerts,
) -> Result<Vec<OpenAlertRow>, OpError> {
    let rows = match which {
        OpenAlerts::Runs => transaction
            .prepare_cached(OPEN_RUN_ALERTS)?
            .query_map(params![monitor.0], open_alert_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        OpenAlerts::Between(after, through) => transaction
            .prepare_cached(OPEN_ALERTS_BETWEEN)?
            .query_map(params![monitor.0, after, through], open_alert_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(rows)
}

/// Sets a finished run's `alerts_evaluated_at`; `false` when it was judged already.
fn mark_judged(
    transaction: &Transaction<'_>,
    run: RunId,
    judged_at: DateTime<Utc>,
) -> Result<bool, OpError> {
    let marked = transaction.execute(MARK_JUDGED, params![run.0, time_text(judged_at)])?;
    Ok(marked > 0)
}

/// The writes of a judgement (or of one of its parts), in the caller's transaction.
fn write_judgement(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
    run: RunId,
    judgement: &Judgement,
) -> Result<(), OpError> {
    write_memory(transaction, monitor, judgement)?;
    for write in &judgement.alerts {
        write_alert(transaction, monitor, run, write)?;
    }
    super::silences::write_held(transaction, &judgement.held, &judgement.released)?;
    for notification in &judgement.notifications {
        queue(transaction, notification)?;
    }
    Ok(())
}

fn run_check(row: &Row<'_>) -> rusqlite::Result<RunCheck> {
    let outcome: Option<String> = row.get(1)?;
    let outcome = match outcome.as_deref() {
        Some("retrieved") => RunCheckOutcome::Retrieved {
            status_code: row.get(3)?,
            balance: optional_cents(row, 2)?,
        },
        Some("rejected") => RunCheckOutcome::Rejected,
        _ => RunCheckOutcome::NotRetrieved,
    };
    Ok(RunCheck {
        authorizer_unique_id: row.get(0)?,
        outcome,
    })
}

fn memory_row(row: &Row<'_>) -> rusqlite::Result<MemoryRow> {
    let last_success = match (optional_time(row, 2)?, optional_cents(row, 3)?) {
        (Some(at), Some(cents)) => Some((at, cents)),
        _ => None,
    };
    let peaks_text: String = row.get(4)?;
    let peaks = parse_peaks(&peaks_text).map_err(|message| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, message.into())
    })?;
    Ok(MemoryRow {
        authorizer_unique_id: row.get(0)?,
        first_checked_at: time(row, 1)?,
        last_success,
        peaks,
    })
}

fn open_alert_row(row: &Row<'_>) -> rusqlite::Result<OpenAlertRow> {
    let state: String = row.get(4)?;
    let phase = match (state.as_str(), optional_time(row, 7)?) {
        ("firing", Some(fired_at)) => OpenPhase::Firing {
            fired_at,
            last_notified_at: optional_time(row, 8)?.unwrap_or(fired_at),
        },
        _ => OpenPhase::Pending,
    };
    Ok(OpenAlertRow {
        fingerprint: row.get(0)?,
        authorizer_unique_id: row.get(1)?,
        rule: row.get(2)?,
        severity: row.get(3)?,
        phase,
        hits: count(row, 5)?,
        clears: count(row, 6)?,
    })
}

fn write_memory(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
    judgement: &Judgement,
) -> Result<(), OpError> {
    let mut upsert = transaction.prepare_cached(UPSERT_MEMORY)?;
    for row in &judgement.memory_upserts {
        upsert.execute(params![
            monitor.0,
            row.authorizer_unique_id,
            time_text(row.first_checked_at),
            row.last_success.map(|(at, _)| time_text(at)),
            row.last_success.map(|(_, cents)| cents.0),
            if row.peaks.is_empty() {
                "[]".to_string()
            } else {
                peaks_text(&row.peaks)
            },
        ])?;
    }
    let mut delete = transaction.prepare_cached(
        "DELETE FROM balance_memory WHERE monitor_id = ?1 AND authorizer_unique_id = ?2",
    )?;
    for id in &judgement.memory_deletes {
        delete.execute(params![monitor.0, id])?;
    }
    Ok(())
}

fn write_alert(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
    run: RunId,
    write: &AlertWrite,
) -> Result<(), OpError> {
    match write {
        AlertWrite::Open { row, reason } => {
            let (state, fired_at, notified_at) = row.phase.stored();
            let (fired_at, notified_at) = (fired_at.map(time_text), notified_at.map(time_text));
            // The columns a judgement changes, as `?1` to `?9` of both statements.
            let changes: [&dyn ToSql; 9] = [
                &row.fingerprint,
                &state,
                &row.severity,
                &row.hits,
                &row.clears,
                &fired_at,
                &notified_at,
                &run.0,
                &reason,
            ];
            let updated = transaction
                .prepare_cached(UPDATE_OPEN_ALERT)?
                .execute(changes.as_slice())?;
            if updated == 0 {
                let mut values = changes.to_vec();
                values.extend::<[&dyn ToSql; 3]>([
                    &monitor.0,
                    &row.authorizer_unique_id,
                    &row.rule,
                ]);
                transaction
                    .prepare_cached(INSERT_ALERT)?
                    .execute(values.as_slice())?;
            }
        }
        AlertWrite::Resolve {
            fingerprint,
            at,
            reason,
        } => {
            transaction
                .prepare_cached(RESOLVE_FIRING)?
                .execute(params![fingerprint, time_text(*at), run.0, reason])?;
            // A pending alert "resolved" (its rule or authorizer went) never fired.
            transaction
                .prepare_cached(DELETE_PENDING)?
                .execute(params![fingerprint])?;
        }
        AlertWrite::DropPending { fingerprint } => {
            transaction
                .prepare_cached(DELETE_PENDING)?
                .execute(params![fingerprint])?;
        }
    }
    Ok(())
}
