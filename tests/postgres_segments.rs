//! The PostgreSQL queue does not rot: its rows live in segments (the
//! partitions of `jobwire_jobs`), and a segment whose rows are all done is
//! emptied with `TRUNCATE`, which frees its dead tuples even while a
//! transaction elsewhere pins VACUUM's horizon. On a real server:
//! 100,000 jobs through a worker with the horizon pinned leave a bounded
//! number of dead tuples at every point and once done, and a claim of the
//! empty queue stays cheap; the waiting rows of a segment that is retired move with their
//! ids, bytes and fences; a running claim keeps its segment and settles;
//! and a long reader holding a segment delays its emptying, never a claim.
#![cfg(feature = "postgres")]

mod support;

use jobwire::backend::postgres::{Postgres, Tx};
use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement};
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use support::postgres::Schema;

#[derive(Serialize, Deserialize)]
struct Churn {
    n: u32,
}

type Ledger = Arc<Mutex<BTreeMap<u32, u32>>>;

impl Job for Churn {
    const NAME: &'static str = "test.churn";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = Tx;
    async fn perform(self, ctx: &mut Context<'_, Ledger, Tx>) -> Result<(), HandlerError> {
        if let Ok(mut done) = ctx.state().lock() {
            *done.entry(self.n).or_default() += 1;
        }
        Ok(())
    }
}

fn payload(n: u32) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Churn { n })
        .expect("seals")
}

/// Dead and live tuples and bytes of the segments, exactly (pgstattuple).
async fn segments(queue: &Postgres) -> Vec<(String, i64, i64, i64)> {
    let health = queue.health().await.expect("reads the health");
    health
        .tables
        .iter()
        .filter(|t| t.name.starts_with("jobwire_jobs_"))
        .map(|t| (t.name.clone(), t.live_tuples, t.dead_tuples, t.bytes))
        .collect()
}

/// Segments that give way after `rows` rows, never on time alone.
async fn rotate_after(queue: &Postgres, rows: i64) {
    sqlx::query("UPDATE jobwire_rotation SET rotate_after = $1, rotate_every = '1 year'")
        .bind(rows)
        .execute(queue.pool())
        .await
        .expect("tunes");
}

/// One claim of the default queue, which must find a job.
async fn claim_one(queue: &Postgres) -> Vec<jobwire::backend::Claim<jobwire::backend::RowKey>> {
    let claimed = queue
        .claim(&ClaimRequest::new(
            &["default"],
            1,
            Duration::from_secs(60),
            "w",
        ))
        .await
        .expect("claims");
    assert_eq!(claimed.len(), 1);
    claimed
}

