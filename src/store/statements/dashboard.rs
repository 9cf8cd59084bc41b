//! The statements of the dashboard (`Dashboard`) and "retry now".

use super::queries::alert_columns;

/// Firing alerts counted by monitor and severity.
pub(crate) const FIRING_COUNTS: &str = "\
    SELECT m.name, a.severity, count(*) FROM alerts a \
        JOIN monitors m ON m.id = a.monitor_id \
    WHERE a.state = 'firing' GROUP BY m.name, a.severity ORDER BY m.name, a.severity";

/// Notifications pending and failed, by monitor (test notifications, with none, first).
pub(crate) const OUTBOX_BACKLOG: &str = "\
    SELECT monitor, count(*) FILTER (WHERE state = 'pending'), \
        count(*) FILTER (WHERE state = 'failed') FROM outbox \
    WHERE state IN ('pending', 'failed') GROUP BY monitor \
    ORDER BY monitor NULLS FIRST";

/// Monitor `?1`'s authorizer alert episodes that fired by `?2` and were open after `?3`,
/// by authorizer.
pub(crate) const AT_RISK_EPISODES: &str = "\
    SELECT authorizer_unique_id, first_fired_at, resolved_at FROM alerts \
    WHERE monitor_id = ?1 AND authorizer_unique_id IS NOT NULL \
        AND state <> 'pending' AND first_fired_at <= ?2 \
        AND (resolved_at IS NULL OR resolved_at > ?3) \
    ORDER BY authorizer_unique_id";

/// The alerts that run `?1` last touched and that fired.
pub(crate) const RUN_ALERTS: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
     WHERE a.last_run_id = ?1 AND a.state <> 'pending' ORDER BY a.id"
);

/// Authorizer `?1`'s alerts that fired, newest first, `?2` of them.
pub(crate) const AUTHORIZER_ALERTS: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
     WHERE a.authorizer_unique_id = ?1 AND a.state <> 'pending' \
     ORDER BY a.id DESC LIMIT ?2"
);

/// Alerts that fired, before alert `?1`, newest first, `?6` of them, filtered by state
/// `?2`, monitor `?3`, severity `?4` and rule `?5` (a rule or its entries `rule#n`);
/// NULL filters nothing.
pub(crate) const ALERTS_FILTERED: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts a JOIN monitors m ON m.id = a.monitor_id \
     WHERE a.id < ?1 AND a.state <> 'pending' \
         AND (CAST(?2 AS TEXT) IS NULL OR a.state = CAST(?2 AS TEXT)) \
         AND (CAST(?3 AS TEXT) IS NULL OR m.name = CAST(?3 AS TEXT)) \
         AND (CAST(?4 AS TEXT) IS NULL OR a.severity = CAST(?4 AS TEXT)) \
         AND (CAST(?5 AS TEXT) IS NULL OR a.rule = CAST(?5 AS TEXT) \
              OR substr(a.rule, 1, length(CAST(?5 AS TEXT)) + 1) = CAST(?5 AS TEXT) || '#') \
     ORDER BY a.id DESC LIMIT ?6"
);

/// Notifications pending or failed, oldest first, `?1` of them.
pub(crate) const UNDELIVERED: &str = "\
    SELECT id, route, monitor, state, attempts, last_error, created_at, \
        next_attempt_at, last_attempt_at \
    FROM outbox WHERE state IN ('pending', 'failed') ORDER BY id LIMIT ?1";

/// Makes notification `?1` due at `?2` again, failed or not.
pub(crate) const RETRY_NOW: &str = "\
    UPDATE outbox SET state = 'pending', next_attempt_at = ?2 \
    WHERE id = ?1 AND state IN ('pending', 'failed')";

/// An authorizer's checks (`?1`), oldest first, without the balance each changed from:
/// its results and its pre-flight rejections (one line per run), with the run's monitor
/// and time.
pub(crate) const TIMELINE: &str = "\
    SELECT c.run_id, m.name, coalesce(u.started_at, u.created_at) AS run_time, c.outcome, \
           c.balance_cents, c.balance_status_code, c.retrieved_at, c.reason, \
           CAST(NULL AS BIGINT) \
    FROM ( \
        SELECT r.run_id, r.outcome, r.balance_cents, r.balance_status_code, r.retrieved_at, \
               r.reason \
        FROM results r WHERE r.authorizer_unique_id = ?1 \
        UNION ALL \
        SELECT p.run_id, 'preflight_rejected', CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), \
               CAST(NULL AS TIMESTAMPTZ), min(p.reason) \
        FROM preflight_rejections p WHERE p.authorizer_unique_id = ?1 GROUP BY p.run_id \
    ) c JOIN runs u ON u.id = c.run_id JOIN monitors m ON m.id = u.monitor_id \
    ORDER BY run_time, c.run_id";
