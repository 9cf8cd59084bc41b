//! The statements of chunks (`BatchJournal`) and the chunk rows other areas read.

/// The members `m` of chunk `?1` (linked by `cached_from`) that have no `retrieved`
/// result in the earlier chunk and no `rejected` result of their own.
macro_rules! cached_gap {
    () => {
        "JOIN batches b ON b.id = m.batch_id \
         WHERE m.batch_id = ?1 AND b.cached_from IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM results o WHERE o.batch_id = b.cached_from \
             AND o.authorizer_unique_id = m.authorizer_unique_id AND o.outcome = 'retrieved') \
         AND NOT EXISTS (SELECT 1 FROM results r WHERE r.run_id = m.run_id \
             AND r.authorizer_unique_id = m.authorizer_unique_id AND r.outcome = 'rejected')"
    };
}
pub(crate) use cached_gap;

/// Sets chunk `?1`'s first attempt to `?2` unless it has one; answers the first attempt.
pub(crate) const RECORD_FIRST_ATTEMPT: &str = "\
    UPDATE batches SET first_attempt_at = coalesce(first_attempt_at, ?2), updated_at = now() \
    WHERE id = ?1 RETURNING first_attempt_at";

/// The first chunk other than `?2` that Rightfoot gave batch id `?1` and that is not
/// itself linked to an earlier one: its id and run.
pub(crate) const FIRST_OWNER_OF_BATCH_ID: &str = "\
    SELECT id, run_id FROM batches \
    WHERE rightfoot_batch_id = ?1 AND id <> ?2 AND cached_from IS NULL \
    ORDER BY id LIMIT 1";

/// Records chunk `?1`'s 201: batch id, submitted at, accepted count, deadline, and the
/// earlier chunk it is linked to (`?6`, or NULL).
pub(crate) const MARK_SUBMITTED: &str = "\
    UPDATE batches SET state = 'submitted', rightfoot_batch_id = ?2, \
        submitted_at = ?3, accepted_count = ?4, deadline = ?5, \
        updated_at = now(), finished_at = NULL, cached_from = ?6 \
    WHERE id = ?1";

/// Records why Rightfoot refused authorizer `?2` of chunk `?1`: reason `?3`.
pub(crate) const UPSERT_FAILED_AUTHORIZER: &str = "\
    INSERT INTO batch_failed_authorizers (batch_id, authorizer_unique_id, reason) \
    VALUES (?1, ?2, ?3) \
    ON CONFLICT (batch_id, authorizer_unique_id) DO UPDATE SET reason = excluded.reason";

/// A `rejected` result with reason `?3` for member `?2` of chunk `?1`, unless it has one.
pub(crate) const INSERT_REJECTED: &str = "\
    INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, reason, recorded_at) \
    SELECT run_id, batch_id, authorizer_unique_id, 'rejected', ?3, now() \
    FROM batch_members WHERE batch_id = ?1 AND authorizer_unique_id = ?2 \
    ON CONFLICT (run_id, authorizer_unique_id) DO NOTHING";

/// Moves chunk `?1` to state `?2`, finished now when `?3`, with reason `?4` if given.
pub(crate) const SET_STATE: &str = "\
    UPDATE batches SET state = ?2, updated_at = now(), \
        finished_at = CASE WHEN ?3 THEN now() END, \
        reason = coalesce(?4, reason) \
    WHERE id = ?1";

/// The runs other than `?2` with a chunk that Rightfoot gave batch id `?1`.
pub(crate) const RUNS_WITH_BATCH_ID: &str = "\
    SELECT DISTINCT run_id FROM batches \
    WHERE rightfoot_batch_id = ?1 AND run_id <> ?2 ORDER BY run_id";

/// Chunk `?1`'s members, by id.
pub(crate) const MEMBERS: &str = "\
    SELECT authorizer_unique_id FROM batch_members WHERE batch_id = ?1 \
    ORDER BY authorizer_unique_id";

/// Chunk `?1`'s members with no result in their run, by id.
pub(crate) const MEMBERS_WITHOUT_RESULT: &str = "\
    SELECT m.authorizer_unique_id FROM batch_members m \
    WHERE m.batch_id = ?1 AND NOT EXISTS ( \
        SELECT 1 FROM results r \
        WHERE r.run_id = m.run_id AND r.authorizer_unique_id = m.authorizer_unique_id) \
    ORDER BY m.authorizer_unique_id";

/// The state of the earlier chunk that chunk `?1` is linked to.
pub(crate) const LINKED_CHUNK_STATE: &str = "\
    SELECT c.state FROM batches b JOIN batches c ON c.id = b.cached_from WHERE b.id = ?1";

/// The earlier chunk that chunk `?1` is linked to: its id and run.
pub(crate) const LINKED_CHUNK: &str = "\
    SELECT c.id, c.run_id FROM batches b JOIN batches c ON c.id = b.cached_from WHERE b.id = ?1";

/// Chunk `?1`'s cached gaps ([`cached_gap!`]), by id.
pub(crate) const CACHED_GAPS: &str = concat!(
    "SELECT m.authorizer_unique_id FROM batch_members m ",
    cached_gap!(),
    " ORDER BY m.authorizer_unique_id"
);

/// How many members chunk `?1` has.
pub(crate) const MEMBER_COUNT: &str = "SELECT count(*) FROM batch_members WHERE batch_id = ?1";

/// Chunk `?1`'s results counted by outcome.
pub(crate) const OUTCOME_COUNTS: &str =
    "SELECT outcome, count(*) FROM results WHERE batch_id = ?1 GROUP BY outcome";

/// Records completion webhook `?1` (received at `?2`, about batch id `?3`) unless seen.
pub(crate) const INSERT_WEBHOOK_EVENT: &str = "\
    INSERT INTO webhook_events (event_uuid, received_at, rightfoot_batch_id) \
    VALUES (?1, ?2, ?3) ON CONFLICT (event_uuid) DO NOTHING";

/// Chunk `?2` of run `?1`, if recorded: its id and body hash.
pub(crate) const CHUNK_AT_INDEX: &str =
    "SELECT id, body_sha256 FROM batches WHERE run_id = ?1 AND chunk_index = ?2";

/// A chunk's run, state and Rightfoot batch id.
pub(crate) const CHUNK_ROW: &str =
    "SELECT run_id, state, rightfoot_batch_id FROM batches WHERE id = ?1";

/// Every chunk of run `?1`, in chunk order, with member and result counts, as both
/// backends' `batch_record` reads them.
pub(crate) const CHUNKS_OF_RUN: &str = "\
    SELECT b.id, b.run_id, b.chunk_index, b.body_sha256, b.state, b.rightfoot_batch_id, \
        b.submitted_at, b.accepted_count, b.deadline, b.reason, \
        (SELECT count(*) FROM batch_members m WHERE m.batch_id = b.id), \
        (SELECT count(*) FROM results r WHERE r.batch_id = b.id), \
        b.first_attempt_at, c.id, c.run_id, b.finished_at \
    FROM batches b LEFT JOIN batches c ON c.id = b.cached_from \
    WHERE b.run_id = ?1 ORDER BY b.chunk_index";

/// The state of run `?1`.
pub(crate) const RUN_STATE: &str = "SELECT state FROM runs WHERE id = ?1";
