//! An iterable job against a plain loop doing the same work.
//!
//! ```text
//! cargo bench --bench iteration
//! cargo bench --bench iteration -- --items 1000000 --rounds 7
//! ```
//!
//! - **Throughput.** 1,000,000 trivial items, enumerated in batches of
//!   1,000: once by a plain loop, once by jobwire's loop (the job
//!   dispatched through a router, with checkpoints every 1 ms to a
//!   checkpoint that keeps the last one). Rounds alternate the order; the
//!   table gives each one's median and the ratio, measured in this run.
//!   A third side makes a batch of 100 ids the item (`Item = Range<u64>`),
//!   as the iteration module advises for trivial items: the loop's
//!   per-item cost is then paid once per 100 ids.
//! - **Resuming.** One run of 10,000 items resumed at item 0, and at item
//!   990,000: the same cost, because the cursor is a position and nothing
//!   is rescanned.
//!
//! For exact instruction counts, run one side under callgrind:
//! `valgrind --tool=callgrind target/release/deps/iteration-* --only plain`
//! (or `--only jobwire`, or `--only chunked`). `--only fresh --repeat N` and
//! `--only resumed --repeat N` run N one-item runs from the start or from a
//! checkpoint: the difference is what resuming costs.
//!
//! A benchmark, not a test: it asserts nothing about time.

use jobwire::context::{Checkpoint, CheckpointError};
use jobwire::iteration::{iterate, Iterate};
use jobwire::wire::{rewrite_progress, Progress};
use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Producer, Router};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

const BATCH: u64 = 1_000;

/// How many rounds of mixing an item's work does (0: the trivial item).
static SPIN: AtomicU64 = AtomicU64::new(0);

/// The work of one item: an atomic add, after `SPIN` rounds of mixing.
#[inline(never)]
fn work(n: u64, total: &AtomicU64) {
    let mut x = black_box(n) | 1;
    for _ in 0..SPIN.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    total.fetch_add(x & 1, Ordering::Relaxed);
}

/// The items after `after`: a position, so this is as cheap at the end as
/// at the start.
fn batch(after: Option<u64>, to: u64) -> Vec<(u64, u64)> {
    let from = after.map_or(0, |n| n + 1);
    (from..to.min(from + BATCH)).map(|n| (n, n)).collect()
}

#[derive(Serialize, Deserialize)]
struct Trivial {
    to: u64,
}

impl Job for Trivial {
    const NAME: &'static str = "bench.trivial";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<AtomicU64>;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Arc<AtomicU64>>) -> Result<(), HandlerError> {
        iterate(self, ctx).await
    }
}

impl Iterate for Trivial {
    type Cursor = u64;
    type Item = u64;
    const CHECKPOINT_EVERY: Duration = Duration::from_millis(1);
    async fn next_items(
        &self,
        after: Option<&u64>,
        _: &mut Context<'_, Arc<AtomicU64>>,
    ) -> Result<Vec<(u64, u64)>, HandlerError> {
        Ok(batch(after.copied(), self.to))
    }
    async fn each(
        &self,
        n: u64,
        ctx: &mut Context<'_, Arc<AtomicU64>>,
    ) -> Result<(), HandlerError> {
        work(n, ctx.state());
        Ok(())
    }
}

/// How many ids one item of [`Chunked`] carries.
const CHUNK: u64 = 100;

/// [`Trivial`]'s work with a batch of ids for the item.
#[derive(Serialize, Deserialize)]
struct Chunked {
    to: u64,
}

impl Job for Chunked {
    const NAME: &'static str = "bench.chunked";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<AtomicU64>;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Arc<AtomicU64>>) -> Result<(), HandlerError> {
        iterate(self, ctx).await
    }
}

impl Iterate for Chunked {
    /// The first id not done.
    type Cursor = u64;
    type Item = std::ops::Range<u64>;
    const CHECKPOINT_EVERY: Duration = Duration::from_millis(1);
    async fn next_items(
        &self,
        after: Option<&u64>,
        _: &mut Context<'_, Arc<AtomicU64>>,
    ) -> Result<Vec<(std::ops::Range<u64>, u64)>, HandlerError> {
        let from = after.copied().unwrap_or(0);
        let to = self.to.min(from + BATCH);
        Ok((from..to)
            .step_by(CHUNK as usize)
            .map(|start| {
                let end = (start + CHUNK).min(to);
                (start..end, end)
            })
            .collect())
    }
    async fn each(
        &self,
        ids: std::ops::Range<u64>,
        ctx: &mut Context<'_, Arc<AtomicU64>>,
    ) -> Result<(), HandlerError> {
        for n in ids {
            work(n, ctx.state());
        }
        Ok(())
    }
}

/// Keeps the last checkpoint, as a queue would store it.
#[derive(Default)]
struct Keep {
    saves: AtomicU64,
    last: Mutex<Vec<u8>>,
}

impl Checkpoint for Keep {
    fn save<'a>(
        &'a self,
        payload: &'a [u8],
        _: &'a mut (dyn Any + Send),
    ) -> Pin<Box<dyn Future<Output = Result<(), CheckpointError>> + Send + 'a>> {
        Box::pin(async move {
            self.saves.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last.lock() {
                last.clear();
                last.extend_from_slice(payload);
            }
            Ok(())
        })
    }
}

fn plain(to: u64, total: &AtomicU64) -> Duration {
    let started = Instant::now();
    let mut cursor = None;
    loop {
        let items = batch(cursor, to);
        if items.is_empty() {
            break;
        }
        for (n, next) in items {
            work(n, total);
            cursor = Some(next);
        }
    }
    started.elapsed()
}

