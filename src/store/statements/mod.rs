//! The SQL text both backends run, written once.
//!
//! A statement that SQLite and PostgreSQL read alike lives here, in SQLite's spelling:
//! parameters are `?1`, `?2`, …, and only the SQL the two dialects share is used
//! (`CAST(NULL AS BIGINT)` rather than `NULL::BIGINT`, a named subquery in `FROM`,
//! `ON CONFLICT … DO NOTHING`). The SQLite backend runs the text as it is; the PostgreSQL
//! backend runs it through [`dollars!`], which rewrites each `?` to `$` when the crate
//! compiles, so `?3` becomes `$3` and the two texts cannot drift apart. No statement here
//! may hold a `?` that is not a parameter.
//!
//! A statement whose dialects differ (time arithmetic, JSON, arrays, `RETURNING` where
//! SQLite's rowid serves) stays in its backend's file. Fragments several statements
//! share are macros that expand to a string literal, so that `concat!` can join them.
//! One file per area, named as the area's trait file; nothing here runs a statement.

pub(super) mod alerts;
pub(super) mod batches;
pub(super) mod dashboard;
pub(super) mod debits;
pub(super) mod export;
pub(super) mod leadership;
pub(super) mod leases;
pub(super) mod outbox;
pub(super) mod queries;
pub(super) mod reports;
pub(super) mod results;
pub(super) mod retention;
pub(super) mod run_metadata;
pub(super) mod runs;
pub(super) mod schedule;
pub(super) mod silences;

/// `sql` with every `?` turned into `$`: the bytes of [`dollars!`]'s answer.
pub(crate) const fn dollar_bytes<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    let mut out = [0u8; N];
    let mut at = 0;
    while at < N {
        out[at] = if bytes[at] == b'?' { b'$' } else { bytes[at] };
        at += 1;
    }
    out
}

/// A statement of this module made at run time, in PostgreSQL's spelling: what
/// [`dollars!`] does to a constant.
pub(crate) fn respell(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A statement of this module in PostgreSQL's spelling (`$1` for `?1`), made when the
/// crate compiles: `dollars!(alerts::MARK_JUDGED)`.
macro_rules! dollars {
    ($sql:expr) => {{
        const QUESTION_MARKS: &str = $sql;
        const DOLLARS: [u8; QUESTION_MARKS.len()] =
            $crate::store::statements::dollar_bytes(QUESTION_MARKS);
        match ::std::str::from_utf8(&DOLLARS) {
            Ok(text) => text,
            Err(_) => panic!("a statement is not UTF-8 once its parameters are respelled"),
        }
    }};
}
pub(crate) use dollars;

/// The columns `run_record` reads, from `runs r JOIN monitors m`.
macro_rules! run_columns {
    () => {
        "r.id, r.monitor_id, m.name, r.run_trigger, r.scheduled_for, r.state, \
         r.served_from_cache, r.created_at, r.started_at, r.finished_at, r.reason"
    };
}
pub(crate) use run_columns;

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_are_respelled_and_nothing_else() {
        const SQL: &str = "SELECT a FROM t WHERE b = ?1 AND c > ?12 LIMIT ?3";
        assert_eq!(
            dollars!(SQL),
            "SELECT a FROM t WHERE b = $1 AND c > $12 LIMIT $3"
        );
        assert_eq!(super::respell(SQL), dollars!(SQL));
    }
}
