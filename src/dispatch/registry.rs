//! The registry: which jobs and tombstones a router knows, gathered at link
//! time through `inventory` or chosen explicitly with the builder, and checked
//! as a whole before any payload is dispatched.

use crate::dispatch::counts::Counts;
use crate::dispatch::entry::{CursorInfo, Entry, NameHash, Need, Slot};
use crate::dispatch::router::Router;
use crate::dispatch::run::JobRun;
use crate::dispatch::states::States;
use crate::dispatch::tombstone::Tombstone;
use crate::iteration::Iterate;
use crate::job::history::History;
use crate::shape::Shape;
use crate::wire::{check_name, Limits, Line};
use crate::{Active, Deprecated, Job, Lifecycle};
use semver::Version;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

/// A job's registration, made by [`register!`](crate::register).
#[doc(hidden)]
pub struct Registration {
    entry: fn() -> Entry,
}

impl Registration {
    #[doc(hidden)]
    pub const fn of<J: Job<L>, L: Lifecycle>() -> Registration {
        Registration {
            entry: entry_of::<J, L>,
        }
    }

    #[doc(hidden)]
    pub const fn iterable<J: Iterate<L>, L: Lifecycle>() -> Registration {
        Registration {
            entry: iterable_entry_of::<J, L>,
        }
    }
}

inventory::collect!(Registration);
inventory::collect!(Tombstone);

/// A job, erased of its type, with its monomorphised code.
pub(crate) fn entry_of<J: Job<L>, L: Lifecycle>() -> Entry {
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
        lossless: <J::Previous as History<J>>::lossless(),
        state: Need::of::<J::State>(),
        state_value: None,
        data: Need::of::<J::Data>(),
        shape: Shape::of::<J>,
        cursor: None,
        run: Box::new(JobRun::<J, L>::new()),
    }
}

/// An iterable job, erased, with its cursor's type for the manifest.
pub(crate) fn iterable_entry_of<J: Iterate<L>, L: Lifecycle>() -> Entry {
    Entry {
        cursor: Some(CursorInfo {
            name: std::any::type_name::<J::Cursor>(),
            shape: Shape::of::<J::Cursor>,
        }),
        ..entry_of::<J, L>()
    }
}

/// Registers a job at link time, so that [`Router::from_registry`] finds it.
/// Write it once, beside the job's definition.
///
/// In a binary or test whose jobs live in a library crate, the linker keeps
/// the library's registrations only if something in it is used: write
/// `use my_jobs as _;` beside the router.
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
/// jobwire::register!(Ping);
/// ```
#[macro_export]
macro_rules! register {
    ($job:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::Registration::of::<$job, _>()
        }
    };
    ($job:ty, iterable) => {
        $crate::__private::inventory::submit! {
            $crate::__private::Registration::iterable::<$job, _>()
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
            $crate::Tombstone::new($name).with_aliases(&[$($alias),*])
        }
    };
}

impl Router<()> {
    /// A builder, for choosing the jobs explicitly.
    ///
    /// ```
    /// let builder = jobwire::Router::builder();
    /// ```
    pub fn builder() -> RouterBuilder {
        RouterBuilder::new()
    }

    /// A router of every job and tombstone registered in the binary with
    /// [`register!`](crate::register) and [`retire!`](crate::retire).
    ///
    /// ```
    /// jobwire::retire!("doc.from_registry");
    /// let router = jobwire::Router::from_registry()?;
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn from_registry() -> Result<Router, RegistryError> {
        RouterBuilder::new().registered().build()
    }
}

/// Builds a [`Router`] from a chosen set of jobs: for tests, for two releases
/// in one process, and for platforms where `inventory` finds nothing.
///
/// `D` is the data the router's worker lends each dispatch (see
/// [`Job::Data`]); it is `()` until [`lending`](RouterBuilder::lending) says
/// otherwise.
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
/// let router = Router::builder()
///     .job::<Ping>()
///     .retired(Tombstone::new("pong"))
///     .limits(jobwire::wire::Limits::default().with_max_payload_bytes(4096))
///     .build()?;
/// # Ok::<(), RegistryError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RouterBuilder<D = ()> {
    entries: Vec<Entry>,
    tombstones: Vec<Tombstone>,
    states: States,
    limits: Limits,
    catch_panics: bool,
    count_outcomes: bool,
    data: PhantomData<fn(&mut D)>,
}

