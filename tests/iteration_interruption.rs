//! Interruption is an outcome, never a failure: the worker puts the job back
//! with its progress and without counting an attempt, `completed` runs once
//! at the real end (Sidekiq #6383, #6941 and #6889 are the opposite), the
//! worker's shutdown stops a job at its next item with its progress saved,
//! and checkpoints are saved while it runs.

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::iteration::{iterate, Iterate};
use jobwire::wire::Header;
use jobwire::worker::{Report, Worker};
use jobwire::{
    Action, Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Producer, Router,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Counts {
    items: Mutex<Vec<u64>>,
    completed: AtomicU64,
}

/// Items 1..=`to`, each taking `ms`; a run stops after `max_run_ms`.
macro_rules! counter {
    ($name:ident, $job:expr, max_run = $max:expr, checkpoint = $every:expr) => {
        #[derive(Debug, Serialize, Deserialize)]
        struct $name {
            to: u64,
            ms: u64,
        }

        impl Job for $name {
            const NAME: &'static str = $job;
            const VERSION: Version = Version::new(1, 0, 0);
            type Previous = NoPrevious;
            type State = Arc<Counts>;
            type Data = ();
            async fn perform(self, ctx: &mut Context<'_, Arc<Counts>>) -> Result<(), HandlerError> {
                iterate(self, ctx).await
            }
        }

        impl Iterate for $name {
            type Cursor = u64;
            type Item = u64;
            const MAX_RUN_TIME: Option<Duration> = $max;
            const CHECKPOINT_EVERY: Duration = $every;
            async fn next_items(
                &self,
                after: Option<&u64>,
                _: &mut Context<'_, Arc<Counts>>,
            ) -> Result<Vec<(u64, u64)>, HandlerError> {
                let from = after.map_or(1, |n| n + 1);
                Ok((from..=self.to).take(5).map(|n| (n, n)).collect())
            }
            async fn each(
                &self,
                n: u64,
                ctx: &mut Context<'_, Arc<Counts>>,
            ) -> Result<(), HandlerError> {
                if self.ms > 0 {
                    tokio::time::sleep(Duration::from_millis(self.ms)).await;
                }
                ctx.state()
                    .items
                    .lock()
                    .map_err(|_| HandlerError::permanent("poisoned"))?
                    .push(n);
                Ok(())
            }
            async fn completed(
                &self,
                ctx: &mut Context<'_, Arc<Counts>>,
            ) -> Result<(), HandlerError> {
                ctx.state().completed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    };
}

counter!(
    EveryItem,
    "test.every_item",
    max_run = Some(Duration::ZERO),
    checkpoint = Duration::from_secs(5)
);
counter!(
    Slow,
    "test.slow",
    max_run = None,
    checkpoint = Duration::ZERO
);

async fn queue(name: &str) -> Sqlite {
    let dir = std::env::temp_dir().join(format!("jobwire-iter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    Sqlite::open(dir.join("queue.db")).await.expect("opens")
}

async fn waiting(queue: &Sqlite) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
        .fetch_one(queue.pool())
        .await
        .unwrap_or(-1)
}

/// Runs `worker` until the queue is empty.
async fn until_empty(worker: Worker<Sqlite>) -> Report {
    let queue = worker.backend().clone();
    let stop = jobwire::Cancellation::new();
    let stopper = stop.clone();
    let watcher = tokio::spawn(async move {
        while waiting(&queue).await != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stopper.cancel();
    });
    let report = tokio::time::timeout(Duration::from_secs(60), worker.run(stop.cancelled_owned()))
        .await
        .expect("finishes");
    let _ = watcher.await;
    report
}

#[test]
fn an_interruption_is_its_own_outcome_and_counts_no_attempt() {
    let counts = Arc::new(Counts::default());
    let router = Router::builder()
        .iterable::<EveryItem>()
        .state(Arc::clone(&counts))
        .build()
        .expect("builds");
    let payload = Producer::default()
        .seal(&EveryItem { to: 3, ms: 0 })
        .expect("seals");
    let outcome = router.dispatch_blocking(&payload, &mut Delivery::new());
    let Outcome::Interrupted(stopped) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(stopped.reason, "max run time");
    assert_eq!(outcome.action(), Action::Defer, "re-enqueued, not retried");
    assert!(!outcome.is_performed());
    assert_eq!(
        counts.completed.load(Ordering::SeqCst),
        0,
        "not at an interruption"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_resumes_an_interrupted_job_without_an_attempt_and_completes_it_once() {
    let queue = queue("resume").await;
    let counts = Arc::new(Counts::default());
    let payload = Producer::default()
        .seal(&EveryItem { to: 6, ms: 0 })
        .expect("seals");
    queue
        .enqueue(Enqueue::new(&payload))
        .await
        .expect("enqueues");
    let router = Router::builder()
        .iterable::<EveryItem>()
        .state(Arc::clone(&counts))
        .build()
        .expect("builds");
    let worker = Worker::new(queue.clone(), router)
        .resume_delay(Duration::from_millis(5))
        .poll_interval(Duration::from_millis(5));
    let report = until_empty(worker).await;
    // The run time is read between batches (and every 64 items): two runs
    // stop after a batch each (5 items, then 1), and the third finds nothing
    // left and completes. No run is a failure.
    assert_eq!(
        (report.interrupted, report.performed, report.retried),
        (2, 1, 0),
        "{report}"
    );
    assert_eq!(
        counts.completed.load(Ordering::SeqCst),
        1,
        "once, at the real end"
    );
    let items = counts.items.lock().map(|i| i.clone()).unwrap_or_default();
    assert_eq!(items, [1, 2, 3, 4, 5, 6]);
    assert!(queue.dead_letters().await.expect("reads").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_job_at_its_next_item_with_its_progress_saved() {
    let queue = queue("shutdown").await;
    let counts = Arc::new(Counts::default());
    let payload = Producer::default()
        .seal(&Slow { to: 1_000, ms: 20 })
        .expect("seals");
    let id = queue
        .enqueue(Enqueue::new(&payload))
        .await
        .expect("enqueues")
        .id;
    let router = Router::builder()
        .iterable::<Slow>()
        .state(Arc::clone(&counts))
        .build()
        .expect("builds");
    let stop = jobwire::Cancellation::new();
    let run = tokio::spawn(
        Worker::new(queue.clone(), router)
            .poll_interval(Duration::from_millis(5))
            .run(stop.clone().cancelled_owned()),
    );
    // Checkpoints after every item: the stored payload shows progress while
    // the job runs.
    let mut seen_while_running = 0;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let payload: Vec<u8> = sqlx::query_scalar("SELECT payload FROM jobwire_jobs WHERE id = ?1")
            .bind(id)
            .fetch_one(queue.pool())
            .await
            .expect("reads");
        seen_while_running = Header::read(&payload)
            .ok()
            .and_then(|h| h.progress().map(|p| p.items()))
            .unwrap_or(0);
        if seen_while_running >= 5 {
            break;
        }
    }
    assert!(seen_while_running >= 5, "checkpointed while running");
    stop.cancel();
    let report = run.await.expect("runs");
    assert_eq!((report.interrupted, report.released), (1, 0), "{report}");
    let (payload, attempt, wait): (Vec<u8>, i64, String) =
        sqlx::query_as("SELECT payload, attempt, wait FROM jobwire_jobs WHERE id = ?1")
            .bind(id)
            .fetch_one(queue.pool())
            .await
            .expect("still queued");
    assert_eq!((attempt, wait.as_str()), (0, "interrupted"));
    let header = Header::read(&payload).expect("reads");
    let progress = header.progress().expect("progress");
    let done = counts.items.lock().map(|i| i.len()).unwrap_or(0) as u64;
    assert_eq!(progress.items(), done, "every item done is in the progress");
    assert_eq!(progress.cursor_json(), done.to_string());
    assert_eq!(progress.interruptions(), 1);
}
