//! Drain: a live SQLite queue reports what waits per (job, version) in
//! every place a payload can wait (ready, scheduled, deferred, retrying,
//! iteration progress, dead-lettered), and `jobwire drain` answers "can this
//! upcaster, alias or job go?" from the queue and the window's manifests,
//! with an exit code a CI step can use.

#[path = "support/settle.rs"]
mod settle;
#[cfg(feature = "postgres")]
mod support;

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement, Wait};
use jobwire::check::Manifest;
use jobwire::drain::{answer, Place, Question, Waiting};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

fn envelope(job: &str, version: &str) -> Vec<u8> {
    format!(r#"{{"job":"{job}","version":"{version}","args":{{}}}}"#).into_bytes()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-drain-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// Enqueues one payload, claims it and settles it as `settlement`.
async fn settled<B: Backend>(queue: &B, job: &str, version: &str, settlement: Settlement<'_>) {
    settle::settled(queue, &envelope(job, version), settlement).await;
}

/// A queue with payloads in every place.
async fn a_busy_queue(path: &Path) -> Sqlite {
    let queue = Sqlite::open(path).await.expect("opens");
    fill(&queue).await;
    queue
}

async fn fill<B: Backend>(queue: &B) {
    let later = SystemTime::now() + Duration::from_secs(3_600);
    settled(
        queue,
        "user.welcome_fax",
        "1.0.0",
        Settlement::DeadLetter {
            reason: "no release knows it",
            payload: None,
        },
    )
    .await;
    settled(
        queue,
        "user.confirmation",
        "1.2.0",
        Settlement::Retry {
            at: later,
            error: "smtp down",
            payload: None,
        },
    )
    .await;
    settled(
        queue,
        "accounts.backfill",
        "1.0.0",
        Settlement::Reschedule {
            at: later,
            payload: None,
            wait: Wait::Interrupted,
        },
    )
    .await;
    settled(
        queue,
        "billing.settle",
        "3.0.0",
        Settlement::Reschedule {
            at: later,
            payload: None,
            wait: Wait::Deferred,
        },
    )
    .await;
    for version in ["1.4.0", "1.4.1", "2.0.0"] {
        queue
            .enqueue(Enqueue::new(&envelope("user.confirmation", version)))
            .await
            .expect("enqueues");
    }
    queue
        .enqueue(Enqueue::new(&envelope("report.generate", "1.0.0")).at(later))
        .await
        .expect("enqueues");
}

fn count(waiting: &[Waiting], job: &str, major: u64, place: Place) -> u64 {
    waiting
        .iter()
        .filter(|w| {
            w.job.as_deref() == Some(job)
                && w.version.as_ref().is_some_and(|v| v.major == major)
                && w.place == place
        })
        .map(|w| w.count)
        .sum()
}

#[tokio::test]
async fn every_place_a_payload_waits_is_counted_per_job_and_version() {
    let dir = scratch("places");
    let queue = a_busy_queue(&dir.join("queue.db")).await;
    every_place_is_counted(&queue.waiting().await.expect("reads"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn every_place_a_payload_waits_is_counted_on_postgres_too() {
    let schema = support::postgres::Schema::fresh("drain").await;
    let queue = schema.queue().await;
    fill(&queue).await;
    every_place_is_counted(&queue.waiting().await.expect("reads"));
    drop(queue);
    schema.remove().await;
}

fn every_place_is_counted(waiting: &[Waiting]) {
    assert_eq!(count(waiting, "user.confirmation", 1, Place::Ready), 2);
    assert_eq!(count(waiting, "user.confirmation", 2, Place::Ready), 1);
    assert_eq!(count(waiting, "user.confirmation", 1, Place::Retrying), 1);
    assert_eq!(count(waiting, "report.generate", 1, Place::Scheduled), 1);
    assert_eq!(
        count(waiting, "accounts.backfill", 1, Place::Interrupted),
        1
    );
    assert_eq!(count(waiting, "billing.settle", 3, Place::Deferred), 1);
    assert_eq!(
        count(waiting, "user.welcome_fax", 1, Place::DeadLettered),
        1
    );
    assert!(waiting.iter().all(|w| w.oldest_enqueued_at.is_some()));
    assert_eq!(waiting.iter().map(|w| w.count).sum::<u64>(), 8);
}

/// A queue's `waiting()`, for tests written once for both queues.
trait Listed: Backend {
    fn listed(&self) -> impl std::future::Future<Output = Vec<Waiting>>;
}

impl Listed for Sqlite {
    async fn listed(&self) -> Vec<Waiting> {
        self.waiting().await.expect("reads")
    }
}

#[cfg(feature = "postgres")]
impl Listed for jobwire::backend::postgres::Postgres {
    async fn listed(&self) -> Vec<Waiting> {
        self.waiting().await.expect("reads")
    }
}

/// An iterable job enqueued at 1.0.0 and resealed at 2.0.0 by a release
/// that resumed it, once at a checkpoint mid-run and once when it stopped:
/// the queue reports it where it stands, at 2.0.0. And places a queue keeps
/// apart (a deferral due now and one due later) are one row.
async fn resealed<B: Listed>(queue: &B) {
    let later = SystemTime::now() + Duration::from_secs(3_600);
    let earlier = SystemTime::now() - Duration::from_secs(1);
    queue
        .enqueue(Enqueue::new(&envelope("accounts.backfill", "1.0.0")))
        .await
        .expect("enqueues");
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            1,
            Duration::from_secs(30),
            "test",
        ))
        .await
        .expect("claims");
    let key = &claims[0].key;
    let mut data = queue.lend(key);
    let checkpoint = envelope("accounts.backfill", "2.0.0");
    queue
        .checkpoint(key, &checkpoint, &mut data)
        .await
        .expect("checkpoints");
    let mid_run = queue.listed().await;
    assert_eq!(
        count(&mid_run, "accounts.backfill", 2, Place::Running),
        1,
        "{mid_run:?}"
    );
    assert_eq!(
        count(&mid_run, "accounts.backfill", 1, Place::Running),
        0,
        "{mid_run:?}"
    );
    let stopped = envelope("accounts.backfill", "2.0.1");
    queue
        .settle(
            key,
            data,
            Settlement::Reschedule {
                at: later,
                payload: Some(&stopped),
                wait: Wait::Interrupted,
            },
        )
        .await
        .expect("settles");
    for at in [later, earlier] {
        settled(
            queue,
            "billing.settle",
            "3.0.0",
            Settlement::Reschedule {
                at,
                payload: None,
                wait: Wait::Deferred,
            },
        )
        .await;
    }
    let waiting = queue.listed().await;
    let backfill: Vec<&Waiting> = waiting
        .iter()
        .filter(|w| w.job.as_deref() == Some("accounts.backfill"))
        .collect();
    assert_eq!(backfill.len(), 1, "{waiting:?}");
    assert_eq!(
        (
            backfill[0]
                .version
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            backfill[0].place
        ),
        (Some("2.0.1"), Place::Interrupted)
    );
    let settle: Vec<&Waiting> = waiting
        .iter()
        .filter(|w| w.job.as_deref() == Some("billing.settle"))
        .collect();
    assert_eq!(
        settle.len(),
        1,
        "one row per (job, version, place): {waiting:?}"
    );
    assert_eq!((settle[0].place, settle[0].count), (Place::Deferred, 2));
}

#[tokio::test]
async fn a_resealed_payload_is_counted_at_the_version_it_now_carries() {
    let dir = scratch("resealed");
    let queue = Sqlite::open(&dir.join("queue.db")).await.expect("opens");
    resealed(&queue).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_resealed_payload_is_counted_at_the_version_it_now_carries_on_postgres_too() {
    let schema = support::postgres::Schema::fresh("drain_resealed").await;
    let queue = schema.queue().await;
    resealed(&queue).await;
    drop(queue);
    schema.remove().await;
}

#[tokio::test]
async fn each_removal_is_refused_while_anything_waits_for_it() {
    let dir = scratch("answers");
    let queue = a_busy_queue(&dir.join("queue.db")).await;
    let waiting = queue.waiting().await.expect("reads");
    let ask = |q: &str| answer(&q.parse::<Question>().expect("a question"), &waiting, &[]);

    let upcaster = ask("upcaster user.confirmation 1.x");
    assert!(!upcaster.safe);
    let text = upcaster.to_string();
    assert!(
        text.contains("2 ready `user.confirmation` 1.x payloads"),
        "{text}"
    );
    assert!(text.contains("1 retrying"), "{text}");
    assert!(ask("upcaster user.confirmation 0.9.x").safe);

    assert!(
        !ask("alias report.generate").safe,
        "a scheduled job still carries the old name"
    );
    assert!(
        !ask("retire user.welcome_fax").safe,
        "a dead letter may be requeued"
    );
    assert!(
        !ask("upcaster accounts.backfill 1.x").safe,
        "a stored cursor is a payload too"
    );
    assert!(ask("retire user.never_enqueued").safe);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_release_in_the_window_that_still_writes_a_line_keeps_its_upcaster() {
    // N+1 writes 1.x under the "previous" policy and the alias; N+2 does not.
    let writes_old = Manifest::from_json(
        r#"{"format": 1, "release": "N+1", "jobs": {"user.confirmation": {"aliases": ["user.confirm"],
        "reads": ["2.x", "1.x"], "status": "active", "version": "2.0.0",
        "writes": {"current": {"name": "user.confirmation", "version": "2.0.0"},
                   "previous": {"name": "user.confirm", "version": "1.4.0"}}}}, "tombstones": {}}"#,
    )
    .expect("a manifest");
    let ask =
        |q: &str, window: &[Manifest]| answer(&q.parse::<Question>().expect("q"), &[], window);
    let no = ask(
        "upcaster user.confirmation 1.x",
        std::slice::from_ref(&writes_old),
    );
    assert!(!no.safe);
    assert!(
        no.to_string()
            .contains("release N+1 still writes `user.confirmation` 1.x"),
        "{no}"
    );
    assert!(!ask("alias user.confirm", std::slice::from_ref(&writes_old)).safe);
    assert!(
        !ask(
            "retire user.confirmation",
            std::slice::from_ref(&writes_old)
        )
        .safe
    );
    assert!(ask("upcaster user.confirmation 1.x", &[]).safe);
}

#[tokio::test]
async fn the_command_answers_with_an_exit_code() {
    let dir = scratch("command");
    let path = dir.join("queue.db");
    drop(a_busy_queue(&path).await);
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_jobwire"))
            .args(["drain", "--sqlite"])
            .arg(&path)
            .args(args)
            .output()
            .expect("runs jobwire drain");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, table) = run(&[]);
    assert_eq!(code, Some(0));
    assert!(
        table.contains("user.welcome_fax") && table.contains("dead-lettered"),
        "{table}"
    );
    let (code, text) = run(&["upcaster", "user.confirmation", "1.x"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no:"), "{text}");
    assert_eq!(run(&["upcaster", "user.confirmation", "5.x"]).0, Some(0));
    assert_eq!(run(&["retire", "user.welcome_fax"]).0, Some(1));
    assert_eq!(
        run(&["upcaster", "user.confirmation"]).0,
        Some(2),
        "a malformed question"
    );
    assert_eq!(
        Command::new(env!("CARGO_BIN_EXE_jobwire"))
            .args(["drain", "--sqlite", "/nonexistent/queue.db"])
            .output()
            .expect("runs")
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
