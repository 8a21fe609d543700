//! jobwire's router inside apalis workers, on apalis's own SQLite storage,
//! with release N and release N+1 as separate processes: teams on apalis
//! adopt jobwire without switching queues.
//!
//! ```text
//! cargo run --example apalis [-- --jobs 1000]
//! ```
//!
//! The apalis task is the envelope's text, handed to jobwire untouched, and
//! [`perform`] maps each outcome to apalis the way that holds up:
//!
//! - **Performed, discarded**: `Ok`, and apalis acknowledges.
//! - **Deferred, snoozed** (a payload only a newer release reads): apalis's
//!   own defer and retry-after primitives left deferred jobs stuck, and
//!   releasing the row by hand raced its bookkeeping, so that jobs were
//!   marked done without running. What works: *push a copy*, scheduled
//!   after jobwire's backoff with `meta.defers` bumped, *then acknowledge
//!   the original*. A crash between the two performs a job twice at worst,
//!   never loses it. Past the deploy window (counted from
//!   `meta.enqueued_at`), the payload is dead-lettered instead of deferred
//!   for ever.
//! - **Failed, retryable**: `Err`, so apalis counts an attempt and retries.
//! - **Rejected, failed permanently, past the window**: the original bytes
//!   and the reason go to a dead-letter table, then `Ok`: nothing is lost,
//!   nothing loops.
//!
//! The story: a process of release N works while N and N+1 producers
//! enqueue (N+1's breaking `billing.charge` 2.0 and new `user.export`, which
//! N defers) and one poison payload arrives; N is stopped with SIGTERM with
//! jobs in flight, and a process of N+1 takes its slot and performs the
//! rest. Each performance is written to a ledger before it is
//! acknowledged; the run fails unless every job was performed exactly
//! once, every cent arrived and the poison payload was dead-lettered with
//! its bytes.

mod releases;

use apalis::prelude::*;
use apalis_sqlite::{Config, SqlitePool, SqliteStorage};
use jobwire::worker::DeferPolicy;
use jobwire::{Delivery, Outcome, Router, WritePolicy};
use releases::{Books, Dice, Ledger, Performance, Release};
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Queue = SqliteStorage<String>;

/// The worker's name: its *slot*, kept by the release that replaces it (a
/// StatefulSet's pod name, a systemd unit's instance), not the release's.
/// A stopped apalis worker may hold tasks it fetched but did not start;
/// apalis gives them back when a worker of the same name registers (once
/// the old one's heartbeat has lapsed), or when another worker finds the
/// old one silent for `heartbeat_interval × missed_heartbeats` (by default
/// 10 × 30 s: five minutes of a deploy).
const SLOT: &str = "jobs-worker-0";

/// apalis's queue settings, the same in every process: small batches, and
/// a heartbeat short enough for a deploy to wait out.
fn config() -> Config {
    Config::default()
        .queue("jobwire")
        .batch_size(5)
        .heartbeat_interval(Duration::from_millis(500))
        .missed_heartbeats(4)
}

/// The adapter's state: the router, the queue (for deferred copies), the
/// database (for dead letters), and the deferral policy.
#[derive(Clone)]
struct Jobwire {
    router: Arc<Router>,
    queue: Queue,
    pool: SqlitePool,
    defer: DeferPolicy,
}

