//! The statements of alert state (`AlertState`): a run's checks, balance memory, the
//! open alerts and a judgement's writes.

use super::run_columns;

/// The columns of an open alert, in the order both backends' `open_alert_row` reads.
macro_rules! open_alert_columns {
    () => {
        "fingerprint, authorizer_unique_id, rule, severity, state, \
         consecutive_failures, consecutive_passes, first_fired_at, last_notified_at"
    };
}

/// A run's checks: its members with their own result or the cached owner's, then the
/// ids only the pre-flight check refused. `?1` is the run, `?2` the id to start after
/// and `?3` the most rows; each part is cut at `?3` before the two are merged, so a
/// page sorts at most twice its length.
pub(crate) const RUN_CHECKS_PAGE: &str = "\
    SELECT * FROM ( \
      SELECT m.authorizer_unique_id, \
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
      WHERE m.run_id = ?1 AND m.authorizer_unique_id > ?2 \
      ORDER BY m.authorizer_unique_id LIMIT ?3) AS members \
    UNION ALL \
    SELECT * FROM ( \
      SELECT DISTINCT p.authorizer_unique_id, 'rejected', \
             CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) \
      FROM preflight_rejections p \
      WHERE p.run_id = ?1 AND p.authorizer_unique_id > ?2 \
        AND NOT EXISTS (SELECT 1 FROM batch_members m \
                        WHERE m.run_id = ?1 \
                          AND m.authorizer_unique_id = p.authorizer_unique_id) \
      ORDER BY 1 LIMIT ?3) AS refused \
    ORDER BY 1 LIMIT ?3";

/// The oldest unjudged run of monitor `?1`, finished or not.
pub(crate) const NEXT_UNJUDGED_RUN: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN monitors m ON m.id = r.monitor_id \
     WHERE r.monitor_id = ?1 AND r.alerts_evaluated_at IS NULL \
     ORDER BY r.id LIMIT 1"
);

/// Run `?1`'s chunks, those of them submitted, and its pre-flight refusals.
pub(crate) const RUN_CHUNK_COUNTS: &str = "\
    SELECT (SELECT count(*) FROM batches WHERE run_id = ?1), \
           (SELECT count(rightfoot_batch_id) FROM batches WHERE run_id = ?1), \
           (SELECT count(*) FROM preflight_rejections WHERE run_id = ?1)";

/// The judged runs of monitor `?1` after run `?2`, oldest first.
pub(crate) const JUDGED_RUNS_AFTER: &str = "\
    SELECT id FROM runs WHERE monitor_id = ?1 AND id > ?2 \
      AND alerts_evaluated_at IS NOT NULL ORDER BY id";

/// Up to `?3` balance memory rows of monitor `?1` with an id above `?2`, by id.
pub(crate) const MEMORY_PAGE: &str = "\
    SELECT authorizer_unique_id, first_checked_at, last_success_at, \
           last_success_cents, peaks \
    FROM balance_memory WHERE monitor_id = ?1 AND authorizer_unique_id > ?2 \
    ORDER BY authorizer_unique_id LIMIT ?3";

/// Monitor `?1`'s open run alerts (no authorizer), by rule.
pub(crate) const OPEN_RUN_ALERTS: &str = concat!(
    "SELECT ",
    open_alert_columns!(),
    " FROM alerts \
     WHERE monitor_id = ?1 AND state <> 'resolved' AND authorizer_unique_id IS NULL \
     ORDER BY rule"
);

/// Monitor `?1`'s open authorizer alerts with an id above `?2` and at most `?3` (every
/// id above `?2` when `?3` is NULL), by id and rule.
pub(crate) const OPEN_ALERTS_BETWEEN: &str = concat!(
    "SELECT ",
    open_alert_columns!(),
    " FROM alerts \
     WHERE monitor_id = ?1 AND state <> 'resolved' AND authorizer_unique_id > ?2 \
       AND (CAST(?3 AS TEXT) IS NULL OR authorizer_unique_id <= CAST(?3 AS TEXT)) \
     ORDER BY authorizer_unique_id, rule"
);

/// Sets finished run `?1`'s `alerts_evaluated_at` to `?2` unless it is set already.
pub(crate) const MARK_JUDGED: &str = "\
    UPDATE runs SET alerts_evaluated_at = ?2 \
    WHERE id = ?1 AND alerts_evaluated_at IS NULL \
      AND state IN ('complete', 'partial', 'failed')";

/// Writes one authorizer's balance memory: monitor, id, first check, last success and
/// its cents, peaks.
pub(crate) const UPSERT_MEMORY: &str = "\
    INSERT INTO balance_memory (monitor_id, authorizer_unique_id, first_checked_at, \
        last_success_at, last_success_cents, peaks) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
    ON CONFLICT (monitor_id, authorizer_unique_id) DO UPDATE SET \
        first_checked_at = excluded.first_checked_at, \
        last_success_at = excluded.last_success_at, \
        last_success_cents = excluded.last_success_cents, \
        peaks = excluded.peaks";

/// Updates an open alert; the columns a judgement changes are `?1` to `?9`: fingerprint,
/// state, severity, hits, clears, fired at, notified at, run, reason.
pub(crate) const UPDATE_OPEN_ALERT: &str = "\
    UPDATE alerts SET state = ?2, severity = ?3, consecutive_failures = ?4, \
        consecutive_passes = ?5, first_fired_at = ?6, last_fired_at = ?6, \
        last_notified_at = ?7, last_run_id = ?8, reason = coalesce(?9, reason) \
    WHERE fingerprint = ?1 AND state <> 'resolved'";

/// Opens an alert: [`UPDATE_OPEN_ALERT`]'s nine values, then monitor, authorizer, rule.
pub(crate) const INSERT_ALERT: &str = "\
    INSERT INTO alerts (fingerprint, state, severity, consecutive_failures, \
        consecutive_passes, first_fired_at, last_fired_at, last_notified_at, \
        last_run_id, reason, monitor_id, authorizer_unique_id, rule) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Resolves a firing alert. `state <> 'resolved'` adds nothing to the meaning (a firing
/// alert is not resolved) but lets SQLite use the partial index `alerts_open`: without
/// it the statement scans every firing alert of every monitor.
pub(crate) const RESOLVE_FIRING: &str = "\
    UPDATE alerts SET state = 'resolved', resolved_at = ?2, last_run_id = ?3, \
        reason = ?4, consecutive_failures = 0 \
    WHERE fingerprint = ?1 AND state <> 'resolved' AND state = 'firing'";

/// Drops a pending alert. `state <> 'resolved'` lets SQLite use the partial index
/// `alerts_open`: without it the statement scans the whole `alerts` table, resolved
/// history included, so a run's judgement grew slower with every alert ever resolved
/// (see the soak benchmark in `BENCHMARKS.md`).
pub(crate) const DELETE_PENDING: &str =
    "DELETE FROM alerts WHERE fingerprint = ?1 AND state <> 'resolved' AND state = 'pending'";
