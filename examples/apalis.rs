//! jobwire's router inside an apalis worker, on apalis's own Redis queue:
//! teams on apalis adopt jobwire without switching queues.
//!
//! ```text
//! cargo run --example apalis [-- redis://127.0.0.1:6379]   (default: REDIS_URL, then that)
//! ```
//!
//! The apalis task is the envelope's text, handed to jobwire untouched, and
//! `perform` maps each outcome to apalis the way that holds up:
//!
//! - **Performed, discarded**: `Ok`, and apalis acknowledges.
//! - **Deferred** (a payload only a newer release reads): apalis's own
//!   defer and retry-after primitives left deferred jobs stuck, and releasing
//!   the row by hand raced its bookkeeping. What works: *push a copy*,
//!   scheduled after jobwire's backoff with `meta.defers` bumped, *then
//!   acknowledge the original*. Past the deploy window (counted from
//!   `meta.enqueued_at`), the payload is dead-lettered instead of deferred
//!   for ever.
//! - **Snoozed**: the same, after the handler's delay.
//! - **Failed, retryable**: `Err`, so apalis's retry layer counts an attempt.
//! - **Rejected, failed permanently, or past the window**: the original
//!   bytes and the reason go to a dead-letter queue (another apalis queue),
//!   then `Ok`: nothing is lost, nothing loops.
//!
//! The story: release N's worker runs while release N+1's producer enqueues
//! (a breaking `billing.charge` 2.0 and the new `user.export`, which N
//! defers); then N+1's worker replaces it and performs what N deferred.
//! Every cent must arrive, and every job be performed once.

mod releases;

use apalis::prelude::*;
use apalis_redis::{Config as RedisConfig, RedisStorage};
use jobwire::worker::DeferPolicy;
use jobwire::{Delivery, Outcome, Router, WritePolicy};
use releases::{Books, Dice, Release};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Queue = RedisStorage<String>;

/// The worker's name: its *slot*, kept by the release that replaces it (a
/// StatefulSet's pod name, a systemd unit's instance), not the release's.
/// A stopped apalis worker keeps the tasks it had fetched but not started;
/// apalis-redis gives them back when a worker *of the same name* registers
/// (once the old one's heartbeat has lapsed). Its other path, another
/// worker's heartbeat reaping the tasks of a worker whose heartbeats
/// stopped, waits 10 × 30 s by default: with release-named workers and the
/// defaults, 10 of 200 tasks were still stranded a minute later in our runs.
const SLOT: &str = "jobs-worker-0";

/// What the adapter did, besides performing.
#[derive(Default)]
struct Tally {
    deferred: AtomicU64,
    dead: AtomicU64,
}

/// The adapter's state: the router, the queue (to push deferred copies),
/// the dead-letter queue, and the deferral policy.
#[derive(Clone)]
struct Jobwire {
    router: Arc<Router>,
    queue: Queue,
    dead: Queue,
    defer: DeferPolicy,
    tally: Arc<Tally>,
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
            let meta = outcome.meta().map(|m| (m.defers(), m.enqueued_at()));
            let (defers, enqueued_at) = meta.unwrap_or((0, None));
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
            // is acknowledged by returning `Ok`. A crash between the two
            // performs the job twice at worst, never loses it.
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
            jw.tally.deferred.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        other => dead_letter(&jw, &envelope, &format!("{other:?}")).await,
    }
}

