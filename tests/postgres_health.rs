//! `Postgres::health` and `jobwire health` against a live queue on a real
//! server: the depth of each queue per place, exactly; the tables with
//! their dead tuples; a transaction that pins VACUUM's horizon, named with
//! its pid; the claim walking past the dead rows that transaction keeps;
//! and the command's text, JSON and exit codes.
#![cfg(feature = "postgres")]

mod support;

use jobwire::backend::{Backend, ClaimRequest, Enqueue};
use sqlx::Connection;
use std::process::Command;
use std::time::{Duration, SystemTime};
use support::postgres::Schema;

const PAYLOAD: &[u8] = br#"{"job":"test.health","version":"1.0.0","args":{}}"#;

/// The schema's URL, for the command: its search_path in the options.
fn url(schema: &Schema) -> String {
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    format!(
        "{}{separator}options=-csearch_path%3D{}",
        schema.url, schema.name
    )
}

fn health_command(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_jobwire"))
        .arg("health")
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("runs jobwire");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_queue_reports_its_depth_per_place_and_a_healthy_one_exits_0() {
    let schema = Schema::fresh("health_depth").await;
    let queue = schema.queue().await;
    let later = SystemTime::now() + Duration::from_secs(3600);
    for _ in 0..3 {
        queue
            .enqueue(Enqueue::new(PAYLOAD))
            .await
            .expect("enqueues");
    }
    for _ in 0..2 {
        queue
            .enqueue(Enqueue::new(PAYLOAD).at(later))
            .await
            .expect("enqueues");
    }
    queue
        .enqueue(Enqueue::new(PAYLOAD).queue("mail"))
        .await
        .expect("enqueues");
    let claimed = queue
        .claim(&ClaimRequest::new(
            &["mail"],
            1,
            Duration::from_secs(60),
            "w",
        ))
        .await
        .expect("claims");
    assert_eq!(claimed.len(), 1);
    sqlx::query(
        "INSERT INTO jobwire_dead (job_id, queue, payload, reason, attempt, defers, first_seen, enqueued_at)
         VALUES (1, 'mail', 'x', 'test', 1, 0, now(), now())",
    )
    .execute(queue.pool())
    .await
    .expect("a dead letter");

    let health = queue.health().await.expect("reads the health");
    let depth: Vec<(&str, i64, i64, i64, i64)> = health
        .queues
        .iter()
        .map(|q| (q.queue.as_str(), q.ready, q.scheduled, q.running, q.dead))
        .collect();
    assert_eq!(
        depth,
        vec![("default", 3, 2, 0, 0), ("mail", 0, 0, 1, 1)],
        "{health}"
    );
    let default = &health.queues[0];
    assert!(default.lag.is_some(), "three ready jobs wait: {health}");
    assert!(health.queues[1].lag.is_none(), "nothing ready in mail");
    let names: Vec<&str> = health.tables.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"jobwire_jobs") && names.contains(&"jobwire_dead"));
    assert!(health.tables.iter().all(|t| t.bytes > 0));
    assert!(health.claim.buffers > 0, "the probe read the index");

    let (code, out, err) = health_command(&["--postgres", &url(&schema), "--pinned-after", "1h"]);
    assert_eq!(code, 0, "a healthy queue: {out}{err}");
    assert!(
        out.contains("jobwire_jobs") && out.contains("mail"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    drop(queue);
    schema.remove().await;
}

#[tokio::test]
async fn a_pinned_horizon_is_named_and_its_dead_rows_are_seen() {
    let schema = Schema::fresh("health_pinned").await;
    let queue = schema.queue().await;
    // pgstattuple makes the dead tuple counts exact; without it the
    // statistics are read, which lag.
    let exact = sqlx::query("CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA public")
        .execute(queue.pool())
        .await
        .is_ok();

    // The current segment, held current: it gathers the dead rows until
    // it gives way (tests/postgres_segments.rs shows that part).
    sqlx::query("UPDATE jobwire_rotation SET rotate_after = 1000000000, rotate_every = '1 year'")
        .execute(queue.pool())
        .await
        .expect("tunes");
    let clean = queue.health().await.expect("reads the health").claim;

    // A session that pins the horizon: an open transaction with an xid.
    let mut holder = schema.pin_the_horizon().await;

    // Churn it cannot reclaim: 5,000 jobs enqueued and gone.
    let payloads: Vec<Enqueue<'_>> = (0..5_000).map(|_| Enqueue::new(PAYLOAD)).collect();
    queue.enqueue_many(&payloads).await.expect("enqueues");
    sqlx::query("DELETE FROM jobwire_jobs")
        .execute(queue.pool())
        .await
        .expect("deletes");
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let health = queue.health().await.expect("reads the health");
    let oldest = health
        .oldest_transaction
        .as_ref()
        .expect("an open transaction");
    assert!(oldest.age >= Duration::from_secs(1), "{health}");
    let warnings = health.warnings(Duration::from_secs(1));
    assert!(
        warnings.iter().any(|w| w.contains("has been open for")),
        "{warnings:?}"
    );
    assert!(
        health.claim.buffers >= 5 * clean.buffers.max(1),
        "the claim walks past the 5,000 dead rows ({} buffers clean): {health}",
        clean.buffers
    );
    assert!(
        warnings.iter().any(|w| w.contains("walks past dead rows")),
        "{warnings:?}"
    );
    if exact {
        let jobs = health
            .tables
            .iter()
            .find(|t| t.name == "jobwire_jobs")
            .expect("the jobs table");
        assert_eq!(jobs.source, "pgstattuple");
        assert!(jobs.dead_tuples >= 5_000, "{health}");
        assert_eq!(jobs.live_tuples, 0, "{health}");
    }

    let (code, out, err) = health_command(&[
        "--postgres",
        &url(&schema),
        "--json",
        "--pinned-after",
        "1s",
    ]);
    assert_eq!(code, 1, "warnings exit 1: {out}{err}");
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert!(
        json["health"]["oldest_transaction"]["age"].as_u64() >= Some(1_000),
        "{json}"
    );
    assert!(
        json["warnings"].as_array().is_some_and(|w| !w.is_empty()),
        "{json}"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("ends");
    holder.close().await.expect("closes");
    drop(queue);
    schema.remove().await;
}

#[test]
fn the_command_refuses_what_it_cannot_read() {
    let (code, _, err) = health_command(&[]);
    assert_eq!(code, 2, "no URL: {err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
    let (code, _, err) = health_command(&["--postgres", "postgres://x", "--pinned-after", "soon"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = health_command(&["--postgres", "postgres://127.0.0.1:1/none"]);
    assert_eq!(code, 2, "an unreachable server: {err}");
}

#[tokio::test]
async fn a_database_without_the_queue_is_not_called_healthy() {
    let schema = Schema::fresh("health_empty").await;
    let (code, _, err) = health_command(&["--postgres", &url(&schema)]);
    assert_eq!(code, 2, "no jobwire tables: {err}");
    assert!(err.contains("jobwire_jobs"), "{err}");
    schema.remove().await;
}
