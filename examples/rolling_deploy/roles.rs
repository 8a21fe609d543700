//! The two kinds of child process: a worker of one release, and a producer
//! of one release.

use crate::queue::{value, Error, Queue, SqlLedger, Target};
use crate::releases::{produce, router_n1_lending, router_n_lending, Books, Dice, Release};
use jobwire::backend::Backend;
use jobwire::wire::Header;
use jobwire::worker::{shutdown_signal, DeferPolicy, Report, Worker};
use jobwire::{Router, WritePolicy};
use std::time::Duration;

/// How long a worker gives its jobs at SIGTERM.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(10);

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn release(args: &[String]) -> Result<Release, Error> {
    match value(args, "--release") {
        Some("n") => Ok(Release::N),
        Some("n1") => Ok(Release::N1),
        _ => Err("a process needs --release n or --release n1".into()),
    }
}

fn router<D: Send + 'static>(release: Release, books: Books) -> Result<Router<D>, Error> {
    Ok(match release {
        Release::N => router_n_lending(books)?,
        Release::N1 => router_n1_lending(books)?,
    })
}

/// A worker of one release: performs jobs until SIGTERM, then shuts down
/// within its budget and writes its report down.
pub fn worker(args: &[String]) -> Result<(), Error> {
    let target = Target::from_args(args)?;
    let release = release(args)?;
    let name = value(args, "--name")
        .ok_or("a worker needs --name")?
        .to_owned();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::ERROR)
        .with_writer(std::io::stderr)
        .init();
    runtime()?.block_on(async move {
        let queue = target.open().await?;
        let books = Books {
            ledger: Some(Box::new(SqlLedger {
                queue: queue.clone(),
                worker: name.clone(),
            })),
            ..Books::default()
        };
        let report = match &queue {
            Queue::Sqlite(backend) => work(backend.clone(), router(release, books)?, &name).await,
            #[cfg(feature = "postgres")]
            Queue::Postgres(backend) => work(backend.clone(), router(release, books)?, &name).await,
        };
        queue.note_report(&name, &report).await
    })
}

async fn work<B: Backend>(backend: B, router: Router<B::Data>, name: &str) -> Report {
    Worker::new(backend, router)
        .name(name)
        .concurrency(16)
        .lease(Duration::from_secs(10))
        .shutdown_budget(SHUTDOWN_BUDGET)
        .poll_interval(Duration::from_millis(100))
        // Short delays, so the demonstration ends soon after the deploy.
        .deferral(
            DeferPolicy::default().with_delays(Duration::from_millis(100), Duration::from_secs(1)),
        )
        .run(shutdown_signal())
        .await
}

/// A producer of one release: enqueues `--count` jobs, one every
/// `--every-ms`, noting each in the ledger first.
pub fn producer(args: &[String]) -> Result<(), Error> {
    let target = Target::from_args(args)?;
    let release = release(args)?;
    let policy = WritePolicy::parse(value(args, "--policy").unwrap_or("current"))?;
    let number = |flag: &str| -> Result<u64, Error> {
        Ok(value(args, flag)
            .ok_or_else(|| format!("a producer needs {flag}"))?
            .parse()?)
    };
    let (phase, count, every, seed) = (
        usize::try_from(number("--phase")?)?,
        number("--count")?,
        Duration::from_millis(number("--every-ms")?),
        number("--seed")?,
    );
    let label = match release {
        Release::N => "N",
        Release::N1 => "N+1",
    };
    runtime()?.block_on(async move {
        let queue = target.open().await?;
        let mut dice = Dice(seed | 1);
        for _ in 0..count {
            let (payload, cents) = produce(release, policy, &mut dice)?;
            let header = Header::read(&payload)?;
            let id = header.meta().id().ok_or("the producer stamps ids")?;
            queue
                .note_enqueued(id, phase, label, header.job(), cents)
                .await?;
            queue.enqueue(&payload, None).await?;
            tokio::time::sleep(every).await;
        }
        Ok(())
    })
}
