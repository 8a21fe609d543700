//! What the reliability tests share: a runner, the worker processes they
//! start (this very binary, run again as a child), the queues, and a
//! throwaway PostgreSQL server.
//!
//! Every test here uses real OS processes and real databases: a worker is a
//! separate process, killed with SIGKILL, stopped with SIGSTOP, or asked to
//! stop with SIGTERM, exactly as an orchestrator would.

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::worker::{DeferPolicy, Report, RetryPolicy, Worker};
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
#[cfg(feature = "postgres")]
use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub use crate::runner::run;

/// Runs a future on a fresh runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

// ---------------------------------------------------------------------------
// Queues.

/// Which queue a test runs on.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

/// An open queue.
#[derive(Clone, Debug)]
pub enum Queue {
    Sqlite(Sqlite),
    #[cfg(feature = "postgres")]
    Postgres(jobwire::backend::postgres::Postgres),
}

/// Runs the same code on either backend's pool; the SQL is written to read
/// the same in both.
macro_rules! with_pool {
    ($queue:expr, |$pool:ident| $body:expr) => {
        match $queue {
            Queue::Sqlite(queue) => {
                let $pool = queue.pool();
                $body
            }
            #[cfg(feature = "postgres")]
            Queue::Postgres(queue) => {
                let $pool = queue.pool();
                $body
            }
        }
    };
}

