-- 0012 (SQLite's 0012, ported): the leadership lease of the daemons sharing the
-- database (src/store/leadership.rs). One row at most (`id` is always 1), absent until
-- the lease is first taken; `epoch` goes up by one at every take, and every write of
-- the leader checks it under a key-share lock of this row (`postgres/leadership.rs`).
-- Every time is the server's `now()`.
CREATE TABLE leadership (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    holder      TEXT NOT NULL,
    epoch       BIGINT NOT NULL CHECK (epoch > 0),
    taken_at    TIMESTAMPTZ NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    valid_until TIMESTAMPTZ NOT NULL
);
