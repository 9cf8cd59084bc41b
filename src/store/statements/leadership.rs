//! The statements of the leadership lease (`Leadership`). Every time is the backend's
//! own `now()` (the writer's clock on SQLite, the server's on PostgreSQL); the end of
//! a lease, which needs interval arithmetic, is given as SQL text.

/// The lease as stored, with the store's clock last.
macro_rules! lease {
    () => {
        "SELECT holder, epoch, taken_at, renewed_at, valid_until, now() FROM leadership \
         WHERE id = 1"
    };
}
pub(crate) use lease;

/// Gives the lease to holder `?1` as epoch `?2`, from `$now` until `$valid_until` (SQL
/// text for each: SQLite's `now()` reads the clock at each call), unless it already has
/// epoch `?2` or a later one: of two takers that read the same lease, the second
/// changes nothing.
macro_rules! take {
    ($now:literal, $valid_until:literal) => {
        concat!(
            "INSERT INTO leadership (id, holder, epoch, taken_at, renewed_at, valid_until) \
             VALUES (1, ?1, ?2, ",
            $now,
            ", ",
            $now,
            ", ",
            $valid_until,
            ") ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, \
                 epoch = excluded.epoch, taken_at = excluded.taken_at, \
                 renewed_at = excluded.renewed_at, valid_until = excluded.valid_until \
             WHERE leadership.epoch < excluded.epoch"
        )
    };
}
pub(crate) use take;

/// Extends holder `?1`'s unexpired lease of epoch `?2` until `$valid_until` (SQL text).
macro_rules! renew {
    ($valid_until:literal) => {
        concat!(
            "UPDATE leadership SET renewed_at = now(), valid_until = ",
            $valid_until,
            " WHERE id = 1 AND holder = ?1 AND epoch = ?2 AND valid_until > now()"
        )
    };
}
pub(crate) use renew;

/// Ends holder `?1`'s lease of epoch `?2` now.
pub(crate) const RELEASE: &str =
    "UPDATE leadership SET valid_until = now() WHERE id = 1 AND holder = ?1 AND epoch = ?2";
