//! The statements of the read side (`ReadQueries`). Where SQLite is told its index
//! (`INDEXED BY`, pinned by its plan tests), the statement is a macro that takes the
//! hint, and PostgreSQL passes none.

use super::run_columns;

/// The history page: authorizer `?1`'s rows backwards from run `?2`, at most `?3`, with
/// the run's time and the chunk's Rightfoot batch id; `$results` names how `results r`
/// is read.
macro_rules! history_page {
    ($results:literal) => {
        concat!(
            "SELECT r.run_id, runs.created_at, b.rightfoot_batch_id, r.outcome, r.balance_cents, \
                    r.balance_status_code, r.reason \
             FROM results r ",
            $results,
            " JOIN runs ON runs.id = r.run_id \
             JOIN batches b ON b.id = r.batch_id \
             WHERE r.authorizer_unique_id = ?1 AND r.run_id < ?2 \
             ORDER BY r.run_id DESC \
             LIMIT ?3"
        )
    };
}
pub(crate) use history_page;

/// Chunk `?1` (of run `?2`)'s `retrieved` results after authorizer id `?3`, at most
/// `?4`, in id order; `$members` names how `batch_members m` is read.
macro_rules! chunk_results {
    ($members:literal) => {
        concat!(
            "SELECT r.authorizer_unique_id, r.balance_cents, r.balance_status_code, r.retrieved_at \
             FROM batch_members m ",
            $members,
            " JOIN results r ON r.run_id = m.run_id \
                 AND r.authorizer_unique_id = m.authorizer_unique_id \
             WHERE m.batch_id = ?1 AND m.run_id = ?2 AND m.authorizer_unique_id > ?3 \
               AND r.batch_id = ?1 AND r.outcome = 'retrieved' \
             ORDER BY m.authorizer_unique_id \
             LIMIT ?4"
        )
    };
}
pub(crate) use chunk_results;

/// How many authorizers of Rightfoot batch `?1` have a `retrieved` result.
pub(crate) const BATCH_TOTAL_PROCESSED: &str = "\
    SELECT count(DISTINCT r.authorizer_unique_id) \
    FROM batches b JOIN results r ON r.batch_id = b.id \
    WHERE b.rightfoot_batch_id = ?1 AND r.outcome = 'retrieved'";

/// Whether a chunk has Rightfoot batch id `?1`.
pub(crate) const BATCH_ID_KNOWN: &str =
    "SELECT EXISTS (SELECT 1 FROM batches WHERE rightfoot_batch_id = ?1)";

/// The chunks with Rightfoot batch id `?1`, first recorded first: id and run.
pub(crate) const CHUNKS_WITH_BATCH_ID: &str =
    "SELECT id, run_id FROM batches WHERE rightfoot_batch_id = ?1 ORDER BY id";

/// Runs before run `?1` of monitor `?2` (every monitor when NULL), newest first, `?3`.
pub(crate) const RUNS_PAGE: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN monitors m ON m.id = r.monitor_id \
     WHERE r.id < ?1 AND (CAST(?2 AS TEXT) IS NULL OR m.name = CAST(?2 AS TEXT)) \
     ORDER BY r.id DESC LIMIT ?3"
);

/// The columns both backends' `alert_record` reads, from `alerts a JOIN monitors m`.
macro_rules! alert_columns {
    () => {
        "a.id, a.fingerprint, m.name, a.authorizer_unique_id, a.rule, a.state, \
         a.severity, a.consecutive_failures, a.consecutive_passes, \
         a.first_fired_at, a.last_fired_at, a.last_notified_at, a.resolved_at, \
         a.last_run_id, a.reason"
    };
}
pub(crate) use alert_columns;

/// Alerts that fired, before alert `?1`, in state `?2` (any when NULL), newest first,
/// `?3` of them.
pub(crate) const ALERTS_PAGE: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
     WHERE a.id < ?1 AND a.state <> 'pending' \
       AND (CAST(?2 AS TEXT) IS NULL OR a.state = CAST(?2 AS TEXT)) \
     ORDER BY a.id DESC LIMIT ?3"
);

/// Runs counted by monitor and state.
pub(crate) const RUN_COUNTS: &str = "\
    SELECT m.name, r.state, count(*) FROM runs r JOIN monitors m ON m.id = r.monitor_id \
    GROUP BY m.name, r.state ORDER BY m.name, r.state";

/// Each monitor's latest finished run.
pub(crate) const LATEST_FINISHED_RUNS: &str = "\
    SELECT m.name, max(r.id) FROM runs r JOIN monitors m ON m.id = r.monitor_id \
    WHERE r.state IN ('complete', 'partial', 'failed') \
    GROUP BY m.name ORDER BY m.name";

/// Run `?1`'s results counted by outcome and balance status code.
pub(crate) const RESULT_COUNTS: &str = "\
    SELECT outcome, balance_status_code, count(*) FROM results WHERE run_id = ?1 \
    GROUP BY outcome, balance_status_code \
    ORDER BY outcome, balance_status_code NULLS FIRST";

/// Firing alerts counted by severity.
pub(crate) const FIRING_BY_SEVERITY: &str =
    "SELECT severity, count(*) FROM alerts WHERE state = 'firing' GROUP BY severity";

/// Notifications pending and failed.
pub(crate) const OUTBOX_COUNTS: &str = "\
    SELECT (SELECT count(*) FROM outbox WHERE state = 'pending'), \
           (SELECT count(*) FROM outbox WHERE state = 'failed')";

/// Each monitor's latest complete run's end.
pub(crate) const LAST_COMPLETE_RUN: &str = "\
    SELECT m.name, max(r.finished_at) FROM runs r \
    JOIN monitors m ON m.id = r.monitor_id \
    WHERE r.state = 'complete' GROUP BY m.name ORDER BY m.name";

/// Each monitor's schedule position.
pub(crate) const SCHEDULE_POSITIONS: &str = "\
    SELECT m.name, s.last_slot FROM schedule_state s JOIN monitors m ON m.id = s.monitor_id";
