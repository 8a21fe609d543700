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
//!   job, rename by alias, write what the whole fleet can read) are types;
//! - handlers are `async`, see the queue's attempt, task id and cancellation
//!   signal, read the application state they declare, and can borrow the
//!   transaction their job was claimed in.
//!
//! # A job with two versions
//!
//! ```
//! use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Producer, Router,
//!               Upcast, UpcastError, WritePolicy};
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
//!     type State = ();
//!     type Data = ();
//!     async fn perform(self, _ctx: &mut Context<'_>) -> Result<(), HandlerError> {
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
//!     match router.dispatch_blocking(payload, &mut Delivery::new()) {
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
//! | defining a job | [`Job`], [`Context`], [`HandlerError`], [`Lifecycle`], [`Active`], [`Deprecated`] |
//! | its history | [`Upcast`], [`Downcast`], [`JsonUpcast`], [`JsonArgs`], [`Json`], [`NoPrevious`], [`BreakingChange`] |
//! | registering | [`register!`], [`retire!`], [`Tombstone`], [`RouterBuilder`] |
//! | performing | [`Router`], [`Delivery`], [`Outcome`], [`Action`], [`Cancellation`], [`context::TaskId`]; a router whose jobs borrow the queue's transaction: `Router::builder().lending::<Tx>()` (feature `postgres`, with `jobwire::sqlx`) |
//! | enqueueing | [`Producer`], [`WritePolicy`] |
//! | queues (feature `worker`) | `backend::sqlite::Sqlite` (feature `sqlite`), `backend::postgres::Postgres` (feature `postgres`), `backend::sidekiq::Sidekiq`: Sidekiq's own queue on Redis, shared with Ruby (feature `redis`) |
//! | the wire format | [`wire`]: [`wire::Meta`], [`wire::Header`], [`wire::rewrite_meta`], [`wire::Limits`] |
//! | patterns | [`Added`] (optional parameter), [`Deprecated`], [`retire!`], [`Job::ALIASES`], [`WritePolicy`] |
//! | property tests (feature `testing`) | `testing::Kit`, `testing::Reader`, `testing::strategy` |
//! | deploy-safety check | [`check`]: [`check::Manifest`], [`check::check_window`], [`check::assert_safe_deploy`] |
//! | JSON shapes the check compares | [`shape`]: [`shape::Shape`], [`shape::Shape::read_by`], [`shape::Mismatch`] |
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
//! **Why is `perform` async even for a job that never awaits?** One trait
//! keeps one registration path. A job that never awaits costs nothing extra:
//! [`Router::dispatch_blocking`] polls it once, in place, with no executor and
//! no allocation.
//!
//! **What if `inventory` finds nothing?** [`Router::from_registry`] then
//! refuses to build, saying so, and [`Router::builder`] lets you list the jobs.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod backend;
pub mod check;
/// What a handler sees and a caller supplies, besides the job's arguments.
///
/// [`Context`], [`Delivery`] and [`Cancellation`] are also at the crate root;
/// [`TaskId`](context::TaskId) lives only here, so that a glob import of
/// `jobwire::*` beside another job framework's prelude does not clash.
///
/// ```
/// use jobwire::context::TaskId;
/// let delivery = jobwire::Delivery::new().with_task_id(TaskId::Int(7));
/// assert_eq!(delivery.task_id(), Some(&TaskId::Int(7)));
/// ```
pub mod context {
    pub use crate::job::checkpoint::{Checkpoint, CheckpointError};
    pub use crate::job::context::{Cancellation, Context, Delivery, TaskId};
}
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub mod console;
mod dispatch;
pub mod drain;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod gate;
pub mod iteration;
mod job;
mod produce;
pub mod shape;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
/// The sqlx jobwire's queues are built on (0.9), re-exported: build the
/// queries a handler runs through its lent transaction
/// ([`Tx`](crate::backend::postgres::Tx), with
/// `Router::builder().lending::<Tx>()`) with `jobwire::sqlx`, and the
/// `PgConnection` it hands out is always the one your query expects. A
/// second sqlx version in your own `Cargo.toml` would otherwise fail to
/// compile with an `Executor` error that never mentions two versions.
///
/// ```
/// // The error type of the queues' calls is this sqlx's.
/// let _none: Option<jobwire::sqlx::Error> = None;
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use sqlx;
pub mod wire;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker;

pub use crate::dispatch::counts::DispatchCount;
pub use crate::dispatch::outcome::{
    Action, DeferReason, Deferred, Discarded, Failed, Interrupted, Outcome, Performed, Rejected,
    Snoozed,
};
pub use crate::dispatch::registry::{Problem, RegistryError, RouterBuilder};
pub use crate::dispatch::router::Router;
pub use crate::dispatch::tombstone::Tombstone;
pub use crate::job::added::Added;
pub use crate::job::context::{Cancellation, Context, Delivery};
pub use crate::job::error::{DowncastError, HandlerError, Step, UpcastError};
pub use crate::job::history::{BreakingChange, Downcast, History, NoPrevious, Upcast};
pub use crate::job::json::{Json, JsonArgs, JsonHistory, JsonUpcast};
pub use crate::job::{Active, Deprecated, Job, Lifecycle};
pub use crate::produce::{new_id, Producer, SealError, WritePolicy};
pub use crate::wire::RejectError;

/// Not public API. Used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::dispatch::registry::Registration;
    pub use inventory;
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
