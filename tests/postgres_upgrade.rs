//! Upgrading a live 0.2 PostgreSQL queue: its schema (`schema_0_2.sql`, as
//! 0.2 shipped it) holds jobs in every state a 0.2 fleet leaves behind, and
//! a worker of this build connects, upgrades it, and performs every one
//! that is due, none lost and none twice, with the dead letters kept to the
//! byte. The schema versions are checked at connect: a build older than the
//! queue's schema is refused with a typed error, unless the newer schema
//! says that build may still use it.
#![cfg(feature = "postgres")]

mod support;

use jobwire::backend::postgres::{Postgres, SchemaTooNew, Tx};
use jobwire::worker::Worker;
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::postgres::Schema;

#[derive(Serialize, Deserialize)]
struct Upgraded {
    n: i64,
}

impl Job for Upgraded {
    const NAME: &'static str = "test.upgraded";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<Mutex<Vec<i64>>>;
    type Data = Tx;
    async fn perform(
        self,
        ctx: &mut Context<'_, Arc<Mutex<Vec<i64>>>, Tx>,
    ) -> Result<(), HandlerError> {
        if let Ok(mut done) = ctx.state().lock() {
            done.push(self.n);
        }
        Ok(())
    }
}

fn payload(n: i64) -> Vec<u8> {
    Producer::new(WritePolicy::Current)
        .seal(&Upgraded { n })
        .expect("seals")
}

/// Rows as a 0.2 fleet leaves them, by what 0.2's own statements write:
/// (n, state, wait, run_at offset in ms, attempt, epoch).
const ROWS: [(i64, &str, &str, i64, i32, i64); 7] = [
    (1, "ready", "new", 0, 0, 0),
    (2, "ready", "new", -60_000, 0, 0),
    (3, "ready", "retrying", -1_000, 1, 1),
    (4, "ready", "deferred", 1_500, 0, 1),
    (5, "ready", "snoozed", 2_000, 0, 2),
    // A 0.2 worker killed mid-job: its lease ran out.
    (6, "running", "new", -5_000, 0, 1),
    // A 0.2 worker still holding its lease for two seconds more.
    (7, "running", "new", 2_000, 0, 1),
];

async fn seed_0_2(schema: &Schema) -> sqlx::PgPool {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(schema.options())
        .await
        .expect("connects");
    sqlx::raw_sql(include_str!("postgres_upgrade/schema_0_2.sql"))
        .execute(&pool)
        .await
        .expect("0.2's schema");
    for row in ROWS {
        insert_0_2(&pool, row).await;
    }
    // A dead letter whose bytes are not even UTF-8.
    sqlx::query(
        "INSERT INTO jobwire_dead (job_id, queue, payload, reason, attempt, defers, first_seen, enqueued_at)
         VALUES (99, 'default', '\\xff00fe'::bytea, 'not an envelope', 1, 0, now(), now())",
    )
    .execute(&pool)
    .await
    .expect("a 0.2 dead letter");
    pool
}

/// A row as 0.2's statements write it (a prepared statement, which the
/// pool keeps).
async fn insert_0_2(pool: &sqlx::PgPool, row: (i64, &str, &str, i64, i32, i64)) {
    let (n, state, wait, offset, attempt, epoch) = row;
    sqlx::query(
        "INSERT INTO jobwire_jobs (payload, state, wait, run_at, attempt, epoch, worker)
         VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond', $5, $6,
                 CASE WHEN $2 = 'running' THEN 'old-worker' END)",
    )
    .bind(payload(n))
    .bind(state)
    .bind(wait)
    .bind(offset)
    .bind(attempt)
    .bind(epoch)
    .execute(pool)
    .await
    .expect("a 0.2 row");
}

