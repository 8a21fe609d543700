//! The embedded queue: one SQLite file, shared by every process that opens
//! it (feature `sqlite`).
//!
//! SQLite is bundled, so there is nothing to install. The file is in WAL
//! mode, so readers never block the writer; claims, settlements and
//! checkpoints are single statements or `BEGIN IMMEDIATE` transactions, so
//! processes take turns to write and never deadlock. Idle workers poll
//! (SQLite has no cross-process notification); within one process an
//! enqueue wakes them at once.
//!
//! It lends handlers no transaction (`Data = ()`): SQLite has one writer at
//! a time, and a job holding it while it runs would stop every other worker.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jobwire::backend::sqlite::Sqlite;
//! let queue = Sqlite::open("jobs.db").await?;
//! println!("{}", Sqlite::SCHEMA);
//! # Ok(())
//! # }
//! ```

use crate::backend::group_commit::GroupCommit;
use crate::backend::{
    carried_version, sort_out, storable, Backend, Claim, ClaimRequest, DeadLetter, Enqueue,
    Enqueued, QueuedJob, RowKey, SettleError, Settlement,
};
use crate::context::TaskId;
use crate::drain::{Place, Waiting};
use crate::wire::Header;
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// The embedded queue. Cheap to clone: clones share one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobwire::backend::{Backend, Enqueue};
/// let queue = jobwire::backend::sqlite::Sqlite::open("jobs.db").await?;
/// let stored = queue.enqueue(Enqueue::new(br#"{"job":"ping","version":"1.0.0","args":{}}"#)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Sqlite {
    /// For the application's own queries, and reads.
    pool: SqlitePool,
    /// The queue's writes, one at a time: SQLite has one writer, and writes
    /// that wait their turn here wait without the busy handler's sleeps.
    writer: SqlitePool,
    /// Acknowledgements waiting to be committed together.
    acks: Arc<GroupCommit>,
    wake: Arc<Notify>,
}

impl Sqlite {
    /// The schema, for those who apply it themselves.
    ///
    /// ```
    /// assert!(jobwire::backend::sqlite::Sqlite::SCHEMA.contains("CREATE TABLE IF NOT EXISTS jobwire_jobs"));
    /// ```
    pub const SCHEMA: &'static str = include_str!("schema.sql");

