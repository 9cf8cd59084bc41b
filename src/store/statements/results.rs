//! The statements of results (`ResultJournal`).

use super::batches::cached_gap;

/// Whether authorizer `?3` is a member of chunk `?2` of run `?1`.
pub(crate) const IS_MEMBER: &str = "\
    SELECT 1 FROM batch_members \
    WHERE run_id = ?1 AND batch_id = ?2 AND authorizer_unique_id = ?3";

/// Records a retrieved balance: run, chunk, authorizer, cents, status code, retrieved at.
/// An identical row is left alone (no row changes), so a page read twice writes nothing.
pub(crate) const UPSERT_RETRIEVED: &str = "\
    INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, \
        balance_cents, balance_status_code, retrieved_at, reason, recorded_at) \
    VALUES (?1, ?2, ?3, 'retrieved', ?4, ?5, ?6, NULL, now()) \
    ON CONFLICT (run_id, authorizer_unique_id) DO UPDATE SET \
        outcome = 'retrieved', \
        balance_cents = excluded.balance_cents, \
        balance_status_code = excluded.balance_status_code, \
        retrieved_at = excluded.retrieved_at, \
        reason = NULL \
    WHERE results.outcome <> 'retrieved' \
       OR results.balance_cents IS DISTINCT FROM excluded.balance_cents \
       OR results.balance_status_code IS DISTINCT FROM excluded.balance_status_code \
       OR results.retrieved_at IS DISTINCT FROM excluded.retrieved_at";

/// Records `not_retrieved`, for reason `?2`, for each member `m` of chunk `?1` that
/// `$members` selects (a clause after `FROM batch_members m`) and that has no result in
/// its run yet.
macro_rules! insert_not_retrieved {
    ($members:expr) => {
        concat!(
            "INSERT INTO results \
                 (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
             SELECT m.run_id, m.batch_id, m.authorizer_unique_id, 'not_retrieved', ?2, now() \
             FROM batch_members m ",
            $members,
            " AND NOT EXISTS ( \
                 SELECT 1 FROM results x WHERE x.run_id = m.run_id \
                     AND x.authorizer_unique_id = m.authorizer_unique_id) \
             ORDER BY m.authorizer_unique_id"
        )
    };
}

/// Every member of chunk `?1` without a result: `not_retrieved` for reason `?2`.
pub(crate) const MARK_NOT_RETRIEVED: &str = insert_not_retrieved!("WHERE m.batch_id = ?1");

/// Chunk `?1`'s cached gaps without a result: `not_retrieved` for reason `?2`.
pub(crate) const MARK_CACHED_GAPS_NOT_RETRIEVED: &str = insert_not_retrieved!(cached_gap!());

/// Authorizer `?1`'s latest `?2` results, newest first, with their monitor's name.
pub(crate) const AUTHORIZER_HISTORY: &str = "\
    SELECT r.run_id, m.name, r.outcome, r.balance_cents, r.balance_status_code, \
        r.retrieved_at, r.reason, r.recorded_at \
    FROM results r \
    JOIN runs ON runs.id = r.run_id \
    JOIN monitors m ON m.id = runs.monitor_id \
    WHERE r.authorizer_unique_id = ?1 \
    ORDER BY r.recorded_at DESC, r.run_id DESC \
    LIMIT ?2";
