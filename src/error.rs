//! Errors, one type per concern.
//!
//! - [`RejectError`]: a payload that can never be performed as it stands.
//! - [`RegistryError`]: the set of jobs handed to a router does not hold together.
//! - [`UpcastError`] and [`DowncastError`]: a conversion between two versions
//!   of a job failed; returned by user code.
//! - [`SealError`]: a job could not be written for enqueue.
//! - [`HandlerError`]: what a job's handler returns when it fails.

use semver::Version;
use std::error::Error as StdError;
use std::fmt;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a payload was rejected: it can never be performed as it stands, by this
/// release or a newer one. The queue should dead-letter it.
///
/// Every variant names what it can of the job and version, and where in the
/// payload the problem sits (line and column count from 1, columns in bytes).
///
/// ```
/// let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
/// let outcome = router.dispatch(br#"{"job": "a.b", "version": 1}"#);
/// let error = outcome.rejection().unwrap();
/// assert!(error.to_string().contains("version"));
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectError {
    /// The payload is larger than [`Limits::max_payload_bytes`](crate::Limits).
    #[error("payload is {size} bytes, over the limit of {limit}: raise `Limits::max_payload_bytes` or keep large data out of the job's arguments")]
    TooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The payload is not UTF-8, so it is not JSON.
    #[error(
        "payload is not UTF-8 (invalid byte at offset {offset}): producers must write UTF-8 JSON"
    )]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The payload is not a well-formed envelope object.
    #[error("malformed envelope: {message} at line {line} column {column}")]
    Malformed {
        /// serde_json's message, or jobwire's.
        message: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
    },
    /// A top-level key appears twice; parsers disagree on which copy wins, so
    /// neither is trusted.
    #[error("envelope key `{key}` appears twice (line {line} column {column}): a producer must write each key once")]
    DuplicateKey {
        /// The repeated key.
        key: &'static str,
        /// Line of the second occurrence.
        line: usize,
        /// Column of the second occurrence.
        column: usize,
    },
    /// A required envelope field is missing.
    #[error("envelope has no `{field}` field: every payload needs `job`, `version` and `args`")]
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// The job name is empty or too long.
    #[error("job name {name:?} is not valid: {reason}")]
    InvalidName {
        /// The name, cut to 64 characters.
        name: String,
        /// Why it is not valid.
        reason: &'static str,
    },
    /// The version is not a semver version.
    #[error("job `{job}`: version {version:?} is not semver ({message}): write versions as \"MAJOR.MINOR.PATCH\"")]
    InvalidVersion {
        /// The job name.
        job: String,
        /// The version as written, cut to 64 characters.
        version: String,
        /// Why it did not parse.
        message: String,
    },
    /// The arguments do not fit the job's type at that version.
    #[error("job `{job}` {version}: arguments do not fit the job's type: {message} at line {line} column {column}")]
    Arguments {
        /// The job name.
        job: String,
        /// The version the payload was written at.
        version: Version,
        /// serde's message.
        message: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
    },
    /// The payload is on an older line that no upcaster reads any more.
    #[error("job `{job}` {version}: this release reads {reads}, and no upcaster starts at {version}: keep the upcaster for this version until no such payload is in flight")]
    NoUpcaster {
        /// The job name.
        job: String,
        /// The version the payload was written at.
        version: Version,
        /// The lines this release reads, for example `"1.x, 2.x"`.
        reads: String,
    },
    /// An upcaster returned an error.
    #[error("job `{job}`: upcasting from {from} to {to} failed: {message}")]
    Upcast {
        /// The job name.
        job: String,
        /// The version the failing step started from.
        from: Version,
        /// The version it was upcasting to.
        to: Version,
        /// The upcaster's message.
        message: String,
    },
}

/// The jobs handed to a router do not hold together. Every problem found is
/// listed, not just the first.
///
/// ```
/// let error = jobwire::Router::builder().build().unwrap_err();
/// assert!(error.to_string().contains("linker"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub(crate) problems: Vec<Problem>,
}

impl RegistryError {
    /// Every problem found, in a stable order.
    ///
    /// ```
    /// let error = jobwire::Router::builder().build().unwrap_err();
    /// assert_eq!(error.problems().len(), 1);
    /// ```
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "jobwire registry is invalid ({} problem",
            self.problems.len()
        )?;
        if self.problems.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str(")")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl StdError for RegistryError {}

