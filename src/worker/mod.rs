//! The worker: claims jobs from a [`Backend`], dispatches them, and settles
//! each with exactly one queue operation (feature `worker`).
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jobwire::backend::sqlite::Sqlite;
//! use jobwire::worker::{shutdown_signal, Worker};
//!
//! let queue = Sqlite::open("jobs.db").await?;
//! let report = Worker::from_registry(queue)?
//!     .concurrency(8)
//!     .run(shutdown_signal())
//!     .await;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! What it does with each outcome:
//!
//! | outcome | settlement | attempt |
//! | --- | --- | --- |
//! | performed, discarded | acknowledge (in the lent transaction, if any) | - |
//! | deferred, within the deploy window | reschedule after a backoff with jitter | not counted |
//! | deferred, past the deploy window | dead-letter, naming the job, version, age and the fix | - |
//! | snoozed | reschedule after the handler's delay | not counted |
//! | interrupted (iterable job) | reschedule with the new progress | not counted |
//! | failed, retryable | retry after the handler's delay or the backoff; dead-letter after the last attempt | counted |
//! | failed, permanent; panicked; rejected | dead-letter with the reason and the bytes | - |
//!
//! **Leases.** Every claim holds a lease, renewed every third of it while the
//! job runs, and until the last job in flight is settled during shutdown,
//! not just until shutdown starts (procrastinate #1585 and db-scheduler #368
//! are that bug). A job whose claim was lost (its lease ran out while this
//! worker stalled, and another worker claimed it) is told to stop through
//! its cancellation signal, and its settlement is refused by the fence.
//!
//! **Shutdown.** When the shutdown future resolves, the worker stops
//! claiming, fires every running job's cancellation signal with the
//! deadline (so iterable jobs checkpoint at their next item), and waits for
//! them within the shutdown budget: 20 seconds by default, inside the 30
//! that Kubernetes and Heroku give between SIGTERM and SIGKILL, with room to
//! write. A job still running at the deadline is abandoned and put back,
//! runnable at once, without counting an attempt. No claimed job is lost,
//! and none is left locked.
//!
//! **Metrics** (feature `metrics`), through the [`metrics`](https://docs.rs/metrics) facade: install
//! any exporter (Prometheus, OpenTelemetry, StatsD) and the worker reports
//! to it; with none installed, each call is a load and a branch. Names
//! follow OpenTelemetry's messaging conventions where they have one.
//! `jobwire.job` is a name the router knows (an alias counts under its
//! job), or `unknown`; `jobwire.version.line` is a line the router reads
//! (`2.x`), or `other`. A label never carries what a producer wrote, so
//! hostile payloads cannot grow the number of series, and the worker
//! registers each series once and keeps its handle: a report is an atomic
//! add. Install the recorder before the worker starts.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `messaging.client.consumed.messages` | counter | `messaging.system` (`jobwire`), `messaging.destination.name` (the queue), `messaging.operation.name` (`process`) | payloads claimed and handed to the router |
//! | `messaging.process.duration` | histogram, s | `messaging.system`, `messaging.destination.name`, `jobwire.job` | decoding, upcasting and performing one payload |
//! | `jobwire.jobs.settled` | counter | `jobwire.job`, `jobwire.version.line`, `jobwire.outcome` | claims settled, per outcome: `performed`, `deferred`, `snoozed`, `interrupted`, `discarded`, `retried`, `dead_lettered`, `released`, `fenced` |
//! | `jobwire.queue.wait` | histogram, s | `messaging.destination.name`, `jobwire.job` | from the payload's `meta.enqueued_at` to the start of its dispatch |
//! | `jobwire.settle.duration` | histogram, s | `jobwire.settlement` (`ack`, `reschedule`, `retry`, `dead-letter`) | the queue's round trip for a settlement |
//! | `jobwire.worker.busy` | gauge | `jobwire.worker` | claims in flight: performing, or being settled (at most twice the concurrency) |

mod gating;
#[cfg(feature = "metrics")]
mod measure;
mod policy;
mod signal;

pub use policy::{DeferPolicy, RetryPolicy};
pub use signal::shutdown_signal;

use crate::backend::{Backend, Claim, ClaimRequest, SettleError, Settlement, Wait, DEFAULT_QUEUE};
use crate::context::{Checkpoint, CheckpointError};
use crate::gate::{Gate, Gated, NoGate};
use crate::wire::Header;
use crate::{Cancellation, Delivery, Outcome, RegistryError, Router};
use gating::{Gating, Running, Slot, GATE_EVERY};
use policy::{decide, Facts};
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinSet;
use tracing::Instrument;

