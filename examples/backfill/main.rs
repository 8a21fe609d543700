//! A backfill that outlives three deploys.
//!
//! The story of the seeds: a new column, `email_lower`, must be filled on
//! every row of a large table (`accounts`, 200,000 rows, in the embedded
//! queue's own SQLite file). One iterable job does it, in batches. While it
//! runs, the application is deployed three times: each deploy stops the
//! worker with SIGTERM while the job is in flight, and a worker of the next
//! release takes over. Release 2 changes the batch size from 500 to 2,000
//! and the cursor's type, so it is a major version with a cursor upcaster;
//! release 3 stops its runs after 1.5 s to let other jobs through; release 4
//! checkpoints more often (`releases.rs` has all four).
//!
//! At the end every row must have been written exactly once (each write
//! bumps a `writes` counter), and the progress history shows where each
//! release stopped and resumed. The process exits non-zero otherwise.
//!
//! ```text
//! cargo run --example backfill
//! cargo run --example backfill -- --rows 1000000
//! ```

#[path = "../support/process.rs"]
mod process;
mod releases;

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::wire::Header;
use jobwire::worker::{shutdown_signal, Worker};
use jobwire::{HandlerError, Producer, Router, WritePolicy};
use process::{Error, Process};
use releases::Table;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = runtime().and_then(|runtime| match args.first().map(String::as_str) {
        Some("worker") => runtime.block_on(work(&args)).map(|()| true),
        _ => runtime.block_on(orchestrate(&args)),
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == flag)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

/// The `accounts` table, in the queue's SQLite file.
#[derive(Clone)]
struct Accounts {
    pool: sqlx::SqlitePool,
}

impl Table for Accounts {
    async fn ids_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<u64>, HandlerError> {
        let after = match after {
            Some(after) => i64::try_from(after).map_err(HandlerError::permanent)?,
            None => i64::MIN,
        };
        let limit = i64::try_from(limit).map_err(HandlerError::permanent)?;
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| u64::try_from(id).ok())
            .collect())
    }

    async fn write(&self, ids: &[u64]) -> Result<(), HandlerError> {
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
            return Ok(());
        };
        // Stands for the real work a batch does: 40 µs a row.
        tokio::time::sleep(Duration::from_micros(40 * ids.len() as u64)).await;
        sqlx::query(
            "UPDATE accounts SET email_lower = lower(email), writes = writes + 1
             WHERE id BETWEEN ?1 AND ?2",
        )
        .bind(i64::try_from(first).map_err(HandlerError::permanent)?)
        .bind(i64::try_from(last).map_err(HandlerError::permanent)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A worker of one release, until SIGTERM.
async fn work(args: &[String]) -> Result<(), Error> {
    let path = value(args, "--db").ok_or("a worker needs --db PATH")?;
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let release = value(args, "--release").ok_or("a worker needs --release 1..4")?;
    let queue = Sqlite::open(path).await?;
    let accounts = Accounts {
        pool: queue.pool().clone(),
    };
    let builder = Router::builder();
    let builder = match release {
        "1" => builder.iterable::<releases::release_1::Backfill<Accounts>>(),
        "2" => builder.iterable::<releases::release_2::Backfill<Accounts>>(),
        "3" => builder.iterable::<releases::release_3::Backfill<Accounts>>(),
        "4" => builder.iterable::<releases::release_4::Backfill<Accounts>>(),
        other => return Err(format!("no release {other}").into()),
    };
    let router = builder.state(accounts).build()?;
    Worker::new(queue, router)
        .name(format!("release-{release}"))
        .poll_interval(Duration::from_millis(50))
        .resume_delay(Duration::from_millis(100))
        .run(shutdown_signal())
        .await;
    Ok(())
}

fn worker(path: &Path, release: u8) -> Result<Process, Error> {
    let args = [
        "worker".to_owned(),
        "--db".to_owned(),
        path.display().to_string(),
        "--release".to_owned(),
        release.to_string(),
    ];
    Process::spawn(&format!("release {release}"), &args)
}

/// The queued job's state, version and progress, read without performing it.
async fn queued(queue: &Sqlite) -> Result<Option<(String, String, u64, String, u32)>, Error> {
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT state, payload FROM jobwire_jobs LIMIT 1")
            .fetch_optional(queue.pool())
            .await?;
    let Some((state, payload)) = row else {
        return Ok(None);
    };
    let header = Header::read(&payload)?;
    let (items, cursor, interruptions) = header.progress().map_or((0, "null".to_owned(), 0), |p| {
        (p.items(), p.cursor_json().to_owned(), p.interruptions())
    });
    Ok(Some((
        state,
        header.version().to_string(),
        items,
        cursor,
        interruptions,
    )))
}

async fn orchestrate(args: &[String]) -> Result<bool, Error> {
    let rows: i64 = value(args, "--rows").unwrap_or("200000").parse()?;
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "jobwire-backfill-{}-{}",
        std::process::id(),
        started.as_millis()
    ));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("app.db");
    let result = backfill(&path, rows).await;
    std::fs::remove_dir_all(&dir)?;
    result
}

