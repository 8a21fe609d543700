//! The worker against a bare claim/acknowledge loop on the same queue.
//!
//! ```text
//! cargo bench --bench worker                                   # SQLite
//! cargo bench --bench worker --features postgres -- --postgres postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench worker -- --jobs 20000 --rounds 5 --memory 100000
//! cargo bench --bench worker -- --jobs 2000 --concurrency 1,8,32
//! cargo bench --bench worker --features postgres -- --pg-gate postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench worker --features postgres -- --postgres URL --only enqueue-many --jobs 20000 --rounds 3
//! ```
//!
//! - **Throughput.** Each round fills the queue with `--jobs` payloads of a
//!   trivial job, then drains it twice: once with the jobwire worker, once
//!   with a bare loop that claims, decodes the same payload with serde and
//!   acknowledges it, through the same `Backend` (the same SQL), with the
//!   same batch size. Rounds alternate the order; the table gives each
//!   one's median jobs per second and the ratio, measured in this run, at
//!   each of `--concurrency` (default 8): the worker's concurrency, and the
//!   bare loop's claim batch.
//! - **The gate's cost.** The worker with an open gate, every job gated,
//!   against the worker with none, rounds alternating: a file gate, and on
//!   PostgreSQL an advisory-lock gate too.
//! - **Latency.** A producer enqueues at a steady rate while a worker runs;
//!   the handler measures enqueue-to-perform from the envelope's
//!   `meta.enqueued_at`. p50 and p99.
//! - **Memory.** The worker drains `--memory` jobs, enqueued in batches;
//!   the resident set is sampled every tenth of the way.
//!
//! A benchmark, not a test: it asserts nothing about time.

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement};
use jobwire::gate::file::FileGate;
use jobwire::gate::{Gate, Gated, NoGate};
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How many jobs at once where one setting is measured: the gate's cost,
/// latency and memory.
const CONCURRENCY: usize = 8;

/// What the handlers count, and the latencies they measure.
#[derive(Default)]
struct Counter {
    done: AtomicU64,
    latencies: Mutex<Vec<u64>>,
    measure: std::sync::atomic::AtomicBool,
}

#[derive(Serialize, Deserialize)]
struct Tick {
    n: u64,
}

impl Job for Tick {
    const NAME: &'static str = "bench.tick";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<Counter>;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Arc<Counter>>) -> Result<(), HandlerError> {
        let counter = ctx.state();
        if counter.measure.load(Ordering::Relaxed) {
            if let Some(at) = ctx.meta().enqueued_at() {
                let now = u64::try_from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis()),
                )
                .unwrap_or(0);
                if let Ok(mut latencies) = counter.latencies.lock() {
                    latencies.push(now.saturating_sub(at));
                }
            }
        }
        std::hint::black_box(self.n);
        counter.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The bare loop's view of the same payload.
#[derive(Deserialize)]
struct Envelope {
    #[allow(dead_code)]
    job: String,
    args: Tick,
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let number = |flag: &str, default: u64| -> Result<u64, Error> {
        Ok(value(flag).map_or(Ok(default), |v| v.parse())?)
    };
    let jobs = number("--jobs", 5_000)?;
    let rounds = number("--rounds", 5)?;
    let memory = number("--memory", 100_000)?;
    let only = value("--only");
    let rate = number("--rate", 500)? as f64;
    // `--concurrency 1,8,32`: the throughput table at each; `--only` uses the
    // first.
    let concurrency: Vec<usize> = value("--concurrency")
        .unwrap_or_else(|| CONCURRENCY.to_string())
        .split(',')
        .map(|n| n.trim().parse::<usize>().map(|n| n.max(1)))
        .collect::<Result<_, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match value("--postgres") {
            Some(url) => {
                let only = only.as_deref();
                postgres(&url, jobs, rounds, memory, only, rate, &concurrency).await
            }
            None => {
                let dir =
                    std::env::temp_dir().join(format!("jobwire-bench-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                let queue = Sqlite::open(dir.join("queue.db")).await?;
                let result = match only.as_deref() {
                    Some(which) => only_one(&queue, which, jobs, rounds, rate, &concurrency).await,
                    None => {
                        // `--pg-gate URL`: the PostgreSQL gate's cost on this
                        // SQLite queue too.
                        let gates = Gates {
                            file: dir.join("bench.gate"),
                            postgres: value("--pg-gate"),
                        };
                        let sizes = Sizes {
                            jobs,
                            rounds,
                            memory,
                        };
                        suite("SQLite", queue, sizes, &concurrency, gates).await
                    }
                };
                std::fs::remove_dir_all(&dir)?;
                result
            }
        }
    })
}

