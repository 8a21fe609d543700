//! The queue a fleet shares: PostgreSQL (feature `postgres`).
//!
//! Claims take rows with `FOR UPDATE SKIP LOCKED`, so workers never wait on
//! each other and never claim the same row twice; every change after a
//! claim is fenced by the claim's epoch. Times are the server's, so the
//! workers' clocks do not have to agree. Idle workers sleep until a
//! `NOTIFY` on the `jobwire` channel (sent by a trigger, so producers in any
//! language wake them), with the poll interval as a fallback.
//!
//! The rows live in segments, the partitions of `jobwire_jobs`, and a
//! segment whose jobs are all done is emptied with `TRUNCATE`: the queue's
//! dead tuples stay bounded even while a transaction elsewhere pins
//! VACUUM's horizon ([`Postgres::rotate`]).
//!
//! Handlers get a [`Tx`]: a transaction begun on first use, in which the job
//! is acknowledged. What a handler writes through it commits exactly when
//! the job is acknowledged, and not at all if the job fails, is deferred, or
//! its claim was lost: for work inside the same database, a job runs
//! exactly once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jobwire::backend::postgres::Postgres;
//! let queue = Postgres::connect("postgres://localhost/app").await?;
//! println!("{}", Postgres::SCHEMA);
//! # Ok(())
//! # }
//! ```

mod health;
mod rotation;

pub use health::{ClaimProbe, Health, OldestTransaction, QueueDepth, TableHealth};
pub use rotation::Turn;

use crate::backend::group_commit::GroupCommit;
use crate::backend::{
    carried_version, sort_out, storable, Backend, Claim, ClaimRequest, DeadLetter, Enqueue,
    Enqueued, QueuedJob, RowKey, SettleError, Settlement,
};
use crate::context::TaskId;
use crate::drain::{Place, Waiting};
use crate::wire::Header;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The PostgreSQL queue. Cheap to clone: clones share one pool and one
/// listener, which stops with the last clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobwire::backend::{Backend, Enqueue};
/// let queue = jobwire::backend::postgres::Postgres::connect("postgres://localhost/app").await?;
/// queue.enqueue(Enqueue::new(br#"{"job":"ping","version":"1.0.0","args":{}}"#)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Postgres {
    pool: PgPool,
    acks: Arc<GroupCommit>,
    wake: Arc<Notify>,
    _tasks: Arc<Background>,
}

/// The tasks that turn notifications into wake-ups and turn the segments;
/// aborted on drop.
#[derive(Debug)]
struct Background([JoinHandle<()>; 2]);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The lock `migrate` holds, so that workers starting together take turns.
const MIGRATION_LOCK: i64 = 0x6a6f_6277_6972_6501;

/// How often a connected queue turns its segments.
const ROTATION_PERIOD: Duration = Duration::from_secs(1);

impl Postgres {
    /// The schema, for those who apply it themselves.
    ///
    /// ```
    /// assert!(jobwire::backend::postgres::Postgres::SCHEMA.contains("FOR EACH ROW"));
    /// ```
    pub const SCHEMA: &'static str = include_str!("schema.sql");

