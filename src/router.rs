//! The dual-dispatch router: bytes in, exactly one outcome out.

use crate::context::State;
use crate::decode::{decode_prefix, json_error_at};
use crate::history::{ChainError, History};
use crate::outcome::{DeferReason, Deferred, Discarded, Failed, Performed, Rejected};
use crate::registry::{check_name, Entry, RouterBuilder, Tombstone};
use crate::scan::{Head, Key, Scan};
use crate::version::{Line, Relation};
use crate::{
    Context, HandlerError, Job, Lifecycle, Limits, Meta, Outcome, RegistryError, RejectError,
};
use semver::Version;
use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tracing::field::{display, Empty};

/// Routes payloads of release N and N+1 to the jobs of this release.
///
/// Build one at startup with [`Router::from_registry`] (every job registered
/// with [`register!`](crate::register)) or [`Router::builder`], share it
/// across worker threads, and call [`dispatch`](Router::dispatch) for each
/// payload the queue hands you.
///
/// ```
/// use jobwire::{Context, HandlerError, Job, NoPrevious, Outcome, Router};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Ping { n: u32 }
///
/// impl Job for Ping {
///     const NAME: &'static str = "ping";
///     const VERSION: Version = Version::new(1, 2, 0);
///     type Previous = NoPrevious;
///     fn perform(self, _ctx: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let router = Router::builder().job::<Ping>().build()?;
/// for payload in [
///     &br#"{"job":"ping","version":"1.2.0","args":{"n":1}}"#[..],
///     br#"{"job":"ping","version":"1.1.0","args":{"n":1}}"#,
///     br#"{"job":"ping","version":"1.3.0","args":{"n":1,"new":true}}"#,
/// ] {
///     assert!(router.dispatch(payload).is_performed());
/// }
/// let newer = br#"{"job":"ping","version":"2.0.0","args":{}}"#;
/// assert!(matches!(router.dispatch(newer), Outcome::Deferred(_)));
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
pub struct Router {
    entries: Vec<Entry>,
    tombstones: Vec<Tombstone>,
    names: HashMap<&'static str, Slot, NameHash>,
    state: State,
    limits: Limits,
    catch_panics: bool,
}

// A router is built once and shared by every worker thread.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Router>();
};

/// Where a name leads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Job { entry: usize, via_alias: bool },
    Retired(usize),
}

/// A small multiplicative hash for job names: the table is built from the
/// registry alone, so the inputs an attacker controls are only looked up,
/// never inserted, and a fast hash is safe.
#[derive(Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

pub(crate) type NameHash = BuildHasherDefault<NameHasher>;

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// How a payload reaches its handler.
pub(crate) struct Route {
    relation: Relation,
    wire: Version,
    via_alias: bool,
}