const LEDGER: &str = "
CREATE TABLE IF NOT EXISTS swept (job BIGINT NOT NULL, item BIGINT NOT NULL, worker TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS started (id BIGINT NOT NULL, worker TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS performed (
    id BIGINT NOT NULL, worker TEXT NOT NULL, attempt BIGINT NOT NULL, defers BIGINT NOT NULL,
    started_ms BIGINT NOT NULL, ended_ms BIGINT NOT NULL);
";

impl Db {
    /// A fresh SQLite queue in a scratch folder of its own.
    pub fn sqlite(test: &str) -> Db {
        let dir = std::env::temp_dir().join(format!(
            "jobwire-reliability-{test}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Db::Sqlite(dir.join("queue.db"))
    }

    /// A fresh schema on the PostgreSQL server the tests are pointed at.
    #[cfg(feature = "postgres")]
    pub fn postgres(test: &str) -> Db {
        Db::postgres_at(&postgres_url(), test)
    }

    /// A fresh schema on the server at `url`.
    #[cfg(feature = "postgres")]
    pub fn postgres_at(url: &str, test: &str) -> Db {
        let schema = format!("jw_{test}_{}_{}", std::process::id(), now_ms());
        block_on(async {
            let pool = sqlx::PgPool::connect(url)
                .await
                .expect("the PostgreSQL server answers");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&pool)
                .await
                .expect("a schema of its own");
            pool.close().await;
        });
        Db::Postgres {
            url: url.to_owned(),
            schema,
        }
    }

    /// The environment that tells a child process where the queue is.
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Db::Sqlite(path) => vec![("JOBWIRE_TEST_SQLITE", path.display().to_string())],
            Db::Postgres { url, schema } => vec![
                ("JOBWIRE_TEST_PG_URL", url.clone()),
                ("JOBWIRE_TEST_PG_SCHEMA", schema.clone()),
            ],
        }
    }

    fn from_env() -> Result<Db, Error> {
        if let Ok(path) = std::env::var("JOBWIRE_TEST_SQLITE") {
            return Ok(Db::Sqlite(PathBuf::from(path)));
        }
        Ok(Db::Postgres {
            url: std::env::var("JOBWIRE_TEST_PG_URL")?,
            schema: std::env::var("JOBWIRE_TEST_PG_SCHEMA")?,
        })
    }

    /// Opens the queue, with jobwire's schema and the tests' ledger.
    pub async fn open(&self) -> Result<Queue, Error> {
        let queue = match self {
            Db::Sqlite(path) => Queue::Sqlite(Sqlite::open(path).await?),
            #[cfg(feature = "postgres")]
            Db::Postgres { url, schema } => {
                let options: sqlx::postgres::PgConnectOptions = url.parse()?;
                // Worker processes name their connections, so that a test can
                // terminate theirs and not its own.
                let options = options
                    .options([("search_path", schema.as_str())])
                    .application_name(if std::env::var("JOBWIRE_TEST_ROLE").is_ok() {
                        WORKER_APPLICATION
                    } else {
                        "jobwire-test"
                    });
                let queue = jobwire::backend::postgres::Postgres::connect_with(options).await?;
                // Segments that turn as often as they can: every fault
                // below then lands while rows move between segments and
                // emptied segments are truncated.
                sqlx::query(
                    "UPDATE jobwire_rotation SET rotate_after = 2, rotate_every = '100 milliseconds'",
                )
                .execute(queue.pool())
                .await?;
                Queue::Postgres(queue)
            }
            #[cfg(not(feature = "postgres"))]
            Db::Postgres { .. } => return Err("built without the postgres feature".into()),
        };
        with_pool!(&queue, |pool| {
            sqlx::raw_sql(LEDGER).execute(pool).await?;
        });
        Ok(queue)
    }
}

/// The `application_name` of a worker process's PostgreSQL connections.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub const WORKER_APPLICATION: &str = "jobwire-test-worker";

/// The URL of the PostgreSQL server the tests use. Never a silent skip: a
/// run with the `postgres` feature and without the variable fails here.
#[cfg(feature = "postgres")]
pub fn postgres_url() -> String {
    match std::env::var("JOBWIRE_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) => panic!(
            "the PostgreSQL tests need JOBWIRE_POSTGRES_URL, for example \
             JOBWIRE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test --features postgres"
        ),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// One performance, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Performed {
    pub id: i64,
    pub worker: String,
    pub attempt: i64,
    pub defers: i64,
    pub started_ms: i64,
    pub ended_ms: i64,
}

impl Queue {
    /// The SQLite queue, if this is one.
    pub fn sqlite(&self) -> Option<&Sqlite> {
        match self {
            Queue::Sqlite(queue) => Some(queue),
            #[cfg(feature = "postgres")]
            Queue::Postgres(_) => None,
        }
    }

    pub async fn enqueue(&self, payload: &[u8]) -> i64 {
        let job = Enqueue::new(payload);
        let stored = match self {
            Queue::Sqlite(queue) => queue.enqueue(job).await,
            #[cfg(feature = "postgres")]
            Queue::Postgres(queue) => queue.enqueue(job).await,
        };
        stored.expect("enqueues").id
    }

    pub async fn performed(&self) -> Vec<Performed> {
        let rows: Vec<(i64, String, i64, i64, i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, worker, attempt, defers, started_ms, ended_ms FROM performed ORDER BY id, started_ms",
            )
            .fetch_all(pool)
            .await
            .expect("reads the ledger")
        });
        rows.into_iter()
            .map(
                |(id, worker, attempt, defers, started_ms, ended_ms)| Performed {
                    id,
                    worker,
                    attempt,
                    defers,
                    started_ms,
                    ended_ms,
                },
            )
            .collect()
    }

    /// How many performances have started (the handler's first step).
    pub async fn started(&self) -> i64 {
        with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT count(*) FROM started"
        )
        .fetch_one(pool)
        .await
        .expect("reads the ledger"))
    }

    /// Every start: id, worker, when.
    pub async fn started_rows(&self) -> Vec<(i64, String, i64)> {
        with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, worker, at_ms FROM started"
        )
        .fetch_all(pool)
        .await
        .expect("reads the ledger"))
    }

    /// Jobs in the queue.
    pub async fn waiting(&self) -> i64 {
        with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT count(*) FROM jobwire_jobs"
        )
        .fetch_one(pool)
        .await
        .expect("reads the queue"))
    }

    /// One queued job's attempt, defers and wait, if it is there.
    pub async fn row(&self, id: i64) -> Option<(i64, i64, String)> {
        with_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, i64, String)>(
                "SELECT CAST(attempt AS BIGINT), CAST(defers AS BIGINT), wait FROM jobwire_jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .expect("reads the queue")
        })
    }

    /// Jobs currently claimed by `worker`.
    pub async fn held_by(&self, worker: &str) -> i64 {
        with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT count(*) FROM jobwire_jobs WHERE state = 'running' AND worker = $1",
            )
            .bind(worker)
            .fetch_one(pool)
            .await
            .expect("reads the queue")
        })
    }

    pub async fn dead_letters(&self) -> Vec<jobwire::backend::DeadLetter> {
        match self {
            Queue::Sqlite(queue) => queue.dead_letters().await,
            #[cfg(feature = "postgres")]
            Queue::Postgres(queue) => queue.dead_letters().await,
        }
        .expect("reads the dead letters")
    }

    /// Waits until `done` holds, for at most `limit`; `false` if it never did.
    pub async fn until<F, Fut>(&self, limit: Duration, mut done: F) -> bool
    where
        F: FnMut(Queue) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if done(self.clone()).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

