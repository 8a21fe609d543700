//! SIGTERM puts unfinished jobs back on their queue, at its head, without
//! counting an attempt, as on the other queues.

use crate::support::{block_on, fresh, list, performed, until, worker, LedgerJob, WorkerProcess};
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use redis::AsyncCommands;
use std::time::Duration;

pub fn sigterm_puts_jobs_back_without_an_attempt() {
    block_on(async {
        let queue = fresh().await;
        let producer = Producer::default();
        for id in 1..=2 {
            let payload = producer.seal(&LedgerJob { id, ms: 20_000 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
        let stopping = WorkerProcess::start("stopping", Duration::from_secs(30));
        assert!(
            until(Duration::from_secs(30), || async {
                list(&queue, "ledger:started").await.len() == 2
            })
            .await,
            "both started"
        );
        let report = stopping.term(Duration::from_secs(20));
        assert!(report.contains("performed=0 released=2"), "{report}");
        let mut conn = queue.connection();
        let held: usize = conn.hlen("jobwire:claims").await.expect("reads");
        let queued: Vec<String> = conn.lrange("queue:default", 0, -1).await.expect("reads");
        assert_eq!(
            (held, queued.len()),
            (0, 2),
            "both back on the queue: {queued:?}"
        );
        assert!(
            queued
                .iter()
                .all(|job| !job.contains("retry_count") && !job.contains("error_message")),
            "not counted as failures: {queued:?}"
        );
        // The same jobs, quick this time: rewrite `ms` as the next release
        // might, and perform them.
        let _: () = conn.del("queue:default").await.expect("clears");
        for job in queued {
            let quick = job.replace("20000", "0");
            let _: () = conn.rpush("queue:default", quick).await.expect("puts back");
        }
        let report = worker(&queue, "next", Duration::from_secs(30))
            .expect("a worker")
            .drain()
            .await;
        assert_eq!(report.performed, 2, "{report}");
        let mut done = performed(&queue).await;
        done.sort();
        assert_eq!(
            done,
            [(1, "next".to_owned(), 0), (2, "next".to_owned(), 0)],
            "attempt 0: the shutdown was not an attempt"
        );
    });
}
