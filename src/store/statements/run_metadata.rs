//! The statements of a run's judgement fields (`JudgementFields`). Writing the parts is
//! each backend's own: one row at a time on SQLite, one `unnest` on PostgreSQL.

/// Run `?1`'s stored parts, in order.
pub(crate) const PARTS: &str =
    "SELECT fields FROM judgement_fields WHERE run_id = ?1 ORDER BY part";

/// Part `?2` of run `?1`.
pub(crate) const PART: &str = "SELECT fields FROM judgement_fields WHERE run_id = ?1 AND part = ?2";

/// Forgets run `?1`'s parts.
pub(crate) const FORGET: &str = "DELETE FROM judgement_fields WHERE run_id = ?1";
