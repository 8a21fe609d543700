//! Property tests for your jobs' upgrades (feature `testing`).
//!
//! A payload change is safe when every payload old code could have written is
//! performed by new code, and every payload new code writes is readable by old
//! code. [`Kit`] checks that over the whole space of payloads your proptest
//! strategies describe, and shrinks a failure to the smallest payload that
//! breaks:
//!
//! - **(a)** every payload of every older line you name reaches the current
//!   type through the upcast chain ([`Kit::older`], [`Kit::older_json`]),
//!   and, with [`Kit::older_matching`], arrives with the values it should;
//! - **(b)** every payload the current code writes, under each
//!   [`WritePolicy`](crate::WritePolicy), is readable by the previous release
//!   ([`Kit::previous_release`]);
//! - **(c)** sealing a value and reading it back gives an equal value
//!   (always checked);
//! - **(d)** a payload from a newer minor version, carrying fields this
//!   release does not know, still reads (always checked: it catches an
//!   accidental `deny_unknown_fields`);
//! - **(e)** a downcast declared `LOSSLESS` round-trips (checked whenever
//!   the job's `Previous` is a `BreakingChange` whose downcast claims it);
//! - **(f)** every payload the previous release, and every earlier release
//!   still in the window, writes is performed by the current code (with
//!   [`Kit::window`], or [`Kit::previous_release`] and
//!   [`Kit::earlier_release`]): a field made required in a minor without
//!   `Added`, a field renamed or retyped in a minor, a dropped
//!   `#[serde(default)]`, fail here.
//!
//! - **iterable jobs**: every item performed exactly once, whatever the
//!   interruptions and whichever release resumes ([`IterationKit`]), and
//!   cursors that come back as what they were ([`assert_cursor_round_trip`]).
//!
//! Every failing property is reported, not just the first, and panics inside
//! the job's code are silenced while the kit shrinks them (their message is
//! in the failure).
//!
//! **Where the previous release's types come from.** (b) and (f) need the
//! previous release's type for the job. Keep them in your test code, in a
//! `releases` module that you update when you cut a release: copy the job's
//! type (just the struct, its derives and its `impl Job`, with a handler that
//! does nothing) into `tests/releases/v2_3.rs`, and point the kit at it.
//!
//! Add jobwire with the feature to your dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! jobwire = { version = "0.2", features = ["testing"] }
//! proptest = "1"
//! ```
//!
//! A failing case's seed is saved under `proptest-regressions/` (see
//! [`Kit::persist_to`]) and replayed first on the next run; commit that folder.
//!
//! The pieces the kit is made of are public too: [`Reader`] reads payloads
//! as a release would, without performing them, [`envelope`] writes one by
//! hand, and [`strategy`] has the generators.

mod iteration;
mod kit;
mod quiet;
mod reader;
pub mod strategy;

pub use iteration::{assert_cursor_round_trip, IterationKit, Resumption, World};
pub use kit::{Failure, Failures, Kit, Window};
pub use reader::{envelope, Reader};