// ---------------------------------------------------------------------------
// The jobs the worker processes perform.

/// What the handlers write to.
pub struct Ledger {
    queue: Queue,
    worker: String,
}

/// Sleeps for `ms` (work that does not look at its cancellation), then
/// writes its performance down. Every step is in the ledger.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sleepy {
    pub id: i64,
    pub ms: u64,
    /// The unit of `ms`, if said: there is one, and an unknown one is
    /// arguments that do not fit (serde quotes it in its message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

/// The one unit a sleepy job knows.
#[derive(Debug, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "ms")]
    Millis,
}

impl Job for Sleepy {
    const NAME: &'static str = "reliability.sleepy";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Ledger>) -> Result<(), HandlerError> {
        let ledger = ctx.state();
        let started_ms = now_ms();
        with_pool!(&ledger.queue, |pool| {
            sqlx::query("INSERT INTO started (id, worker, at_ms) VALUES ($1, $2, $3)")
                .bind(self.id)
                .bind(&ledger.worker)
                .bind(started_ms)
                .execute(pool)
                .await
                .map(drop)?
        });
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        with_pool!(&ledger.queue, |pool| {
            sqlx::query(
                "INSERT INTO performed (id, worker, attempt, defers, started_ms, ended_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(self.id)
            .bind(&ledger.worker)
            .bind(i64::from(ctx.attempt()))
            .bind(i64::from(ctx.defers()))
            .bind(started_ms)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(drop)?
        });
        Ok(())
    }
}

/// Like [`Sleepy`], but writes its performance through the claim's
/// transaction, so that it commits with the acknowledgement or not at all.
#[cfg(feature = "postgres")]
#[derive(Debug, Serialize, Deserialize)]
pub struct Transactional {
    pub id: i64,
    pub ms: u64,
}

#[cfg(feature = "postgres")]
impl Job for Transactional {
    const NAME: &'static str = "reliability.transactional";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = jobwire::backend::postgres::Tx;

    async fn perform(
        self,
        ctx: &mut Context<'_, Ledger, jobwire::backend::postgres::Tx>,
    ) -> Result<(), HandlerError> {
        let worker = ctx.state().worker.clone();
        let (attempt, defers) = (i64::from(ctx.attempt()), i64::from(ctx.defers()));
        let started_ms = now_ms();
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        sqlx::query(
            "INSERT INTO performed (id, worker, attempt, defers, started_ms, ended_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.id)
        .bind(worker)
        .bind(attempt)
        .bind(defers)
        .bind(started_ms)
        .bind(now_ms())
        .execute(ctx.data().conn().await?)
        .await?;
        Ok(())
    }
}

/// The payload of a sleepy job.
pub fn sleepy(id: i64, ms: u64) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Sleepy { id, ms, unit: None })
        .expect("seals")
}

/// The payload of a transactional job.
#[cfg(feature = "postgres")]
pub fn transactional(id: i64, ms: u64) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Transactional { id, ms })
        .expect("seals")
}

/// An iterable job: items 1..=`to`, each taking `ms`, each written down in
/// `swept`. Progress is checkpointed every 200 ms. Release N registers it
/// at 1.0.0; release N+1 (`JOBWIRE_TEST_RELEASE=next`) at 2.0.0, a line
/// release N cannot read, so that N defers N+1's payloads.
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepAt<const MAJOR: u64> {
    pub job: i64,
    pub to: u64,
    pub ms: u64,
}

