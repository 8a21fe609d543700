//! The queue the processes share, and the ledger beside it: which jobs were
//! enqueued, and each performance, written down before its acknowledgement.

use crate::releases::{Ledger, Performance};
use jobwire::backend::sqlite::Sqlite;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the queue lives, as the processes are told on their command line.
#[derive(Clone, Debug)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl Target {
    /// The arguments that name this target.
    pub fn args(&self) -> Vec<String> {
        match self {
            Target::Sqlite(path) => vec!["--sqlite".into(), path.display().to_string()],
            Target::Postgres { url, schema } => vec![
                "--postgres".into(),
                url.clone(),
                "--schema".into(),
                schema.clone(),
            ],
        }
    }

    /// Reads a target from `--sqlite PATH` or `--postgres URL --schema S`.
    pub fn from_args(args: &[String]) -> Result<Target, Error> {
        if let Some(path) = value(args, "--sqlite") {
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        match (value(args, "--postgres"), value(args, "--schema")) {
            (Some(url), Some(schema)) => Ok(Target::Postgres {
                url: url.to_owned(),
                schema: schema.to_owned(),
            }),
            _ => Err("a process needs --sqlite PATH, or --postgres URL --schema NAME".into()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("SQLite, {}", path.display()),
            Target::Postgres { url, schema } => format!("PostgreSQL, {url}, schema {schema}"),
        }
    }

    /// Opens the queue (applying jobwire's schema).
    pub async fn open(&self) -> Result<Queue, Error> {
        match self {
            Target::Sqlite(path) => Ok(Queue::Sqlite(Sqlite::open(path).await?)),
            #[cfg(feature = "postgres")]
            Target::Postgres { url, schema } => {
                use jobwire::backend::postgres::Postgres;
                use sqlx::postgres::PgConnectOptions;
                let options: PgConnectOptions = url.parse()?;
                let options = options.options([("search_path", schema.as_str())]);
                Ok(Queue::Postgres(Postgres::connect_with(options).await?))
            }
            #[cfg(not(feature = "postgres"))]
            Target::Postgres { .. } => Err(NO_POSTGRES.into()),
        }
    }
}

pub const NO_POSTGRES: &str = "this build has no PostgreSQL: run it with `cargo run --features postgres --example rolling_deploy -- --postgres`";

/// The value after `flag`.
pub fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == flag)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

/// An open queue, on either backend.
#[derive(Clone, Debug)]
pub enum Queue {
    Sqlite(Sqlite),
    #[cfg(feature = "postgres")]
    Postgres(jobwire::backend::postgres::Postgres),
}

/// Runs the same code on the pool of either backend: the ledger's SQL is
/// written to read the same in both.
macro_rules! with_pool {
    ($queue:expr, |$pool:ident| $body:expr) => {
        match $queue {
            crate::queue::Queue::Sqlite(queue) => {
                let $pool = queue.pool();
                $body
            }
            #[cfg(feature = "postgres")]
            crate::queue::Queue::Postgres(queue) => {
                let $pool = queue.pool();
                $body
            }
        }
    };
}

