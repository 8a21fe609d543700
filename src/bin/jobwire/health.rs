//! `jobwire health`: how the PostgreSQL queue is doing, for a person or,
//! with `--json`, a script.

use jobwire::backend::postgres::Postgres;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: jobwire health [--postgres URL] [--json] [--pinned-after DURATION]

  the PostgreSQL queue's tables (live and dead tuples, size), the oldest open
  transaction in the cluster, what a claim of the queues' heads costs now, and
  each queue's depth per place and lag; then what to act on
  --postgres URL            the queue's database (default: $DATABASE_URL); a
                            search_path in the URL's options picks the schema
  --json                    one JSON object: the figures and the warnings
  --pinned-after DURATION   warn about a transaction open this long (default 60s)

exit codes: 0 healthy, 1 a warning was given, 2 misuse, or the queue could not be read";

/// `jobwire health ARGS`: `raw` is what follows `health`.
pub fn main(raw: &[String]) -> ExitCode {
    let mut url = std::env::var("DATABASE_URL").ok();
    let mut json = false;
    let mut pinned_after = Duration::from_secs(60);
    let mut args = raw.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--json" => json = true,
            "--postgres" => match args.next() {
                Some(value) => url = Some(value.clone()),
                None => return misuse("--postgres needs a URL"),
            },
            "--pinned-after" => match args.next().and_then(|text| crate::duration(text)) {
                Some(parsed) => pinned_after = parsed,
                None => return misuse("--pinned-after needs a duration (30s, 10m, 1h)"),
            },
            other => return misuse(&format!("unknown argument `{other}`")),
        }
    }
    let Some(url) = url else {
        return misuse("give the queue: --postgres URL (or set DATABASE_URL)");
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return misuse(&error.to_string()),
    };
    let health = runtime.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await?;
        let health = Postgres::health_of(&pool).await;
        pool.close().await;
        health
    });
    let health = match health {
        Ok(health) => health,
        Err(error) => {
            note!("jobwire health: {error}");
            return ExitCode::from(2);
        }
    };
    if !health.tables.iter().any(|t| t.name == "jobwire_jobs") {
        note!("jobwire health: no jobwire_jobs table in this database's search_path (give the schema: ?options=-csearch_path%3DNAME)");
        return ExitCode::from(2);
    }
    let warnings = health.warnings(pinned_after);
    if json {
        let value = serde_json::json!({ "health": health, "warnings": warnings });
        println!("{value}");
    } else {
        print!("{health}");
        for warning in &warnings {
            println!("\nwarning: {warning}");
        }
    }
    if warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn misuse(message: &str) -> ExitCode {
    note!("jobwire health: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
