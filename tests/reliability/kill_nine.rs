//! `kill -9` of a worker in the middle of its jobs: nothing is settled, and
//! nothing is lost. Once the lease runs out, another worker claims the jobs
//! (counting the lost lease as an attempt) and performs them.

use crate::harness::{block_on, sleepy, Db, Settings, WorkerProcess};
use std::time::Duration;

pub fn sqlite() {
    scenario(Db::sqlite("kill9"));
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    scenario(Db::postgres("kill9"));
}

fn scenario(db: Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let lease = Duration::from_millis(1500);
        let mut ids = Vec::new();
        for id in 1..=3 {
            ids.push(queue.enqueue(&sleepy(id, 1500)).await);
        }
        let victim = WorkerProcess::start(&db, &Settings::new("victim").lease(lease));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.started().await == 3
                })
                .await,
            "the victim started all three jobs"
        );
        victim.kill_9();
        assert_eq!(
            queue.waiting().await,
            3,
            "killed mid-job: all three still queued"
        );

        let heir = WorkerProcess::start(&db, &Settings::new("heir").lease(lease));
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the heir performed them once the lease ran out"
        );
        let report = heir.stop(Duration::from_secs(30)).await;
        assert_eq!(report.performed, 3, "{report}");

        let performed = queue.performed().await;
        assert_eq!(performed.len(), 3, "each job performed once: {performed:?}");
        for (job, id) in performed.iter().zip(1..) {
            assert_eq!(job.id, id);
            assert_eq!(job.worker, "heir", "the victim never finished one");
            assert_eq!(job.attempt, 1, "the lost lease counted an attempt");
        }
        let started = queue.started_rows().await;
        for job in &performed {
            let victim_start = started
                .iter()
                .find(|(id, worker, _)| *id == job.id && worker == "victim")
                .map(|(_, _, at)| *at)
                .expect("the victim had started it");
            assert!(
                job.started_ms >= victim_start + 1400,
                "claimed again only after the lease ran out"
            );
        }
        assert!(queue.dead_letters().await.is_empty());
    });
}
