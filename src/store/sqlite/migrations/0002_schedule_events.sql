-- 0002: what became of cron slots that did not get a run.
--
-- A slot of a monitor's schedule ends up in exactly one of two places: `runs` (it was
-- started, on time or as a catch-up), or here:
-- - missed: it passed while balance-monitor was not running (or the host was suspended,
--   or its clock was stepped) and the catch-up policy did not run it. One row covers a
--   whole stretch of consecutive missed slots, `first_slot` to `last_slot`, so a long
--   outage of a frequent schedule is one row, not thousands.
-- - skipped: it came while the monitor's previous run was still going; runs of one
--   monitor never overlap and a skipped slot is not queued. Always one slot.
-- Written by the scheduler in the same transaction that moves `schedule_state`, so a
-- restart never records a slot twice. Times follow 0001's conventions; `reason` is
-- text written by the scheduler and holds no personal data.

CREATE TABLE schedule_events (
    id               INTEGER PRIMARY KEY,
    monitor_id       INTEGER NOT NULL REFERENCES monitors (id),
    outcome          TEXT NOT NULL CHECK (outcome IN ('missed', 'skipped')),
    first_slot       TEXT NOT NULL,
    last_slot        TEXT NOT NULL,
    -- How many slots the row covers. Counting stops at a limit on absurdly long
    -- stretches (a per-second cron down for a week); then `slot_count_exact` is 0 and
    -- the count is a lower bound.
    slot_count       INTEGER NOT NULL CHECK (slot_count >= 1),
    slot_count_exact INTEGER NOT NULL DEFAULT 1 CHECK (slot_count_exact IN (0, 1)),
    reason           TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    CHECK (first_slot <= last_slot),
    CHECK (outcome = 'missed' OR (first_slot = last_slot AND slot_count = 1)),
    UNIQUE (monitor_id, first_slot)
) STRICT;

-- "What happened to slot X of monitor M": the row whose range covers X.
CREATE INDEX schedule_events_by_last_slot ON schedule_events (monitor_id, last_slot);
