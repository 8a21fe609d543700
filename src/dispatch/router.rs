//! The dual-dispatch router: bytes in, exactly one outcome out.

use crate::dispatch::counts::{Counts, DispatchCount};
use crate::dispatch::entry::{Dispatch, Entry, Lent, NameHash, Route, Slot};
use crate::dispatch::outcome::{DeferReason, Deferred, Discarded, Outcome, Rejected};
use crate::dispatch::states::States;
use crate::dispatch::tombstone::Tombstone;
use crate::job::context::Delivery;
use crate::wire::scan::{Head, Key, Scan};
use crate::wire::{
    check_name, checked_text, parse_version, quote, Limits, Line, RejectError, Relation,
};
use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// Routes payloads of release N and N+1 to the jobs of this release.
///
/// Build one at startup with [`Router::from_registry`] (every job registered
/// with [`register!`](crate::register)) or [`Router::builder`], share it
/// across worker threads and tasks, and dispatch each payload the queue hands
/// you: [`dispatch`](Router::dispatch) from an async worker,
/// [`dispatch_blocking`](Router::dispatch_blocking) from a plain thread.
///
/// `D` is the data the worker lends each dispatch, such as the PostgreSQL
/// worker's transaction; `()` by default.
///
/// ```
/// use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Router};
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
///     type State = ();
///     type Data = ();
///     async fn perform(self, _ctx: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let router = Router::builder().job::<Ping>().build()?;
/// for payload in [
///     &br#"{"job":"ping","version":"1.2.0","args":{"n":1}}"#[..],
///     br#"{"job":"ping","version":"1.1.0","args":{"n":1}}"#,
///     br#"{"job":"ping","version":"1.3.0","args":{"n":1,"new":true}}"#,
/// ] {
///     assert!(router.dispatch_blocking(payload, &mut Delivery::new()).is_performed());
/// }
/// let newer = br#"{"job":"ping","version":"2.0.0","args":{}}"#;
/// assert!(matches!(router.dispatch_blocking(newer, &mut Delivery::new()), Outcome::Deferred(_)));
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
pub struct Router<D = ()> {
    entries: Vec<Entry>,
    tombstones: Vec<Tombstone>,
    names: HashMap<&'static str, Slot, NameHash>,
    states: States,
    limits: Limits,
    catch_panics: bool,
    /// Present when the builder asked for [`count_outcomes`](crate::RouterBuilder::count_outcomes).
    counts: Option<Counts>,
    data: PhantomData<fn(&mut D)>,
}

// A router is built once and shared by every worker thread and task.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Router>();
};

