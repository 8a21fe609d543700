//! Sidekiq's queue on Redis (feature `redis`): a Rails app keeps its
//! `perform_async`, and jobwire's worker performs the jobs, with versioned
//! dispatch and a fetch that loses nothing when a worker is killed.
//!
//! [`Sidekiq`] reads and writes Sidekiq's own keys and job format
//! (`queue:NAME`, `schedule`, `retry`, `dead`, `queues`, `stat:*`), so
//! Ruby's Sidekiq processes and jobwire's Rust workers can share a queue,
//! in both directions, and Sidekiq's Web UI shows the Rust worker's
//! retries, scheduled jobs and dead letters.
//!
//! # How a Sidekiq job reads as jobwire's envelope
//!
//! | envelope | Sidekiq job |
//! | --- | --- |
//! | `job` | `wrapped` (ActiveJob's class) if present, else `class` |
//! | `version` | `jobwire_version`, stamped by `sidekiq_options jobwire_version: "2.1.0"`; a job without it reads at [`Sidekiq::with_default_version`] (`1.0.0` unless told) |
//! | `args` | one hash (`perform(params)`, ActiveJob's keyword arguments) is the object itself; other `args` are numbered: `[7, "hi"]` is `{"0": 7, "1": "hi"}` (a Rust field says `#[serde(rename = "0")]`) |
//! | `meta.id`, `meta.enqueued_at` | `jid`, `enqueued_at` (or `created_at`), seconds as a float or milliseconds as an integer |
//! | `progress` | `jobwire_progress` (an iterable job's cursor) |
//!
//! For an ActiveJob wrapper, `args` are its hash's `arguments`; the
//! wrapper and the `_aj_*` markers are written back untouched.
//!
//! # A fetch that loses nothing
//!
//! Sidekiq's open-source fetch is `BRPOP`: a job leaves Redis when a worker
//! takes it, and a worker killed mid-job loses it. Here a claim is one Lua
//! script: it moves each job from its queue into `jobwire:claims` with a
//! lease (`jobwire:leases`), and the worker's heartbeat renews the lease.
//! When a worker dies, the next claim by any worker finds the lease run
//! out and puts the job back at the head of its queue, counting an attempt
//! (unless a checkpoint saved progress). Every claim has a new id, and
//! every settlement is conditional on it: a worker whose lease ran out
//! cannot acknowledge a job claimed again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jobwire::backend::sidekiq::Sidekiq;
//! let queue = Sidekiq::connect("redis://127.0.0.1:6379/0")
//!     .await?
//!     .with_default_version(semver::Version::new(1, 0, 0));
//! # Ok(())
//! # }
//! ```

mod heartbeat;
mod job;
mod scripts;

pub use job::VERSION_KEY;

use crate::backend::{
    Backend, Claim, ClaimRequest, DeadLetter, Enqueue, Enqueued, SettleError, Settlement, Wait,
};
use crate::context::TaskId;
use crate::drain::{Place, Waiting};
use job::{millis, seconds, SidekiqJob};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use semver::Version;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// Sidekiq's queue on Redis. Cheap to clone: clones share one connection
/// (multiplexed, and re-established when it drops).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobwire::backend::{sidekiq::Sidekiq, Backend, Enqueue};
/// let queue = Sidekiq::connect("redis://127.0.0.1:6379/0").await?;
/// // What Ruby's `SendInvoiceJob.perform_async(7)` would have written:
/// queue.enqueue(Enqueue::new(br#"{"job":"SendInvoiceJob","version":"1.0.0","args":{"0":7}}"#)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sidekiq {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    versions: Arc<Versions>,
    /// This process's claims: the job as it now stands, to edit on
    /// settlement without a round trip.
    inflight: Arc<Mutex<HashMap<i64, Inflight>>>,
    wake: Arc<Notify>,
    poll: Duration,
    heartbeat: Arc<heartbeat::Heartbeat>,
    /// Idle workers block here (`BLMOVE`), on a connection of their own,
    /// until a job lands on their queue.
    client: redis::Client,
    waiter: Arc<tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>>,
}

impl fmt::Debug for Sidekiq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sidekiq")
            .field("default_version", &self.versions.default)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

struct Scripts {
    claim: Script,
    renew: Script,
    settle: Script,
    checkpoint: Script,
}

#[derive(Debug, Clone)]
struct Versions {
    default: String,
    by_class: HashMap<String, String>,
}