impl<D> fmt::Debug for RouterBuilder<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field(
                "jobs",
                &self.entries.iter().map(|e| e.name).collect::<Vec<_>>(),
            )
            .field("tombstones", &self.tombstones)
            .field("limits", &self.limits)
            .field("catch_panics", &self.catch_panics)
            .field("lends", &std::any::type_name::<D>())
            .finish_non_exhaustive()
    }
}

impl RouterBuilder<()> {
    pub(crate) fn new() -> Self {
        RouterBuilder {
            entries: Vec::new(),
            tombstones: Vec::new(),
            states: States::default(),
            limits: Limits::default(),
            catch_panics: true,
            count_outcomes: false,
            data: PhantomData,
        }
    }
}

impl<D: Send + 'static> RouterBuilder<D> {
    /// Says what the worker lends each dispatch: the router then takes a
    /// [`Delivery`](crate::Delivery) carrying an `E`, and jobs whose
    /// [`Job::Data`] is `E` (or `()`) may join it.
    ///
    /// ```
    /// let builder = jobwire::Router::builder().lending::<String>();
    /// ```
    pub fn lending<E: Send + 'static>(self) -> RouterBuilder<E> {
        RouterBuilder {
            entries: self.entries,
            tombstones: self.tombstones,
            states: self.states,
            limits: self.limits,
            catch_panics: self.catch_panics,
            count_outcomes: self.count_outcomes,
            data: PhantomData,
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
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let router = Router::builder().job::<Ping>().build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn job<J: Job>(mut self) -> Self {
        self.entries.push(entry_of::<J, Active>());
        self
    }

    /// Adds an iterable job (see [`Iterate`]): as [`job`](RouterBuilder::job),
    /// and its manifest records the cursor's shape (and type name, for
    /// messages), so that the deploy-safety check can tell when it changes
    /// on the same line.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::iteration::{iterate, Iterate};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Sweep {}
    /// # impl Job for Sweep {
    /// #     const NAME: &'static str = "sweep";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> { iterate(self, ctx).await }
    /// # }
    /// # impl Iterate for Sweep {
    /// #     type Cursor = u64; type Item = u64;
    /// #     async fn next_items(&self, _: Option<&u64>, _: &mut Context<'_>) -> Result<Vec<(u64, u64)>, HandlerError> { Ok(vec![]) }
    /// #     async fn each(&self, _: u64, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let router = Router::builder().iterable::<Sweep>().build()?;
    /// let manifest = router.manifest();
    /// assert_eq!(manifest.jobs["sweep"].cursor.as_deref(), Some("u64"));
    /// # #[cfg(feature = "shapes")]
    /// assert_eq!(manifest.jobs["sweep"].cursor_shape.as_ref().map(ToString::to_string).as_deref(), Some("u64"));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn iterable<J: Iterate>(mut self) -> Self {
        self.entries.push(iterable_entry_of::<J, Active>());
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
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let router = Router::builder().deprecated::<Fax>().build()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn deprecated<J: Job<Deprecated>>(mut self) -> Self {
        self.entries.push(entry_of::<J, Deprecated>());
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

    /// Adds application state, which handlers that declare it as their
    /// [`Job::State`] reach with [`Context::state`](crate::Context::state).
    /// One value per type; a second value of the same type replaces the first.
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
        self.states.insert(value);
        self
    }

    /// Sets the input limits.
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder()
    ///     .retired(Tombstone::new("x"))
    ///     .limits(jobwire::wire::Limits::default().with_max_payload_bytes(10))
    ///     .build()?;
    /// assert!(router.dispatch_blocking(br#"{"job":"x","version":"1.0.0","args":{}}"#, &mut Delivery::new()).rejection().is_some());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether a panic in a job's own code (a `Deserialize` impl, an
    /// upcaster, the handler) becomes a [`Failed`](crate::Outcome::Failed)
    /// outcome (the default) or unwinds through the dispatch to the caller.
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

    /// Counts every dispatch per (job name, wire version, outcome), for
    /// [`Router::counts`]: one short lock a dispatch, so it is off unless
    /// asked for. The `jobwire.dispatch` span carries the same fields
    /// (`job.name`, `job.wire_version`, `job.outcome`) for exporters that
    /// count from `tracing`.
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder().retired(Tombstone::new("x")).count_outcomes().build()?;
    /// assert!(router.counts().is_empty());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn count_outcomes(mut self) -> Self {
        self.count_outcomes = true;
        self
    }

    /// Checks the set of jobs as a whole and builds the router. Every problem
    /// found is reported together: names, chains, and the state and data
    /// each job declared.
    ///
    /// ```
    /// let error = jobwire::Router::builder().build().unwrap_err();
    /// assert_eq!(error.problems(), &[jobwire::Problem::Empty]);
    /// ```
    pub fn build(mut self) -> Result<Router<D>, RegistryError> {
        let mut problems = Vec::new();
        let names = self.structure(&mut problems);
        let lent = Need::of::<D>();
        for entry in &mut self.entries {
            if !entry.state.is_unit() {
                entry.state_value = self.states.value(&entry.state);
                if entry.state_value.is_none() {
                    problems.push(Problem::MissingState {
                        job: entry.name.to_owned(),
                        type_name: entry.state.name.to_owned(),
                    });
                }
            }
            if !entry.data.is_unit() && entry.data.id != lent.id {
                problems.push(Problem::DataNotLent {
                    job: entry.name.to_owned(),
                    needs: entry.data.name.to_owned(),
                    lends: lent.name.to_owned(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(RegistryError { problems });
        }
        Ok(Router::new(
            self.entries,
            self.tombstones,
            names,
            self.states,
            self.limits,
            self.catch_panics,
            self.count_outcomes.then(Counts::default),
        ))
    }
}

impl<D> RouterBuilder<D> {
    /// Sorts the entries and checks what holds whatever the router is given
    /// to run with: chains and names (not state values, not lent data).
    fn structure(&mut self, problems: &mut Vec<Problem>) -> HashMap<&'static str, Slot, NameHash> {
        // A stable order, whatever order the linker gave.
        self.entries
            .sort_by(|a, b| (a.name, &a.version).cmp(&(b.name, &b.version)));
        self.tombstones.sort_by_key(|t| t.name);
        if self.entries.is_empty() && self.tombstones.is_empty() {
            problems.push(Problem::Empty);
        }
        for entry in &self.entries {
            check_chain(entry, problems);
        }
        index_names(&self.entries, &self.tombstones, problems)
    }
}

/// Every job and tombstone registered in the binary, checked as a whole
/// except for what only a running router needs (state values, lent data):
/// what the deploy check describes when no router is at hand.
pub(crate) fn registered_parts() -> Result<(Vec<Entry>, Vec<Tombstone>), RegistryError> {
    let mut builder = RouterBuilder::new().registered();
    let mut problems = Vec::new();
    builder.structure(&mut problems);
    if problems.is_empty() {
        Ok((builder.entries, builder.tombstones))
    } else {
        Err(RegistryError { problems })
    }
}

/// The jobs handed to a router do not hold together. Every problem found is
/// listed, not just the first.
///
/// Its `Debug` shows the same text as its `Display`, as `anyhow::Error`'s
/// does, so a test's `.unwrap()` prints the advice, not a struct dump.
///
/// ```
/// let error = jobwire::Router::builder().build().unwrap_err();
/// assert!(error.to_string().contains("linker"));
/// assert!(format!("{error:?}").contains("use my_jobs as _;"));
/// ```
#[derive(Clone, PartialEq, Eq)]
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

impl fmt::Debug for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for RegistryError {}

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
    #[error("no jobs are registered: if jobs use `jobwire::register!`, the linker may have dropped them (a library crate that nothing in the binary references is not linked: write `use my_jobs as _;` beside the router), or this platform is not supported by `inventory`: add jobs with `Router::builder().job::<J>()`")]
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
    /// A job declares state the router was not given.
    #[error("job `{job}` needs state of type `{type_name}`, which the router was not given: add it with `.state(...)` on the builder")]
    MissingState {
        /// The job name.
        job: String,
        /// The type it declared as `Job::State`.
        type_name: String,
    },
    /// A job borrows per-dispatch data the router's worker does not lend.
    #[error("job `{job}` borrows `{needs}` from each dispatch, but this router's worker lends `{lends}`: build the router with `.lending::<{needs}>()` and run it on a worker that lends it")]
    DataNotLent {
        /// The job name.
        job: String,
        /// The type it declared as `Job::Data`.
        needs: String,
        /// What the router lends.
        lends: String,
    },
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
) -> HashMap<&'static str, Slot, NameHash> {
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

    let mut names: HashMap<&'static str, Slot, NameHash> = HashMap::default();
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