/// What a name and version resolve to.
enum Resolved<'r, 'a> {
    Perform(&'r Entry, Route),
    Defer(DeferReason<'a>),
    Discard(&'static str),
    Reject(RejectError),
}

/// The state of one dispatch, handed to a job's monomorphised `run`.
pub(crate) struct Dispatch<'s, 'a> {
    scan: &'s mut Scan<'a>,
    head: &'s mut Head<'a>,
    pub(crate) payload: &'a [u8],
    /// Whether the arguments stand at the cursor (header first), or were
    /// skipped and stand at `head.args`.
    inline: bool,
}

/// A job's monomorphised decode-and-perform.
pub(crate) type Run = for<'s, 'a> fn(&Router, &Entry, Route, Dispatch<'s, 'a>) -> Outcome<'a>;

impl Router {
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

    pub(crate) fn new(
        entries: Vec<Entry>,
        tombstones: Vec<Tombstone>,
        names: HashMap<&'static str, Slot, NameHash>,
        state: State,
        limits: Limits,
        catch_panics: bool,
    ) -> Router {
        Router {
            entries,
            tombstones,
            names,
            state,
            limits,
            catch_panics,
        }
    }

    /// The application state of type `T` the router was built with, if any.
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder().retired(Tombstone::new("x")).state(7u32).build()?;
    /// assert_eq!(router.state::<u32>(), Some(&7));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn state<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.state.get::<T>()
    }

    pub(crate) fn parts(&self) -> (&[Entry], &[Tombstone]) {
        (&self.entries, &self.tombstones)
    }

    /// The limits this router enforces.
    ///
    /// ```
    /// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// assert_eq!(router.limits(), &jobwire::Limits::default());
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Dispatches one payload and returns its one outcome. Never panics on
    /// any input; a payload that is not performed comes back in the outcome,
    /// untouched.
    ///
    /// One `tracing` span, `jobwire.dispatch`, covers the call, with the
    /// fields `job.name`, `job.wire_version`, `job.handler_version`,
    /// `job.upcast` and `job.outcome`.
    ///
    /// ```
    /// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// let outcome = router.dispatch(br#"{"job":"x","version":"1.0.0","args":{}}"#);
    /// assert_eq!(outcome.label(), "discarded");
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn dispatch<'p>(&self, payload: &'p [u8]) -> Outcome<'p> {
        let span = tracing::info_span!(
            "jobwire.dispatch",
            job.name = Empty,
            job.wire_version = Empty,
            job.handler_version = Empty,
            job.upcast = Empty,
            job.outcome = Empty,
        );
        let _entered = span.enter();
        let outcome = self.route(payload);
        if !span.is_disabled() {
            span.record("job.outcome", outcome.label());
            match &outcome {
                Outcome::Performed(p) => {
                    span.record("job.name", p.job);
                    span.record("job.wire_version", display(&p.wire_version));
                    span.record("job.handler_version", display(&p.handler_version));
                    span.record("job.upcast", p.upcast());
                }
                Outcome::Failed(f) => {
                    span.record("job.name", f.job);
                    span.record("job.wire_version", display(&f.wire_version));
                }
                Outcome::Discarded(d) => {
                    span.record("job.name", d.job);
                }
                Outcome::Deferred(Deferred {
                    reason:
                        DeferReason::NewerRelease {
                            job, wire_version, ..
                        },
                    ..
                }) => {
                    span.record("job.name", job.as_ref());
                    span.record("job.wire_version", display(wire_version));
                }
                Outcome::Deferred(Deferred {
                    reason: DeferReason::UnknownJob { job },
                    ..
                }) => {
                    span.record("job.name", job.as_ref());
                }
                Outcome::Rejected(_) => {}
            }
        }
        match &outcome {
            Outcome::Discarded(d) => {
                tracing::info!(job.name = d.job, "discarded a payload for a retired job")
            }
            Outcome::Rejected(r) => tracing::warn!(error = %r.error, "rejected a payload"),
            Outcome::Failed(f) => {
                tracing::warn!(job.name = f.job, error = %f.error, panicked = f.panicked, "job failed")
            }
            _ => {}
        }
        outcome
    }

