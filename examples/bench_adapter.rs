//! jobwire's adapter for the public PostgreSQL job-queue benchmark
//! (hardbyte's `postgresql-job-queue-benchmarking`): one long-running
//! process that produces and performs jobs on a jobwire PostgreSQL queue
//! through the public API only, and reports what the harness samples.
//!
//! It reads the harness's environment:
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `DATABASE_URL` | (required) | the queue's database; `?options=-csearch_path%3DNAME` picks a schema |
//! | `WORKER_COUNT` | 8 | jobs performed at once |
//! | `PRODUCER_RATE` | 500 | jobs a second, paced on real elapsed time (`fixed`) |
//! | `PRODUCER_MODE` | `fixed` | `fixed`, or `depth-target`: keep `TARGET_DEPTH` jobs ready |
//! | `TARGET_DEPTH` | 1000 | the depth `depth-target` keeps |
//! | `PRODUCER_BATCH_MAX` | 100 | jobs a producer statement inserts at most (`enqueue_many`) |
//! | `JOB_PAYLOAD_BYTES` | 256 | the padding each job carries |
//! | `JOB_WORK_MS` | 1 | how long each job works |
//! | `SAMPLE_EVERY_S` | 5 | seconds between ticks, aligned to the wall clock |
//! | `RUN_SECONDS` | (none) | stop after this long; otherwise at SIGTERM or SIGINT |
//!
//! It prints one JSON object per line on stdout: a descriptor first, then
//! at each tick one record per metric: `claim_p50_ms`, `claim_p95_ms` and
//! `claim_p99_ms` (enqueue to handler start, over a rolling 30 s window, in
//! an HDR histogram of bounded memory), `enqueue_rate`, `completion_rate`
//! and `queue_depth`.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test SAMPLE_EVERY_S=1 \
//!     cargo run --release --features postgres --example bench_adapter
//! ```

use hdrhistogram::Histogram;
use jobwire::backend::postgres::{Postgres, Tx};
use jobwire::backend::Enqueue;
use jobwire::worker::{shutdown_signal, Worker};
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The rolling window of the claim latency, in one-second slots.
const WINDOW_S: u64 = 30;

/// The benchmark's job: it carries its enqueue time and its padding, and
/// works for `work_ms`.
#[derive(Serialize, Deserialize)]
struct BenchJob {
    enqueued_ms: u64,
    work_ms: u64,
    pad: String,
}

impl Job for BenchJob {
    const NAME: &'static str = "bench.job";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<Meter>;
    type Data = Tx;
    async fn perform(self, ctx: &mut Context<'_, Arc<Meter>, Tx>) -> Result<(), HandlerError> {
        ctx.state()
            .started(now_ms().saturating_sub(self.enqueued_ms));
        if self.work_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.work_ms)).await;
        }
        ctx.state().completed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What the adapter counts: jobs enqueued and completed, and the claim
/// latency per second of the last [`WINDOW_S`] seconds.
struct Meter {
    enqueued: AtomicU64,
    completed: AtomicU64,
    /// (the second, its histogram), one slot per second modulo the window.
    slots: Mutex<Vec<(u64, Histogram<u64>)>>,
}

impl Meter {
    fn new() -> Result<Meter, Error> {
        let mut slots = Vec::new();
        for _ in 0..WINDOW_S {
            // Microseconds up to an hour, three significant digits.
            slots.push((0, Histogram::new_with_bounds(1, 3_600_000_000, 3)?));
        }
        Ok(Meter {
            enqueued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            slots: Mutex::new(slots),
        })
    }

    /// A job started `latency_ms` after it was enqueued.
    fn started(&self, latency_ms: u64) {
        let second = now_ms() / 1000;
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        let index = usize::try_from(second % WINDOW_S).unwrap_or(0);
        if let Some((at, histogram)) = slots.get_mut(index) {
            if *at != second {
                histogram.reset();
                *at = second;
            }
            histogram.saturating_record(latency_ms.saturating_mul(1000).max(1));
        }
    }

