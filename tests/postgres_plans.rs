//! The PostgreSQL queue's hot statements use an index on a large backlog:
//! the claim reads each queue's head in index order (no sort of every
//! ready row, no sequential scan), and the acknowledgement finds its row by
//! its key. Checked with `EXPLAIN` on a real server, 100,000 ready jobs in
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
    use sqlx::Row;
    let row = explain.fetch_one(pool).await.expect("explains");
    let text: Value = row
        .try_get::<sqlx::types::Json<Value>, _>(0)
        .expect("a JSON plan")
        .0;
    let mut out = Vec::new();
    nodes(&text[0]["Plan"], &mut out);
    out
}

fn uses_index(nodes: &[Value], index: &str) -> bool {
    nodes.iter().any(|node| {
        node["Index Name"].as_str() == Some(index)
            && node["Relation Name"].as_str() == Some("jobwire_jobs")
    })
}

fn scans_sequentially(nodes: &[Value]) -> bool {
    nodes.iter().any(|node| {
        node["Node Type"].as_str() == Some("Seq Scan")
            && node["Relation Name"].as_str() == Some("jobwire_jobs")
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
            uses_index(&claim, "jobwire_jobs_claimable") && !scans_sequentially(&claim),
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
            uses_index(&ack, "jobwire_jobs_pkey") && !scans_sequentially(&ack),
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
            uses_index(&group, "jobwire_jobs_pkey") && !scans_sequentially(&group),
            "a group acknowledgement finds each row by key: {group:#?}"
        );
    }
    drop(queue);
    schema.remove().await;
}