    /// The claim, for those who `EXPLAIN` it against their own backlog:
    /// `$1` the queues (`text[]`), `$2` the job names to skip (`text[]`),
    /// `$3` how many (`bigint`), `$4` the lease in milliseconds (`bigint`),
    /// `$5` the worker's name.
    ///
    /// Each queue is read on its own, in index order (`queue, run_at, id`),
    /// and the queues' heads are merged: a claim reads about as many index
    /// entries as it claims, whatever the backlog, instead of sorting every
    /// ready row (`queue = ANY($1) ORDER BY run_at, id` cannot use the
    /// index's order, so it did: 46 ms at 100,000 ready rows, against
    /// 0.1 ms). A running row whose lease ran out (`run_at` is its lease) is
    /// claimable again, and that claim counts an attempt (the job may be
    /// what killed its worker), unless the claim made progress first. A
    /// time no clock can show (`infinity`) reads as NULL, and its row is
    /// dead-lettered instead of failing the whole claim.
    ///
    /// ```
    /// assert!(jobwire::backend::postgres::Postgres::CLAIM.contains("CROSS JOIN LATERAL"));
    /// ```
    pub const CLAIM: &'static str = "WITH picked AS (
             SELECT c.id FROM unnest($1::text[]) AS q(name)
             CROSS JOIN LATERAL (
                 SELECT id, run_at FROM jobwire_jobs
                 WHERE queue = q.name AND run_at <= now()
                   AND (job IS NULL OR NOT (job = ANY($2)))
                 ORDER BY run_at, id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED) AS c
             ORDER BY c.run_at, c.id
             LIMIT $3)
         UPDATE jobwire_jobs AS j
         SET state = 'running',
             epoch = j.epoch + 1,
             attempt = j.attempt + (CASE WHEN j.state = 'running' AND NOT j.progressed THEN 1 ELSE 0 END),
             progressed = false,
             run_at = now() + $4 * interval '1 millisecond',
             worker = $5
         WHERE j.id = ANY (ARRAY(SELECT id FROM picked))
         RETURNING j.id, j.epoch, j.queue, j.payload, j.attempt, j.defers,
                   CASE WHEN isfinite(j.first_seen)
                        THEN (extract(epoch FROM j.first_seen) * 1000)::bigint END AS first_seen";

    /// The acknowledgement of a claim without lent work, for `EXPLAIN`: `$1`
    /// the row's id, `$2` the claim's epoch (the fence).
    ///
    /// ```
    /// assert!(jobwire::backend::postgres::Postgres::ACK.starts_with("DELETE"));
    /// ```
    pub const ACK: &'static str =
        "DELETE FROM jobwire_jobs WHERE id = $1 AND epoch = $2 AND state = 'running'";

    /// The acknowledgement of a group of claims without lent work (jobs that
    /// finish together are acknowledged in one statement, each fenced by its
    /// own epoch), for `EXPLAIN`: `$1` the ids (`bigint[]`), `$2` their
    /// epochs (`bigint[]`). It returns the ids it deleted: a missing one was
    /// fenced, and only that job is.
    ///
    /// ```
    /// assert!(jobwire::backend::postgres::Postgres::ACK_MANY.contains("array_position"));
    /// ```
    pub const ACK_MANY: &'static str = "DELETE FROM jobwire_jobs AS j
         WHERE j.id = ANY ($1::bigint[])
           AND j.epoch = ($2::bigint[])[array_position($1::bigint[], j.id)]
           AND j.state = 'running'
         RETURNING j.id";

    /// The console's listing of jobs ([`jobs`](Self::jobs)), for `EXPLAIN`:
    /// `$1` a job name or `NULL`, `$2` the limit. Run after
    /// [`JOBS_PLAN`](Self::JOBS_PLAN) in the same transaction, it merges the
    /// segments' primary keys in order and stops at the limit, whatever the
    /// backlog.
    ///
    /// ```
    /// assert!(jobwire::backend::postgres::Postgres::JOBS.contains("ORDER BY id LIMIT"));
    /// ```
    pub const JOBS: &'static str = "SELECT id, queue, job, version, payload, state, wait,
                run_at > now() AS later, attempt, defers,
                (EXTRACT(EPOCH FROM enqueued_at) * 1000)::BIGINT AS enqueued_at,
                (EXTRACT(EPOCH FROM first_seen) * 1000)::BIGINT AS first_seen,
                (EXTRACT(EPOCH FROM run_at) * 1000)::BIGINT AS run_at,
                last_error, worker
         FROM jobwire_jobs WHERE $1::TEXT IS NULL OR job = $1 ORDER BY id LIMIT $2";

    /// What [`JOBS`](Self::JOBS) runs after, in its transaction: without a
    /// sort, the planner reads each segment's key in order (a merge of
    /// index scans) instead of reading the whole backlog to sort it, which
    /// it prefers on tables it has no statistics for (measured: 0.8 ms
    /// against 46 ms for 200,000 jobs).
    ///
    /// ```
    /// assert!(jobwire::backend::postgres::Postgres::JOBS_PLAN.starts_with("SET LOCAL"));
    /// ```
    pub const JOBS_PLAN: &'static str = "SET LOCAL enable_sort = off";

    /// Connects to the database at `url`, applies the schema and starts
    /// listening for work.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), sqlx::Error> {
    /// let queue = jobwire::backend::postgres::Postgres::connect("postgres://127.0.0.1/test").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Postgres, sqlx::Error> {
        let options: PgConnectOptions = url.parse()?;
        Postgres::connect_with(options).await
    }

    /// Connects with options of your own (a `search_path`, say), applies the
    /// schema and starts listening for work.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), sqlx::Error> {
    /// use sqlx::postgres::PgConnectOptions;
    /// let options = PgConnectOptions::new().host("127.0.0.1").database("app");
    /// let queue = jobwire::backend::postgres::Postgres::connect_with(options).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(options: PgConnectOptions) -> Result<Postgres, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Postgres::with_pool(pool).await
    }

    /// Uses a pool you already have: applies the schema and starts listening
    /// for work. Handlers' transactions come from this pool, so give it at
    /// least as many connections as the worker's concurrency, plus two.
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
    /// let queue = jobwire::backend::postgres::Postgres::with_pool(pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_pool(pool: PgPool) -> Result<Postgres, sqlx::Error> {
        migrate(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen("jobwire").await?;
        let wake = Arc::new(Notify::new());
        let listening = tokio::spawn(listen(listener, Arc::clone(&wake)));
        let rotating = tokio::spawn(rotation::every(pool.clone(), ROTATION_PERIOD));
        Ok(Postgres {
            pool,
            acks: Arc::new(GroupCommit::default()),
            wake,
            _tasks: Arc::new(Background([listening, rotating])),
        })
    }

    /// Turns the segments once, now, and says what it did: the segment new
    /// rows go to, how many waiting rows moved there, and which segments
    /// were emptied with `TRUNCATE` (or vacuumed, when a reader held one).
    /// A connected `Postgres` does this every second by itself; `busy`
    /// means another process was doing it.
    ///
    /// The queue's rows live in segments, the partitions of `jobwire_jobs`:
    /// new rows go to the current one, which gives way to the next empty one
    /// after `rotate_after` rows (2,000) or `rotate_every` (5 s); a segment
    /// no longer current is emptied once its rows are done, with its waiting
    /// rows moved out first when few are left (`move_below`, 1,000); the
    /// lock `TRUNCATE` needs is taken only if it is free at once, so claims
    /// never wait behind it. The
    /// three are columns of `jobwire_rotation`, for those who tune them.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// println!("{}", queue.rotate().await?); // e.g. "current 2, moved 3, truncated [1], vacuumed []"
    /// # Ok(())
    /// # }
    /// ```
    pub async fn rotate(&self) -> Result<Turn, sqlx::Error> {
        rotation::turn(&self.pool).await
    }

    /// Applies the schema; idempotent, and safe with several processes
    /// starting at once (they take turns under an advisory lock).
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// queue.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        migrate(&self.pool).await
    }

    /// How the queue is doing: its tables' live and dead tuples and size,
    /// the oldest open transaction in the cluster, what a claim of the
    /// queues' heads costs now, and each queue's depth. Read-only.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// print!("{}", queue.health().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn health(&self) -> Result<Health, sqlx::Error> {
        health::read(&self.pool).await
    }

    /// [`Postgres::health`] through a pool of your own, without applying the
    /// schema first: a database without jobwire's tables reports none.
    /// `jobwire health` reads it this way.
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
    /// let health = jobwire::backend::postgres::Postgres::health_of(&pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn health_of(pool: &PgPool) -> Result<Health, sqlx::Error> {
        health::read(pool).await
    }

    /// Enqueues on the caller's connection or transaction (any sqlx
    /// executor): inside the application's own transaction, the job commits
    /// or rolls back with the application's data. Workers are woken when it
    /// commits.
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool, payload: Vec<u8>) -> Result<(), sqlx::Error> {
    /// use jobwire::backend::{postgres::Postgres, Enqueue};
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("UPDATE users SET confirmed = true WHERE id = 42").execute(&mut *tx).await?;
    /// Postgres::enqueue_in(&mut *tx, Enqueue::new(&payload)).await?;
    /// tx.commit().await?; // the user and the job, or neither
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_in<'c, E>(executor: E, job: Enqueue<'_>) -> Result<Enqueued, sqlx::Error>
    where
        E: sqlx::PgExecutor<'c>,
    {
        let header = Header::read(job.payload).ok();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobwire_jobs (queue, job, version, payload, run_at, first_seen)
             VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond',
                     now() + $5 * interval '1 millisecond')
             RETURNING id",
        )
        .bind(job.queue)
        .bind(header.as_ref().map(|h| storable(h.job()).into_owned()))
        .bind(header.as_ref().map(|h| h.version().to_string()))
        .bind(job.payload)
        .bind(job.at.map_or(0, delay_millis))
        .fetch_one(executor)
        .await?;
        Ok(Enqueued::new(id))
    }

    /// Enqueues many jobs in one statement and one round trip, on the
    /// queue's pool: for backfills and fan-out. Their ids, in the order
    /// given.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres, payloads: Vec<Vec<u8>>) -> Result<(), sqlx::Error> {
    /// use jobwire::backend::Enqueue;
    /// let jobs: Vec<Enqueue<'_>> = payloads.iter().map(|p| Enqueue::new(p)).collect();
    /// let ids = queue.enqueue_many(&jobs).await?;
    /// assert_eq!(ids.len(), jobs.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_many(&self, jobs: &[Enqueue<'_>]) -> Result<Vec<Enqueued>, sqlx::Error> {
        Postgres::enqueue_many_in(&self.pool, jobs).await
    }

    /// [`enqueue_many`](Postgres::enqueue_many) on the caller's connection
    /// or transaction: the jobs commit or roll back with it.
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool, payloads: Vec<Vec<u8>>) -> Result<(), sqlx::Error> {
    /// use jobwire::backend::{postgres::Postgres, Enqueue};
    /// let jobs: Vec<Enqueue<'_>> = payloads.iter().map(|p| Enqueue::new(p)).collect();
    /// let mut tx = pool.begin().await?;
    /// Postgres::enqueue_many_in(&mut *tx, &jobs).await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_many_in<'c, E>(
        executor: E,
        jobs: &[Enqueue<'_>],
    ) -> Result<Vec<Enqueued>, sqlx::Error>
    where
        E: sqlx::PgExecutor<'c>,
    {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut queues = Vec::with_capacity(jobs.len());
        let mut names = Vec::with_capacity(jobs.len());
        let mut versions = Vec::with_capacity(jobs.len());
        let mut payloads = Vec::with_capacity(jobs.len());
        let mut delays = Vec::with_capacity(jobs.len());
        for job in jobs {
            let header = Header::read(job.payload).ok();
            queues.push(job.queue);
            names.push(header.as_ref().map(|h| storable(h.job()).into_owned()));
            versions.push(header.as_ref().map(|h| h.version().to_string()));
            payloads.push(job.payload);
            delays.push(job.at.map_or(0, delay_millis));
        }
        // The rows are inserted in the order given, and ids come from one
        // sequence: sorted ids are that order.
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO jobwire_jobs (queue, job, version, payload, run_at, first_seen)
             SELECT queue, job, version, payload,
                    now() + delay * interval '1 millisecond', now() + delay * interval '1 millisecond'
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[])
                  AS given(queue, job, version, payload, delay)
             RETURNING id",
        )
        .bind(&queues)
        .bind(&names)
        .bind(&versions)
        .bind(&payloads)
        .bind(&delays)
        .fetch_all(executor)
        .await?;
        ids.sort_unstable();
        Ok(ids.into_iter().map(Enqueued::new).collect())
    }

    /// The connection pool, for your own queries.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
    ///     .fetch_one(queue.pool())
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The dead letters, oldest first.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// for dead in queue.dead_letters().await? {
    ///     println!("#{} {}: {}", dead.job_id, dead.job.as_deref().unwrap_or("?"), dead.reason);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, job_id, queue, job, version, payload, reason, attempt,
                    (EXTRACT(EPOCH FROM died_at) * 1000)::BIGINT AS died_at
             FROM jobwire_dead ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    id: row.try_get("id")?,
                    job_id: row.try_get("job_id")?,
                    queue: row.try_get("queue")?,
                    job: row.try_get("job")?,
                    version: row.try_get("version")?,
                    died_at: row.try_get::<Option<i64>, _>("died_at")?.map(|ms| {
                        UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
                    }),
                    payload: row.try_get("payload")?,
                    reason: row.try_get("reason")?,
                    attempt: count(row.try_get("attempt")?),
                    jid: None,
                })
            })
            .collect()
    }

    /// What waits in this queue, per (job name, version) and per place,
    /// dead letters included, with counts and the oldest enqueue time: the
    /// queue's half of [drain](crate::drain).
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// for w in queue.waiting().await? {
    ///     println!("{:?} {:?} {}: {}", w.job, w.version, w.place, w.count);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn waiting(&self) -> Result<Vec<Waiting>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT job, version, state, wait, run_at > now() AS later, COUNT(*) AS n,
                    (EXTRACT(EPOCH FROM MIN(enqueued_at)) * 1000)::BIGINT AS oldest
             FROM jobwire_jobs GROUP BY 1, 2, 3, 4, 5
             UNION ALL
             SELECT job, version, 'dead', 'dead', false, COUNT(*),
                    (EXTRACT(EPOCH FROM MIN(enqueued_at)) * 1000)::BIGINT
             FROM jobwire_dead GROUP BY 1, 2
             ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let place = Place::of_row(
                    &row.try_get::<String, _>("state")?,
                    &row.try_get::<String, _>("wait")?,
                    row.try_get("later")?,
                );
                Ok(Waiting::from_row(
                    row.try_get("job")?,
                    row.try_get::<Option<String>, _>("version")?.as_deref(),
                    place,
                    u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
                    row.try_get::<Option<i64>, _>("oldest")?.map(|ms| {
                        UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
                    }),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map(Waiting::merged)
    }

    /// Puts a dead letter back on its queue, runnable now, with its attempts
    /// reset: once the release that reads it runs, or the bug is fixed.
    /// The bytes are kept; the row's `last_error` records the requeue and
    /// why the job was dead-lettered. `false` if there is no such dead
    /// letter.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// queue.requeue_dead(1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn requeue_dead(&self, id: i64) -> Result<bool, sqlx::Error> {
        let moved = sqlx::query(
            "WITH dead AS (DELETE FROM jobwire_dead WHERE id = $1 RETURNING *)
             INSERT INTO jobwire_jobs (queue, job, version, payload, enqueued_at, last_error)
             SELECT queue, job, version, payload, enqueued_at,
                    'requeued from the dead letters (#' || id || '); dead-lettered after '
                    || attempt || ' attempt(s) because: ' || reason
             FROM dead",
        )
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    /// How many jobs were ever enqueued on this queue (the id sequence's
    /// last value; a requeued dead letter counts again): with the number
    /// waiting, what the console's throughput chart is drawn from.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// let ever = queue.enqueued_total().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueued_total(&self) -> Result<u64, sqlx::Error> {
        let last: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM jobwire_jobs_id_seq",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(last).unwrap_or(0))
    }

    /// The jobs in the queue, oldest first, at most `limit`; only `job`'s
    /// (by name as stored) when given.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// for job in queue.jobs(Some("user.welcome"), 50).await? {
    ///     println!("#{} {}", job.id, job.place);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn jobs(
        &self,
        job: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueuedJob>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(Self::JOBS_PLAN).execute(&mut *tx).await?;
        let rows = sqlx::query(Self::JOBS)
            .bind(job)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let time = |column: &str| -> Result<Option<SystemTime>, sqlx::Error> {
                    Ok(row.try_get::<Option<i64>, _>(column)?.map(|ms| {
                        UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
                    }))
                };
                Ok(QueuedJob {
                    id: row.try_get("id")?,
                    queue: row.try_get("queue")?,
                    job: row.try_get("job")?,
                    version: row.try_get("version")?,
                    place: Place::of_row(
                        &row.try_get::<String, _>("state")?,
                        &row.try_get::<String, _>("wait")?,
                        row.try_get("later")?,
                    ),
                    payload: row.try_get("payload")?,
                    attempt: count(row.try_get("attempt")?),
                    defers: count(row.try_get("defers")?),
                    enqueued_at: time("enqueued_at")?,
                    first_seen: time("first_seen")?,
                    run_at: time("run_at")?,
                    last_error: row.try_get("last_error")?,
                    worker: row.try_get("worker")?,
                })
            })
            .collect()
    }

    /// Deletes a dead letter for good. `false` if there is no such dead
    /// letter.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// let gone = queue.discard_dead(1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn discard_dead(&self, id: i64) -> Result<bool, sqlx::Error> {
        let gone = sqlx::query("DELETE FROM jobwire_dead WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(gone == 1)
    }
}

