//! Reading an envelope's header, `meta` and `progress` without dispatching it.

use crate::wire::error::quote;
use crate::wire::progress::Progress;
use crate::wire::scan::{Head, Scan};
use crate::wire::version::{self, Line};
use crate::wire::{check_name, Limits, Meta, RejectError};
use semver::Version;
use std::borrow::Cow;

/// What a queue needs to know about a payload without performing it: the
/// job's name and version, its metadata and, for an iterable job, its
/// progress.
///
/// Reading checks the whole envelope (it is JSON, each key appears once,
/// `args` is an object) but decodes nothing of the arguments, so it works for
/// jobs this release does not know.
///
/// ```
/// use jobwire::wire::Header;
///
/// let payload = br#"{"job":"user.welcome","version":"2.1.0","args":{"user_id":7},
///                    "meta":{"id":"j-1","attempt":2}}"#;
/// let header = Header::read(payload)?;
/// assert_eq!(header.job(), "user.welcome");
/// assert_eq!(header.version(), &semver::Version::new(2, 1, 0));
/// assert_eq!(header.meta().attempt(), 2);
/// # Ok::<(), jobwire::RejectError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    job: Cow<'a, str>,
    version: Version,
    meta: Meta<'a>,
    progress: Option<Progress<'a>>,
}

impl<'a> Header<'a> {
    /// Reads the header of `payload` under the default [`Limits`].
    ///
    /// ```
    /// let error = jobwire::wire::Header::read(b"{}").unwrap_err();
    /// assert_eq!(error, jobwire::RejectError::MissingField { field: "job" });
    /// ```
    pub fn read(payload: &'a [u8]) -> Result<Self, RejectError> {
        Header::read_with(payload, &Limits::default())
    }

    /// Reads the header of `payload` under `limits`.
    ///
    /// ```
    /// use jobwire::wire::{Header, Limits};
    /// let limits = Limits::default().with_max_payload_bytes(8);
    /// assert!(Header::read_with(br#"{"job":"a","version":"1.0.0","args":{}}"#, &limits).is_err());
    /// ```
    pub fn read_with(payload: &'a [u8], limits: &Limits) -> Result<Self, RejectError> {
        let text = checked_text(payload, limits)?;
        let (head, scan) = read_head(text).map_err(|error| *error)?;
        let Head {
            job,
            version,
            meta,
            args,
            progress,
        } = head;
        let job = job.ok_or(RejectError::MissingField { field: "job" })?;
        let version = version.ok_or(RejectError::MissingField { field: "version" })?;
        if args.is_none() {
            return Err(RejectError::MissingField { field: "args" });
        }
        let version = parse_version(&job, &version, limits)?;
        if job.len() > limits.max_name_bytes() {
            return Err(RejectError::InvalidName {
                name: quote(&job),
                reason: "it is longer than `Limits::max_name_bytes`",
            });
        }
        if let Err(reason) = check_name(&job) {
            return Err(RejectError::InvalidName {
                name: quote(&job),
                reason,
            });
        }
        let progress = match progress {
            Some((start, end)) => {
                let raw = scan.text.get(start..end).unwrap_or_default();
                Some(
                    Progress::parse(raw).map_err(|(field, message)| RejectError::Progress {
                        job: quote(&job),
                        version: version.clone(),
                        field,
                        message,
                    })?,
                )
            }
            None => None,
        };
        Ok(Header {
            job,
            version,
            meta: meta.unwrap_or_default(),
            progress,
        })
    }

