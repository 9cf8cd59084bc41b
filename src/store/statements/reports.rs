//! The statements of the terminal's reports (`Reports`). The run an outbox row is about
//! lives in its JSON payload, which the two dialects read differently: the statements
//! that need it take each backend's `OUTBOX_RUN_ID` (the run of outbox row `o`).

use super::run_columns;

/// The latest `?2` runs of monitor `?1` (every monitor when NULL), newest first.
pub(crate) const RECENT_RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN monitors m ON m.id = r.monitor_id \
     WHERE CAST(?1 AS BIGINT) IS NULL OR r.monitor_id = ?1 ORDER BY r.id DESC LIMIT ?2"
);

/// The alerts that run `?1` last touched and that fired, counted by state.
pub(crate) const RUN_ALERT_STATES: &str = "\
    SELECT state, count(*) FROM alerts \
    WHERE last_run_id = ?1 AND state <> 'pending' GROUP BY state";

/// Run `?1`'s notifications not delivered, oldest first.
pub(crate) fn undelivered_of_run(outbox_run_id: &str) -> String {
    format!(
        "SELECT o.route, o.state, o.attempts, o.last_error, o.next_attempt_at \
         FROM outbox o WHERE o.state <> 'delivered' AND {outbox_run_id} = ?1 \
         ORDER BY o.id"
    )
}

/// The notifications of every run that has any, counted by run and state.
pub(crate) fn notification_counts_by_run(outbox_run_id: &str) -> String {
    format!(
        "SELECT run, state, count(*) FROM \
             (SELECT {outbox_run_id} AS run, o.state FROM outbox o) AS linked \
         WHERE run IS NOT NULL GROUP BY 1, 2"
    )
}

/// Results and pre-flight rejections of the authorizer (`?1`), one row per run, with the
/// run's time and the latest earlier balance; `?2` is `since` (NULL for all), `?3` the
/// limit.
pub(crate) const HISTORY: &str = "
WITH checks AS (
    SELECT r.run_id, r.outcome, r.balance_cents, r.balance_status_code, r.retrieved_at,
           r.reason
    FROM results r WHERE r.authorizer_unique_id = ?1
    UNION ALL
    -- A duplicate row is rejected once per position; one line per run is enough.
    SELECT p.run_id, 'preflight_rejected', CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
           CAST(NULL AS TIMESTAMPTZ), p.reason
    FROM preflight_rejections p
    WHERE p.authorizer_unique_id = ?1
      AND p.position = (SELECT min(q.position) FROM preflight_rejections q
                        WHERE q.run_id = p.run_id AND q.authorizer_unique_id = ?1)
),
timed AS MATERIALIZED (
    SELECT c.*, m.name AS monitor, coalesce(u.started_at, u.created_at) AS run_time
    FROM checks c JOIN runs u ON u.id = c.run_id JOIN monitors m ON m.id = u.monitor_id
)
SELECT t.run_id, t.monitor, t.run_time, t.outcome, t.balance_cents, t.balance_status_code,
       t.retrieved_at, t.reason,
       (SELECT e.balance_cents FROM timed e
        WHERE e.balance_cents IS NOT NULL
          AND (e.run_time < t.run_time OR (e.run_time = t.run_time AND e.run_id < t.run_id))
        ORDER BY e.run_time DESC, e.run_id DESC LIMIT 1)
FROM timed t
WHERE CAST(?2 AS TIMESTAMPTZ) IS NULL OR t.run_time >= ?2
ORDER BY t.run_time DESC, t.run_id DESC
LIMIT ?3";

/// Whether any run ever included authorizer `?1`. The indexed tables first: the member
/// list has no index by authorizer alone, and is scanned only for an unknown id.
pub(crate) const AUTHORIZER_KNOWN: &str = "\
    SELECT EXISTS (SELECT 1 FROM results WHERE authorizer_unique_id = ?1) \
        OR EXISTS (SELECT 1 FROM preflight_rejections WHERE authorizer_unique_id = ?1) \
        OR EXISTS (SELECT 1 FROM batch_members WHERE authorizer_unique_id = ?1)";

/// Run `?1`'s results counted by outcome and whether their status code is 0.
pub(crate) const RESULT_COUNTS: &str = "\
    SELECT outcome, balance_status_code = 0, count(*) FROM results \
    WHERE run_id = ?1 GROUP BY 1, 2";

/// How many authorizers pre-flight validation kept out of run `?1`.
pub(crate) const PREFLIGHT_COUNT: &str =
    "SELECT count(*) FROM preflight_rejections WHERE run_id = ?1";
