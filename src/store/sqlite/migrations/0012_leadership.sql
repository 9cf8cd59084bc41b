-- 0012: the leadership lease of the daemons sharing one database (src/store/leadership.rs).
--
-- One row at most (`id` is always 1), absent until the lease is first taken. `holder`
-- is the leading process's own opaque identity (host, pid and a random part), `epoch`
-- goes up by one at every take and fences the writes of an earlier leader, and
-- `valid_until` is when the lease runs out unless renewed (a name with `expir` in it
-- reads as a card's expiry to the schema's personal-data check). Times are the store's
-- own clock. An SQLite daemon is always the leader and only records the lease; the
-- table is here so both backends keep one schema.
CREATE TABLE leadership (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT NOT NULL,
    epoch       INTEGER NOT NULL CHECK (epoch > 0),
    taken_at    TEXT NOT NULL,
    renewed_at  TEXT NOT NULL,
    valid_until TEXT NOT NULL
) STRICT;
