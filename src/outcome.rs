//! What dispatching one payload led to, and what the queue should do next.

use crate::version::Relation;
use crate::{HandlerError, RejectError};
use semver::Version;
use std::borrow::Cow;

/// The one outcome of dispatching a payload.
///
/// Every outcome but [`Performed`](Outcome::Performed) hands back the original
/// payload bytes, untouched, for re-enqueue, retry or a dead-letter queue;
/// [`Outcome::action`] says which.
///
/// ```
/// use jobwire::{Action, Outcome, Router, Tombstone};
///
/// let router = Router::builder().retired(Tombstone::new("user.fax")).build()?;
/// let payload = br#"{"job":"billing.refund","version":"1.0.0","args":{}}"#;
/// match router.dispatch(payload) {
///     Outcome::Deferred(deferred) => {
///         assert_eq!(deferred.payload, payload);
///         assert_eq!(deferred.action(), Action::Defer);
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[must_use = "an outcome tells the queue whether to acknowledge, defer, retry or dead-letter the payload"]
#[derive(Debug)]
pub enum Outcome<'p> {
    /// The handler performed the job.
    Performed(Performed),
    /// Not performed: only another release can perform it. Re-enqueue it
    /// later without counting an attempt.
    Deferred(Deferred<'p>),
    /// Not performed, on purpose: the job is retired. Acknowledge it.
    Discarded(Discarded<'p>),
    /// Not performed: the payload can never be performed as it stands.
    Rejected(Rejected<'p>),
    /// The handler ran and failed, or panicked.
    Failed(Failed<'p>),
}

/// What the queue should do with the payload.
///
/// ```
/// use jobwire::Action;
/// assert_eq!(Action::Defer.as_str(), "defer");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Done with it: acknowledge and delete.
    Ack,
    /// Re-enqueue it later, without counting an attempt: a newer (or other)
    /// release will perform it.
    Defer,
    /// Retry it, counting an attempt.
    Retry,
    /// Move it to a dead-letter queue for a person to look at.
    DeadLetter,
}

impl Action {
    /// A short, stable label: `"ack"`, `"defer"`, `"retry"` or `"dead-letter"`.
    ///
    /// ```
    /// assert_eq!(jobwire::Action::DeadLetter.as_str(), "dead-letter");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Defer => "defer",
            Action::Retry => "retry",
            Action::DeadLetter => "dead-letter",
        }
    }
}

/// A job that was performed.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { fail: bool }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> {
/// #         if self.fail { Err(HandlerError::permanent("no")) } else { Ok(()) }
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Performed(done) = router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{"fail":false}}"#) else { panic!() };
/// assert_eq!((done.job, done.relation), ("ping", Relation::Same));
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Performed {
    /// The job's current name.
    pub job: &'static str,
    /// The version the payload was written at.
    pub wire_version: Version,
    /// The version of the handler that performed it.
    pub handler_version: Version,
    /// How the two versions relate; [`Relation::OlderLine`] means the payload
    /// went through the upcast chain.
    pub relation: Relation,
    /// Whether the payload named the job by one of its aliases.
    pub via_alias: bool,
}

impl Performed {
    /// Whether the payload went through the upcast chain.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use semver::Version;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let router = Router::builder().job::<Ping>().build()?;
    /// let payload = br#"{"job":"ping","version":"1.0.0","args":{}}"#;
    /// let Outcome::Performed(performed) = router.dispatch(payload) else { unreachable!() };
    /// assert!(!performed.upcast());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn upcast(&self) -> bool {
        self.relation == Relation::OlderLine
    }
}

/// A payload left for another release.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { fail: bool }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> {
/// #         if self.fail { Err(HandlerError::permanent("no")) } else { Ok(()) }
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Deferred(deferred) = router.dispatch(br#"{"job":"ping","version":"2.0.0","args":{}}"#) else { panic!() };
/// assert!(matches!(deferred.reason, DeferReason::NewerRelease { .. }));
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deferred<'p> {
    /// Why it was deferred.
    pub reason: DeferReason<'p>,
    /// The original payload, untouched.
    pub payload: &'p [u8],
}