    /// p50, p95 and p99 over the window, in milliseconds.
    fn percentiles(&self) -> (f64, f64, f64) {
        let now = now_ms() / 1000;
        let Ok(slots) = self.slots.lock() else {
            return (0.0, 0.0, 0.0);
        };
        let Some(mut merged) = slots.first().map(|(_, h)| h.clone()) else {
            return (0.0, 0.0, 0.0);
        };
        merged.reset();
        for (at, histogram) in slots.iter() {
            if now.saturating_sub(*at) < WINDOW_S {
                let _ = merged.add(histogram);
            }
        }
        if merged.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        let ms = |q: f64| merged.value_at_quantile(q) as f64 / 1000.0;
        (ms(0.50), ms(0.95), ms(0.99))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 3339 in UTC, to the millisecond, without a date library.
fn iso(ms: u64) -> String {
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// The harness's settings.
struct Settings {
    url: String,
    workers: usize,
    rate: f64,
    depth_target: Option<u64>,
    batch_max: usize,
    payload_bytes: usize,
    work_ms: u64,
    sample_every: u64,
    run_for: Option<Duration>,
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Error> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{name}: `{text}` is not a valid value").into()),
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Settings, Error> {
        let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is required")?;
        let mode = std::env::var("PRODUCER_MODE").unwrap_or_else(|_| "fixed".to_owned());
        let target: u64 = var("TARGET_DEPTH", 1000)?;
        let depth_target = match mode.as_str() {
            "fixed" => None,
            "depth-target" => Some(target),
            other => {
                return Err(format!("PRODUCER_MODE: `{other}` is not fixed or depth-target").into())
            }
        };
        let run_seconds: u64 = var("RUN_SECONDS", 0)?;
        Ok(Settings {
            url,
            workers: var("WORKER_COUNT", 8)?,
            rate: var("PRODUCER_RATE", 500.0)?,
            depth_target,
            batch_max: var::<usize>("PRODUCER_BATCH_MAX", 100)?.max(1),
            payload_bytes: var("JOB_PAYLOAD_BYTES", 256)?,
            work_ms: var("JOB_WORK_MS", 1)?,
            sample_every: var::<u64>("SAMPLE_EVERY_S", 5)?.max(1),
            run_for: (run_seconds > 0).then(|| Duration::from_secs(run_seconds)),
        })
    }
}

fn emit(line: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // The harness may have stopped reading: that is no reason to panic.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let result = Settings::from_env().and_then(|settings| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(run(settings))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_adapter: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> Result<(), Error> {
    let queue = Postgres::connect(&settings.url).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(queue.pool())
        .await?;
    // The tables that hold rows, which the harness measures (pgstattuple
    // reads plain tables only): jobwire_jobs's segments, and the dead letters.
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT inhrelid::regclass::text FROM pg_inherits
         WHERE inhparent = to_regclass('jobwire_jobs') ORDER BY 1",
    )
    .fetch_all(queue.pool())
    .await?;
    tables.push("jobwire_dead".to_owned());
    emit(&json!({
        "kind": "descriptor",
        "system": "jobwire",
        "event_tables": tables,
        "extensions": [],
        "version": env!("CARGO_PKG_VERSION"),
        "schema_version": "3",
        "db_name": database,
        "started_at": iso(now_ms()),
    }));
    let meter = Arc::new(Meter::new()?);
    let router = Router::builder()
        .lending::<Tx>()
        .job::<BenchJob>()
        .state(Arc::clone(&meter))
        .build()?;
    let worker = Worker::new(queue.clone(), router)
        .name("bench-adapter")
        .concurrency(settings.workers.max(1));
    let producing = tokio::spawn(produce(
        queue.clone(),
        Arc::clone(&meter),
        settings.rate,
        settings.depth_target,
        settings.batch_max,
        settings.payload_bytes,
        settings.work_ms,
    ));
    let sampling = tokio::spawn(sample(
        queue.clone(),
        Arc::clone(&meter),
        settings.sample_every,
    ));
    let run_for = settings.run_for;
    let working = tokio::spawn(worker.run(async move {
        match run_for {
            Some(limit) => {
                tokio::select! {
                    () = shutdown_signal() => {}
                    () = tokio::time::sleep(limit) => {}
                }
            }
            None => shutdown_signal().await,
        }
    }));
    let report = working.await?;
    producing.abort();
    sampling.abort();
    eprintln!(
        "bench_adapter: stopped; {} performed, {} enqueued",
        report.performed,
        meter.enqueued.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Enqueues at `rate` jobs a second on real elapsed time, or keeps
/// `depth_target` jobs waiting, in batches of at most `batch_max`.
async fn produce(
    queue: Postgres,
    meter: Arc<Meter>,
    rate: f64,
    depth_target: Option<u64>,
    batch_max: usize,
    payload_bytes: usize,
    work_ms: u64,
) {
    let producer = Producer::new(WritePolicy::Current);
    let pad = "x".repeat(payload_bytes);
    let started = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let due = match depth_target {
            None => {
                let owed = (started.elapsed().as_secs_f64() * rate) as u64;
                owed.saturating_sub(sent)
            }
            Some(target) => {
                let waiting = sent.saturating_sub(meter.completed.load(Ordering::Relaxed));
                target.saturating_sub(waiting)
            }
        };
        let count = usize::try_from(due).unwrap_or(usize::MAX).min(batch_max);
        if count == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let enqueued_ms = now_ms();
        let mut payloads = Vec::with_capacity(count);
        for _ in 0..count {
            let job = BenchJob {
                enqueued_ms,
                work_ms,
                pad: pad.clone(),
            };
            match producer.seal(&job) {
                Ok(payload) => payloads.push(payload),
                Err(error) => {
                    eprintln!("bench_adapter: cannot seal a job: {error}");
                    return;
                }
            }
        }
        let jobs: Vec<Enqueue<'_>> = payloads.iter().map(|p| Enqueue::new(p)).collect();
        match queue.enqueue_many(&jobs).await {
            Ok(_) => {
                sent += count as u64;
                meter.enqueued.fetch_add(count as u64, Ordering::Relaxed);
            }
            Err(error) => {
                eprintln!("bench_adapter: enqueue failed ({error}); retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One record per metric at each tick, ticks aligned to the wall clock.
async fn sample(queue: Postgres, meter: Arc<Meter>, every: u64) {
    let mut last = (
        Instant::now(),
        meter.enqueued.load(Ordering::Relaxed),
        meter.completed.load(Ordering::Relaxed),
    );
    loop {
        let period = every * 1000;
        let wait = period - now_ms() % period;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let (enqueued, completed) = (
            meter.enqueued.load(Ordering::Relaxed),
            meter.completed.load(Ordering::Relaxed),
        );
        let seconds = last.0.elapsed().as_secs_f64().max(0.001);
        let enqueue_rate = (enqueued - last.1) as f64 / seconds;
        let completion_rate = (completed - last.2) as f64 / seconds;
        last = (Instant::now(), enqueued, completed);
        let (p50, p95, p99) = meter.percentiles();
        let depth: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobwire_jobs WHERE state = 'ready' AND run_at <= now()",
        )
        .fetch_one(queue.pool())
        .await
        .unwrap_or(-1);
        let t = iso(now_ms());
        let window = every as f64;
        for (metric, value, window_s) in [
            ("claim_p50_ms", p50, WINDOW_S as f64),
            ("claim_p95_ms", p95, WINDOW_S as f64),
            ("claim_p99_ms", p99, WINDOW_S as f64),
            ("enqueue_rate", enqueue_rate, window),
            ("completion_rate", completion_rate, window),
            ("queue_depth", depth as f64, 0.0),
        ] {
            emit(&json!({
                "t": t,
                "system": "jobwire",
                "kind": "adapter",
                "subject_kind": "adapter",
                "subject": "",
                "metric": metric,
                "value": value,
                "window_s": window_s,
            }));
        }
    }
}
