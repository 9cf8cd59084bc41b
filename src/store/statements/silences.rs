//! The statements of silences (`Silences`).

/// The columns both backends' `silence_record` reads.
macro_rules! silence_columns {
    () => {
        "id, authorizer_unique_id, monitor, rule, starts_at, ends_at, created_by, comment, \
         ended_early_at"
    };
}

/// Adds a silence: authorizer, monitor, rule, start, end, by whom, comment; answers its
/// id.
pub(crate) const ADD: &str = "\
    INSERT INTO silences (authorizer_unique_id, monitor, rule, starts_at, ends_at, \
        created_by, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id";

/// The silences that end after `?1` (every silence when NULL), oldest first.
pub(crate) const SILENCES: &str = concat!(
    "SELECT ",
    silence_columns!(),
    " FROM silences WHERE CAST(?1 AS TIMESTAMPTZ) IS NULL OR ends_at > ?1 ORDER BY id"
);

/// Silence `?1`.
pub(crate) const SILENCE: &str = concat!(
    "SELECT ",
    silence_columns!(),
    " FROM silences WHERE id = ?1"
);

/// Ends silence `?1` at `?2`, if it had not ended by then.
pub(crate) const EXPIRE: &str = "\
    UPDATE silences SET ends_at = ?2, ended_early_at = ?2 WHERE id = ?1 AND ends_at > ?2";

/// Monitor `?1`'s firing alerts that a silence held, by fingerprint.
pub(crate) const HELD_ALERTS: &str = "\
    SELECT fingerprint, authorizer_unique_id, rule, severity, reason FROM alerts \
    WHERE monitor_id = ?1 AND held = TRUE AND state = 'firing' ORDER BY fingerprint";