/// A worker for the jobs of one router, on one backend. See the [module
/// docs](self).
///
/// ```no_run
/// # #[cfg(feature = "sqlite")]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobwire::worker::{DeferPolicy, Worker};
/// use std::time::Duration;
///
/// let queue = jobwire::backend::sqlite::Sqlite::open("jobs.db").await?;
/// let worker = Worker::from_registry(queue)?
///     .queues(["default", "mail"])
///     .concurrency(16)
///     .lease(Duration::from_secs(60))
///     .shutdown_budget(Duration::from_secs(20))
///     .deferral(DeferPolicy::default().with_window(Duration::from_secs(30 * 60)));
/// let stop = jobwire::Cancellation::new();
/// let report = worker.run(stop.clone().cancelled_owned()).await;
/// # Ok(())
/// # }
/// ```
pub struct Worker<B: Backend, G: Gate = NoGate> {
    backend: Arc<B>,
    router: Arc<Router<B::Data>>,
    config: Config,
    gate: Arc<G>,
}

#[derive(Debug, Clone)]
struct Config {
    name: String,
    queues: Vec<String>,
    concurrency: usize,
    lease: Duration,
    poll: Duration,
    shutdown_budget: Duration,
    resume_delay: Duration,
    defer: DeferPolicy,
    retry: RetryPolicy,
    gated: Gated,
    isolate: bool,
    /// The router's names, for the metrics' labels.
    #[cfg(feature = "metrics")]
    labels: Arc<measure::Labels>,
}

impl<B: Backend> Worker<B> {
    /// A worker for `router`'s jobs on `backend`. The router may be shared
    /// (`Arc<Router>`), with other workers or with code that reads its state
    /// and [counts](Router::counts) while it runs.
    ///
    /// ```no_run
    /// # #[cfg(feature = "sqlite")]
    /// # async fn demo(router: jobwire::Router) -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = jobwire::backend::sqlite::Sqlite::open("jobs.db").await?;
    /// let worker = jobwire::worker::Worker::new(queue, router);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(backend: B, router: impl Into<Arc<Router<B::Data>>>) -> Self {
        let router = router.into();
        Worker {
            backend: Arc::new(backend),
            #[cfg(feature = "metrics")]
            config: Config {
                labels: Arc::new(measure::Labels::new(&router)),
                ..Config::new()
            },
            #[cfg(not(feature = "metrics"))]
            config: Config::new(),
            router,
            gate: Arc::new(NoGate),
        }
    }
}

impl Config {
    /// The defaults.
    fn new() -> Config {
        Config {
            name: format!("{}-{}", hostname(), std::process::id()),
            queues: vec![DEFAULT_QUEUE.to_owned()],
            concurrency: 8,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            shutdown_budget: Duration::from_secs(20),
            resume_delay: Duration::from_secs(1),
            defer: DeferPolicy::default(),
            retry: RetryPolicy::default(),
            gated: Gated::Jobs(Vec::new()),
            isolate: true,
            #[cfg(feature = "metrics")]
            labels: Arc::new(measure::Labels::default()),
        }
    }
}

impl<B: Backend> Worker<B> {
    /// A worker for every job registered with `register!`, lending what the
    /// backend lends.
    ///
    /// ```no_run
    /// # #[cfg(feature = "sqlite")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = jobwire::backend::sqlite::Sqlite::open("jobs.db").await?;
    /// let worker = jobwire::worker::Worker::from_registry(queue)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_registry(backend: B) -> Result<Self, RegistryError> {
        let router = Router::builder()
            .lending::<B::Data>()
            .registered()
            .build()?;
        Ok(Worker::new(backend, router))
    }
}

impl<B: Backend, G: Gate> Worker<B, G> {
    /// Consults `gate` before claiming `gated` jobs: while a deployer has it
    /// closed (or is closing it), the worker claims none of them, fires the
    /// cancellation of those it is running (iterable jobs checkpoint and
    /// yield at their next item), and gives its pass back when the last has
    /// finished. Other jobs run on. See [`gate`](crate::gate).
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// use jobwire::gate::{file::FileGate, Gated};
    /// let worker = worker.gate(FileGate::new("/var/run/app/jobs.gate"), Gated::All);
    /// # }
    /// ```
    pub fn gate<H: Gate>(self, gate: H, gated: Gated) -> Worker<B, H> {
        Worker {
            backend: self.backend,
            router: self.router,
            config: Config {
                gated,
                ..self.config
            },
            gate: Arc::new(gate),
        }
    }

    /// Names the worker, for logs and the queue's `worker` column (default:
    /// the host name and the process id).
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.name("mailer-1");
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// The queues to claim from (default: `default`).
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.queues(["default", "reports"]);
    /// # }
    /// ```
    pub fn queues<I: IntoIterator<Item = S>, S: Into<String>>(mut self, queues: I) -> Self {
        self.config.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// How many jobs run at once (default 8): handlers performing.
    ///
    /// A job's slot frees when its handler returns, so the next claim
    /// overlaps the settlement of the job before it. A worker therefore
    /// holds at most twice this many claims: those performing, and those
    /// whose settlement (an acknowledgement, a retry) is on its way.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.concurrency(32);
    /// # }
    /// ```
    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.config.concurrency = jobs.max(1);
        self
    }

