//! The statement of the export (`Export`): `?1` and `?2` the time window (either may be
//! NULL), `?3` the scope's parameter (a run or monitor id, or the Rightfoot batch ids),
//! absent for the whole store. Every scope is answered in the order of an index and
//! never sorted, and both backends write the same file: insertion order (the result's
//! own key), by chunk for a run or batches, by run and authorizer for a monitor.

use crate::store::ExportScope;

/// What the export's statement says differently on each backend.
pub(crate) struct ExportDialect {
    /// How `results r` joins `batches b`: SQLite's `CROSS JOIN` keeps `results` the
    /// outer loop (it does not reorder a cross join).
    pub(crate) join: &'static str,
    /// A result row's own key, in insertion order.
    pub(crate) key: &'static str,
    /// The test that `x.rightfoot_batch_id` is one of the ids in `?3`.
    pub(crate) batch_id_in: &'static str,
}

/// The export's statement for `scope`.
pub(crate) fn export(scope: &ExportScope, dialect: &ExportDialect) -> String {
    let ExportDialect {
        join,
        key,
        batch_id_in,
    } = dialect;
    let (filter, order) = match scope {
        ExportScope::All => (String::new(), format!("r.{key}")),
        ExportScope::Run(_) => (
            "AND r.batch_id IN (SELECT coalesce(x.cached_from, x.id) FROM batches x \
                                WHERE x.run_id = ?3)"
                .to_string(),
            format!("r.batch_id, r.{key}"),
        ),
        ExportScope::Monitor(_) => (
            "AND r.run_id IN (SELECT u.id FROM runs u WHERE u.monitor_id = ?3)".to_string(),
            "r.run_id, r.authorizer_unique_id".to_string(),
        ),
        ExportScope::RightfootBatches(_) => (
            format!(
                "AND r.batch_id IN (SELECT x.id FROM batches x WHERE x.cached_from IS NULL \
                                    AND x.rightfoot_batch_id {batch_id_in})"
            ),
            format!("r.batch_id, r.{key}"),
        ),
    };
    format!(
        "SELECT r.authorizer_unique_id, b.rightfoot_batch_id, r.balance_cents, \
             r.balance_status_code, r.retrieved_at \
         FROM results r {join} batches b ON b.id = r.batch_id \
         WHERE r.outcome = 'retrieved' {filter} \
           AND (CAST(?1 AS TIMESTAMPTZ) IS NULL OR r.retrieved_at >= ?1) \
           AND (CAST(?2 AS TIMESTAMPTZ) IS NULL OR r.retrieved_at < ?2) \
         ORDER BY {order}"
    )
}
