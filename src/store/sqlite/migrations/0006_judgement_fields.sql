-- 0006: the lender's fields a run's judgement needs, as the run's own plan saw them.
--
-- Written for the run pipeline (src/daemon/pipeline.rs, src/run/). Same conventions as
-- 0001: UTC text times, STRICT tables, no column for personal data.
--
-- Only the fields the monitor's rules (`below_payment`'s field) and `alert_fields`
-- name are kept, and configuration validation keeps personal field names out of both.
-- They are written when the run is planned, before anything is sent, so that a run a
-- crash left finished but unjudged is judged with its own list, not the file as it is
-- now; they are deleted once the run is judged. `fields` is a JSON array of
-- `[key, value]` pairs.
CREATE TABLE judgement_fields (
    run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    authorizer_unique_id TEXT NOT NULL,
    fields               TEXT NOT NULL,
    PRIMARY KEY (run_id, authorizer_unique_id)
) STRICT, WITHOUT ROWID;