impl Versions {
    fn of(&self, name: &str) -> &str {
        self.by_class.get(name).unwrap_or(&self.default)
    }
}

#[derive(Debug, Clone)]
struct Inflight {
    queue: String,
    job: Vec<u8>,
    jid: String,
    defers: u32,
    /// Leases that ran out on this job before (`jobwire:lost`): its
    /// acknowledgement clears them.
    lost: u32,
    /// When the queue first saw these bytes, as the claim said.
    first_seen: SystemTime,
    /// When this claim was made.
    since: SystemTime,
}

/// A claim on Sidekiq's queue: the claim's id (its fence) and the job's
/// `jid`.
///
/// ```
/// let key = jobwire::backend::sidekiq::SidekiqKey { claim: 7, jid: "a7b8".into() };
/// assert_eq!(key.to_string(), "a7b8@7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SidekiqKey {
    /// The claim's id: a new one for every claim.
    pub claim: i64,
    /// The job's `jid` (empty when the bytes were not a Sidekiq job).
    pub jid: String,
}

impl fmt::Display for SidekiqKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.jid, self.claim)
    }
}

/// What went wrong talking to Sidekiq's queue.
///
/// ```
/// let error = jobwire::backend::sidekiq::SidekiqError::Payload("not an envelope".into());
/// assert!(error.to_string().contains("not an envelope"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SidekiqError {
    /// Redis failed, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A payload given to `enqueue` is not jobwire's envelope, so it cannot
    /// be written as a Sidekiq job. Nothing was written.
    #[error("cannot enqueue this payload as a Sidekiq job: {0}")]
    Payload(String),
    /// Redis answered with something the scripts never return.
    #[error("unexpected answer from Redis: {0}")]
    Answer(String),
}