/// The schema version this build applies.
const SCHEMA_VERSION: i32 = 3;

/// Applies the schema under the migration lock, unless it is there already:
/// its DDL locks the queue's table, and a worker starting must not stall (or
/// deadlock with) the workers already running. A deadlock with a first
/// migration is retried.
async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tries = 0;
    loop {
        match migrate_once(pool).await {
            Err(sqlx::Error::Database(error))
                if error.code().as_deref() == Some("40P01") && tries < 5 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50 * tries)).await;
            }
            other => return other,
        }
    }
}

async fn migrate_once(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('jobwire_schema') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    let applied: Option<i32> = if exists {
        sqlx::query_scalar("SELECT max(version) FROM jobwire_schema")
            .fetch_one(&mut *tx)
            .await?
    } else {
        None
    };
    match applied {
        Some(found) if found > SCHEMA_VERSION => {
            // A newer jobwire upgraded the queue: go on only if it says
            // this build's code still reads its tables.
            let readable_from: Option<i32> =
                sqlx::query_scalar("SELECT readable_from FROM jobwire_schema WHERE version = $1")
                    .bind(found)
                    .fetch_optional(&mut *tx)
                    .await
                    .ok()
                    .flatten();
            if readable_from.is_none_or(|oldest| oldest > SCHEMA_VERSION) {
                return Err(sqlx::Error::Configuration(Box::new(SchemaTooNew {
                    found,
                    readable_from,
                    supported: SCHEMA_VERSION,
                })));
            }
        }
        Some(found) if found == SCHEMA_VERSION => {}
        _ => {
            sqlx::raw_sql(Postgres::SCHEMA).execute(&mut *tx).await?;
        }
    }
    tx.commit().await
}

