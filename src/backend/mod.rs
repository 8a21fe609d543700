//! The queue boundary: what jobwire needs from a queue (feature `worker`).
//!
//! The [`Worker`](crate::worker::Worker) knows this trait, never a database.
//! Two implementations come with the crate: [`Sqlite`](sqlite::Sqlite), the
//! embedded default (feature `sqlite`), [`Postgres`](postgres::Postgres),
//! for a fleet (feature `postgres`), and `Sidekiq`, Sidekiq's own queue on
//! Redis (feature `redis`). Anyone can write another for SQS or Kafka; what
//! it must promise is below.
//!
//! # The contract
//!
//! A job is *claimed* for a *lease*: until the lease runs out, no other claim
//! gets it. Every claim carries a fence (a [`Backend::Key`]) that changes
//! with each claim, and every change after claiming is conditional on it: a
//! worker whose lease ran out while it was stalled, and whose job was claimed
//! again, must not be able to acknowledge, reschedule or overwrite it.
//! [`settle`](Backend::settle) then answers [`SettleError::Fenced`] and
//! changes nothing. This is fencing by epoch, as underway does it; an owner
//! check without an epoch (apalis' `lock_by`) is not enough, since the same
//! worker may claim the same job twice.
//!
//! Each claim ends in exactly one [`Settlement`]:
//!
//! | settlement | what the queue does | attempt |
//! | --- | --- | --- |
//! | `Ack` | deletes the job; with lent data that holds a transaction, in that transaction | unchanged |
//! | `Reschedule` | makes it runnable again at a time, with new bytes if given (a checkpoint) | **not** counted; `defers` + 1 |
//! | `Retry` | makes it runnable again at a time, keeping the error | + 1 |
//! | `DeadLetter` | moves the original bytes, or the given ones, to a dead-letter store with the reason | unchanged |
//!
//! A lease that runs out without a settlement (the worker died) makes the job
//! claimable again, and that claim counts an attempt: a payload that kills
//! its worker must end in the dead-letter store, not in a crash loop.
//! [`checkpoint`](Backend::checkpoint) replaces the payload in place, fenced,
//! without ending the claim: iterable jobs save their cursor with it.
//!
//! The bytes are never changed by the queue except through a settlement or a
//! checkpoint that gives new ones: jobwire relies on getting back what was
//! enqueued.

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub mod any;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod group_commit;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod sidekiq;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use crate::context::TaskId;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// A queue jobwire's worker can run on. See the [module docs](self) for the
/// contract every implementation keeps.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement};
/// use jobwire::backend::sqlite::Sqlite;
/// use std::time::Duration;
///
/// let queue = Sqlite::open("queue.db").await?;
/// queue.enqueue(Enqueue::new(br#"{"job":"ping","version":"1.0.0","args":{}}"#)).await?;
/// let claims = queue
///     .claim(&ClaimRequest::new(&["default"], 10, Duration::from_secs(30), "worker-1"))
///     .await?;
/// for claim in claims {
///     let data = queue.lend(&claim.key);
///     queue.settle(&claim.key, data, Settlement::Ack).await?;
/// }
/// # Ok(())
/// # }
/// ```
pub trait Backend: Send + Sync + 'static {
    /// A claim: which task, and the fence that this claim holds.
    type Key: Clone + fmt::Debug + PartialEq + Send + Sync + 'static;

    /// What a claim lends the handlers: the transaction the job will be
    /// acknowledged in, or `()`.
    type Data: Send + 'static;

    /// The backend's own errors (a connection lost, a query refused).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Adds a payload to a queue.
    fn enqueue(
        &self,
        job: Enqueue<'_>,
    ) -> impl Future<Output = Result<Enqueued, Self::Error>> + Send;

    /// Claims up to `request.limit` runnable jobs, each for `request.lease`.
    fn claim(
        &self,
        request: &ClaimRequest<'_>,
    ) -> impl Future<Output = Result<Vec<Claim<Self::Key>>, Self::Error>> + Send;

    /// Extends the leases of `claims`, returning the ones this worker no
    /// longer holds (claimed again by someone else, or settled).
    fn renew(
        &self,
        claims: &[Self::Key],
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<Self::Key>, Self::Error>> + Send;

    /// The data to lend the handler of a claim. It should cost nothing until
    /// used: a transaction is begun only when a handler asks for it.
    fn lend(&self, key: &Self::Key) -> Self::Data;

    /// Whether lent data carries the handler's work (a transaction it
    /// began), which a settlement commits. The worker retries a settlement
    /// that failed only when it does not: retrying an acknowledgement
    /// without the work would acknowledge a job whose work was rolled back.
    /// The default, `false`, suits a backend that lends nothing.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # {
    /// use jobwire::backend::{sqlite::Sqlite, Backend};
    /// assert!(!Sqlite::carries_work(&()));
    /// # }
    /// ```
    fn carries_work(data: &Self::Data) -> bool {
        let _ = data;
        false
    }

    /// Ends a claim. `data` is what was lent: an acknowledgement commits in
    /// its transaction, if one was begun; any other settlement drops it, and
    /// so rolls the transaction back.
    fn settle(
        &self,
        key: &Self::Key,
        data: Self::Data,
        settlement: Settlement<'_>,
    ) -> impl Future<Output = Result<(), SettleError<Self::Error>>> + Send;

    /// Replaces the payload of a claimed job in place, without ending the
    /// claim: an iterable job's checkpoint. With lent data that holds a
    /// transaction, the write commits with the handler's work so far, and a
    /// new transaction begins.
    fn checkpoint(
        &self,
        key: &Self::Key,
        payload: &[u8],
        data: &mut Self::Data,
    ) -> impl Future<Output = Result<(), SettleError<Self::Error>>> + Send;

    /// Waits until work may have arrived (a notification), or `timeout`.
    fn wait(&self, timeout: Duration) -> impl Future<Output = ()> + Send;

    /// Writes what the backend held back to save round trips (Sidekiq's
    /// `stat:processed`, counted in the process and written with the next
    /// claim). The worker calls it once it stops, after its last
    /// settlement. The default holds nothing back and does nothing.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// use jobwire::backend::Backend;
    /// queue.flush().await;
    /// # }
    /// ```
    fn flush(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The queue's id for a claim's task, for handlers and logs.
    fn task_id(key: &Self::Key) -> TaskId<'_>;
}

/// A payload to enqueue.
///
/// ```
/// use jobwire::backend::Enqueue;
/// use std::time::{Duration, SystemTime};
/// let later = SystemTime::now() + Duration::from_secs(60);
/// let job = Enqueue::new(b"{}").queue("mail").at(later);
/// assert_eq!(job.queue_name(), "mail");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Enqueue<'a> {
    pub(crate) payload: &'a [u8],
    pub(crate) queue: &'a str,
    pub(crate) at: Option<SystemTime>,
}

