//! The statements of monitors and runs (`RunJournal`).

use super::run_columns;

/// Creates monitor `?1` unless it exists.
pub(crate) const ENSURE_MONITOR: &str =
    "INSERT INTO monitors (name, created_at) VALUES (?1, now()) ON CONFLICT (name) DO NOTHING";

/// The id of monitor `?1` (a name).
pub(crate) const MONITOR_ID: &str = "SELECT id FROM monitors WHERE name = ?1";

/// The name of monitor `?1` (an id).
pub(crate) const MONITOR_NAME: &str = "SELECT name FROM monitors WHERE id = ?1";

/// Creates a pending run of monitor `?1` for slot `?2` (NULL for a manual run), trigger
/// `?3`, created at `?4`; answers its id, or nothing when the slot has a run already.
pub(crate) const CREATE_RUN: &str = "\
    INSERT INTO runs (monitor_id, scheduled_for, run_trigger, state, created_at) \
    VALUES (?1, ?2, ?3, 'pending', ?4) \
    ON CONFLICT (monitor_id, scheduled_for) DO NOTHING RETURNING id";

/// The run of monitor `?1` for slot `?2`.
pub(crate) const RUN_AT_SLOT: &str =
    "SELECT id FROM runs WHERE monitor_id = ?1 AND scheduled_for = ?2";

/// Moves run `?1` to state `?2`, started at `?3` unless it has started, finished at `?4`,
/// for reason `?5` if given.
pub(crate) const SET_RUN_STATE: &str = "\
    UPDATE runs SET state = ?2, \
        started_at = coalesce(started_at, ?3), \
        finished_at = ?4, \
        reason = coalesce(?5, reason) \
    WHERE id = ?1";

/// Marks run `?1` as served from Rightfoot's cache.
pub(crate) const SERVED_FROM_CACHE: &str = "UPDATE runs SET served_from_cache = TRUE WHERE id = ?1";

/// Starts run `?1` at `?2` unless it has started.
pub(crate) const START_RUN: &str =
    "UPDATE runs SET state = 'running', started_at = coalesce(started_at, ?2) WHERE id = ?1";

/// Run `?1`'s pre-flight refusals, in plan order.
pub(crate) const PREFLIGHT_REJECTIONS: &str = "\
    SELECT authorizer_unique_id, source, reason FROM preflight_rejections \
    WHERE run_id = ?1 ORDER BY position";

/// Run `?1`'s counts, in `RunTally`'s order: members, accepted, refused by pre-flight,
/// refused by Rightfoot, not retrieved, cached and awaiting a result.
pub(crate) const RUN_TALLY: &str = "\
    SELECT \
      (SELECT count(*) FROM batch_members WHERE run_id = ?1), \
      (SELECT CAST(coalesce(sum(accepted_count), 0) AS BIGINT) FROM batches WHERE run_id = ?1), \
      (SELECT count(*) FROM preflight_rejections WHERE run_id = ?1), \
      (SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'rejected'), \
      (SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'not_retrieved'), \
      (SELECT count(*) FROM batch_members m JOIN batches b ON b.id = m.batch_id \
        WHERE m.run_id = ?1 AND b.cached_from IS NOT NULL AND NOT EXISTS ( \
            SELECT 1 FROM results r WHERE r.run_id = m.run_id \
                AND r.authorizer_unique_id = m.authorizer_unique_id)), \
      (SELECT count(*) FROM batch_members m JOIN batches b ON b.id = m.batch_id \
        WHERE m.run_id = ?1 AND b.cached_from IS NULL AND NOT EXISTS ( \
            SELECT 1 FROM results r WHERE r.run_id = m.run_id \
                AND r.authorizer_unique_id = m.authorizer_unique_id))";

/// Run `?1`'s retrieved results counted by balance status code.
pub(crate) const STATUS_CODE_COUNTS: &str = "\
    SELECT balance_status_code, count(*) FROM results \
    WHERE run_id = ?1 AND outcome = 'retrieved' GROUP BY balance_status_code";

/// Run `?1`'s chunks counted by state.
pub(crate) const CHUNK_STATE_COUNTS: &str =
    "SELECT state, count(*) FROM batches WHERE run_id = ?1 GROUP BY state";

/// Run `?1`.
pub(crate) const RUN: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN monitors m ON m.id = r.monitor_id WHERE r.id = ?1"
);

/// The runs not finished, oldest first.
pub(crate) const UNFINISHED_RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN monitors m ON m.id = r.monitor_id \
     WHERE r.state IN ('pending', 'running', 'interrupted') ORDER BY r.id"
);