    /// Opens (or creates) the queue in the file at `path`, and applies the
    /// schema.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), sqlx::Error> {
    /// let queue = jobwire::backend::sqlite::Sqlite::open("jobs.db").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> Result<Sqlite, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30));
        Sqlite::connect_with(options).await
    }

    /// Opens the queue with options of your own, and applies the schema.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), sqlx::Error> {
    /// let options = sqlx::sqlite::SqliteConnectOptions::new().filename("jobs.db").create_if_missing(true);
    /// let queue = jobwire::backend::sqlite::Sqlite::connect_with(options).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Sqlite, sqlx::Error> {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let queue = Sqlite {
            pool,
            writer,
            acks: Arc::new(GroupCommit::default()),
            wake: Arc::new(Notify::new()),
        };
        queue.migrate().await?;
        Ok(queue)
    }

    /// Applies the schema; idempotent, and safe with several processes
    /// starting at once.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// queue.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(Self::SCHEMA).execute(&mut *tx).await?;
        // Version 2: a version 1 table gains `progressed`.
        let progressed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pragma_table_info('jobwire_jobs') WHERE name = 'progressed'",
        )
        .fetch_one(&mut *tx)
        .await?;
        if progressed == 0 {
            sqlx::raw_sql(
                "ALTER TABLE jobwire_jobs ADD COLUMN progressed INTEGER NOT NULL DEFAULT 0",
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::raw_sql("INSERT OR IGNORE INTO jobwire_schema (version) VALUES (2)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// The connection pool, for your own queries on the same file.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
    ///     .fetch_one(queue.pool())
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The dead letters, oldest first.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// for dead in queue.dead_letters().await? {
    ///     println!("#{} {}: {}", dead.job_id, dead.job.as_deref().unwrap_or("?"), dead.reason);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Rows are input (any producer, in any language, may have written
    /// them): text that is not UTF-8 is read as bytes, so one bad row never
    /// hides the rest. A job name that is not UTF-8 is `None` (unreadable),
    /// and a queue or reason that is not is shown with U+FFFD in place of
    /// the bad bytes.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, job_id, CAST(queue AS BLOB) AS queue, CAST(job AS BLOB) AS job,
                    CAST(version AS BLOB) AS version, CAST(payload AS BLOB) AS payload,
                    CAST(reason AS BLOB) AS reason, attempt, died_at
             FROM jobwire_dead ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    id: row.try_get("id")?,
                    job_id: row.try_get::<i64, _>("job_id").unwrap_or(0),
                    queue: lossy(row, "queue"),
                    job: utf8(row, "job"),
                    version: utf8(row, "version"),
                    died_at: row
                        .try_get::<Option<i64>, _>("died_at")
                        .ok()
                        .flatten()
                        .map(from_millis),
                    payload: row
                        .try_get::<Option<Vec<u8>>, _>("payload")?
                        .unwrap_or_default(),
                    reason: lossy(row, "reason"),
                    attempt: row
                        .try_get::<i64, _>("attempt")
                        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
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
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// for w in queue.waiting().await? {
    ///     println!("{:?} {:?} {}: {}", w.job, w.version, w.place, w.count);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn waiting(&self) -> Result<Vec<Waiting>, sqlx::Error> {
        let now = millis(SystemTime::now());
        // Text is read as bytes: a job name that is not UTF-8 is reported
        // as unreadable (`None`), and the other rows are listed as usual.
        let rows = sqlx::query(
            "SELECT CAST(job AS BLOB) AS job, CAST(version AS BLOB) AS version,
                    state, CAST(wait AS BLOB) AS wait, run_at > ?1 AS later, COUNT(*) AS n,
                    MIN(enqueued_at) AS oldest
             FROM jobwire_jobs GROUP BY 1, 2, 3, 4, 5
             UNION ALL
             SELECT CAST(job AS BLOB), CAST(version AS BLOB), 'dead', 'dead', 0, COUNT(*),
                    MIN(enqueued_at)
             FROM jobwire_dead GROUP BY 1, 2
             ORDER BY 1, 2",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let place = Place::of_row(
                    &lossy(row, "state"),
                    &lossy(row, "wait"),
                    row.try_get("later").unwrap_or(false),
                );
                Ok(Waiting::from_row(
                    utf8(row, "job"),
                    utf8(row, "version").as_deref(),
                    place,
                    u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
                    row.try_get::<Option<i64>, _>("oldest")
                        .ok()
                        .flatten()
                        .map(from_millis),
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
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// queue.requeue_dead(1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn requeue_dead(&self, id: i64) -> Result<bool, sqlx::Error> {
        let now = millis(SystemTime::now());
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let moved = sqlx::query(
            "INSERT INTO jobwire_jobs (queue, job, version, payload, run_at, first_seen, enqueued_at, last_error)
             SELECT queue, job, version, payload, ?1, ?1, enqueued_at,
                    'requeued from the dead letters (#' || id || '); dead-lettered after '
                    || attempt || ' attempt(s) because: ' || reason
             FROM jobwire_dead WHERE id = ?2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM jobwire_dead WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(moved == 1)
    }

    /// How many jobs were ever enqueued on this queue (the id sequence's
    /// last value; a requeued dead letter counts again): with the number
    /// waiting, what the console's throughput chart is drawn from.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// let ever = queue.enqueued_total().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueued_total(&self) -> Result<u64, sqlx::Error> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'jobwire_jobs'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(seq.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// The jobs in the queue, oldest first, at most `limit`; only `job`'s
    /// (by name as stored) when given. Rows are input: text that is not
    /// UTF-8 reads as `None` (or with U+FFFD), never as an error.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
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
        let now = millis(SystemTime::now());
        let rows = sqlx::query(
            "SELECT id, CAST(queue AS BLOB) AS queue, CAST(job AS BLOB) AS job,
                    CAST(version AS BLOB) AS version, CAST(payload AS BLOB) AS payload,
                    CAST(state AS BLOB) AS state, CAST(wait AS BLOB) AS wait, run_at > ?1 AS later,
                    attempt, defers, enqueued_at, first_seen, run_at,
                    CAST(last_error AS BLOB) AS last_error, CAST(worker AS BLOB) AS worker
             FROM jobwire_jobs WHERE ?2 IS NULL OR job = ?2 ORDER BY id LIMIT ?3",
        )
        .bind(now)
        .bind(job)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let time = |column: &str| {
                    row.try_get::<Option<i64>, _>(column)
                        .ok()
                        .flatten()
                        .map(from_millis)
                };
                let count = |column: &str| {
                    row.try_get::<i64, _>(column)
                        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
                };
                QueuedJob {
                    id: row.try_get("id").unwrap_or(0),
                    queue: lossy(row, "queue"),
                    job: utf8(row, "job"),
                    version: utf8(row, "version"),
                    place: Place::of_row(
                        &lossy(row, "state"),
                        &lossy(row, "wait"),
                        row.try_get("later").unwrap_or(false),
                    ),
                    payload: row
                        .try_get::<Option<Vec<u8>>, _>("payload")
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    attempt: count("attempt"),
                    defers: count("defers"),
                    enqueued_at: time("enqueued_at"),
                    first_seen: time("first_seen"),
                    run_at: time("run_at"),
                    last_error: utf8(row, "last_error"),
                    worker: utf8(row, "worker"),
                }
            })
            .collect())
    }

    /// Deletes a dead letter for good. `false` if there is no such dead
    /// letter.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> Result<(), sqlx::Error> {
    /// let gone = queue.discard_dead(1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn discard_dead(&self, id: i64) -> Result<bool, sqlx::Error> {
        let gone = sqlx::query("DELETE FROM jobwire_dead WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(gone == 1)
    }
}

