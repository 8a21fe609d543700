//! The jobwire worker on Sidekiq's Redis queue, against the loops it
//! replaces, on the same Redis, in the same run.
//!
//! ```text
//! cargo bench --features redis --bench sidekiq                      # 20,000 jobs, 5 rounds
//! cargo bench --features redis --bench sidekiq -- --jobs 50000 --rounds 7
//! cargo bench --features redis --bench sidekiq -- --plain-tasks      # jobs as plain tasks
//! cargo bench --features redis --bench sidekiq -- --only worker      # one loop (to profile it)
//! cargo test --features redis --bench sidekiq -- --smoke            # CI: a few hundred jobs
//! ```
//!
//! - **Throughput**, at 8 and at 32 concurrent. Each round fills
//!   `queue:default` with `--jobs` Sidekiq jobs of a no-op class, then
//!   drains it with each of:
//!   - Sidekiq's open-source fetch, bare: `BRPOP` and forget (a job in
//!     flight when the process dies is lost), then decode the JSON;
//!   - a reliable fetch written beside it: `LMOVE` into a private list,
//!     decode, `LREM` (what a Rust team would write to lose nothing);
//!   - the jobwire worker: leased claims, versioned dispatch, fenced
//!     acknowledgements.
//!
//!   The order rotates from round to round; the table gives each loop's
//!   median jobs per second and its ratio to the bare loop and to the
//!   reliable loop.
//! - **Latency.** Jobs enqueued at a steady rate (`--rate`, 2,000/s unless
//!   told) while the worker runs: enqueue to perform start, p50 and p99
//!   (from the job's `enqueued_at`).
//!
//! It uses Redis database 11 of `redis://127.0.0.1:6379` (or
//! `JOBWIRE_REDIS_URL`) and empties it. A benchmark, not a test: it
//! asserts nothing about time.

use hdrhistogram::Histogram;
use jobwire::backend::sidekiq::Sidekiq;
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Router};
use redis::AsyncCommands;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `--plain-tasks`: the worker runs jobs as plain tasks
/// (`Worker::isolate_jobs(false)`) instead of on the blocking pool.
static PLAIN_TASKS: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Counter {
    done: AtomicU64,
    measure: AtomicBool,
    latency: Mutex<Option<Histogram<u64>>>,
}

/// Ruby's `TickJob.perform_async(n)`.
#[derive(Serialize, Deserialize)]
struct Tick {
    #[serde(rename = "0")]
    n: u64,
}

