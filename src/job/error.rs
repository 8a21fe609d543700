//! What a job's own code returns when it fails: its handler, its upcasters
//! and its downcasts.

use std::error::Error as StdError;
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A handler's failure, and what the queue should do about it: retry
/// (counting an attempt, optionally after a delay), give up, or *snooze*
/// (come back later without counting an attempt).
///
/// Any error converts into a retryable `HandlerError` with `?`.
///
/// **Why it does not implement `std::error::Error`.** That blanket `From`
/// would then conflict with the standard library's `impl<T> From<T> for T`;
/// `anyhow::Error` makes the same choice for the same reason. It still works
/// with `?` in the other direction: it converts into
/// `Box<dyn Error + Send + Sync>`, derefs to `dyn Error + Send + Sync`, and
/// [`into_std`](HandlerError::into_std) hands back the boxed error.
///
/// ```
/// use jobwire::HandlerError;
/// use std::time::Duration;
///
/// fn charge(amount: i64) -> Result<(), HandlerError> {
///     if amount < 0 {
///         return Err(HandlerError::permanent("negative amount"));
///     }
///     if amount > 1_000_000 {
///         // Not now, and not a failure: ask again in a minute.
///         return Err(HandlerError::snooze(Duration::from_secs(60)));
///     }
///     let _parsed: u32 = "42".parse()?; // retryable by default
///     Ok(())
/// }
/// assert!(!charge(-1).unwrap_err().is_retryable());
/// assert!(charge(2_000_000).unwrap_err().is_snooze());
///
/// // And back into the standard world with `?`:
/// fn report() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     charge(-1)?;
///     Ok(())
/// }
/// assert_eq!(report().unwrap_err().to_string(), "negative amount");
///
/// // Or borrow the error it carries, as a `std::error::Error`:
/// let error = charge(-1).unwrap_err();
/// let as_std: &(dyn std::error::Error + Send + Sync) = error.as_ref();
/// assert!(as_std.source().is_none());
/// ```
///
/// It does not implement `std::error::Error` itself, for the reason
/// `anyhow::Error` does not: it converts *from* every error with `?`, and
/// Rust forbids both (the blanket `From<E: Error>` would then overlap
/// `From<T> for T`). It converts into `Box<dyn Error + Send + Sync>` with
/// `?`, derefs to `dyn Error`, and [`AsRef`] gives the error it carries.
pub struct HandlerError {
    kind: Kind,
    error: BoxError,
    /// The payload to hand back instead of the one dispatched: an iterable
    /// job's envelope with its new progress.
    payload: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Retry(Option<Duration>),
    Permanent,
    Snooze(Duration),
    /// An iterable job stopped at a checkpoint, for the reason given.
    Interrupt(&'static str),
    /// The payload cannot be performed as it stands (an iterable job's
    /// cursor that does not read); the error is a `RejectError`.
    Reject,
}

/// How the router should treat a handler's error.
pub(crate) enum Verdict {
    Failed,
    Snoozed(Duration),
    Interrupted(&'static str),
    Rejected,
}

impl HandlerError {
    /// A failure worth retrying: a timeout, a lock, a service that is down.
    ///
    /// ```
    /// assert!(jobwire::HandlerError::retryable("database is down").is_retryable());
    /// ```
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        HandlerError {
            kind: Kind::Retry(None),
            error: error.into(),
            payload: None,
        }
    }

    /// A failure a retry cannot fix: the queue should dead-letter the payload.
    ///
    /// ```
    /// assert!(!jobwire::HandlerError::permanent("no such user").is_retryable());
    /// ```
    pub fn permanent(error: impl Into<BoxError>) -> Self {
        HandlerError {
            kind: Kind::Permanent,
            error: error.into(),
            payload: None,
        }
    }

