-- 0009: the run state `interrupted`.
--
-- Written for run-now's Ctrl-C (src/daemon/run_now.rs). Same conventions as 0001: UTC
-- text times, STRICT tables, no column for personal data.
--
-- An interrupted run stopped with its chunks at durable steps; it is not finished (no
-- `finished_at`), and the daemon resumes it at its next start, when it goes back to
-- `running`. `runs` is rebuilt (SQLite cannot change a CHECK constraint in place), every
-- row copied with its id. The runner applies migrations with foreign-key enforcement
-- off, as SQLite's table-rebuild procedure requires, so dropping the old table neither
-- cascades into the tables that reference runs nor fails; its foreign-key check before
-- commit stands in for the enforcement. Those tables name `runs`, and after the rename
-- they refer to the new table.
CREATE TABLE runs_0009 (
    id                  INTEGER PRIMARY KEY,
    monitor_id          INTEGER NOT NULL REFERENCES monitors (id),
    -- The cron fire time this run answers, in UTC. NULL for a manual run.
    scheduled_for       TEXT,
    run_trigger         TEXT NOT NULL CHECK (run_trigger IN ('schedule', 'catch_up', 'manual')),
    state               TEXT NOT NULL
                        CHECK (state IN ('pending', 'running', 'interrupted', 'complete',
                                         'partial', 'failed')),
    -- Set when Rightfoot answered with a batch it had already checked (24-hour body cache).
    served_from_cache   INTEGER NOT NULL DEFAULT 0 CHECK (served_from_cache IN (0, 1)),
    created_at          TEXT NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    reason              TEXT,
    alerts_evaluated_at TEXT,
    -- A scheduled or catch-up run has a slot; a manual run has none.
    CHECK ((run_trigger = 'manual') = (scheduled_for IS NULL)),
    CHECK ((state IN ('complete', 'partial', 'failed')) = (finished_at IS NOT NULL)),
    -- A slot runs at most once per monitor. NULL slots (manual runs) never conflict.
    UNIQUE (monitor_id, scheduled_for)
) STRICT;

INSERT INTO runs_0009 (id, monitor_id, scheduled_for, run_trigger, state, served_from_cache,
                       created_at, started_at, finished_at, reason, alerts_evaluated_at)
    SELECT id, monitor_id, scheduled_for, run_trigger, state, served_from_cache, created_at,
           started_at, finished_at, reason, alerts_evaluated_at
    FROM runs;

DROP TABLE runs;
ALTER TABLE runs_0009 RENAME TO runs;

CREATE INDEX runs_unfinished ON runs (state) WHERE state IN ('pending', 'running', 'interrupted');
CREATE INDEX runs_not_evaluated ON runs (monitor_id, id)
    WHERE alerts_evaluated_at IS NULL AND state IN ('complete', 'partial', 'failed');