    fn route<'p>(&self, payload: &'p [u8]) -> Outcome<'p> {
        let reject = |error| Outcome::Rejected(Rejected { error, payload });
        let rejected = |error: Box<RejectError>| reject(*error);
        if payload.len() > self.limits.get_max_payload_bytes() {
            return reject(RejectError::TooLarge {
                size: payload.len(),
                limit: self.limits.get_max_payload_bytes(),
            });
        }
        let text = match std::str::from_utf8(payload) {
            Ok(text) => text,
            Err(error) => {
                return reject(RejectError::NotUtf8 {
                    offset: error.valid_up_to(),
                })
            }
        };
        let mut scan = match Scan::open(text) {
            Ok(scan) => scan,
            Err(error) => return rejected(error),
        };
        let mut head = Head::default();
        let mut pending = None;
        loop {
            let (key, at) = match scan.key() {
                Ok(Some(key)) => key,
                Ok(None) => break,
                Err(error) => return rejected(error),
            };
            if let (Key::Args, None, None, Some(job), Some(version)) =
                (&key, &head.args, &pending, &head.job, &head.version)
            {
                // The header came first: decode the arguments where they stand.
                match self.resolve(job, version) {
                    Resolved::Perform(entry, route) => {
                        let dispatch = Dispatch {
                            scan: &mut scan,
                            head: &mut head,
                            payload,
                            inline: true,
                        };
                        return (entry.run)(self, entry, route, dispatch);
                    }
                    Resolved::Reject(error) => return reject(error),
                    other => pending = Some(other),
                }
            }
            if let Err(error) = scan.field(key, at, &mut head) {
                return rejected(error);
            }
        }
        if let Err(error) = scan.end() {
            return rejected(error);
        }
        let resolved = match (pending, &head.job, &head.version, head.args) {
            (_, None, _, _) => return reject(RejectError::MissingField { field: "job" }),
            (_, _, None, _) => return reject(RejectError::MissingField { field: "version" }),
            (_, _, _, None) => return reject(RejectError::MissingField { field: "args" }),
            (Some(pending), ..) => pending,
            (None, Some(job), Some(version), Some(_)) => self.resolve(job, version),
        };
        match resolved {
            Resolved::Perform(entry, route) => {
                let dispatch = Dispatch {
                    scan: &mut scan,
                    head: &mut head,
                    payload,
                    inline: false,
                };
                (entry.run)(self, entry, route, dispatch)
            }
            Resolved::Defer(reason) => Outcome::Deferred(Deferred { reason, payload }),
            Resolved::Discard(job) => Outcome::Discarded(Discarded { job, payload }),
            Resolved::Reject(error) => reject(error),
        }
    }

    fn resolve<'a>(&self, job: &Cow<'a, str>, version: &str) -> Resolved<'_, 'a> {
        if job.is_empty() {
            return Resolved::Reject(RejectError::InvalidName {
                name: String::new(),
                reason: "a job name must not be empty",
            });
        }
        if job.len() > self.limits.get_max_name_bytes() {
            return Resolved::Reject(RejectError::InvalidName {
                name: cut(job),
                reason: "it is longer than `Limits::max_name_bytes`",
            });
        }
        let invalid_version = |message: String| {
            Resolved::Reject(RejectError::InvalidVersion {
                job: cut(job),
                version: cut(version),
                message,
            })
        };
        if version.len() > self.limits.get_max_version_bytes() {
            return invalid_version("it is longer than `Limits::max_version_bytes`".to_owned());
        }
        let slot = self.names.get(job.as_ref()).copied();
        let entry = match slot {
            Some(Slot::Retired(i)) => {
                if let Some(tombstone) = self.tombstones.get(i) {
                    return Resolved::Discard(tombstone.name());
                }
                None
            }
            Some(Slot::Job { entry, .. }) => self.entries.get(entry),
            None => None,
        };
        let Some(entry) = entry else {
            // A name no release could register is garbage, not a job from
            // the future: deferring it would loop for ever.
            if let Err(reason) = check_name(job) {
                return Resolved::Reject(RejectError::InvalidName {
                    name: cut(job),
                    reason,
                });
            }
            return match crate::version::parse(version) {
                Ok(_) => Resolved::Defer(DeferReason::UnknownJob { job: job.clone() }),
                Err(error) => invalid_version(error.to_string()),
            };
        };
        let via_alias = matches!(
            slot,
            Some(Slot::Job {
                via_alias: true,
                ..
            })
        );
        let (wire, relation) = if version == entry.version_text {
            (entry.version.clone(), Relation::Same)
        } else {
            match crate::version::parse(version) {
                Ok(wire) => {
                    let relation = Relation::between(&wire, &entry.version);
                    (wire, relation)
                }
                Err(error) => return invalid_version(error.to_string()),
            }
        };
        match relation {
            Relation::NewerLine => Resolved::Defer(DeferReason::NewerRelease {
                job: job.clone(),
                wire_version: wire,
                handler_version: entry.version.clone(),
            }),
            Relation::OlderLine if !entry.reads_line(Line::of(&wire)) => {
                Resolved::Reject(RejectError::NoUpcaster {
                    job: entry.name.to_owned(),
                    version: wire,
                    reads: entry.describe_reads(),
                })
            }
            _ => Resolved::Perform(
                entry,
                Route {
                    relation,
                    wire,
                    via_alias,
                },
            ),
        }
    }
}