impl<'a> Enqueue<'a> {
    /// `payload`, on the `default` queue, runnable now.
    ///
    /// ```
    /// let job = jobwire::backend::Enqueue::new(b"{}");
    /// assert_eq!(job.queue_name(), "default");
    /// ```
    pub fn new(payload: &'a [u8]) -> Self {
        Enqueue {
            payload,
            queue: DEFAULT_QUEUE,
            at: None,
        }
    }

    /// On `queue`.
    ///
    /// ```
    /// let job = jobwire::backend::Enqueue::new(b"{}").queue("reports");
    /// ```
    pub fn queue(mut self, queue: &'a str) -> Self {
        self.queue = queue;
        self
    }

    /// Runnable from `at`.
    ///
    /// ```
    /// let job = jobwire::backend::Enqueue::new(b"{}").at(std::time::SystemTime::now());
    /// ```
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }

    /// The payload.
    ///
    /// ```
    /// assert_eq!(jobwire::backend::Enqueue::new(b"{}").payload(), b"{}");
    /// ```
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The queue.
    ///
    /// ```
    /// assert_eq!(jobwire::backend::Enqueue::new(b"{}").queue_name(), "default");
    /// ```
    pub fn queue_name(&self) -> &'a str {
        self.queue
    }

    /// When it becomes runnable; `None` for now.
    ///
    /// ```
    /// assert!(jobwire::backend::Enqueue::new(b"{}").runnable_at().is_none());
    /// ```
    pub fn runnable_at(&self) -> Option<SystemTime> {
        self.at
    }
}

/// The queue jobs go to unless told otherwise.
pub const DEFAULT_QUEUE: &str = "default";

/// What an enqueue stored.
///
/// ```
/// let stored = jobwire::backend::Enqueued::new(7);
/// assert_eq!(stored.id, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enqueued {
    /// The queue's id for the task.
    pub id: i64,
}

