//! What a handler sees besides its arguments: the envelope's metadata, the
//! application state it declared, what the queue knows about this delivery,
//! and the data the worker lends it.

use crate::job::checkpoint::Checkpoint;
use crate::wire::{Meta, Progress, Relation};
use semver::Version;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime};

/// What the caller of a dispatch knows about this delivery of the payload:
/// the queue's attempt number and task id, when the queue first saw the job,
/// the deadline and cancellation signal of the worker, and the data it lends
/// the handler (`D`, such as the transaction the job was claimed in).
///
/// Every field is optional but the data; a bare `Delivery::new()` is what a
/// test or a simple loop passes.
///
/// ```
/// use jobwire::{Cancellation, Delivery};
/// use jobwire::context::TaskId;
/// use std::time::{Duration, Instant};
///
/// let stop = Cancellation::new();
/// let delivery = Delivery::new()
///     .with_attempt(3)
///     .with_task_id(TaskId::Int(1207))
///     .with_deadline(Instant::now() + Duration::from_secs(20))
///     .with_cancellation(stop.clone());
/// assert_eq!(delivery.attempt(), Some(3));
/// ```
pub struct Delivery<'a, D = ()> {
    pub(crate) info: Info<'a>,
    pub(crate) data: D,
}

/// The part of a [`Delivery`] a handler can read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Info<'a> {
    pub(crate) attempt: Option<u32>,
    pub(crate) defers: Option<u32>,
    pub(crate) task_id: Option<TaskId<'a>>,
    pub(crate) first_seen: Option<SystemTime>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancellation: Cancellation,
    pub(crate) checkpoint: Option<Arc<dyn Checkpoint>>,
    pub(crate) item_budget: Option<u64>,
}

impl fmt::Debug for dyn Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Checkpoint")
    }
}

impl Delivery<'static, ()> {
    /// A delivery with nothing known and no data lent.
    ///
    /// ```
    /// let delivery = jobwire::Delivery::new();
    /// assert_eq!(delivery.attempt(), None);
    /// ```
    pub fn new() -> Self {
        Delivery {
            info: Info::default(),
            data: (),
        }
    }
}

impl Default for Delivery<'static, ()> {
    fn default() -> Self {
        Delivery::new()
    }
}

