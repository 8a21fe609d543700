//! A poison payload is dead-lettered with its raw bytes and the reason, and
//! the worker process goes on with the jobs after it.

use crate::harness::{block_on, sleepy, Db, Settings, WorkerProcess};
use std::time::Duration;

pub fn sqlite() {
    scenario(Db::sqlite("poison"));
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    scenario(Db::postgres("poison"));
}

fn scenario(db: Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let wrong_args: &[u8] =
            br#"{"job":"reliability.sleepy","version":"1.0.0","args":{"id":"one"}}"#;
        let not_utf8: &[u8] =
            b"{\"job\":\"reliability.sleepy\",\"version\":\"1.0.0\",\"args\":{}}\xff\xfe";
        let not_json: &[u8] = b"\x00\x01 this is not an envelope";
        queue.enqueue(&sleepy(1, 5)).await;
        let poisons = [
            (queue.enqueue(wrong_args).await, wrong_args, "invalid type"),
            (queue.enqueue(not_utf8).await, not_utf8, "not UTF-8"),
            (queue.enqueue(not_json).await, not_json, "line 1"),
        ];
        queue.enqueue(&sleepy(2, 5)).await;
        let worker = WorkerProcess::start(&db, &Settings::new("worker"));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the queue emptied"
        );
        let report = worker.stop(Duration::from_secs(30)).await;
        assert_eq!((report.performed, report.dead_lettered), (2, 3), "{report}");
        let performed: Vec<i64> = queue.performed().await.iter().map(|job| job.id).collect();
        assert_eq!(performed, [1, 2], "the worker went on");
        let dead = queue.dead_letters().await;
        for (id, bytes, reason) in poisons {
            let letter = dead
                .iter()
                .find(|letter| letter.job_id == id)
                .unwrap_or_else(|| panic!("#{id} dead-lettered: {dead:?}"));
            assert_eq!(letter.payload, bytes, "the raw bytes, untouched");
            assert!(letter.reason.contains(reason), "{}", letter.reason);
            assert_eq!(letter.attempt, 0, "poison is not retried");
        }
    });
}
