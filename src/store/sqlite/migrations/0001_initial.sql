-- 0001: the initial schema.
--
-- Conventions (see src/store/mod.rs):
-- - Times are TEXT in UTC, written by the store as `YYYY-MM-DDTHH:MM:SS.ffffffZ`
--   (fixed width, so text order is time order).
-- - Money is INTEGER cents. Nothing here is a float.
-- - No column holds personal data. An authorizer is known only by
--   `authorizer_unique_id`, the lender's own opaque key; lender metadata is not stored.
-- - Tables are STRICT: SQLite refuses a value of the wrong type instead of storing it.
-- - This file runs inside one transaction opened by the migration runner; it must not
--   contain BEGIN or COMMIT.

CREATE TABLE monitors (
    id          INTEGER PRIMARY KEY,
    -- The monitor's name from the configuration: a label chosen by the lender, never a
    -- person's name.
    name        TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE runs (
    id                INTEGER PRIMARY KEY,
    monitor_id        INTEGER NOT NULL REFERENCES monitors (id),
    -- The cron fire time this run answers, in UTC. NULL for a manual run.
    scheduled_for     TEXT,
    run_trigger       TEXT NOT NULL CHECK (run_trigger IN ('schedule', 'catch_up', 'manual')),
    state             TEXT NOT NULL
                      CHECK (state IN ('pending', 'running', 'complete', 'partial', 'failed')),
    -- Set when Rightfoot answered with a batch it had already checked (24-hour body cache).
    served_from_cache INTEGER NOT NULL DEFAULT 0 CHECK (served_from_cache IN (0, 1)),
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    reason            TEXT,
    -- A scheduled or catch-up run has a slot; a manual run has none.
    CHECK ((run_trigger = 'manual') = (scheduled_for IS NULL)),
    CHECK ((state IN ('complete', 'partial', 'failed')) = (finished_at IS NOT NULL)),
    -- A slot runs at most once per monitor. NULL slots (manual runs) never conflict.
    UNIQUE (monitor_id, scheduled_for)
) STRICT;

CREATE INDEX runs_unfinished ON runs (state) WHERE state IN ('pending', 'running');

CREATE TABLE batches (
    id                 INTEGER PRIMARY KEY,
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    chunk_index        INTEGER NOT NULL CHECK (chunk_index >= 0),
    -- SHA-256 of the exact request body, lowercase hex. A retry must send the same bytes.
    body_sha256        TEXT NOT NULL
                       CHECK (length(body_sha256) = 64 AND body_sha256 NOT GLOB '*[^0-9a-f]*'),
    state              TEXT NOT NULL
                       CHECK (state IN ('submitting', 'submitted', 'reading', 'complete',
                                        'unknown', 'failed')),
    -- Rightfoot's batch id: opaque text, known once the POST returned 201.
    rightfoot_batch_id TEXT,
    -- Rightfoot's `submitted_at` from the 201 (older than the run: a cached batch).
    submitted_at       TEXT,
    accepted_count     INTEGER CHECK (accepted_count >= 0),
    -- When the run stops waiting for this batch's results.
    deadline           TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    finished_at        TEXT,
    reason             TEXT,
    UNIQUE (run_id, chunk_index),
    -- The target of batch_members' foreign key, which ties a member to the batch's run.
    UNIQUE (id, run_id),
    CHECK (state IN ('submitting', 'unknown', 'failed') OR rightfoot_batch_id IS NOT NULL)
) STRICT;

CREATE INDEX batches_by_rightfoot_id ON batches (rightfoot_batch_id)
    WHERE rightfoot_batch_id IS NOT NULL;

-- The rows Rightfoot refused at submission (`failed_authorizers` in the 201), with its
-- reason. Kept even for ids that are not members of the batch: that is Rightfoot's
-- answer, and it is worth seeing.
CREATE TABLE batch_failed_authorizers (
    batch_id             INTEGER NOT NULL REFERENCES batches (id),
    authorizer_unique_id TEXT NOT NULL,
    reason               TEXT NOT NULL,
    PRIMARY KEY (batch_id, authorizer_unique_id)
) STRICT, WITHOUT ROWID;

-- Which authorizers were sent in which chunk. An authorizer is in one chunk of a run.
CREATE TABLE batch_members (
    run_id               INTEGER NOT NULL,
    batch_id             INTEGER NOT NULL,
    authorizer_unique_id TEXT NOT NULL CHECK (length(authorizer_unique_id) > 0),
    PRIMARY KEY (run_id, authorizer_unique_id),
    -- The target of results' foreign key.
    UNIQUE (run_id, authorizer_unique_id, batch_id),
    FOREIGN KEY (batch_id, run_id) REFERENCES batches (id, run_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX batch_members_by_batch ON batch_members (batch_id);

-- One row per authorizer per run, once anything is known about it:
-- - retrieved: Rightfoot returned a result. `balance_status_code` is Rightfoot's code
--   (0 success; any other value, known or not, is stored as it came) and
--   `balance_cents` is NULL when the check failed.
-- - rejected: Rightfoot refused the row at submission (`failed_authorizers`).
-- - not_retrieved: the run stopped waiting (deadline) before a result came.
-- A later `retrieved` replaces `not_retrieved` or `rejected`; nothing replaces
-- `retrieved` but a different `retrieved`.
CREATE TABLE results (
    run_id               INTEGER NOT NULL REFERENCES runs (id),
    batch_id             INTEGER NOT NULL,
    authorizer_unique_id TEXT NOT NULL,
    outcome              TEXT NOT NULL CHECK (outcome IN ('retrieved', 'not_retrieved', 'rejected')),
    balance_cents        INTEGER,
    balance_status_code  INTEGER,
    -- Rightfoot's `timestamp` for the result.
    retrieved_at         TEXT,
    reason               TEXT,
    -- When this store first recorded anything for the authorizer in this run.
    recorded_at          TEXT NOT NULL,
    PRIMARY KEY (run_id, authorizer_unique_id),
    FOREIGN KEY (run_id, authorizer_unique_id, batch_id)
        REFERENCES batch_members (run_id, authorizer_unique_id, batch_id),
    CHECK (outcome = 'retrieved' OR (balance_cents IS NULL AND balance_status_code IS NULL)),
    CHECK (outcome <> 'retrieved' OR (balance_status_code IS NOT NULL AND retrieved_at IS NOT NULL))
) STRICT;

-- History of one authorizer, newest first.
CREATE INDEX results_history ON results (authorizer_unique_id, recorded_at DESC);
CREATE INDEX results_by_batch ON results (batch_id);

-- Alert state, one row per fingerprint (monitor + authorizer or run + rule). Written by
-- the rules' transitions; the store does not decide when an alert fires.
CREATE TABLE alerts (
    id                   INTEGER PRIMARY KEY,
    fingerprint          TEXT NOT NULL UNIQUE,
    monitor_id           INTEGER NOT NULL REFERENCES monitors (id),
    -- The subject: an authorizer, or NULL for an alert about the monitor's runs.
    authorizer_unique_id TEXT,
    rule                 TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    severity             TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    consecutive_passes   INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_passes >= 0),
    first_fired_at       TEXT NOT NULL,
    last_fired_at        TEXT NOT NULL,
    last_notified_at     TEXT,
    resolved_at          TEXT,
    last_run_id          INTEGER REFERENCES runs (id),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
) STRICT;

CREATE INDEX alerts_firing ON alerts (monitor_id) WHERE state = 'firing';

-- Notifications to deliver, written in the same transaction as the change that caused
-- them, delivered at least once, deduplicated downstream by `idempotency_key`. The
-- payload holds no personal data.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    route           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error      TEXT,
    delivered_at    TEXT,
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

-- Where each monitor's schedule stands: the latest slot it has seen, so a restart knows
-- what it missed.
CREATE TABLE schedule_state (
    monitor_id  INTEGER PRIMARY KEY REFERENCES monitors (id),
    last_slot   TEXT NOT NULL,
    last_run_id INTEGER REFERENCES runs (id),
    updated_at  TEXT NOT NULL
) STRICT;

-- Rightfoot completion webhooks already seen, for deduplication on `event_uuid`.
CREATE TABLE webhook_events (
    event_uuid         TEXT PRIMARY KEY,
    received_at        TEXT NOT NULL,
    rightfoot_batch_id TEXT
) STRICT, WITHOUT ROWID;