impl Enqueued {
    /// An enqueue result with this id.
    ///
    /// ```
    /// assert_eq!(jobwire::backend::Enqueued::new(3).id, 3);
    /// ```
    pub fn new(id: i64) -> Self {
        Enqueued { id }
    }
}

/// What a worker asks a claim for.
///
/// ```
/// use jobwire::backend::ClaimRequest;
/// use std::time::Duration;
/// let request = ClaimRequest::new(&["default"], 8, Duration::from_secs(30), "worker-1")
///     .skipping(&["billing.settle"]);
/// assert_eq!(request.limit(), 8);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub(crate) queues: &'a [&'a str],
    pub(crate) limit: usize,
    pub(crate) lease: Duration,
    pub(crate) worker: &'a str,
    pub(crate) skip: &'a [&'a str],
}

impl<'a> ClaimRequest<'a> {
    /// Up to `limit` jobs from `queues`, each for `lease`, claimed by `worker`
    /// (a name for logs and for the gate's status).
    ///
    /// ```
    /// let _ = jobwire::backend::ClaimRequest::new(&["default"], 1, std::time::Duration::from_secs(5), "w");
    /// ```
    pub fn new(queues: &'a [&'a str], limit: usize, lease: Duration, worker: &'a str) -> Self {
        ClaimRequest {
            queues,
            limit,
            lease,
            worker,
            skip: &[],
        }
    }

    /// Leaves jobs of these names where they are (a closed deploy gate).
    ///
    /// ```
    /// let _ = jobwire::backend::ClaimRequest::new(&["default"], 1, std::time::Duration::from_secs(5), "w")
    ///     .skipping(&["billing.settle"]);
    /// ```
    pub fn skipping(mut self, jobs: &'a [&'a str]) -> Self {
        self.skip = jobs;
        self
    }

    /// The queues to claim from.
    ///
    /// ```
    /// # let r = jobwire::backend::ClaimRequest::new(&["a"], 1, std::time::Duration::from_secs(5), "w");
    /// assert_eq!(r.queues(), &["a"]);
    /// ```
    pub fn queues(&self) -> &'a [&'a str] {
        self.queues
    }

    /// How many jobs at most.
    ///
    /// ```
    /// # let r = jobwire::backend::ClaimRequest::new(&["a"], 3, std::time::Duration::from_secs(5), "w");
    /// assert_eq!(r.limit(), 3);
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long each claim holds.
    ///
    /// ```
    /// # let r = jobwire::backend::ClaimRequest::new(&["a"], 3, std::time::Duration::from_secs(5), "w");
    /// assert_eq!(r.lease().as_secs(), 5);
    /// ```
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Who claims.
    ///
    /// ```
    /// # let r = jobwire::backend::ClaimRequest::new(&["a"], 3, std::time::Duration::from_secs(5), "w");
    /// assert_eq!(r.worker(), "w");
    /// ```
    pub fn worker(&self) -> &'a str {
        self.worker
    }

    /// The job names to leave alone.
    ///
    /// ```
    /// # let r = jobwire::backend::ClaimRequest::new(&["a"], 3, std::time::Duration::from_secs(5), "w");
    /// assert!(r.skipped().is_empty());
    /// ```
    pub fn skipped(&self) -> &'a [&'a str] {
        self.skip
    }
}

/// A claimed job.
///
/// ```
/// use jobwire::backend::Claim;
/// use std::time::SystemTime;
/// let claim = Claim {
///     key: 7i64,
///     queue: "default".into(),
///     payload: b"{}".to_vec(),
///     attempt: 0,
///     defers: 0,
///     first_seen: SystemTime::now(),
/// };
/// assert_eq!(claim.attempt, 0);
/// ```
#[derive(Debug, Clone)]
pub struct Claim<K> {
    /// The claim: the task and its fence.
    pub key: K,
    /// The queue it came from.
    pub queue: String,
    /// The payload, as enqueued (or as last checkpointed).
    pub payload: Vec<u8>,
    /// Attempts made before this one: failures retried, and leases lost.
    pub attempt: u32,
    /// Times it was put off without counting an attempt.
    pub defers: u32,
    /// When it first became runnable.
    pub first_seen: SystemTime,
}

/// Why a job waits again without counting an attempt.
///
/// ```
/// assert_eq!(jobwire::backend::Wait::Deferred.as_str(), "deferred");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wait {
    /// Only another release can perform it.
    Deferred,
    /// Its handler asked to come back later.
    Snoozed,
    /// An iterable job stopped at a checkpoint.
    Interrupted,
    /// The worker shut down before it finished.
    Released,
    /// A deploy gate is closed for it.
    Gated,
}