/// Turns the segments until `done` holds, a few times at most (the queue
/// turns them by itself too, so a turn of the test's may find it busy).
async fn turn_until<F, Fut>(queue: &Postgres, done: F) -> bool
where
    F: Fn(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..20 {
        queue.rotate().await.expect("turns");
        if done(queue.pool().clone()).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Whether segment `n` was emptied with `TRUNCATE`: it has no page at all.
async fn emptied(pool: sqlx::PgPool, n: i16) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT pg_relation_size(format('jobwire_jobs_%s', $1))")
        .bind(n)
        .fetch_one(&pool)
        .await
        .is_ok_and(|pages| pages == 0)
}

#[tokio::test]
async fn a_pinned_horizon_leaves_a_bounded_number_of_dead_tuples() {
    let schema = Schema::fresh("segments_pinned").await;
    let queue = schema.queue().await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA public")
        .execute(queue.pool())
        .await
        .expect("pgstattuple, which this project's servers have");
    let mut holder = schema.pin_the_horizon().await;

    // 100,000 jobs, with the segments as they come (2,000 rows each).
    const BATCHES: u32 = 50;
    const BATCH: u32 = 2_000;
    let ledger: Ledger = Arc::default();
    let router = Router::builder()
        .lending::<Tx>()
        .job::<Churn>()
        .state(Arc::clone(&ledger))
        .build()
        .expect("builds");
    let watching = Arc::clone(&ledger);
    let producer = queue.clone();
    let peaks: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sampled = Arc::clone(&peaks);
    let report = Worker::new(queue.clone(), router)
        .concurrency(8)
        .poll_interval(Duration::from_millis(20))
        .run(async move {
            // A batch at a time, each once the one before is done: the
            // segments turn between them.
            for batch in 0..BATCHES {
                let payloads: Vec<Vec<u8>> =
                    (0..BATCH).map(|i| payload(batch * BATCH + i)).collect();
                for chunk in payloads.chunks(1_000) {
                    let jobs: Vec<Enqueue<'_>> = chunk.iter().map(|p| Enqueue::new(p)).collect();
                    producer.enqueue_many(&jobs).await.expect("enqueues");
                }
                let until = Instant::now() + Duration::from_secs(120);
                while Instant::now() < until
                    && watching.lock().map(|d| d.len()).unwrap_or(0)
                        < ((batch + 1) * BATCH) as usize
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // The dead tuples now, before this turn reclaims any.
                let dead: i64 = segments(&producer).await.iter().map(|f| f.2).sum();
                if let Ok(mut peaks) = sampled.lock() {
                    peaks.push(dead);
                }
                producer.rotate().await.expect("turns");
            }
        })
        .await;
    // Two more turns: the last segment's rows are done, so it gives way,
    // and then it is emptied.
    for _ in 0..3 {
        queue.rotate().await.expect("turns");
    }

    let done = ledger.lock().expect("a ledger").clone();
    assert_eq!(
        done.len(),
        (BATCHES * BATCH) as usize,
        "none lost: {report}"
    );
    assert!(done.values().all(|&times| times == 1), "none twice");

    // Still pinned: a single table would now hold two dead tuples a job
    // (the claim's update and the acknowledgement), 200,000, for as long as
    // the transaction stays open.
    let oldest = queue
        .health()
        .await
        .expect("reads the health")
        .oldest_transaction
        .expect("the pinning transaction");
    assert!(oldest.age > Duration::ZERO);
    let figures = segments(&queue).await;
    let peaks = peaks.lock().expect("samples").clone();
    println!(
        "with the horizon pinned: dead tuples after each batch {peaks:?}, at the end {figures:?}"
    );
    assert_eq!(peaks.len(), BATCHES as usize);
    // Each batch's claims and acknowledgements leave two dead tuples a job
    // until their segment is emptied: the peak stays within a few batches'
    // worth, however many jobs went through. Three, not two: on a loaded
    // machine a turn can come a batch late (CI saw 8,821 once, against
    // 8,000); a single table reaches 200,000 here.
    assert!(
        peaks.iter().all(|&dead| dead <= 3 * 2 * i64::from(BATCH)),
        "dead tuples are bounded by the segments' size, not the jobs done: {peaks:?}"
    );
    let dead: i64 = figures.iter().map(|f| f.2).sum();
    let live: i64 = figures.iter().map(|f| f.1).sum();
    assert_eq!(live, 0, "{figures:?}");
    assert!(
        dead <= 2 * 2 * i64::from(BATCH),
        "dead tuples are bounded by the segment's size, not the jobs done: {figures:?}"
    );
    let bytes: i64 = figures.iter().map(|f| f.3).sum();
    assert!(
        bytes < 2 * 1024 * 1024,
        "the segments stay small: {figures:?}"
    );

    // And a claim of the empty queue touches a handful of buffers.
    let claim = queue.health().await.expect("reads the health").claim;
    assert!(
        claim.buffers <= 64,
        "a claim of the empty queue does not walk past the jobs done: {claim:?}"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("ends");
    drop(queue);
    schema.remove().await;
}

#[tokio::test]
async fn a_retired_segment_moves_its_waiting_rows_and_keeps_its_running_ones() {
    let schema = Schema::fresh("segments_move").await;
    let queue = schema.queue().await;
    // A segment gives way after 3 rows, never on time alone.
    rotate_after(&queue, 3).await;
    let later = SystemTime::now() + Duration::from_secs(3600);
    let running = queue
        .enqueue(Enqueue::new(&payload(1)))
        .await
        .expect("enqueues");
    let mut scheduled = Vec::new();
    for n in 2..5 {
        let bytes = payload(n);
        let id = queue
            .enqueue(Enqueue::new(&bytes).at(later))
            .await
            .expect("enqueues");
        scheduled.push((id, bytes));
    }
    let claimed = claim_one(&queue).await;
    let segment_of = |id: i64| {
        let pool = queue.pool().clone();
        async move {
            sqlx::query_scalar::<_, i16>("SELECT segment FROM jobwire_jobs WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("a row")
        }
    };
    let first = segment_of(running.id).await;

    // Four rows went in: a turn makes another segment current, and the next
    // moves the waiting rows there (the queue's own turns, every second,
    // may do either first).
    let moved = scheduled.iter().map(|(id, _)| id.id).collect::<Vec<_>>();
    assert!(
        turn_until(&queue, |pool| {
            let moved = moved.clone();
            async move {
                sqlx::query_scalar::<_, bool>(
                    "SELECT bool_and(segment = (SELECT current FROM jobwire_rotation))
                     FROM jobwire_jobs WHERE id = ANY($1)",
                )
                .bind(moved)
                .fetch_one(&pool)
                .await
                .unwrap_or(false)
            }
        })
        .await,
        "the waiting rows moved to the current segment"
    );
    for (id, bytes) in &scheduled {
        let (segment, stored, wait): (i16, Vec<u8>, String) =
            sqlx::query_as("SELECT segment, payload, wait FROM jobwire_jobs WHERE id = $1")
                .bind(id.id)
                .fetch_one(queue.pool())
                .await
                .expect("the same id");
        assert_ne!(segment, first, "moved");
        assert_eq!(&stored, bytes, "to the byte");
        assert_eq!(wait, "new");
    }
    // The running claim stayed, and its segment is not emptied under it.
    let kept = queue.rotate().await.expect("turns");
    assert!(!kept.truncated.contains(&first), "{kept}");
    assert_eq!(segment_of(running.id).await, first);

    // Its fence still holds: the claim settles, once.
    let claim = &claimed[0];
    queue
        .settle(&claim.key, queue.lend(&claim.key), Settlement::Ack)
        .await
        .expect("acknowledged");
    assert!(
        queue
            .settle(&claim.key, queue.lend(&claim.key), Settlement::Ack)
            .await
            .is_err(),
        "a second acknowledgement is fenced"
    );
    // Now its segment is empty, and emptied.
    assert!(
        turn_until(&queue, move |pool| emptied(pool, first)).await,
        "the retired segment is truncated"
    );
    // The moved rows are all there.
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
        .fetch_one(queue.pool())
        .await
        .expect("counts");
    assert_eq!(left, 3);
    drop(queue);
    schema.remove().await;
}

#[tokio::test]
async fn a_long_reader_delays_the_emptying_never_a_claim() {
    let schema = Schema::fresh("segments_reader").await;
    let queue = schema.queue().await;
    rotate_after(&queue, 2).await;
    // A reporting query in a REPEATABLE READ transaction, begun before
    // segment 0 fills: it holds a lock on every segment until it ends.
    let mut reader = sqlx::PgConnection::connect_with(&schema.options())
        .await
        .expect("connects");
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut reader)
        .await
        .expect("begins");
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
        .fetch_one(&mut reader)
        .await
        .expect("reads");

    for n in 0..2 {
        queue
            .enqueue(Enqueue::new(&payload(n)))
            .await
            .expect("enqueues");
    }
    sqlx::query("DELETE FROM jobwire_jobs")
        .execute(queue.pool())
        .await
        .expect("done");
    assert!(
        turn_until(&queue, |pool| async move {
            sqlx::query_scalar::<_, i16>("SELECT current FROM jobwire_rotation")
                .fetch_one(&pool)
                .await
                .is_ok_and(|current| current != 0)
        })
        .await,
        "segment 0 is retired"
    );

    // The turn returns (it takes the lock only if it is free at once)
    // instead of queueing every claim behind it, and vacuums the segment
    // instead.
    // (The queue's own turn, each second, may hold the turn's lock: then
    // this one is `busy`, and is asked again.)
    let mut blocked = queue.rotate().await.expect("turns");
    for _ in 0..100 {
        if !blocked.busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        blocked = queue.rotate().await.expect("turns");
    }
    assert!(!blocked.busy, "a turn of this test's own: {blocked}");
    assert!(blocked.truncated.is_empty(), "{blocked}");
    assert!(
        blocked.vacuumed.contains(&0),
        "the held segment is vacuumed instead: {blocked}"
    );
    assert!(
        !emptied(queue.pool().clone(), 0).await,
        "held by the reader"
    );
    // Claims go on while the reader holds its lock.
    queue
        .enqueue(Enqueue::new(&payload(9)))
        .await
        .expect("enqueues");
    claim_one(&queue).await;

    sqlx::query("COMMIT")
        .execute(&mut reader)
        .await
        .expect("ends");
    assert!(
        turn_until(&queue, |pool| emptied(pool, 0)).await,
        "emptied once the reader is gone"
    );
    drop(queue);
    schema.remove().await;
}
