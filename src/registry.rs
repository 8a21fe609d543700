//! The registry: which jobs and tombstones a router knows, gathered at link
//! time through `inventory` or chosen explicitly with the builder, and checked
//! as a whole before any payload is dispatched.

use crate::context::State;
use crate::error::{Problem, RegistryError};
use crate::history::{History, LinkInfo};
use crate::router::{Router, Run, Slot};
use crate::version::Line;
use crate::{Deprecated, Job, Lifecycle, Limits};
use semver::Version;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;

/// A job's registration, made by [`register!`](crate::register).
#[doc(hidden)]
pub struct Registration {
    entry: fn() -> Entry,
}

impl Registration {
    #[doc(hidden)]
    pub const fn of<J: Job<L>, L: Lifecycle>() -> Registration {
        Registration {
            entry: Entry::of::<J, L>,
        }
    }
}

inventory::collect!(Registration);
inventory::collect!(Tombstone);

/// Registers a job at link time, so that [`Router::from_registry`] finds it.
/// Write it once, beside the job's definition.
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
/// jobwire::register!(Ping);
/// ```
#[macro_export]
macro_rules! register {
    ($job:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::Registration::of::<$job, _>()
        }
    };
}

/// Retires a job: its type is gone, and this one line takes its place.
///
/// Payloads under the retired name (or its aliases) are discarded on purpose,
/// with [`Outcome::Discarded`](crate::Outcome::Discarded) and a log line. The
/// names stay reserved: registering a job under one is a registry error, the
/// way protobuf's `reserved` keeps deleted field names.
///
/// ```
/// jobwire::retire!("user.send_welcome_fax");
/// jobwire::retire!("user.send_sms", aliases = ["sms.send"]);
/// ```
#[macro_export]
macro_rules! retire {
    ($name:expr) => {
        $crate::__private::inventory::submit! {
            $crate::Tombstone::new($name)
        }
    };
    ($name:expr, aliases = [$($alias:expr),* $(,)?]) => {
        $crate::__private::inventory::submit! {
            $crate::Tombstone::new($name).aliases(&[$($alias),*])
        }
    };
}

/// The marker of a retired job: its name and aliases, reserved for ever.
///
/// ```
/// use jobwire::Tombstone;
/// const FAX: Tombstone = Tombstone::new("user.send_welcome_fax").aliases(&["fax.welcome"]);
/// assert_eq!(FAX.name(), "user.send_welcome_fax");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    name: &'static str,
    aliases: &'static [&'static str],
}

impl Tombstone {
    /// A tombstone for `name`.
    ///
    /// ```
    /// let _ = jobwire::Tombstone::new("old.job");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        Tombstone { name, aliases: &[] }
    }

    /// The names the job was known by before.
    ///
    /// ```
    /// let t = jobwire::Tombstone::new("b").aliases(&["a"]);
    /// assert_eq!(t.get_aliases(), &["a"]);
    /// ```
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// The retired name.
    ///
    /// ```
    /// assert_eq!(jobwire::Tombstone::new("b").name(), "b");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The retired aliases.
    ///
    /// ```
    /// assert!(jobwire::Tombstone::new("b").get_aliases().is_empty());
    /// ```
    pub const fn get_aliases(&self) -> &'static [&'static str] {
        self.aliases
    }
}

/// Everything the router needs to know about one job, erased of its type.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) aliases: &'static [&'static str],
    pub(crate) version: Version,
    pub(crate) version_text: String,
    pub(crate) deprecated: bool,
    /// The upcast chain, newest link first.
    pub(crate) links: Vec<LinkInfo>,
    /// When this release breaks compatibility: the version the previous
    /// release reads and writes.
    pub(crate) breaking_from: Option<Version>,
    pub(crate) run: Run,
}

impl Entry {
    pub(crate) fn of<J: Job<L>, L: Lifecycle>() -> Entry {
        let mut links = Vec::new();
        <J::Previous as History<J>>::links(&mut links);
        Entry {
            name: J::NAME,
            aliases: J::ALIASES,
            version: J::VERSION,
            version_text: J::VERSION.to_string(),
            deprecated: L::DEPRECATED,
            links,
            breaking_from: <J::Previous as History<J>>::breaking_from(),
            run: crate::router::run::<J, L>,
        }
    }

    /// Whether a payload on `line`, older than the current line, has a link.
    pub(crate) fn reads_line(&self, line: Line) -> bool {
        self.links
            .iter()
            .any(|link| Line::of(&link.version) == line)
    }

