//! The manifest: what a release reads and writes, as stable JSON.

use crate::dispatch::entry::Entry;
use crate::shape::Shape;
use crate::wire::Line;
use crate::Router;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// What one release reads and writes, job by job: the input of the
/// deploy-safety [`check`](crate::check::check()).
///
/// Its JSON form diffs well: keys are sorted, each job is one block, and
/// unknown fields are ignored when read, so newer manifests stay readable.
///
/// ```
/// # use jobwire::*;
/// # use jobwire::check::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
/// #     type Previous = NoPrevious; type State = (); type Data = ();
/// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// let router = Router::builder().job::<Ping>().retired(Tombstone::new("pong")).build()?;
/// let manifest = router.manifest().release("2026.11.23");
/// let json = manifest.to_json();
/// assert!(json.contains(r#""version": "1.2.0""#));
/// assert_eq!(Manifest::from_json(&json)?, manifest);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format; this crate writes 1.
    pub format: u32,
    /// The jobs, by current name.
    pub jobs: BTreeMap<String, JobManifest>,
    /// A label for the release, for messages (a version, a commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Retired names, by name.
    #[serde(default)]
    pub tombstones: BTreeMap<String, TombstoneManifest>,
}

/// One job in a [`Manifest`].
///
/// ```
/// # use jobwire::*;
/// # use jobwire::check::*;
/// let manifest = Manifest::from_json(r#"{"format": 1, "jobs": {"ping": {"aliases": ["pong"],
///     "reads": ["2.x", "1.x"], "status": "active", "version": "2.0.0",
///     "writes": {"current": {"name": "ping", "version": "2.0.0"}, "previous": {"name": "pong", "version": "1.3.0"}}}},
///     "tombstones": {"fax": {"aliases": []}}}"#)?;
/// assert_eq!(manifest.jobs["ping"].aliases, ["pong"]);
/// # Ok::<(), ManifestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobManifest {
    /// The names it was known by, most recent first.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The lines it reads, newest first: its own, then one per upcaster.
    pub reads: Vec<LineRange>,
    /// Active or deprecated.
    pub status: Status,
    /// Its current version.
    pub version: Version,
    /// An iterable job's cursor type (its Rust type name, for messages);
    /// none for a job that is not iterable, or was registered without
    /// `iterable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The JSON shape of the cursor, which the check compares (absent from
    /// manifests written by jobwire 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_shape: Option<Shape>,
    /// The JSON shape of the arguments read on each line, which the check
    /// compares (empty in manifests written by jobwire 0.2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shapes: BTreeMap<LineRange, Shape>,
    /// What producers write under each policy; none for a deprecated job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<Writes>,
}

/// What a job is written as, under each write policy.
///
/// ```
/// # use jobwire::*;
/// # use jobwire::check::*;
/// let manifest = Manifest::from_json(r#"{"format": 1, "jobs": {"ping": {"aliases": ["pong"],
///     "reads": ["2.x", "1.x"], "status": "active", "version": "2.0.0",
///     "writes": {"current": {"name": "ping", "version": "2.0.0"}, "previous": {"name": "pong", "version": "1.3.0"}}}},
///     "tombstones": {"fax": {"aliases": []}}}"#)?;
/// assert_eq!(manifest.jobs["ping"].writes.as_ref().map(|w| w.previous.name.as_str()), Some("pong"));
/// # Ok::<(), ManifestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writes {
    /// Under `WritePolicy::Current`.
    pub current: Written,
    /// Under `WritePolicy::Previous`.
    pub previous: Written,
}

/// A name and version a producer writes, and whether it is written through a
/// lossless downcast (only for a release that breaks the previous one).
///
/// ```
/// # use jobwire::*;
/// # use jobwire::check::*;
/// let manifest = Manifest::from_json(r#"{"format": 1, "jobs": {"ping": {"aliases": ["pong"],
///     "reads": ["2.x", "1.x"], "status": "active", "version": "2.0.0",
///     "writes": {"current": {"name": "ping", "version": "2.0.0"}, "previous": {"name": "pong", "version": "1.3.0"}}}},
///     "tombstones": {"fax": {"aliases": []}}}"#)?;
/// assert_eq!(manifest.jobs["ping"].writes.as_ref().map(|w| w.current.version.major), Some(2));
/// # Ok::<(), ManifestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The name on the wire.
    pub name: String,
    /// The version on the wire.
    pub version: Version,
    /// Under "previous", in a release that breaks the previous one: whether
    /// the downcast that writes it is declared lossless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lossless: Option<bool>,
}

