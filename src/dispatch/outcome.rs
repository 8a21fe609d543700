//! What dispatching one payload led to, and what the queue should do next.

use crate::job::error::Step;
use crate::wire::{Meta, RejectError, Relation};
use crate::HandlerError;
use semver::Version;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The one outcome of dispatching a payload.
///
/// Every outcome but [`Performed`](Outcome::Performed) hands back the payload
/// to act on: the original bytes, untouched, except for an iterable job that
/// made progress, whose payload carries its new `progress` (and nothing else
/// changed). [`Outcome::action`] says what to do with it. An outcome borrows
/// the payload; [`Outcome::into_owned`] makes one that crosses tasks and
/// threads.
///
/// ```
/// use jobwire::{Action, Delivery, Outcome, Router, Tombstone};
///
/// let router = Router::builder().retired(Tombstone::new("user.fax")).build()?;
/// let payload = br#"{"job":"billing.refund","version":"1.0.0","args":{}}"#;
/// match router.dispatch_blocking(payload, &mut Delivery::new()) {
///     Outcome::Deferred(deferred) => {
///         assert_eq!(&deferred.payload[..], payload);
///         assert_eq!(deferred.action(), Action::Defer);
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[must_use = "an outcome tells the queue whether to acknowledge, defer, retry or dead-letter the payload"]
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<'p> {
    /// The handler performed the job.
    Performed(Performed),
    /// Not performed: only another release can perform it. Re-enqueue it
    /// later without counting an attempt.
    Deferred(Deferred<'p>),
    /// The handler asked to come back later, without counting an attempt.
    Snoozed(Snoozed<'p>),
    /// An iterable job stopped at a checkpoint: re-enqueue the new payload
    /// without counting an attempt.
    Interrupted(Interrupted<'p>),
    /// Not performed, on purpose: the job is retired. Acknowledge it.
    Discarded(Discarded<'p>),
    /// Not performed: the payload can never be performed as it stands.
    /// (Boxed: rejections are rare, and the box keeps every outcome small.)
    Rejected(Box<Rejected<'p>>),
    /// The handler ran and failed, or a step of the dispatch panicked.
    /// (Boxed, as `Rejected` is.)
    Failed(Box<Failed<'p>>),
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
    /// Re-enqueue it later, without counting an attempt: another release
    /// will perform it, the handler snoozed, or an iterable job checkpointed.
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
/// # use jobwire::wire::Relation;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious; type State = (); type Data = ();
/// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// let router = Router::builder().job::<Ping>().build()?;
/// let Outcome::Performed(done) = router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()) else { panic!() };
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
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let router = Router::builder().job::<Ping>().build()?;
    /// let payload = br#"{"job":"ping","version":"1.0.0","args":{}}"#;
    /// let Outcome::Performed(performed) = router.dispatch_blocking(payload, &mut Delivery::new()) else { unreachable!() };
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
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious; type State = (); type Data = ();
/// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// let router = Router::builder().job::<Ping>().build()?;
/// let payload = br#"{"job":"ping","version":"2.0.0","args":{},"meta":{"id":"j-1"}}"#;
/// let Outcome::Deferred(deferred) = router.dispatch_blocking(payload, &mut Delivery::new()) else { panic!() };
/// assert!(matches!(deferred.reason, DeferReason::NewerRelease { .. }));
/// assert_eq!(deferred.meta.id(), Some("j-1"));
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deferred<'p> {
    /// Why it was deferred.
    pub reason: DeferReason<'p>,
    /// The metadata read from the payload.
    pub meta: Meta<'p>,
    /// The original payload, untouched.
    pub payload: Cow<'p, [u8]>,
}

/// Why a payload was deferred.
///
/// ```
/// # use jobwire::*;
/// let router = Router::builder().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Deferred(deferred) = router.dispatch_blocking(br#"{"job":"pong","version":"1.0.0","args":{}}"#, &mut Delivery::new()) else { panic!() };
/// assert_eq!(deferred.reason, DeferReason::UnknownJob { job: "pong".into(), wire_version: semver::Version::new(1, 0, 0) });
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
        /// The version the payload was written at.
        wire_version: Version,
    },
}

impl DeferReason<'_> {
    /// The job name as written.
    ///
    /// ```
    /// let reason = jobwire::DeferReason::UnknownJob { job: "a".into(), wire_version: semver::Version::new(1, 0, 0) };
    /// assert_eq!(reason.job(), "a");
    /// ```
    pub fn job(&self) -> &str {
        match self {
            DeferReason::NewerRelease { job, .. } | DeferReason::UnknownJob { job, .. } => job,
        }
    }

    /// The version the payload was written at.
    ///
    /// ```
    /// let reason = jobwire::DeferReason::UnknownJob { job: "a".into(), wire_version: semver::Version::new(1, 2, 0) };
    /// assert_eq!(reason.wire_version().minor, 2);
    /// ```
    pub fn wire_version(&self) -> &Version {
        match self {
            DeferReason::NewerRelease { wire_version, .. }
            | DeferReason::UnknownJob { wire_version, .. } => wire_version,
        }
    }

    /// A copy that outlives the payload.
    ///
    /// ```
    /// let reason = jobwire::DeferReason::UnknownJob { job: "a".into(), wire_version: semver::Version::new(1, 0, 0) };
    /// let _owned: jobwire::DeferReason<'static> = reason.into_owned();
    /// ```
    pub fn into_owned(self) -> DeferReason<'static> {
        match self {
            DeferReason::NewerRelease {
                job,
                wire_version,
                handler_version,
            } => DeferReason::NewerRelease {
                job: Cow::Owned(job.into_owned()),
                wire_version,
                handler_version,
            },
            DeferReason::UnknownJob { job, wire_version } => DeferReason::UnknownJob {
                job: Cow::Owned(job.into_owned()),
                wire_version,
            },
        }
    }
}

/// A job whose handler asked to come back later, without counting an
/// attempt.
///
/// ```
/// # use jobwire::*;
/// # use std::time::Duration;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious; type State = (); type Data = ();
/// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
/// #         Err(HandlerError::snooze(Duration::from_secs(9)))
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().build()?;
/// let outcome = router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new());
/// assert_eq!(outcome.action(), Action::Defer);
/// assert_eq!(outcome.delay(), Some(Duration::from_secs(9)));
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snoozed<'p> {
    /// The job's current name.
    pub job: &'static str,
    /// The version the payload was written at.
    pub wire_version: Version,
    /// How long the handler asked to wait.
    pub delay: Duration,
    /// The metadata read from the payload.
    pub meta: Meta<'p>,
    /// The original payload, untouched (or with an iterable job's progress).
    pub payload: Cow<'p, [u8]>,
}

