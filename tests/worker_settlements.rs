//! The worker maps every outcome to exactly one queue operation, on a real
//! SQLite file: performed jobs are acknowledged, deferrals wait without an
//! attempt and end in the dead-letter store past the deploy window, snoozes
//! wait, retries count, and poison payloads are dead-lettered with their raw
//! bytes while the worker goes on.

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, ClaimRequest, Enqueue, SettleError, Settlement};
use jobwire::worker::{DeferPolicy, RetryPolicy, Worker};
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// What handlers did.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

#[derive(Debug, Serialize, Deserialize)]
struct Work {
    id: u32,
    mode: String,
}

impl Job for Work {
    const NAME: &'static str = "test.work";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Log;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Log>) -> Result<(), HandlerError> {
        let attempt = ctx.attempt();
        if let Ok(mut log) = ctx.state().0.lock() {
            log.push(format!("{} {} attempt {attempt}", self.id, self.mode));
        }
        if self.mode == "until_shutdown" {
            ctx.cancelled().await;
            return Err(HandlerError::snooze(Duration::ZERO));
        }
        match self.mode.as_str() {
            "retry" => Err(HandlerError::retryable("the database is busy")),
            "permanent" => Err(HandlerError::permanent("no such account")),
            "snooze" => Err(HandlerError::snooze(Duration::from_secs(3600))),
            "panic" => panic!("work {} panicked", self.id),
            _ => Ok(()),
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir.join("queue.db")
}

fn router() -> Router {
    Router::builder()
        .job::<Work>()
        .state(Log::default())
        .build()
        .expect("builds")
}

async fn enqueue(queue: &Sqlite, payload: &[u8]) -> i64 {
    queue
        .enqueue(Enqueue::new(payload))
        .await
        .expect("enqueues")
        .id
}

fn work(id: u32, mode: &str) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Work {
            id,
            mode: mode.into(),
        })
        .expect("seals")
}

/// Runs a worker until the queue has nothing runnable, then stops it.
async fn drain(worker: Worker<Sqlite>) -> jobwire::worker::Report {
    run_until(
        worker,
        "SELECT count(*) FROM jobwire_jobs WHERE state = 'running' OR run_at <= ?1",
    )
    .await
}

/// Runs a worker until the queue is empty, then stops it.
async fn empty(worker: Worker<Sqlite>) -> jobwire::worker::Report {
    run_until(worker, "SELECT count(*) + 0 * ?1 FROM jobwire_jobs").await
}

/// Runs a worker until `query` counts nothing, then stops it.
async fn run_until(worker: Worker<Sqlite>, query: &'static str) -> jobwire::worker::Report {
    let stop = jobwire::Cancellation::new();
    let stopper = stop.clone();
    let queue = worker.backend().clone();
    let watcher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let runnable: i64 = sqlx::query_scalar(query)
                .bind(jobwire_now())
                .fetch_one(queue.pool())
                .await
                .unwrap_or(1);
            if runnable == 0 {
                stopper.cancel();
                return;
            }
        }
    });
    let report = worker
        .poll_interval(Duration::from_millis(20))
        .run(stop.cancelled_owned())
        .await;
    let _ = watcher.await;
    report
}

fn jobwire_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

struct Row_ {
    attempt: i64,
    defers: i64,
    wait: String,
    run_at: i64,
}