    /// Not now, and not a failure: re-enqueue the job after `delay` without
    /// counting an attempt (Oban's snooze). The outcome is
    /// [`Outcome::Snoozed`](crate::Outcome::Snoozed), carrying the delay.
    ///
    /// It is also how a plain job stops early when
    /// [`Context::is_cancelled`](crate::Context::is_cancelled) says the worker
    /// is going away: `snooze(Duration::ZERO)` puts it back, untouched.
    ///
    /// ```
    /// use std::time::Duration;
    /// let error = jobwire::HandlerError::snooze(Duration::from_secs(30));
    /// assert_eq!(error.delay(), Some(Duration::from_secs(30)));
    /// assert!(error.is_snooze() && !error.is_retryable());
    /// ```
    pub fn snooze(delay: Duration) -> Self {
        HandlerError {
            kind: Kind::Snooze(delay),
            error: format!("snoozed for {delay:?}").into(),
            payload: None,
        }
    }

    /// Makes the failure retryable after at least `delay`, whatever the
    /// queue's own backoff would say.
    ///
    /// ```
    /// use std::time::Duration;
    /// let error = jobwire::HandlerError::permanent("rate limited").retry_after(Duration::from_secs(5));
    /// assert!(error.is_retryable());
    /// assert_eq!(error.delay(), Some(Duration::from_secs(5)));
    /// ```
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.kind = Kind::Retry(Some(delay));
        self
    }

    /// Whether the queue should retry the payload, counting an attempt.
    ///
    /// ```
    /// let error: jobwire::HandlerError = std::io::Error::other("timeout").into();
    /// assert!(error.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, Kind::Retry(_))
    }

    /// Whether the handler snoozed.
    ///
    /// ```
    /// assert!(!jobwire::HandlerError::retryable("x").is_snooze());
    /// ```
    pub fn is_snooze(&self) -> bool {
        matches!(self.kind, Kind::Snooze(_))
    }

    /// The delay the handler asked for: a snooze's, or a retry's from
    /// [`retry_after`](HandlerError::retry_after).
    ///
    /// ```
    /// assert_eq!(jobwire::HandlerError::retryable("x").delay(), None);
    /// ```
    pub fn delay(&self) -> Option<std::time::Duration> {
        match &self.kind {
            Kind::Retry(delay) => *delay,
            Kind::Snooze(delay) => Some(*delay),
            Kind::Permanent | Kind::Interrupt(_) | Kind::Reject => None,
        }
    }

    /// The underlying error.
    ///
    /// ```
    /// let error = jobwire::HandlerError::permanent("gone");
    /// assert_eq!(error.error().to_string(), "gone");
    /// ```
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }

    /// The underlying error, boxed, for code that wants a standard error.
    ///
    /// ```
    /// let boxed: Box<dyn std::error::Error + Send + Sync> =
    ///     jobwire::HandlerError::permanent("gone").into_std();
    /// assert_eq!(boxed.to_string(), "gone");
    /// ```
    pub fn into_std(self) -> BoxError {
        self.error
    }

    /// Whether an iterable job stopped at a checkpoint: not a failure.
    ///
    /// ```
    /// assert!(!jobwire::HandlerError::retryable("x").is_interruption());
    /// ```
    pub fn is_interruption(&self) -> bool {
        matches!(self.kind, Kind::Interrupt(_))
    }

    pub(crate) fn verdict(&self) -> Verdict {
        match &self.kind {
            Kind::Retry(_) | Kind::Permanent => Verdict::Failed,
            Kind::Snooze(delay) => Verdict::Snoozed(*delay),
            Kind::Interrupt(reason) => Verdict::Interrupted(reason),
            Kind::Reject => Verdict::Rejected,
        }
    }

    /// An iterable job's stop at a checkpoint, with the payload to resume
    /// from.
    pub(crate) fn interrupt(reason: &'static str, payload: Vec<u8>) -> Self {
        HandlerError {
            kind: Kind::Interrupt(reason),
            error: format!("interrupted: {reason}").into(),
            payload: Some(payload),
        }
    }

    /// A payload that cannot be performed as it stands.
    pub(crate) fn reject(error: crate::wire::RejectError) -> Self {
        HandlerError {
            kind: Kind::Reject,
            error: Box::new(error),
            payload: None,
        }
    }

    /// Hands back `payload` (an iterable job's progress) with the outcome,
    /// instead of the payload dispatched.
    pub(crate) fn with_payload(mut self, payload: Option<Vec<u8>>) -> Self {
        self.payload = payload;
        self
    }

    /// The payload to hand back, and the error.
    pub(crate) fn take_payload(&mut self) -> Option<Vec<u8>> {
        self.payload.take()
    }

    /// An error from a panic, or from jobwire itself: never retried.
    pub(crate) fn internal(message: String) -> Self {
        HandlerError::permanent(message)
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::retryable(error)
    }
}