    /// How long a claim holds without renewal (default 30 s); it is renewed
    /// every third of that while the job runs.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.lease(std::time::Duration::from_secs(60));
    /// # }
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How long an idle worker waits before looking for work again, when the
    /// backend cannot notify it (default 1 s).
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.poll_interval(std::time::Duration::from_millis(200));
    /// # }
    /// ```
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll = interval;
        self
    }

    /// How long running jobs get to finish once shutdown begins (default
    /// 20 s, inside the 30 s of Kubernetes and Heroku).
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.shutdown_budget(std::time::Duration::from_secs(8));
    /// # }
    /// ```
    pub fn shutdown_budget(mut self, budget: Duration) -> Self {
        self.config.shutdown_budget = budget;
        self
    }

    /// How long an interrupted iterable job waits before it resumes
    /// (default 1 s): long enough that the same worker does not pick up its
    /// own stale copy (job-iteration #341).
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.resume_delay(std::time::Duration::from_millis(500));
    /// # }
    /// ```
    pub fn resume_delay(mut self, delay: Duration) -> Self {
        self.config.resume_delay = delay;
        self
    }

    /// How payloads only another release can perform are deferred.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// use std::time::Duration;
    /// let worker = worker.deferral(jobwire::worker::DeferPolicy::default().with_window(Duration::from_secs(600)));
    /// # }
    /// ```
    pub fn deferral(mut self, policy: DeferPolicy) -> Self {
        self.config.defer = policy;
        self
    }

    /// Whether each job runs on a thread of tokio's blocking pool (the
    /// default) or as a task on the runtime's own threads.
    ///
    /// On its own thread, a job that never yields (a handler that computes
    /// for a minute without an `.await`, a blocking call) holds only that
    /// thread. As a task, it holds one of the runtime's threads, and tokio
    /// cannot then promise that anything else runs: timers, sockets and
    /// signals may wait for it, so SIGTERM goes unheard and the shutdown
    /// budget cannot be kept. The price of the default is a hand-off to
    /// another thread per job; `false` saves it for handlers that are known
    /// to await, never block.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.isolate_jobs(false);
    /// # }
    /// ```
    pub fn isolate_jobs(mut self, isolate: bool) -> Self {
        self.config.isolate = isolate;
        self
    }

    /// How failing jobs are retried.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let worker = worker.retries(jobwire::worker::RetryPolicy::default().with_max_attempts(5));
    /// # }
    /// ```
    pub fn retries(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// The backend.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let queue = worker.backend().clone();
    /// # }
    /// ```
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The router.
    ///
    /// ```no_run
    /// # fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let manifest = worker.router().manifest();
    /// # }
    /// ```
    pub fn router(&self) -> &Router<B::Data> {
        &self.router
    }

    /// Runs until `shutdown` resolves, then shuts down within the budget, and
    /// reports what it did. Backend errors are logged and retried with a
    /// backoff: a database restart pauses the worker, it does not end it.
    ///
    /// ```no_run
    /// # async fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let report = worker.run(jobwire::worker::shutdown_signal()).await;
    /// println!("{report}");
    /// # }
    /// ```
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Report {
        self.work(shutdown, false).await
    }

    /// Performs what is runnable now, then returns (with the same shutdown
    /// as [`run`](Worker::run), at once): for tests, one-off tasks, and a
    /// queue's backlog in CI. A job deferred or retried for later is left
    /// for later.
    ///
    /// ```no_run
    /// # async fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
    /// let report = worker.drain().await;
    /// assert_eq!(report.dead_lettered, 0);
    /// # }
    /// ```
    pub async fn drain(self) -> Report {
        self.work(std::future::pending(), true).await
    }

    async fn work(self, shutdown: impl Future<Output = ()> + Send, until_idle: bool) -> Report {
        let Worker {
            backend,
            router,
            config,
            gate,
        } = self;
        let mut gating = Gating::new(gate, config.gated.clone());
        let skipped_names: Vec<String> = gating.skipped().into_iter().map(str::to_owned).collect();
        let skipped: Vec<&str> = skipped_names.iter().map(String::as_str).collect();
        let config = Arc::new(config);
        let running: Running<B::Key> = Arc::default();
        let keeper_stop = Cancellation::new();
        let keeper = tokio::spawn(keep_leases(
            Arc::clone(&backend),
            Arc::clone(&running),
            config.lease,
            keeper_stop.clone(),
        ));
        let mut crew = Crew {
            backend: Arc::clone(&backend),
            router,
            config: Arc::clone(&config),
            tally: Arc::new(Tally::default()),
            running: Arc::clone(&running),
            jobs: JoinSet::new(),
            runtime: tokio::runtime::Handle::current(),
            abort: Cancellation::new(),
            next_id: 0,
            recheck: Recheck::default(),
            performing: Performing::default(),
        };
        // After a failed claim: how long to wait, doubling while it fails.
        let mut backoff = Duration::ZERO;
        let mut paused = false;
        let batch = config.concurrency.max(1);
        let mut free_since: Option<Instant> = None;
        let mut queue_busy = false;
        let mut shutdown = std::pin::pin!(shutdown);
        // One poll before the first claim: a shutdown future that installs
        // signal handlers (`shutdown_signal`) installs them now, so an early
        // SIGTERM stops the worker gracefully instead of killing it.
        let mut stopping = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(shutdown.as_mut().poll(cx).is_ready())
        })
        .await;
        let queues: Vec<&str> = config.queues.iter().map(String::as_str).collect();
        tracing::info!(worker = %config.name, queues = ?queues, concurrency = config.concurrency, "jobwire worker started");
        #[cfg(feature = "metrics")]
        let mut busy_was = usize::MAX;
        while !stopping {
            crew.reap();
            #[cfg(feature = "metrics")]
            if crew.jobs.len() != busy_was {
                busy_was = crew.jobs.len();
                config.labels.busy(&config.name, busy_was);
            }
            // A slot frees when its handler returns: the next claim overlaps
            // the settlement of the job before, and at most as many jobs
            // again as run at once wait for their settlement.
            let free = config
                .concurrency
                .saturating_sub(crew.performing.count())
                .min((2 * config.concurrency).saturating_sub(crew.jobs.len()));
            if free == 0 {
                free_since = None;
            } else if free_since.is_none() {
                free_since = Some(Instant::now());
            }
            // While the queue is busy, a slot that just freed waits a moment
            // (at most `COALESCE`) for the others, so that one claim fetches
            // a batch instead of one claim a job; an idle worker, or one with
            // every slot free, claims at once.
            let batching = queue_busy
                && free < batch
                && free_since.is_some_and(|since| since.elapsed() < COALESCE);
            // The gate: see `gating`.
            let open = gating.look(&running, &config.name).await;
            let all_gated = !open && gating.all();
            let mut claimed = false;
            if free > 0 && !paused && !batching && !all_gated {
                let mut request = ClaimRequest::new(&queues, free, config.lease, &config.name);
                if !open {
                    request = request.skipping(&skipped);
                }
                free_since = None;
                match backend.claim(&request).await {
                    Ok(claims) => {
                        backoff = Duration::ZERO;
                        claimed = !claims.is_empty();
                        queue_busy = claims.len() == free;
                        if until_idle && claims.is_empty() && crew.jobs.is_empty() {
                            break;
                        }
                        for claim in claims {
                            let gated = gating.all()
                                || (gating.active()
                                    && Header::read(&claim.payload)
                                        .is_ok_and(|header| gating.covers(header.job())));
                            crew.start(claim, gated);
                        }
                    }
                    Err(error) => {
                        backoff =
                            (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                        paused = true;
                        // The claim may have taken rows before its answer was
                        // lost: they come back when their lease runs out.
                        crew.recheck.after(config.lease);
                        tracing::warn!(%error, retry_in = ?backoff, "jobwire worker could not claim");
                    }
                }
            }
            if claimed {
                continue;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => stopping = true,
                Some(done) = crew.jobs.join_next(), if !crew.jobs.is_empty() => {
                    if let Err(error) = done {
                        tracing::error!(%error, "a job task ended abnormally");
                    }
                }
                () = crew.performing.freed(), if !crew.jobs.is_empty() => {}
                () = backend.wait(config.poll), if free > 0 && !paused && !batching => {}
                () = tokio::time::sleep(backoff), if paused => paused = false,
                () = tokio::time::sleep(COALESCE), if batching => {}
                // A lease that runs out wakes nobody: look when it has.
                () = crew.recheck.due(), if crew.recheck.is_set() && free > 0 => {}
                // With a pass, or paused: look at the gate again soon.
                () = tokio::time::sleep(GATE_EVERY), if gating.watching() => {}
            }
        }
        let tally = Arc::clone(&crew.tally);
        crew.shut_down().await;
        // No job of this worker runs any more: the pass goes back.
        gating.leave(&config.name).await;
        // The leases are kept until every claim is settled, not one moment less.
        keeper_stop.cancel();
        let _ = keeper.await;
        backend.flush().await;
        let report = tally.report();
        tracing::info!(worker = %config.name, %report, "jobwire worker stopped");
        report
    }
}