/// What a name and version resolve to.
enum Resolved<'r, 'a> {
    Perform(&'r Entry, Route),
    Defer(DeferReason<'a>),
    Discard(&'static str),
    Reject(RejectError),
}

impl<D: Send + 'static> Router<D> {
    pub(crate) fn new(
        entries: Vec<Entry>,
        tombstones: Vec<Tombstone>,
        names: HashMap<&'static str, Slot, NameHash>,
        states: States,
        limits: Limits,
        catch_panics: bool,
        counts: Option<Counts>,
    ) -> Router<D> {
        Router {
            entries,
            tombstones,
            names,
            states,
            limits,
            catch_panics,
            counts,
            data: PhantomData,
        }
    }

    /// What this router has dispatched, per (job name, wire version,
    /// outcome), sorted; empty unless the router was built with
    /// [`count_outcomes`](crate::RouterBuilder::count_outcomes). For a metrics
    /// exporter, and for drain: once no payload of a version line arrives,
    /// its upcaster can go (`jobwire drain` asks the queue too).
    ///
    /// ```
    /// # use jobwire::*;
    /// let router = Router::builder().retired(Tombstone::new("x")).count_outcomes().build()?;
    /// router.dispatch_blocking(b"not json", &mut Delivery::new());
    /// assert_eq!(router.counts()[0].outcome, "rejected");
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn counts(&self) -> Vec<DispatchCount> {
        self.counts
            .as_ref()
            .map(Counts::snapshot)
            .unwrap_or_default()
    }

    #[inline]
    fn count(&self, outcome: &Outcome<'_>) {
        if let Some(counts) = &self.counts {
            counts.outcome(outcome);
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
        self.states.get::<T>()
    }

    pub(crate) fn parts(&self) -> (&[Entry], &[Tombstone]) {
        (&self.entries, &self.tombstones)
    }

    /// The limits this router enforces.
    ///
    /// ```
    /// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
    /// assert_eq!(router.limits(), &jobwire::wire::Limits::default());
    /// # Ok::<(), jobwire::RegistryError>(())
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Dispatches one payload from an async worker: a `Send` future, so it
    /// can be spawned on a multi-threaded runtime. Its one outcome says what
    /// to do with the payload; it borrows only the payload, so `delivery` is
    /// free again (to take its data back) as soon as the future completes.
    ///
    /// Decoding happens at the first poll; a job's handler is then awaited.
    /// Performing a job allocates once, to box its handler's future; every
    /// outcome that is not performed allocates nothing.
    ///
    /// One `tracing` span, `jobwire.dispatch`, covers the call, with the
    /// fields `job.name`, `job.wire_version`, `job.handler_version`,
    /// `job.upcast` and `job.outcome`; the handler runs inside it.
    ///
    /// ```
    /// # use jobwire::*;
    /// # async fn worker(router: &Router, payload: &[u8]) {
    /// let mut delivery = Delivery::new().with_attempt(1);
    /// let outcome = router.dispatch(payload, &mut delivery).await;
    /// match outcome.action() {
    ///     Action::Ack => { /* acknowledge */ }
    ///     Action::Defer => { /* re-enqueue `outcome.payload()` later, no attempt counted */ }
    ///     Action::Retry => { /* retry, counting an attempt */ }
    ///     Action::DeadLetter => { /* keep `outcome.payload()` with the reason */ }
    /// }
    /// # }
    /// ```
    // Spelled out rather than `async fn`, so the signature promises `Send`.
    #[allow(clippy::manual_async_fn)]
    pub fn dispatch<'f, 'p: 'f, 'd: 'f>(
        &'f self,
        payload: &'p [u8],
        delivery: &'f mut Delivery<'d, D>,
    ) -> impl Future<Output = Outcome<'p>> + Send + use<'f, 'p, 'd, D> {
        async move {
            let catch = self.catch_panics;
            let routed = self.route(
                payload,
                |entry, route, dispatch| {
                    let span = performing(entry, &route);
                    let lent = Lent {
                        entry,
                        info: &delivery.info,
                        data: &mut delivery.data,
                        catch,
                    };
                    let performing = {
                        let _entered = span.enter();
                        entry.run.future(lent, route, dispatch)
                    };
                    performing.map(|future| (span, future))
                },
                Err,
            );
            match routed {
                Ok((span, future)) => {
                    // A span no subscriber wants is not entered at each
                    // poll: its enter and exit cost about 250 instructions
                    // a dispatch, for nothing.
                    let outcome = if span.is_disabled() {
                        future.await
                    } else {
                        future.instrument(span.clone()).await
                    };
                    let _entered = span.enter();
                    span.record("job.outcome", outcome.label());
                    report(&outcome);
                    self.count(&outcome);
                    outcome
                }
                Err(outcome) => {
                    let span = settled(&outcome);
                    let _entered = span.enter();
                    report(&outcome);
                    self.count(&outcome);
                    outcome
                }
            }
        }
    }

    /// Dispatches one payload on this thread and returns its one outcome.
    /// Never panics on any input; a payload that is not performed comes back
    /// in the outcome.
    ///
    /// A handler that does not await finishes at the first poll of its
    /// future, in place: no executor, no allocation. One that awaits parks
    /// this thread until it can go on, so call this from a plain thread (a
    /// sync worker, `spawn_blocking`), never from inside an async task: there,
    /// await [`dispatch`](Router::dispatch) instead.
    ///
    /// ```
    /// # use jobwire::*;
    /// # let router = Router::builder().retired(Tombstone::new("x")).build()?;
    /// let outcome = router.dispatch_blocking(br#"{"job":"x","version":"1.0.0","args":{}}"#, &mut Delivery::new());
    /// assert_eq!(outcome.label(), "discarded");
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn dispatch_blocking<'p>(
        &self,
        payload: &'p [u8],
        delivery: &mut Delivery<'_, D>,
    ) -> Outcome<'p> {
        let catch = self.catch_panics;
        self.route(
            payload,
            |entry, route, dispatch| {
                let span = performing(entry, &route);
                let _entered = span.enter();
                let lent = Lent {
                    entry,
                    info: &delivery.info,
                    data: &mut delivery.data,
                    catch,
                };
                let outcome = entry.run.blocking(lent, route, dispatch);
                span.record("job.outcome", outcome.label());
                report(&outcome);
                self.count(&outcome);
                outcome
            },
            |outcome| {
                let span = settled(&outcome);
                let _entered = span.enter();
                report(&outcome);
                self.count(&outcome);
                outcome
            },
        )
    }

