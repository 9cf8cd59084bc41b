//! The statements of run leases (`RunLeases`). Their times are each backend's own (the
//! writer's clock on SQLite, the server's `now()` on PostgreSQL), so the statements that
//! set one take it as SQL text.

/// Monitor `?1`'s lease, whether or not it has expired.
macro_rules! lease {
    () => {
        "SELECT monitor_id, holder, run_id, taken_at, valid_until FROM run_leases \
         WHERE monitor_id = ?1"
    };
}
pub(crate) use lease;

/// Gives monitor `?1`'s lease to holder `?2`, whoever held it, from `$taken_at` until
/// `$valid_until` (SQL text for each).
macro_rules! take_lease {
    ($taken_at:literal, $valid_until:literal) => {
        concat!(
            "INSERT INTO run_leases (monitor_id, holder, run_id, taken_at, valid_until) \
             VALUES (?1, ?2, NULL, ",
            $taken_at,
            ", ",
            $valid_until,
            ") ON CONFLICT (monitor_id) DO UPDATE SET holder = excluded.holder, \
                 run_id = NULL, taken_at = excluded.taken_at, \
                 valid_until = excluded.valid_until"
        )
    };
}
pub(crate) use take_lease;

/// Names run `?3` in monitor `?1`'s lease, if holder `?2` has it.
pub(crate) const SET_RUN: &str =
    "UPDATE run_leases SET run_id = ?3 WHERE monitor_id = ?1 AND holder = ?2";

/// Releases monitor `?1`'s lease, if holder `?2` has it.
pub(crate) const RELEASE: &str = "DELETE FROM run_leases WHERE monitor_id = ?1 AND holder = ?2";
