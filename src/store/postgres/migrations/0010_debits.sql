-- 0010: the payment calendar: each run's decision about each debit due in it, and the
-- lender's ACH returns (SQLite's 0010_debits.sql).
--
-- Same conventions as 0009: dates are DATE, times TIMESTAMPTZ, money BIGINT cents, every
-- id a page or a report sorts is COLLATE "C" (byte order, as in SQLite). No column for
-- personal data: a debit is the lender's own ids, its dates and its amount. A run's
-- decisions go with the run when retention prunes it.
CREATE TABLE debit_decisions (
    run_id               BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    debit_id             TEXT COLLATE "C" NOT NULL CHECK (length(debit_id) > 0),
    authorizer_unique_id TEXT COLLATE "C" NOT NULL CHECK (length(authorizer_unique_id) > 0),
    debit_date           DATE NOT NULL,
    settles_on           DATE NOT NULL,
    amount_cents         BIGINT NOT NULL CHECK (amount_cents > 0),
    decision             TEXT NOT NULL CHECK (decision IN ('send', 'hold', 'unknown')),
    reason               TEXT NOT NULL,
    balance_cents        BIGINT,
    checked_at           TIMESTAMPTZ,
    PRIMARY KEY (run_id, debit_id)
);

CREATE INDEX debit_decisions_by_authorizer
    ON debit_decisions (authorizer_unique_id, settles_on);
CREATE INDEX debit_decisions_by_debit ON debit_decisions (debit_id);

-- One row per returned debit: a debit comes back once. Importing a return file again
-- finds every row present and changes nothing.
CREATE TABLE debit_returns (
    debit_id    TEXT COLLATE "C" PRIMARY KEY CHECK (length(debit_id) > 0),
    return_code TEXT NOT NULL CHECK (return_code ~ '^R[0-9][0-9]$'),
    return_date DATE NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL
);
