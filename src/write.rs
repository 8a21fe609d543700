//! Writing payloads: sealing a job into an envelope, in the format the whole
//! fleet can read.

use crate::history::{History, PreviousError};
use crate::{Job, Meta, SealError};
use std::io::Write as _;

/// Which format producers write.
///
/// During a rolling deploy, producers of release N+1 must only write what
/// workers of release N can perform. Deploy N+1 with `Previous`, then flip to
/// `Current` once every worker runs N+1: one deploy and one flip, instead of
/// two or three deploys.
///
/// ```
/// use jobwire::WritePolicy;
/// assert_eq!(WritePolicy::parse("current")?, WritePolicy::Current);
/// assert_eq!(WritePolicy::default(), WritePolicy::Previous);
/// # Ok::<(), jobwire::SealError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WritePolicy {
    /// Write the previous release's format: a renamed job under its old name,
    /// a job with a breaking change at the previous line, through its
    /// [`Downcast`](crate::Downcast). Always safe, hence the default.
    #[default]
    Previous,
    /// Write the current format. Safe once no worker of the previous release
    /// is left.
    Current,
}

impl WritePolicy {
    /// The environment variable [`WritePolicy::from_env`] reads.
    ///
    /// ```
    /// assert_eq!(jobwire::WritePolicy::ENV, "JOBWIRE_WRITE_POLICY");
    /// ```
    pub const ENV: &'static str = "JOBWIRE_WRITE_POLICY";

    /// Parses `"previous"` or `"current"` (any case, surrounding space ignored).
    ///
    /// ```
    /// assert!(jobwire::WritePolicy::parse(" Previous ").is_ok());
    /// ```
    pub fn parse(value: &str) -> Result<WritePolicy, SealError> {
        let trimmed = value.trim();
        if trimmed.eq_ignore_ascii_case("previous") {
            Ok(WritePolicy::Previous)
        } else if trimmed.eq_ignore_ascii_case("current") {
            Ok(WritePolicy::Current)
        } else {
            Err(SealError::UnknownPolicy {
                value: value.chars().take(64).collect(),
            })
        }
    }

    /// Reads [`WritePolicy::ENV`] once: unset means [`WritePolicy::Previous`],
    /// an unknown value is an error, so a typo cannot silently pick a policy.
    ///
    /// ```
    /// let policy = jobwire::WritePolicy::from_env()?;
    /// # Ok::<(), jobwire::SealError>(())
    /// ```
    pub fn from_env() -> Result<WritePolicy, SealError> {
        match std::env::var(Self::ENV) {
            Ok(value) => WritePolicy::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(WritePolicy::default()),
            Err(std::env::VarError::NotUnicode(_)) => Err(SealError::UnknownPolicy {
                value: "(not unicode)".to_owned(),
            }),
        }
    }

    /// `"previous"` or `"current"`.
    ///
    /// ```
    /// assert_eq!(jobwire::WritePolicy::Current.as_str(), "current");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            WritePolicy::Previous => "previous",
            WritePolicy::Current => "current",
        }
    }
}

/// Seals jobs into payloads under one [`WritePolicy`].
///
/// Only active jobs can be sealed: trying to seal a job declared
/// `Job<Deprecated>` is a compile error.
///
/// ```
/// use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, WritePolicy};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Ping { n: u32 }
/// impl Job for Ping {
///     const NAME: &'static str = "ping";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let producer = Producer::new(WritePolicy::Current);
/// let payload = producer.seal(&Ping { n: 7 })?;
/// assert_eq!(payload, br#"{"job":"ping","version":"1.0.0","args":{"n":7}}"#);
/// # Ok::<(), jobwire::SealError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Producer {
    policy: WritePolicy,
}

impl Producer {
    /// A producer that writes under `policy`.
    ///
    /// ```
    /// let producer = jobwire::Producer::new(jobwire::WritePolicy::Previous);
    /// ```
    pub const fn new(policy: WritePolicy) -> Self {
        Producer { policy }
    }