#[cfg(feature = "postgres")]
async fn postgres(
    url: &str,
    jobs: u64,
    rounds: u64,
    memory: u64,
    only: Option<&str>,
    rate: f64,
    concurrency: &[usize],
) -> Result<(), Error> {
    let schema = format!("jobwire_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await?;
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    let queue = jobwire::backend::postgres::Postgres::connect_with(
        options.options([("search_path", schema.as_str())]),
    )
    .await?;
    let result = match only {
        Some("enqueue-many") => enqueue_many(&queue, jobs, rounds).await,
        Some(which) => only_one(&queue, which, jobs, rounds, rate, concurrency).await,
        None => {
            let gates = Gates {
                file: std::env::temp_dir().join(format!("{schema}.gate")),
                postgres: Some(url.to_owned()),
            };
            let sizes = Sizes {
                jobs,
                rounds,
                memory,
            };
            suite("PostgreSQL", queue, sizes, concurrency, gates).await
        }
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await?;
    result
}

/// Bulk enqueue against one `INSERT` a job, `jobs` jobs a round: batches of
/// 1,000 through `Postgres::enqueue_many`. Prints each one's median jobs per
/// second and the ratio, in this run.
#[cfg(feature = "postgres")]
async fn enqueue_many(
    queue: &jobwire::backend::postgres::Postgres,
    jobs: u64,
    rounds: u64,
) -> Result<(), Error> {
    let producer = Producer::new(WritePolicy::Current);
    let payloads: Vec<Vec<u8>> = (0..jobs)
        .map(|n| producer.seal(&Tick { n }))
        .collect::<Result<_, _>>()?;
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        for payload in &payloads {
            queue.enqueue(Enqueue::new(payload)).await?;
        }
        one.push(jobs as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        for batch in payloads.chunks(1_000) {
            let batch: Vec<Enqueue<'_>> = batch.iter().map(|p| Enqueue::new(p)).collect();
            queue.enqueue_many(&batch).await?;
        }
        many.push(jobs as f64 / started.elapsed().as_secs_f64());
        sqlx::query("TRUNCATE jobwire_jobs")
            .execute(queue.pool())
            .await?;
    }
    let (one, many) = (median(one), median(many));
    println!("| enqueue | jobs/s (median of {rounds}) | ratio |");
    println!("| --- | --- | --- |");
    println!("| one `INSERT` a job | {one:.0} | 1.00 |");
    println!(
        "| `enqueue_many`, batches of 1,000 | {many:.0} | {:.2} |",
        many / one
    );
    Ok(())
}

#[cfg(not(feature = "postgres"))]
async fn postgres(
    _: &str,
    _: u64,
    _: u64,
    _: u64,
    _: Option<&str>,
    _: f64,
    _: &[usize],
) -> Result<(), Error> {
    Err("run with --features postgres".into())
}

async fn fill<B: Backend>(queue: &B, from: u64, count: u64) -> Result<(), Error> {
    let producer = Producer::new(WritePolicy::Current);
    for n in from..from + count {
        queue
            .enqueue(Enqueue::new(&producer.seal(&Tick { n })?))
            .await?;
    }
    Ok(())
}

/// Drains the queue with the jobwire worker; returns jobs per second.
async fn with_worker<B: Backend + Clone>(
    queue: &B,
    jobs: u64,
    concurrency: usize,
) -> Result<f64, Error>
where
    B::Data: Send,
{
    with_gated_worker(queue, jobs, NoGate, concurrency).await
}

/// Drains the queue with the jobwire worker behind `gate` (open), every
/// job gated; returns jobs per second.
async fn with_gated_worker<B: Backend + Clone, G: Gate>(
    queue: &B,
    jobs: u64,
    gate: G,
    concurrency: usize,
) -> Result<f64, Error>
where
    B::Data: Send,
{
    let counter = Arc::new(Counter::default());
    let router: Router<B::Data> = Router::builder()
        .lending::<B::Data>()
        .job::<Tick>()
        .state(Arc::clone(&counter))
        .build()?;
    let stop = jobwire::Cancellation::new();
    let worker = Worker::new(queue.clone(), router)
        .concurrency(concurrency)
        .poll_interval(Duration::from_millis(5))
        .gate(gate, Gated::All);
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

/// Drains the queue with a bare loop: claim up to `batch` jobs, decode and
/// acknowledge each.
async fn bare<B: Backend>(queue: &B, jobs: u64, batch: usize) -> Result<f64, Error> {
    let started = Instant::now();
    let mut done = 0;
    let request = ClaimRequest::new(&["default"], batch, Duration::from_secs(30), "bare");
    while done < jobs {
        let claims = queue.claim(&request).await?;
        for claim in claims {
            let envelope: Envelope = serde_json::from_slice(&claim.payload)?;
            std::hint::black_box(envelope.args.n);
            let data = queue.lend(&claim.key);
            queue
                .settle(&claim.key, data, Settlement::Ack)
                .await
                .map_err(|e| e.to_string())?;
            done += 1;
        }
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// One of the two loops alone, for a profiler: `--only worker` or
/// `--only bare`.
async fn only_one<B: Backend + Clone>(
    queue: &B,
    which: &str,
    jobs: u64,
    rounds: u64,
    rate_flag: f64,
    concurrency: &[usize],
) -> Result<(), Error>
where
    B::Data: Send,
{
    let concurrency = concurrency.first().copied().unwrap_or(CONCURRENCY);
    for _ in 0..rounds {
        if which == "latency" {
            let (total, p50, p99) = latency(queue, rate_flag).await?;
            println!("latency at {rate_flag} jobs/s ({total} jobs): p50 {p50} ms, p99 {p99} ms");
            continue;
        }
        fill(queue, 0, jobs).await?;
        let rate = if which == "worker" {
            with_worker(queue, jobs, concurrency).await?
        } else {
            bare(queue, jobs, concurrency).await?
        };
        println!("{which}: {rate:.0} jobs/s");
    }
    Ok(())
}

/// Enqueue-to-perform latency at `rate` jobs a second, for three seconds:
/// how many jobs, p50 and p99 in milliseconds.
async fn latency<B: Backend + Clone>(queue: &B, rate: f64) -> Result<(u64, u64, u64), Error>
where
    B::Data: Send,
{
    let counter = Arc::new(Counter::default());
    counter.measure.store(true, Ordering::Relaxed);
    let router: Router<B::Data> = Router::builder()
        .lending::<B::Data>()
        .job::<Tick>()
        .state(Arc::clone(&counter))
        .build()?;
    let stop = jobwire::Cancellation::new();
    let run = tokio::spawn(
        Worker::new(queue.clone(), router)
            .concurrency(CONCURRENCY)
            .poll_interval(Duration::from_millis(5))
            .run(stop.clone().cancelled_owned()),
    );
    let total = (rate * 3.0) as u64;
    let every = Duration::from_secs_f64(1.0 / rate);
    let producer = Producer::new(WritePolicy::Current);
    let mut next = Instant::now();
    for n in 0..total {
        queue
            .enqueue(Enqueue::new(&producer.seal(&Tick { n })?))
            .await?;
        next += every;
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
    }
    while counter.done.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    run.await?;
    let mut latencies = counter
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    Ok((total, at(0.5), at(0.99)))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The gates the suite measures, opened and built fresh for each round.
#[derive(Clone, Copy, PartialEq)]
enum GateKind {
    None,
    File,
    Postgres,
}

async fn gated_round<B: Backend + Clone>(
    queue: &B,
    jobs: u64,
    kind: GateKind,
    gates: &Gates,
) -> Result<f64, Error>
where
    B::Data: Send,
{
    match kind {
        GateKind::None => with_worker(queue, jobs, CONCURRENCY).await,
        GateKind::File => {
            let gate = FileGate::new(&gates.file);
            with_gated_worker(queue, jobs, gate, CONCURRENCY).await
        }
        GateKind::Postgres => postgres_gated_round(queue, jobs, gates).await,
    }
}

#[cfg(feature = "postgres")]
async fn postgres_gated_round<B: Backend + Clone>(
    queue: &B,
    jobs: u64,
    gates: &Gates,
) -> Result<f64, Error>
where
    B::Data: Send,
{
    let url = gates.postgres.as_deref().ok_or("no PostgreSQL URL")?;
    let gate = jobwire::gate::postgres::PgGate::connect(url, "bench").await?;
    with_gated_worker(queue, jobs, gate, CONCURRENCY).await
}

#[cfg(not(feature = "postgres"))]
async fn postgres_gated_round<B: Backend + Clone>(_: &B, _: u64, _: &Gates) -> Result<f64, Error>
where
    B::Data: Send,
{
    Err("run with --features postgres".into())
}

/// Where the suite's gates live.
struct Gates {
    file: std::path::PathBuf,
    postgres: Option<String>,
}

/// How much the suite does.
struct Sizes {
    /// Jobs a round.
    jobs: u64,
    rounds: u64,
    /// Jobs through the worker while its memory is sampled.
    memory: u64,
}

async fn suite<B: Backend + Clone>(
    label: &str,
    queue: B,
    sizes: Sizes,
    concurrency: &[usize],
    gates: Gates,
) -> Result<(), Error>
where
    B::Data: Send,
{
    let Sizes {
        jobs,
        rounds,
        memory,
    } = sizes;
    // Warm up: the file, the pool, the caches.
    fill(&queue, 0, 500).await?;
    bare(&queue, 500, CONCURRENCY).await?;

    // At each concurrency, the worker and the bare loop alternate which
    // drains first; medians.
    let mut throughput = Vec::new();
    for &at in concurrency {
        let (mut worker_rates, mut bare_rates) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            for first in [round % 2 == 0, round % 2 == 1] {
                fill(&queue, 0, jobs).await?;
                if first {
                    worker_rates.push(with_worker(&queue, jobs, at).await?);
                } else {
                    bare_rates.push(bare(&queue, jobs, at).await?);
                }
            }
        }
        throughput.push((at, median(worker_rates), median(bare_rates)));
    }

    // The gate's cost: the worker with an open gate against the worker
    // without one, alternating, in the same run.
    let mut kinds = vec![GateKind::None, GateKind::File];
    if gates.postgres.is_some() {
        kinds.push(GateKind::Postgres);
    }
    let mut gate_rates = vec![Vec::new(); kinds.len()];
    for round in 0..rounds {
        for step in 0..kinds.len() {
            let at = (step + round as usize) % kinds.len();
            fill(&queue, 0, jobs).await?;
            gate_rates[at].push(gated_round(&queue, jobs, kinds[at], &gates).await?);
        }
    }
    let gate_rates: Vec<f64> = gate_rates.into_iter().map(median).collect();
    println!("\n{label}: {jobs} jobs waiting a round, {rounds} rounds, medians");
    println!(
        "| concurrent | bare claim / decode / ack (jobs/s) | jobwire worker | worker / bare |"
    );
    println!("| ---: | ---: | ---: | ---: |");
    for (at, worker_rate, bare_rate) in &throughput {
        println!(
            "| {at} | {bare_rate:.0} | {worker_rate:.0} | {:.2} |",
            worker_rate / bare_rate
        );
    }
    let bare_rate = throughput
        .iter()
        .find(|(at, _, _)| *at == CONCURRENCY)
        .or(throughput.first())
        .map_or(1_000.0, |(_, _, bare)| *bare);
    println!("\nthe gate's cost at {CONCURRENCY} concurrent, every job gated, the gate open:");
    println!("| worker | jobs/s (median) | ratio |");
    println!("| --- | --- | --- |");
    for (kind, rate) in kinds.iter().zip(&gate_rates) {
        let name = match kind {
            GateKind::None => "no gate",
            GateKind::File => "file gate",
            GateKind::Postgres => "PostgreSQL gate",
        };
        println!("| {name} | {rate:.0} | {:.2} |", rate / gate_rates[0]);
    }

    // Latency at a steady rate (half the bare throughput, at most 2,000/s).
    let rate = (bare_rate / 2.0).clamp(50.0, 2_000.0);
    let (total, p50, p99) = latency(&queue, rate).await?;
    println!("\nenqueue to perform at {rate:.0} jobs/s ({total} jobs): p50 {p50} ms, p99 {p99} ms");

    // Memory over many jobs.
    let counter = Arc::new(Counter::default());
    let router: Router<B::Data> = Router::builder()
        .lending::<B::Data>()
        .job::<Tick>()
        .state(Arc::clone(&counter))
        .build()?;
    let stop = jobwire::Cancellation::new();
    let run = tokio::spawn(
        Worker::new(queue.clone(), router)
            .concurrency(CONCURRENCY)
            .poll_interval(Duration::from_millis(5))
            .run(stop.clone().cancelled_owned()),
    );
    let step = (memory / 10).max(1);
    let mut samples = Vec::new();
    for tenth in 0..10 {
        fill(&queue, tenth * step, step).await?;
        while counter.done.load(Ordering::Relaxed) < (tenth + 1) * step {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(rss_kib());
    }
    stop.cancel();
    run.await?;
    println!(
        "\nresident memory while the worker drained {} jobs, every tenth (KiB): {}",
        step * 10,
        samples
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
