-- 0011 (SQLite's 0011, ported): the dashboard's /debits and `balance-monitor debits
-- --date` ask for the debits settling on one date; without this index every decision
-- ever stored was read.
CREATE INDEX debit_decisions_by_settlement ON debit_decisions (settles_on, run_id);