/// The sweep of release N.
pub type Sweep = SweepAt<1>;

/// The sweep of release N+1, at a major version N cannot read.
pub type NextSweep = SweepAt<2>;

impl<const MAJOR: u64> Job for SweepAt<MAJOR> {
    const NAME: &'static str = "reliability.sweep";
    const VERSION: Version = Version::new(MAJOR, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Ledger>) -> Result<(), HandlerError> {
        jobwire::iteration::iterate(self, ctx).await
    }
}

/// A job that holds its thread for `ms` without ever awaiting: CPU-bound
/// work, or a dispatch that does not yield.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hog {
    pub id: i64,
    pub ms: u64,
}

impl Job for Hog {
    const NAME: &'static str = "reliability.hog";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Ledger>) -> Result<(), HandlerError> {
        let ledger = ctx.state();
        with_pool!(&ledger.queue, |pool| {
            sqlx::query("INSERT INTO started (id, worker, at_ms) VALUES ($1, $2, $3)")
                .bind(self.id)
                .bind(&ledger.worker)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(drop)?
        });
        std::thread::sleep(Duration::from_millis(self.ms));
        Ok(())
    }
}

impl<const MAJOR: u64> jobwire::iteration::Iterate for SweepAt<MAJOR> {
    type Cursor = u64;
    type Item = u64;
    const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
    async fn next_items(
        &self,
        after: Option<&u64>,
        _: &mut Context<'_, Ledger>,
    ) -> Result<Vec<(u64, u64)>, HandlerError> {
        let from = after.map_or(1, |n| n + 1);
        Ok((from..=self.to).take(10).map(|n| (n, n)).collect())
    }
    async fn each(&self, item: u64, ctx: &mut Context<'_, Ledger>) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        let ledger = ctx.state();
        with_pool!(&ledger.queue, |pool| {
            sqlx::query("INSERT INTO swept (job, item, worker) VALUES ($1, $2, $3)")
                .bind(self.job)
                .bind(i64::try_from(item).unwrap_or(i64::MAX))
                .bind(&ledger.worker)
                .execute(pool)
                .await
                .map(drop)?
        });
        Ok(())
    }
}

/// Like [`Sweep`], but each item is written through the claim's
/// transaction, which each checkpoint commits with the cursor.
#[cfg(feature = "postgres")]
#[derive(Debug, Serialize, Deserialize)]
pub struct TxSweep {
    pub job: i64,
    pub to: u64,
    pub ms: u64,
}

#[cfg(feature = "postgres")]
impl Job for TxSweep {
    const NAME: &'static str = "reliability.tx_sweep";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = jobwire::backend::postgres::Tx;
    async fn perform(
        self,
        ctx: &mut Context<'_, Ledger, jobwire::backend::postgres::Tx>,
    ) -> Result<(), HandlerError> {
        jobwire::iteration::iterate(self, ctx).await
    }
}

#[cfg(feature = "postgres")]
impl jobwire::iteration::Iterate for TxSweep {
    type Cursor = u64;
    type Item = u64;
    const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
    async fn next_items(
        &self,
        after: Option<&u64>,
        _: &mut Context<'_, Ledger, jobwire::backend::postgres::Tx>,
    ) -> Result<Vec<(u64, u64)>, HandlerError> {
        let from = after.map_or(1, |n| n + 1);
        Ok((from..=self.to).take(10).map(|n| (n, n)).collect())
    }
    async fn each(
        &self,
        item: u64,
        ctx: &mut Context<'_, Ledger, jobwire::backend::postgres::Tx>,
    ) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        let worker = ctx.state().worker.clone();
        sqlx::query("INSERT INTO swept (job, item, worker) VALUES ($1, $2, $3)")
            .bind(self.job)
            .bind(i64::try_from(item).unwrap_or(i64::MAX))
            .bind(worker)
            .execute(ctx.data().conn().await?)
            .await?;
        Ok(())
    }
}