impl<'a, D> Delivery<'a, D> {
    /// Lends `data` to the handlers of this dispatch: they reach it with
    /// [`Context::data`]. A job declares the type it borrows as
    /// [`Job::Data`](crate::Job::Data); the router checks, when it is built,
    /// that it lends that type.
    ///
    /// ```
    /// let delivery = jobwire::Delivery::new().with_data(vec![1u8]);
    /// assert_eq!(delivery.data(), &vec![1u8]);
    /// ```
    pub fn with_data<E>(self, data: E) -> Delivery<'a, E> {
        Delivery {
            info: self.info,
            data,
        }
    }

    /// Sets the queue's attempt number: how many attempts were already made.
    /// It wins over the envelope's `meta.attempt`, which the queue may never
    /// rewrite.
    ///
    /// ```
    /// assert_eq!(jobwire::Delivery::new().with_attempt(2).attempt(), Some(2));
    /// ```
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.info.attempt = Some(attempt);
        self
    }

    /// Sets how many times the queue put the job off without counting an
    /// attempt (deferred, snoozed, interrupted, released). It wins over the
    /// envelope's `meta.defers`.
    ///
    /// ```
    /// assert_eq!(jobwire::Delivery::new().with_defers(5).defers(), Some(5));
    /// ```
    pub fn with_defers(mut self, defers: u32) -> Self {
        self.info.defers = Some(defers);
        self
    }

    /// Sets the queue's id for this task.
    ///
    /// ```
    /// let d = jobwire::Delivery::new().with_task_id("msg-1");
    /// assert_eq!(d.task_id().map(|t| t.to_string()), Some("msg-1".to_owned()));
    /// ```
    pub fn with_task_id(mut self, task_id: impl Into<TaskId<'a>>) -> Self {
        self.info.task_id = Some(task_id.into());
        self
    }

    /// Sets when the queue first saw the job (or first made it runnable).
    ///
    /// ```
    /// let _ = jobwire::Delivery::new().with_first_seen(std::time::SystemTime::now());
    /// ```
    pub fn with_first_seen(mut self, at: SystemTime) -> Self {
        self.info.first_seen = Some(at);
        self
    }

    /// Sets the moment after which the worker abandons the job.
    ///
    /// ```
    /// let _ = jobwire::Delivery::new().with_deadline(std::time::Instant::now());
    /// ```
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.info.deadline = Some(deadline);
        self
    }

    /// Sets the signal the worker fires when it wants the job to stop at its
    /// next safe point.
    ///
    /// ```
    /// let _ = jobwire::Delivery::new().with_cancellation(jobwire::Cancellation::new());
    /// ```
    pub fn with_cancellation(mut self, cancellation: Cancellation) -> Self {
        self.info.cancellation = cancellation;
        self
    }

    /// Sets where an iterable job saves its progress while it runs (the
    /// queue, for this claim). jobwire's worker sets it.
    ///
    /// ```
    /// # use jobwire::context::{Checkpoint, CheckpointError};
    /// # struct Nowhere;
    /// # impl Checkpoint for Nowhere {
    /// #     fn save<'a>(&'a self, _: &'a [u8], _: &'a mut (dyn std::any::Any + Send))
    /// #         -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CheckpointError>> + Send + 'a>> {
    /// #         Box::pin(async { Ok(()) })
    /// #     }
    /// # }
    /// let delivery = jobwire::Delivery::new().with_checkpoint(std::sync::Arc::new(Nowhere));
    /// ```
    pub fn with_checkpoint(mut self, checkpoint: Arc<dyn Checkpoint>) -> Self {
        self.info.checkpoint = Some(checkpoint);
        self
    }

    /// Lets an iterable job perform at most `items` items in this dispatch
    /// before it stops at a checkpoint, as if its run time were up: for
    /// tests that interrupt a job at chosen points, and for spreading a
    /// large job's work.
    ///
    /// ```
    /// let delivery = jobwire::Delivery::new().with_item_budget(100);
    /// ```
    pub fn with_item_budget(mut self, items: u64) -> Self {
        self.info.item_budget = Some(items);
        self
    }

    /// The queue's attempt number, if given.
    ///
    /// ```
    /// assert_eq!(jobwire::Delivery::new().attempt(), None);
    /// ```
    pub fn attempt(&self) -> Option<u32> {
        self.info.attempt
    }

    /// The queue's count of times the job was put off, if given.
    ///
    /// ```
    /// assert_eq!(jobwire::Delivery::new().defers(), None);
    /// ```
    pub fn defers(&self) -> Option<u32> {
        self.info.defers
    }

    /// The queue's task id, if given.
    ///
    /// ```
    /// assert!(jobwire::Delivery::new().task_id().is_none());
    /// ```
    pub fn task_id(&self) -> Option<&TaskId<'a>> {
        self.info.task_id.as_ref()
    }

    /// The data lent to handlers.
    ///
    /// ```
    /// assert_eq!(jobwire::Delivery::new().with_data(5).data(), &5);
    /// ```
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The data lent to handlers, mutably.
    ///
    /// ```
    /// let mut d = jobwire::Delivery::new().with_data(5);
    /// *d.data_mut() += 1;
    /// assert_eq!(d.into_data(), 6);
    /// ```
    pub fn data_mut(&mut self) -> &mut D {
        &mut self.data
    }

    /// Takes the data back.
    ///
    /// ```
    /// assert_eq!(jobwire::Delivery::new().with_data("tx").into_data(), "tx");
    /// ```
    pub fn into_data(self) -> D {
        self.data
    }
}

impl<D> fmt::Debug for Delivery<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A queue's id for a task: a number or a string.
///
/// ```
/// use jobwire::context::TaskId;
/// assert_eq!(TaskId::Int(7).to_string(), "7");
/// assert_eq!(TaskId::from("01JD6ZQ3").to_string(), "01JD6ZQ3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskId<'a> {
    /// A numeric id, such as a database row's.
    Int(i64),
    /// Any other id.
    Str(&'a str),
}

