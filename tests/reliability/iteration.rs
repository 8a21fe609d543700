//! A long iterable job across worker restarts: stopped with SIGTERM in the
//! middle, it stops at its next item with its progress saved, and the next
//! worker resumes it; every item is written exactly once. On PostgreSQL the
//! items are written through the claim's transaction and each checkpoint
//! commits them with the cursor, so even `kill -9` in the middle loses
//! nothing and repeats nothing: the uncommitted items roll back with the
//! dead connection, and the next worker resumes from the last checkpoint.

use crate::harness::{block_on, Db, Queue, Settings, Sweep, WorkerProcess};
use jobwire::{Producer, WritePolicy};
use std::time::Duration;

const ITEMS: u64 = 60;

pub fn sigterm_sqlite() {
    sigterm(Db::sqlite("iter_sigterm"), false);
}

#[cfg(feature = "postgres")]
pub fn sigterm_postgres() {
    sigterm(Db::postgres("iter_sigterm"), true);
}

fn payload(transactional: bool) -> Vec<u8> {
    let producer = Producer::new(WritePolicy::Current);
    let sealed = if transactional {
        #[cfg(feature = "postgres")]
        {
            producer.seal(&crate::harness::TxSweep {
                job: 1,
                to: ITEMS,
                ms: 40,
            })
        }
        #[cfg(not(feature = "postgres"))]
        unreachable!("transactional sweeps need PostgreSQL")
    } else {
        producer.seal(&Sweep {
            job: 1,
            to: ITEMS,
            ms: 40,
        })
    };
    sealed.expect("seals")
}

async fn exactly_once(queue: &Queue) {
    let swept = queue.swept(1).await;
    let expected: Vec<(i64, i64)> = (1..=i64::try_from(ITEMS).unwrap_or(0))
        .map(|item| (item, 1))
        .collect();
    assert_eq!(swept, expected, "every item written exactly once");
    assert!(queue.dead_letters().await.is_empty());
}

fn sigterm(db: Db, transactional: bool) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let id = queue.enqueue(&payload(transactional)).await;
        let first = WorkerProcess::start(&db, &Settings::new("first"));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.progress(id).await.is_some_and(|items| items >= 10)
                })
                .await,
            "checkpointed while it ran"
        );
        let report = first.stop(Duration::from_secs(30)).await;
        assert_eq!((report.released, report.retried), (0, 0), "{report}");
        let (attempt, defers, wait) = queue.row(id).await.expect("put back");
        // An interruption is neither an attempt nor a deferral.
        assert_eq!((attempt, defers, wait.as_str()), (0, 0, "interrupted"));
        let resumed_at = queue.progress(id).await.unwrap_or(0);
        assert!(resumed_at < ITEMS, "stopped in the middle");
        let second = WorkerProcess::start(&db, &Settings::new("second"));
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the next worker finished it"
        );
        let report = second.stop(Duration::from_secs(30)).await;
        assert_eq!(report.performed, 1, "{report}");
        exactly_once(&queue).await;
    });
}

#[cfg(feature = "postgres")]
pub fn kill_nine_postgres() {
    let db = Db::postgres("iter_kill9");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let id = queue.enqueue(&payload(true)).await;
        let lease = Duration::from_millis(1500);
        let victim = WorkerProcess::start(&db, &Settings::new("victim").lease(lease));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.progress(id).await.is_some_and(|items| items >= 10)
                })
                .await,
            "checkpointed while it ran"
        );
        // Between two checkpoints: some items are written but not committed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        victim.kill_9();
        let heir = WorkerProcess::start(&db, &Settings::new("heir").lease(lease));
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the heir resumed it after the lease ran out"
        );
        let report = heir.stop(Duration::from_secs(30)).await;
        assert_eq!(report.performed, 1, "{report}");
        exactly_once(&queue).await;
    });
}