impl Job for Tick {
    const NAME: &'static str = "TickJob";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<Counter>;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Arc<Counter>>) -> Result<(), HandlerError> {
        let counter = ctx.state();
        if counter.measure.load(Ordering::Relaxed) {
            if let Some(at) = ctx.meta().enqueued_at() {
                let now = micros(SystemTime::now()) / 1000;
                if let Ok(mut histogram) = counter.latency.lock() {
                    if let Some(histogram) = histogram.as_mut() {
                        let _ = histogram.record(now.saturating_sub(at).max(1) * 1000);
                    }
                }
            }
        }
        std::hint::black_box(self.n);
        counter.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What the bare loops decode: the class and the arguments.
#[derive(Deserialize)]
struct SidekiqTick {
    #[allow(dead_code)]
    class: String,
    args: (u64,),
}

fn micros(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A Sidekiq job as Ruby's client writes it, enqueued now.
fn job(n: u64) -> String {
    let now = micros(SystemTime::now()) as f64 / 1e6;
    format!(
        r#"{{"retry":true,"queue":"default","jobwire_version":"1.0.0","class":"TickJob","args":[{n}],"jid":"{n:024x}","created_at":{now},"enqueued_at":{now}}}"#
    )
}

async fn fill(queue: &Sidekiq, jobs: u64) -> Result<(), Error> {
    let mut conn = queue.connection();
    let mut n = 0;
    while n < jobs {
        let batch: Vec<String> = (n..(n + 1000).min(jobs)).map(job).collect();
        let _: () = conn.lpush("queue:default", batch).await?;
        n += 1000;
    }
    let _: () = conn.sadd("queues", "default").await?;
    Ok(())
}

fn router(counter: &Arc<Counter>) -> Result<Router, Error> {
    Ok(Router::builder()
        .job::<Tick>()
        .state(Arc::clone(counter))
        .build()?)
}

/// The jobwire worker until `jobs` are done; jobs per second.
async fn worker(queue: &Sidekiq, jobs: u64, concurrency: usize) -> Result<f64, Error> {
    let counter = Arc::new(Counter::default());
    let stop = jobwire::Cancellation::new();
    let worker = Worker::new(queue.clone(), router(&counter)?)
        .concurrency(concurrency)
        .isolate_jobs(!PLAIN_TASKS.load(Ordering::Relaxed))
        .poll_interval(Duration::from_millis(5));
    let started = Instant::now();
    let run = tokio::spawn(worker.run(stop.clone().cancelled_owned()));
    while counter.done.load(Ordering::Relaxed) < jobs {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    run.await?;
    Ok(jobs as f64 / elapsed.as_secs_f64())
}

/// `concurrency` tasks, each taking one job at a time with `fetch`, until
/// `jobs` are done; jobs per second.
async fn bare_loop(jobs: u64, concurrency: usize, reliable: bool) -> Result<f64, Error> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        // Each task has its own connection, as BRPOP blocks one.
        let client = redis::Client::open(url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let done = Arc::clone(&done);
        let private = format!("bench:inflight:{task}");
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < jobs {
                let bytes: Option<Vec<u8>> = if reliable {
                    redis::cmd("LMOVE")
                        .arg("queue:default")
                        .arg(&private)
                        .arg("RIGHT")
                        .arg("LEFT")
                        .query_async(&mut conn)
                        .await?
                } else {
                    let popped: Option<(String, Vec<u8>)> =
                        conn.brpop("queue:default", 0.01).await?;
                    popped.map(|(_, bytes)| bytes)
                };
                let Some(bytes) = bytes else {
                    if reliable {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    continue;
                };
                let tick: SidekiqTick = serde_json::from_slice(&bytes)?;
                std::hint::black_box(tick.args.0);
                if reliable {
                    let _: i64 = conn.lrem(&private, -1, bytes).await?;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// Enqueue to perform start at `rate` jobs per second for 3 s: (jobs, p50
/// ms, p99 ms).
async fn latency(queue: &Sidekiq, rate: f64) -> Result<(u64, f64, f64), Error> {
    let counter = Arc::new(Counter::default());
    counter.measure.store(true, Ordering::Relaxed);
    if let Ok(mut histogram) = counter.latency.lock() {
        *histogram = Some(Histogram::new(3)?);
    }
    let stop = jobwire::Cancellation::new();
    let run = tokio::spawn(
        Worker::new(queue.clone(), router(&counter)?)
            .concurrency(8)
            .poll_interval(Duration::from_millis(5))
            .run(stop.clone().cancelled_owned()),
    );
    let total = (rate * 3.0) as u64;
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut conn = queue.connection();
    let mut next = Instant::now();
    for n in 0..total {
        let _: () = conn.lpush("queue:default", job(n)).await?;
        next += every;
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
    }
    while counter.done.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    run.await?;
    let histogram = counter
        .latency
        .lock()
        .ok()
        .and_then(|mut h| h.take())
        .ok_or("no histogram")?;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok((total, ms(0.5), ms(0.99)))
}

fn url() -> String {
    std::env::var("JOBWIRE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/11".into())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let smoke = args.iter().any(|arg| arg == "--smoke");
    PLAIN_TASKS.store(
        args.iter().any(|arg| arg == "--plain-tasks"),
        Ordering::Relaxed,
    );
    let number = |flag: &str, default: u64| -> Result<u64, Error> {
        Ok(value(flag).map_or(Ok(default), |v| v.parse())?)
    };
    let jobs = number("--jobs", if smoke { 300 } else { 20_000 })?;
    let rounds = number("--rounds", if smoke { 1 } else { 5 })?;
    let rate = number("--rate", if smoke { 200 } else { 2_000 })? as f64;
    // `--only brpop|lmove|worker`: that loop alone, and no latency run.
    let only = match value("--only").as_deref() {
        None => None,
        Some("brpop") => Some(0),
        Some("lmove") => Some(1),
        Some("worker") => Some(2),
        Some(other) => return Err(format!("--only {other}: brpop, lmove or worker").into()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let queue = match Sidekiq::connect(&url()).await {
            Ok(queue) => queue,
            Err(error) if smoke && std::env::var_os("JOBWIRE_REQUIRE_REDIS").is_none() => {
                println!("NOT RUN: the Sidekiq benchmark's smoke: no Redis at {} ({error})", url());
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        let _: () = redis::cmd("FLUSHDB").query_async(&mut queue.connection()).await?;
        // Warm up.
        fill(&queue, 500).await?;
        worker(&queue, 500, 8).await?;

        println!("Sidekiq on Redis: {jobs} no-op jobs a round, {rounds} rounds, in one run");
        println!("| concurrent | BRPOP and forget | LMOVE + LREM | jobwire worker | vs BRPOP | vs LMOVE |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for concurrency in [8usize, 32] {
            let mut rates = [Vec::new(), Vec::new(), Vec::new()];
            for round in 0..rounds as usize {
                for step in 0..3 {
                    let which = (step + round) % 3;
                    if only.is_some_and(|only| only != which) {
                        rates[which].push(f64::NAN);
                        continue;
                    }
                    fill(&queue, jobs).await?;
                    let rate = match which {
                        0 => bare_loop(jobs, concurrency, false).await?,
                        1 => bare_loop(jobs, concurrency, true).await?,
                        _ => worker(&queue, jobs, concurrency).await?,
                    };
                    rates[which].push(rate);
                }
            }
            let [brpop, lmove, jobwire] = rates.map(median);
            println!(
                "| {concurrency} | {brpop:.0} | {lmove:.0} | {jobwire:.0} | {:.2} | {:.2} |",
                jobwire / brpop,
                jobwire / lmove
            );
        }
        if only.is_some() {
            return Ok(());
        }
        let (total, p50, p99) = latency(&queue, rate).await?;
        println!("\nenqueue to perform start at {rate:.0} jobs/s ({total} jobs): p50 {p50:.1} ms, p99 {p99:.1} ms");
        let _: () = redis::cmd("FLUSHDB").query_async(&mut queue.connection()).await?;
        Ok(())
    })
}
