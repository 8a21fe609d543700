//! Restarting PostgreSQL in the middle of a run: the worker processes keep
//! running, reconnect when the server is back, and nothing is lost. The jobs
//! write through the claim's transaction, so none is performed twice
//! either, even though the crash interrupted claims, handlers and
//! acknowledgements.

use crate::harness::{block_on, transactional, Db, Settings, TempPostgres, WorkerProcess};
use std::collections::BTreeMap;
use std::time::Duration;

const JOBS: i64 = 80;

pub fn postgres() {
    let server = TempPostgres::start();
    let db = Db::postgres_at(&server.url(), "restart");
    block_on(async {
        let queue = db.open().await.expect("opens");
        for id in 1..=JOBS {
            queue.enqueue(&transactional(id, 40)).await;
        }
        let settings = Settings::new("a")
            .concurrency(4)
            .lease(Duration::from_secs(3));
        let workers = [
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
                    q.performed().await.len() >= 10
                })
                .await,
            "the run got going"
        );
        server.crash();
        let crashed_at = crate::harness::now_ms();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.up();

        assert!(
            queue
                .until(Duration::from_secs(120), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the workers reconnected and emptied the queue"
        );
        let mut after_restart = 0;
        for worker in workers {
            worker.stop(Duration::from_secs(30)).await;
        }
        let performed = queue.performed().await;
        let mut times: BTreeMap<i64, usize> = BTreeMap::new();
        for job in &performed {
            *times.entry(job.id).or_default() += 1;
            after_restart += usize::from(job.started_ms > crashed_at);
        }
        assert_eq!(times.len(), usize::try_from(JOBS).unwrap_or(0), "none lost");
        assert!(
            times.values().all(|&n| n == 1),
            "none performed twice: {times:?}"
        );
        assert!(
            after_restart > 0,
            "the same processes worked on after the restart"
        );
        assert!(queue.dead_letters().await.is_empty());
    });
}