fn jobwire(router: &Router, payload: &[u8], keep: &Arc<Keep>) -> Result<Duration, Error> {
    let started = Instant::now();
    let checkpoint: Arc<dyn Checkpoint> = keep.clone();
    let outcome =
        router.dispatch_blocking(payload, &mut Delivery::new().with_checkpoint(checkpoint));
    let elapsed = started.elapsed();
    if !outcome.is_performed() {
        return Err(format!("{outcome:?}").into());
    }
    Ok(elapsed)
}

/// One run of `budget` items, resumed at `at`.
fn resume(router: &Router, payload: &[u8], at: u64, budget: u64) -> Result<Duration, Error> {
    let progress = Progress::new(Some(at.to_string().into()), at, 0, 0);
    let resumed = rewrite_progress(payload, &progress)?;
    let started = Instant::now();
    let outcome = router.dispatch_blocking(&resumed, &mut Delivery::new().with_item_budget(budget));
    let elapsed = started.elapsed();
    match outcome {
        Outcome::Interrupted(_) => Ok(elapsed),
        other => Err(format!("{other:?}").into()),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let items: u64 = value("--items").map_or(Ok(1_000_000), |v| v.parse())?;
    SPIN.store(
        value("--spin").map_or(Ok(0), |v| v.parse())?,
        Ordering::Relaxed,
    );
    let rounds: usize = value("--rounds").map_or(Ok(7), |v| v.parse())?;
    let total = Arc::new(AtomicU64::new(0));
    let router = Router::builder()
        .iterable::<Trivial>()
        .iterable::<Chunked>()
        .state(Arc::clone(&total))
        .build()?;
    let payload = Producer::default().seal(&Trivial { to: items })?;
    let chunked = Producer::default().seal(&Chunked { to: items })?;
    let keep = Arc::new(Keep::default());

    match value("--only").as_deref() {
        Some("plain") => {
            plain(items, &total);
            return Ok(());
        }
        Some("jobwire") => {
            jobwire(&router, &payload, &keep)?;
            return Ok(());
        }
        Some("chunked") => {
            jobwire(&router, &chunked, &keep)?;
            return Ok(());
        }
        // One run of one item, `--repeat` times, from the start or resumed
        // at item 500,000: under callgrind, the difference divided by the
        // repeats is what reading a checkpoint costs.
        Some(from @ ("fresh" | "resumed")) => {
            let repeat: u64 = value("--repeat").map_or(Ok(1), |v| v.parse())?;
            let bytes = if from == "fresh" {
                payload.clone()
            } else {
                let at = items / 2;
                rewrite_progress(
                    &payload,
                    &Progress::new(Some(at.to_string().into()), at, 0, 0),
                )?
            };
            for _ in 0..repeat {
                let outcome =
                    router.dispatch_blocking(&bytes, &mut Delivery::new().with_item_budget(1));
                if !matches!(outcome, Outcome::Interrupted(_)) {
                    return Err(format!("{outcome:?}").into());
                }
            }
            return Ok(());
        }
        _ => {}
    }

    println!("\n{items} items in batches of {BATCH}, {rounds} rounds (median of each)");
    println!("| an item's own work | plain loop, million items/s | jobwire, million items/s | throughput ratio | jobwire, {CHUNK} ids an item, million ids/s | its ratio |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for spin in [0, 16, 64, 256] {
        SPIN.store(spin, Ordering::Relaxed);
        let (mut plains, mut jobwires, mut chunks) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            if round % 2 == 0 {
                plains.push(plain(items, &total));
                jobwires.push(jobwire(&router, &payload, &keep)?);
                chunks.push(jobwire(&router, &chunked, &keep)?);
            } else {
                chunks.push(jobwire(&router, &chunked, &keep)?);
                jobwires.push(jobwire(&router, &payload, &keep)?);
                plains.push(plain(items, &total));
            }
        }
        let (plain_time, jobwire_time, chunk_time) =
            (median(plains), median(jobwires), median(chunks));
        let rate = |d: Duration| items as f64 / d.as_secs_f64() / 1e6;
        let per_item = plain_time.as_secs_f64() * 1e9 / items as f64;
        println!(
            "| an atomic add{} ({per_item:.1} ns) | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} |",
            if spin == 0 {
                String::new()
            } else {
                format!(" after {spin} rounds of xorshift")
            },
            rate(plain_time),
            rate(jobwire_time),
            plain_time.as_secs_f64() / jobwire_time.as_secs_f64(),
            rate(chunk_time),
            plain_time.as_secs_f64() / chunk_time.as_secs_f64()
        );
    }
    SPIN.store(0, Ordering::Relaxed);
    println!(
        "(checkpoints every millisecond: {} saved over the rounds)",
        keep.saves.load(Ordering::Relaxed)
    );

    let budget = 10_000.min(items / 2);
    let (mut early, mut late) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        early.push(resume(&router, &payload, 0, budget)?);
        late.push(resume(&router, &payload, items - budget - 1, budget)?);
    }
    let (early, late) = (median(early), median(late));
    println!(
        "\nresuming for {budget} items: at item 0 {:.2} ms, at item {} {:.2} ms (ratio {:.2})",
        early.as_secs_f64() * 1e3,
        items - budget - 1,
        late.as_secs_f64() * 1e3,
        late.as_secs_f64() / early.as_secs_f64()
    );
    black_box(total.load(Ordering::Relaxed));
    Ok(())
}