async fn backfill(path: &Path, rows: i64) -> Result<bool, Error> {
    let queue = Sqlite::open(path).await?;
    sqlx::raw_sql(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL,
                                email_lower TEXT, writes INTEGER NOT NULL DEFAULT 0)",
    )
    .execute(queue.pool())
    .await?;
    sqlx::query(
        "WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < ?1)
         INSERT INTO accounts (id, email) SELECT id, 'User' || id || '@Example.COM' FROM n",
    )
    .bind(rows)
    .execute(queue.pool())
    .await?;
    println!("backfilling accounts.email_lower on {rows} rows, across three deploys\n");

    let job = releases::release_1::Backfill::<Accounts>::new("accounts");
    let payload = Producer::new(WritePolicy::Current).seal(&job)?;
    queue.enqueue(Enqueue::new(&payload)).await?;

    let clock = Instant::now();
    let mut history = Vec::new();
    let mut current = worker(path, 1)?;
    for next in 2..=4u8 {
        // Let the release work a while, then deploy while the job runs.
        tokio::time::sleep(Duration::from_millis(1_800)).await;
        let waiting = Instant::now();
        while !matches!(queued(&queue).await?, Some((state, ..)) if state == "running") {
            if waiting.elapsed() > Duration::from_secs(30) {
                let dead: Vec<String> = queue
                    .dead_letters()
                    .await?
                    .into_iter()
                    .map(|d| d.reason)
                    .collect();
                return Err(format!(
                    "the job is not running: {:?}, dead letters {dead:?}",
                    queued(&queue).await?
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        current.terminate()?;
        current.finish(Duration::from_secs(30)).await?;
        let Some((_, version, items, cursor, interruptions)) = queued(&queue).await? else {
            return Err("the job finished before the deploy: give it more rows".into());
        };
        history.push(format!(
            "{:>6.1} s  deploy {}: SIGTERM to release {} mid-job; it stopped at batch {items}, cursor {cursor} (written at {version}), interruptions {interruptions}; release {next} resumes",
            clock.elapsed().as_secs_f64(),
            next - 1,
            next - 1,
        ));
        current = worker(path, next)?;
    }
    let waiting = Instant::now();
    while queued(&queue).await?.is_some() {
        if waiting.elapsed() > Duration::from_secs(300) {
            return Err("the backfill did not finish within five minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    history.push(format!(
        "{:>6.1} s  release 4 completed the job",
        clock.elapsed().as_secs_f64()
    ));
    current.terminate()?;
    current.finish(Duration::from_secs(30)).await?;

    for line in &history {
        println!("{line}");
    }
    let counts: Vec<(i64, i64)> =
        sqlx::query_as("SELECT writes, count(*) FROM accounts GROUP BY writes ORDER BY writes")
            .fetch_all(queue.pool())
            .await?;
    let wrong: i64 =
        sqlx::query_scalar("SELECT count(*) FROM accounts WHERE email_lower IS NOT lower(email)")
            .fetch_one(queue.pool())
            .await?;
    let dead = queue.dead_letters().await?;
    println!();
    for (writes, count) in &counts {
        println!("rows written {writes} time(s): {count}");
    }
    let once = counts.iter().all(|(writes, _)| *writes == 1)
        && counts.iter().map(|(_, n)| n).sum::<i64>() == rows;
    let ok = once && wrong == 0 && dead.is_empty();
    if ok {
        println!("every row was written exactly once, across three deploys and four releases");
    } else {
        for letter in &dead {
            println!("dead-lettered: {}", letter.reason);
        }
        println!("THE BACKFILL WAS NOT EXACT: {wrong} rows hold a wrong value");
    }
    Ok(ok)
}