/// A retired job in a [`Manifest`].
///
/// ```
/// # use jobwire::*;
/// # use jobwire::check::*;
/// let manifest = Manifest::from_json(r#"{"format": 1, "jobs": {"ping": {"aliases": ["pong"],
///     "reads": ["2.x", "1.x"], "status": "active", "version": "2.0.0",
///     "writes": {"current": {"name": "ping", "version": "2.0.0"}, "previous": {"name": "pong", "version": "1.3.0"}}}},
///     "tombstones": {"fax": {"aliases": []}}}"#)?;
/// assert!(manifest.tombstones["fax"].aliases.is_empty());
/// # Ok::<(), ManifestError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneManifest {
    /// Its retired aliases.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Whether a job is active or deprecated.
///
/// ```
/// # use jobwire::*;
/// # use jobwire::check::*;
/// let manifest = Manifest::from_json(r#"{"format": 1, "jobs": {"ping": {"aliases": ["pong"],
///     "reads": ["2.x", "1.x"], "status": "active", "version": "2.0.0",
///     "writes": {"current": {"name": "ping", "version": "2.0.0"}, "previous": {"name": "pong", "version": "1.3.0"}}}},
///     "tombstones": {"fax": {"aliases": []}}}"#)?;
/// assert_eq!(manifest.jobs["ping"].status, Status::Active);
/// # Ok::<(), ManifestError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Performed and enqueued.
    Active,
    /// Performed, no longer enqueued.
    Deprecated,
}

/// A [`Line`] as it appears in a manifest: `"2.x"`, `"0.3.x"` or `"0.0.7"`.
///
/// ```
/// use jobwire::check::LineRange;
/// use jobwire::wire::Line;
/// let range: LineRange = "0.3.x".parse()?;
/// assert_eq!(range.0, Line::Minor(3));
/// assert_eq!(range.to_string(), "0.3.x");
/// # Ok::<(), jobwire::check::ManifestError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineRange(pub Line);

impl fmt::Display for LineRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for LineRange {
    type Err = ManifestError;

    fn from_str(text: &str) -> Result<Self, ManifestError> {
        let invalid = || ManifestError::Line(text.chars().take(32).collect());
        let number = |part: &str| part.parse::<u64>().map_err(|_| invalid());
        let line = match text.split('.').collect::<Vec<_>>().as_slice() {
            [major, "x"] if *major != "0" => Line::Major(number(major)?),
            ["0", minor, "x"] if *minor != "0" => Line::Minor(number(minor)?),
            ["0", "0", patch] => Line::Patch(number(patch)?),
            _ => return Err(invalid()),
        };
        Ok(LineRange(line))
    }
}

impl Serialize for LineRange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LineRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A manifest could not be read.
///
/// ```
/// let error = jobwire::check::Manifest::from_json("{}").unwrap_err();
/// assert!(error.to_string().contains("manifest"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The JSON did not parse as a manifest.
    #[error("not a jobwire manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// A manifest of a format this crate does not know.
    #[error("manifest format {0} is newer than this jobwire reads (1): upgrade jobwire")]
    Format(u32),
    /// A line that is not `"M.x"`, `"0.M.x"` or `"0.0.P"`.
    #[error("{0:?} is not a line: write \"2.x\", \"0.3.x\" or \"0.0.7\"")]
    Line(String),
    /// The registered jobs do not hold together (see
    /// [`RegistryError`](crate::RegistryError)).
    #[error(transparent)]
    Registry(#[from] crate::RegistryError),
    /// A manifest file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Manifest {
    /// The format this crate writes.
    ///
    /// ```
    /// assert_eq!(jobwire::check::Manifest::FORMAT, 1);
    /// ```
    pub const FORMAT: u32 = 1;

    /// Sets the release label.
    ///
    /// ```
    /// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// let manifest = router.manifest().release("v42");
    /// assert_eq!(manifest.release.as_deref(), Some("v42"));
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn release(mut self, label: impl Into<String>) -> Self {
        self.release = Some(label.into());
        self
    }

    /// The manifest as pretty, sorted JSON, with a final newline.
    ///
    /// ```
    /// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// assert!(router.manifest().to_json().ends_with("}\n"));
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn to_json(&self) -> String {
        // Maps of strings and derived structs always serialize.
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }

    /// Reads a manifest.
    ///
    /// ```
    /// let manifest = jobwire::check::Manifest::from_json(r#"{"format": 1, "jobs": {}}"#)?;
    /// assert!(manifest.jobs.is_empty());
    /// # Ok::<(), jobwire::check::ManifestError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_str(json)?;
        if manifest.format > Self::FORMAT {
            return Err(ManifestError::Format(manifest.format));
        }
        Ok(manifest)
    }

    /// Reads a manifest file.
    ///
    /// ```no_run
    /// let manifest = jobwire::check::Manifest::read("manifests/0001-v2026.11.1.json")?;
    /// # Ok::<(), jobwire::check::ManifestError>(())
    /// ```
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Manifest::from_json(&json)
    }

    pub(crate) fn of<D: Send + 'static>(router: &Router<D>) -> Manifest {
        let (entries, tombstones) = router.parts();
        Manifest::of_parts(entries, tombstones)
    }

    fn of_parts(entries: &[Entry], tombstones: &[crate::Tombstone]) -> Manifest {
        Manifest {
            format: Self::FORMAT,
            jobs: entries
                .iter()
                .map(|entry| (entry.name.to_owned(), JobManifest::of(entry)))
                .collect(),
            release: None,
            tombstones: tombstones
                .iter()
                .map(|t| {
                    let aliases = t.aliases().iter().map(|a| (*a).to_owned()).collect();
                    (t.name().to_owned(), TombstoneManifest { aliases })
                })
                .collect(),
        }
    }
}

