//! The alert side of the store: what the rules remember between runs (balance memory and
//! open alerts), the runs still to be judged, the checks of a run as the rules see them,
//! and the notification outbox.
//!
//! The store does not judge anything: it keeps rows. [`Store::commit_judgement`] writes
//! one judged run (memory, alert rows, queued notifications and the run's
//! `alerts_evaluated_at`) in one transaction, and refuses a run that was judged already,
//! so a run is judged exactly once across crashes and restarts. The outbox methods are
//! the delivery worker's bookkeeping: what is due, and what became of each attempt.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use super::columns::{count, optional_cents, optional_time, time, time_text};
use super::error::{OpError, StoreError};
use super::runs::{RUN_COLUMNS, run_record};
use super::types::{MonitorId, RunId, RunRecord};
use crate::domain::Cents;

/// One authorizer's balance memory (`balance_memory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRow {
    pub authorizer_unique_id: String,
    pub first_checked_at: DateTime<Utc>,
    /// The latest successful balance and the run instant it stands for.
    pub last_success: Option<(DateTime<Utc>, Cents)>,
    /// Oldest first.
    pub peaks: Vec<(DateTime<Utc>, Cents)>,
}

/// Whether an open alert has fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenPhase {
    Pending,
    Firing {
        fired_at: DateTime<Utc>,
        last_notified_at: DateTime<Utc>,
    },
}

/// One pending or firing alert (`alerts` with state `pending` or `firing`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAlertRow {
    pub fingerprint: String,
    /// `None` for an alert about the monitor's runs.
    pub authorizer_unique_id: Option<String>,
    /// The rule's identity, `balance_below#1`.
    pub rule: String,
    pub severity: String,
    pub phase: OpenPhase,
    pub hits: u32,
    pub clears: u32,
}

/// A change to one alert row, written by [`Store::commit_judgement`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertWrite {
    /// The alert is open (pending or firing) with these values: the open row of its
    /// fingerprint is updated, or inserted. `reason` replaces the stored sentence when
    /// given.
    Open {
        row: OpenAlertRow,
        reason: Option<String>,
    },
    /// The open alert resolved at `at`.
    Resolve {
        fingerprint: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// A pending alert whose condition cleared before it fired: its row goes.
    DropPending { fingerprint: String },
}

/// A notification to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub route: String,
    pub idempotency_key: String,
    /// JSON text; it names its run as `run_id`.
    pub payload: String,
    pub monitor: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Everything one judged run writes, in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Memory rows that are new or changed.
    pub memory_upserts: Vec<MemoryRow>,
    /// Authorizers whose memory goes (they left the list).
    pub memory_deletes: Vec<String>,
    pub alerts: Vec<AlertWrite>,
    pub notifications: Vec<NewNotification>,
}

/// How one judged authorizer of a run came out, as the rules read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunCheck {
    pub authorizer_unique_id: String,
    pub outcome: RunCheckOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunCheckOutcome {
    Retrieved {
        status_code: i64,
        balance: Option<Cents>,
    },
    /// No result: the deadline passed, or the chunk was not sent or its answer is
    /// unknown.
    NotRetrieved,
    /// Refused by Rightfoot at submission, or by the pre-flight check.
    Rejected,
}

/// What the rules need to know about a run besides its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunForJudgement {
    pub record: RunRecord,
    /// The run's cron slot, or `None` for a manual run.
    pub slot: Option<DateTime<Utc>>,
    /// Chunks that got a Rightfoot batch id.
    pub chunks_submitted: u32,
    /// Chunks planned.
    pub chunks: u32,
    /// Pre-flight rejections recorded.
    pub preflight_rejections: u32,
}

/// A notification waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedNotification {
    pub id: i64,
    pub route: String,
    pub idempotency_key: String,
    pub payload: String,
    pub monitor: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: u32,
}

/// What an attempt to deliver came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// A transient failure: try again at `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Permanent, or out of time: no further attempt.
    Failed {
        error: String,
    },
}

