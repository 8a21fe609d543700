//! SIGTERM with jobs in flight: the worker stops claiming, lets the jobs
//! that can finish within its shutdown budget finish, and puts the others
//! back, runnable at once and without counting an attempt. Nothing is lost,
//! nothing is left locked, and the next worker performs what was put back.

use crate::harness::{block_on, sleepy, Db, Settings, WorkerProcess};
use std::time::Duration;

pub fn sqlite() {
    scenario(Db::sqlite("sigterm"));
}

#[cfg(feature = "postgres")]
pub fn postgres() {
    scenario(Db::postgres("sigterm"));
}

fn scenario(db: Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let budget = Duration::from_millis(1500);
        let quick = [
            queue.enqueue(&sleepy(1, 300)).await,
            queue.enqueue(&sleepy(2, 300)).await,
        ];
        let slow = [
            queue.enqueue(&sleepy(3, 6000)).await,
            queue.enqueue(&sleepy(4, 6000)).await,
        ];
        let first = WorkerProcess::start(&db, &Settings::new("first").budget(budget));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.started().await == 4
                })
                .await,
            "all four in flight"
        );
        let report = first.stop(budget + Duration::from_secs(20)).await;
        assert_eq!((report.performed, report.released), (2, 2), "{report}");

        let performed: Vec<i64> = queue.performed().await.iter().map(|job| job.id).collect();
        assert_eq!(
            performed,
            [1, 2],
            "the quick jobs finished within the budget"
        );
        for id in quick {
            assert!(queue.row(id).await.is_none(), "acknowledged");
        }
        for id in slow {
            let (attempt, defers, wait) = queue.row(id).await.expect("put back, not lost");
            assert_eq!(
                (attempt, defers, wait.as_str()),
                (0, 0, "released"),
                "put back without counting an attempt, nor a deferral"
            );
        }
        assert_eq!(queue.held_by("first").await, 0, "nothing left locked");

        let second = WorkerProcess::start(&db, &Settings::new("second"));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the next worker performed what was put back"
        );
        let report = second.stop(Duration::from_secs(30)).await;
        assert_eq!(report.performed, 2, "{report}");
        let performed = queue.performed().await;
        for job in performed.iter().filter(|job| job.id >= 3) {
            assert_eq!(
                (job.worker.as_str(), job.attempt, job.defers),
                ("second", 0, 0)
            );
        }
        assert!(queue.dead_letters().await.is_empty());
    });
}

pub fn a_job_that_never_yields_sqlite() {
    a_job_that_never_yields(&Db::sqlite("hog"));
}

#[cfg(feature = "postgres")]
pub fn a_job_that_never_yields_postgres() {
    a_job_that_never_yields(&Db::postgres("hog"));
}

/// The budget is a promise even for a job that holds its thread and never
/// awaits (a minute of it, here): at the deadline the worker returns, puts
/// the job back, and the process exits, long before the job would end.
fn a_job_that_never_yields(db: &Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let id = queue.enqueue(&crate::harness::hog(1, 60_000)).await;
        let worker = WorkerProcess::start(
            db,
            &Settings::new("worker").budget(Duration::from_millis(1_000)),
        );
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.started().await == 1
                })
                .await,
            "the job holds its thread"
        );
        // Well inside the job's minute: the worker must not wait for it.
        let report = worker.stop(Duration::from_secs(20)).await;
        assert_eq!(report.released, 1, "{report}");
        let (attempt, _, wait) = queue.row(id).await.expect("put back, not lost");
        assert_eq!((attempt, wait.as_str()), (0, "released"));
    });
}
