//! What a page of the console costs with a large backlog on PostgreSQL:
//! each route answered in process (the router, without the network), its
//! p50 and p99 against the console's stylesheet (a route that reads
//! nothing) measured in the same run; and what the sampler's one read of
//! the queue costs, the work the pages do not repeat.
//!
//! ```text
//! JOBWIRE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench --features web,postgres --bench console                       # 1,000,000 jobs
//! cargo bench --features web,postgres --bench console -- --jobs 100000 --requests 500
//! cargo test --features web,postgres --bench console -- --smoke               # CI: 10,000 jobs
//! ```
//!
//! A benchmark, not a test: it asserts nothing about time. It works in a
//! schema of its own, dropped at the end.

use axum::body::Body;
use axum::http::Request;
use jobwire::backend::postgres::Postgres;
use jobwire::backend::Enqueue;
use jobwire::console::Console;
use sqlx::postgres::PgConnectOptions;
use std::time::{Duration, Instant};
use tower::ServiceExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    jobs: usize,
    requests: usize,
}

fn options() -> Result<Options, Error> {
    let mut options = Options {
        jobs: 1_000_000,
        requests: 200,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => {
                options = Options {
                    jobs: 10_000,
                    requests: 30,
                }
            }
            "--jobs" => options.jobs = args.next().ok_or("--jobs N")?.parse()?,
            "--requests" => options.requests = args.next().ok_or("--requests N")?.parse()?,
            // What cargo's harnesses pass.
            "--bench" | "--test" | "--nocapture" => {}
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    Ok(options)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let options = options()?;
    let url = std::env::var("JOBWIRE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::PgPool::connect(&url).await?;
    let schema = "jobwire_console_bench";
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .execute(&admin)
    .await?;
    let connect: PgConnectOptions = url.parse()?;
    let queue = Postgres::connect_with(connect.options([("search_path", schema)])).await?;

    let started = Instant::now();
    let names = [
        "user.welcome",
        "user.confirmation",
        "billing.charge",
        "report.generate",
    ];
    let versions = ["1.0.0", "1.1.0", "2.0.0"];
    let payloads: Vec<Vec<u8>> = (0..5_000)
        .map(|n| {
            format!(
                r#"{{"job":"{}","version":"{}","args":{{"n":{n}}}}}"#,
                names[n % names.len()],
                versions[n % versions.len()]
            )
            .into_bytes()
        })
        .collect();
    let mut enqueued = 0;
    while enqueued < options.jobs {
        let take = payloads.len().min(options.jobs - enqueued);
        let batch: Vec<Enqueue<'_>> = payloads[..take].iter().map(|p| Enqueue::new(p)).collect();
        queue.enqueue_many(&batch).await?;
        enqueued += take;
    }
    println!(
        "enqueued {} jobs in {:.1} s",
        options.jobs,
        started.elapsed().as_secs_f64()
    );

    // The read the sampler makes once per interval.
    let mut reads = Vec::new();
    for _ in 0..5 {
        let at = Instant::now();
        let waiting = queue.waiting().await?;
        reads.push(at.elapsed());
        assert!(!waiting.is_empty());
    }
    reads.sort();

    let app = Console::new(queue.clone()).router();
    // The first request reads the queue itself if the sampler has not yet.
    let _ = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty())?)
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let routes = [
        "/console.css",
        "/",
        "/part/deploy",
        "/api/waiting",
        "/metrics",
        "/jobs?job=billing.charge&version=2.0.0",
        "/dead",
        "/gate",
    ];
    let mut results = Vec::new();
    for route in routes {
        let mut times = Vec::with_capacity(options.requests);
        for _ in 0..options.requests {
            let at = Instant::now();
            let response = app
                .clone()
                .oneshot(Request::get(route).body(Body::empty())?)
                .await?;
            let _ = axum::body::to_bytes(response.into_body(), 64 << 20).await?;
            times.push(at.elapsed());
        }
        times.sort();
        results.push((route, quantile(&times, 0.5), quantile(&times, 0.99)));
    }
    let base = results
        .first()
        .map_or(Duration::from_micros(1), |r| r.1)
        .max(Duration::from_micros(1));
    println!(
        "\n{} jobs waiting on PostgreSQL, {} requests per route, in process",
        options.jobs, options.requests
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "route", "p50 ms", "p99 ms", "p50 / css"
    );
    for (route, p50, p99) in &results {
        println!(
            "{:<44} {:>10.3} {:>10.3} {:>12.1}",
            route,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            p50.as_secs_f64() / base.as_secs_f64()
        );
    }
    println!(
        "{:<44} {:>10.1} {:>10.1}   (once per interval, by the sampler)",
        "the sampler's read of the queue (waiting())",
        quantile(&reads, 0.5).as_secs_f64() * 1e3,
        quantile(&reads, 1.0).as_secs_f64() * 1e3
    );
    drop(app);
    drop(queue);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await?;
    Ok(())
}