    /// Reads a payload as far as its job's arguments, for the testing kit.
    #[cfg(feature = "testing")]
    pub(crate) fn read<'p>(
        &self,
        payload: &'p [u8],
    ) -> Result<(Box<dyn Any>, crate::Performed), Outcome<'p>> {
        self.route(
            payload,
            |entry, route, dispatch| {
                let job = entry.run.read(entry, &route, dispatch)?;
                Ok((job, entry.report(route)))
            },
            Err,
        )
    }

    /// Reads the envelope and resolves its job. When the job is performed,
    /// `perform` decodes its arguments (where they stand, if the header came
    /// first) and runs it; every other outcome goes to `settle`.
    #[inline(always)]
    fn route<'r, 'p, R>(
        &'r self,
        payload: &'p [u8],
        perform: impl FnOnce(&'r Entry, Route, Dispatch<'_, 'p>) -> R,
        settle: impl FnOnce(Outcome<'p>) -> R,
    ) -> R {
        let reject = |error: RejectError, head: &mut Head<'p>| {
            Outcome::Rejected(Box::new(Rejected {
                error,
                meta: head.meta.take().unwrap_or_default(),
                payload: Cow::Borrowed(payload),
            }))
        };
        let mut head = Head::default();
        let text = match checked_text(payload, &self.limits) {
            Ok(text) => text,
            Err(error) => return settle(reject(error, &mut head)),
        };
        let mut scan = match Scan::open(text) {
            Ok(scan) => scan,
            Err(error) => return settle(reject(*error, &mut head)),
        };
        let mut pending = None;
        loop {
            let (key, at) = match scan.key() {
                Ok(Some(key)) => key,
                Ok(None) => break,
                Err(error) => return settle(reject(*error, &mut head)),
            };
            if let (Key::Args, None, None) = (&key, &head.args, &pending) {
                if let (Some(job), Some(version)) = (&head.job, &head.version) {
                    // The header came first: decode the arguments where they
                    // stand. Anything else waits for the whole envelope to be
                    // read, so that key order never changes the outcome.
                    match self.resolve(job, version) {
                        Resolved::Perform(entry, route) => {
                            let dispatch = Dispatch {
                                scan: &mut scan,
                                head: &mut head,
                                payload,
                                inline: true,
                                tail: None,
                            };
                            return perform(entry, route, dispatch);
                        }
                        other => pending = Some(other),
                    }
                } else if let Some((job, version)) = self.tail_header(&scan, &head) {
                    // The arguments come first: read the header from the
                    // tail, decode them where they stand, and let the full
                    // read of the rest confirm the header before anything
                    // runs. Only a job to perform takes this path.
                    if let Resolved::Perform(entry, route) =
                        self.resolve(&Cow::Borrowed(job), version)
                    {
                        let dispatch = Dispatch {
                            scan: &mut scan,
                            head: &mut head,
                            payload,
                            inline: true,
                            tail: Some((job, version)),
                        };
                        return perform(entry, route, dispatch);
                    }
                }
            }
            if let Err(error) = scan.field(key, at, &mut head) {
                return settle(reject(*error, &mut head));
            }
        }
        if let Err(error) = scan.end() {
            return settle(reject(*error, &mut head));
        }
        let resolved = match (pending, &head.job, &head.version, head.args) {
            (_, None, _, _) => RejectError::MissingField { field: "job" },
            (_, _, None, _) => RejectError::MissingField { field: "version" },
            (_, _, _, None) => RejectError::MissingField { field: "args" },
            (Some(pending), ..) => {
                return self.finish(pending, scan, head, payload, perform, settle)
            }
            (None, Some(job), Some(version), Some(_)) => {
                let resolved = self.resolve(job, version);
                return self.finish(resolved, scan, head, payload, perform, settle);
            }
        };
        settle(reject(resolved, &mut head))
    }

    /// Acts on what the envelope resolved to, once it has been read whole.
    fn finish<'r, 'p, R>(
        &'r self,
        resolved: Resolved<'r, 'p>,
        mut scan: Scan<'p>,
        mut head: Head<'p>,
        payload: &'p [u8],
        perform: impl FnOnce(&'r Entry, Route, Dispatch<'_, 'p>) -> R,
        settle: impl FnOnce(Outcome<'p>) -> R,
    ) -> R {
        let meta = |head: &mut Head<'p>| head.meta.take().unwrap_or_default();
        let payload_cow = Cow::Borrowed(payload);
        match resolved {
            Resolved::Perform(entry, route) => {
                let dispatch = Dispatch {
                    scan: &mut scan,
                    head: &mut head,
                    payload,
                    inline: false,
                    tail: None,
                };
                perform(entry, route, dispatch)
            }
            Resolved::Defer(reason) => settle(Outcome::Deferred(Deferred {
                reason,
                meta: meta(&mut head),
                payload: payload_cow,
            })),
            Resolved::Discard(job) => settle(Outcome::Discarded(Discarded {
                job,
                meta: meta(&mut head),
                payload: payload_cow,
            })),
            Resolved::Reject(error) => settle(Outcome::Rejected(Box::new(Rejected {
                error,
                meta: meta(&mut head),
                payload: payload_cow,
            }))),
        }
    }

    /// The header, for arguments that come first: what was read before them,
    /// and the rest from the envelope's tail.
    #[inline]
    fn tail_header<'p>(&self, scan: &Scan<'p>, head: &Head<'p>) -> Option<(&'p str, &'p str)> {
        // Only plain strings qualify, so a name or version read with escapes
        // falls back to the full read.
        let known = |field: &Option<Cow<'p, str>>| match field {
            Some(Cow::Borrowed(text)) => Some(Some(*text)),
            Some(Cow::Owned(_)) => None,
            None => Some(None),
        };
        let (job, version) = (known(&head.job)?, known(&head.version)?);
        let (tail_job, tail_version) = scan.tail_header()?;
        let job = job.or((!tail_job.is_empty()).then_some(tail_job))?;
        let version = version.or((!tail_version.is_empty()).then_some(tail_version))?;
        Some((job, version))
    }

    /// Resolves a name and version. The version is checked for every name,
    /// retired and unknown ones included: a payload whose version is not
    /// semver is rejected, whatever its name.
    fn resolve<'a>(&self, job: &Cow<'a, str>, version: &str) -> Resolved<'_, 'a> {
        if job.is_empty() {
            return Resolved::Reject(RejectError::InvalidName {
                name: String::new(),
                reason: "a job name must not be empty",
            });
        }
        if job.len() > self.limits.max_name_bytes() {
            return Resolved::Reject(RejectError::InvalidName {
                name: quote(job),
                reason: "it is longer than `Limits::max_name_bytes`",
            });
        }
        let slot = self.names.get(job.as_ref()).copied();
        let (entry, via_alias) = match slot.and_then(|slot| self.slot(slot)) {
            Some(Ok((entry, via_alias))) => (entry, via_alias),
            Some(Err(tombstone)) => {
                return match parse_version(job, version, &self.limits) {
                    Ok(_) => Resolved::Discard(tombstone.name()),
                    Err(error) => Resolved::Reject(error),
                }
            }
            None => {
                // A name no release could register is garbage, not a job
                // from the future: deferring it would loop for ever.
                if let Err(reason) = check_name(job) {
                    return Resolved::Reject(RejectError::InvalidName {
                        name: quote(job),
                        reason,
                    });
                }
                return match parse_version(job, version, &self.limits) {
                    Ok(wire_version) => Resolved::Defer(DeferReason::UnknownJob {
                        job: job.clone(),
                        wire_version,
                    }),
                    Err(error) => Resolved::Reject(error),
                };
            }
        };
        let (wire, relation) = if version == entry.version_text {
            (entry.version.clone(), Relation::Same)
        } else {
            match parse_version(job, version, &self.limits) {
                Ok(wire) => {
                    let relation = Relation::between(&wire, &entry.version);
                    (wire, relation)
                }
                Err(error) => return Resolved::Reject(error),
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

    /// The job a slot leads to, or the tombstone.
    fn slot(&self, slot: Slot) -> Option<Result<(&Entry, bool), &Tombstone>> {
        match slot {
            Slot::Job { entry, via_alias } => self.entries.get(entry).map(|e| Ok((e, via_alias))),
            Slot::Retired(i) => self.tombstones.get(i).map(Err),
        }
    }
}

/// The span of a dispatch that reaches a handler, with every field known
/// before it runs but the outcome.
fn performing(entry: &Entry, route: &Route) -> Span {
    tracing::info_span!(
        "jobwire.dispatch",
        job.name = entry.name,
        job.wire_version = %route.wire,
        job.handler_version = entry.version_text.as_str(),
        job.upcast = route.relation == Relation::OlderLine,
        job.outcome = Empty,
    )
}

/// The span of a dispatch settled without a handler, every field at once.
fn settled(outcome: &Outcome<'_>) -> Span {
    let (name, wire) = match outcome {
        Outcome::Deferred(d) => (Some(d.reason.job()), Some(d.reason.wire_version())),
        Outcome::Discarded(d) => (Some(d.job), None),
        Outcome::Failed(f) => (Some(f.job), Some(&f.wire_version)),
        _ => (None, None),
    };
    tracing::info_span!(
        "jobwire.dispatch",
        job.name = name,
        job.wire_version = wire.map(tracing::field::display),
        job.handler_version = Empty,
        job.upcast = Empty,
        job.outcome = outcome.label(),
    )
}

/// The log line of an outcome that deserves one.
#[inline]
fn report(outcome: &Outcome<'_>) {
    match outcome {
        Outcome::Discarded(d) => {
            tracing::info!(job.name = d.job, "discarded a payload for a retired job")
        }
        Outcome::Rejected(r) => tracing::warn!(error = %r.error, "rejected a payload"),
        Outcome::Failed(f) => {
            tracing::warn!(job.name = f.job, error = %f.error, panicked = f.panicked, step = %f.step, "job failed")
        }
        _ => {}
    }
}

impl Entry {
    /// The report of a job performed through `route`, for readers that stop
    /// before the handler.
    #[cfg(feature = "testing")]
    pub(crate) fn report(&self, route: Route) -> crate::Performed {
        crate::Performed {
            job: self.name,
            wire_version: route.wire,
            handler_version: self.version.clone(),
            relation: route.relation,
            via_alias: route.via_alias,
        }
    }
}

impl<D> fmt::Debug for Router<D> {
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
            .field("lends", &std::any::type_name::<D>())
            .finish_non_exhaustive()
    }
}