impl Queue {
    /// How many times each item of `job` was written: (item, times).
    pub async fn swept(&self, job: i64) -> Vec<(i64, i64)> {
        with_pool!(self, |pool| sqlx::query_as(
            "SELECT item, count(*) FROM swept WHERE job = $1 GROUP BY item ORDER BY item"
        )
        .bind(job)
        .fetch_all(pool)
        .await
        .expect("reads the ledger"))
    }

    /// The stored payload's progress: items done.
    pub async fn progress(&self, id: i64) -> Option<u64> {
        let payload: Option<Vec<u8>> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT payload FROM jobwire_jobs WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .expect("reads the queue"));
        let payload = payload?;
        jobwire::wire::Header::read(&payload)
            .ok()
            .and_then(|header| header.progress().map(|p| p.items()))
    }
}

// ---------------------------------------------------------------------------
// Worker processes.

/// How a worker process is configured.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub budget: Duration,
    pub window: Duration,
    pub defer: Duration,
    /// `file:PATH` or `postgres:NAME`: the gate the worker consults.
    pub gate: Option<String>,
    /// Release N+1's jobs instead of release N's.
    pub next: bool,
    /// How long an idle worker sleeps when nothing wakes it.
    pub poll: Duration,
}

impl Settings {
    pub fn new(name: &str) -> Settings {
        Settings {
            name: name.to_owned(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            budget: Duration::from_secs(20),
            window: Duration::from_secs(3600),
            defer: Duration::from_millis(50),
            gate: None,
            next: false,
            poll: Duration::from_millis(50),
        }
    }

    /// How long an idle worker sleeps when no notification wakes it.
    #[cfg(feature = "postgres")]
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Release N+1: [`NextSweep`] instead of [`Sweep`].
    pub fn next_release(mut self) -> Self {
        self.next = true;
        self
    }

    pub fn gate(mut self, gate: &str) -> Self {
        self.gate = Some(gate.to_owned());
        self
    }

    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.concurrency = jobs;
        self
    }

    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
}

