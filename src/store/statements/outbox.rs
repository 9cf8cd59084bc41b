//! The statements of the outbox (`Outbox`).

/// Pending notifications due by `?1`, soonest first, at most `?2`.
pub(crate) const DUE: &str = "\
    SELECT id, route, idempotency_key, payload, monitor, created_at, next_attempt_at, attempts \
    FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
    ORDER BY next_attempt_at, id LIMIT ?2";

/// When the next pending notification is due.
pub(crate) const NEXT_DUE: &str = "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'";

/// Notification `?1` was delivered at `?2`.
pub(crate) const DELIVERED: &str = "\
    UPDATE outbox SET state = 'delivered', delivered_at = ?2, \
        last_attempt_at = ?2, attempts = attempts + 1 \
    WHERE id = ?1 AND state = 'pending'";

/// Notification `?1`'s attempt at `?2` failed with `?3`; try again at `?4`.
pub(crate) const RETRY: &str = "\
    UPDATE outbox SET last_attempt_at = ?2, attempts = attempts + 1, \
        last_error = ?3, next_attempt_at = ?4 \
    WHERE id = ?1 AND state = 'pending'";

/// Notification `?1`'s attempt at `?2` failed with `?3`, for good.
pub(crate) const FAILED: &str = "\
    UPDATE outbox SET state = 'failed', last_attempt_at = ?2, \
        attempts = attempts + 1, last_error = ?3 \
    WHERE id = ?1 AND state = 'pending'";

/// Every notification, oldest first.
pub(crate) const ALL: &str = "\
    SELECT id, route, idempotency_key, payload, state, attempts, last_error, \
           created_at, delivered_at \
    FROM outbox ORDER BY id";

/// Queues a notification, due at once: route, idempotency key, payload, created at,
/// monitor; answers its id.
pub(crate) const QUEUE: &str = "\
    INSERT INTO outbox (route, idempotency_key, payload, created_at, next_attempt_at, \
        state, monitor) \
    VALUES (?1, ?2, ?3, ?4, ?4, 'pending', ?5) RETURNING id";
