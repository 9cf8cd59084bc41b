-- 0007: one run lease per monitor, so that two runs of a monitor never overlap, even
-- from two processes (`run-now` beside the daemon).
--
-- Written for src/store/leases.rs (src/store/sqlite/leases.rs). Same conventions as
-- 0001: UTC text times, STRICT tables, no column for personal data. `holder` is the
-- process's own opaque identity (host, pid and a random part), `run_id` the run the
-- lease covers once it exists. A row whose `valid_until` has passed is free to take.
CREATE TABLE run_leases (
    monitor_id INTEGER PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    holder     TEXT NOT NULL,
    run_id     INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    taken_at   TEXT NOT NULL,
    valid_until TEXT NOT NULL
) STRICT;