/// The jobs a worker runs: each claimed job started on its own task (or a
/// thread of the blocking pool), and the shutdown that stops them within the
/// budget and puts back what has not finished.
struct Crew<B: Backend> {
    backend: Arc<B>,
    router: Arc<Router<B::Data>>,
    config: Arc<Config>,
    tally: Arc<Tally>,
    running: Running<B::Key>,
    jobs: JoinSet<()>,
    runtime: tokio::runtime::Handle,
    /// Fired at the shutdown deadline: jobs on blocking threads stop at
    /// their next await, as aborted tasks do.
    abort: Cancellation,
    next_id: u64,
    /// When a job may have become claimable with no notification to say so.
    recheck: Recheck,
    /// The jobs whose handler has not returned yet.
    performing: Performing,
}

impl<B: Backend> Crew<B> {
    /// Collects the jobs that ended.
    fn reap(&mut self) {
        while let Some(done) = self.jobs.try_join_next() {
            if let Err(error) = done {
                tracing::error!(%error, "a job task ended abnormally");
            }
        }
    }

    /// Starts a claimed job: it is dispatched, then settled, on its own.
    fn start(&mut self, claim: Claim<B::Key>, gated: bool) {
        self.next_id += 1;
        let cancel = Cancellation::new();
        if let Ok(mut running) = self.running.lock() {
            running.insert(
                self.next_id,
                Slot {
                    key: claim.key.clone(),
                    cancel: cancel.clone(),
                    gated,
                    settling: false,
                },
            );
        }
        let job = perform(
            Arc::clone(&self.backend),
            Arc::clone(&self.router),
            Arc::clone(&self.config),
            Arc::clone(&self.tally),
            Arc::clone(&self.running),
            self.next_id,
            claim,
            cancel,
            self.recheck.clone(),
            self.performing.enter(),
        );
        if self.config.isolate {
            // On a thread of the blocking pool: a job that never yields
            // holds that thread, never one of the runtime's, which drive
            // every timer and socket (the shutdown's among them).
            let (handle, abort) = (self.runtime.clone(), self.abort.clone());
            self.jobs.spawn_blocking(move || {
                handle.block_on(async move {
                    tokio::select! {
                        biased;
                        () = abort.cancelled() => {}
                        () = job => {}
                    }
                });
            });
        } else {
            self.jobs.spawn(job);
        }
    }