impl Sidekiq {
    /// Connects to the Redis at `url` (`redis://host:port/db`).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jobwire::backend::sidekiq::SidekiqError> {
    /// let queue = jobwire::backend::sidekiq::Sidekiq::connect("redis://127.0.0.1:6379/0").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Sidekiq, SidekiqError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(Sidekiq {
            conn,
            client,
            waiter: Arc::new(tokio::sync::Mutex::new(None)),
            scripts: Arc::new(Scripts {
                claim: Script::new(scripts::CLAIM),
                renew: Script::new(scripts::RENEW),
                settle: Script::new(scripts::SETTLE),
                checkpoint: Script::new(scripts::CHECKPOINT),
            }),
            versions: Arc::new(Versions {
                default: String::from("1.0.0"),
                by_class: HashMap::new(),
            }),
            inflight: Arc::new(Mutex::new(HashMap::new())),
            wake: Arc::new(Notify::new()),
            poll: Duration::from_millis(50),
            heartbeat: Arc::new(heartbeat::Heartbeat::new(&new_jid()[..12])),
        })
    }

    /// The version a job without `jobwire_version` is read at: jobs that
    /// Ruby enqueued before the day of adoption. `1.0.0` unless told.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) {
    /// let queue = queue.with_default_version(semver::Version::new(1, 0, 0));
    /// # }
    /// ```
    pub fn with_default_version(mut self, version: Version) -> Sidekiq {
        Arc::make_mut(&mut self.versions).default = version.to_string();
        self
    }

    /// The version unversioned jobs of one class (or ActiveJob class) are
    /// read at, where it differs from the default.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) {
    /// let queue = queue.with_class_version("LegacyExportJob", semver::Version::new(3, 2, 0));
    /// # }
    /// ```
    pub fn with_class_version(mut self, class: &str, version: Version) -> Sidekiq {
        Arc::make_mut(&mut self.versions)
            .by_class
            .insert(class.to_owned(), version.to_string());
        self
    }

    /// How long an idle worker waits before it claims again. While it
    /// waits, it blocks in Redis on its first queue and wakes as soon as a
    /// job lands there (Sidekiq's client publishes no notification), or at
    /// an enqueue in this process; jobs due in `schedule` and `retry`, and
    /// jobs on its other queues, wait for the next claim. 50 ms unless
    /// told.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) {
    /// let queue = queue.with_poll(std::time::Duration::from_millis(20));
    /// # }
    /// ```
    pub fn with_poll(mut self, poll: Duration) -> Sidekiq {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// The connection, for your own commands.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) -> redis::RedisResult<()> {
    /// use redis::AsyncCommands;
    /// let waiting: usize = queue.connection().llen("queue:default").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The dead set, oldest first. `id` is the entry's rank in the set,
    /// `payload` the job's bytes (for bytes that were not a Sidekiq job,
    /// those bytes exactly), `reason` its `error_message`.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) -> Result<(), jobwire::backend::sidekiq::SidekiqError> {
    /// for dead in queue.dead_letters().await? {
    ///     println!("{}: {}", dead.job.as_deref().unwrap_or("unreadable"), dead.reason);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, SidekiqError> {
        let mut out = Vec::new();
        for (rank, entry) in self.all_of("dead").await?.into_iter().enumerate() {
            let job = SidekiqJob::parse(&entry).ok();
            let name = job
                .as_ref()
                .and_then(|j| j.name().ok())
                .filter(|n| n != "Jobwire::Unreadable");
            out.push(DeadLetter {
                id: i64::try_from(rank).unwrap_or(i64::MAX),
                job_id: 0,
                queue: job
                    .as_ref()
                    .and_then(|j| j.string("queue"))
                    .unwrap_or_default(),
                job: name,
                version: job
                    .as_ref()
                    .and_then(|j| j.version(&self.versions.default.to_string()).ok()),
                died_at: job
                    .as_ref()
                    .and_then(|j| j.number("failed_at"))
                    .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
                    .and_then(|since| std::time::UNIX_EPOCH.checked_add(since)),
                payload: job::dead_bytes(&entry),
                reason: job
                    .as_ref()
                    .and_then(|j| j.string("error_message"))
                    .unwrap_or_default(),
                attempt: job.as_ref().map_or(0, SidekiqJob::attempts),
                jid: job.as_ref().and_then(SidekiqJob::jid),
            });
        }
        Ok(out)
    }

    /// Puts the dead letter whose job has `jid` back at the tail of its
    /// queue, its bytes as they were plus `jobwire_requeued_at`, with its
    /// attempts counted afresh (`retry_count` removed): once the release
    /// that reads it runs, or the bug is fixed. Bytes that were not a
    /// Sidekiq job go back as they were. `false` if no dead letter has
    /// that `jid`.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) -> Result<(), jobwire::backend::sidekiq::SidekiqError> {
    /// let back = queue.requeue_dead("a7b8a94136a506bb4f67154c").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn requeue_dead(&self, jid: &str) -> Result<bool, SidekiqError> {
        let Some(entry) = self.dead_entry(jid).await? else {
            return Ok(false);
        };
        let (queue, back) = match SidekiqJob::parse(&entry) {
            Ok(mut job) if job.string("class").as_deref() != Some("Jobwire::Unreadable") => {
                job.remove("retry_count");
                job.set(
                    "jobwire_requeued_at",
                    seconds(SystemTime::now()).to_string(),
                );
                let queue = job.string("queue").unwrap_or_else(|| "default".to_owned());
                (queue, job.to_json().into_bytes())
            }
            Ok(job) => (
                job.string("queue").unwrap_or_else(|| "default".to_owned()),
                job::dead_bytes(&entry),
            ),
            Err(_) => ("default".to_owned(), entry.clone()),
        };
        let mut conn = self.conn.clone();
        let moved: i64 = Script::new(
            "if redis.call('ZREM', 'dead', ARGV[1]) == 0 then return 0 end
             redis.call('LPUSH', 'queue:' .. ARGV[2], ARGV[3])
             redis.call('SADD', 'queues', ARGV[2])
             return 1",
        )
        .arg(&entry)
        .arg(&queue)
        .arg(&back)
        .invoke_async(&mut conn)
        .await?;
        self.wake.notify_waiters();
        Ok(moved == 1)
    }

    /// Deletes the dead letter whose job has `jid`, for good. `false` if
    /// no dead letter has that `jid`.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) -> Result<(), jobwire::backend::sidekiq::SidekiqError> {
    /// let gone = queue.discard_dead("a7b8a94136a506bb4f67154c").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn discard_dead(&self, jid: &str) -> Result<bool, SidekiqError> {
        let Some(entry) = self.dead_entry(jid).await? else {
            return Ok(false);
        };
        let removed: i64 = self.conn.clone().zrem("dead", entry).await?;
        Ok(removed == 1)
    }

    /// The dead set's entry for `jid`, as stored.
    async fn dead_entry(&self, jid: &str) -> Result<Option<Vec<u8>>, SidekiqError> {
        Ok(self.all_of("dead").await?.into_iter().find(|entry| {
            SidekiqJob::parse(entry).is_ok_and(|job| job.jid().as_deref() == Some(jid))
        }))
    }

    /// What waits, per (job, version) and place: the queues (ready),
    /// `schedule` (scheduled, or deferred, snoozed, interrupted),
    /// `retry`, `dead`, and this queue's claims (running). The queue's
    /// half of [drain](crate::drain).
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sidekiq::Sidekiq) -> Result<(), jobwire::backend::sidekiq::SidekiqError> {
    /// for w in queue.waiting().await? {
    ///     println!("{:?} {:?} {}: {}", w.job, w.version, w.place, w.count);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn waiting(&self) -> Result<Vec<Waiting>, SidekiqError> {
        let mut rows = Vec::new();
        let mut conn = self.conn.clone();
        let queues: Vec<String> = conn.smembers("queues").await?;
        for queue in queues {
            for job in self.all_of(&format!("queue:{queue}")).await? {
                rows.push(self.row(&job, Place::Ready));
            }
        }
        for job in self.all_of("schedule").await? {
            let place = match SidekiqJob::parse(&job)
                .ok()
                .and_then(|j| j.string(job::WAIT_KEY))
                .as_deref()
            {
                Some("deferred") => Place::Deferred,
                Some("snoozed") => Place::Snoozed,
                Some("interrupted") => Place::Interrupted,
                Some(_) => Place::Ready,
                None => Place::Scheduled,
            };
            rows.push(self.row(&job, place));
        }
        for job in self.all_of("retry").await? {
            rows.push(self.row(&job, Place::Retrying));
        }
        for job in self.all_of("dead").await? {
            rows.push(self.row(&job, Place::DeadLettered));
        }
        let claims: Vec<Vec<u8>> = conn.hvals("jobwire:claims").await?;
        for rec in claims {
            if let Some((_, _, job)) = scripts::read_record(&rec) {
                rows.push(self.row(&job, Place::Running));
            }
        }
        Ok(Waiting::merged(rows))
    }

    /// One job as a drain row.
    fn row(&self, bytes: &[u8], place: Place) -> Waiting {
        let job = SidekiqJob::parse(bytes).ok();
        let name = job.as_ref().and_then(|j| j.name().ok());
        let version = match (&job, &name) {
            (Some(j), Some(n)) => j.version(self.versions.of(n)).ok(),
            _ => None,
        };
        Waiting::from_row(
            name,
            version.as_deref(),
            place,
            1,
            job.as_ref().and_then(SidekiqJob::enqueued_at),
        )
    }

    /// Every member of a list or sorted set, a thousand at a time.
    async fn all_of(&self, key: &str) -> Result<Vec<Vec<u8>>, SidekiqError> {
        let mut conn = self.conn.clone();
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await?;
        let mut out = Vec::new();
        let mut start = 0isize;
        loop {
            let page: Vec<Vec<u8>> = match kind.as_str() {
                "list" => conn.lrange(key, start, start + 999).await?,
                "zset" => conn.zrange(key, start, start + 999).await?,
                _ => return Ok(out),
            };
            let n = page.len();
            out.extend(page);
            if n < 1000 {
                return Ok(out);
            }
            start += 1000;
        }
    }

    /// Sidekiq's process heartbeat, every five seconds at most: the Web
    /// UI's Busy tab lists this process and its jobs in flight. A beat
    /// that fails is said, and the next one tries again.
    async fn beat(&self) {
        if !self.heartbeat.due() {
            return;
        }
        let inflight: Vec<(i64, Inflight)> = self
            .inflight()
            .iter()
            .map(|(id, job)| (*id, job.clone()))
            .collect();
        let busy: Vec<heartbeat::Busy<'_>> = inflight
            .iter()
            .map(|(claim, job)| heartbeat::Busy {
                claim: *claim,
                queue: &job.queue,
                job: &job.job,
                since: job.since,
            })
            .collect();
        let mut conn = self.conn.clone();
        let beat: redis::RedisResult<()> =
            self.heartbeat.pipeline(&busy).query_async(&mut conn).await;
        if let Err(error) = beat {
            tracing::warn!(%error, "jobwire could not write Sidekiq's process heartbeat");
        }
    }

    fn inflight(&self) -> MutexGuard<'_, HashMap<i64, Inflight>> {
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The claimed job as it now stands: this process's copy, or the
    /// record in Redis (a claim made by a clone that was dropped).
    async fn current(&self, key: &SidekiqKey) -> Result<Inflight, SettleError<SidekiqError>> {
        if let Some(inflight) = self.inflight().get(&key.claim).cloned() {
            return Ok(inflight);
        }
        let mut conn = self.conn.clone();
        let rec: Option<Vec<u8>> = conn
            .hget("jobwire:claims", key.claim)
            .await
            .map_err(|e| SettleError::Backend(e.into()))?;
        let (_, queue, job) = rec
            .as_deref()
            .and_then(scripts::read_record)
            .ok_or(SettleError::Fenced)?;
        let parsed = SidekiqJob::parse(&job).ok();
        let defers = parsed.as_ref().map_or(0, SidekiqJob::defers);
        let first_seen = parsed
            .as_ref()
            .and_then(SidekiqJob::first_seen)
            .unwrap_or_else(SystemTime::now);
        Ok(Inflight {
            queue,
            job,
            jid: key.jid.clone(),
            defers,
            // Unknown here: counted as lost, so that anything deciding on it
            // takes the fenced script's way, which clears `jobwire:lost`.
            lost: 1,
            first_seen,
            since: SystemTime::now(),
        })
    }

    /// Acknowledges a claim: `HDEL` of its record, fenced by its answer (0
    /// when the claim is no longer held), and `ZREM` of its lease, in one
    /// round trip and no script. The two need not be atomic: a lease
    /// without its record is dropped by the next claim that sees it run
    /// out, and renewing it finds no record. A job that lost leases before
    /// (rare) goes through the script, which clears them only if the claim
    /// still holds. `stat:processed` counts it with the next claim.
    async fn ack(&self, key: &SidekiqKey) -> Result<(), SettleError<SidekiqError>> {
        let lost = self
            .inflight()
            .get(&key.claim)
            .map_or(1, |inflight| inflight.lost);
        if lost > 0 {
            self.run_settle(key, "ack", ("", &[])).await?;
        } else {
            let mut conn = self.conn.clone();
            let (held,): (i64,) = redis::pipe()
                .hdel("jobwire:claims", key.claim)
                .zrem("jobwire:leases", key.claim)
                .ignore()
                .query_async(&mut conn)
                .await
                .map_err(|e| SettleError::Backend(e.into()))?;
            self.inflight().remove(&key.claim);
            if held != 1 {
                return Err(SettleError::Fenced);
            }
        }
        self.heartbeat.processed();
        Ok(())
    }

    /// Runs the settlement script: `Fenced` when the claim is gone.
    async fn run_settle(
        &self,
        key: &SidekiqKey,
        action: &str,
        operands: (&str, &[u8]),
    ) -> Result<(), SettleError<SidekiqError>> {
        let mut conn = self.conn.clone();
        let mut invocation = self.scripts.settle.prepare_invoke();
        invocation
            .arg(key.claim)
            .arg(&key.jid)
            .arg(today())
            .arg(action);
        if action != "ack" {
            invocation.arg(operands.0).arg(operands.1);
        }
        let done: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| SettleError::Backend(e.into()))?;
        self.inflight().remove(&key.claim);
        if done == 1 {
            Ok(())
        } else {
            Err(SettleError::Fenced)
        }
    }
}

