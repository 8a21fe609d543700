//! Sidekiq's queue on Redis (feature `redis`), tested with the real gem: a
//! Ruby client enqueues and jobwire performs, jobwire enqueues and a real
//! `sidekiq` process performs, and worker processes are killed, stopped and
//! fenced as an orchestrator would.
//!
//! One file per promise. This binary is its own test harness (the tests
//! start processes, one after another): run as a child with
//! `JOBWIRE_SIDEKIQ_ROLE=worker`, it is a worker process.
//!
//! ```text
//! cargo test --features redis --test sidekiq            # all
//! cargo test --features redis --test sidekiq -- kill    # by name
//! ```
//!
//! The tests use Redis database 9 of `redis://127.0.0.1:6379`
//! (`JOBWIRE_REDIS_URL` to change it) and empty it. Without a Redis there,
//! or without Ruby's Sidekiq gem (Debian: `ruby-sidekiq`), they say
//! `NOT RUN`; under CI (`JOBWIRE_REQUIRE_REDIS`) they fail instead.

#[cfg(feature = "redis")]
mod bad_input;
#[cfg(feature = "redis")]
mod busy;
#[cfg(all(feature = "redis", feature = "web"))]
mod console;
#[cfg(feature = "redis")]
mod dead_letters;
#[cfg(feature = "redis")]
mod drain;
#[cfg(feature = "redis")]
mod fencing;
#[cfg(feature = "redis")]
mod from_ruby;
#[cfg(feature = "redis")]
mod gate;
#[cfg(feature = "redis")]
mod iteration;
#[cfg(feature = "redis")]
mod kill_nine;
#[cfg(feature = "redis")]
mod redis_restart;
#[cfg(feature = "redis")]
mod retries;
#[cfg(feature = "redis")]
#[path = "../support/runner.rs"]
mod runner;
#[cfg(feature = "redis")]
mod sigterm;
#[cfg(feature = "redis")]
mod stats;
#[cfg(feature = "redis")]
mod support;
#[cfg(feature = "redis")]
mod to_ruby;

#[cfg(not(feature = "redis"))]
fn main() {
    println!("\nNOT RUN: the Sidekiq tests need `--features redis`");
}

#[cfg(feature = "redis")]
fn main() -> std::process::ExitCode {
    if let Ok(role) = std::env::var("JOBWIRE_SIDEKIQ_ROLE") {
        return support::child(&role);
    }
    support::run(&[
        (
            "from_ruby::client_calls",
            from_ruby::every_client_call_is_performed,
        ),
        (
            "from_ruby::mixed_fleet",
            from_ruby::newer_payloads_are_read_or_deferred,
        ),
        (
            "to_ruby::sidekiq_performs",
            to_ruby::a_real_sidekiq_performs_what_jobwire_enqueues,
        ),
        (
            "kill_nine::nothing_lost",
            kill_nine::a_killed_worker_loses_nothing,
        ),
        (
            "sigterm::released",
            sigterm::sigterm_puts_jobs_back_without_an_attempt,
        ),
        (
            "fencing::stale_ack",
            fencing::a_stale_acknowledgement_is_fenced,
        ),
        (
            "stats::processed_once",
            stats::every_acknowledgement_is_counted_once,
        ),
        (
            "retries::sidekiq_places",
            retries::failures_retry_and_die_in_sidekiqs_places,
        ),
        (
            "bad_input::straight_to_redis",
            bad_input::bytes_written_straight_to_redis,
        ),
        (
            "drain::per_place",
            drain::waiting_answers_per_job_version_and_place,
        ),
        (
            "busy::heartbeat",
            busy::the_busy_tab_lists_the_worker_and_its_jobs,
        ),
        (
            "redis_restart::aof",
            redis_restart::a_crashed_redis_with_its_aof_loses_nothing,
        ),
        (
            "gate::file",
            gate::the_file_gate_holds_back_gated_jobs_on_redis,
        ),
        (
            "dead_letters::by_jid",
            dead_letters::dead_letters_are_requeued_and_discarded_by_jid,
        ),
        (
            "iteration::checkpoint_survives_kill",
            iteration::a_checkpoint_survives_kill_9_without_an_attempt,
        ),
        #[cfg(feature = "web")]
        (
            "console::dead_letters",
            console::the_console_shows_and_requeues_sidekiqs_dead_letters,
        ),
    ])
}