/// One notification's row, for tests and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: i64,
    pub route: String,
    pub idempotency_key: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The balance memory of `monitor`, sorted by authorizer id (byte order).
    pub async fn balance_memory(&self, monitor: MonitorId) -> Result<Vec<MemoryRow>, StoreError> {
        self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT authorizer_unique_id, first_checked_at, last_success_at, \
                        last_success_cents, peaks \
                 FROM balance_memory WHERE monitor_id = ?1 ORDER BY authorizer_unique_id",
            )?;
            let rows = statement
                .query_map(params![monitor.0], memory_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The pending and firing alerts of `monitor`, sorted by authorizer id (run alerts,
    /// with no authorizer, first).
    pub async fn open_alerts(&self, monitor: MonitorId) -> Result<Vec<OpenAlertRow>, StoreError> {
        self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT fingerprint, authorizer_unique_id, rule, severity, state, \
                        consecutive_failures, consecutive_passes, first_fired_at, \
                        last_notified_at \
                 FROM alerts WHERE monitor_id = ?1 AND state <> 'resolved' \
                 ORDER BY authorizer_unique_id, rule",
            )?;
            let rows = statement
                .query_map(params![monitor.0], open_alert_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The oldest finished run of `monitor` that the rules have not judged yet.
    pub async fn next_unjudged_run(
        &self,
        monitor: MonitorId,
    ) -> Result<Option<RunForJudgement>, StoreError> {
        self.read(move |transaction| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs r JOIN monitors m ON m.id = r.monitor_id \
                 WHERE r.monitor_id = ?1 AND r.alerts_evaluated_at IS NULL \
                   AND r.state IN ('complete', 'partial', 'failed') \
                 ORDER BY r.id LIMIT 1"
            );
            let Some(record) = transaction
                .query_row(&sql, params![monitor.0], run_record)
                .optional()?
            else {
                return Ok(None);
            };
            let (chunks, chunks_submitted): (u32, u32) = transaction.query_row(
                "SELECT count(*), count(rightfoot_batch_id) FROM batches WHERE run_id = ?1",
                params![record.id.0],
                |row| Ok((count(row, 0)?, count(row, 1)?)),
            )?;
            let preflight_rejections = transaction.query_row(
                "SELECT count(*) FROM preflight_rejections WHERE run_id = ?1",
                params![record.id.0],
                |row| count(row, 0),
            )?;
            Ok(Some(RunForJudgement {
                slot: record.trigger.slot(),
                record,
                chunks_submitted,
                chunks,
                preflight_rejections,
            }))
        })
        .await
    }

    /// Every authorizer of `run` once, sorted by id (byte order), with what became of
    /// its check. A member of a chunk Rightfoot answered from its cache gets the result
    /// the owning chunk stored, unless this run stored one of its own (a gap the owner
    /// never got); a member without any result row is not retrieved; an id only the
    /// pre-flight check saw is rejected.
    pub async fn run_checks(&self, run: RunId) -> Result<Vec<RunCheck>, StoreError> {
        self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT m.authorizer_unique_id, \
                        coalesce(own.outcome, inherited.outcome), \
                        CASE WHEN own.outcome IS NOT NULL THEN own.balance_cents \
                             ELSE inherited.balance_cents END, \
                        CASE WHEN own.outcome IS NOT NULL THEN own.balance_status_code \
                             ELSE inherited.balance_status_code END \
                 FROM batch_members m \
                 JOIN batches b ON b.id = m.batch_id \
                 LEFT JOIN results own \
                   ON own.run_id = m.run_id AND own.authorizer_unique_id = m.authorizer_unique_id \
                 LEFT JOIN batches owner ON owner.id = b.cached_from \
                 LEFT JOIN results inherited \
                   ON inherited.run_id = owner.run_id \
                  AND inherited.authorizer_unique_id = m.authorizer_unique_id \
                 WHERE m.run_id = ?1 \
                 UNION ALL \
                 SELECT DISTINCT p.authorizer_unique_id, 'rejected', NULL, NULL \
                 FROM preflight_rejections p \
                 WHERE p.run_id = ?1 AND p.authorizer_unique_id <> '' \
                   AND NOT EXISTS (SELECT 1 FROM batch_members m \
                                   WHERE m.run_id = ?1 \
                                     AND m.authorizer_unique_id = p.authorizer_unique_id) \
                 ORDER BY 1",
            )?;
            let rows = statement
                .query_map(params![run.0], |row| {
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
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Writes one judged run in one transaction: the memory, the alert rows, the queued
    /// notifications, and the run's `alerts_evaluated_at`. Returns `false`, writing
    /// nothing, when the run was judged already.
    pub async fn commit_judgement(
        &self,
        monitor: MonitorId,
        run: RunId,
        judged_at: DateTime<Utc>,
        judgement: Judgement,
    ) -> Result<bool, StoreError> {
        self.write(move |transaction| {
            let marked = transaction.execute(
                "UPDATE runs SET alerts_evaluated_at = ?2 \
                 WHERE id = ?1 AND alerts_evaluated_at IS NULL \
                   AND state IN ('complete', 'partial', 'failed')",
                params![run.0, time_text(judged_at)],
            )?;
            if marked == 0 {
                return Ok(false);
            }
            write_memory(transaction, monitor, &judgement)?;
            for write in &judgement.alerts {
                write_alert(transaction, monitor, run, write)?;
            }
            for notification in &judgement.notifications {
                queue(transaction, notification)?;
            }
            Ok(true)
        })
        .await
    }

    /// Queues one notification outside a judgement (a test notification).
    pub async fn queue_notification(
        &self,
        notification: NewNotification,
    ) -> Result<i64, StoreError> {
        self.write(move |transaction| queue(transaction, &notification))
            .await
    }

    /// Pending notifications due at `now`, oldest first, at most `limit`.
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedNotification>, StoreError> {
        self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT id, route, idempotency_key, payload, monitor, created_at, \
                        next_attempt_at, attempts \
                 FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
                 ORDER BY next_attempt_at, id LIMIT ?2",
            )?;
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
    }

    /// When the next pending notification is due, if any is pending.
    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|transaction| {
            let next: Option<String> = transaction.query_row(
                "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )?;
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
    }

    /// Records an attempt to deliver notification `id` made at `at`.
    pub async fn record_attempt(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        self.write(move |transaction| {
            let at = time_text(at);
            match outcome {
                AttemptOutcome::Delivered => transaction.execute(
                    "UPDATE outbox SET state = 'delivered', delivered_at = ?2, \
                         last_attempt_at = ?2, attempts = attempts + 1 \
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, at],
                )?,
                AttemptOutcome::Retry {
                    error,
                    next_attempt_at,
                } => transaction.execute(
                    "UPDATE outbox SET last_attempt_at = ?2, attempts = attempts + 1, \
                         last_error = ?3, next_attempt_at = ?4 \
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, at, error, time_text(next_attempt_at)],
                )?,
                AttemptOutcome::Failed { error } => transaction.execute(
                    "UPDATE outbox SET state = 'failed', last_attempt_at = ?2, \
                         attempts = attempts + 1, last_error = ?3 \
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, at, error],
                )?,
            };
            Ok(())
        })
        .await
    }

    /// The runs of `monitor` the rules have judged, after `after`, oldest first.
    pub async fn judged_runs_after(
        &self,
        monitor: MonitorId,
        after: RunId,
    ) -> Result<Vec<RunId>, StoreError> {
        self.read(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT id FROM runs WHERE monitor_id = ?1 AND id > ?2 \
                   AND alerts_evaluated_at IS NOT NULL ORDER BY id",
            )?;
            let rows = statement
                .query_map(params![monitor.0, after.0], |row| Ok(RunId(row.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Every notification, oldest first.
    pub async fn notifications(&self) -> Result<Vec<NotificationRecord>, StoreError> {
        self.read(|transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT id, route, idempotency_key, payload, state, attempts, last_error, \
                        created_at, delivered_at \
                 FROM outbox ORDER BY id",
            )?;
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
    }
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

fn parse_peaks(text: &str) -> Result<Vec<(DateTime<Utc>, Cents)>, String> {
    let raw: Vec<(String, i64)> = serde_json::from_str(text).map_err(|e| format!("peaks: {e}"))?;
    raw.into_iter()
        .map(|(at, cents)| {
            DateTime::parse_from_rfc3339(&at)
                .map(|at| (at.with_timezone(&Utc), Cents(cents)))
                .map_err(|e| format!("peaks: {e}"))
        })
        .collect()
}

fn peaks_text(peaks: &[(DateTime<Utc>, Cents)]) -> String {
    let raw: Vec<(String, i64)> = peaks
        .iter()
        .map(|(at, cents)| (time_text(*at), cents.0))
        .collect();
    serde_json::to_string(&raw).unwrap_or_else(|_| "[]".to_string())
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
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO balance_memory (monitor_id, authorizer_unique_id, first_checked_at, \
             last_success_at, last_success_cents, peaks) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (monitor_id, authorizer_unique_id) DO UPDATE SET \
             first_checked_at = excluded.first_checked_at, \
             last_success_at = excluded.last_success_at, \
             last_success_cents = excluded.last_success_cents, \
             peaks = excluded.peaks",
    )?;
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

/// Resolves a firing alert. `state <> 'resolved'` adds nothing to the meaning (a firing
/// alert is not resolved) but lets SQLite use the partial index `alerts_open`: without
/// it the statement scans every firing alert of every monitor.
pub(super) const RESOLVE_FIRING_SQL: &str = "\
    UPDATE alerts SET state = 'resolved', resolved_at = ?2, last_run_id = ?3, \
        reason = ?4, consecutive_failures = 0 \
    WHERE fingerprint = ?1 AND state <> 'resolved' AND state = 'firing'";

/// Drops a pending alert. `state <> 'resolved'` lets SQLite use the partial index
/// `alerts_open`: without it the statement scans the whole `alerts` table, resolved
/// history included, so a run's judgement grew slower with every alert ever resolved
/// (see the soak benchmark in `BENCHMARKS.md`).
pub(super) const DELETE_PENDING_SQL: &str =
    "DELETE FROM alerts WHERE fingerprint = ?1 AND state <> 'resolved' AND state = 'pending'";

fn write_alert(
    transaction: &Transaction<'_>,
    monitor: MonitorId,
    run: RunId,
    write: &AlertWrite,
) -> Result<(), OpError> {
    match write {
        AlertWrite::Open { row, reason } => {
            let (state, fired_at, notified_at) = match row.phase {
                OpenPhase::Pending => ("pending", None, None),
                OpenPhase::Firing {
                    fired_at,
                    last_notified_at,
                } => (
                    "firing",
                    Some(time_text(fired_at)),
                    Some(time_text(last_notified_at)),
                ),
            };
            let updated = transaction
                .prepare_cached(
                    "UPDATE alerts SET state = ?2, severity = ?3, consecutive_failures = ?4, \
                         consecutive_passes = ?5, first_fired_at = ?6, last_fired_at = ?6, \
                         last_notified_at = ?7, last_run_id = ?8, reason = coalesce(?9, reason) \
                     WHERE fingerprint = ?1 AND state <> 'resolved'",
                )?
                .execute(params![
                    row.fingerprint,
                    state,
                    row.severity,
                    row.hits,
                    row.clears,
                    fired_at,
                    notified_at,
                    run.0,
                    reason,
                ])?;
            if updated == 0 {
                transaction
                    .prepare_cached(
                        "INSERT INTO alerts (fingerprint, monitor_id, authorizer_unique_id, rule, \
                             state, severity, consecutive_failures, consecutive_passes, \
                             first_fired_at, last_fired_at, last_notified_at, last_run_id, reason) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12)",
                    )?
                    .execute(params![
                        row.fingerprint,
                        monitor.0,
                        row.authorizer_unique_id,
                        row.rule,
                        state,
                        row.severity,
                        row.hits,
                        row.clears,
                        fired_at,
                        notified_at,
                        run.0,
                        reason,
                    ])?;
            }
        }
        AlertWrite::Resolve {
            fingerprint,
            at,
            reason,
        } => {
            transaction
                .prepare_cached(RESOLVE_FIRING_SQL)?
                .execute(params![fingerprint, time_text(*at), run.0, reason])?;
            // A pending alert "resolved" (its rule or authorizer went) never fired.
            transaction
                .prepare_cached(DELETE_PENDING_SQL)?
                .execute(params![fingerprint])?;
        }
        AlertWrite::DropPending { fingerprint } => {
            transaction
                .prepare_cached(DELETE_PENDING_SQL)?
                .execute(params![fingerprint])?;
        }
    }
    Ok(())
}

fn queue(transaction: &Transaction<'_>, notification: &NewNotification) -> Result<i64, OpError> {
    let created = time_text(notification.created_at);
    transaction
        .prepare_cached(
            "INSERT INTO outbox (route, idempotency_key, payload, created_at, next_attempt_at, \
                 state, monitor) \
             VALUES (?1, ?2, ?3, ?4, ?4, 'pending', ?5)",
        )?
        .execute(params![
            notification.route,
            notification.idempotency_key,
            notification.payload,
            created,
            notification.monitor,
        ])?;
    Ok(transaction.last_insert_rowid())
}