/// An iterable job that stopped at a checkpoint: not a failure, and no
/// attempt counted.
///
/// ```
/// /// What to re-enqueue, and after how long, when an iterable job stopped.
/// fn resume<'o>(outcome: &'o jobwire::Outcome<'_>) -> Option<(&'o [u8], &'static str)> {
///     match outcome {
///         jobwire::Outcome::Interrupted(stopped) => Some((&stopped.payload, stopped.reason)),
///         _ => None,
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interrupted<'p> {
    /// The job's current name.
    pub job: &'static str,
    /// The version the payload was written at.
    pub wire_version: Version,
    /// Why it stopped: `"max run time"`, `"cancelled"` (shutdown or a deploy
    /// gate), ...
    pub reason: &'static str,
    /// The metadata read from the payload.
    pub meta: Meta<'p>,
    /// The payload to re-enqueue: the original bytes with the new
    /// `progress`.
    pub payload: Cow<'p, [u8]>,
}

/// A payload for a retired job, discarded on purpose.
///
/// ```
/// # use jobwire::*;
/// let router = Router::builder().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Discarded(discarded) = router.dispatch_blocking(br#"{"job":"fax","version":"1.0.0","args":{}}"#, &mut Delivery::new()) else { panic!() };
/// assert_eq!(discarded.job, "fax");
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discarded<'p> {
    /// The retired name, as registered by its tombstone.
    pub job: &'static str,
    /// The metadata read from the payload.
    pub meta: Meta<'p>,
    /// The original payload, untouched.
    pub payload: Cow<'p, [u8]>,
}

/// A payload that can never be performed as it stands.
///
/// ```
/// # use jobwire::*;
/// let router = Router::builder().retired(Tombstone::new("fax")).build()?;
/// let Outcome::Rejected(rejected) = router.dispatch_blocking(b"{}", &mut Delivery::new()) else { panic!() };
/// assert_eq!(rejected.error, RejectError::MissingField { field: "job" });
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected<'p> {
    /// Why.
    pub error: RejectError,
    /// The metadata read before the problem was found (empty if none was).
    pub meta: Meta<'p>,
    /// The original payload, untouched.
    pub payload: Cow<'p, [u8]>,
}

