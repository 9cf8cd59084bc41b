-- 0008: silences, and the alerts they held back from every route.
--
-- Same conventions as 0001: UTC text times, STRICT tables, no column for personal data.
-- A silence names an authorizer by `authorizer_unique_id` only; `comment` is the
-- operator's short note, stored with runs of four or more digits removed; `created_by`
-- is the OS account that set it.
CREATE TABLE silences (
    id                   INTEGER PRIMARY KEY,
    authorizer_unique_id TEXT NOT NULL CHECK (length(authorizer_unique_id) > 0),
    monitor              TEXT CHECK (monitor IS NULL OR length(monitor) > 0),
    rule                 TEXT CHECK (rule IS NULL OR length(rule) > 0),
    starts_at            TEXT NOT NULL,
    ends_at              TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    comment              TEXT NOT NULL,
    ended_early_at           TEXT,
    CHECK (ends_at > starts_at OR ended_early_at IS NOT NULL)
) STRICT;

CREATE INDEX silences_by_end ON silences (ends_at);

-- Set when an alert fired (or was due a reminder) while a silence matched it, so no
-- route heard of it; cleared by the judgement whose digest carries it after the silence
-- ends.
ALTER TABLE alerts ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
CREATE INDEX alerts_held ON alerts (monitor_id) WHERE held = 1 AND state = 'firing';
