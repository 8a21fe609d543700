//! Long jobs across deploys. The deploy window measures how long a payload
//! has waited unreadable (since it was last written), not how old its job
//! is: a backfill older than the window, interrupted on release N+1 and
//! picked up by release N, is deferred, not dead-lettered. And a run that
//! made progress before its worker was killed (`kill -9`) has not failed:
//! it does not count an attempt, so a backfill killed more times than its
//! maximum attempts still finishes.

use crate::harness::{block_on, Db, NextSweep, Settings, Sweep, WorkerProcess};
use jobwire::{Producer, WritePolicy};
use std::time::Duration;

pub fn a_backfill_older_than_the_window_is_deferred_sqlite() {
    a_backfill_older_than_the_window_is_deferred(&Db::sqlite("older"));
}

#[cfg(feature = "postgres")]
pub fn a_backfill_older_than_the_window_is_deferred_postgres() {
    a_backfill_older_than_the_window_is_deferred(&Db::postgres("older"));
}

fn a_backfill_older_than_the_window_is_deferred(db: &Db) {
    // A 2 s window stands in for the default hour.
    let window = Duration::from_secs(2);
    block_on(async {
        let queue = db.open().await.expect("opens");
        // Release N+1 enqueues a backfill at the line release N cannot read.
        let payload = Producer::new(WritePolicy::Current)
            .seal(&NextSweep {
                job: 1,
                to: 60,
                ms: 50,
            })
            .expect("seals");
        let id = queue.enqueue(&payload).await;
        let next = WorkerProcess::start(db, &Settings::new("n+1").window(window).next_release());
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.progress(id).await.is_some_and(|items| items >= 45)
                })
                .await,
            "the backfill ran longer than the window"
        );
        // The deploy: N+1 is stopped (its job checkpoints), and release N,
        // still in the fleet, meets N+1's checkpoint.
        next.stop(Duration::from_secs(30)).await;
        let old = WorkerProcess::start(db, &Settings::new("n").window(window));
        assert!(
            queue
                .until(Duration::from_secs(10), |q| async move {
                    q.row(id).await.is_some_and(|(_, defers, _)| defers >= 2)
                })
                .await,
            "release N deferred the checkpoint"
        );
        let report = old.stop(Duration::from_secs(30)).await;
        assert_eq!(report.dead_lettered, 0, "not dead-lettered: {report}");
        assert!(queue.dead_letters().await.is_empty());
        // N+1 comes back and finishes, every item once.
        let next = WorkerProcess::start(
            db,
            &Settings::new("n+1 again").window(window).next_release(),
        );
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "finished"
        );
        next.stop(Duration::from_secs(30)).await;
        let swept = queue.swept(1).await;
        assert_eq!(swept.len(), 60);
        assert!(swept.iter().all(|(_, times)| *times == 1), "{swept:?}");
    });
}

pub fn progress_is_not_a_failed_attempt_sqlite() {
    progress_is_not_a_failed_attempt(&Db::sqlite("progress"));
}

#[cfg(feature = "postgres")]
pub fn progress_is_not_a_failed_attempt_postgres() {
    progress_is_not_a_failed_attempt(&Db::postgres("progress"));
}

fn progress_is_not_a_failed_attempt(db: &Db) {
    // The workers allow 5 attempts; the backfill is killed 6 times.
    const KILLS: usize = 6;
    block_on(async {
        let queue = db.open().await.expect("opens");
        let payload = Producer::new(WritePolicy::Current)
            .seal(&Sweep {
                job: 1,
                to: 200,
                ms: 20,
            })
            .expect("seals");
        let id = queue.enqueue(&payload).await;
        let lease = Duration::from_millis(600);
        for round in 0..KILLS {
            let before = queue.progress(id).await.unwrap_or(0);
            let worker =
                WorkerProcess::start(db, &Settings::new(&format!("w{round}")).lease(lease));
            assert!(
                queue
                    .until(Duration::from_secs(30), |q| async move {
                        q.progress(id).await.unwrap_or(0) >= before + 10
                    })
                    .await,
                "round {round}: the backfill made progress"
            );
            worker.kill_9();
            // The lease runs out before the next worker can claim it.
            tokio::time::sleep(lease).await;
        }
        let (attempt, _, _) = queue.row(id).await.expect("still queued");
        assert_eq!(
            attempt, 0,
            "a killed run that made progress is no failed attempt"
        );
        let last = WorkerProcess::start(db, &Settings::new("last").lease(lease));
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "finished"
        );
        last.stop(Duration::from_secs(30)).await;
        assert!(queue.dead_letters().await.is_empty(), "not dead-lettered");
        let swept = queue.swept(1).await;
        assert_eq!(swept.len(), 200, "every item done");
    });
}