/// A job whose handler failed, or whose dispatch panicked.
///
/// ```
/// # use jobwire::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious; type State = (); type Data = ();
/// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
/// #         Err(HandlerError::permanent("no"))
/// #     }
/// # }
/// let router = Router::builder().job::<Ping>().build()?;
/// let Outcome::Failed(failed) = router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()) else { panic!() };
/// assert!(!failed.panicked && !failed.error.is_retryable());
/// assert_eq!(failed.step, Step::Perform);
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Failed<'p> {
    /// The job's current name.
    pub job: &'static str,
    /// The version the payload was written at.
    pub wire_version: Version,
    /// The handler's error; for a panic, its message, never retryable.
    pub error: HandlerError,
    /// The step that failed: the handler, or for a panic, possibly a decode
    /// or an upcast.
    pub step: Step,
    /// Whether the step panicked.
    pub panicked: bool,
    /// The metadata read from the payload.
    pub meta: Meta<'p>,
    /// The original payload, untouched (or with an iterable job's progress,
    /// so that a retry resumes).
    pub payload: Cow<'p, [u8]>,
}

impl Deferred<'_> {
    /// Always [`Action::Defer`].
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let outcome = router.dispatch_blocking(br#"{"job":"new.job","version":"1.0.0","args":{}}"#, &mut Delivery::new());
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
    /// assert_eq!(router.dispatch_blocking(b"not json", &mut Delivery::new()).action(), Action::DeadLetter);
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn action(&self) -> Action {
        match self {
            Outcome::Performed(_) | Outcome::Discarded(_) => Action::Ack,
            Outcome::Deferred(_) | Outcome::Snoozed(_) | Outcome::Interrupted(_) => Action::Defer,
            Outcome::Rejected(_) => Action::DeadLetter,
            Outcome::Failed(failed) if failed.error.is_retryable() => Action::Retry,
            Outcome::Failed(_) => Action::DeadLetter,
        }
    }

    /// Whether acting on the outcome counts an attempt: only a retry does.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert!(!router.dispatch_blocking(br#"{"job":"y","version":"1.0.0","args":{}}"#, &mut Delivery::new()).counts_attempt());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn counts_attempt(&self) -> bool {
        self.action() == Action::Retry
    }

    /// The delay the handler asked for: a snooze's, or a retry's.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert_eq!(router.dispatch_blocking(b"{}", &mut Delivery::new()).delay(), None);
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Outcome::Snoozed(snoozed) => Some(snoozed.delay),
            Outcome::Failed(failed) => failed.error.delay(),
            _ => None,
        }
    }

    /// The payload to act on, for every outcome but `Performed`: the
    /// original bytes, or an iterable job's with its new progress.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let payload = b"\xff\xfe";
    /// assert_eq!(router.dispatch_blocking(payload, &mut Delivery::new()).payload(), Some(&payload[..]));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn payload(&self) -> Option<&[u8]> {
        match self {
            Outcome::Performed(_) => None,
            Outcome::Deferred(o) => Some(&o.payload),
            Outcome::Snoozed(o) => Some(&o.payload),
            Outcome::Interrupted(o) => Some(&o.payload),
            Outcome::Discarded(o) => Some(&o.payload),
            Outcome::Rejected(o) => Some(&o.payload),
            Outcome::Failed(o) => Some(&o.payload),
        }
    }

    /// The metadata read from the payload, for every outcome but
    /// `Performed`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let outcome = router.dispatch_blocking(br#"{"job":"y","version":"1.0.0","args":{},"meta":{"id":"j-2"}}"#, &mut Delivery::new());
    /// assert_eq!(outcome.meta().and_then(|m| m.id()), Some("j-2"));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn meta(&self) -> Option<&Meta<'p>> {
        match self {
            Outcome::Performed(_) => None,
            Outcome::Deferred(o) => Some(&o.meta),
            Outcome::Snoozed(o) => Some(&o.meta),
            Outcome::Interrupted(o) => Some(&o.meta),
            Outcome::Discarded(o) => Some(&o.meta),
            Outcome::Rejected(o) => Some(&o.meta),
            Outcome::Failed(o) => Some(&o.meta),
        }
    }

    /// The rejection, if the payload was rejected.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert!(router.dispatch_blocking(b"[]", &mut Delivery::new()).rejection().is_some());
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
    /// assert!(!router.dispatch_blocking(b"{}", &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn is_performed(&self) -> bool {
        matches!(self, Outcome::Performed(_))
    }

    /// A short, stable label: `"performed"`, `"deferred"`, `"snoozed"`,
    /// `"interrupted"`, `"discarded"`, `"rejected"` or `"failed"`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// assert_eq!(router.dispatch_blocking(b"{", &mut Delivery::new()).label(), "rejected");
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Performed(_) => "performed",
            Outcome::Deferred(_) => "deferred",
            Outcome::Snoozed(_) => "snoozed",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::Discarded(_) => "discarded",
            Outcome::Rejected(_) => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }

    /// An outcome that owns its payload, metadata and reason: `Send +
    /// 'static`, so it crosses `tokio::spawn` and threads, with the original
    /// bytes intact.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let owned: Outcome<'static> = {
    ///     let payload = br#"{"job":"y","version":"1.0.0","args":{}}"#.to_vec();
    ///     router.dispatch_blocking(&payload, &mut Delivery::new()).into_owned()
    /// };
    /// std::thread::spawn(move || assert_eq!(owned.action(), Action::Defer)).join().unwrap();
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn into_owned(self) -> Outcome<'static> {
        let own = |payload: Cow<'p, [u8]>| Cow::Owned(payload.into_owned());
        match self {
            Outcome::Performed(p) => Outcome::Performed(p),
            Outcome::Deferred(o) => Outcome::Deferred(Deferred {
                reason: o.reason.into_owned(),
                meta: o.meta.into_owned(),
                payload: own(o.payload),
            }),
            Outcome::Snoozed(o) => Outcome::Snoozed(Snoozed {
                job: o.job,
                wire_version: o.wire_version,
                delay: o.delay,
                meta: o.meta.into_owned(),
                payload: own(o.payload),
            }),
            Outcome::Interrupted(o) => Outcome::Interrupted(Interrupted {
                job: o.job,
                wire_version: o.wire_version,
                reason: o.reason,
                meta: o.meta.into_owned(),
                payload: own(o.payload),
            }),
            Outcome::Discarded(o) => Outcome::Discarded(Discarded {
                job: o.job,
                meta: o.meta.into_owned(),
                payload: own(o.payload),
            }),
            Outcome::Rejected(o) => {
                let Rejected {
                    error,
                    meta,
                    payload,
                } = *o;
                Outcome::Rejected(Box::new(Rejected {
                    error,
                    meta: meta.into_owned(),
                    payload: own(payload),
                }))
            }
            Outcome::Failed(o) => {
                let Failed {
                    job,
                    wire_version,
                    error,
                    step,
                    panicked,
                    meta,
                    payload,
                } = *o;
                Outcome::Failed(Box::new(Failed {
                    job,
                    wire_version,
                    error,
                    step,
                    panicked,
                    meta: meta.into_owned(),
                    payload: own(payload),
                }))
            }
        }
    }
}

