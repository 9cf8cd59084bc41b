-- 0003: what a run needs to resume after a crash and to account for every authorizer.
--
-- Written for the run state machine (src/run/). Same conventions as 0001: UTC text
-- times, STRICT tables, no column for personal data.

-- When the chunk's body was first POSTed, on the run's clock (domain time, unlike
-- `created_at`). NULL: the chunk was planned and never sent. A chunk caught in
-- `submitting` is re-sent byte for byte only while Rightfoot's 24-hour body cache still
-- covers this first attempt; after that it is marked `unknown`, never re-sent.
ALTER TABLE batches ADD COLUMN first_attempt_at TEXT;

-- Set when Rightfoot answered this chunk with a batch id that another chunk had
-- already recorded (its 24-hour body cache): that earlier chunk holds the results, and
-- this one stores none of its own, so history never counts one check twice. The first
-- chunk to record a Rightfoot batch id is its owner; its `cached_from` is NULL.
ALTER TABLE batches ADD COLUMN cached_from INTEGER REFERENCES batches (id);

-- Authorizers that pre-flight validation kept out of a run, with the API's message.
-- `authorizer_unique_id` is empty when the row had none; `source` is where the row was
-- defined (file and line, or file and CSV row), never its content.
CREATE TABLE preflight_rejections (
    run_id               INTEGER NOT NULL REFERENCES runs (id),
    -- Order in the loaded list: the same id may be rejected twice (a duplicate).
    position             INTEGER NOT NULL CHECK (position >= 0),
    authorizer_unique_id TEXT NOT NULL,
    source               TEXT NOT NULL,
    reason               TEXT NOT NULL,
    recorded_at          TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
) STRICT;
