//! Defining a job: its stable name, its version, its history and its handler.

use crate::history::History;
use crate::{Context, HandlerError};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A job: the arguments of one kind of background work, with the handler that
/// performs them.
///
/// The implementing type *is* the job's current arguments. Its [`NAME`] is
/// what goes on the wire, so it must never change by accident: it is a string
/// you choose, never a Rust type name. Its [`VERSION`] is the semver version
/// of the arguments' shape: bump the minor for an added optional parameter,
/// the major for a change older code cannot read.
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
///
///     fn perform(self, _ctx: &Context<'_>) -> Result<(), HandlerError> {
///         println!("to {}: {}", self.user_id, self.message);
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
pub trait Job<L: Lifecycle = Active>: Serialize + DeserializeOwned + 'static {
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

    /// Performs the job.
    ///
    /// An error converts into a retryable [`HandlerError`] with `?`; return
    /// [`HandlerError::permanent`] for a failure a retry cannot fix.
    fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError>;
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
///     fn perform(self, _ctx: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
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