/// One problem in a set of jobs; see [`RegistryError`].
///
/// ```
/// let error = jobwire::Router::builder().build().unwrap_err();
/// assert!(matches!(error.problems()[0], jobwire::Problem::Empty));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Nothing is registered.
    #[error("no jobs are registered: if jobs use `jobwire::register!`, the linker may have dropped them (a library crate that nothing in the binary references is not linked; `use` something from it), or this platform is not supported by `inventory`: add jobs with `Router::builder().job::<J>()`")]
    Empty,
    /// The same name and version are registered twice.
    #[error("job `{name}` {version} is registered twice: remove one of the registrations")]
    Duplicate {
        /// The job name.
        name: String,
        /// Its version.
        version: Version,
    },
    /// The same tombstone is registered twice.
    #[error("tombstone `{name}` is registered twice: remove one of the registrations")]
    DuplicateTombstone {
        /// The retired name.
        name: String,
    },
    /// Two jobs (or a job and an alias) claim one name.
    #[error("name `{name}` is claimed by both {first} and {second}: every name and alias belongs to exactly one job")]
    NameCollision {
        /// The contested name.
        name: String,
        /// The first claimant, described.
        first: String,
        /// The second claimant, described.
        second: String,
    },
    /// A retired name is reused by a job.
    #[error("name `{name}` is retired and reserved, but {claimant} uses it: pick a new name (payloads under a retired name are discarded)")]
    RetiredNameReused {
        /// The reserved name.
        name: String,
        /// The job that claims it, described.
        claimant: String,
    },
    /// A job name is empty, too long, or has characters outside the allowed set.
    #[error("name {name:?} is not valid: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it is not valid.
        reason: &'static str,
    },
    /// The upcast chain leaves out a line.
    #[error("job `{job}`: the upcast chain goes from {from} to {to}, leaving out the lines between: declare an upcaster for each")]
    ChainGap {
        /// The job name.
        job: String,
        /// The older version.
        from: Version,
        /// The newer version.
        to: Version,
    },
    /// The upcast chain is not in ascending line order.
    #[error("job `{job}`: the upcaster at {older} must be on an older line than {newer}: every link of the chain starts one line below the next")]
    ChainOrder {
        /// The job name.
        job: String,
        /// The link that should be older.
        older: Version,
        /// The link that should be newer.
        newer: Version,
    },
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

/// A job could not be sealed into a payload.
///
/// ```
/// use jobwire::{Producer, WritePolicy, SealError};
/// let error = WritePolicy::parse("sometimes").unwrap_err();
/// assert!(matches!(error, SealError::UnknownPolicy { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The job's arguments did not serialize.
    #[error("job `{job}`: arguments did not serialize: {source}")]
    Serialize {
        /// The job name.
        job: &'static str,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// The arguments did not serialize to a JSON object.
    #[error(
        "job `{job}`: arguments must serialize to a JSON object (a struct or a map), not {found}"
    )]
    NotAnObject {
        /// The job name.
        job: &'static str,
        /// What they serialized to.
        found: &'static str,
    },
    /// The job's downcast to the previous release's format failed.
    #[error("job `{job}`: downcast from {from} to {to} for the previous release failed: {error}")]
    Downcast {
        /// The job name.
        job: &'static str,
        /// The current version.
        from: Version,
        /// The previous release's version.
        to: Version,
        /// The downcast's error.
        error: DowncastError,
    },
    /// A write-policy setting was not recognised.
    #[error("write policy {value:?} is not known: use \"previous\" or \"current\"")]
    UnknownPolicy {
        /// The value given.
        value: String,
    },
}

/// A handler's failure, marked retryable or permanent.
///
/// Any error converts into a retryable `HandlerError` with `?`; use
/// [`HandlerError::permanent`] for failures a retry cannot fix. Like
/// `anyhow::Error`, it does not itself implement `std::error::Error`, which is
/// what lets `?` convert every error into it.
///
/// ```
/// use jobwire::HandlerError;
///
/// fn charge(amount: i64) -> Result<(), HandlerError> {
///     if amount < 0 {
///         return Err(HandlerError::permanent("negative amount"));
///     }
///     let _parsed: u32 = "42".parse()?; // retryable by default
///     Ok(())
/// }
/// assert!(!charge(-1).unwrap_err().is_retryable());
/// ```
pub struct HandlerError {
    retryable: bool,
    error: BoxError,
}

impl HandlerError {
    /// A failure worth retrying: a timeout, a lock, a service that is down.
    ///
    /// ```
    /// assert!(jobwire::HandlerError::retryable("database is down").is_retryable());
    /// ```
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        HandlerError {
            retryable: true,
            error: error.into(),
        }
    }

    /// A failure a retry cannot fix: the queue should dead-letter the payload.
    ///
    /// ```
    /// assert!(!jobwire::HandlerError::permanent("no such user").is_retryable());
    /// ```
    pub fn permanent(error: impl Into<BoxError>) -> Self {
        HandlerError {
            retryable: false,
            error: error.into(),
        }
    }

    /// Whether the queue should retry the payload.
    ///
    /// ```
    /// let error: jobwire::HandlerError = std::io::Error::other("timeout").into();
    /// assert!(error.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.retryable
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
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::retryable(error)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("retryable", &self.retryable)
            .field("error", &self.error)
            .finish()
    }
}