#[tokio::test]
async fn a_live_0_2_queue_is_upgraded_and_every_job_is_performed_once() {
    let schema = Schema::fresh("upgrade_0_2").await;
    let old = seed_0_2(&schema).await;
    let version: i32 = sqlx::query_scalar("SELECT max(version) FROM jobwire_schema")
        .fetch_one(&old)
        .await
        .expect("reads");
    assert_eq!(version, 1, "0.2's schema");

    let queue = schema.queue().await;
    let (version, readable_from): (i32, Option<i32>) = sqlx::query_as(
        "SELECT version, readable_from FROM jobwire_schema ORDER BY version DESC LIMIT 1",
    )
    .fetch_one(queue.pool())
    .await
    .expect("reads");
    assert_eq!(
        (version, readable_from),
        (3, Some(1)),
        "upgraded to the segments, 0.2 still welcome"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
        .fetch_one(queue.pool())
        .await
        .expect("counts");
    assert_eq!(count, 7, "the upgrade moved no job");
    // 0.2's own statements still work on the upgraded table: its claim
    // names its columns, and the new one has a default.
    let claimed: i64 = sqlx::query_scalar(
        "UPDATE jobwire_jobs SET epoch = epoch WHERE state = 'ready' AND id = (SELECT min(id) FROM jobwire_jobs) RETURNING id",
    )
    .fetch_one(&old)
    .await
    .expect("0.2 writes on");
    assert!(claimed > 0);
    // And the statement 0.2 prepared before the upgrade, on the table that
    // was there then, now inserts into the segments.
    insert_0_2(&old, (8, "ready", "new", 0, 0, 0)).await;
    let segments: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('jobwire_jobs')",
    )
    .fetch_one(queue.pool())
    .await
    .expect("counts");
    assert_eq!(segments, 4, "jobwire_jobs is partitioned into its segments");

    let done: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let router = Router::builder()
        .lending::<Tx>()
        .job::<Upgraded>()
        .state(Arc::clone(&done))
        .build()
        .expect("builds");
    let watching = Arc::clone(&done);
    let report = Worker::new(queue.clone(), router)
        .concurrency(2)
        .poll_interval(Duration::from_millis(50))
        .lease(Duration::from_secs(5))
        .run(async move {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until {
                if watching.lock().map(|d| d.len()).unwrap_or(0) > ROWS.len() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        })
        .await;
    let mut performed = done.lock().expect("a ledger").clone();
    performed.sort_unstable();
    assert_eq!(
        performed,
        vec![1, 2, 3, 4, 5, 6, 7, 8],
        "none lost, none twice"
    );
    assert_eq!(report.dead_lettered, 0);

    let dead = queue.dead_letters().await.expect("reads the dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"\xff\x00\xfe", "kept to the byte");

    old.close().await;
    drop(queue);
    schema.remove().await;
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused_unless_it_says_otherwise() {
    let schema = Schema::fresh("upgrade_newer").await;
    let queue = schema.queue().await;
    // A future jobwire's migration: version 4, readable from version 4.
    sqlx::query("INSERT INTO jobwire_schema (version, readable_from) VALUES (4, 4)")
        .execute(queue.pool())
        .await
        .expect("a newer version");
    match Postgres::connect_with(schema.options()).await {
        Err(sqlx::Error::Configuration(error)) => {
            let too_new = error
                .downcast_ref::<SchemaTooNew>()
                .unwrap_or_else(|| panic!("a SchemaTooNew: {error}"));
            assert_eq!((too_new.found, too_new.supported), (4, 3));
            assert_eq!(too_new.readable_from, Some(4));
            assert!(error.to_string().contains("run a newer jobwire"), "{error}");
        }
        Err(other) => panic!("the wrong error: {other}"),
        Ok(_) => panic!("an old build went on with a newer schema"),
    }
    // Version 4 says version 3's code may still use it: this build goes on.
    sqlx::query("UPDATE jobwire_schema SET readable_from = 3 WHERE version = 4")
        .execute(queue.pool())
        .await
        .expect("compatible");
    let again = Postgres::connect_with(schema.options()).await;
    assert!(again.is_ok(), "{:?}", again.err());
    drop(again);
    drop(queue);
    schema.remove().await;
}