impl From<HandlerError> for BoxError {
    fn from(error: HandlerError) -> Self {
        error.error
    }
}

impl From<HandlerError> for Box<dyn StdError + 'static> {
    fn from(error: HandlerError) -> Self {
        error.error
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for HandlerError {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }
}

impl Deref for HandlerError {
    type Target = dyn StdError + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.error
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("HandlerError");
        match &self.kind {
            Kind::Retry(after) => s.field("retry", &true).field("after", after),
            Kind::Permanent => s.field("retry", &false),
            Kind::Snooze(delay) => s.field("snooze", delay),
            Kind::Interrupt(reason) => s.field("interrupted", reason),
            Kind::Reject => s.field("rejected", &true),
        };
        s.field("error", &self.error).finish()
    }
}

/// An upcaster could not turn an old payload into the next version.
///
/// Any error converts into it with `?`. Like `anyhow::Error`, it does not
/// itself implement `std::error::Error`, which is what makes that possible.
///
/// ```
/// use jobwire::UpcastError;
/// let error = UpcastError::new("the legacy id 0 has no user");
/// assert_eq!(error.to_string(), "the legacy id 0 has no user");
/// let from_io: UpcastError = std::io::Error::other("disk").into();
/// assert_eq!(from_io.to_string(), "disk");
/// ```
#[derive(Debug)]
pub struct UpcastError(BoxError);

impl UpcastError {
    /// An upcast error with a message.
    ///
    /// ```
    /// let _ = jobwire::UpcastError::new("no such region");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        UpcastError(message.into().into())
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for UpcastError {
    fn from(error: E) -> Self {
        UpcastError(Box::new(error))
    }
}

impl fmt::Display for UpcastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A downcast could not express the current payload in the previous format.
///
/// Any error converts into it with `?`, as with [`UpcastError`].
///
/// ```
/// let error = jobwire::DowncastError::new("the previous format has no room for two dates");
/// assert!(error.to_string().contains("two dates"));
/// ```
#[derive(Debug)]
pub struct DowncastError(BoxError);

impl DowncastError {
    /// A downcast error with a message.
    ///
    /// ```
    /// let _ = jobwire::DowncastError::new("not representable");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        DowncastError(message.into().into())
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for DowncastError {
    fn from(error: E) -> Self {
        DowncastError(Box::new(error))
    }
}

impl fmt::Display for DowncastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The step of a dispatch that panicked or failed: decoding the arguments at
/// a version, one upcast, or the handler.
///
/// ```
/// use jobwire::Step;
/// use semver::Version;
/// let step = Step::Upcast { from: Version::new(1, 4, 0), to: Version::new(2, 0, 0) };
/// assert_eq!(step.to_string(), "upcast from 1.4.0 to 2.0.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Deserializing the arguments into the type of their version's line.
    Decode {
        /// The version whose type was being decoded.
        version: semver::Version,
    },
    /// One link of the upcast chain.
    Upcast {
        /// The version the step started from.
        from: semver::Version,
        /// The version it was upcasting to.
        to: semver::Version,
    },
    /// The job's handler.
    Perform,
    /// A downcast to the previous release's format, while sealing.
    Downcast {
        /// The current version.
        from: semver::Version,
        /// The previous release's version.
        to: semver::Version,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Decode { version } => write!(f, "decode at {version}"),
            Step::Upcast { from, to } => write!(f, "upcast from {from} to {to}"),
            Step::Perform => f.write_str("perform"),
            Step::Downcast { from, to } => write!(f, "downcast from {from} to {to}"),
        }
    }
}

/// The message a panic carried, bounded.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic with a non-string payload");
    crate::wire::bounded(message.to_owned())
}

/// Runs `f`, turning a panic into its message when `catch` is set.
#[inline]
pub(crate) fn guarded<T>(catch: bool, f: impl FnOnce() -> T) -> Result<T, String> {
    if !catch {
        return Ok(f());
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|panic| panic_message(&*panic))
}