/// The most jobs one claim takes: the script hands each batch to one
/// `HSET` and one `ZADD`, and Lua unpacks at most a few thousand values.
const CLAIM_MAX: usize = 1000;

/// Today's date in UTC, as Sidekiq's daily stats name it.
fn today() -> String {
    let days = millis(SystemTime::now()) / 86_400_000;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A new job id: 24 hexadecimal digits, as Sidekiq's.
fn new_jid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut a = RandomState::new().build_hasher();
    a.write_u64(n);
    a.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let high = a.finish();
    let mut b = RandomState::new().build_hasher();
    b.write_u64(high ^ n);
    let low = b.finish() & 0xffff_ffff;
    format!("{high:016x}{low:08x}")
}

impl Backend for Sidekiq {
    type Key = SidekiqKey;
    type Data = ();
    type Error = SidekiqError;

    async fn enqueue(&self, job: Enqueue<'_>) -> Result<Enqueued, SidekiqError> {
        let now = SystemTime::now();
        let later = job.at.filter(|at| *at > now);
        let json = job::from_envelope(job.payload, job.queue, now, later, &new_jid())
            .map_err(|reason| SidekiqError::Payload(reason.0))?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        match later {
            Some(at) => pipe.zadd("schedule", &json, seconds(at)).ignore(),
            None => pipe
                .lpush(format!("queue:{}", job.queue), &json)
                .ignore()
                .sadd("queues", job.queue)
                .ignore(),
        };
        pipe.incr("jobwire:enqueued", 1);
        let mut conn = self.conn.clone();
        let (id,): (i64,) = pipe.query_async(&mut conn).await?;
        self.wake.notify_waiters();
        Ok(Enqueued::new(id))
    }

