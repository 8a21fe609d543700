//! One of jobwire's queues, picked at run time from a URL: what the
//! `jobwire` command and the [console](crate::console) read and act on.

use crate::backend::{DeadLetter, QueuedJob};
use crate::drain::Waiting;

/// A queue picked by its URL: `sqlite:PATH`, `postgres://...` or
/// `redis://...` (Sidekiq's queue), each behind its own feature.
///
/// ```no_run
/// # async fn demo() -> Result<(), jobwire::backend::any::AnyQueueError> {
/// let queue = jobwire::backend::any::AnyQueue::connect("sqlite:jobs.db").await?;
/// for dead in queue.dead_letters().await? {
///     println!("{}: {}", dead.key(), dead.reason);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyQueue {
    /// The embedded queue.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::backend::sqlite::Sqlite),
    /// The queue a fleet shares.
    #[cfg(feature = "postgres")]
    Postgres(crate::backend::postgres::Postgres),
    /// Sidekiq's queue on Redis.
    #[cfg(feature = "redis")]
    Sidekiq(crate::backend::sidekiq::Sidekiq),
}

/// A queue could not be opened, read or changed.
///
/// ```
/// let error = jobwire::backend::any::AnyQueueError::Unsupported("mysql://db".into());
/// assert!(error.to_string().contains("mysql://db"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnyQueueError {
    /// The URL names no queue this build has.
    #[error("`{0}` is no queue this build can open: give sqlite:PATH (feature `sqlite`), postgres://... (feature `postgres`) or redis://... (feature `redis`)")]
    Unsupported(String),
    /// A SQLite queue's file is not there.
    #[error("no queue at {0}")]
    NoFile(String),
    /// This queue does not list its jobs one by one: Sidekiq's own Web UI
    /// does, for its queues, schedule and retries.
    #[error("this queue does not list its jobs one by one here ({0}): Sidekiq's Web UI does")]
    NotListed(&'static str),
    /// A dead letter's key is not one this queue uses.
    #[error("`{0}` is not a dead letter's id on this queue (a number)")]
    NotAKey(String),
    /// The SQL queue failed.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// Sidekiq's queue failed.
    #[cfg(feature = "redis")]
    #[error(transparent)]
    Sidekiq(#[from] crate::backend::sidekiq::SidekiqError),
}

#[cfg(feature = "sqlite")]
impl From<crate::backend::sqlite::Sqlite> for AnyQueue {
    fn from(queue: crate::backend::sqlite::Sqlite) -> AnyQueue {
        AnyQueue::Sqlite(queue)
    }
}

#[cfg(feature = "postgres")]
impl From<crate::backend::postgres::Postgres> for AnyQueue {
    fn from(queue: crate::backend::postgres::Postgres) -> AnyQueue {
        AnyQueue::Postgres(queue)
    }
}

#[cfg(feature = "redis")]
impl From<crate::backend::sidekiq::Sidekiq> for AnyQueue {
    fn from(queue: crate::backend::sidekiq::Sidekiq) -> AnyQueue {
        AnyQueue::Sidekiq(queue)
    }
}

impl AnyQueue {
    /// Opens the queue `url` names: `sqlite:PATH` (the file must exist),
    /// `postgres://` or `postgresql://`, `redis://` or `rediss://`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// let queue = jobwire::backend::any::AnyQueue::connect("postgres://localhost/app").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<AnyQueue, AnyQueueError> {
        #[cfg(feature = "sqlite")]
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if !std::path::Path::new(path).exists() {
                return Err(AnyQueueError::NoFile(path.to_owned()));
            }
            return Ok(crate::backend::sqlite::Sqlite::open(path).await?.into());
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(crate::backend::postgres::Postgres::connect(url)
                .await?
                .into());
        }
        #[cfg(feature = "redis")]
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Ok(crate::backend::sidekiq::Sidekiq::connect(url).await?.into());
        }
        Err(AnyQueueError::Unsupported(url.chars().take(200).collect()))
    }

    /// What waits, per (job, version, place): the queue's half of
    /// [drain](crate::drain).
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::any::AnyQueue) -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// let total: u64 = queue.waiting().await?.iter().map(|w| w.count).sum();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn waiting(&self) -> Result<Vec<Waiting>, AnyQueueError> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(q) => q.waiting().await?,
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(q) => q.waiting().await?,
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(q) => q.waiting().await?,
        })
    }

    /// The dead letters, oldest first.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::any::AnyQueue) -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// let dead = queue.dead_letters().await?.len();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, AnyQueueError> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(q) => q.dead_letters().await?,
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(q) => q.dead_letters().await?,
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(q) => q.dead_letters().await?,
        })
    }

    /// Puts the dead letter whose [`key`](DeadLetter::key) is `key` back on
    /// its queue, its bytes as stored; `false` if there is none.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::any::AnyQueue) -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// queue.requeue_dead("17").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn requeue_dead(&self, key: &str) -> Result<bool, AnyQueueError> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(q) => q.requeue_dead(sql_id(key)?).await?,
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(q) => q.requeue_dead(sql_id(key)?).await?,
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(q) => q.requeue_dead(key).await?,
        })
    }

    /// Deletes the dead letter whose [`key`](DeadLetter::key) is `key`, for
    /// good; `false` if there is none.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::any::AnyQueue) -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// queue.discard_dead("17").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn discard_dead(&self, key: &str) -> Result<bool, AnyQueueError> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(q) => q.discard_dead(sql_id(key)?).await?,
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(q) => q.discard_dead(sql_id(key)?).await?,
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(q) => q.discard_dead(key).await?,
        })
    }

    /// The jobs in the queue, oldest first, at most `limit`; only `job`'s
    /// when given. On Sidekiq's queue, [`AnyQueueError::NotListed`].
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::any::AnyQueue) -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// let first = queue.jobs(None, 100).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn jobs(
        &self,
        job: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueuedJob>, AnyQueueError> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(q) => q.jobs(job, limit).await?,
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(q) => q.jobs(job, limit).await?,
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(_) => {
                let _ = (job, limit);
                return Err(AnyQueueError::NotListed("Sidekiq"));
            }
        })
    }

    /// How many jobs were ever enqueued, where the queue counts them (the
    /// SQL queues' id sequence); `None` on Sidekiq's queue.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::any::AnyQueue) -> Result<(), jobwire::backend::any::AnyQueueError> {
    /// if let Some(ever) = queue.enqueued_total().await? {
    ///     println!("{ever} enqueued so far");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueued_total(&self) -> Result<Option<u64>, AnyQueueError> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(q) => Some(q.enqueued_total().await?),
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(q) => Some(q.enqueued_total().await?),
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(_) => None,
        })
    }

    /// Which kind of queue this is: `SQLite`, `PostgreSQL` or `Sidekiq
    /// (Redis)`.
    ///
    /// ```no_run
    /// # fn demo(queue: jobwire::backend::any::AnyQueue) {
    /// println!("a {} queue", queue.kind());
    /// # }
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            AnyQueue::Sqlite(_) => "SQLite",
            #[cfg(feature = "postgres")]
            AnyQueue::Postgres(_) => "PostgreSQL",
            #[cfg(feature = "redis")]
            AnyQueue::Sidekiq(_) => "Sidekiq (Redis)",
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn sql_id(key: &str) -> Result<i64, AnyQueueError> {
    key.trim()
        .parse()
        .map_err(|_| AnyQueueError::NotAKey(key.chars().take(100).collect()))
}