    /// A producer under the policy in [`WritePolicy::ENV`].
    ///
    /// ```
    /// let producer = jobwire::Producer::from_env()?;
    /// # Ok::<(), jobwire::SealError>(())
    /// ```
    pub fn from_env() -> Result<Self, SealError> {
        WritePolicy::from_env().map(Producer::new)
    }

    /// The policy this producer writes under.
    ///
    /// ```
    /// assert_eq!(jobwire::Producer::default().policy(), jobwire::WritePolicy::Previous);
    /// ```
    pub const fn policy(&self) -> WritePolicy {
        self.policy
    }

    /// Seals `job` into a payload, with no metadata.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let payload = Producer::new(WritePolicy::Current).seal(&Ping {})?;
    /// assert!(payload.starts_with(br#"{"job":"ping""#));
    /// # Ok::<(), SealError>(())
    /// ```
    pub fn seal<J: Job>(&self, job: &J) -> Result<Vec<u8>, SealError> {
        self.seal_with(job, &Meta::new())
    }

    /// Seals `job` into a payload with metadata.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let payload = Producer::default().seal_with(&Ping {}, &Meta::new().id("j-1"))?;
    /// assert!(payload.ends_with(br#""meta":{"id":"j-1"}}"#));
    /// # Ok::<(), SealError>(())
    /// ```
    pub fn seal_with<J: Job>(&self, job: &J, meta: &Meta<'_>) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::with_capacity(128);
        self.seal_into(job, meta, &mut out)?;
        Ok(out)
    }

    /// Seals `job` at the end of `out`, reusing its allocation. On error,
    /// `out` is left as it was.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let mut buffer = Vec::new();
    /// Producer::default().seal_into(&Ping {}, &Meta::new(), &mut buffer)?;
    /// assert!(!buffer.is_empty());
    /// # Ok::<(), SealError>(())
    /// ```
    pub fn seal_into<J: Job>(
        &self,
        job: &J,
        meta: &Meta<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let mark = out.len();
        let result = self.write(job, meta, out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    fn write<J: Job>(&self, job: &J, meta: &Meta<'_>, out: &mut Vec<u8>) -> Result<(), SealError> {
        let serialize = |source| SealError::Serialize {
            job: J::NAME,
            source,
        };
        let previous = self.policy == WritePolicy::Previous;
        let name = match J::ALIASES.first() {
            Some(old_name) if previous => old_name,
            _ => J::NAME,
        };
        let breaking_from = if previous {
            <J::Previous as History<J>>::breaking_from()
        } else {
            None
        };

        out.extend_from_slice(br#"{"job":"#);
        serde_json::to_writer(&mut *out, name).map_err(serialize)?;
        out.extend_from_slice(br#","version":""#);
        let current = J::VERSION;
        let version = breaking_from.as_ref().unwrap_or(&current);
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{version}");
        out.extend_from_slice(br#"","args":"#);
        let args_start = out.len();
        let downcast = match breaking_from {
            Some(_) => <J::Previous as History<J>>::write_previous(job, out),
            None => None,
        };
        match downcast {
            Some(Ok(())) => {}
            Some(Err(PreviousError::Serialize(source))) => return Err(serialize(source)),
            Some(Err(PreviousError::Downcast(error))) => {
                return Err(SealError::Downcast {
                    job: J::NAME,
                    from: J::VERSION,
                    to: version.clone(),
                    error,
                })
            }
            None => serde_json::to_writer(&mut *out, job).map_err(serialize)?,
        }
        if let Some(&first) = out.get(args_start) {
            if first != b'{' {
                return Err(SealError::NotAnObject {
                    job: J::NAME,
                    found: match first {
                        b'[' => "an array",
                        b'"' => "a string",
                        b'n' => "null",
                        b't' | b'f' => "a boolean",
                        _ => "a number",
                    },
                });
            }
        }
        if !meta.is_empty() {
            out.extend_from_slice(br#","meta":"#);
            serde_json::to_writer(&mut *out, meta).map_err(serialize)?;
        }
        out.push(b'}');
        Ok(())
    }
}
