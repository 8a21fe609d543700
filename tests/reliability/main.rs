//! The reliability promises, each tested with real worker processes on real
//! queues: SQLite always, PostgreSQL with the `postgres` feature (and
//! `JOBWIRE_POSTGRES_URL`; without it those tests fail, they never skip).
//!
//! One file per promise. This binary is its own test harness: run as a
//! child with `JOBWIRE_TEST_ROLE=worker`, it is a worker process.
//!
//! ```text
//! cargo test --test reliability                      # SQLite
//! JOBWIRE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo test --features postgres --test reliability -- kill_nine
//! ```

mod deploy_window;
mod exclusive_claims;
mod fencing;
mod garbage_rows;
mod gate;
mod gate_faults;
mod harness;
mod iteration;
mod kill_nine;
mod long_jobs;
mod lost_claims;
mod poison;
#[cfg(feature = "postgres")]
mod postgres_connections;
#[cfg(feature = "postgres")]
mod postgres_restart;
#[path = "../support/runner.rs"]
mod runner;
mod sigterm_budget;

fn main() -> std::process::ExitCode {
    if let Ok(role) = std::env::var("JOBWIRE_TEST_ROLE") {
        return harness::child(&role);
    }
    harness::run(&[
        ("kill_nine::sqlite", kill_nine::sqlite),
        #[cfg(feature = "postgres")]
        ("kill_nine::postgres", kill_nine::postgres),
        ("fencing::sqlite", fencing::sqlite),
        #[cfg(feature = "postgres")]
        ("fencing::postgres", fencing::postgres),
        ("exclusive_claims::sqlite", exclusive_claims::sqlite),
        #[cfg(feature = "postgres")]
        ("exclusive_claims::postgres", exclusive_claims::postgres),
        #[cfg(feature = "postgres")]
        ("postgres_restart::postgres", postgres_restart::postgres),
        #[cfg(feature = "postgres")]
        (
            "postgres_connections::terminated",
            postgres_connections::terminated,
        ),
        #[cfg(feature = "postgres")]
        (
            "postgres_connections::starved",
            postgres_connections::starved,
        ),
        ("poison::sqlite", poison::sqlite),
        #[cfg(feature = "postgres")]
        ("poison::postgres", poison::postgres),
        ("sigterm_budget::sqlite", sigterm_budget::sqlite),
        #[cfg(feature = "postgres")]
        ("sigterm_budget::postgres", sigterm_budget::postgres),
        (
            "sigterm_budget::hog_sqlite",
            sigterm_budget::a_job_that_never_yields_sqlite,
        ),
        #[cfg(feature = "postgres")]
        (
            "sigterm_budget::hog_postgres",
            sigterm_budget::a_job_that_never_yields_postgres,
        ),
        ("deploy_window::sqlite", deploy_window::sqlite),
        ("iteration::sigterm_sqlite", iteration::sigterm_sqlite),
        #[cfg(feature = "postgres")]
        ("iteration::sigterm_postgres", iteration::sigterm_postgres),
        #[cfg(feature = "postgres")]
        (
            "iteration::kill_nine_postgres",
            iteration::kill_nine_postgres,
        ),
        #[cfg(feature = "postgres")]
        ("deploy_window::postgres", deploy_window::postgres),
        (
            "gate::close_waits_file",
            gate::close_waits_for_jobs_in_flight_file,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate::close_waits_postgres",
            gate::close_waits_for_jobs_in_flight_postgres,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate::killed_deployer_postgres",
            gate::a_killed_deployer_opens_the_postgres_gate,
        ),
        (
            "gate::expired_lease_file",
            gate::an_expired_file_lease_cannot_open_the_next_holders_gate,
        ),
        (
            "gate::race_file",
            gate::two_deployers_race_and_one_wins_file,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate::race_postgres",
            gate::two_deployers_race_and_one_wins_postgres,
        ),
        (
            "gate::iterable_file",
            gate::an_iterable_job_checkpoints_when_the_gate_closes_file,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate::iterable_postgres",
            gate::an_iterable_job_checkpoints_when_the_gate_closes_postgres,
        ),
        (
            "gate_faults::killed_script_file",
            gate_faults::a_killed_deploy_script_opens_the_gate_file,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate_faults::killed_script_postgres",
            gate_faults::a_killed_deploy_script_opens_the_gate_postgres,
        ),
        (
            "gate_faults::lapse_file",
            gate_faults::a_lapsed_file_hold_is_reported,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate_faults::lapse_postgres",
            gate_faults::a_lapsed_postgres_hold_is_reported,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate_faults::pass_lost_postgres",
            gate_faults::a_worker_that_loses_its_gate_session_keeps_close_waiting_postgres,
        ),
        (
            "gate_faults::unusable_path_file",
            gate_faults::an_unusable_gate_path_is_said_once_and_status_fails,
        ),
        (
            "gate_faults::corrupt_lease_file",
            gate_faults::a_corrupt_lease_is_repaired_with_force,
        ),
        #[cfg(feature = "postgres")]
        (
            "gate_faults::status_postgres",
            gate_faults::gate_status_does_not_call_every_running_job_gated_postgres,
        ),
        (
            "garbage_rows::unreadable_sqlite",
            garbage_rows::unreadable_rows_sqlite,
        ),
        #[cfg(feature = "postgres")]
        (
            "garbage_rows::unreadable_postgres",
            garbage_rows::unreadable_rows_postgres,
        ),
        (
            "garbage_rows::nul_reason_sqlite",
            garbage_rows::a_nul_in_a_reason_is_stored_sqlite,
        ),
        #[cfg(feature = "postgres")]
        (
            "garbage_rows::nul_reason_postgres",
            garbage_rows::a_nul_in_a_reason_is_stored_postgres,
        ),
        (
            "garbage_rows::not_utf8_sqlite",
            garbage_rows::a_name_that_is_not_utf8_hides_nothing_sqlite,
        ),
        ("lost_claims::sqlite", lost_claims::sqlite),
        #[cfg(feature = "postgres")]
        ("lost_claims::postgres", lost_claims::postgres),
        (
            "long_jobs::older_than_window_sqlite",
            long_jobs::a_backfill_older_than_the_window_is_deferred_sqlite,
        ),
        #[cfg(feature = "postgres")]
        (
            "long_jobs::older_than_window_postgres",
            long_jobs::a_backfill_older_than_the_window_is_deferred_postgres,
        ),
        (
            "long_jobs::progress_sqlite",
            long_jobs::progress_is_not_a_failed_attempt_sqlite,
        ),
        #[cfg(feature = "postgres")]
        (
            "long_jobs::progress_postgres",
            long_jobs::progress_is_not_a_failed_attempt_postgres,
        ),
    ])
}