/// The queue's schema was upgraded by a newer jobwire whose tables this
/// build cannot safely use: `Postgres::connect` (and `migrate`) refuse it as
/// `sqlx::Error::Configuration`, so an old worker left behind in a rolling
/// upgrade stops at start instead of misreading jobs.
///
/// ```no_run
/// # async fn demo() {
/// use jobwire::backend::postgres::{Postgres, SchemaTooNew};
/// match Postgres::connect("postgres://127.0.0.1/app").await {
///     Err(sqlx::Error::Configuration(error)) if error.is::<SchemaTooNew>() => {
///         eprintln!("deploy a newer jobwire: {error}");
///     }
///     _ => {}
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the queue's schema is version {found}, which {}; this jobwire knows versions up to {supported}: \
     run a newer jobwire",
    match readable_from {
        Some(oldest) => format!("code of schema version {oldest} or later may use"),
        None => "does not say which older code may use it".to_owned(),
    }
)]
#[non_exhaustive]
pub struct SchemaTooNew {
    /// The newest schema version applied to the database.
    pub found: i32,
    /// The oldest schema version whose code may use it, as it says.
    pub readable_from: Option<i32>,
    /// The newest schema version this build knows.
    pub supported: i32,
}

/// Wakes idle workers on every notification, and on every reconnection
/// (notifications sent while the connection was down are lost).
async fn listen(mut listener: PgListener, wake: Arc<Notify>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => wake.notify_waiters(),
            Ok(None) => wake.notify_waiters(),
            Err(error) => {
                tracing::warn!(%error, "jobwire lost its PostgreSQL listener; reconnecting");
                wake.notify_waiters();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What a PostgreSQL claim lends its handler: a transaction, begun the first
/// time the handler asks for it, in which the job is acknowledged.
///
/// ```no_run
/// use jobwire::backend::postgres::Tx;
/// use jobwire::{Context, HandlerError, Job, NoPrevious};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct CreditAccount { account: i64, cents: i64 }
///
/// impl Job for CreditAccount {
///     const NAME: &'static str = "billing.credit";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = Tx;
///
///     async fn perform(self, ctx: &mut Context<'_, (), Tx>) -> Result<(), HandlerError> {
///         jobwire::sqlx::query("UPDATE accounts SET cents = cents + $1 WHERE id = $2")
///             .bind(self.cents)
///             .bind(self.account)
///             .execute(ctx.data().conn().await?)
///             .await?;
///         Ok(()) // committed with the acknowledgement, or not at all
///     }
/// }
///
/// // The worker lends each job its claim's transaction: say so on the router.
/// let router = jobwire::Router::builder().lending::<Tx>().job::<CreditAccount>().build()?;
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[derive(Debug)]
pub struct Tx {
    pool: PgPool,
    tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl Tx {
    /// The transaction's connection, beginning the transaction on first use.
    ///
    /// ```no_run
    /// # async fn demo(tx: &mut jobwire::backend::postgres::Tx) -> Result<(), jobwire::sqlx::Error> {
    /// jobwire::sqlx::query("INSERT INTO audit (what) VALUES ('done')").execute(tx.conn().await?).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn conn(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        let tx = match &mut self.tx {
            Some(tx) => tx,
            empty => empty.insert(self.pool.begin().await?),
        };
        Ok(&mut **tx)
    }

    /// Whether the handler has begun the transaction.
    ///
    /// ```no_run
    /// # fn demo(tx: &jobwire::backend::postgres::Tx) {
    /// if tx.is_begun() { /* the acknowledgement will commit it */ }
    /// # }
    /// ```
    pub fn is_begun(&self) -> bool {
        self.tx.is_some()
    }
}

/// A count stored as `INTEGER`.
fn count(stored: i32) -> u32 {
    u32::try_from(stored).unwrap_or(0)
}

/// Milliseconds from now until `at`, for the server to add to its own clock.
fn delay_millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::now())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration in milliseconds, for the server.
fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A fenced change: `Fenced` when no row matched.
fn fenced(rows: u64) -> Result<(), SettleError<sqlx::Error>> {
    if rows == 0 {
        Err(SettleError::Fenced)
    } else {
        Ok(())
    }
}