/// The apalis handler: one envelope in, one jobwire outcome, mapped.
async fn perform(envelope: String, attempt: Attempt, jw: Data<Jobwire>) -> Result<(), BoxDynError> {
    let attempt = u32::try_from(attempt.current()).unwrap_or(u32::MAX);
    let mut delivery = Delivery::new().with_attempt(attempt);
    let outcome = jw.router.dispatch(envelope.as_bytes(), &mut delivery).await;
    match &outcome {
        Outcome::Performed(_) | Outcome::Discarded(_) => Ok(()),
        Outcome::Failed(failed) if failed.error.is_retryable() => {
            Err(failed.error.to_string().into())
        }
        Outcome::Deferred(_) | Outcome::Snoozed(_) => {
            let (defers, enqueued_at) = outcome
                .meta()
                .map_or((0, None), |m| (m.defers(), m.enqueued_at()));
            let age = enqueued_at.map(|ms| {
                let at = UNIX_EPOCH + Duration::from_millis(ms);
                SystemTime::now()
                    .duration_since(at)
                    .unwrap_or(Duration::ZERO)
            });
            if age.is_some_and(|age| age > jw.defer.window()) {
                let reason = format!("waited longer than the deploy window: {outcome:?}");
                return dead_letter(&jw, &envelope, &reason).await;
            }
            let delay = match &outcome {
                Outcome::Snoozed(snoozed) => snoozed.delay,
                _ => jw.defer.delay(defers),
            };
            // The copy first, with `meta.defers` bumped; then the original
            // is acknowledged by returning `Ok`.
            let copy = jobwire::wire::rewrite_meta(envelope.as_bytes(), |meta| {
                let defers = meta.defers().saturating_add(1);
                meta.with_defers(defers)
            })
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| envelope.clone());
            let task = TaskBuilder::new(copy).run_after(delay).build();
            let mut queue = jw.queue.clone();
            queue.push_task(task).await.map_err(|e| e.to_string())?;
            Ok(())
        }
        other => dead_letter(&jw, &envelope, &format!("{other:?}")).await,
    }
}

/// The original bytes and the reason, to the dead-letter table.
async fn dead_letter(jw: &Jobwire, envelope: &str, reason: &str) -> Result<(), BoxDynError> {
    sqlx::query("INSERT INTO jobwire_dead_letters (reason, payload) VALUES (?, ?)")
        .bind(reason)
        .bind(envelope.as_bytes())
        .execute(&jw.pool)
        .await?;
    Ok(())
}

/// Writes each performance down before apalis acknowledges it.
struct SqliteLedger {
    pool: SqlitePool,
    release: &'static str,
}

impl Ledger for SqliteLedger {
    fn record<'a>(
        &'a self,
        performance: Performance<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO jobwire_ledger (id, job, cents, release) VALUES (?, ?, ?, ?)")
                .bind(performance.id.unwrap_or("?"))
                .bind(performance.job)
                .bind(i64::try_from(performance.cents).unwrap_or(i64::MAX))
                .bind(self.release)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

async fn open(db: &Path) -> Result<SqlitePool, Error> {
    let options = format!("sqlite://{}?mode=rwc", db.display())
        .parse::<sqlx::sqlite::SqliteConnectOptions>()?
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    Ok(SqlitePool::connect_with(options).await?)
}

/// A worker process of `release` on the database at `db`, until SIGTERM.
async fn worker(release: &str, db: &Path) -> Result<(), Error> {
    let pool = open(db).await?;
    let label = if release == "n" { "N" } else { "N+1" };
    let books = Books {
        ledger: Some(Box::new(SqliteLedger {
            pool: pool.clone(),
            release: label,
        })),
        ..Books::default()
    };
    let router = Arc::new(match release {
        "n" => releases::router_n(books)?,
        _ => releases::router_n1(books)?,
    });
    let queue: Queue = SqliteStorage::new(&pool).with_config(config());
    let jw = Jobwire {
        router,
        queue: queue.clone(),
        pool,
        defer: DeferPolicy::default()
            .with_delays(Duration::from_millis(200), Duration::from_secs(1)),
    };
    WorkerBuilder::new(SLOT)
        .backend(queue)
        .data(jw)
        .build(perform)
        .run_until(async {
            jobwire::worker::shutdown_signal().await;
            Ok::<(), std::io::Error>(())
        })
        .await?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("apalis example: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["worker", release, db] => worker(release, Path::new(db)).await.map(|()| true),
            _ => {
                let jobs = args
                    .iter()
                    .position(|a| a == "--jobs")
                    .and_then(|at| args.get(at + 1))
                    .map_or(Ok(1_000), |n| n.parse())?;
                orchestrate(jobs).await
            }
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("apalis example: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A worker process of `release`.
fn spawn(release: &str, db: &Path) -> Result<Child, Error> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["worker", release])
        .arg(db)
        .spawn()?)
}

/// SIGTERM, then waits for the process to end.
fn terminate(mut child: Child) -> Result<(), Error> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("a worker process ended with {status}").into());
    }
    Ok(())
}

