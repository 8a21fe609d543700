//! The PostgreSQL queue's hot statements use an index on a large backlog:
//! the claim reads each queue's head in index order (no sort of every
//! ready row, no sequential scan), and the acknowledgement finds its row by
//! its key; the console's jobs page reads keys in order. Checked with `EXPLAIN` on a real server, 100,000 ready jobs in
//! two queues, as loaded (no `ANALYZE`: this project's servers run without
//! autovacuum, as a busy queue may) and after `ANALYZE`.
#![cfg(feature = "postgres")]

mod support;

use jobwire::backend::postgres::Postgres;
use serde_json::Value;

/// Every node of a JSON plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for child in children {
            nodes(child, out);
        }
    }
}

/// The plan of an `EXPLAIN (FORMAT JSON)` query, as a list of nodes.
async fn plan(
    pool: &sqlx::PgPool,
    explain: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Vec<Value> {
    let mut conn = pool.acquire().await.expect("a connection");
    plan_in(&mut conn, explain).await
}

/// The plan of an `EXPLAIN` run on `conn` (inside a transaction).
async fn plan_in(
    conn: &mut sqlx::PgConnection,
    explain: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Vec<Value> {
    use sqlx::Row;
    let row = explain.fetch_one(conn).await.expect("explains");
    let text: Value = row
        .try_get::<sqlx::types::Json<Value>, _>(0)
        .expect("a JSON plan")
        .0;
    let mut out = Vec::new();
    nodes(&text[0]["Plan"], &mut out);
    out
}

/// `jobwire_jobs` or one of its segments (`jobwire_jobs_0`, ...).
fn is_jobs_table(name: Option<&str>) -> bool {
    name.is_some_and(|name| {
        name == "jobwire_jobs"
            || name
                .strip_prefix("jobwire_jobs_")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Whether the plan reads the index `index` of `jobwire_jobs` (`claimable`
/// or `pkey`), or that index on a segment (PostgreSQL names a segment's
/// copy of the claim index `jobwire_jobs_N_queue_run_at_id_idx`).
fn uses_index(nodes: &[Value], index: &str) -> bool {
    nodes.iter().any(|node| {
        let name = node["Index Name"].as_str().unwrap_or("");
        // A bitmap index scan names no relation: the index's name does.
        let table = name
            .strip_suffix("_queue_run_at_id_idx")
            .or_else(|| name.strip_suffix("_pkey"));
        match index {
            "claimable" => {
                name == "jobwire_jobs_claimable"
                    || (name.ends_with("_queue_run_at_id_idx") && is_jobs_table(table))
            }
            _ => name.ends_with("_pkey") && is_jobs_table(table),
        }
    })
}

/// Whether the plan reads a table of the queue that holds rows from end to
/// end. The empty segments (truncated: no page at all) may be read so; the
/// planner is right that it costs nothing.
fn scans_sequentially(nodes: &[Value], holding: &[String]) -> bool {
    nodes.iter().any(|node| {
        node["Node Type"].as_str() == Some("Seq Scan")
            && is_jobs_table(node["Relation Name"].as_str())
            && node["Relation Name"]
                .as_str()
                .is_some_and(|name| name == "jobwire_jobs" || holding.iter().any(|h| h == name))
    })
}

#[tokio::test]
async fn the_hot_statements_use_an_index_on_a_large_backlog() {
    let schema = support::postgres::Schema::fresh("plans").await;
    let queue = schema.queue().await;
    let pool = queue.pool();
    sqlx::query(
        "INSERT INTO jobwire_jobs (queue, job, version, payload, run_at)
         SELECT CASE WHEN g % 2 = 0 THEN 'default' ELSE 'mail' END, 'bench.tick', '1.0.0', '\\x00',
                now() - g * interval '1 millisecond'
         FROM generate_series(1, 100000) AS g",
    )
    .execute(pool)
    .await
    .expect("a backlog");
    // The segments that hold the backlog.
    let holding: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT 'jobwire_jobs_' || segment FROM jobwire_jobs")
            .fetch_all(pool)
            .await
            .expect("the segments");
    assert!(!holding.is_empty());
    for analyzed in [false, true] {
        if analyzed {
            sqlx::query("ANALYZE jobwire_jobs")
                .execute(pool)
                .await
                .expect("analyzes");
        }
        let queues = vec!["default".to_owned(), "mail".to_owned()];
        let skipped: Vec<String> = vec!["billing.settle".to_owned()];
        let explain = format!("EXPLAIN (FORMAT JSON) {}", Postgres::CLAIM);
        let claim = plan(
            pool,
            sqlx::query(sqlx::AssertSqlSafe(explain.as_str()))
                .bind(&queues)
                .bind(&skipped)
                .bind(8_i64)
                .bind(30_000_i64)
                .bind("explain"),
        )
        .await;
        assert!(
            uses_index(&claim, "claimable") && !scans_sequentially(&claim, &holding),
            "the claim reads the claim index (analyzed: {analyzed}): {claim:#?}"
        );
        // The only sort is of the queues' heads: at most 8 rows a queue.
        for node in claim
            .iter()
            .filter(|n| n["Node Type"].as_str() == Some("Sort"))
        {
            assert!(
                node["Plan Rows"].as_f64().unwrap_or(f64::MAX) <= 16.0,
                "a sort of the heads only: {node:#?}"
            );
        }
        let explain = format!("EXPLAIN (FORMAT JSON) {}", Postgres::ACK);
        let ack = plan(
            pool,
            sqlx::query(sqlx::AssertSqlSafe(explain.as_str()))
                .bind(50_000_i64)
                .bind(1_i64),
        )
        .await;
        assert!(
            uses_index(&ack, "pkey") && !scans_sequentially(&ack, &holding),
            "the acknowledgement finds its row by key: {ack:#?}"
        );
        // A group of 32 acknowledgements, as a busy worker sends them.
        let ids: Vec<i64> = (0..32).map(|i| 1_000 + i * 3_000).collect();
        let epochs: Vec<i64> = vec![1; ids.len()];
        let explain = format!("EXPLAIN (FORMAT JSON) {}", Postgres::ACK_MANY);
        let group = plan(
            pool,
            sqlx::query(sqlx::AssertSqlSafe(explain.as_str()))
                .bind(&ids)
                .bind(&epochs),
        )
        .await;
        assert!(
            uses_index(&group, "pkey") && !scans_sequentially(&group, &holding),
            "a group acknowledgement finds each row by key: {group:#?}"
        );
        // The console's jobs page: the oldest 500 of a job, in key order,
        // as `Postgres::jobs` runs it (after `JOBS_PLAN`, in a
        // transaction). Run (ANALYZE): what matters is how many rows it
        // reads, whatever the planner estimates.
        for name in [Some("bench.tick"), None] {
            let mut tx = pool.begin().await.expect("begins");
            sqlx::query(Postgres::JOBS_PLAN)
                .execute(&mut *tx)
                .await
                .expect("sets the plan");
            let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", Postgres::JOBS);
            let jobs = plan_in(
                &mut tx,
                sqlx::query(sqlx::AssertSqlSafe(explain.as_str()))
                    .bind(name)
                    .bind(500_i64),
            )
            .await;
            tx.rollback().await.expect("ends");
            assert!(
                uses_index(&jobs, "pkey") && !scans_sequentially(&jobs, &holding),
                "the jobs page reads the keys in order ({name:?}): {jobs:#?}"
            );
            // It stops at the limit: no sort of the backlog, and the index
            // scans read the rows they return and the few they filter out.
            let read: f64 = jobs
                .iter()
                .filter(|n| n["Node Type"].as_str() == Some("Index Scan"))
                .map(|n| {
                    (n["Actual Rows"].as_f64().unwrap_or(f64::MAX)
                        + n["Rows Removed by Filter"].as_f64().unwrap_or(0.0))
                        * n["Actual Loops"].as_f64().unwrap_or(f64::MAX)
                })
                .sum();
            let sorts = jobs.iter().any(|n| n["Node Type"].as_str() == Some("Sort"));
            assert!(
                read <= 2.0 * 500.0 && !sorts,
                "the listing stops at the limit ({name:?}): {read} rows read: {jobs:#?}"
            );
        }
    }
    drop(queue);
    schema.remove().await;
}
