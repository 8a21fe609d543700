//! Two workers never perform one claim at the same time: three worker
//! processes race for the same jobs, and each job is performed by exactly
//! one of them, exactly once.

use crate::harness::{block_on, sleepy, Db, Settings, WorkerProcess};
use std::collections::BTreeMap;
use std::time::Duration;

const JOBS: i64 = 300;

pub fn sqlite() {
    scenario(Db::sqlite("exclusive"));
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    scenario(Db::postgres("exclusive"));
}

fn scenario(db: Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let workers: Vec<WorkerProcess> = ["a", "b", "c"]
            .into_iter()
            .map(|name| WorkerProcess::start(&db, &Settings::new(name).concurrency(4)))
            .collect();
        for id in 1..=JOBS {
            queue
                .enqueue(&sleepy(id, 5 + u64::try_from(id % 7).unwrap_or(0)))
                .await;
        }
        assert!(
            queue
                .until(Duration::from_secs(120), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "all performed"
        );
        let mut performed_by_reports = 0;
        for worker in workers {
            performed_by_reports += worker.stop(Duration::from_secs(30)).await.performed;
        }
        assert_eq!(performed_by_reports, u64::try_from(JOBS).unwrap_or(0));

        let performed = queue.performed().await;
        let mut by_id: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for job in &performed {
            by_id.entry(job.id).or_default().push(&job.worker);
        }
        assert_eq!(by_id.len(), usize::try_from(JOBS).unwrap_or(0), "none lost");
        let twice: Vec<_> = by_id.iter().filter(|(_, by)| by.len() > 1).collect();
        assert!(twice.is_empty(), "claimed by two workers: {twice:?}");
        let started = queue.started_rows().await;
        assert_eq!(started.len(), performed.len(), "no handler started twice");
        let mut workers_used: Vec<&str> = performed.iter().map(|job| job.worker.as_str()).collect();
        workers_used.sort_unstable();
        workers_used.dedup();
        assert!(
            workers_used.len() >= 2,
            "the workers really raced: {workers_used:?}"
        );
    });
}