impl fmt::Display for TaskId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Int(id) => write!(f, "{id}"),
            TaskId::Str(id) => f.write_str(id),
        }
    }
}

impl From<i64> for TaskId<'_> {
    fn from(id: i64) -> Self {
        TaskId::Int(id)
    }
}

impl<'a> From<&'a str> for TaskId<'a> {
    fn from(id: &'a str) -> Self {
        TaskId::Str(id)
    }
}

/// A signal a worker fires when it wants running jobs to stop at their next
/// safe point: it is shutting down, or a deploy gate is closing. Cheap to
/// clone; every clone sees the same signal. It needs no runtime: `cancelled`
/// is a plain future that any executor can await.
///
/// ```
/// let signal = jobwire::Cancellation::new();
/// let seen_by_job = signal.clone();
/// assert!(!seen_by_job.is_cancelled());
/// signal.cancel();
/// assert!(seen_by_job.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct Cancellation(Option<Arc<Signal>>);

#[derive(Default)]
struct Signal {
    fired: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    deadline: Mutex<Option<Instant>>,
}

impl Cancellation {
    /// A signal that has not fired.
    ///
    /// ```
    /// assert!(!jobwire::Cancellation::new().is_cancelled());
    /// ```
    pub fn new() -> Self {
        Cancellation(Some(Arc::new(Signal::default())))
    }

    /// Fires the signal: every clone sees it, and every task awaiting
    /// [`cancelled`](Cancellation::cancelled) wakes.
    ///
    /// ```
    /// let signal = jobwire::Cancellation::new();
    /// signal.cancel();
    /// signal.cancel(); // idempotent
    /// assert!(signal.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        let Some(signal) = &self.0 else { return };
        let wakers = {
            let mut wakers = signal.wakers.lock().unwrap_or_else(|e| e.into_inner());
            signal.fired.store(true, Ordering::Release);
            std::mem::take(&mut *wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Fires the signal, saying by when the job must be done: after that,
    /// the worker abandons it (and puts it back without counting an
    /// attempt). Handlers read it as [`Context::deadline`].
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let signal = jobwire::Cancellation::new();
    /// let by = Instant::now() + Duration::from_secs(20);
    /// signal.cancel_by(by);
    /// assert_eq!(signal.deadline(), Some(by));
    /// ```
    pub fn cancel_by(&self, deadline: Instant) {
        if let Some(signal) = &self.0 {
            *signal.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(deadline);
        }
        self.cancel();
    }

    /// The deadline given by [`cancel_by`](Cancellation::cancel_by), if any.
    ///
    /// ```
    /// assert_eq!(jobwire::Cancellation::new().deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        let signal = self.0.as_ref()?;
        *signal.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The flag the signal sets, for a loop that checks it after every
    /// item: one load instead of a walk through the context.
    #[inline]
    pub(crate) fn flag(&self) -> Option<&AtomicBool> {
        self.0.as_deref().map(|signal| &signal.fired)
    }

    /// Whether the signal has fired.
    ///
    /// ```
    /// assert!(!jobwire::Cancellation::default().is_cancelled());
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|signal| signal.fired.load(Ordering::Acquire))
    }