const LEDGER: &str = "
CREATE TABLE IF NOT EXISTS deploy_enqueued (
    id TEXT PRIMARY KEY, phase BIGINT NOT NULL, release TEXT NOT NULL,
    job TEXT NOT NULL, cents BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS deploy_performed (
    id TEXT NOT NULL, job TEXT NOT NULL, relation TEXT NOT NULL, attempt BIGINT NOT NULL,
    defers BIGINT NOT NULL, cents BIGINT NOT NULL, worker TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deploy_reports (
    worker TEXT NOT NULL, performed BIGINT NOT NULL, deferred BIGINT NOT NULL,
    discarded BIGINT NOT NULL, retried BIGINT NOT NULL, dead_lettered BIGINT NOT NULL,
    released BIGINT NOT NULL, fenced BIGINT NOT NULL);
";

impl Queue {
    /// Creates the ledger's tables.
    pub async fn create_ledger(&self) -> Result<(), Error> {
        with_pool!(self, |pool| {
            sqlx::raw_sql(LEDGER).execute(pool).await?;
        });
        Ok(())
    }

    /// Notes a payload a producer is about to enqueue.
    pub async fn note_enqueued(
        &self,
        id: &str,
        phase: usize,
        release: &str,
        job: &str,
        cents: u64,
    ) -> Result<(), Error> {
        let phase = i64::try_from(phase)?;
        let cents = i64::try_from(cents)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO deploy_enqueued (id, phase, release, job, cents) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(phase)
            .bind(release)
            .bind(job)
            .bind(cents)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Writes down what a worker process did, as it stops.
    pub async fn note_report(
        &self,
        worker: &str,
        report: &jobwire::worker::Report,
    ) -> Result<(), Error> {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO deploy_reports (worker, performed, deferred, discarded, retried, dead_lettered, released, fenced)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(worker)
            .bind(count(report.performed))
            .bind(count(report.deferred))
            .bind(count(report.discarded))
            .bind(count(report.retried))
            .bind(count(report.dead_lettered))
            .bind(count(report.released))
            .bind(count(report.fenced))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Jobs still in the queue.
    pub async fn waiting(&self) -> Result<i64, Error> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM jobwire_jobs"
        )
        .fetch_one(pool)
        .await?))
    }

    /// Jobs `worker` holds right now.
    pub async fn in_flight(&self, worker: &str) -> Result<i64, Error> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM jobwire_jobs WHERE state = 'running' AND worker = $1",
            )
            .bind(worker)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Every payload enqueued: id, phase, job, cents.
    pub async fn enqueued(&self) -> Result<Vec<(String, i64, String, i64)>, Error> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, phase, job, cents FROM deploy_enqueued"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Every performance: id, relation, attempt, defers, cents.
    pub async fn performed(&self) -> Result<Vec<(String, String, i64, i64, i64)>, Error> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, relation, attempt, defers, cents FROM deploy_performed"
        )
        .fetch_all(pool)
        .await?))
    }

    /// What the worker processes reported, summed: performed, deferred,
    /// discarded, retried, dead-lettered, released, fenced.
    pub async fn reports(&self) -> Result<(i64, [i64; 7]), Error> {
        let rows: Vec<(i64, i64, i64, i64, i64, i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT performed, deferred, discarded, retried, dead_lettered, released, fenced
                 FROM deploy_reports",
            )
            .fetch_all(pool)
            .await?
        });
        let mut sums = [0i64; 7];
        for row in &rows {
            let values = [row.0, row.1, row.2, row.3, row.4, row.5, row.6];
            for (sum, value) in sums.iter_mut().zip(values) {
                *sum += value;
            }
        }
        Ok((i64::try_from(rows.len())?, sums))
    }

    /// The payloads still in the queue.
    pub async fn queued_payloads(&self) -> Result<Vec<Vec<u8>>, Error> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT payload FROM jobwire_jobs"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Enqueues raw bytes, runnable now or `after` a delay.
    pub async fn enqueue(&self, payload: &[u8], after: Option<Duration>) -> Result<(), Error> {
        use jobwire::backend::{Backend, Enqueue};
        let mut job = Enqueue::new(payload);
        if let Some(after) = after {
            job = job.at(std::time::SystemTime::now() + after);
        }
        match self {
            Queue::Sqlite(queue) => {
                queue.enqueue(job).await?;
            }
            #[cfg(feature = "postgres")]
            Queue::Postgres(queue) => {
                queue.enqueue(job).await?;
            }
        }
        Ok(())
    }

    /// What waits, per job, version and place: drain's view of the queue.
    pub async fn drain_view(&self) -> Result<Vec<jobwire::drain::Waiting>, Error> {
        Ok(match self {
            Queue::Sqlite(queue) => queue.waiting().await?,
            #[cfg(feature = "postgres")]
            Queue::Postgres(queue) => queue.waiting().await?,
        })
    }

    /// The dead letters.
    pub async fn dead_letters(&self) -> Result<Vec<jobwire::backend::DeadLetter>, Error> {
        Ok(match self {
            Queue::Sqlite(queue) => queue.dead_letters().await?,
            #[cfg(feature = "postgres")]
            Queue::Postgres(queue) => queue.dead_letters().await?,
        })
    }
}

/// The ledger a worker process keeps: each performance is written down
/// before the job is acknowledged, after a moment of "work" (10 to 90 ms,
/// drawn from the job id), so that restarts catch jobs in flight.
pub struct SqlLedger {
    pub queue: Queue,
    pub worker: String,
}

impl Ledger for SqlLedger {
    fn record<'a>(
        &'a self,
        performance: Performance<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let id = performance.id.unwrap_or("(no id)");
            let work = id
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31) ^ u64::from(b))
                % 80;
            tokio::time::sleep(Duration::from_millis(10 + work)).await;
            let result = with_pool!(&self.queue, |pool| {
                sqlx::query(
                    "INSERT INTO deploy_performed (id, job, relation, attempt, defers, cents, worker)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(performance.job)
                .bind(performance.relation.as_str())
                .bind(i64::from(performance.attempt))
                .bind(i64::from(performance.defers))
                .bind(i64::try_from(performance.cents).unwrap_or(i64::MAX))
                .bind(&self.worker)
                .execute(pool)
                .await
                .map(drop)
            });
            result.map_err(|error| error.to_string())
        })
    }
}