const ACK: &str = "DELETE FROM jobwire_jobs WHERE id = ?1 AND epoch = ?2 AND state = 'running'";

/// Acknowledges `key` in the next group commit: the rows deleted (0 when
/// fenced). A group whose transaction failed acknowledges each of its jobs
/// alone, for an answer (and an error) of its own.
async fn ack(acks: &GroupCommit, writer: &SqlitePool, key: RowKey) -> Result<u64, sqlx::Error> {
    let grouped = acks
        .ack(key, |keys| async move {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
            let mut rows = Vec::with_capacity(keys.len());
            for key in &keys {
                rows.push(
                    sqlx::query(ACK)
                        .bind(key.id)
                        .bind(key.epoch)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                );
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        })
        .await;
    match grouped {
        Some(rows) => Ok(rows),
        None => Ok(sqlx::query(ACK)
            .bind(key.id)
            .bind(key.epoch)
            .execute(writer)
            .await?
            .rows_affected()),
    }
}

/// A fenced change: `Fenced` when no row matched.
fn fenced(rows: u64) -> Result<(), SettleError<sqlx::Error>> {
    if rows == 0 {
        Err(SettleError::Fenced)
    } else {
        Ok(())
    }
}

impl Backend for Sqlite {
    type Key = RowKey;
    type Data = ();
    type Error = sqlx::Error;

    async fn enqueue(&self, job: Enqueue<'_>) -> Result<Enqueued, sqlx::Error> {
        let now = millis(SystemTime::now());
        let runnable = job.at.map_or(now, |at| millis(at).max(now));
        let header = Header::read(job.payload).ok();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobwire_jobs (queue, job, version, payload, run_at, first_seen, enqueued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) RETURNING id",
        )
        .bind(job.queue)
        .bind(header.as_ref().map(|h| h.job().to_owned()))
        .bind(header.as_ref().map(|h| h.version().to_string()))
        .bind(job.payload)
        .bind(runnable)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        self.wake.notify_waiters();
        Ok(Enqueued::new(id))
    }

    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claim<RowKey>>, sqlx::Error> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let now = millis(SystemTime::now());
        let lease = i64::try_from(request.lease.as_millis()).unwrap_or(i64::MAX);
        let queues = serde_json::to_string(request.queues).unwrap_or_else(|_| "[]".to_owned());
        let skip = serde_json::to_string(request.skip).unwrap_or_else(|_| "[]".to_owned());
        // A lease that ran out counts an attempt (the job may be what killed
        // its worker), unless the claim made progress (a checkpoint) first.
        let rows = sqlx::query(
            "UPDATE jobwire_jobs
             SET state = 'running',
                 epoch = epoch + 1,
                 attempt = attempt + (CASE WHEN state = 'running' AND progressed = 0 THEN 1 ELSE 0 END),
                 progressed = 0,
                 run_at = ?1 + ?2,
                 worker = ?3
             WHERE id IN (
                 SELECT id FROM jobwire_jobs
                 WHERE queue IN (SELECT value FROM json_each(?4))
                   AND (job IS NULL OR job NOT IN (SELECT value FROM json_each(?5)))
                   AND run_at <= ?1
                 ORDER BY run_at, id
                 LIMIT ?6)
             RETURNING id, epoch, queue, payload, attempt, defers, first_seen",
        )
        .bind(now)
        .bind(lease)
        .bind(request.worker)
        .bind(queues)
        .bind(skip)
        .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.writer)
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
        let until = millis(SystemTime::now() + lease);
        let mut lost = Vec::new();
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for key in claims {
            let renewed = sqlx::query(
                "UPDATE jobwire_jobs SET run_at = ?1
                 WHERE id = ?2 AND epoch = ?3 AND state = 'running'",
            )
            .bind(until)
            .bind(key.id)
            .bind(key.epoch)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if renewed == 0 {
                lost.push(*key);
            }
        }
        tx.commit().await?;
        Ok(lost)
    }

    fn lend(&self, _key: &RowKey) {}

    async fn settle(
        &self,
        key: &RowKey,
        _data: (),
        settlement: Settlement<'_>,
    ) -> Result<(), SettleError<sqlx::Error>> {
        let backend = SettleError::Backend;
        let rows = match settlement {
            Settlement::Ack => ack(&self.acks, &self.writer, *key).await.map_err(backend)?,
            Settlement::Reschedule { at, payload, wait } => {
                // Only a deferral counts as one; new bytes are newly seen.
                let rows = sqlx::query(
                    "UPDATE jobwire_jobs
                     SET state = 'ready', run_at = ?3,
                         defers = defers + (CASE WHEN ?4 = 'deferred' THEN 1 ELSE 0 END),
                         wait = ?4, payload = COALESCE(?5, payload),
                         version = COALESCE(?7, version),
                         first_seen = CASE WHEN ?5 IS NULL THEN first_seen ELSE ?6 END,
                         progressed = 0
                     WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
                )
                .bind(key.id)
                .bind(key.epoch)
                .bind(millis(at))
                .bind(wait.as_str())
                .bind(payload)
                .bind(millis(SystemTime::now()))
                .bind(carried_version(payload))
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
                self.wake.notify_waiters();
                rows
            }
            Settlement::Retry { at, error, payload } => sqlx::query(
                "UPDATE jobwire_jobs
                 SET state = 'ready', run_at = ?3, attempt = attempt + 1, wait = 'retrying',
                     last_error = ?4, payload = COALESCE(?5, payload),
                     version = COALESCE(?7, version),
                     first_seen = CASE WHEN ?5 IS NULL THEN first_seen ELSE ?6 END,
                     progressed = 0
                 WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
            )
            .bind(key.id)
            .bind(key.epoch)
            .bind(millis(at))
            .bind(storable(error).into_owned())
            .bind(payload)
            .bind(millis(SystemTime::now()))
            .bind(carried_version(payload))
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected(),
            Settlement::DeadLetter { reason, payload } => {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(backend)?;
                let moved = sqlx::query(
                    "INSERT INTO jobwire_dead
                         (job_id, queue, job, version, payload, reason, attempt, defers,
                          first_seen, enqueued_at, died_at)
                     SELECT id, queue, job, COALESCE(?6, version), COALESCE(?3, CAST(payload AS BLOB)), ?4,
                            attempt, defers, first_seen, enqueued_at, ?5
                     FROM jobwire_jobs WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
                )
                .bind(key.id)
                .bind(key.epoch)
                .bind(payload)
                .bind(storable(reason).into_owned())
                .bind(millis(SystemTime::now()))
                .bind(carried_version(payload))
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
                sqlx::query("DELETE FROM jobwire_jobs WHERE id = ?1 AND epoch = ?2")
                    .bind(key.id)
                    .bind(key.epoch)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                moved
            }
        };
        fenced(rows)
    }

    async fn checkpoint(
        &self,
        key: &RowKey,
        payload: &[u8],
        _data: &mut (),
    ) -> Result<(), SettleError<sqlx::Error>> {
        // New bytes: the deploy window counts from now, and a lease that
        // runs out after this does not count an attempt.
        let rows = sqlx::query(
            "UPDATE jobwire_jobs
             SET payload = ?3, version = COALESCE(?5, version), first_seen = ?4, progressed = 1
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
        )
        .bind(key.id)
        .bind(key.epoch)
        .bind(payload)
        .bind(millis(SystemTime::now()))
        .bind(carried_version(Some(payload)))
        .execute(&self.writer)
        .await
        .map_err(SettleError::Backend)?
        .rows_affected();
        fenced(rows)
    }

    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }

    fn task_id(key: &RowKey) -> TaskId<'_> {
        TaskId::Int(key.id)
    }
}

/// Milliseconds since the Unix epoch, as this queue stores times.
fn millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time at `millis` since the Unix epoch.
fn from_millis(millis: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// A claimed row as a claim; the error names the column that cannot be read.
fn read_claim(row: &SqliteRow, key: RowKey) -> Result<Claim<RowKey>, sqlx::Error> {
    Ok(Claim {
        key,
        queue: row.try_get("queue")?,
        payload: row.try_get("payload")?,
        attempt: u32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(u32::MAX),
        defers: u32::try_from(row.try_get::<i64, _>("defers")?).unwrap_or(u32::MAX),
        first_seen: from_millis(row.try_get("first_seen")?),
    })
}

/// A text column read as bytes: `None` when NULL or not UTF-8.
fn utf8(row: &SqliteRow, column: &str) -> Option<String> {
    row.try_get::<Option<Vec<u8>>, _>(column)
        .ok()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// A text column read as bytes, with U+FFFD for bytes that are not UTF-8.
fn lossy(row: &SqliteRow, column: &str) -> String {
    row.try_get::<Option<Vec<u8>>, _>(column)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