    /// The lines this job reads, newest first, for messages: `"2.x, 1.x"`.
    pub(crate) fn describe_reads(&self) -> String {
        let mut lines = vec![Line::of(&self.version).to_string()];
        lines.extend(
            self.links
                .iter()
                .map(|link| Line::of(&link.version).to_string()),
        );
        lines.join(", ")
    }
}

/// Builds a [`Router`] from a chosen set of jobs: for tests, for two releases
/// in one process, and for platforms where `inventory` finds nothing.
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
/// let router = Router::builder()
///     .job::<Ping>()
///     .retired(Tombstone::new("pong"))
///     .limits(Limits::default().max_payload_bytes(4096))
///     .build()?;
/// # Ok::<(), RegistryError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RouterBuilder {
    entries: Vec<Entry>,
    tombstones: Vec<Tombstone>,
    state: State,
    limits: Limits,
    catch_panics: bool,
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field(
                "jobs",
                &self.entries.iter().map(|e| e.name).collect::<Vec<_>>(),
            )
            .field("tombstones", &self.tombstones)
            .field("limits", &self.limits)
            .field("catch_panics", &self.catch_panics)
            .finish_non_exhaustive()
    }
}

impl RouterBuilder {
    pub(crate) fn new() -> Self {
        RouterBuilder {
            entries: Vec::new(),
            tombstones: Vec::new(),
            state: State::default(),
            limits: Limits::default(),
            catch_panics: true,
        }
    }

    /// Adds an active job.
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
    /// let router = Router::builder().job::<Ping>().build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn job<J: Job>(mut self) -> Self {
        self.entries.push(Entry::of::<J, crate::Active>());
        self
    }

    /// Adds an entry made by jobwire itself (the testing kit's readers).
    #[cfg(feature = "testing")]
    pub(crate) fn entry(mut self, entry: Entry) -> Self {
        self.entries.push(entry);
        self
    }

    /// Adds a deprecated job: performed, with a warning, but not enqueueable.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Fax {}
    /// # impl Job<Deprecated> for Fax {
    /// #     const NAME: &'static str = "fax";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let router = Router::builder().deprecated::<Fax>().build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn deprecated<J: Job<Deprecated>>(mut self) -> Self {
        self.entries.push(Entry::of::<J, Deprecated>());
        self
    }

    /// Adds a tombstone for a retired job.
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder().retired(Tombstone::new("fax")).build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn retired(mut self, tombstone: Tombstone) -> Self {
        self.tombstones.push(tombstone);
        self
    }

    /// Adds every job and tombstone registered with [`register!`] and
    /// [`retire!`](crate::retire) anywhere in the binary.
    ///
    /// [`register!`]: crate::register
    ///
    /// ```
    /// jobwire::retire!("doc.retired");
    /// let router = jobwire::Router::builder().registered().build()?;
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn registered(mut self) -> Self {
        self.entries.extend(
            inventory::iter::<Registration>
                .into_iter()
                .map(|r| (r.entry)()),
        );
        self.tombstones
            .extend(inventory::iter::<Tombstone>.into_iter().copied());
        self
    }

    /// Adds application state, which handlers reach with
    /// [`Context::state`](crate::Context::state). One value per type; a second
    /// value of the same type replaces the first.
    ///
    /// ```
    /// # use jobwire::*;
    /// struct Db { url: String }
    /// let router = Router::builder()
    ///     .retired(Tombstone::new("x"))
    ///     .state(Db { url: "postgres://".into() })
    ///     .build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn state<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Sets the input limits.
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder()
    ///     .retired(Tombstone::new("x"))
    ///     .limits(Limits::default().max_payload_bytes(10))
    ///     .build()?;
    /// assert!(router.dispatch(br#"{"job":"x","version":"1.0.0","args":{}}"#).rejection().is_some());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether a panicking handler becomes a [`Failed`](crate::Outcome::Failed)
    /// outcome (the default) or unwinds through `dispatch` to the caller.
    ///
    /// Catching is the default because one bad payload must not stop the
    /// worker and every job queued behind it. Opt out if your worker has its
    /// own panic isolation, or builds with `panic = "abort"` (then there is
    /// nothing to catch).
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder().retired(Tombstone::new("x")).catch_panics(false).build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn catch_panics(mut self, catch: bool) -> Self {
        self.catch_panics = catch;
        self
    }

    /// Checks the set of jobs as a whole and builds the router. Every problem
    /// found is reported together.
    ///
    /// ```
    /// let error = jobwire::Router::builder().build().unwrap_err();
    /// assert_eq!(error.problems(), &[jobwire::Problem::Empty]);
    /// ```
    pub fn build(mut self) -> Result<Router, RegistryError> {
        // A stable order, whatever order the linker gave.
        self.entries
            .sort_by(|a, b| (a.name, &a.version).cmp(&(b.name, &b.version)));
        self.tombstones.sort_by_key(|t| t.name);

        let mut problems = Vec::new();
        if self.entries.is_empty() && self.tombstones.is_empty() {
            problems.push(Problem::Empty);
        }
        for entry in &self.entries {
            check_chain(entry, &mut problems);
        }
        let names = index_names(&self.entries, &self.tombstones, &mut problems);
        if !problems.is_empty() {
            return Err(RegistryError { problems });
        }
        Ok(Router::new(
            self.entries,
            self.tombstones,
            names,
            self.state,
            self.limits,
            self.catch_panics,
        ))
    }
}

