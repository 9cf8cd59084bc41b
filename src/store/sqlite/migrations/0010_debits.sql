-- 0010: the payment calendar: each run's decision about each debit due in it, and the
-- lender's ACH returns.
--
-- Same conventions as 0001: UTC text times, STRICT tables, no column for personal data.
-- A debit is the lender's own ids, its dates (YYYY-MM-DD) and its amount in cents. A
-- run's decisions go with the run when retention prunes it.
CREATE TABLE debit_decisions (
    run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    debit_id             TEXT NOT NULL CHECK (length(debit_id) > 0),
    authorizer_unique_id TEXT NOT NULL CHECK (length(authorizer_unique_id) > 0),
    debit_date           TEXT NOT NULL,
    settles_on           TEXT NOT NULL,
    amount_cents         INTEGER NOT NULL CHECK (amount_cents > 0),
    decision             TEXT NOT NULL CHECK (decision IN ('send', 'hold', 'unknown')),
    reason               TEXT NOT NULL,
    balance_cents        INTEGER,
    checked_at           TEXT,
    PRIMARY KEY (run_id, debit_id)
) STRICT;

CREATE INDEX debit_decisions_by_authorizer
    ON debit_decisions (authorizer_unique_id, settles_on);
CREATE INDEX debit_decisions_by_debit ON debit_decisions (debit_id);

-- One row per returned debit: a debit comes back once. Importing a return file again
-- finds every row present and changes nothing.
CREATE TABLE debit_returns (
    debit_id    TEXT PRIMARY KEY CHECK (length(debit_id) > 0),
    return_code TEXT NOT NULL CHECK (return_code GLOB 'R[0-9][0-9]'),
    return_date TEXT NOT NULL,
    imported_at TEXT NOT NULL
) STRICT;