const ACK: &str = Postgres::ACK;
const ACK_MANY: &str = Postgres::ACK_MANY;

/// Only a deferral counts as one; new bytes are newly seen (the deploy
/// window counts from them).
const RESCHEDULE: &str = "UPDATE jobwire_jobs
     SET state = 'ready', run_at = now() + $3 * interval '1 millisecond',
         defers = defers + (CASE WHEN $4 = 'deferred' THEN 1 ELSE 0 END),
         wait = $4, payload = COALESCE($5, payload), version = COALESCE($6, version),
         first_seen = CASE WHEN $5 IS NULL THEN first_seen ELSE now() END,
         progressed = false
     WHERE id = $1 AND epoch = $2 AND state = 'running'";

/// New bytes: the deploy window counts from now, and a lease that runs out
/// after this does not count an attempt.
const CHECKPOINT: &str = "UPDATE jobwire_jobs
     SET payload = $3, version = COALESCE($4, version), first_seen = now(), progressed = true
     WHERE id = $1 AND epoch = $2 AND state = 'running'";

impl Backend for Postgres {
    type Key = RowKey;
    type Data = Tx;
    type Error = sqlx::Error;

    async fn enqueue(&self, job: Enqueue<'_>) -> Result<Enqueued, sqlx::Error> {
        Postgres::enqueue_in(&self.pool, job).await
    }

    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claim<RowKey>>, sqlx::Error> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        // See `CLAIM`: index order per queue, leases that ran out, and rows
        // that cannot be read.
        let rows = sqlx::query(Postgres::CLAIM)
            .bind(request.queues)
            .bind(request.skip)
            .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
            .bind(duration_millis(request.lease))
            .bind(request.worker)
            .fetch_all(&self.pool)
            .await?;
        let read = rows
            .iter()
            .map(|row| {
                let key = RowKey {
                    id: row.try_get("id")?,
                    epoch: row.try_get("epoch")?,
                };
                Ok((key, read_claim(row, key)))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(sort_out(self, read).await)
    }

    async fn renew(&self, claims: &[RowKey], lease: Duration) -> Result<Vec<RowKey>, sqlx::Error> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = claims.iter().map(|key| key.id).collect();
        let epochs: Vec<i64> = claims.iter().map(|key| key.epoch).collect();
        let renewed = sqlx::query(
            "UPDATE jobwire_jobs AS j SET run_at = now() + $3 * interval '1 millisecond'
             WHERE j.id = ANY ($1::bigint[])
               AND j.epoch = ($2::bigint[])[array_position($1::bigint[], j.id)]
               AND j.state = 'running'
             RETURNING j.id, j.epoch",
        )
        .bind(&ids)
        .bind(&epochs)
        .bind(duration_millis(lease))
        .fetch_all(&self.pool)
        .await?;
        let renewed = renewed
            .iter()
            .map(|row| {
                Ok(RowKey {
                    id: row.try_get("id")?,
                    epoch: row.try_get("epoch")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(claims
            .iter()
            .filter(|key| !renewed.contains(key))
            .copied()
            .collect())
    }

    fn carries_work(data: &Tx) -> bool {
        data.is_begun()
    }

    fn lend(&self, _key: &RowKey) -> Tx {
        Tx {
            pool: self.pool.clone(),
            tx: None,
        }
    }

    /// An acknowledgement deletes the row inside the handler's transaction,
    /// if it began one, and commits: the handler's writes and the
    /// acknowledgement land together, or, if the claim was lost, neither
    /// does. A reschedule with new bytes (a checkpoint) commits with them the
    /// same way. Every other settlement rolls the transaction back; a retry
    /// or dead letter then keeps the bytes of the last committed checkpoint,
    /// since the progress it carries was rolled back with the work.
    async fn settle(
        &self,
        key: &RowKey,
        data: Tx,
        settlement: Settlement<'_>,
    ) -> Result<(), SettleError<sqlx::Error>> {
        let backend = SettleError::Backend;
        let begun = data.tx;
        match (settlement, begun) {
            (Settlement::Ack, Some(mut tx)) => {
                let rows = sqlx::query(ACK)
                    .bind(key.id)
                    .bind(key.epoch)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                fenced(rows)?;
                tx.commit().await.map_err(backend)
            }
            (Settlement::Ack, None) => {
                let pool = &self.pool;
                let grouped = self
                    .acks
                    .ack(*key, |keys| async move {
                        // A job that finishes alone: the plain statement.
                        if let [only] = keys.as_slice() {
                            let rows = sqlx::query(ACK)
                                .bind(only.id)
                                .bind(only.epoch)
                                .execute(pool)
                                .await?
                                .rows_affected();
                            return Ok(vec![rows]);
                        }
                        let (ids, epochs): (Vec<i64>, Vec<i64>) =
                            keys.iter().map(|k| (k.id, k.epoch)).unzip();
                        let mut deleted: Vec<i64> = sqlx::query_scalar(ACK_MANY)
                            .bind(&ids)
                            .bind(&epochs)
                            .fetch_all(pool)
                            .await?;
                        deleted.sort_unstable();
                        Ok::<_, sqlx::Error>(
                            ids.iter()
                                .map(|id| u64::from(deleted.binary_search(id).is_ok()))
                                .collect(),
                        )
                    })
                    .await;
                let rows = match grouped {
                    Some(rows) => rows,
                    None => sqlx::query(ACK)
                        .bind(key.id)
                        .bind(key.epoch)
                        .execute(pool)
                        .await
                        .map_err(backend)?
                        .rows_affected(),
                };
                fenced(rows)
            }
            (
                Settlement::Reschedule {
                    at,
                    payload: Some(payload),
                    wait,
                },
                Some(mut tx),
            ) => {
                let rows = sqlx::query(RESCHEDULE)
                    .bind(key.id)
                    .bind(key.epoch)
                    .bind(delay_millis(at))
                    .bind(wait.as_str())
                    .bind(payload)
                    .bind(carried_version(Some(payload)))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                fenced(rows)?;
                tx.commit().await.map_err(backend)
            }
            (Settlement::Reschedule { at, payload, wait }, _) => fenced(
                sqlx::query(RESCHEDULE)
                    .bind(key.id)
                    .bind(key.epoch)
                    .bind(delay_millis(at))
                    .bind(wait.as_str())
                    .bind(payload)
                    .bind(carried_version(payload))
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?
                    .rows_affected(),
            ),
            (Settlement::Retry { at, error, payload }, begun) => fenced(
                sqlx::query(
                    "UPDATE jobwire_jobs
                     SET state = 'ready', run_at = now() + $3 * interval '1 millisecond',
                         attempt = attempt + 1, wait = 'retrying', last_error = $4,
                         payload = COALESCE($5, payload), version = COALESCE($6, version),
                         first_seen = CASE WHEN $5 IS NULL THEN first_seen ELSE now() END,
                         progressed = false
                     WHERE id = $1 AND epoch = $2 AND state = 'running'",
                )
                .bind(key.id)
                .bind(key.epoch)
                .bind(delay_millis(at))
                .bind(storable(error).into_owned())
                .bind(payload.filter(|_| begun.is_none()))
                .bind(carried_version(payload.filter(|_| begun.is_none())))
                .execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected(),
            ),
            (Settlement::DeadLetter { reason, payload }, begun) => fenced(
                sqlx::query(
                    "WITH moved AS (
                         DELETE FROM jobwire_jobs WHERE id = $1 AND epoch = $2 AND state = 'running'
                         RETURNING *)
                     INSERT INTO jobwire_dead
                         (job_id, queue, job, version, payload, reason, attempt, defers,
                          first_seen, enqueued_at)
                     SELECT id, queue, job, COALESCE($5, version), COALESCE($3, payload), $4,
                            attempt, defers, first_seen, enqueued_at
                     FROM moved",
                )
                .bind(key.id)
                .bind(key.epoch)
                .bind(payload.filter(|_| begun.is_none()))
                .bind(storable(reason).into_owned())
                .bind(carried_version(payload.filter(|_| begun.is_none())))
                .execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected(),
            ),
        }
    }

    async fn checkpoint(
        &self,
        key: &RowKey,
        payload: &[u8],
        data: &mut Tx,
    ) -> Result<(), SettleError<sqlx::Error>> {
        let backend = SettleError::Backend;
        match data.tx.take() {
            Some(mut tx) => {
                let rows = sqlx::query(CHECKPOINT)
                    .bind(key.id)
                    .bind(key.epoch)
                    .bind(payload)
                    .bind(carried_version(Some(payload)))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                fenced(rows)?;
                tx.commit().await.map_err(backend)
            }
            None => fenced(
                sqlx::query(CHECKPOINT)
                    .bind(key.id)
                    .bind(key.epoch)
                    .bind(payload)
                    .bind(carried_version(Some(payload)))
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?
                    .rows_affected(),
            ),
        }
    }

    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }

    fn task_id(key: &RowKey) -> TaskId<'_> {
        TaskId::Int(key.id)
    }
}

/// A claimed row as a claim; the error names the column that cannot be read.
fn read_claim(row: &PgRow, key: RowKey) -> Result<Claim<RowKey>, sqlx::Error> {
    let first_seen: Option<i64> = row.try_get("first_seen")?;
    let Some(first_seen) = first_seen else {
        return Err(sqlx::Error::ColumnDecode {
            index: "first_seen".to_owned(),
            source: "not a time a clock can show (infinity)".into(),
        });
    };
    Ok(Claim {
        key,
        queue: row.try_get("queue")?,
        payload: row.try_get("payload")?,
        attempt: count(row.try_get("attempt")?),
        defers: count(row.try_get("defers")?),
        first_seen: UNIX_EPOCH + Duration::from_millis(u64::try_from(first_seen).unwrap_or(0)),
    })
}