impl Wait {
    /// A short, stable label, as stored.
    ///
    /// ```
    /// assert_eq!(jobwire::backend::Wait::Released.as_str(), "released");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Wait::Deferred => "deferred",
            Wait::Snoozed => "snoozed",
            Wait::Interrupted => "interrupted",
            Wait::Released => "released",
            Wait::Gated => "gated",
        }
    }
}

/// How a claim ends. See the [module docs](self) for what each does.
///
/// ```
/// use jobwire::backend::{Settlement, Wait};
/// let later = std::time::SystemTime::now();
/// let settlement = Settlement::Reschedule { at: later, payload: None, wait: Wait::Deferred };
/// assert!(!settlement.counts_attempt());
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Settlement<'a> {
    /// Done: delete it.
    Ack,
    /// Runnable again at `at`, without counting an attempt; with new bytes if
    /// given.
    Reschedule {
        /// When.
        at: SystemTime,
        /// New bytes (a checkpoint), or `None` to keep them.
        payload: Option<&'a [u8]>,
        /// Why.
        wait: Wait,
    },
    /// Runnable again at `at`, counting an attempt.
    Retry {
        /// When.
        at: SystemTime,
        /// What went wrong, kept for people to see.
        error: &'a str,
        /// New bytes (an iterable job's progress), or `None` to keep them.
        payload: Option<&'a [u8]>,
    },
    /// Moved to the dead-letter store with the reason, keeping the bytes.
    DeadLetter {
        /// Why, for the person who reads it.
        reason: &'a str,
        /// The bytes to keep, if not the stored ones (an iterable job's
        /// progress).
        payload: Option<&'a [u8]>,
    },
}

impl Settlement<'_> {
    /// Whether this settlement counts an attempt: only a retry does.
    ///
    /// ```
    /// assert!(!jobwire::backend::Settlement::Ack.counts_attempt());
    /// ```
    pub fn counts_attempt(&self) -> bool {
        matches!(self, Settlement::Retry { .. })
    }

    /// A short, stable label: `"ack"`, `"reschedule"`, `"retry"` or
    /// `"dead-letter"`.
    ///
    /// ```
    /// assert_eq!(jobwire::backend::Settlement::Ack.as_str(), "ack");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Settlement::Ack => "ack",
            Settlement::Reschedule { .. } => "reschedule",
            Settlement::Retry { .. } => "retry",
            Settlement::DeadLetter { .. } => "dead-letter",
        }
    }
}

/// A settlement or checkpoint that did not happen.
///
/// ```
/// let error: jobwire::backend::SettleError<std::io::Error> = jobwire::backend::SettleError::Fenced;
/// assert!(error.to_string().contains("claimed again"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError<E: std::error::Error + 'static> {
    /// The claim is no longer this worker's: its lease ran out and the job
    /// was claimed again (or it was already settled). Nothing was changed.
    #[error("the claim was lost: its lease ran out and the job was claimed again, or it was already settled; nothing was changed")]
    Fenced,
    /// The backend failed.
    #[error("the queue failed: {0}")]
    Backend(#[source] E),
}

/// A claim in jobwire's SQL queues: the row, and the epoch this claim
/// holds. Every change after claiming is conditional on both.
///
/// ```
/// let key = jobwire::backend::RowKey { id: 7, epoch: 2 };
/// assert_eq!(key.to_string(), "7@2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey {
    /// The row's id: the task id.
    pub id: i64,
    /// The claim's epoch.
    pub epoch: i64,
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.epoch)
    }
}

/// A job moved to the dead-letter store, with its bytes and the reason.
///
/// ```
/// fn show(dead: &jobwire::backend::DeadLetter) -> String {
///     format!("#{} ({}): {}", dead.job_id, dead.job.as_deref().unwrap_or("unreadable"), dead.reason)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The dead letter's own id.
    pub id: i64,
    /// The id the job had in the queue.
    pub job_id: i64,
    /// The queue it was on.
    pub queue: String,
    /// Its job name, if the payload was readable.
    pub job: Option<String>,
    /// The version the payload carried, if it was readable.
    pub version: Option<String>,
    /// When it was dead-lettered, where the queue records it.
    pub died_at: Option<std::time::SystemTime>,
    /// The bytes, as they were.
    pub payload: Vec<u8>,
    /// Why it is here.
    pub reason: String,
    /// Attempts made.
    pub attempt: u32,
    /// The queue's own id for the job when it is not a number: Sidekiq's
    /// `jid`, which `Sidekiq::requeue_dead` and `discard_dead` take.
    /// `None` on the SQL queues, whose ids are `id` and `job_id`.
    pub jid: Option<String>,
}

