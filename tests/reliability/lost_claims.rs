//! A claim is reported lost (and its job told to stop) only when it was
//! really lost. A worker alone on its queue, renewing its leases many times
//! a second while thousands of short jobs settle around the renewals, loses
//! none, and says so: not one "lost a claim" line, not one claim fenced.

use crate::harness::{block_on, sleepy, Db, Settings, WorkerProcess};
use std::time::Duration;

pub fn sqlite() {
    scenario(&Db::sqlite("lost"));
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    scenario(&Db::postgres("lost"));
}

fn scenario(db: &Db) {
    const JOBS: i64 = 2_000;
    block_on(async {
        let queue = db.open().await.expect("opens");
        for id in 1..=JOBS {
            queue.enqueue(&sleepy(id, 1)).await;
        }
        // A short lease: renewed every 67 ms, so renewals and settlements
        // overlap all the time.
        let worker = WorkerProcess::start(
            db,
            &Settings::new("alone")
                .concurrency(8)
                .lease(Duration::from_millis(200)),
        );
        assert!(
            queue
                .until(Duration::from_secs(120), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "all performed"
        );
        let log = worker.log();
        let report = worker.stop(Duration::from_secs(30)).await;
        assert_eq!(
            report.performed,
            u64::try_from(JOBS).unwrap_or(0),
            "{report}"
        );
        assert_eq!(report.fenced, 0, "{report}");
        assert_eq!(
            log.matches("lost a claim").count(),
            0,
            "no claim was lost, so none is reported lost: {log}"
        );
    });
}