/// Decodes a job's arguments, finishes reading the envelope, and performs it.
pub(crate) fn run<'a, J: Job<L>, L: Lifecycle>(
    router: &Router,
    entry: &Entry,
    route: Route,
    dispatch: Dispatch<'_, 'a>,
) -> Outcome<'a> {
    let payload = dispatch.payload;
    let (job, meta) = match decode::<J, L>(entry, &route, dispatch) {
        Ok(decoded) => decoded,
        Err(error) => {
            return Outcome::Rejected(Rejected {
                error: *error,
                payload,
            })
        }
    };
    if L::DEPRECATED {
        tracing::warn!(
            job.name = J::NAME,
            "performing a deprecated job: it drains, but nothing should enqueue it any more"
        );
    }
    let ctx = Context {
        job: J::NAME,
        wire_version: &route.wire,
        relation: route.relation,
        meta: &meta,
        state: &router.state,
    };
    let result = if router.catch_panics {
        match catch_unwind(AssertUnwindSafe(|| job.perform(&ctx))) {
            Ok(result) => result.map_err(|error| (error, false)),
            Err(panic) => Err((HandlerError::permanent(panic_message(&*panic)), true)),
        }
    } else {
        job.perform(&ctx).map_err(|error| (error, false))
    };
    match result {
        Ok(()) => Outcome::Performed(route.performed::<J, L>()),
        Err((error, panicked)) => Outcome::Failed(Failed {
            job: J::NAME,
            wire_version: route.wire,
            error,
            panicked,
            payload,
        }),
    }
}

impl Route {
    /// The report of a job performed through this route.
    pub(crate) fn performed<J: Job<L>, L: Lifecycle>(self) -> Performed {
        Performed {
            job: J::NAME,
            wire_version: self.wire,
            handler_version: J::VERSION,
            relation: self.relation,
            via_alias: self.via_alias,
        }
    }
}

/// Decodes a job's arguments, through the upcast chain when the route says
/// so, and finishes reading the envelope.
pub(crate) fn decode<'a, J: Job<L>, L: Lifecycle>(
    entry: &Entry,
    route: &Route,
    dispatch: Dispatch<'_, 'a>,
) -> Result<(J, Meta<'a>), Box<RejectError>> {
    let Dispatch {
        scan, head, inline, ..
    } = dispatch;
    let (start, end) = match (inline, head.args) {
        (true, _) => {
            scan.expect_args_object()?;
            (scan.pos, scan.text.len())
        }
        (false, Some(span)) => span,
        (false, None) => return Err(Box::new(RejectError::MissingField { field: "args" })),
    };
    let text = scan.text.get(start..end).unwrap_or_default();
    let decoded = match route.relation {
        Relation::OlderLine => {
            <J::Previous as History<J>>::decode(Line::of(&route.wire), text, &J::VERSION)
                .ok_or_else(|| {
                    Box::new(RejectError::NoUpcaster {
                        job: entry.name.to_owned(),
                        version: route.wire.clone(),
                        reads: entry.describe_reads(),
                    })
                })?
        }
        _ => decode_prefix::<J>(text).map_err(ChainError::Decode),
    };
    match decoded {
        Ok((job, used)) => {
            job_after(inline, scan, head, start + used)?;
            Ok((job, head.meta.take().unwrap_or_default()))
        }
        Err(ChainError::Decode(error)) => {
            let (message, line, column) = json_error_at(scan.text, start, &error);
            Err(Box::new(RejectError::Arguments {
                job: entry.name.to_owned(),
                version: route.wire.clone(),
                message,
                line,
                column,
            }))
        }
        Err(ChainError::Upcast { from, to, error }) => Err(Box::new(RejectError::Upcast {
            job: entry.name.to_owned(),
            from,
            to,
            message: error.to_string(),
        })),
    }
}

/// After inline arguments: move past them and read the rest of the envelope.
fn job_after<'a>(
    inline: bool,
    scan: &mut Scan<'a>,
    head: &mut Head<'a>,
    end: usize,
) -> Result<(), Box<RejectError>> {
    if inline {
        scan.pos = end;
        scan.rest(head)?;
    }
    Ok(())
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic with a non-string payload");
    format!("handler panicked: {message}")
}

/// At most 64 characters of untrusted text, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "jobs",
                &self
                    .entries
                    .iter()
                    .map(|e| (e.name, &e.version))
                    .collect::<Vec<_>>(),
            )
            .field("tombstones", &self.tombstones)
            .field("limits", &self.limits)
            .field("catch_panics", &self.catch_panics)
            .finish_non_exhaustive()
    }
}
