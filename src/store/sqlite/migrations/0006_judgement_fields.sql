-- 0006: the lender's fields a run's judgement needs, as the run's own plan saw them.
--
-- Written for the run pipeline (src/daemon/pipeline.rs, src/run/). Same conventions as
-- 0001: UTC text times, STRICT tables, no column for personal data.
--
-- Only the fields the monitor's rules (`below_payment`'s field) and `alert_fields`
-- name are kept, and configuration validation keeps personal field names out of both.
-- They are written when the run is planned, before anything is sent, so that a run a
-- crash left finished but unjudged is judged with its own list, not the file as it is
-- now; they are deleted once the run is judged. A run's fields are kept in parts of
-- up to 1,000 authorizers in id order, so a list of 100,000 is 100 rows, not 100,000:
-- `fields` is a JSON array of `[authorizer_unique_id, [[key, value], ...]]`.
CREATE TABLE judgement_fields (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    part   INTEGER NOT NULL CHECK (part >= 0),
    fields TEXT NOT NULL,
    PRIMARY KEY (run_id, part)
) STRICT, WITHOUT ROWID;
