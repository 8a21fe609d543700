//! Sidekiq's Dashboard counts every job jobwire acknowledges, once: an
//! acknowledgement is two plain commands, and `stat:processed` (with its
//! daily key) is added by the worker's next claim, or when it stops. A
//! stale acknowledgement is fenced and counts nothing; a job whose lease
//! ran out before has its lost leases cleared when its heir acknowledges.

use crate::support::{block_on, fresh, LedgerJob};
use jobwire::backend::sidekiq::Sidekiq;
use jobwire::backend::{Backend, ClaimRequest, Enqueue, SettleError, Settlement};
use jobwire::Producer;
use redis::AsyncCommands;
use std::time::Duration;

async fn processed(queue: &Sidekiq) -> (u64, u64) {
    let mut conn = queue.connection();
    let total: Option<u64> = conn.get("stat:processed").await.expect("reads");
    // The daily key is today's (UTC); read whichever exists, as the date
    // could turn between the acknowledgement and this read.
    let keys: Vec<String> = conn.keys("stat:processed:*").await.expect("reads");
    let mut daily = 0;
    for key in keys {
        let n: u64 = conn.get(&key).await.expect("reads");
        daily += n;
    }
    (total.unwrap_or(0), daily)
}

async fn enqueue(queue: &Sidekiq, ids: std::ops::Range<i64>) {
    for id in ids {
        let payload = Producer::default()
            .seal(&LedgerJob { id, ms: 0 })
            .expect("seals");
        queue
            .enqueue(Enqueue::new(&payload))
            .await
            .expect("enqueues");
    }
}

pub fn every_acknowledgement_is_counted_once() {
    block_on(async {
        let queue = fresh().await;
        let request = ClaimRequest::new(&["default"], 10, Duration::from_secs(30), "stats");

        // Counted by the next claim, even one that finds nothing.
        enqueue(&queue, 0..3).await;
        let claims = queue.claim(&request).await.expect("claims");
        assert_eq!(claims.len(), 3);
        for claim in &claims {
            queue
                .settle(&claim.key, (), Settlement::Ack)
                .await
                .expect("acknowledges");
        }
        assert_eq!(processed(&queue).await, (0, 0), "not yet: no claim since");
        assert!(queue.claim(&request).await.expect("claims").is_empty());
        assert_eq!(
            processed(&queue).await,
            (3, 3),
            "the next claim counts them"
        );

        // Counted when the worker stops (`flush`), with no claim after.
        enqueue(&queue, 3..5).await;
        for claim in queue.claim(&request).await.expect("claims") {
            queue
                .settle(&claim.key, (), Settlement::Ack)
                .await
                .expect("acknowledges");
        }
        queue.flush().await;
        assert_eq!(processed(&queue).await, (5, 5), "the stop counts them");
        queue.flush().await;
        assert_eq!(processed(&queue).await, (5, 5), "and only once");

        // A stale acknowledgement counts nothing and leaves the lost lease
        // on record; the heir's clears it and counts once.
        enqueue(&queue, 5..6).await;
        let short = ClaimRequest::new(&["default"], 10, Duration::from_millis(200), "stalled");
        let stale = queue.claim(&short).await.expect("claims");
        assert_eq!(stale.len(), 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let heir = queue.claim(&request).await.expect("claims again");
        assert_eq!(heir.len(), 1, "the lease ran out: claimed again");
        assert_eq!(heir[0].attempt, 1, "the lost lease counts an attempt");
        let ack = queue.settle(&stale[0].key, (), Settlement::Ack).await;
        assert!(matches!(ack, Err(SettleError::Fenced)), "{ack:?}");
        let mut conn = queue.connection();
        let lost: usize = conn.hlen("jobwire:lost").await.expect("reads");
        assert_eq!(lost, 1, "a fenced acknowledgement changes nothing");
        queue.flush().await;
        assert_eq!(
            processed(&queue).await,
            (5, 5),
            "a fenced one is not counted"
        );
        queue
            .settle(&heir[0].key, (), Settlement::Ack)
            .await
            .expect("the heir acknowledges");
        let lost: usize = conn.hlen("jobwire:lost").await.expect("reads");
        assert_eq!(lost, 0, "the heir's acknowledgement clears the lost lease");
        let (held, leases): (usize, usize) = (
            conn.hlen("jobwire:claims").await.expect("reads"),
            conn.zcard("jobwire:leases").await.expect("reads"),
        );
        assert_eq!((held, leases), (0, 0), "no claim and no lease left");
        queue.flush().await;
        assert_eq!(processed(&queue).await, (6, 6));
    });
}