/// The original bytes and the reason, to the dead-letter queue.
async fn dead_letter(jw: &Jobwire, envelope: &str, reason: &str) -> Result<(), BoxDynError> {
    let letter = serde_json::json!({ "reason": reason, "payload": envelope }).to_string();
    let mut dead = jw.dead.clone();
    dead.push(letter).await.map_err(|e| e.to_string())?;
    jw.tally.dead.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Runs one release's apalis worker until `stop` resolves.
async fn run_worker(
    name: &str,
    jw: Jobwire,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), String> {
    let worker = WorkerBuilder::new(name)
        .backend(jw.queue.clone())
        .data(jw)
        .build(perform);
    worker
        .run_until(async move { stop.await.map_err(|e| std::io::Error::other(e.to_string())) })
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let conn = apalis_redis::connect(url.as_str()).await?;
    let mut admin = conn.clone();
    // Queues of this run's own, so runs never see each other's jobs.
    let run = format!("jobwire-apalis-{}", std::process::id());
    let result = story(conn, &run).await;
    // Remove this run's queues, whatever happened: the example stops what
    // it starts.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{run}*"))
        .query_async(&mut admin)
        .await?;
    if !keys.is_empty() && std::env::var_os("JOBWIRE_APALIS_KEEP").is_none() {
        let () = redis::cmd("DEL").arg(&keys).query_async(&mut admin).await?;
    }
    result
}

async fn story(
    conn: apalis_redis::ConnectionManager,
    run: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    // apalis-redis fetches tasks in batches, and a stopped worker keeps what
    // it fetched but did not start until a worker of its name registers
    // again, which apalis refuses while the old one's heartbeat is recent:
    // small batches, and a heartbeat short enough for a deploy to wait out.
    let config = RedisConfig::default()
        .queue(run)
        .batch_size(5)
        .heartbeat_interval(Duration::from_millis(500))
        .missed_heartbeats(4);
    let orphaned_after = config.orphaned_duration();
    let queue: Queue = RedisStorage::new(conn.clone()).with_config(config);
    let dead: Queue =
        RedisStorage::new(conn).with_config(RedisConfig::default().queue(format!("{run}-dead")));
    let defer =
        DeferPolicy::default().with_delays(Duration::from_millis(200), Duration::from_secs(1));
    let tally = Arc::new(Tally::default());

    // Release N works; N and N+1 producers enqueue side by side.
    let books_n = Books::default();
    let router_n = Arc::new(releases::router_n(books_n)?);
    let jw_n = Jobwire {
        router: Arc::clone(&router_n),
        queue: queue.clone(),
        dead: dead.clone(),
        defer,
        tally: Arc::clone(&tally),
    };
    let (stop_n, stopped_n) = tokio::sync::oneshot::channel();
    let worker_n = tokio::spawn(async move { run_worker(SLOT, jw_n, stopped_n).await });

    let mut dice = Dice(0x5eed);
    let (mut enqueued, mut cents) = (0u64, 0u64);
    let mut producer_queue = queue.clone();
    for i in 0..200 {
        let release = if i % 2 == 0 { Release::N } else { Release::N1 };
        // N+1 writes its current format: N defers what it cannot read.
        let (payload, charged) = releases::produce(release, WritePolicy::Current, &mut dice)?;
        producer_queue.push(String::from_utf8(payload)?).await?;
        enqueued += 1;
        cents += charged;
    }
    // And one payload no release can read: dead-lettered with its bytes.
    producer_queue
        .push("{\"job\": \"user.confirmation\", truncated".to_owned())
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_n.send(());
    worker_n.await??;
    let done_n = performed(&router_n);
    println!(
        "release N's worker: {done_n} performed, {} deferred copies pushed",
        tally.deferred.load(Ordering::Relaxed)
    );

    // Release N+1 takes the slot once N's heartbeat has lapsed, and
    // performs what N deferred (and what N had fetched but not started).
    tokio::time::sleep(orphaned_after + Duration::from_secs(1)).await;
    let router_n1 = Arc::new(releases::router_n1(Books::default())?);
    let jw_n1 = Jobwire {
        router: Arc::clone(&router_n1),
        queue: queue.clone(),
        dead,
        defer,
        tally: Arc::clone(&tally),
    };
    let (stop_n1, stopped_n1) = tokio::sync::oneshot::channel();
    let worker_n1 = tokio::spawn(async move { run_worker(SLOT, jw_n1, stopped_n1).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while done_n + performed(&router_n1) < enqueued && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_n1.send(());
    worker_n1.await??;

    let done = done_n + performed(&router_n1);
    let arrived = charged(&router_n) + charged(&router_n1);
    let dead = tally.dead.load(Ordering::Relaxed);
    println!("release N+1's worker: {} performed", performed(&router_n1));
    println!(
        "enqueued {enqueued}, performed {done}, dead-lettered {dead}, cents {arrived} of {cents}"
    );
    if done != enqueued || dead != 1 || arrived != cents {
        return Err("the deploy lost or repeated jobs".into());
    }
    println!("the deploy was safe on apalis: every job performed once, every cent arrived, the poison payload dead-lettered");
    Ok(())
}

fn books(router: &Router) -> Option<&Books> {
    router.state::<Books>()
}

fn performed(router: &Router) -> u64 {
    books(router).map_or(0, |b| {
        b.confirmations.load(Ordering::Relaxed)
            + b.reports.load(Ordering::Relaxed)
            + b.faxes.load(Ordering::Relaxed)
            + b.exports.load(Ordering::Relaxed)
            + b.charges.load(Ordering::Relaxed)
    })
}

fn charged(router: &Router) -> u64 {
    books(router).map_or(0, |b| b.charged_cents.load(Ordering::Relaxed))
}
