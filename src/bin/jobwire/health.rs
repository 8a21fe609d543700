//! `jobwire health`: how the PostgreSQL queue is doing, for a person or,
//! with `--json`, a script.

use jobwire::backend::postgres::Postgres;
use std::process::ExitCode;
use std::time::Duration;

/// `jobwire health`.
pub fn main(url: Option<String>, json: bool, pinned_after: Duration) -> ExitCode {
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
    note!("jobwire health: {message} (see `jobwire health --help`)");
    ExitCode::from(2)
}