    /// Resolves once the signal fires; never, for a default (detached)
    /// signal.
    ///
    /// ```
    /// use std::future::Future;
    /// let signal = jobwire::Cancellation::new();
    /// signal.cancel();
    /// let waker = std::task::Waker::noop();
    /// let mut cx = std::task::Context::from_waker(waker);
    /// let mut fut = std::pin::pin!(signal.cancelled());
    /// assert!(fut.as_mut().poll(&mut cx).is_ready());
    /// ```
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(move |cx| {
            let Some(signal) = &self.0 else {
                return Poll::Pending;
            };
            if signal.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            let mut wakers = signal.wakers.lock().unwrap_or_else(|e| e.into_inner());
            if signal.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

impl Cancellation {
    /// Resolves once the signal fires, owning a clone of it: a `'static`
    /// future, to hand to code that needs one (a worker's shutdown, say).
    ///
    /// ```
    /// let stop = jobwire::Cancellation::new();
    /// let shutdown = stop.clone().cancelled_owned();
    /// stop.cancel();
    /// # let _ = shutdown;
    /// ```
    pub async fn cancelled_owned(self) {
        self.cancelled().await
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The context of one dispatch, handed to [`Job::perform`](crate::Job::perform):
/// the envelope's metadata, the application state `S` the job declared, what
/// the queue knows about this delivery, and the data `D` the worker lends.
///
/// Every accessor is typed: the state is the job's [`Job::State`](crate::Job::State)
/// and the data its [`Job::Data`](crate::Job::Data), both checked when the
/// router is built, so none of them can fail while a job runs.
///
/// ```
/// use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Router};
/// use jobwire::context::TaskId;
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// struct Mailer { sent: AtomicU64 }
///
/// #[derive(Serialize, Deserialize)]
/// struct Welcome { user_id: u64 }
///
/// impl Job for Welcome {
///     const NAME: &'static str = "user.welcome";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = Mailer;
///     type Data = ();
///     async fn perform(self, ctx: &mut Context<'_, Mailer>) -> Result<(), HandlerError> {
///         ctx.state().sent.fetch_add(1, Ordering::Relaxed);
///         assert_eq!(ctx.attempt(), 3);
///         assert_eq!(ctx.task_id(), Some(TaskId::Int(12)));
///         Ok(())
///     }
/// }
///
/// let router = Router::builder()
///     .job::<Welcome>()
///     .state(Mailer { sent: AtomicU64::new(0) })
///     .build()?;
/// let payload = br#"{"job":"user.welcome","version":"1.0.0","args":{"user_id":1}}"#;
/// let mut delivery = Delivery::new().with_attempt(3).with_task_id(TaskId::Int(12));
/// assert!(router.dispatch_blocking(payload, &mut delivery).is_performed());
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
pub struct Context<'a, S = (), D = ()> {
    pub(crate) job: &'static str,
    pub(crate) wire_version: &'a Version,
    pub(crate) relation: Relation,
    pub(crate) meta: &'a Meta<'a>,
    pub(crate) state: &'a S,
    pub(crate) data: &'a mut D,
    pub(crate) info: &'a Info<'a>,
    /// The payload as dispatched, for an iterable job's checkpoints.
    pub(crate) payload: &'a [u8],
    pub(crate) progress: Option<&'a Progress<'a>>,
}

impl<'a, S, D> Context<'a, S, D> {
    /// The job's current name.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.job_name(), "ping");
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn job_name(&self) -> &'static str {
        self.job
    }

    /// The version the payload was written at.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.wire_version(), &semver::Version::new(1, 0, 0));
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn wire_version(&self) -> &'a Version {
        self.wire_version
    }

    /// How the payload's version relates to the handler's.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::wire::Relation;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.relation(), Relation::OlderCompatible);
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn relation(&self) -> Relation {
        self.relation
    }

    /// The envelope's metadata; empty when the payload had none.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.meta().id(), Some("j-1"));
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"id":"j-1"}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn meta(&self) -> &'a Meta<'a> {
        self.meta
    }

    /// The application state the job declared as [`Job::State`](crate::Job::State).
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = String; type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_, String>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.state(), "postgres://");
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().state(String::from("postgres://")).build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn state(&self) -> &'a S {
        self.state
    }

    /// The data the worker lends this dispatch, declared as
    /// [`Job::Data`](crate::Job::Data): on the PostgreSQL worker, the
    /// transaction the acknowledgement will commit in.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = Vec<String>;
    /// async fn perform(self, ctx: &mut Context<'_, (), Vec<String>>) -> Result<(), HandlerError> {
    ///     ctx.data().push("pinged".into());
    ///     Ok(())
    /// }
    /// # }
    /// let router = Router::builder().lending::<Vec<String>>().job::<Ping>().build()?;
    /// let mut delivery = Delivery::new().with_data(Vec::new());
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut delivery).is_performed());
    /// assert_eq!(delivery.into_data(), ["pinged"]);
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn data(&mut self) -> &mut D {
        self.data
    }

    /// How many attempts were made before this one: **0 on the first run**,
    /// 1 on the first retry (the queue's count, or the envelope's
    /// `meta.attempt` when the caller gave none). jobwire counts from 0, as
    /// its queues store it; add 1 for a 1-based "attempt N of M" in a
    /// message.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.attempt(), 4);
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"attempt":1}}"#, &mut Delivery::new().with_attempt(4)).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn attempt(&self) -> u32 {
        self.info.attempt.unwrap_or(self.meta.attempt())
    }

    /// How many times the job was put off before this delivery without
    /// counting an attempt (deferred for another release, snoozed,
    /// interrupted, released at shutdown): the queue's count, or the
    /// envelope's `meta.defers` when the caller gave none.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.defers(), 2);
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"defers":2}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn defers(&self) -> u32 {
        self.info.defers.unwrap_or(self.meta.defers())
    }

    /// An iterable job's progress, as the payload carries it: `None` for a
    /// job that has not started (or is not iterable).
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.progress().map(|p| p.items()), Some(42));
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # let payload = br#"{"job":"ping","version":"1.0.0","args":{},"progress":{"cursor":7,"items":42,"elapsed_ms":0,"interruptions":1}}"#;
    /// # assert!(router.dispatch_blocking(payload, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn progress(&self) -> Option<&'a Progress<'a>> {
        self.progress
    }

    /// The payload as it was dispatched.
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The dispatch's checkpoint, and the item budget.
    pub(crate) fn info(&self) -> &'a Info<'a> {
        self.info
    }

    /// The lent data, erased, for a checkpoint.
    pub(crate) fn data_any(&mut self) -> &mut (dyn std::any::Any + Send)
    where
        D: Send + 'static,
    {
        self.data
    }

    /// The queue's id for this task, if the caller gave one.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::context::TaskId;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.task_id(), Some(TaskId::Str("m-9")));
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new().with_task_id("m-9")).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn task_id(&self) -> Option<TaskId<'a>> {
        self.info.task_id
    }

    /// When the queue first saw the job, if the caller said.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert!(ctx.first_seen().is_none());
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn first_seen(&self) -> Option<SystemTime> {
        self.info.first_seen
    }

    /// When the worker will abandon the job (and put it back without
    /// counting an attempt), if it has set a deadline: given with the
    /// delivery, or with the cancellation when the worker shuts down.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert!(ctx.deadline().is_none());
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.info
            .deadline
            .or_else(|| self.info.cancellation.deadline())
    }

    /// Whether the worker wants the job to stop at its next safe point
    /// (shutdown, or a deploy gate closing). A job may still finish before
    /// [`deadline`](Context::deadline); to stop now, return
    /// `Err(HandlerError::snooze(Duration::ZERO))`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     assert!(ctx.is_cancelled());
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// let stop = Cancellation::new();
    /// stop.cancel();
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new().with_cancellation(stop)).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.info.cancellation.is_cancelled()
    }

    /// Resolves when the worker wants the job to stop: `select!` on it
    /// around long awaits.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     ctx.cancelled().await; // already fired below
    ///     Err(HandlerError::snooze(std::time::Duration::ZERO))
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// let stop = Cancellation::new();
    /// stop.cancel();
    /// let outcome = router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#,
    ///     &mut Delivery::new().with_cancellation(stop));
    /// assert!(matches!(outcome, Outcome::Snoozed(_)));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'a {
        self.info.cancellation.cancelled()
    }

    /// The cancellation signal itself, to hand to code that outlives a borrow
    /// of the context.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
    ///     let signal: Cancellation = ctx.cancellation().clone();
    ///     assert!(!signal.is_cancelled());
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch_blocking(br#"{"job":"ping","version":"1.0.0","args":{}}"#, &mut Delivery::new()).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn cancellation(&self) -> &'a Cancellation {
        &self.info.cancellation
    }
}

impl<S, D> fmt::Debug for Context<'_, S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("job", &self.job)
            .field("wire_version", &self.wire_version)
            .field("relation", &self.relation)
            .field("meta", &self.meta)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
