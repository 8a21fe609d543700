//! Enqueueing on PostgreSQL inside the application's own transaction, one
//! job or many in one statement: the jobs commit with the application's
//! data, or roll back with it, and what commits is performed. A real
//! server, a real worker.
#![cfg(feature = "postgres")]

mod support;

use jobwire::backend::postgres::Postgres;
use jobwire::backend::Enqueue;
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct Welcome {
    user: i64,
}

impl Job for Welcome {
    const NAME: &'static str = "test.welcome";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<AtomicU64>;
    type Data = jobwire::backend::postgres::Tx;
    async fn perform(
        self,
        ctx: &mut Context<'_, Arc<AtomicU64>, jobwire::backend::postgres::Tx>,
    ) -> Result<(), HandlerError> {
        ctx.state().fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn welcome(user: i64) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Welcome { user })
        .expect("seals")
}

async fn waiting(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
        .fetch_one(pool)
        .await
        .expect("counts")
}

#[tokio::test]
async fn jobs_commit_and_roll_back_with_the_applications_transaction() {
    let schema = support::postgres::Schema::fresh("enqueue").await;
    let queue = schema.queue().await;
    let pool = queue.pool().clone();
    sqlx::query("CREATE TABLE users (id BIGINT PRIMARY KEY)")
        .execute(&pool)
        .await
        .expect("the app's table");

    // One job, in a transaction that rolls back: neither the user nor the job.
    let mut tx = pool.begin().await.expect("begins");
    sqlx::query("INSERT INTO users VALUES (1)")
        .execute(&mut *tx)
        .await
        .expect("app write");
    Postgres::enqueue_in(&mut *tx, Enqueue::new(&welcome(1)))
        .await
        .expect("enqueues");
    tx.rollback().await.expect("rolls back");
    assert_eq!(
        waiting(&pool).await,
        0,
        "the job rolled back with the app's data"
    );

    // Committed: both.
    let mut tx = pool.begin().await.expect("begins");
    sqlx::query("INSERT INTO users VALUES (2)")
        .execute(&mut *tx)
        .await
        .expect("app write");
    let one = Postgres::enqueue_in(&mut *tx, Enqueue::new(&welcome(2)))
        .await
        .expect("enqueues");
    tx.commit().await.expect("commits");
    assert_eq!(waiting(&pool).await, 1);

    // Many in one statement, rolled back, then committed.
    let payloads: Vec<Vec<u8>> = (100..1_100).map(welcome).collect();
    let jobs: Vec<Enqueue<'_>> = payloads.iter().map(|p| Enqueue::new(p)).collect();
    let mut tx = pool.begin().await.expect("begins");
    let ids = Postgres::enqueue_many_in(&mut *tx, &jobs)
        .await
        .expect("enqueues many");
    assert_eq!(ids.len(), 1_000);
    tx.rollback().await.expect("rolls back");
    assert_eq!(waiting(&pool).await, 1, "all of them rolled back");
    let ids = queue.enqueue_many(&jobs).await.expect("enqueues many");
    assert!(ids.iter().all(|id| id.id > one.id));
    // In the order given: each id holds its own payload.
    for (at, id) in [0_usize, 1, 499, 999].map(|at| (at, ids[at])) {
        let stored: Vec<u8> = sqlx::query_scalar("SELECT payload FROM jobwire_jobs WHERE id = $1")
            .bind(id.id)
            .fetch_one(&pool)
            .await
            .expect("reads");
        assert_eq!(stored, payloads[at], "job #{at}");
    }
    // Their header columns are filled, for the gate and for drain.
    let named: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobwire_jobs WHERE job = 'test.welcome' AND version = '1.0.0'",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(named, 1_001);
    assert!(queue.enqueue_many(&[]).await.expect("nothing").is_empty());

    // What committed is performed.
    let performed = Arc::new(AtomicU64::new(0));
    let router = Router::builder()
        .lending::<jobwire::backend::postgres::Tx>()
        .job::<Welcome>()
        .state(Arc::clone(&performed))
        .build()
        .expect("builds");
    let report = Worker::new(queue.clone(), router)
        .concurrency(8)
        .drain()
        .await;
    assert_eq!(report.performed, 1_001, "{report}");
    assert_eq!(performed.load(Ordering::Relaxed), 1_001);
    drop(queue);
    schema.remove().await;
}
