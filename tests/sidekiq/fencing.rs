//! A worker whose lease ran out, and whose job was claimed again, cannot
//! acknowledge, reschedule, checkpoint or renew it: every change is
//! conditional on the claim's own id.

use crate::support::{block_on, fresh, LedgerJob};
use jobwire::backend::{Backend, ClaimRequest, Enqueue, SettleError, Settlement};
use jobwire::Producer;
use redis::AsyncCommands;
use std::time::{Duration, SystemTime};

pub fn a_stale_acknowledgement_is_fenced() {
    block_on(async {
        let queue = fresh().await;
        let payload = Producer::default()
            .seal(&LedgerJob { id: 1, ms: 0 })
            .expect("seals");
        queue
            .enqueue(Enqueue::new(&payload))
            .await
            .expect("enqueues");
        let short = ClaimRequest::new(&["default"], 10, Duration::from_millis(200), "stalled");
        let first = queue.claim(&short).await.expect("claims");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempt, 0);
        let stale = first[0].key.clone();
        tokio::time::sleep(Duration::from_millis(400)).await;

        let long = ClaimRequest::new(&["default"], 10, Duration::from_secs(30), "heir");
        let second = queue.claim(&long).await.expect("claims again");
        assert_eq!(second.len(), 1, "the lease ran out: claimable again");
        assert_eq!(second[0].attempt, 1, "the lost lease counts an attempt");
        assert_eq!(second[0].key.jid, stale.jid, "the same job");
        assert_ne!(second[0].key.claim, stale.claim, "under a new claim");

        let ack = queue.settle(&stale, (), Settlement::Ack).await;
        assert!(matches!(ack, Err(SettleError::Fenced)), "{ack:?}");
        let later = Settlement::Reschedule {
            at: SystemTime::now(),
            payload: None,
            wait: jobwire::backend::Wait::Snoozed,
        };
        let rescheduled = queue.settle(&stale, (), later).await;
        assert!(
            matches!(rescheduled, Err(SettleError::Fenced)),
            "{rescheduled:?}"
        );
        let checkpoint = queue.checkpoint(&stale, &payload, &mut ()).await;
        assert!(
            matches!(checkpoint, Err(SettleError::Fenced)),
            "{checkpoint:?}"
        );
        let lost = queue
            .renew(std::slice::from_ref(&stale), Duration::from_secs(30))
            .await
            .expect("renews");
        assert_eq!(
            lost,
            std::slice::from_ref(&stale),
            "the stale claim is reported lost"
        );

        let mut conn = queue.connection();
        let held: usize = conn.hlen("jobwire:claims").await.expect("reads");
        assert_eq!(held, 1, "the heir's claim is untouched");
        queue
            .settle(&second[0].key, (), Settlement::Ack)
            .await
            .expect("the heir acknowledges");
        let held: usize = conn.hlen("jobwire:claims").await.expect("reads");
        let queued: usize = conn.llen("queue:default").await.expect("reads");
        assert_eq!((held, queued), (0, 0));
    });
}
