//! The statements of the debit ledger (`DebitLedger`).
//!
//! "A debit's latest decision in its monitor" is the decision of the last run of that
//! monitor that decided it. SQLite is told to read the debit's few rows before their
//! runs (`CROSS JOIN` keeps its join order; left to itself its planner may walk every
//! run of the monitor for each row, a hundred times slower at 700,000 decisions), and
//! PostgreSQL, which has no `CROSS JOIN … ON`, plans it well with a plain `JOIN`: the
//! statements that ask it take the join as `join`.

use crate::store::debits::DecisionQuery;

/// Records (or replaces) one debit's decision in a run: run, debit id, authorizer,
/// debit date, settlement date, amount, decision, reason, balance, checked at.
pub(crate) const RECORD_DECISION: &str = "\
    INSERT INTO debit_decisions (run_id, debit_id, authorizer_unique_id, \
        debit_date, settles_on, amount_cents, decision, reason, \
        balance_cents, checked_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (run_id, debit_id) DO UPDATE SET \
        authorizer_unique_id = excluded.authorizer_unique_id, \
        debit_date = excluded.debit_date, \
        settles_on = excluded.settles_on, \
        amount_cents = excluded.amount_cents, \
        decision = excluded.decision, reason = excluded.reason, \
        balance_cents = excluded.balance_cents, \
        checked_at = excluded.checked_at";

/// Run `?1`'s decisions, by authorizer and debit.
pub(crate) const RUN_DECISIONS: &str = "\
    SELECT debit_id, authorizer_unique_id, debit_date, settles_on, \
        amount_cents, decision, reason, balance_cents, checked_at \
    FROM debit_decisions WHERE run_id = ?1 \
    ORDER BY authorizer_unique_id, debit_id";

/// The test that `d` (a decision of run `ru`) is its debit's latest in its monitor.
fn latest(join: &str) -> String {
    format!(
        "d.run_id = (SELECT max(l.run_id) FROM debit_decisions l \
         {join} runs lr ON lr.id = l.run_id \
         WHERE l.debit_id = d.debit_id AND lr.monitor_id = ru.monitor_id)"
    )
}

/// The latest decisions that `query` asks for: settlement date `?1`, monitor `?2` and
/// authorizer `?3`, each NULL when not asked. A date's or an authorizer's decisions are
/// found through their index: a test of the parameter for NULL inside an `OR` would keep
/// the planner from it, so an absent filter is written as its own test.
pub(crate) fn latest_decisions(query: &DecisionQuery, join: &str) -> String {
    let settles_on = match query.settles_on {
        Some(_) => "d.settles_on = ?1",
        None => "CAST(?1 AS DATE) IS NULL",
    };
    let authorizer = match query.authorizer {
        Some(_) => "d.authorizer_unique_id = ?3",
        None => "CAST(?3 AS TEXT) IS NULL",
    };
    format!(
        "SELECT d.debit_id, d.authorizer_unique_id, d.debit_date, d.settles_on, \
             d.amount_cents, d.decision, d.reason, d.balance_cents, d.checked_at, \
             m.name, d.run_id \
         FROM debit_decisions d JOIN runs ru ON ru.id = d.run_id \
             JOIN monitors m ON m.id = ru.monitor_id \
         WHERE {settles_on} AND (CAST(?2 AS TEXT) IS NULL OR m.name = CAST(?2 AS TEXT)) \
           AND {authorizer} AND {} \
         ORDER BY m.name, d.settles_on, d.authorizer_unique_id, d.debit_id",
        latest(join)
    )
}

/// The latest decisions of debits settling from `?1` through `?2`, of monitor `?3` (any
/// when NULL), each with its return code if it came back.
pub(crate) fn decision_tally(join: &str) -> String {
    format!(
        "SELECT d.decision, r.return_code \
         FROM debit_decisions d JOIN runs ru ON ru.id = d.run_id \
             JOIN monitors m ON m.id = ru.monitor_id \
             LEFT JOIN debit_returns r ON r.debit_id = d.debit_id \
         WHERE d.settles_on >= ?1 AND d.settles_on <= ?2 \
           AND (CAST(?3 AS TEXT) IS NULL OR m.name = CAST(?3 AS TEXT)) AND {}",
        latest(join)
    )
}

/// The return recorded for debit `?1`: code and date.
pub(crate) const FIND_RETURN: &str =
    "SELECT return_code, return_date FROM debit_returns WHERE debit_id = ?1";

/// Records a return: debit, code, date, imported at.
pub(crate) const INSERT_RETURN: &str = "\
    INSERT INTO debit_returns (debit_id, return_code, return_date, imported_at) \
    VALUES (?1, ?2, ?3, ?4)";

/// Authorizer `?1`'s debits settled before `?2`, newest first, each as whether it was
/// sent and whether it came back: by each debit's latest decision, but a returned debit
/// was sent whatever that decision says.
pub(crate) const SENT_AND_RETURNED: &str = "\
    SELECT d.decision = 'send' OR r.debit_id IS NOT NULL, r.debit_id IS NOT NULL \
    FROM debit_decisions d LEFT JOIN debit_returns r ON r.debit_id = d.debit_id \
    WHERE d.authorizer_unique_id = ?1 AND d.settles_on < ?2 \
      AND d.run_id = (SELECT max(run_id) FROM debit_decisions l \
                      WHERE l.debit_id = d.debit_id) \
    ORDER BY d.settles_on DESC, d.debit_id DESC";