/// Checks that the chain goes down one line at a time.
fn check_chain(entry: &Entry, problems: &mut Vec<Problem>) {
    let mut newer = &entry.version;
    for link in &entry.links {
        let (older_line, newer_line) = (Line::of(&link.version), Line::of(newer));
        if older_line >= newer_line {
            problems.push(Problem::ChainOrder {
                job: entry.name.to_owned(),
                older: link.version.clone(),
                newer: newer.clone(),
            });
        } else if !older_line.is_followed_by(newer_line) {
            problems.push(Problem::ChainGap {
                job: entry.name.to_owned(),
                from: link.version.clone(),
                to: newer.clone(),
            });
        }
        newer = &link.version;
    }
}

/// Who claims a name, for messages and for dispatch.
#[derive(Clone, Copy)]
enum Claim {
    Job(usize),
    Alias(usize),
    Retired(usize),
}

/// Builds the name index: every job name, alias and retired name to its slot.
fn index_names(
    entries: &[Entry],
    tombstones: &[Tombstone],
    problems: &mut Vec<Problem>,
) -> HashMap<&'static str, Slot, crate::router::NameHash> {
    let mut claims: Vec<(&'static str, Claim)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        claims.push((entry.name, Claim::Job(i)));
        claims.extend(entry.aliases.iter().map(|&alias| (alias, Claim::Alias(i))));
    }
    for (i, tombstone) in tombstones.iter().enumerate() {
        claims.push((tombstone.name, Claim::Retired(i)));
        claims.extend(
            tombstone
                .aliases
                .iter()
                .map(|&alias| (alias, Claim::Retired(i))),
        );
    }

    let describe = |claim: Claim| match claim {
        Claim::Job(i) => format!("job `{}` {}", entries[i].name, entries[i].version),
        Claim::Alias(i) => format!(
            "an alias of job `{}` {}",
            entries[i].name, entries[i].version
        ),
        Claim::Retired(i) => format!("the tombstone of `{}`", tombstones[i].name),
    };

    let mut names: HashMap<&'static str, Slot, crate::router::NameHash> = HashMap::default();
    let mut owner: HashMap<&'static str, Claim> = HashMap::new();
    for (name, claim) in claims {
        if let Err(reason) = check_name(name) {
            problems.push(Problem::InvalidName {
                name: name.to_owned(),
                reason,
            });
            continue;
        }
        let Some(&first) = owner.get(name) else {
            owner.insert(name, claim);
            names.insert(
                name,
                match claim {
                    Claim::Job(i) => Slot::Job {
                        entry: i,
                        via_alias: false,
                    },
                    Claim::Alias(i) => Slot::Job {
                        entry: i,
                        via_alias: true,
                    },
                    Claim::Retired(i) => Slot::Retired(i),
                },
            );
            continue;
        };
        problems.push(match (first, claim) {
            (Claim::Job(a), Claim::Job(b)) if entries[a].version == entries[b].version => {
                Problem::Duplicate {
                    name: name.to_owned(),
                    version: entries[a].version.clone(),
                }
            }
            (Claim::Retired(a), Claim::Retired(b)) if tombstones[a] == tombstones[b] => {
                Problem::DuplicateTombstone {
                    name: name.to_owned(),
                }
            }
            (Claim::Retired(_), other) | (other, Claim::Retired(_))
                if !matches!(other, Claim::Retired(_)) =>
            {
                Problem::RetiredNameReused {
                    name: name.to_owned(),
                    claimant: describe(other),
                }
            }
            (first, second) => Problem::NameCollision {
                name: name.to_owned(),
                first: describe(first),
                second: describe(second),
            },
        });
    }
    names
}

/// Job names are short, printable ASCII: letters, digits and `._-:/`.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a job name must not be empty");
    }
    if name.len() > 128 {
        return Err("a job name must be at most 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/'))
    {
        return Err("a job name may hold only ASCII letters, digits and `._-:/`");
    }
    Ok(())
}
