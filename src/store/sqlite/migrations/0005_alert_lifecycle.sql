-- 0005: what the rules remember between runs, and alerts that are not firing yet.
--
-- Written for the alert lifecycle (src/alerting/). Same conventions as 0001: UTC text
-- times, INTEGER cents, STRICT tables, no column for personal data.

-- `alerts` is rebuilt (SQLite cannot change a CHECK constraint in place), every row
-- copied. What changes:
-- - `pending`: the condition holds but not yet for `for_runs` consecutive runs. Such an
--   alert has not fired, so it has no `first_fired_at`.
-- - the fingerprint is unique among open (pending or firing) alerts only: once resolved,
--   an alert's row stays as history, and if its condition comes back it is a new alert
--   with a new row.
-- - `reason`: the sentence of its latest transition, for `/v1/alerts` and `runs show`.
-- `consecutive_failures` counts the consecutive runs the condition held (`hits`),
-- `consecutive_passes` the consecutive clear runs since it last held (`clears`).
CREATE TABLE alerts_0005 (
    id                   INTEGER PRIMARY KEY,
    fingerprint          TEXT NOT NULL,
    monitor_id           INTEGER NOT NULL REFERENCES monitors (id),
    -- The subject: an authorizer, or NULL for an alert about the monitor's runs.
    authorizer_unique_id TEXT,
    rule                 TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    severity             TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    consecutive_passes   INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_passes >= 0),
    first_fired_at       TEXT,
    last_fired_at        TEXT,
    last_notified_at     TEXT,
    resolved_at          TEXT,
    last_run_id          INTEGER REFERENCES runs (id),
    reason               TEXT,
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK ((state = 'pending') = (first_fired_at IS NULL)),
    CHECK ((first_fired_at IS NULL) = (last_fired_at IS NULL))
) STRICT;

INSERT INTO alerts_0005 (id, fingerprint, monitor_id, authorizer_unique_id, rule, state,
                         severity, consecutive_failures, consecutive_passes, first_fired_at,
                         last_fired_at, last_notified_at, resolved_at, last_run_id)
    SELECT id, fingerprint, monitor_id, authorizer_unique_id, rule, state, severity,
           consecutive_failures, consecutive_passes, first_fired_at, last_fired_at,
           last_notified_at, resolved_at, last_run_id
    FROM alerts;

DROP TABLE alerts;
ALTER TABLE alerts_0005 RENAME TO alerts;

CREATE UNIQUE INDEX alerts_open ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_open_by_monitor ON alerts (monitor_id, authorizer_unique_id)
    WHERE state <> 'resolved';
CREATE INDEX alerts_firing ON alerts (monitor_id) WHERE state = 'firing';
CREATE INDEX alerts_by_last_run ON alerts (last_run_id);

-- What the balance rules compare a new balance with, per monitor and authorizer: when
-- the authorizer was first part of a run, its latest successful balance, and the
-- balances a windowed drop rule may still compare with (`peaks`: a JSON array of
-- `[time, cents]`, oldest first, each strictly higher than every later one; empty when
-- no rule has a window). One row per authorizer still in the monitor's list.
CREATE TABLE balance_memory (
    monitor_id           INTEGER NOT NULL REFERENCES monitors (id),
    authorizer_unique_id TEXT NOT NULL CHECK (length(authorizer_unique_id) > 0),
    first_checked_at     TEXT NOT NULL,
    last_success_at      TEXT,
    last_success_cents   INTEGER,
    peaks                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(peaks)),
    PRIMARY KEY (monitor_id, authorizer_unique_id),
    CHECK ((last_success_at IS NULL) = (last_success_cents IS NULL))
) STRICT, WITHOUT ROWID;

-- When the rules judged the run: set in the transaction that stores the transitions and
-- queues the notifications, so a run is judged exactly once, and a run that finished
-- just before a crash is judged at the next start. Runs finished before this migration
-- count as judged (there was nothing to judge them with).
ALTER TABLE runs ADD COLUMN alerts_evaluated_at TEXT;
UPDATE runs SET alerts_evaluated_at = finished_at WHERE finished_at IS NOT NULL;
CREATE INDEX runs_not_evaluated ON runs (monitor_id, id)
    WHERE alerts_evaluated_at IS NULL AND state IN ('complete', 'partial', 'failed');

-- The outbox's delivery bookkeeping: when the latest attempt was made, and which run
-- and monitor a notification belongs to (also in the payload, where retention and the
-- reports look for it; NULL for a test notification).
ALTER TABLE outbox ADD COLUMN last_attempt_at TEXT;
ALTER TABLE outbox ADD COLUMN monitor TEXT;