    /// Shutdown: tells every running job, waits within the budget, and puts
    /// back what has not finished.
    async fn shut_down(mut self) {
        let config = &self.config;
        let deadline = Instant::now() + config.shutdown_budget;
        tracing::info!(worker = %config.name, running = self.jobs.len(), budget = ?config.shutdown_budget, "jobwire worker shutting down");
        if let Ok(running) = self.running.lock() {
            for slot in running.values() {
                slot.cancel.cancel_by(deadline);
            }
        }
        let tokio_deadline = tokio::time::Instant::from_std(deadline);
        while !self.jobs.is_empty() {
            match tokio::time::timeout_at(tokio_deadline, self.jobs.join_next()).await {
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The budget is a promise: a job that is awaiting stops at its await;
        // one that never yields (a handler that computes without awaiting)
        // cannot be stopped, so it is left behind, not waited for. Its claim
        // is put back below; if it ever ends, its settlement is fenced.
        self.jobs.abort_all();
        self.abort.cancel();
        let _ = tokio::time::timeout(ABORT_GRACE, async {
            while self.jobs.join_next().await.is_some() {}
        })
        .await;
        if !self.jobs.is_empty() {
            tracing::warn!(worker = %config.name, jobs = self.jobs.len(), "jobs still hold their threads at the shutdown deadline (they never yield): left behind, and put back");
        }
        self.jobs.detach_all();
        let abandoned: Vec<B::Key> = self
            .running
            .lock()
            .map(|mut running| running.drain().map(|(_, slot)| slot.key).collect())
            .unwrap_or_default();
        for key in &abandoned {
            let data = self.backend.lend(key);
            let settlement = Settlement::Reschedule {
                at: SystemTime::now(),
                payload: None,
                wait: Wait::Released,
            };
            match settle_with_retries(&*self.backend, key, data, settlement).await {
                Ok(()) => self.tally.count(&self.tally.released),
                Err(SettleError::Fenced) => self.tally.count(&self.tally.fenced),
                Err(error) => {
                    tracing::error!(%error, claim = ?key, "could not put back an abandoned job; its lease will run out and it will run again");
                }
            }
        }
    }
}

impl<B: Backend, G: Gate> fmt::Debug for Worker<B, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How many of a worker's jobs are performing (their handler has not
/// returned), and a wake-up for the claim loop when one stops.
#[derive(Debug, Clone, Default)]
struct Performing(Arc<PerformingInner>);

#[derive(Debug, Default)]
struct PerformingInner {
    count: std::sync::atomic::AtomicUsize,
    freed: tokio::sync::Notify,
}

impl Performing {
    /// One more job performing, until its [`Performer`] is done or dropped.
    fn enter(&self) -> Performer {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        Performer(Some(Arc::clone(&self.0)))
    }

    fn count(&self) -> usize {
        self.0.count.load(Ordering::Acquire)
    }

    /// Resolves once a job has stopped performing since the last call.
    async fn freed(&self) {
        self.0.freed.notified().await;
    }
}

/// A job's place among those performing: given back once (its handler
/// returned), or when its task ends however it ends.
#[derive(Debug)]
struct Performer(Option<Arc<PerformingInner>>);

impl Performer {
    fn done(&mut self) {
        if let Some(inner) = self.0.take() {
            inner.count.fetch_sub(1, Ordering::AcqRel);
            inner.freed.notify_one();
        }
    }
}

impl Drop for Performer {
    fn drop(&mut self) {
        self.done();
    }
}

/// How long a freed slot waits for others while the queue is busy.
const COALESCE: Duration = Duration::from_millis(2);

/// How long aborted jobs get to end at the shutdown deadline before they
/// are left behind.
const ABORT_GRACE: Duration = Duration::from_millis(100);

/// When this worker should look at the queue again because a job may have
/// become claimable with no notification to wake anyone: a claim or a
/// settlement that failed (a terminated connection, a restart) leaves a
/// row whose lease runs out later, silently. Without it, idle workers
/// would find that job only at their next poll.
#[derive(Debug, Clone, Default)]
struct Recheck(Arc<std::sync::Mutex<Option<Instant>>>);

impl Recheck {
    /// Look again once `lease` (and a moment) has passed.
    fn after(&self, lease: Duration) {
        let at = Instant::now() + lease + Duration::from_millis(100);
        if let Ok(mut due) = self.0.lock() {
            *due = Some(due.map_or(at, |due| due.max(at)));
        }
    }

    fn is_set(&self) -> bool {
        self.0.lock().is_ok_and(|due| due.is_some())
    }

    /// Resolves when the recheck is due, and clears it.
    async fn due(&self) {
        let at = self.0.lock().ok().and_then(|due| *due);
        if let Some(at) = at {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        if let Ok(mut due) = self.0.lock() {
            if due.is_some_and(|due| due <= Instant::now()) {
                *due = None;
            }
        }
    }
}

/// Performs one claimed job and settles it.
#[allow(clippy::too_many_arguments)]
async fn perform<B: Backend>(
    backend: Arc<B>,
    router: Arc<Router<B::Data>>,
    config: Arc<Config>,
    tally: Arc<Tally>,
    running: Running<B::Key>,
    slot: u64,
    claim: Claim<B::Key>,
    cancel: Cancellation,
    recheck: Recheck,
    mut performer: Performer,
) {
    let span = tracing::info_span!(
        "jobwire.job",
        task.id = %B::task_id(&claim.key),
        queue = %claim.queue,
        attempt = claim.attempt,
        defers = claim.defers,
    );
    async {
        #[cfg(feature = "metrics")]
        let labels = config.labels.of(&claim.queue, &claim.payload);
        #[cfg(feature = "metrics")]
        labels.consumed();
        // What the metrics call the claim's end, once it is settled.
        let mut ended: &'static str = "fenced";
        let data = backend.lend(&claim.key);
        let settled = if claim.attempt >= config.retry.max_attempts() {
            // Its worker died under it on each of its attempts.
            let reason = format!(
                "the job's lease ran out {} times (its worker died, or stalled, while performing it): dead-lettered without performing it again",
                claim.attempt
            );
            let settlement = Settlement::DeadLetter {
                reason: &reason,
                payload: None,
            };
            performer.done();
            let settled = settle_with_retries(&*backend, &claim.key, data, settlement).await;
            if settled.is_ok() {
                ended = "dead_lettered";
                tally.count(&tally.dead_lettered);
                tracing::warn!(reason = %reason, "dead-lettered a job");
            }
            settled
        } else {
            let watch = cancel.clone();
            let mut delivery = Delivery::new()
                .with_attempt(claim.attempt)
                .with_defers(claim.defers)
                .with_checkpoint(Arc::new(ClaimCheckpoint {
                    backend: Arc::clone(&backend),
                    key: claim.key.clone(),
                }))
                .with_task_id(B::task_id(&claim.key))
                .with_first_seen(claim.first_seen)
                .with_cancellation(cancel)
                .with_data(data);
            #[cfg(feature = "metrics")]
            let dispatched = Instant::now();
            let outcome = router.dispatch(&claim.payload, &mut delivery).await;
            #[cfg(feature = "metrics")]
            labels.processed(dispatched.elapsed());
            let data = delivery.into_data();
            let facts = Facts {
                attempt: claim.attempt,
                defers: claim.defers,
                first_seen: claim.first_seen,
                now: SystemTime::now(),
            };
            let decision = decide(
                &outcome,
                &facts,
                &config.defer,
                &config.retry,
                config.resume_delay,
            );
            // A job that stops because the worker shuts down (its
            // cancellation carries the shutdown's deadline; a closing gate's
            // does not) and asks to come back is put back as released, and
            // counted so, not as a snooze of its own.
            let released = match &outcome {
                Outcome::Snoozed(snoozed) if watch.is_cancelled() && watch.deadline().is_some() => {
                    Some(snoozed.delay)
                }
                _ => None,
            };
            let settlement = match released {
                Some(delay) => Settlement::Reschedule {
                    at: SystemTime::now() + delay,
                    payload: None,
                    wait: Wait::Released,
                },
                None => decision.settlement(&outcome),
            };
            if let Ok(mut running) = running.lock() {
                if let Some(slot) = running.get_mut(&slot) {
                    slot.settling = true;
                }
            }
            performer.done();
            #[cfg(feature = "metrics")]
            let settling = Instant::now();
            let settled = settle_with_retries(&*backend, &claim.key, data, settlement).await;
            #[cfg(feature = "metrics")]
            config
                .labels
                .settled_in(settlement.as_str(), settling.elapsed());
            // Counted once the queue took the settlement: a fenced claim's
            // work does not count as performed.
            if settled.is_ok() && released.is_some() {
                ended = "released";
                tally.count(&tally.released);
            } else if settled.is_ok() {
                ended = tally.record(&outcome, &settlement);
                if let Settlement::DeadLetter { reason, .. } = &settlement {
                    tracing::warn!(reason = %reason, "dead-lettered a job");
                }
            }
            settled
        };
        #[cfg(feature = "metrics")]
        if !matches!(settled, Err(SettleError::Backend(_))) {
            labels.settled(ended);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = ended;
        match settled {
            Ok(()) => {}
            Err(SettleError::Fenced) => {
                tally.count(&tally.fenced);
                tracing::warn!(claim = ?claim.key, "the claim was lost before it was settled: the job was claimed again, and this worker's result is discarded");
            }
            Err(error) => {
                recheck.after(config.lease);
                tracing::error!(%error, claim = ?claim.key, "could not settle a job; its lease will run out and it will run again");
            }
        }
        if let Ok(mut running) = running.lock() {
            running.remove(&slot);
        }
    }
    .instrument(span)
    .await;
}

/// Where an iterable job's checkpoints go: the queue, for this claim,
/// fenced by it.
struct ClaimCheckpoint<B: Backend> {
    backend: Arc<B>,
    key: B::Key,
}

impl<B: Backend> Checkpoint for ClaimCheckpoint<B> {
    fn save<'a>(
        &'a self,
        payload: &'a [u8],
        data: &'a mut (dyn Any + Send),
    ) -> Pin<Box<dyn Future<Output = Result<(), CheckpointError>> + Send + 'a>> {
        Box::pin(async move {
            // The handler's view of the lent data is the queue's own type
            // (its transaction, which the checkpoint commits), or `()` for a
            // job that borrows nothing: then the checkpoint stands alone.
            let saved = match data.downcast_mut::<B::Data>() {
                Some(lent) => self.backend.checkpoint(&self.key, payload, lent).await,
                None => {
                    let mut own = self.backend.lend(&self.key);
                    self.backend.checkpoint(&self.key, payload, &mut own).await
                }
            };
            saved.map_err(|error| match error {
                SettleError::Fenced => CheckpointError::Lost,
                other => CheckpointError::Failed(other.to_string()),
            })
        })
    }
}

/// Settles, retrying a backend error a few times (a connection blip must not
/// make a finished job run again); a fenced claim is not retried.
async fn settle_with_retries<B: Backend>(
    backend: &B,
    key: &B::Key,
    data: B::Data,
    settlement: Settlement<'_>,
) -> Result<(), SettleError<B::Error>> {
    // An acknowledgement, or a checkpoint's reschedule, commits the work
    // the handler did in the lent transaction. If that fails, the work
    // rolled back (or its fate is unknown, when the connection broke during
    // the commit): settling again without it would acknowledge a job whose
    // work is gone. The claim is left to its lease, and the job runs again
    // (or, if the commit did land, its row is gone and nothing runs).
    let commits_work = B::carries_work(&data)
        && matches!(
            settlement,
            Settlement::Ack
                | Settlement::Reschedule {
                    payload: Some(_),
                    ..
                }
        );
    let result = backend.settle(key, data, settlement).await;
    let Err(SettleError::Backend(first)) = result else {
        return result;
    };
    if commits_work {
        tracing::warn!(error = %first, "the handler's transaction did not commit with its settlement: the job runs again once its lease runs out");
        return Err(SettleError::Backend(first));
    }
    // The data lent nothing, or what it lent rolled back with a settlement
    // that does not keep it: the retries settle without it.
    if matches!(settlement, Settlement::Ack) {
        tracing::warn!(error = %first, "acknowledging failed; retrying");
    }
    let mut last = first;
    for pause in [50, 250, 1000, 3000] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        match backend.settle(key, backend.lend(key), settlement).await {
            Err(SettleError::Backend(error)) => last = error,
            other => return other,
        }
    }
    Err(SettleError::Backend(last))
}

/// Renews the leases of the claims in flight until told to stop.
async fn keep_leases<B: Backend>(
    backend: Arc<B>,
    running: Running<B::Key>,
    lease: Duration,
    stop: Cancellation,
) {
    let every = lease / 3;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let held: Vec<(u64, B::Key)> = running
            .lock()
            .map(|running| {
                running
                    .iter()
                    .map(|(slot, held)| (*slot, held.key.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if held.is_empty() {
            continue;
        }
        let keys: Vec<B::Key> = held.iter().map(|(_, key)| key.clone()).collect();
        match backend.renew(&keys, lease).await {
            Ok(lost) if !lost.is_empty() => {
                // A claim missing from the renewal may just have been settled
                // meanwhile (an acknowledgement deletes its row): only a job
                // that is still running, not settling, has really lost it. A
                // settlement that finds its claim lost is told by the fence.
                let Ok(running) = running.lock() else {
                    continue;
                };
                for (slot, key) in held.iter().filter(|(_, key)| lost.contains(key)) {
                    if let Some(slot) = running.get(slot).filter(|s| !s.settling && s.key == *key) {
                        tracing::warn!(claim = ?key, "lost a claim while its job ran; telling the job to stop");
                        slot.cancel.cancel();
                    }
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not renew leases; retrying"),
        }
    }
}

/// What a worker did, counted as it went.
#[derive(Default)]
struct Tally {
    performed: AtomicU64,
    deferred: AtomicU64,
    snoozed: AtomicU64,
    interrupted: AtomicU64,
    discarded: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    released: AtomicU64,
    fenced: AtomicU64,
}

impl Tally {
    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a settled claim; what it counted, as the metrics label it.
    fn record(&self, outcome: &Outcome<'_>, settlement: &Settlement<'_>) -> &'static str {
        let (counter, label) = match (outcome, settlement) {
            (_, Settlement::DeadLetter { .. }) => (&self.dead_lettered, "dead_lettered"),
            (_, Settlement::Retry { .. }) => (&self.retried, "retried"),
            (Outcome::Performed(_), _) => (&self.performed, "performed"),
            (Outcome::Discarded(_), _) => (&self.discarded, "discarded"),
            (Outcome::Snoozed(_), _) => (&self.snoozed, "snoozed"),
            (Outcome::Interrupted(_), _) => (&self.interrupted, "interrupted"),
            _ => (&self.deferred, "deferred"),
        };
        self.count(counter);
        label
    }

    fn report(&self) -> Report {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Report {
            performed: read(&self.performed),
            deferred: read(&self.deferred),
            snoozed: read(&self.snoozed),
            interrupted: read(&self.interrupted),
            discarded: read(&self.discarded),
            retried: read(&self.retried),
            dead_lettered: read(&self.dead_lettered),
            released: read(&self.released),
            fenced: read(&self.fenced),
        }
    }
}

/// What a worker did between its start and its stop.
///
/// ```
/// let report = jobwire::worker::Report::default();
/// assert_eq!(report.to_string(), "0 performed, 0 deferred, 0 snoozed, 0 interrupted, 0 discarded, 0 retried, 0 dead-lettered, 0 released at shutdown, 0 claims lost");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Jobs performed and acknowledged.
    pub performed: u64,
    /// Payloads put back for another release.
    pub deferred: u64,
    /// Jobs whose handler snoozed.
    pub snoozed: u64,
    /// Iterable jobs that stopped at a checkpoint.
    pub interrupted: u64,
    /// Payloads of retired jobs, acknowledged.
    pub discarded: u64,
    /// Failures retried.
    pub retried: u64,
    /// Payloads moved to the dead-letter store.
    pub dead_lettered: u64,
    /// Jobs put back, unfinished, at shutdown.
    pub released: u64,
    /// Claims lost before they were settled (fenced).
    pub fenced: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} performed, {} deferred, {} snoozed, {} interrupted, {} discarded, {} retried, {} dead-lettered, {} released at shutdown, {} claims lost",
            self.performed,
            self.deferred,
            self.snoozed,
            self.interrupted,
            self.discarded,
            self.retried,
            self.dead_lettered,
            self.released,
            self.fenced
        )
    }
}

/// The host's name, for the worker's default name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}
