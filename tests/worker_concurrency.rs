//! `Worker::concurrency(n)` bounds the handlers performing at once to `n`,
//! and a slot frees when its handler returns: the next claim overlaps the
//! settlement of the job before it, and the worker holds at most `2n`
//! claims (those performing and those being settled), on a real SQLite
//! file behind a backend whose settlements are held back on purpose.

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Claim, ClaimRequest, Enqueue, Enqueued, SettleError, Settlement};
use jobwire::context::TaskId;
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

const CONCURRENCY: usize = 3;
const JOBS: u32 = 40;

/// What the handlers saw.
#[derive(Default)]
struct Seen {
    performing: AtomicUsize,
    most_at_once: AtomicUsize,
    performed: Mutex<BTreeMap<u32, u32>>,
}

#[derive(Serialize, Deserialize)]
struct Step {
    id: u32,
}

impl Job for Step {
    const NAME: &'static str = "test.step";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<Seen>;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Arc<Seen>>) -> Result<(), HandlerError> {
        let seen = ctx.state();
        let now = seen.performing.fetch_add(1, Ordering::SeqCst) + 1;
        seen.most_at_once.fetch_max(now, Ordering::SeqCst);
        // Long enough for the other slots to fill.
        tokio::time::sleep(Duration::from_millis(2)).await;
        if let Ok(mut performed) = seen.performed.lock() {
            *performed.entry(self.id).or_default() += 1;
        }
        seen.performing.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// SQLite, with every settlement waiting for a permit, and the claims it
/// holds counted.
#[derive(Clone)]
struct HeldSettles {
    queue: Sqlite,
    permits: Arc<Semaphore>,
    held: Arc<AtomicUsize>,
    most_held: Arc<AtomicUsize>,
}

impl Backend for HeldSettles {
    type Key = <Sqlite as Backend>::Key;
    type Data = ();
    type Error = <Sqlite as Backend>::Error;

    async fn enqueue(&self, job: Enqueue<'_>) -> Result<Enqueued, Self::Error> {
        self.queue.enqueue(job).await
    }

    async fn claim(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<Vec<Claim<Self::Key>>, Self::Error> {
        let claims = self.queue.claim(request).await?;
        let held = self.held.fetch_add(claims.len(), Ordering::SeqCst) + claims.len();
        self.most_held.fetch_max(held, Ordering::SeqCst);
        Ok(claims)
    }

    async fn renew(
        &self,
        claims: &[Self::Key],
        lease: Duration,
    ) -> Result<Vec<Self::Key>, Self::Error> {
        self.queue.renew(claims, lease).await
    }

    fn lend(&self, key: &Self::Key) -> Self::Data {
        self.queue.lend(key)
    }

    async fn settle(
        &self,
        key: &Self::Key,
        data: Self::Data,
        settlement: Settlement<'_>,
    ) -> Result<(), SettleError<Self::Error>> {
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
        }
        let settled = self.queue.settle(key, data, settlement).await;
        self.held.fetch_sub(1, Ordering::SeqCst);
        settled
    }

    async fn checkpoint(
        &self,
        key: &Self::Key,
        payload: &[u8],
        data: &mut Self::Data,
    ) -> Result<(), SettleError<Self::Error>> {
        self.queue.checkpoint(key, payload, data).await
    }

    async fn wait(&self, timeout: Duration) {
        self.queue.wait(timeout).await;
    }

    fn task_id(key: &Self::Key) -> TaskId<'_> {
        Sqlite::task_id(key)
    }
}

/// Lets every held settlement through when dropped, so that a failed
/// assertion ends the test instead of leaving the jobs' threads blocked.
struct Release(Arc<Semaphore>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.add_permits(Semaphore::MAX_PERMITS / 2);
    }
}

async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_stay_within_concurrency_while_settlements_overlap_the_next_claims() {
    let dir = std::env::temp_dir().join(format!("jobwire-concurrency-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let queue = Sqlite::open(dir.join("queue.db")).await.expect("opens");
    let producer = Producer::new(WritePolicy::Current);
    for id in 0..JOBS {
        let payload = producer.seal(&Step { id }).expect("seals");
        queue
            .enqueue(Enqueue::new(&payload))
            .await
            .expect("enqueues");
    }
    let backend = HeldSettles {
        queue,
        permits: Arc::new(Semaphore::new(0)),
        held: Arc::default(),
        most_held: Arc::default(),
    };
    let release = Release(Arc::clone(&backend.permits));
    let seen = Arc::new(Seen::default());
    let router: Router = Router::builder()
        .job::<Step>()
        .state(Arc::clone(&seen))
        .build()
        .expect("builds");
    let stop = jobwire::Cancellation::new();
    let run = tokio::spawn(
        Worker::new(backend.clone(), router)
            .concurrency(CONCURRENCY)
            .poll_interval(Duration::from_millis(20))
            .run(stop.clone().cancelled_owned()),
    );

    // No settlement goes through: the first jobs perform, and their
    // settlements wait; the slots they freed claim as many again, and then
    // the worker holds 2n claims and claims no more.
    let count = || seen.performed.lock().map_or(0, |p| p.values().sum::<u32>());
    assert!(
        until(Duration::from_secs(30), || count() as usize
            == 2 * CONCURRENCY)
        .await,
        "with every settlement held, 2 x {CONCURRENCY} jobs performed: {}",
        count()
    );
    // Time for a claim that should not happen to happen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count() as usize,
        2 * CONCURRENCY,
        "no job beyond 2n performed"
    );
    assert_eq!(
        backend.most_held.load(Ordering::SeqCst),
        2 * CONCURRENCY,
        "the worker held at most 2n claims, and the next claims overlapped the held settlements"
    );

    // Settlements flow: every job performs exactly once, never more than n
    // at once, and the worker never held more than 2n claims.
    drop(release);
    assert!(
        until(Duration::from_secs(60), || count() == JOBS).await,
        "every job performed: {}",
        count()
    );
    assert!(
        until(Duration::from_secs(30), || backend
            .held
            .load(Ordering::SeqCst)
            == 0)
        .await,
        "every claim settled"
    );
    stop.cancel();
    let report = run.await.expect("the worker ends");
    assert_eq!(report.performed, u64::from(JOBS), "{report}");
    let performed = seen.performed.lock().expect("the log").clone();
    assert!(
        performed.len() == JOBS as usize && performed.values().all(|&n| n == 1),
        "each job performed once: {performed:?}"
    );
    let most = seen.most_at_once.load(Ordering::SeqCst);
    assert!(
        (1..=CONCURRENCY).contains(&most),
        "at most {CONCURRENCY} handlers at once, saw {most}"
    );
    assert!(backend.most_held.load(Ordering::SeqCst) <= 2 * CONCURRENCY);
    let _ = std::fs::remove_dir_all(&dir);
}
