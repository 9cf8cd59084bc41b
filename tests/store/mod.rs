//! The store: one suite of behaviour run on every backend, and each backend's own tests.
//!
//! - `suite`: the store's behaviour through its interface (runs and slots, chunks and
//!   results, the schedule, webhooks, plans, batches shared through Rightfoot's cache,
//!   closing, silences and held alerts). Each test is a function generic over [`OpenStore`]; [`shared_suite!`]
//!   turns the list into `#[tokio::test]`s for one backend.
//! - `postgres`: PostgreSQL's own (migrations under a lock, a newer schema refused, a
//!   bad URL, a wrong password, a server that is down, TLS, connections ended by the
//!   server), and [`Postgres`], its factory
//!   for the suite: a fresh database per test directory on the server that
//!   `BALANCE_MONITOR_TEST_POSTGRES_URL` names (`scripts/test` starts one).
//! - `sqlite`: SQLite's own (the file, migrations, pragmas, the schema holding no
//!   personal data, storage of values, locks held by another process), and [`Sqlite`],
//!   its factory for the suite.
//!
//! - `leadership`: the leadership lease, in the shared suite, and PostgreSQL's fencing of
//!   an old epoch's writes.
//!
//! A backend adds a module with its factory and its own tests, and one line
//! `shared_suite!(on_<backend>, ...)` below.

mod leadership;
pub(crate) mod postgres;
mod sqlite;
mod suite;

use std::path::Path;

use balance_monitor::store::Store;

pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// Where the shared suite gets its stores: a backend opens a store for `directory` (a
/// fresh temporary directory per test), and opening the same directory again reopens
/// the same store, with everything written before it.
pub trait OpenStore {
    fn open(directory: &Path) -> impl std::future::Future<Output = Store>;
}

/// Instantiates every test of `suite.rs` for one backend, as `store::<module>::<test>`.
/// A suite function missing from this list is dead code, which the lints refuse.
macro_rules! shared_suite {
    ($module:ident, $backend:ty) => {
        mod $module {
            shared_suite!(@tests $backend;
                a_slot_runs_at_most_once_per_monitor,
                run_states_only_move_forward,
                an_interrupted_run_is_unfinished_and_resumes_to_running,
                reading_the_same_page_twice_stores_one_row_per_authorizer,
                not_retrieved_fills_only_the_gaps_and_a_late_result_replaces_it,
                refused_authorizers_get_a_rejected_result_with_the_reason,
                a_chunk_is_begun_once_per_body_and_an_authorizer_is_in_one_chunk,
                a_batch_id_seen_in_an_earlier_run_is_reported,
                unfinished_runs_list_what_a_restart_must_resume,
                batch_states_need_a_batch_id_and_complete_is_final,
                the_schedule_position_only_moves_forward,
                a_redelivered_webhook_is_recognised,
                a_plan_is_written_whole_or_not_at_all_and_only_once,
                the_first_chunk_to_record_a_rightfoot_batch_owns_its_results,
                judgement_fields_are_kept_whole_until_forgotten,
                after_close_writes_fail_and_reopening_keeps_what_was_written,
                a_sound_store_passes_its_checks_and_a_closed_one_takes_no_test_write,
                a_monitor_run_lease_is_held_by_one_holder_until_it_expires_or_is_released,
                runs_of_a_monitor_are_judged_in_order,
                a_judgement_reads_keyset_pages_and_commits_its_parts_whole,
                the_dashboard_reads_alerts_at_risk_and_the_outbox_and_retries,
                silences_are_kept_ended_early_once_and_held_alerts_survive_a_reopen,
                debit_decisions_and_returns_count_in_a_row,
                the_leadership_lease_is_taken_when_free_with_the_next_epoch,
            );
        }
    };
    (@tests $backend:ty; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                crate::store::suite::$test::<$backend>().await;
            }
        )*
    };
}

shared_suite!(on_sqlite, crate::store::Sqlite);
shared_suite!(on_postgres, crate::store::Postgres);