    /// The job name as written: the job's name or one of its aliases.
    ///
    /// ```
    /// # let h = jobwire::wire::Header::read(br#"{"job":"a","version":"1.0.0","args":{}}"#)?;
    /// assert_eq!(h.job(), "a");
    /// # Ok::<(), jobwire::RejectError>(())
    /// ```
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The version the payload was written at.
    ///
    /// ```
    /// # let h = jobwire::wire::Header::read(br#"{"job":"a","version":"1.2.3","args":{}}"#)?;
    /// assert_eq!(h.version().minor, 2);
    /// # Ok::<(), jobwire::RejectError>(())
    /// ```
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The compatibility line of the version (`"1.x"`).
    ///
    /// ```
    /// # let h = jobwire::wire::Header::read(br#"{"job":"a","version":"1.2.3","args":{}}"#)?;
    /// assert_eq!(h.line().to_string(), "1.x");
    /// # Ok::<(), jobwire::RejectError>(())
    /// ```
    pub fn line(&self) -> Line {
        Line::of(&self.version)
    }

    /// The envelope's metadata; empty when it had none.
    ///
    /// ```
    /// # let h = jobwire::wire::Header::read(br#"{"job":"a","version":"1.2.3","args":{}}"#)?;
    /// assert!(h.meta().is_empty());
    /// # Ok::<(), jobwire::RejectError>(())
    /// ```
    pub fn meta(&self) -> &Meta<'a> {
        &self.meta
    }

    /// An iterable job's progress, if the payload carries any: how far a
    /// backfill is, without performing it.
    ///
    /// ```
    /// let payload = br#"{"job":"a","version":"1.0.0","args":{},
    ///     "progress":{"cursor":41,"items":42,"elapsed_ms":1500,"interruptions":1}}"#;
    /// let header = jobwire::wire::Header::read(payload)?;
    /// let progress = header.progress().unwrap();
    /// assert_eq!((progress.items(), progress.cursor_json()), (42, "41"));
    /// # Ok::<(), jobwire::RejectError>(())
    /// ```
    pub fn progress(&self) -> Option<&Progress<'a>> {
        self.progress.as_ref()
    }

    /// A copy that outlives the payload.
    ///
    /// ```
    /// let header = {
    ///     let payload = br#"{"job":"a","version":"1.0.0","args":{}}"#.to_vec();
    ///     jobwire::wire::Header::read(&payload)?.into_owned()
    /// };
    /// assert_eq!(header.job(), "a");
    /// # Ok::<(), jobwire::RejectError>(())
    /// ```
    pub fn into_owned(self) -> Header<'static> {
        Header {
            job: Cow::Owned(self.job.into_owned()),
            version: self.version,
            meta: self.meta.into_owned(),
            progress: self.progress.map(Progress::into_owned),
        }
    }
}

/// The payload as text, after the size and UTF-8 checks every reader makes
/// first.
#[inline]
pub(crate) fn checked_text<'a>(payload: &'a [u8], limits: &Limits) -> Result<&'a str, RejectError> {
    if payload.len() > limits.max_payload_bytes() {
        return Err(RejectError::TooLarge {
            size: payload.len(),
            limit: limits.max_payload_bytes(),
        });
    }
    std::str::from_utf8(payload).map_err(|error| RejectError::NotUtf8 {
        offset: error.valid_up_to(),
    })
}

/// Reads every top-level key, skipping `args`.
fn read_head(text: &str) -> Result<(Head<'_>, Scan<'_>), Box<RejectError>> {
    let mut scan = Scan::open(text)?;
    let mut head = Head::default();
    while let Some((key, at)) = scan.key()? {
        scan.field(key, at, &mut head)?;
    }
    scan.end()?;
    Ok((head, scan))
}

/// Parses a version under the limits, naming the job on failure.
pub(crate) fn parse_version(
    job: &str,
    version: &str,
    limits: &Limits,
) -> Result<Version, RejectError> {
    let invalid = |message: String| RejectError::InvalidVersion {
        job: quote(job),
        version: quote(version),
        message,
    };
    if version.len() > limits.max_version_bytes() {
        return Err(invalid(
            "it is longer than `Limits::max_version_bytes`".to_owned(),
        ));
    }
    version::parse(version).map_err(|error| invalid(error.to_string()))
}