    async fn claim(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<Vec<Claim<SidekiqKey>>, SidekiqError> {
        let now = SystemTime::now();
        let running = self.inflight().len();
        self.heartbeat.saw(request.queues, request.limit, running);
        self.beat().await;
        // Acknowledgements are counted in `stat:processed` here, not one
        // by one: an acknowledgement is then two plain commands.
        let processed = self.heartbeat.take_processed();
        let mut invocation = self.scripts.claim.prepare_invoke();
        invocation
            .arg(millis(now))
            .arg(i64::try_from(request.lease.as_millis()).unwrap_or(i64::MAX))
            .arg(request.limit.min(CLAIM_MAX))
            .arg(processed)
            .arg(today())
            .arg(request.queues.len());
        for queue in request.queues {
            invocation.arg(*queue);
        }
        for name in request.skip {
            invocation.arg(*name);
        }
        let mut conn = self.conn.clone();
        let flat: Vec<redis::Value> = match invocation.invoke_async(&mut conn).await {
            Ok(flat) => flat,
            Err(error) => {
                // Most likely never run: counted with the next claim.
                self.heartbeat.unwritten(processed);
                return Err(error.into());
            }
        };
        let mut claims = Vec::with_capacity(flat.len() / 4);
        let mut unreadable = Vec::new();
        for chunk in flat.chunks(4) {
            let [id, queue, bytes, lost] = chunk else {
                return Err(SidekiqError::Answer(format!("{chunk:?}")));
            };
            let id: i64 =
                redis::from_redis_value_ref(id).map_err(|e| SidekiqError::Answer(e.to_string()))?;
            let queue: String = redis::from_redis_value_ref(queue)
                .map_err(|e| SidekiqError::Answer(e.to_string()))?;
            let bytes: Vec<u8> = redis::from_redis_value_ref(bytes)
                .map_err(|e| SidekiqError::Answer(e.to_string()))?;
            let lost: u32 = redis::from_redis_value_ref(lost).unwrap_or(0);
            let read = SidekiqJob::parse(&bytes).and_then(|job| {
                let name = job.name()?;
                let payload = job.envelope(self.versions.of(&name))?;
                Ok((
                    job.jid().unwrap_or_default(),
                    payload,
                    job.attempts(),
                    job.defers(),
                    job.first_seen(),
                ))
            });
            match read {
                Ok((jid, payload, attempts, defers, first_seen)) => {
                    let key = SidekiqKey {
                        claim: id,
                        jid: jid.clone(),
                    };
                    let first_seen = first_seen.unwrap_or(now);
                    self.inflight().insert(
                        id,
                        Inflight {
                            queue: queue.clone(),
                            job: bytes,
                            jid,
                            defers,
                            lost,
                            first_seen,
                            since: now,
                        },
                    );
                    claims.push(Claim {
                        key,
                        queue,
                        payload,
                        attempt: attempts.saturating_add(lost),
                        defers,
                        first_seen,
                    });
                }
                Err(reason) => {
                    let jid = SidekiqJob::parse(&bytes)
                        .ok()
                        .and_then(|j| j.jid())
                        .unwrap_or_default();
                    let key = SidekiqKey {
                        claim: id,
                        jid: jid.clone(),
                    };
                    self.inflight().insert(
                        id,
                        Inflight {
                            queue,
                            job: bytes,
                            jid,
                            defers: 0,
                            lost,
                            first_seen: now,
                            since: now,
                        },
                    );
                    unreadable.push((key, reason));
                }
            }
        }
        for (key, reason) in unreadable {
            let reason = format!(
                "not a job jobwire can read: {reason}; dead-lettered as stored, without performing it"
            );
            tracing::error!(claim = %key, %reason, "jobwire dead-letters a Sidekiq job it cannot read");
            let settlement = Settlement::DeadLetter {
                reason: &reason,
                payload: None,
            };
            if let Err(error) = self.settle(&key, (), settlement).await {
                tracing::error!(claim = %key, %error, "could not dead-letter an unreadable job; its lease will run out");
            }
        }
        Ok(claims)
    }

    async fn renew(
        &self,
        claims: &[SidekiqKey],
        lease: Duration,
    ) -> Result<Vec<SidekiqKey>, SidekiqError> {
        self.beat().await;
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let expiry = millis(SystemTime::now() + lease);
        let mut invocation = self.scripts.renew.prepare_invoke();
        invocation.arg(expiry);
        for key in claims {
            invocation.arg(key.claim);
        }
        let mut conn = self.conn.clone();
        let lost: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        Ok(claims
            .iter()
            .filter(|key| lost.contains(&key.claim))
            .cloned()
            .collect())
    }

    fn lend(&self, _key: &SidekiqKey) {}

    async fn settle(
        &self,
        key: &SidekiqKey,
        _data: (),
        settlement: Settlement<'_>,
    ) -> Result<(), SettleError<SidekiqError>> {
        if let Settlement::Ack = settlement {
            return self.ack(key).await;
        }
        let current = self.current(key).await?;
        let now = SystemTime::now();
        let now_s = seconds(now).to_string();
        let parsed = SidekiqJob::parse(&current.job);
        let written = match (settlement, parsed) {
            (Settlement::DeadLetter { reason, payload }, parsed) => {
                let entry;
                let mut job = match parsed {
                    Ok(job) => job,
                    Err(_) => {
                        let jid = if current.jid.is_empty() {
                            new_jid()
                        } else {
                            current.jid.clone()
                        };
                        entry = job::unreadable_entry(&current.job, &current.queue, &jid);
                        SidekiqJob::parse(entry.as_bytes())
                            .map_err(|e| SettleError::Backend(SidekiqError::Payload(e.0)))?
                    }
                };
                if let Some(payload) = payload {
                    // Progress that cannot be written back is dropped; the
                    // job's own bytes are kept.
                    let _ = job.absorb(payload);
                }
                job.set("error_message", job::json_string(reason));
                job.set("error_class", job::json_string("Jobwire::DeadLetter"));
                if job.get("failed_at").is_none() {
                    job.set("failed_at", now_s.clone());
                }
                job.remove(job::WAIT_KEY);
                ("dead", now_s, job.to_json())
            }
            (_, Err(reason)) => {
                // Only a readable job reaches a handler; anything else was
                // dead-lettered at the claim.
                return Err(SettleError::Backend(SidekiqError::Payload(reason.0)));
            }
            (Settlement::Retry { at, error, payload }, Ok(mut job)) => {
                if let Some(payload) = payload {
                    job.absorb(payload)
                        .map_err(|e| SettleError::Backend(SidekiqError::Payload(e.0)))?;
                    job.set(job::FIRST_SEEN_KEY, millis(now).to_string());
                }
                let count = if job.get("retry_count").is_some() {
                    job.attempts()
                } else {
                    0
                };
                job.set("retry_count", count.to_string());
                job.set("error_message", job::json_string(error));
                job.set("error_class", job::json_string("Jobwire::JobFailed"));
                if job.get("failed_at").is_none() {
                    job.set("failed_at", now_s.clone());
                } else {
                    job.set("retried_at", now_s.clone());
                }
                job.remove(job::WAIT_KEY);
                ("retry", seconds(at).to_string(), job.to_json())
            }
            (Settlement::Reschedule { at, payload, wait }, Ok(mut job)) => {
                if let Some(payload) = payload {
                    job.absorb(payload)
                        .map_err(|e| SettleError::Backend(SidekiqError::Payload(e.0)))?;
                    job.set(job::FIRST_SEEN_KEY, millis(now).to_string());
                }
                if job.first_seen().is_none() {
                    // A job that says neither when it was enqueued nor
                    // created (written straight to Redis) keeps the moment
                    // it was first claimed, so that its deploy window ends.
                    job.set(job::FIRST_SEEN_KEY, millis(current.first_seen).to_string());
                }
                if wait == Wait::Deferred {
                    job.set(
                        job::DEFERS_KEY,
                        current.defers.saturating_add(1).to_string(),
                    );
                }
                if at <= now {
                    job.remove(job::WAIT_KEY);
                    let json = job.to_json();
                    return self
                        .run_settle(key, "push", (&current.queue, json.as_bytes()))
                        .await;
                }
                job.set(job::WAIT_KEY, job::json_string(wait.as_str()));
                ("schedule", seconds(at).to_string(), job.to_json())
            }
            (_, Ok(_)) => {
                return self.ack(key).await;
            }
        };
        let (set, score, json) = written;
        self.run_settle(key, set, (&score, json.as_bytes())).await
    }

    async fn checkpoint(
        &self,
        key: &SidekiqKey,
        payload: &[u8],
        _data: &mut (),
    ) -> Result<(), SettleError<SidekiqError>> {
        let current = self.current(key).await?;
        let mut job = SidekiqJob::parse(&current.job)
            .map_err(|e| SettleError::Backend(SidekiqError::Payload(e.0)))?;
        job.absorb(payload)
            .map_err(|e| SettleError::Backend(SidekiqError::Payload(e.0)))?;
        job.set(job::FIRST_SEEN_KEY, millis(SystemTime::now()).to_string());
        let json = job.to_json().into_bytes();
        let mut conn = self.conn.clone();
        let done: i64 = self
            .scripts
            .checkpoint
            .prepare_invoke()
            .arg(key.claim)
            .arg(scripts::record(true, &current.queue, &json))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| SettleError::Backend(e.into()))?;
        if done != 1 {
            self.inflight().remove(&key.claim);
            return Err(SettleError::Fenced);
        }
        if let Some(inflight) = self.inflight().get_mut(&key.claim) {
            inflight.job = json;
        }
        Ok(())
    }

