//! `kill -9` of a worker in the middle of its jobs loses nothing: the jobs
//! wait in `jobwire:claims`, and once their lease runs out another worker
//! performs them, counting the lost lease as an attempt. (Sidekiq's own
//! `BRPOP` fetch loses them.)

use crate::support::{block_on, fresh, list, performed, until, LedgerJob, WorkerProcess};
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use redis::AsyncCommands;
use std::time::Duration;

pub fn a_killed_worker_loses_nothing() {
    block_on(async {
        let queue = fresh().await;
        let producer = Producer::default();
        for id in 1..=3 {
            let payload = producer.seal(&LedgerJob { id, ms: 1500 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
        let lease = Duration::from_millis(1500);
        let victim = WorkerProcess::start("victim", lease);
        assert!(
            until(Duration::from_secs(30), || async {
                list(&queue, "ledger:started").await.len() == 3
            })
            .await,
            "the victim started all three"
        );
        victim.kill_9();
        let mut conn = queue.connection();
        let held: usize = conn.hlen("jobwire:claims").await.expect("reads");
        let queued: usize = conn.llen("queue:default").await.expect("reads");
        assert_eq!(
            (held, queued),
            (3, 0),
            "killed mid-job: all three still in Redis, claimed"
        );

        let heir = WorkerProcess::start("heir", lease);
        assert!(
            until(Duration::from_secs(30), || async {
                performed(&queue).await.len() == 3
            })
            .await,
            "the heir performed them once the lease ran out: {:?}",
            performed(&queue).await
        );
        let report = heir.term(Duration::from_secs(20));
        assert!(report.contains("performed=3"), "{report}");
        let mut done = performed(&queue).await;
        done.sort();
        assert_eq!(
            done,
            [
                (1, "heir".to_owned(), 1),
                (2, "heir".to_owned(), 1),
                (3, "heir".to_owned(), 1)
            ],
            "each performed once, by the heir, the lost lease counted as an attempt"
        );
        let held: usize = conn.hlen("jobwire:claims").await.expect("reads");
        let lost: usize = conn.hlen("jobwire:lost").await.expect("reads");
        assert_eq!((held, lost), (0, 0), "nothing left behind");
        assert!(queue.dead_letters().await.expect("reads").is_empty());
    });
}
