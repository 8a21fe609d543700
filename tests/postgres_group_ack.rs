//! Group commit on PostgreSQL: jobs that finish together are acknowledged
//! in one statement, and each keeps its own fence. A job whose claim was
//! lost is refused alone; its batch-mates are acknowledged, and the lost
//! job stays in the queue for the worker that holds it now. A real server.
#![cfg(feature = "postgres")]

mod support;

use jobwire::backend::{Backend, ClaimRequest, Enqueue, SettleError, Settlement};
use std::time::Duration;

const PAYLOAD: &[u8] = br#"{"job":"test.grouped","version":"1.0.0","args":{}}"#;

#[tokio::test]
async fn a_lost_claim_fails_alone_and_its_batch_mates_are_acknowledged() {
    let schema = support::postgres::Schema::fresh("group_ack").await;
    let queue = schema.queue().await;
    for _ in 0..24 {
        queue
            .enqueue(Enqueue::new(PAYLOAD))
            .await
            .expect("enqueues");
    }
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            24,
            Duration::from_secs(60),
            "w",
        ))
        .await
        .expect("claims");
    assert_eq!(claims.len(), 24);
    // Every third claim is lost: another worker claimed the job again.
    let lost: Vec<i64> = claims.iter().step_by(3).map(|c| c.key.id).collect();
    sqlx::query("UPDATE jobwire_jobs SET epoch = epoch + 1, worker = 'other' WHERE id = ANY($1)")
        .bind(&lost)
        .execute(queue.pool())
        .await
        .expect("steals");

    // All at once, as a busy worker's jobs finish.
    let mut settling = Vec::new();
    for claim in &claims {
        let (queue, key) = (queue.clone(), claim.key);
        settling.push(tokio::spawn(async move {
            let data = queue.lend(&key);
            (key.id, queue.settle(&key, data, Settlement::Ack).await)
        }));
    }
    let mut fenced = Vec::new();
    for settled in settling {
        let (id, result) = settled.await.expect("settles");
        match result {
            Ok(()) => assert!(!lost.contains(&id), "job {id}'s claim was lost"),
            Err(SettleError::Fenced) => fenced.push(id),
            Err(other) => panic!("job {id}: {other}"),
        }
    }
    fenced.sort_unstable();
    assert_eq!(fenced, lost, "exactly the lost claims are fenced");
    let left: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, worker FROM jobwire_jobs ORDER BY id")
            .fetch_all(queue.pool())
            .await
            .expect("reads");
    assert_eq!(
        left,
        lost.iter()
            .map(|&id| (id, "other".to_owned()))
            .collect::<Vec<_>>(),
        "the acknowledged are gone, the lost ones are the other worker's"
    );
    drop(queue);
    schema.remove().await;
}
