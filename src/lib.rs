//! Rolling-deploy-safe background jobs.
//!
//! During a rolling deploy, release N and release N+1 share one queue. A
//! payload written by N+1 can reach an N worker, and a payload written by N
//! can still be waiting when N+1 workers start. jobwire wraps your enqueue and
//! perform calls, whatever the queue, so that both directions are safe:
//!
//! - every payload is a versioned **envelope** naming its job (a stable
//!   string, never a Rust type name) and the semver version that wrote it;
//! - a **router** built from link-time registrations performs payloads of N
//!   and N+1: it upcasts old ones through typed upcasters, reads newer
//!   compatible ones, and *defers* what only a newer release can perform;
//! - the deploy patterns (add an optional parameter, deprecate then retire a
//!   job, rename by alias, write what the whole fleet can read) are types.
//!
//! # A job with two versions
//!
//! ```
//! use jobwire::{Context, HandlerError, Job, NoPrevious, Outcome, Producer, Router, Upcast,
//!               UpcastError, WritePolicy};
//! use semver::Version;
//! use serde::{Deserialize, Serialize};
//!
//! /// Version 1: the user was named by email.
//! #[derive(Serialize, Deserialize)]
//! struct ResetPasswordV1 {
//!     email: String,
//! }
//!
//! /// Version 2: the user is named by id.
//! #[derive(Serialize, Deserialize)]
//! struct ResetPassword {
//!     user_id: u64,
//! }
//!
//! impl Upcast for ResetPasswordV1 {
//!     const VERSION: Version = Version::new(1, 0, 0);
//!     type Next = ResetPassword;
//!     type Previous = NoPrevious;
//!     fn upcast(self) -> Result<ResetPassword, UpcastError> {
//!         Ok(ResetPassword { user_id: self.email.len() as u64 }) // a lookup, in real life
//!     }
//! }
//!
//! impl Job for ResetPassword {
//!     const NAME: &'static str = "user.reset_password";
//!     const VERSION: Version = Version::new(2, 0, 0);
//!     type Previous = ResetPasswordV1;
//!     fn perform(self, _ctx: &Context<'_>) -> Result<(), HandlerError> {
//!         println!("reset password of user {}", self.user_id);
//!         Ok(())
//!     }
//! }
//!
//! jobwire::register!(ResetPassword);
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let router = Router::from_registry()?;
//! let producer = Producer::new(WritePolicy::Current);
//!
//! let new = producer.seal(&ResetPassword { user_id: 7 })?;
//! let old = br#"{"job":"user.reset_password","version":"1.0.0","args":{"email":"a@b.c"}}"#;
//! for payload in [&new[..], old] {
//!     match router.dispatch(payload) {
//!         Outcome::Performed(done) => println!("{} {} performed", done.job, done.wire_version),
//!         other => println!("not performed: {other:?}, do {:?}", other.action()),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Where things are
//!
//! | idea | items |
//! | --- | --- |
//! | defining a job | [`Job`], [`Lifecycle`], [`Active`], [`Deprecated`] |
//! | its history | [`Upcast`], [`Downcast`], [`JsonUpcast`], [`Json`], [`NoPrevious`], [`BreakingChange`] |
//! | registering | [`register!`], [`retire!`], [`Tombstone`], [`RouterBuilder`] |
//! | performing | [`Router`], [`Outcome`], [`Action`], [`Context`], [`Limits`] |
//! | enqueueing | [`Producer`], [`WritePolicy`], [`Meta`] |
//! | patterns | [`Added`] (optional parameter), [`Deprecated`], [`retire!`], [`Job::ALIASES`], [`WritePolicy`] |
//! | property tests (feature `testing`) | `testing::Kit`, `testing::Reader`, `testing::strategy` |
//! | deploy-safety check | [`Manifest`], [`check()`], [`check_window`], [`assert_safe_deploy`], [`Rule`] |
//! | errors | [`RejectError`], [`RegistryError`], [`HandlerError`], [`UpcastError`], [`DowncastError`], [`SealError`] |
//!
//! The README specifies the wire format and the dispatch table.
//!
//! # Questions
//!
//! **Why not `std::any::type_name` for the name?** It is not stable across
//! compiler versions or module moves: a refactor would orphan every payload in
//! the queue. A name is a promise; write it down.
//!
//! **Why does an unknown job defer instead of failing?** During a deploy, an
//! N worker can receive a job that only N+1 defines. Deferring it lets an N+1
//! worker perform it a moment later; failing it would lose it.
//!
//! **What if `inventory` finds nothing?** [`Router::from_registry`] then
//! refuses to build, saying so, and [`Router::builder`] lets you list the jobs.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod added;
mod compat;
mod context;
mod decode;
mod envelope;
mod error;
mod history;
mod job;
mod limits;
mod manifest;
mod outcome;
mod registry;
mod router;
mod scan;
mod skip;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod version;
mod write;

pub use crate::added::Added;
pub use crate::compat::{
    assert_safe_deploy, check, check_committed, check_window, Finding, Report, Rule, BLESS_ENV,
};
pub use crate::context::{Context, MissingState};
pub use crate::envelope::{Headers, Meta};
pub use crate::error::{
    DowncastError, HandlerError, Problem, RegistryError, RejectError, SealError, UpcastError,
};
pub use crate::history::{BreakingChange, Downcast, History, Json, JsonUpcast, NoPrevious, Upcast};
pub use crate::job::{Active, Deprecated, Job, Lifecycle};
pub use crate::limits::Limits;
pub use crate::manifest::{
    JobManifest, LineRange, Manifest, ManifestError, Status, TombstoneManifest, Writes, Written,
};
pub use crate::outcome::{
    Action, DeferReason, Deferred, Discarded, Failed, Outcome, Performed, Rejected,
};
pub use crate::registry::{RouterBuilder, Tombstone};
pub use crate::router::Router;
pub use crate::version::{Line, Relation};
pub use crate::write::{Producer, WritePolicy};

/// Not public API. Used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::Registration;
    pub use inventory;
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