/// A job in the queue, as the console and `jobwire` show it: its row's
/// header and its bytes.
///
/// ```
/// fn show(job: &jobwire::backend::QueuedJob) -> String {
///     format!("#{} {} {} ({})", job.id, job.job.as_deref().unwrap_or("?"), job.place, job.attempt)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueuedJob {
    /// The row's id.
    pub id: i64,
    /// The queue it is on.
    pub queue: String,
    /// Its job name, if the payload was readable.
    pub job: Option<String>,
    /// The version its payload carries, if readable.
    pub version: Option<String>,
    /// Where it waits.
    pub place: crate::drain::Place,
    /// The bytes, as stored (an iterable job's progress included).
    pub payload: Vec<u8>,
    /// Attempts made.
    pub attempt: u32,
    /// Times it was put off without counting an attempt.
    pub defers: u32,
    /// When it was enqueued.
    pub enqueued_at: Option<std::time::SystemTime>,
    /// When it first became runnable (or last checkpointed).
    pub first_seen: Option<std::time::SystemTime>,
    /// When it may next run (ready) or its lease runs out (running).
    pub run_at: Option<std::time::SystemTime>,
    /// The last error, or the note of a requeue from the dead letters.
    pub last_error: Option<String>,
    /// The worker that holds it, while running.
    pub worker: Option<String>,
}

impl DeadLetter {
    /// The dead letter's key in its queue, as `requeue_dead` and
    /// `discard_dead` (and `jobwire dead`) take it: the row's id on the SQL
    /// queues, the job's `jid` on Sidekiq's.
    ///
    /// ```
    /// # fn demo(dead: &jobwire::backend::DeadLetter) {
    /// println!("jobwire dead requeue {}", dead.key());
    /// # }
    /// ```
    pub fn key(&self) -> String {
        self.jid.clone().unwrap_or_else(|| self.id.to_string())
    }
}

/// Text a SQL queue can store whatever it holds: a NUL (which serde quotes
/// in an "unknown variant" message, and PostgreSQL's `TEXT` refuses) is
/// written as the JSON escape `\u0000`. The rest of the text is kept as it
/// was.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\\u0000"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The version a rewritten payload (a checkpoint, a retry or a deferral
/// with new progress) now carries, for the row's `version` column, so that
/// `waiting()` and drain report it where it stands; `None` when the bytes
/// are not rewritten, or carry no readable header (the column then keeps
/// what it had).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn carried_version(payload: Option<&[u8]>) -> Option<String> {
    let header = crate::wire::Header::read(payload?).ok()?;
    Some(header.version().to_string())
}

/// The claims of a SQL queue's claimed rows, each read on its own: a row
/// that cannot be read (a payload stored as a number, a time that is not
/// one, written by a producer outside jobwire) is dead-lettered by itself,
/// as stored, with the column and what was wrong with it, and its
/// batch-mates go on. Sorted by id.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) async fn sort_out<B, E>(
    backend: &B,
    read: Vec<(RowKey, Result<Claim<RowKey>, E>)>,
) -> Vec<Claim<RowKey>>
where
    B: Backend<Key = RowKey>,
    E: fmt::Display,
{
    let mut claims = Vec::with_capacity(read.len());
    for (key, claim) in read {
        match claim {
            Ok(claim) => claims.push(claim),
            Err(error) => {
                let reason = format!(
                    "unreadable queue row (written by a producer outside jobwire?): {error}; dead-lettered as stored, without performing it"
                );
                tracing::error!(claim = %key, %reason, "jobwire dead-letters a queue row it cannot read");
                let settlement = Settlement::DeadLetter {
                    reason: &reason,
                    payload: None,
                };
                if let Err(error) = backend.settle(&key, backend.lend(&key), settlement).await {
                    tracing::error!(claim = %key, %error, "could not dead-letter an unreadable row; its lease will run out");
                }
            }
        }
    }
    claims.sort_by_key(|claim| claim.key.id);
    claims
}

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    #[test]
    fn storable_text_escapes_nul_and_keeps_the_rest() {
        assert_eq!(super::storable("a\0b"), "a\\u0000b");
        assert_eq!(super::storable("plain"), "plain");
    }
}
