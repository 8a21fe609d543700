//! The console over the PostgreSQL queue: the same table as `waiting()`,
//! the jobs and their last errors, and the table health on `/health` and
//! in `/metrics` (one gauge per segment and per table).

use super::schema::Schema;
use super::seed::{call, fill, get};
use axum::http::StatusCode;
use jobwire::console::Console;
use std::time::Duration;

#[tokio::test]
async fn the_console_reads_a_postgres_queue_and_its_table_health() {
    let schema = Schema::fresh("console").await;
    let queue = schema.queue().await;
    fill(&queue).await;
    let dead = queue.dead_letters().await.expect("reads");
    let fax = dead
        .iter()
        .find(|d| d.version.as_deref() == Some("1.1.0"))
        .expect("the 1.1.0 fax");
    assert!(queue.requeue_dead(fax.id).await.expect("requeues"));
    let app = Console::new(queue.clone())
        .with_interval(Duration::from_millis(100))
        .router();

    let (status, body, _) = call(&app, get("/api/waiting")).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON rows");
    let waiting = queue.waiting().await.expect("reads");
    assert_eq!(rows.len(), waiting.len(), "{body}");
    for (row, w) in rows.iter().zip(&waiting) {
        assert_eq!(row["job"].as_str(), w.job.as_deref());
        assert_eq!(row["count"].as_u64(), Some(w.count));
    }

    let (_, page, _) = call(&app, get("/jobs?job=user.welcome_fax")).await;
    assert!(page.contains("requeued from the dead letters (#"), "{page}");

    // The sampler reads the table health at its first turn.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = call(&app, get("/metrics")).await.1;
        if metrics.contains("jobwire_postgres_dead_tuples") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for table in ["jobwire_jobs", "jobwire_jobs_0", "jobwire_dead"] {
        assert!(
            metrics.contains(&format!(
                r#"jobwire_postgres_dead_tuples{{jobwire_table="{table}"}}"#
            )),
            "{table}'s dead tuples in /metrics:\n{metrics}"
        );
    }
    let (_, page, _) = call(&app, get("/health")).await;
    assert!(
        page.contains(r#"<table id="tables">"#) && page.contains("jobwire_jobs_0"),
        "{page}"
    );
    drop(app);
    schema.remove().await;
}
