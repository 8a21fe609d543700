//! The deploy console (`jobwire serve`, feature `web`): one file per
//! promise.
//!
//! - `pages`: the deploy table agrees with the queue; a dead letter's bytes
//!   are shown exactly, as text or hex.
//! - `safety`: a payload's markup is never rendered; every change needs
//!   the token, the session's CSRF token and the console's own origin.
//! - `metrics`: `/metrics` prints what the README's metrics table says.
//! - `postgres`: the same over PostgreSQL, with its table health.
//! - `browser`: a person in headless Chromium, against the real command.

mod browser;
mod metrics;
mod pages;
#[cfg(feature = "postgres")]
mod postgres;
mod safety;
/// A PostgreSQL schema of the test's own.
#[cfg(feature = "postgres")]
#[path = "../support/postgres.rs"]
mod schema;
mod seed;
#[path = "../support/settle.rs"]
mod settle;
