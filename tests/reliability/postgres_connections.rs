//! Losing connections without losing the server: PostgreSQL terminates the
//! workers' backends (`pg_terminate_backend`, as an operator or a
//! connection pooler's failover does), and someone else holds every
//! connection slot for a while. The worker processes log, back off,
//! reconnect and go on: they never exit, and no job is lost or performed
//! twice (the jobs write through the claim's transaction). The listener
//! that wakes idle workers is re-established too: a job enqueued after its
//! connection was killed wakes a worker that would otherwise sleep for two
//! minutes.

use crate::harness::{
    block_on, now_ms, transactional, Db, Queue, Settings, TempPostgres, WorkerProcess,
    WORKER_APPLICATION,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const JOBS: i64 = 120;

/// Terminates every backend of the worker processes; how many there were.
async fn terminate_workers(admin: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = $1) AS killed",
    )
    .bind(WORKER_APPLICATION)
    .fetch_one(admin)
    .await
    .expect("terminates the workers' backends")
}

/// Every job performed exactly once, and some of them after `since`.
async fn exactly_once(queue: &Queue, since: i64) {
    let performed = queue.performed().await;
    let mut times: BTreeMap<i64, usize> = BTreeMap::new();
    let mut after = 0;
    for job in &performed {
        *times.entry(job.id).or_default() += 1;
        after += usize::from(job.started_ms > since);
    }
    assert_eq!(
        times.len(),
        usize::try_from(JOBS).unwrap_or(0),
        "none lost: {times:?}"
    );
    assert!(
        times.values().all(|&n| n == 1),
        "none performed twice: {times:?}"
    );
    assert!(after > 0, "the same processes worked on afterwards");
    assert!(queue.dead_letters().await.is_empty());
}

pub fn terminated() {
    let server = TempPostgres::start();
    let db = Db::postgres_at(&server.url(), "terminated");
    block_on(async {
        let admin = sqlx::PgPool::connect(&server.url())
            .await
            .expect("an admin connection");
        let queue = db.open().await.expect("opens");
        for id in 1..=JOBS {
            queue.enqueue(&transactional(id, 30)).await;
        }
        // Idle workers poll every two minutes: only a notification wakes
        // them sooner.
        let settings = Settings::new("a")
            .concurrency(4)
            .lease(Duration::from_secs(3))
            .poll(Duration::from_secs(120));
        let mut workers = [
            WorkerProcess::start(&db, &settings),
            WorkerProcess::start(
                &db,
                &Settings {
                    name: "b".into(),
                    ..settings.clone()
                },
            ),
        ];
        let mut killed = 0;
        let mut last_kill = 0;
        for round in 1..=3 {
            assert!(
                queue
                    .until(Duration::from_secs(60), |q| async move {
                        q.performed().await.len() >= 15 * round
                    })
                    .await,
                "the run got going again (round {round})"
            );
            killed += terminate_workers(&admin).await;
            last_kill = now_ms();
        }
        assert!(killed >= 6, "the workers' backends were terminated");
        assert!(
            queue
                .until(Duration::from_secs(120), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the workers reconnected and emptied the queue"
        );
        exactly_once(&queue, last_kill).await;

        // Idle now: kill their connections again, listener included, then
        // enqueue one more job. Its notification can only reach a worker
        // through a listener that was re-established.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(terminate_workers(&admin).await >= 2, "listeners terminated");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let enqueued = Instant::now();
        queue.enqueue(&transactional(JOBS + 1, 1)).await;
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.performed().await.iter().any(|job| job.id == JOBS + 1)
                })
                .await,
            "the late job was performed"
        );
        assert!(
            enqueued.elapsed() < Duration::from_secs(60),
            "a notification woke an idle worker (they poll every 120 s)"
        );
        for worker in &mut workers {
            assert!(worker.is_running(), "worker {} never exits", worker.name);
        }
        for worker in workers {
            worker.stop(Duration::from_secs(30)).await;
        }
        admin.close().await;
    });
}

pub fn starved() {
    // 24 slots, 3 of them reserved for superusers: everyone here is one, so
    // the hog below can take all of them.
    let server = TempPostgres::start_with("-c max_connections=24");
    let db = Db::postgres_at(&server.url(), "starved");
    block_on(async {
        let queue = db.open().await.expect("opens");
        // Long enough that the run outlasts the three seconds of hoarding.
        for id in 1..=JOBS {
            queue.enqueue(&transactional(id, 300)).await;
        }
        let settings = Settings::new("a")
            .concurrency(4)
            .lease(Duration::from_secs(3));
        let mut workers = [
            WorkerProcess::start(&db, &settings),
            WorkerProcess::start(
                &db,
                &Settings {
                    name: "b".into(),
                    ..settings.clone()
                },
            ),
        ];
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.performed().await.len() >= 15
                })
                .await,
            "the run got going"
        );
        // Someone else takes every free slot, then the workers lose theirs
        // and the hog takes those too, for three seconds.
        use sqlx::Connection;
        let url = server.url();
        let admin = sqlx::PgPool::connect(&url).await.expect("an admin pool");
        let mut hoard = Vec::new();
        while let Ok(connection) = sqlx::PgConnection::connect(&url).await {
            hoard.push(connection);
        }
        let killed = terminate_workers(&admin).await;
        admin.close().await;
        let mut refused = 0;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match sqlx::PgConnection::connect(&url).await {
                Ok(connection) => hoard.push(connection),
                Err(_) => {
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        assert!(killed > 0, "the workers' backends were terminated");
        assert!(refused > 0, "the server was full: {} held", hoard.len());
        let released = now_ms();
        drop(hoard);

        assert!(
            queue
                .until(Duration::from_secs(120), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the workers got connections back and emptied the queue"
        );
        exactly_once(&queue, released).await;
        for worker in &mut workers {
            assert!(worker.is_running(), "worker {} never exits", worker.name);
        }
        for worker in workers {
            worker.stop(Duration::from_secs(30)).await;
        }
    });
}
