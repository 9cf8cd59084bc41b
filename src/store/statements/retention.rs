//! The statements of retention's prune (`store/retention.rs` says what may go and what
//! never goes). Each delete takes the cutoff or a run as `?1` and the most rows it may
//! delete as `?2`; the deletes are listed in the order a transaction runs them, children
//! before parents. The run an outbox row is about is each backend's `OUTBOX_RUN_ID`, and
//! a result row's own key is SQLite's `rowid` or PostgreSQL's `seq`.

use crate::store::PruneSummary;

/// One delete of the prune, and the count of the summary it adds to.
pub(crate) struct PruneDelete {
    pub(crate) sql: String,
    pub(crate) counts: fn(&mut PruneSummary) -> &mut u64,
}

fn delete(sql: String, counts: fn(&mut PruneSummary) -> &mut u64) -> PruneDelete {
    PruneDelete { sql, counts }
}

/// The deletes keyed by the cutoff (`?1`).
pub(crate) fn cutoff_deletes(outbox_run_id: &str) -> [PruneDelete; 4] {
    [
        delete(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE state = 'delivered' AND delivered_at < ?1 LIMIT ?2)"
                .to_string(),
            |s| &mut s.delivered_notifications,
        ),
        delete(
            format!(
                "DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a \
                 WHERE a.state = 'resolved' AND a.resolved_at < ?1 AND a.last_fired_at < ?1 \
                   AND a.consecutive_failures = 0 \
                   AND (a.last_run_id IS NULL OR EXISTS (SELECT 1 FROM runs u \
                        WHERE u.id = a.last_run_id AND u.finished_at < ?1)) \
                   AND NOT EXISTS (SELECT 1 FROM outbox o \
                        WHERE o.state <> 'delivered' AND {outbox_run_id} = a.last_run_id) \
                 LIMIT ?2)"
            ),
            |s| &mut s.resolved_alerts,
        ),
        delete(
            "DELETE FROM schedule_events WHERE id IN (SELECT id FROM schedule_events \
             WHERE last_slot < ?1 LIMIT ?2)"
                .to_string(),
            |s| &mut s.schedule_events,
        ),
        delete(
            "DELETE FROM webhook_events WHERE event_uuid IN (SELECT event_uuid \
             FROM webhook_events WHERE received_at < ?1 LIMIT ?2)"
                .to_string(),
            |s| &mut s.webhook_events,
        ),
    ]
}

/// The deletes of one run's rows (`?1`), children first: results refer to members,
/// members and failed authorizers to chunks, chunks (and pre-flight rejections) to the
/// run. A chunk linked by the cache to another chunk of the same run goes before the
/// chunk it links to (links from other runs keep the run: see [`next_prunable_run`]).
pub(crate) fn run_deletes(result_key: &str) -> [PruneDelete; 5] {
    [
        delete(
            format!(
                "DELETE FROM results WHERE {result_key} IN \
                 (SELECT {result_key} FROM results WHERE run_id = ?1 LIMIT ?2)"
            ),
            |s| &mut s.results,
        ),
        delete(
            "DELETE FROM batch_failed_authorizers WHERE (batch_id, authorizer_unique_id) IN \
             (SELECT f.batch_id, f.authorizer_unique_id FROM batch_failed_authorizers f \
              WHERE f.batch_id IN (SELECT id FROM batches WHERE run_id = ?1) LIMIT ?2)"
                .to_string(),
            |s| &mut s.failed_authorizers,
        ),
        delete(
            "DELETE FROM batch_members WHERE run_id = ?1 AND authorizer_unique_id IN \
             (SELECT authorizer_unique_id FROM batch_members WHERE run_id = ?1 LIMIT ?2)"
                .to_string(),
            |s| &mut s.batch_members,
        ),
        delete(
            "DELETE FROM preflight_rejections WHERE run_id = ?1 AND position IN \
             (SELECT position FROM preflight_rejections WHERE run_id = ?1 LIMIT ?2)"
                .to_string(),
            |s| &mut s.preflight_rejections,
        ),
        delete(
            "DELETE FROM batches WHERE id IN (SELECT id FROM batches WHERE run_id = ?1 \
             ORDER BY cached_from IS NULL, id LIMIT ?2)"
                .to_string(),
            |s| &mut s.batches,
        ),
    ]
}

/// The run itself, last, once its rows are gone (`?2`: some budget is left).
pub(crate) const DELETE_RUN: &str = "DELETE FROM runs WHERE id = ?1 AND CAST(?2 AS BIGINT) > 0";

/// How many runs are older than the cutoff (`?1`): finished, started or created before it.
pub(crate) const RUNS_BEFORE: &str =
    "SELECT count(*) FROM runs WHERE coalesce(finished_at, started_at, created_at) < ?1";

/// The oldest finished run before the cutoff (`?1`) that nothing refers to. Subqueries
/// with `NOT IN` are evaluated once per statement.
pub(crate) fn next_prunable_run(outbox_run_id: &str) -> String {
    format!(
        "SELECT u.id FROM runs u \
         WHERE u.state IN ('complete', 'partial', 'failed') AND u.finished_at < ?1 \
           AND u.id NOT IN (SELECT last_run_id FROM alerts WHERE last_run_id IS NOT NULL) \
           AND u.id NOT IN (SELECT last_run_id FROM schedule_state \
                            WHERE last_run_id IS NOT NULL) \
           AND u.id NOT IN (SELECT {outbox_run_id} FROM outbox o \
                            WHERE o.state <> 'delivered' AND {outbox_run_id} IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM batches mine JOIN batches other \
                               ON other.rightfoot_batch_id = mine.rightfoot_batch_id \
                              AND other.cached_from = mine.id \
                           WHERE mine.run_id = u.id AND mine.rightfoot_batch_id IS NOT NULL \
                             AND other.run_id <> u.id) \
         ORDER BY u.finished_at, u.id LIMIT 1"
    )
}
