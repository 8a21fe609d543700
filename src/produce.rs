//! Producing: sealing a job into an envelope, in the format the whole fleet
//! can read, stamped with an id and the time it was enqueued.

use crate::job::history::{History, PreviousError};
use crate::wire::Meta;
use crate::{DowncastError, Job};
use semver::Version;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// A job could not be sealed into a payload.
///
/// ```
/// use jobwire::{WritePolicy, SealError};
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
    /// The job's downcast to the previous release's format failed, or
    /// panicked.
    #[error("job `{job}`: downcast from {from} to {to} for the previous release failed: {error}")]
    Downcast {
        /// The job name.
        job: &'static str,
        /// The current version.
        from: Version,
        /// The previous release's version.
        to: Version,
        /// The downcast's error, or its panic's message.
        error: DowncastError,
    },
    /// A write-policy setting was not recognised.
    #[error("write policy {value:?} is not known: use \"previous\" or \"current\"")]
    UnknownPolicy {
        /// The value given.
        value: String,
    },
}

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
/// By default every payload is stamped with a job id (`meta.id`, a ULID) and
/// the time it was enqueued (`meta.enqueued_at`): the worker measures a
/// deferred payload's age from it, against the deploy window.
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
///     type State = ();
///     type Data = ();
///     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let payload = Producer::new(WritePolicy::Current).seal(&Ping { n: 7 })?;
/// let header = jobwire::wire::Header::read(&payload)?;
/// assert!(header.meta().id().is_some() && header.meta().enqueued_at().is_some());
///
/// let bare = Producer::new(WritePolicy::Current).without_stamps().seal(&Ping { n: 7 })?;
/// assert_eq!(bare, br#"{"job":"ping","version":"1.0.0","args":{"n":7}}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer {
    policy: WritePolicy,
    stamps: bool,
}

impl Default for Producer {
    fn default() -> Self {
        Producer::new(WritePolicy::default())
    }
}

impl Producer {
    /// A producer that writes under `policy`.
    ///
    /// ```
    /// let producer = jobwire::Producer::new(jobwire::WritePolicy::Previous);
    /// ```
    pub const fn new(policy: WritePolicy) -> Self {
        Producer {
            policy,
            stamps: true,
        }
    }

    /// A producer that adds no `meta.id` or `meta.enqueued_at` of its own:
    /// payloads hold exactly the metadata given to
    /// [`seal_with`](Producer::seal_with).
    ///
    /// ```
    /// let producer = jobwire::Producer::default().without_stamps();
    /// ```
    pub const fn without_stamps(mut self) -> Self {
        self.stamps = false;
        self
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

    /// Seals `job` into a payload, stamped unless the producer was made
    /// [`without_stamps`](Producer::without_stamps).
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let payload = Producer::new(WritePolicy::Current).seal(&Ping {})?;
    /// assert!(payload.starts_with(br#"{"job":"ping""#));
    /// # Ok::<(), SealError>(())
    /// ```
    pub fn seal<J: Job>(&self, job: &J) -> Result<Vec<u8>, SealError> {
        self.seal_with(job, &Meta::new())
    }

    /// Seals `job` into a payload with metadata. The producer's stamps fill
    /// `meta.id` and `meta.enqueued_at` where `meta` leaves them unset.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let payload = Producer::default().without_stamps().seal_with(&Ping {}, &jobwire::wire::Meta::new().with_id("j-1"))?;
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
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let mut buffer = Vec::new();
    /// Producer::default().seal_into(&Ping {}, &jobwire::wire::Meta::new(), &mut buffer)?;
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
            Some(Err(PreviousError::Panic(message))) => {
                return Err(SealError::Downcast {
                    job: J::NAME,
                    from: J::VERSION,
                    to: version.clone(),
                    error: DowncastError::new(format!("panicked: {message}")),
                })
            }
            None => serde_json::to_writer(&mut *out, job).map_err(serialize)?,
        }
        if breaking_from.is_some() && <J::Previous as History<J>>::lossless() == Some(false) {
            warn_lossy(J::NAME, &J::VERSION, version);
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
        if self.stamps && (meta.id().is_none() || meta.enqueued_at().is_none()) {
            let mut stamped = meta.clone();
            if stamped.id().is_none() {
                stamped = stamped.with_id(new_id());
            }
            if stamped.enqueued_at().is_none() {
                stamped = stamped.with_enqueued_at(now_millis());
            }
            out.extend_from_slice(br#","meta":"#);
            serde_json::to_writer(&mut *out, &stamped).map_err(serialize)?;
        } else if !meta.is_empty() {
            out.extend_from_slice(br#","meta":"#);
            serde_json::to_writer(&mut *out, meta).map_err(serialize)?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// Logs, once per job type and process, that producers write this job
/// through a downcast that drops data.
fn warn_lossy(job: &'static str, from: &Version, to: &Version) {
    static WARNED: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let warned = WARNED.get_or_init(|| Mutex::new(Vec::new()));
    let mut warned = warned.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&job) {
        return;
    }
    warned.push(job);
    tracing::warn!(
        job.name = job,
        from = %from,
        to = %to,
        "under the \"previous\" write policy every `{job}` goes through a downcast that is not lossless: fields only {from} has reach no handler, not even this release's, until the flip to \"current\""
    );
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A new job id: a ULID (48 bits of milliseconds, then 80 bits unique to
/// this process and call), in Crockford's base 32, 26 characters. Ids sort
/// by creation time, like the ones Sidekiq and Oban users are used to.
pub fn new_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        // The standard library's per-process random keys, with no
        // dependency: a fresh `RandomState` hashes differently each process.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.finish()
    });
    // splitmix64 of a per-process random seed and a counter: unique within
    // the process by construction, unpredictable across processes.
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z = seed.wrapping_add(count.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let random = (u128::from(seed & 0xffff) << 64) | u128::from(z);
    let value = (u128::from(now_millis() & 0xffff_ffff_ffff) << 80) | (random & ((1 << 80) - 1));
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|i| char::from(ALPHABET[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_are_ulids_and_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.len() == 26));
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