    /// Waits for a job on the worker's first queue, or an enqueue in this
    /// process, or the poll interval (jobs due in `schedule` and `retry`,
    /// and other queues, are found by the next claim).
    ///
    /// Sidekiq's client publishes nothing, so the wait blocks in Redis:
    /// `BLMOVE queue:Q queue:Q RIGHT RIGHT` returns as soon as the queue
    /// holds a job, and moves it from its tail to its tail, which changes
    /// nothing, atomically.
    async fn wait(&self, timeout: Duration) {
        let limit = timeout.min(self.poll);
        let Some(queue) = self.heartbeat.first_queue() else {
            let _ = tokio::time::timeout(limit, self.wake.notified()).await;
            return;
        };
        let blocked = async {
            let mut waiter = self.waiter.lock().await;
            if waiter.is_none() {
                *waiter = self.client.get_multiplexed_async_connection().await.ok();
            }
            let Some(conn) = waiter.as_mut() else {
                drop(waiter);
                tokio::time::sleep(limit).await;
                return;
            };
            let key = format!("queue:{queue}");
            let landed: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("BLMOVE")
                .arg(&key)
                .arg(&key)
                .arg("RIGHT")
                .arg("RIGHT")
                .arg(limit.as_secs_f64().max(0.001))
                .query_async(conn)
                .await;
            if landed.is_err() {
                *waiter = None;
                drop(waiter);
                tokio::time::sleep(limit).await;
            }
        };
        tokio::select! {
            () = blocked => {}
            () = self.wake.notified() => {}
            () = tokio::time::sleep(limit + Duration::from_millis(50)) => {}
        }
    }

    /// Adds the acknowledgements not yet counted to `stat:processed`.
    async fn flush(&self) {
        let processed = self.heartbeat.take_processed();
        if processed == 0 {
            return;
        }
        let mut conn = self.conn.clone();
        let counted: redis::RedisResult<()> = redis::pipe()
            .incr("stat:processed", processed)
            .ignore()
            .incr(format!("stat:processed:{}", today()), processed)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(error) = counted {
            self.heartbeat.unwritten(processed);
            tracing::warn!(%error, processed, "jobwire could not add its acknowledgements to Sidekiq's stat:processed");
        }
    }

    fn task_id(key: &SidekiqKey) -> TaskId<'_> {
        if key.jid.is_empty() {
            TaskId::Int(key.claim)
        } else {
            TaskId::Str(&key.jid)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_a_date() {
        let today = super::today();
        assert_eq!(today.len(), 10);
        assert!(today.starts_with("20"));
    }

    #[test]
    fn jids_are_24_hex_digits_and_differ() {
        let a = super::new_jid();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, super::new_jid());
    }
}