const POISON: &str = r#"{"job": "user.confirmation", "version": "1.0.0", truncated"#;

async fn orchestrate(jobs: u64) -> Result<bool, Error> {
    let dir = std::env::temp_dir().join(format!("jobwire-apalis-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("apalis.db");
    let result = deploy(jobs, &db).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn deploy(jobs: u64, db: &Path) -> Result<bool, Error> {
    let pool = open(db).await?;
    SqliteStorage::setup(&pool).await?;
    sqlx::raw_sql(
        "CREATE TABLE jobwire_ledger (id TEXT NOT NULL, job TEXT NOT NULL, cents INTEGER NOT NULL, release TEXT NOT NULL);
         CREATE TABLE jobwire_dead_letters (reason TEXT NOT NULL, payload BLOB NOT NULL);",
    )
    .execute(&pool)
    .await?;
    println!(
        "{jobs} jobs through apalis's SQLite storage, release N then N+1, separate processes\n"
    );

    // Release N works while N and N+1 produce side by side.
    let n = spawn("n", db)?;
    let mut queue: Queue = SqliteStorage::new(&pool).with_config(config());
    let mut dice = Dice(0x5eed);
    let mut enqueued: HashMap<String, u64> = HashMap::new();
    let mut cents = 0;
    for i in 0..jobs {
        let release = if i % 2 == 0 { Release::N } else { Release::N1 };
        // N+1 writes its current format: N defers what it cannot read.
        let (payload, charged) = releases::produce(release, WritePolicy::Current, &mut dice)?;
        let header = jobwire::wire::Header::read(&payload)?;
        let id = header.meta().id().ok_or("producers stamp ids")?.to_owned();
        enqueued.insert(id, charged);
        cents += charged;
        queue.push(String::from_utf8(payload)?).await?;
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    queue.push(POISON.to_owned()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The deploy: N is stopped with SIGTERM, N+1 takes its slot once N's
    // heartbeat has lapsed.
    terminate(n)?;
    let done_by_n = ledger(&pool).await?.len();
    println!("release N's process performed {done_by_n} and was stopped with SIGTERM");
    tokio::time::sleep(config().orphaned_duration() + Duration::from_secs(1)).await;
    let n1 = spawn("n1", db)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while (ledger(&pool).await?.len() as u64) < jobs && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(n1)?;

    // The ledger against what was enqueued.
    let performed = ledger(&pool).await?;
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for (id, _, _) in &performed {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let twice = seen.values().filter(|n| **n > 1).count();
    let lost = enqueued
        .keys()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let arrived: u64 = performed.iter().map(|(_, _, c)| *c).sum();
    let dead: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT reason, payload FROM jobwire_dead_letters")
            .fetch_all(&pool)
            .await?;
    let by_n1 = performed.iter().filter(|(_, r, _)| r == "N+1").count();
    println!("release N+1's process performed {by_n1}");
    println!(
        "enqueued {jobs}, performed {}, lost {lost}, performed twice {twice}, dead-lettered {}, cents {arrived} of {cents}",
        seen.len(),
        dead.len()
    );
    let poison_kept = dead.len() == 1 && dead[0].1 == POISON.as_bytes();
    let safe =
        lost == 0 && twice == 0 && seen.len() as u64 == jobs && arrived == cents && poison_kept;
    if safe {
        println!("the deploy was safe on apalis: every job performed once, every cent arrived, the poison payload dead-lettered with its bytes");
    } else {
        println!("the deploy was NOT safe on apalis");
    }
    Ok(safe)
}

/// The ledger: (job id, release, cents) per performance.
async fn ledger(pool: &SqlitePool) -> Result<Vec<(String, String, u64)>, Error> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, release, cents FROM jobwire_ledger")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, release, cents)| (id, release, u64::try_from(cents).unwrap_or(0)))
        .collect())
}
