//! What the worker's metrics cost: the worker draining no-op jobs on
//! SQLite with Prometheus's recorder installed, against the same worker
//! whose reports go nowhere, rounds alternating, in one run.
//!
//! ```text
//! cargo bench --features metrics --bench metrics                 # 5,000 jobs, 7 rounds each
//! cargo bench --features metrics --bench metrics -- --jobs 20000 --rounds 9
//! cargo test --features metrics --bench metrics -- --smoke       # CI: a few hundred jobs
//! ```
//!
//! One recorder is installed for the whole run (the facade allows one per
//! process): a switch that hands every registration to Prometheus's
//! recorder in the rounds "with", and a no-op handle in the rounds
//! "without". The last round's Prometheus text is printed, so the reader
//! sees what an exporter would serve. A benchmark, not a test: it asserts
//! nothing about time.

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Prometheus's recorder, or nothing.
struct Switch {
    on: AtomicBool,
    prometheus: PrometheusRecorder,
}

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if self.on.load(Ordering::Relaxed) {
            self.prometheus.register_counter(key, metadata)
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if self.on.load(Ordering::Relaxed) {
            self.prometheus.register_gauge(key, metadata)
        } else {
            Gauge::noop()
        }
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if self.on.load(Ordering::Relaxed) {
            self.prometheus.register_histogram(key, metadata)
        } else {
            Histogram::noop()
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Tick {
    n: u64,
}

impl Job for Tick {
    const NAME: &'static str = "bench.tick";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<AtomicU64>;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Arc<AtomicU64>>) -> Result<(), HandlerError> {
        std::hint::black_box(self.n);
        ctx.state().fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn round(queue: &Sqlite, jobs: u64) -> Result<f64, Error> {
    let producer = Producer::new(WritePolicy::Current);
    for n in 0..jobs {
        queue
            .enqueue(Enqueue::new(&producer.seal(&Tick { n })?))
            .await?;
    }
    let done = Arc::new(AtomicU64::new(0));
    let router = Router::builder()
        .job::<Tick>()
        .state(Arc::clone(&done))
        .build()?;
    let stop = jobwire::Cancellation::new();
    let started = Instant::now();
    let run = tokio::spawn(
        Worker::new(queue.clone(), router)
            .concurrency(8)
            .poll_interval(Duration::from_millis(5))
            .run(stop.clone().cancelled_owned()),
    );
    while done.load(Ordering::Relaxed) < jobs {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    run.await?;
    Ok(jobs as f64 / elapsed.as_secs_f64())
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
    let jobs: u64 = value("--jobs").map_or(Ok(if smoke { 200 } else { 5_000 }), |v| v.parse())?;
    let rounds: u64 = value("--rounds").map_or(Ok(if smoke { 1 } else { 7 }), |v| v.parse())?;

    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let switch = Arc::new(Switch {
        on: AtomicBool::new(false),
        prometheus,
    });
    metrics::set_global_recorder(Arc::clone(&switch))
        .map_err(|_| "a recorder was already installed")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir =
            std::env::temp_dir().join(format!("jobwire-metrics-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let queue = Sqlite::open(dir.join("queue.db")).await?;
        round(&queue, jobs.min(500)).await?; // warm up
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            for on in [r % 2 == 0, r % 2 == 1] {
                switch.on.store(on, Ordering::Relaxed);
                let rate = round(&queue, jobs).await?;
                if on {
                    with.push(rate);
                } else {
                    without.push(rate);
                }
            }
        }
        let (with, without) = (median(with), median(without));
        println!(
            "the worker on SQLite, {jobs} no-op jobs a round, {rounds} rounds each, concurrency 8"
        );
        println!("| reports go to | jobs/s (median) | ratio |");
        println!("| --- | --- | --- |");
        println!("| nowhere (no-op handles) | {without:.0} | 1.00 |");
        println!(
            "| Prometheus's recorder | {with:.0} | {:.3} |",
            with / without
        );
        let text = handle.render();
        println!("\nwhat /metrics would serve (first lines):");
        for line in text.lines().filter(|l| !l.starts_with('#')).take(8) {
            println!("  {line}");
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    })
}