/// A worker process: this binary again, in the worker role. Its log
/// (warnings and errors, or what `JOBWIRE_TEST_LOG` says) goes to a file of
/// its own, which [`WorkerProcess::log`] reads.
pub struct WorkerProcess {
    pub name: String,
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl WorkerProcess {
    /// Starts a worker process on `db`.
    pub fn start(db: &Db, settings: &Settings) -> WorkerProcess {
        let millis = |d: Duration| d.as_millis().to_string();
        let log = std::env::temp_dir().join(format!(
            "jobwire-worker-{}-{}-{}.log",
            settings.name,
            std::process::id(),
            now_ms()
        ));
        let log_file = std::fs::File::create(&log).expect("a worker log");
        let child = Command::new(std::env::current_exe().expect("this binary"))
            .env("JOBWIRE_TEST_ROLE", "worker")
            .envs(db.env())
            .env("JOBWIRE_TEST_NAME", &settings.name)
            .env("JOBWIRE_TEST_CONCURRENCY", settings.concurrency.to_string())
            .env("JOBWIRE_TEST_LEASE_MS", millis(settings.lease))
            .env("JOBWIRE_TEST_BUDGET_MS", millis(settings.budget))
            .env("JOBWIRE_TEST_WINDOW_MS", millis(settings.window))
            .env("JOBWIRE_TEST_DEFER_MS", millis(settings.defer))
            .env("JOBWIRE_TEST_POLL_MS", millis(settings.poll))
            .env(
                "JOBWIRE_TEST_GATE",
                settings.gate.clone().unwrap_or_default(),
            )
            .env(
                "JOBWIRE_TEST_RELEASE",
                if settings.next { "next" } else { "current" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("starts a worker process");
        WorkerProcess {
            name: settings.name.clone(),
            child: Some(child),
            log,
        }
    }

    /// What the worker has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Sends a signal by name (`TERM`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", self.pid())])
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// Whether the process is still running.
    #[cfg(feature = "postgres")]
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// SIGKILL: no shutdown, no settlement, nothing.
    pub fn kill_9(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            let _ = child.wait();
        }
    }

    /// Waits for the process to exit (within `limit`), returning its report.
    pub async fn report(mut self, limit: Duration) -> Report {
        let mut child = self.child.take().expect("a running worker");
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("waits") {
                assert!(
                    status.success(),
                    "worker {} exited with {status}",
                    self.name
                );
                break;
            }
            assert!(
                Instant::now() < until,
                "worker {} did not exit within {limit:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            use std::io::Read;
            stdout.read_to_string(&mut out).expect("reads the report");
        }
        parse_report(&out).unwrap_or_else(|| panic!("no report from {}: {out:?}", self.name))
    }

    /// SIGTERM, then the report.
    pub async fn stop(self, limit: Duration) -> Report {
        self.signal("TERM");
        self.report(limit).await
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // Tests stop what they start, whatever happened.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The report line a worker process prints as it exits.
fn parse_report(out: &str) -> Option<Report> {
    let line = out.lines().find_map(|line| line.strip_prefix("REPORT "))?;
    let mut report = Report::default();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=')?;
        let value: u64 = value.parse().ok()?;
        match key {
            "performed" => report.performed = value,
            "deferred" => report.deferred = value,
            "retried" => report.retried = value,
            "dead_lettered" => report.dead_lettered = value,
            "released" => report.released = value,
            "fenced" => report.fenced = value,
            _ => {}
        }
    }
    Some(report)
}

/// The worker role: runs a jobwire worker until SIGTERM, then prints its
/// report.
pub fn child(role: &str) -> std::process::ExitCode {
    if role != "worker" {
        eprintln!("unknown role {role}");
        return std::process::ExitCode::FAILURE;
    }
    let level = std::env::var("JOBWIRE_TEST_LOG")
        .ok()
        .and_then(|level| level.parse().ok())
        .unwrap_or(tracing::Level::WARN);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(level)
        .init();
    // A job that never yields may still hold a thread when the worker
    // returns at its deadline: the runtime is let go, not waited for.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let worked = runtime.block_on(work());
    runtime.shutdown_background();
    match worked {
        Ok(report) => {
            println!(
                "REPORT performed={} deferred={} retried={} dead_lettered={} released={} fenced={}",
                report.performed,
                report.deferred,
                report.retried,
                report.dead_lettered,
                report.released,
                report.fenced
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("worker failed: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn work() -> Result<Report, Error> {
    let db = Db::from_env()?;
    let var = |name: &str| -> Result<u64, Error> { Ok(std::env::var(name)?.parse()?) };
    let name = std::env::var("JOBWIRE_TEST_NAME")?;
    let concurrency = usize::try_from(var("JOBWIRE_TEST_CONCURRENCY")?)?;
    let lease = Duration::from_millis(var("JOBWIRE_TEST_LEASE_MS")?);
    let budget = Duration::from_millis(var("JOBWIRE_TEST_BUDGET_MS")?);
    let window = Duration::from_millis(var("JOBWIRE_TEST_WINDOW_MS")?);
    let defer = Duration::from_millis(var("JOBWIRE_TEST_DEFER_MS")?);
    let poll = Duration::from_millis(var("JOBWIRE_TEST_POLL_MS")?);
    let next = std::env::var("JOBWIRE_TEST_RELEASE").is_ok_and(|release| release == "next");
    let queue = db.open().await?;
    let ledger = Ledger {
        queue: queue.clone(),
        worker: name.clone(),
    };
    let deferral = DeferPolicy::default()
        .with_window(window)
        .with_delays(defer, defer);
    let worker = Knobs {
        name,
        concurrency,
        lease,
        budget,
        deferral,
        poll,
    };
    Ok(match queue {
        Queue::Sqlite(backend) => {
            let builder = Router::builder().job::<Sleepy>().job::<Hog>();
            let router = if next {
                builder.iterable::<NextSweep>()
            } else {
                builder.iterable::<Sweep>()
            }
            .state(ledger)
            .build()?;
            worker.go(backend, router).await?
        }
        #[cfg(feature = "postgres")]
        Queue::Postgres(backend) => {
            let builder = Router::builder()
                .lending::<jobwire::backend::postgres::Tx>()
                .job::<Sleepy>()
                .job::<Hog>()
                .job::<Transactional>()
                .iterable::<TxSweep>();
            let router = if next {
                builder.iterable::<NextSweep>()
            } else {
                builder.iterable::<Sweep>()
            }
            .state(ledger)
            .build()?;
            worker.go(backend, router).await?
        }
    })
}

/// A worker process's settings, as read from its environment.
struct Knobs {
    name: String,
    concurrency: usize,
    lease: Duration,
    budget: Duration,
    deferral: DeferPolicy,
    poll: Duration,
}

impl Knobs {
    /// Runs the worker, behind the gate `JOBWIRE_TEST_GATE` names
    /// (`file:PATH` or `postgres:NAME`), if any, gating every job.
    async fn go<B: Backend>(self, backend: B, router: Router<B::Data>) -> Result<Report, Error> {
        let worker = Worker::new(backend, router)
            .name(self.name)
            .concurrency(self.concurrency)
            .lease(self.lease)
            .shutdown_budget(self.budget)
            .poll_interval(self.poll)
            .deferral(self.deferral)
            .retries(
                RetryPolicy::default()
                    .with_max_attempts(5)
                    .with_delays(Duration::from_millis(200), Duration::from_secs(2)),
            );
        let stop = jobwire::worker::shutdown_signal();
        let gate = std::env::var("JOBWIRE_TEST_GATE").unwrap_or_default();
        if let Some(path) = gate.strip_prefix("file:") {
            let gate = jobwire::gate::file::FileGate::new(path);
            return Ok(worker.gate(gate, jobwire::gate::Gated::All).run(stop).await);
        }
        #[cfg(feature = "postgres")]
        if let Some(name) = gate.strip_prefix("postgres:") {
            let url = std::env::var("JOBWIRE_TEST_PG_URL")?;
            let gate = jobwire::gate::postgres::PgGate::connect(&url, name).await?;
            return Ok(worker.gate(gate, jobwire::gate::Gated::All).run(stop).await);
        }
        Ok(worker.run(stop).await)
    }
}

// ---------------------------------------------------------------------------
// A throwaway PostgreSQL server, for the tests that restart one.

/// A PostgreSQL server of the test's own, on a free port, in a scratch
/// folder; stopped and removed on drop.
#[cfg(feature = "postgres")]
pub struct TempPostgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// Extra server settings (`-c` options), applied at every start.
    settings: String,
}

#[cfg(feature = "postgres")]
impl TempPostgres {
    /// Creates and starts one. Fails (never skips) when PostgreSQL's
    /// programs cannot be found: install the Debian package `postgresql`.
    pub fn start() -> TempPostgres {
        TempPostgres::start_with("")
    }

    /// Creates and starts one with extra server settings, such as
    /// `-c max_connections=20`.
    pub fn start_with(settings: &str) -> TempPostgres {
        let bin = postgres_bin().expect(
            "the PostgreSQL programs (initdb, pg_ctl): install the Debian package `postgresql`",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("jobwire-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let server = TempPostgres {
            bin,
            dir,
            port,
            settings: settings.to_owned(),
        };
        if as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&server.dir)
                .status()
                .expect("chown");
            assert!(status.success());
        }
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        server.up();
        server.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "test",
            ],
        );
        server
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs, as the `postgres` user when root.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("runs {program}: {error}"));
        assert!(
            output.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off {}",
            self.port,
            self.dir.display(),
            self.settings
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// Stops the server the hard way: `immediate`, a crash in effect.
    pub fn crash(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test", self.port)
    }
}

#[cfg(feature = "postgres")]
impl Drop for TempPostgres {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if as_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether this process runs as root (initdb refuses to).
#[cfg(feature = "postgres")]
fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// Where PostgreSQL's programs are.
#[cfg(feature = "postgres")]
fn postgres_bin() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// The payload of a job that holds its thread for `ms`.
pub fn hog(id: i64, ms: u64) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Hog { id, ms })
        .expect("seals")
}
