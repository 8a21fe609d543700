//! A payload no running release can read (a newer major version, or a job
//! no release registers) is deferred without counting an attempt while the
//! deploy window lasts, then dead-lettered with its bytes and a reason that
//! names the job, the version, its age and what to do. It is never deferred
//! for ever.

use crate::harness::{block_on, sleepy, Db, Settings, WorkerProcess};
use std::time::Duration;

pub fn sqlite() {
    scenario(Db::sqlite("window"));
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    scenario(Db::postgres("window"));
}

fn scenario(db: Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let newer: &[u8] =
            br#"{"job":"reliability.sleepy","version":"2.0.0","args":{"id":9,"ms":1,"unit":"ms"}}"#;
        let unknown: &[u8] = br#"{"job":"billing.refund","version":"1.0.0","args":{"cents":100}}"#;
        let newer_id = queue.enqueue(newer).await;
        let unknown_id = queue.enqueue(unknown).await;
        queue.enqueue(&sleepy(1, 5)).await;
        let worker = WorkerProcess::start(
            &db,
            &Settings::new("worker").window(Duration::from_millis(1200)),
        );
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "dead-lettered once past the window"
        );
        let report = worker.stop(Duration::from_secs(30)).await;
        assert_eq!(report.performed, 1, "{report}");
        assert!(
            report.deferred >= 4,
            "deferred while the window lasted: {report}"
        );
        assert_eq!(report.dead_lettered, 2, "{report}");
        let dead = queue.dead_letters().await;
        let find = |id: i64| {
            dead.iter()
                .find(|letter| letter.job_id == id)
                .unwrap_or_else(|| panic!("#{id} dead-lettered: {dead:?}"))
        };
        let letter = find(newer_id);
        assert_eq!(letter.payload, newer);
        assert_eq!(letter.attempt, 0, "deferral never counts an attempt");
        for part in [
            "job `reliability.sleepy` 2.0.0 waited",
            "longer than the deploy window",
            "Requeue it once a release that reads 2.0.0 runs",
        ] {
            assert!(letter.reason.contains(part), "{}", letter.reason);
        }
        let letter = find(unknown_id);
        assert_eq!(letter.payload, unknown);
        assert!(
            letter
                .reason
                .contains("no release that ran in the window registers `billing.refund`"),
            "{}",
            letter.reason
        );
    });
}