/// Why a payload was deferred.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { fail: bool }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> {
/// #         if self.fail { Err(HandlerError::permanent("no")) } else { Ok(()) }
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Deferred(deferred) = router.dispatch(br#"{"job":"pong","version":"1.0.0","args":{}}"#) else { panic!() };
/// assert_eq!(deferred.reason, DeferReason::UnknownJob { job: "pong".into() });
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeferReason<'p> {
    /// Written by a newer release, on a line this release cannot read.
    NewerRelease {
        /// The job name as written.
        job: Cow<'p, str>,
        /// The version the payload was written at.
        wire_version: Version,
        /// The version this release reads.
        handler_version: Version,
    },
    /// A job this release does not know, perhaps one a newer release added.
    UnknownJob {
        /// The job name as written.
        job: Cow<'p, str>,
    },
}

/// A payload for a retired job, discarded on purpose.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { fail: bool }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> {
/// #         if self.fail { Err(HandlerError::permanent("no")) } else { Ok(()) }
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Discarded(discarded) = router.dispatch(br#"{"job":"fax","version":"1.0.0","args":{}}"#) else { panic!() };
/// assert_eq!(discarded.job, "fax");
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discarded<'p> {
    /// The retired name, as registered by its tombstone.
    pub job: &'static str,
    /// The original payload, untouched.
    pub payload: &'p [u8],
}

/// A payload that can never be performed as it stands.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { fail: bool }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> {
/// #         if self.fail { Err(HandlerError::permanent("no")) } else { Ok(()) }
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Rejected(rejected) = router.dispatch(b"{}") else { panic!() };
/// assert_eq!(rejected.error, RejectError::MissingField { field: "job" });
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected<'p> {
    /// Why.
    pub error: RejectError,
    /// The original payload, untouched.
    pub payload: &'p [u8],
}

/// A job whose handler failed or panicked.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { fail: bool }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> {
/// #         if self.fail { Err(HandlerError::permanent("no")) } else { Ok(()) }
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Failed(failed) = router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{"fail":true}}"#) else { panic!() };
/// assert!(!failed.panicked && !failed.error.is_retryable());
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Failed<'p> {
    /// The job's current name.
    pub job: &'static str,
    /// The version the payload was written at.
    pub wire_version: Version,
    /// The handler's error; for a panic, the panic message, not retryable.
    pub error: HandlerError,
    /// Whether the handler panicked.
    pub panicked: bool,
    /// The original payload, untouched.
    pub payload: &'p [u8],
}

impl Deferred<'_> {
    /// Always [`Action::Defer`].
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let outcome = router.dispatch(br#"{"job":"new.job","version":"1.0.0","args":{}}"#);
    /// assert_eq!(outcome.action(), Action::Defer);
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn action(&self) -> Action {
        Action::Defer
    }
}

impl<'p> Outcome<'p> {
    /// What the queue should do with the payload.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert_eq!(router.dispatch(b"not json").action(), Action::DeadLetter);
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn action(&self) -> Action {
        match self {
            Outcome::Performed(_) | Outcome::Discarded(_) => Action::Ack,
            Outcome::Deferred(_) => Action::Defer,
            Outcome::Rejected(_) => Action::DeadLetter,
            Outcome::Failed(failed) if failed.error.is_retryable() => Action::Retry,
            Outcome::Failed(_) => Action::DeadLetter,
        }
    }

    /// The original payload, for every outcome but `Performed`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let payload = b"\xff\xfe";
    /// assert_eq!(router.dispatch(payload).payload(), Some(&payload[..]));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn payload(&self) -> Option<&'p [u8]> {
        match self {
            Outcome::Performed(_) => None,
            Outcome::Deferred(o) => Some(o.payload),
            Outcome::Discarded(o) => Some(o.payload),
            Outcome::Rejected(o) => Some(o.payload),
            Outcome::Failed(o) => Some(o.payload),
        }
    }

    /// The rejection, if the payload was rejected.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert!(router.dispatch(b"[]").rejection().is_some());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn rejection(&self) -> Option<&RejectError> {
        match self {
            Outcome::Rejected(rejected) => Some(&rejected.error),
            _ => None,
        }
    }

    /// Whether the job was performed.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert!(!router.dispatch(b"{}").is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn is_performed(&self) -> bool {
        matches!(self, Outcome::Performed(_))
    }

    /// A short, stable label: `"performed"`, `"deferred"`, `"discarded"`,
    /// `"rejected"` or `"failed"`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert_eq!(router.dispatch(b"{").label(), "rejected");
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Performed(_) => "performed",
            Outcome::Deferred(_) => "deferred",
            Outcome::Discarded(_) => "discarded",
            Outcome::Rejected(_) => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }
}