// An owned outcome crosses tasks and threads.
const _: () = {
    const fn sendable<T: Send + 'static>() {}
    sendable::<Outcome<'static>>();
};

impl fmt::Display for DeferReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeferReason::NewerRelease {
                job,
                wire_version,
                handler_version,
            } => write!(
                f,
                "job `{job}` {wire_version} was written by a newer release (this one reads up to {handler_version})"
            ),
            DeferReason::UnknownJob { job, wire_version } => {
                write!(f, "job `{job}` {wire_version} is not known to this release")
            }
        }
    }
}

/// One line, for logs and dead-letter reasons: what happened, never the
/// payload's bytes.
///
/// ```
/// # use jobwire::*;
/// let router = Router::builder().retired(Tombstone::new("fax")).build()?;
/// let outcome = router.dispatch_blocking(br#"{"job":"pong","version":"1.0.0","args":{}}"#, &mut Delivery::new());
/// assert_eq!(outcome.to_string(), "deferred: job `pong` 1.0.0 is not known to this release");
/// let outcome = router.dispatch_blocking(br#"{"job":"fax","version":"1.0.0","args":{}}"#, &mut Delivery::new());
/// assert_eq!(outcome.to_string(), "discarded: job `fax` is retired");
/// # Ok::<(), RegistryError>(())
/// ```
impl fmt::Display for Outcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.label())?;
        match self {
            Outcome::Performed(done) => write!(f, "job `{}` {}", done.job, done.wire_version),
            Outcome::Deferred(deferred) => write!(f, "{}", deferred.reason),
            Outcome::Snoozed(snoozed) => write!(
                f,
                "job `{}` {} asked to come back in {:?}",
                snoozed.job, snoozed.wire_version, snoozed.delay
            ),
            Outcome::Interrupted(stopped) => write!(
                f,
                "job `{}` {} stopped at a checkpoint ({})",
                stopped.job, stopped.wire_version, stopped.reason
            ),
            Outcome::Discarded(discarded) => write!(f, "job `{}` is retired", discarded.job),
            Outcome::Rejected(rejected) => write!(f, "{}", rejected.error),
            Outcome::Failed(failed) => {
                let panicked = if failed.panicked { " (panicked)" } else { "" };
                write!(
                    f,
                    "job `{}` {}, in {}{panicked}: {}",
                    failed.job, failed.wire_version, failed.step, failed.error
                )
            }
        }
    }
}