async fn row(queue: &Sqlite, id: i64) -> Option<Row_> {
    sqlx::query("SELECT attempt, defers, wait, run_at FROM jobwire_jobs WHERE id = ?1")
        .bind(id)
        .fetch_optional(queue.pool())
        .await
        .expect("reads")
        .map(|row| Row_ {
            attempt: row.get("attempt"),
            defers: row.get("defers"),
            wait: row.get("wait"),
            run_at: row.get("run_at"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_becomes_its_one_settlement() {
    let queue = Sqlite::open(scratch("settlements")).await.expect("opens");
    let done = enqueue(&queue, &work(1, "ok")).await;
    let retried = enqueue(&queue, &work(2, "retry")).await;
    let permanent = enqueue(&queue, &work(3, "permanent")).await;
    let snoozed = enqueue(&queue, &work(4, "snooze")).await;
    let panicked = enqueue(&queue, &work(5, "panic")).await;
    let newer = enqueue(
        &queue,
        br#"{"job":"test.work","version":"2.0.0","args":{"id":6,"mode":"ok"}}"#,
    )
    .await;
    let poison: &[u8] =
        b"{\"job\":\"test.work\",\"version\":\"1.0.0\",\"args\":{\"id\":\"seven\"}}\xff";
    let garbage = enqueue(&queue, poison).await;
    let after_garbage = enqueue(&queue, &work(8, "ok")).await;

    let router = router();
    let worker = Worker::new(queue.clone(), router)
        .retries(
            RetryPolicy::default().with_delays(Duration::from_secs(60), Duration::from_secs(60)),
        )
        .deferral(
            DeferPolicy::default().with_delays(Duration::from_secs(60), Duration::from_secs(60)),
        );
    let report = drain(worker).await;

    // Acknowledged: gone.
    assert!(row(&queue, done).await.is_none());
    assert!(
        row(&queue, after_garbage).await.is_none(),
        "the worker went on"
    );
    // Retried: one attempt counted, waiting.
    let r = row(&queue, retried).await.expect("still queued");
    assert_eq!((r.attempt, r.defers, r.wait.as_str()), (1, 0, "retrying"));
    assert!(r.run_at > jobwire_now() + 40_000);
    // Snoozed: no attempt counted, no defer (a snooze is not a deferral), waiting an hour.
    let s = row(&queue, snoozed).await.expect("still queued");
    assert_eq!((s.attempt, s.defers, s.wait.as_str()), (0, 0, "snoozed"));
    assert!(s.run_at > jobwire_now() + 3_000_000);
    // Deferred (a newer major): no attempt, one defer.
    let d = row(&queue, newer).await.expect("still queued");
    assert_eq!((d.attempt, d.defers, d.wait.as_str()), (0, 1, "deferred"));
    // Dead-lettered, with the raw bytes and the reason.
    assert!(row(&queue, permanent).await.is_none());
    assert!(row(&queue, panicked).await.is_none());
    assert!(row(&queue, garbage).await.is_none());
    let dead = queue.dead_letters().await.expect("reads");
    let reason = |id: i64| {
        dead.iter()
            .find(|d| d.job_id == id)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason(permanent).contains("no such account"), "{dead:?}");
    assert!(
        reason(panicked).contains("panicked") && reason(panicked).contains("work 5"),
        "{dead:?}"
    );
    assert!(reason(garbage).contains("not UTF-8"), "{dead:?}");
    let kept = dead.iter().find(|d| d.job_id == garbage).expect("kept");
    assert_eq!(kept.payload, poison, "the raw bytes, untouched");
    assert_eq!(
        (
            report.performed,
            report.retried,
            report.snoozed,
            report.deferred,
            report.dead_lettered
        ),
        (2, 1, 1, 1, 3),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_no_release_reads_is_dead_lettered_once_past_the_deploy_window() {
    let queue = Sqlite::open(scratch("window")).await.expect("opens");
    let newer = br#"{"job":"test.work","version":"3.0.0","args":{"id":9,"mode":"ok"}}"#;
    let unknown = br#"{"job":"billing.refund","version":"1.0.0","args":{}}"#;
    let (newer_id, unknown_id) = (enqueue(&queue, newer).await, enqueue(&queue, unknown).await);
    let policy = DeferPolicy::default()
        .with_window(Duration::from_millis(600))
        .with_delays(Duration::from_millis(100), Duration::from_millis(100));
    let report = empty(Worker::new(queue.clone(), router()).deferral(policy)).await;
    assert!(report.deferred >= 2, "deferred while young: {report}");
    assert_eq!(report.dead_lettered, 2, "{report}");
    let dead = queue.dead_letters().await.expect("reads");
    let newer_dead = dead.iter().find(|d| d.job_id == newer_id).expect("dead");
    assert_eq!(newer_dead.payload, newer);
    assert!(
        newer_dead.reason.contains("job `test.work` 3.0.0 waited")
            && newer_dead.reason.contains("longer than the deploy window")
            && newer_dead
                .reason
                .contains("Requeue it once a release that reads 3.0.0 runs"),
        "{}",
        newer_dead.reason
    );
    let unknown_dead = dead.iter().find(|d| d.job_id == unknown_id).expect("dead");
    assert!(
        unknown_dead
            .reason
            .contains("no release that ran in the window registers `billing.refund`"),
        "{}",
        unknown_dead.reason
    );
    // Requeued once a release reads it, it runs.
    assert!(queue.requeue_dead(newer_dead.id).await.expect("requeues"));
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
        .fetch_one(queue.pool())
        .await
        .expect("reads");
    assert_eq!(waiting, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_newer_job_is_never_dead_lettered_inside_the_window() {
    let queue = Sqlite::open(scratch("inside")).await.expect("opens");
    let newer = br#"{"job":"test.work","version":"3.0.0","args":{"id":9,"mode":"ok"}}"#;
    let id = enqueue(&queue, newer).await;
    // Release N defers it for a while...
    let stop = jobwire::Cancellation::new();
    let policy =
        DeferPolicy::default().with_delays(Duration::from_millis(30), Duration::from_millis(60));
    let worker = Worker::new(queue.clone(), router())
        .deferral(policy)
        .poll_interval(Duration::from_millis(10));
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        stopper.cancel();
    });
    let report = worker.run(stop.cancelled_owned()).await;
    assert!(report.deferred >= 5, "N looked again and again: {report}");
    assert_eq!(report.dead_lettered, 0);
    let r = row(&queue, id).await.expect("still queued");
    assert_eq!(r.attempt, 0, "deferral never counts an attempt");
    assert_eq!(r.defers, i64::try_from(report.deferred).unwrap_or(-1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_dead_lettered_after_the_last_attempt() {
    let queue = Sqlite::open(scratch("attempts")).await.expect("opens");
    let id = enqueue(&queue, &work(1, "retry")).await;
    let policy = RetryPolicy::default()
        .with_max_attempts(3)
        .with_delays(Duration::from_millis(10), Duration::from_millis(10));
    let router = router();
    let report = drain(Worker::new(queue.clone(), router).retries(policy)).await;
    assert_eq!((report.retried, report.dead_lettered), (2, 1), "{report}");
    let dead = queue.dead_letters().await.expect("reads");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job_id, id);
    assert!(dead[0]
        .reason
        .contains("gave up after 3 attempts: the database is busy"));
}

#[tokio::test]
async fn a_stale_claims_settlement_is_refused_by_the_fence() {
    let queue = Sqlite::open(scratch("fence")).await.expect("opens");
    let id = enqueue(&queue, &work(1, "ok")).await;
    let lease = Duration::from_millis(100);
    let stale = queue
        .claim(&ClaimRequest::new(&["default"], 1, lease, "a"))
        .await
        .expect("claims");
    assert_eq!(stale.len(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The lease ran out: another worker claims it, which counts an attempt.
    let fresh = queue
        .claim(&ClaimRequest::new(&["default"], 1, lease * 100, "b"))
        .await
        .expect("claims");
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].key.id, id);
    assert_eq!(fresh[0].attempt, 1);
    // The stale worker's late acknowledgement, reschedule and checkpoint
    // change nothing.
    for settlement in [
        Settlement::Ack,
        Settlement::DeadLetter {
            reason: "late",
            payload: None,
        },
    ] {
        assert!(matches!(
            queue.settle(&stale[0].key, (), settlement).await,
            Err(SettleError::Fenced)
        ));
    }
    assert!(matches!(
        queue.checkpoint(&stale[0].key, b"{}", &mut ()).await,
        Err(SettleError::Fenced)
    ));
    assert!(row(&queue, id).await.is_some(), "still there");
    // The live claim settles.
    queue
        .settle(&fresh[0].key, (), Settlement::Ack)
        .await
        .expect("settles");
    assert!(row(&queue, id).await.is_none());
    assert!(queue.dead_letters().await.expect("reads").is_empty());
}

/// A handler that stops when the worker shuts down asks to come back with
/// `snooze(ZERO)`: it is put back as released at shutdown, and the report
/// says so, not "snoozed".
#[tokio::test]
async fn a_job_stopped_by_the_shutdown_is_released_not_snoozed() {
    let path = scratch("released-at-shutdown");
    let queue = Sqlite::open(&path).await.expect("opens");
    let id = enqueue(&queue, &work(1, "until_shutdown")).await;
    let stop = jobwire::Cancellation::new();
    let stopper = stop.clone();
    let watched = queue.clone();
    tokio::spawn(async move {
        // Once the job runs, shut the worker down.
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let running: i64 =
                sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs WHERE state = 'running'")
                    .fetch_one(watched.pool())
                    .await
                    .unwrap_or(0);
            if running == 1 {
                stopper.cancel();
                return;
            }
        }
    });
    let report = Worker::new(queue.clone(), router())
        .poll_interval(Duration::from_millis(20))
        .shutdown_budget(Duration::from_secs(10))
        .run(stop.cancelled_owned())
        .await;
    assert_eq!((report.released, report.snoozed), (1, 0), "{report}");
    let row = row(&queue, id).await.expect("put back");
    assert_eq!((row.attempt, row.wait.as_str()), (0, "released"));
}
