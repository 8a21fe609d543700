//! Defining a job: its stable name, its version, its history, what it needs
//! and its handler.
//!
//! - [`Job`] and its lifecycle ([`Active`], [`Deprecated`]);
//! - its history (`history`): [`Upcast`](crate::Upcast), [`Downcast`](crate::Downcast),
//!   [`BreakingChange`](crate::BreakingChange), and JSON-level upcasts (`json`);
//! - [`Added`](crate::Added), the optional-parameter pattern;
//! - what a handler sees and returns (`context`, `error`).

pub(crate) mod added;
pub(crate) mod checkpoint;
pub(crate) mod context;
pub(crate) mod error;
pub(crate) mod history;
pub(crate) mod json;

use crate::job::history::History;
use crate::{Context, HandlerError};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// A job: the arguments of one kind of background work, with the handler that
/// performs them.
///
/// The implementing type *is* the job's current arguments. Its [`NAME`] is
/// what goes on the wire, so it must never change by accident: it is a string
/// you choose, never a Rust type name. Its [`VERSION`] is the semver version
/// of the arguments' shape: bump the minor for an added optional parameter,
/// the major for a change older code cannot read.
///
/// **One trait, async.** `perform` is an `async fn`, so a handler awaits a
/// database or an HTTP call on any executor, with no blocking bridge. A job
/// that never awaits is still a plain synchronous function in effect:
/// [`Router::dispatch_blocking`](crate::Router::dispatch_blocking) polls its
/// future once, in place, with no executor and no allocation. Two traits (one
/// sync, one async) would double every registration path and leave the
/// choice to each job author, for no speed gain.
///
/// **What it needs is declared, and checked when the router is built.**
/// [`State`](Job::State) is the shared application state the handler reads
/// (`()` for none): the router refuses to build without it, naming the job
/// and the type. [`Data`](Job::Data) is what the worker lends each dispatch,
/// such as the transaction the PostgreSQL worker will acknowledge the job in
/// (`()` for none): a router whose worker does not lend that type refuses to
/// build too. Neither can fail while a job runs.
///
/// The lifecycle parameter `L` is [`Active`] by default. A job being phased
/// out implements `Job<Deprecated>` instead: it is still performed, so the
/// queue drains, but it can no longer be enqueued.
///
/// ```
/// use jobwire::{Context, HandlerError, Job, NoPrevious};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// struct Mailer;
/// impl Mailer {
///     async fn send(&self, _to: u64, _text: &str) -> Result<(), std::io::Error> { Ok(()) }
/// }
///
/// #[derive(Serialize, Deserialize)]
/// struct SendConfirmation {
///     user_id: u64,
///     message: String,
/// }
///
/// impl Job for SendConfirmation {
///     const NAME: &'static str = "user.send_confirmation";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = Mailer;
///     type Data = ();
///
///     async fn perform(self, ctx: &mut Context<'_, Mailer>) -> Result<(), HandlerError> {
///         ctx.state().send(self.user_id, &self.message).await?;
///         Ok(())
///     }
/// }
///
/// jobwire::register!(SendConfirmation);
/// ```
///
/// [`NAME`]: Job::NAME
/// [`VERSION`]: Job::VERSION
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an active jobwire job, so it cannot be enqueued",
    label = "not an active job",
    note = "a job declared `impl Job<Deprecated> for {Self}` is still performed while the queue drains, but nothing may enqueue it any more: remove this enqueue, and once the queue has drained replace the job with `jobwire::retire!`",
    note = "any other type needs `impl jobwire::Job for {Self}`"
)]
pub trait Job<L: Lifecycle = Active>: Serialize + DeserializeOwned + Send + 'static {
    /// The job's stable name on the wire, for example `"billing.charge_card"`.
    const NAME: &'static str;

    /// The version of the arguments' shape that this type describes.
    const VERSION: Version;

    /// Names the job was known by before, most recent first. Payloads under
    /// any of them reach this job; under [`WritePolicy::Previous`] the job
    /// is written under the first, so the previous release can read it.
    ///
    /// [`WritePolicy::Previous`]: crate::WritePolicy::Previous
    const ALIASES: &'static [&'static str] = &[];

    /// The previous line of this job's arguments: [`NoPrevious`] for a job
    /// that never broke compatibility, the type of the previous major version
    /// (which implements [`Upcast`]), or [`BreakingChange`] around it in the
    /// release that makes the break.
    ///
    /// [`NoPrevious`]: crate::NoPrevious
    /// [`Upcast`]: crate::Upcast
    /// [`BreakingChange`]: crate::BreakingChange
    type Previous: History<Self>;

    /// The shared application state the handler reads through
    /// [`Context::state`]: `()` for none. Add it with
    /// [`RouterBuilder::state`](crate::RouterBuilder::state); a router
    /// without it does not build.
    type State: Send + Sync + 'static;

    /// The data the worker lends each dispatch, reached through
    /// [`Context::data`]: `()` for none. A router whose worker does not lend
    /// this type does not build.
    type Data: Send + 'static;

    /// Performs the job.
    ///
    /// An error converts into a retryable [`HandlerError`] with `?`; return
    /// [`HandlerError::permanent`] for a failure a retry cannot fix, or
    /// [`HandlerError::snooze`] to come back later without counting an
    /// attempt. A panic is caught and becomes a permanent failure.
    fn perform(
        self,
        ctx: &mut Context<'_, Self::State, Self::Data>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Active {}
    impl Sealed for super::Deprecated {}
}

/// Where a job stands in its life: [`Active`] or [`Deprecated`]. Retired jobs
/// have no type at all: see [`retire!`](crate::retire).
///
/// ```
/// use jobwire::{Active, Deprecated, Lifecycle};
/// fn is_deprecated<L: Lifecycle>() -> bool { L::DEPRECATED }
/// assert!(!is_deprecated::<Active>() && is_deprecated::<Deprecated>());
/// ```
pub trait Lifecycle: sealed::Sealed + 'static {
    /// Whether jobs in this state are deprecated.
    ///
    /// ```
    /// use jobwire::{Lifecycle, Deprecated};
    /// assert!(Deprecated::DEPRECATED);
    /// ```
    const DEPRECATED: bool;
}

/// The lifecycle of a job that is performed and enqueued: the default.
///
/// ```
/// use jobwire::{Active, Lifecycle};
/// assert!(!Active::DEPRECATED);
/// ```
#[derive(Debug)]
pub enum Active {}

/// The lifecycle of a job being phased out: still performed, so the queue
/// drains, with a `tracing` warning each time; no longer enqueueable, which
/// the compiler enforces.
///
/// ```
/// use jobwire::{Context, Deprecated, HandlerError, Job, NoPrevious};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendWelcomeFax { user_id: u64 }
///
/// impl Job<Deprecated> for SendWelcomeFax {
///     const NAME: &'static str = "user.send_welcome_fax";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = ();
///     async fn perform(self, _ctx: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// jobwire::register!(SendWelcomeFax);
/// ```
#[derive(Debug)]
pub enum Deprecated {}

impl Lifecycle for Active {
    const DEPRECATED: bool = false;
}

impl Lifecycle for Deprecated {
    const DEPRECATED: bool = true;
}