impl JobManifest {
    fn of(entry: &Entry) -> JobManifest {
        let mut shapes = BTreeMap::new();
        shapes.insert(LineRange(Line::of(&entry.version)), (entry.shape)());
        for link in &entry.links {
            shapes
                .entry(LineRange(Line::of(&link.version)))
                .or_insert_with(link.shape);
        }
        let mut reads = vec![LineRange(Line::of(&entry.version))];
        reads.extend(
            entry
                .links
                .iter()
                .map(|link| LineRange(Line::of(&link.version))),
        );
        let writes = (!entry.deprecated).then(|| Writes {
            current: Written {
                name: entry.name.to_owned(),
                version: entry.version.clone(),
                lossless: None,
            },
            previous: Written {
                name: entry.aliases.first().unwrap_or(&entry.name).to_string(),
                version: entry
                    .breaking_from
                    .clone()
                    .unwrap_or_else(|| entry.version.clone()),
                lossless: entry.lossless,
            },
        });
        JobManifest {
            aliases: entry.aliases.iter().map(|a| (*a).to_owned()).collect(),
            reads,
            status: if entry.deprecated {
                Status::Deprecated
            } else {
                Status::Active
            },
            version: entry.version.clone(),
            cursor: entry.cursor.map(|cursor| cursor.name.to_owned()),
            cursor_shape: entry.cursor.map(|cursor| (cursor.shape)()),
            shapes,
            writes,
        }
    }

    /// Whether this job reads a payload written at `version`: on one of its
    /// lines, and not on a line newer than its own.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::check::*;
    /// let job: JobManifest = serde_json::from_str(
    ///     r#"{"reads": ["2.x", "1.x"], "status": "active", "version": "2.1.0"}"#)?;
    /// assert!(job.reads_version(&semver::Version::new(1, 9, 0)));
    /// assert!(!job.reads_version(&semver::Version::new(3, 0, 0)));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn reads_version(&self, version: &Version) -> bool {
        self.reads.contains(&LineRange(Line::of(version)))
    }
}

impl<D: Send + 'static> Router<D> {
    /// This router's [`Manifest`]: what it reads and what its jobs write.
    ///
    /// ```
    /// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// let manifest = router.manifest();
    /// assert!(manifest.tombstones.contains_key("x"));
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn manifest(&self) -> Manifest {
        Manifest::of(self)
    }
}

/// What the deploy check describes as the release under test: a
/// [`Router`], or [`Registered`], every job the binary registers, built
/// without the state and lent data a router needs to run.
///
/// ```
/// use jobwire::check::{ManifestSource, Registered};
/// jobwire::retire!("doc.manifest_source");
/// let manifest = Registered.manifest()?;
/// assert!(manifest.tombstones.contains_key("doc.manifest_source"));
/// # Ok::<(), jobwire::check::ManifestError>(())
/// ```
pub trait ManifestSource {
    /// The manifest of the release.
    ///
    /// ```
    /// # use jobwire::check::ManifestSource;
    /// let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// assert!(ManifestSource::manifest(&router)?.tombstones.contains_key("x"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn manifest(&self) -> Result<Manifest, ManifestError>;
}

impl<D: Send + 'static> ManifestSource for Router<D> {
    fn manifest(&self) -> Result<Manifest, ManifestError> {
        Ok(Manifest::of(self))
    }
}

impl<T: ManifestSource + ?Sized> ManifestSource for &T {
    fn manifest(&self) -> Result<Manifest, ManifestError> {
        (**self).manifest()
    }
}

/// Every job and tombstone registered in the binary with
/// [`register!`](crate::register) and [`retire!`](crate::retire), for the
/// deploy check: unlike [`Router::from_registry`], it needs no application
/// state for jobs that declare a [`Job::State`](crate::Job::State), and
/// no lending for jobs whose [`Job::Data`](crate::Job::Data) is a
/// transaction. The chains and names are still checked.
///
/// ```no_run
/// #[test]
/// fn deploy_is_safe() {
///     jobwire::check::assert_safe_deploy("manifests/", jobwire::check::Registered);
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Registered;

impl ManifestSource for Registered {
    fn manifest(&self) -> Result<Manifest, ManifestError> {
        let (entries, tombstones) = crate::dispatch::registry::registered_parts()?;
        Ok(Manifest::of_parts(&entries, &tombstones))
    }
}
