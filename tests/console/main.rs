//! The deploy console (`jobwire serve`, feature `web`): one file per
//! promise.
//!
//! - `pages`: the deploy table agrees with the queue; a dead letter's bytes
//!   are shown exactly, as text or hex.
//! - `safety`: a payload's markup is never rendered; every change needs
//!   the token, the session's CSRF token and the console's own origin.
//! - `metrics`: `/metrics` prints what the README's metrics table says.
//! - `browser`: a person in headless Chromium, against the real command.

mod browser;
mod metrics;
mod pages;
mod safety;
mod seed;
