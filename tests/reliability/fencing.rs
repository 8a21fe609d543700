//! A stale worker's late settlement is refused by the fence. The worker is
//! stalled (SIGSTOP) in the middle of a job until its lease runs out;
//! another worker claims the job and performs it; the stalled one resumes
//! (SIGCONT), finishes its handler and tries to acknowledge: the queue
//! refuses, and the job is acknowledged once.
//!
//! On PostgreSQL the handler writes through the claim's transaction, so the
//! stale handler's write is rolled back with its refused acknowledgement:
//! the job's effect lands exactly once. SQLite lends no transaction, so a
//! stalled handler's own writes are at-least-once there; the fence still
//! keeps the queue right.

use crate::harness::{block_on, sleepy, Db, Queue, Settings, WorkerProcess};
use std::time::Duration;

pub fn sqlite() {
    let db = Db::sqlite("fencing");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let id = queue.enqueue(&sleepy(1, 2500)).await;
        let written = scenario(&db, &queue, id).await;
        // The stale handler ran to its end too: without a lent transaction
        // its own write is not fenced, only its settlement is.
        assert_eq!(written.len(), 2, "{written:?}");
    });
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    let db = Db::postgres("fencing");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let id = queue.enqueue(&crate::harness::transactional(1, 2500)).await;
        let written = scenario(&db, &queue, id).await;
        assert_eq!(written.len(), 1, "exactly once: {written:?}");
        assert_eq!(written[0].worker, "fresh");
    });
}

/// Runs the stall, and returns the ledger's performances.
async fn scenario(db: &Db, queue: &Queue, id: i64) -> Vec<crate::harness::Performed> {
    let lease = Duration::from_millis(1000);
    let stale = WorkerProcess::start(db, &Settings::new("stale").lease(lease));
    assert!(
        queue
            .until(Duration::from_secs(30), |q| async move {
                q.held_by("stale").await == 1
            })
            .await,
        "the stale worker claimed the job"
    );
    stale.signal("STOP");
    // Stalled: it cannot renew its lease, which runs out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = WorkerProcess::start(db, &Settings::new("fresh").lease(lease * 30));
    assert!(
        queue
            .until(Duration::from_secs(30), |q| async move {
                q.held_by("fresh").await == 1
            })
            .await,
        "the fresh worker claimed it again"
    );
    let (attempt, _, _) = queue.row(id).await.expect("queued");
    assert_eq!(attempt, 1, "the lost lease counted an attempt");
    // The stale worker wakes up mid-job, while the fresh one holds the claim.
    stale.signal("CONT");
    let stale_report = stale.stop(Duration::from_secs(30)).await;
    assert_eq!(stale_report.fenced, 1, "refused: {stale_report}");
    assert_eq!(stale_report.performed, 0, "{stale_report}");
    assert!(
        queue.row(id).await.is_some(),
        "the stale acknowledgement changed nothing"
    );

    assert!(
        queue
            .until(Duration::from_secs(30), |q| async move {
                q.waiting().await == 0
            })
            .await,
        "the fresh worker acknowledged it"
    );
    let fresh_report = fresh.stop(Duration::from_secs(30)).await;
    assert_eq!(fresh_report.performed, 1, "{fresh_report}");
    assert_eq!(fresh_report.fenced, 0, "{fresh_report}");
    assert!(queue.dead_letters().await.is_empty());
    queue.performed().await
}
