//! How the PostgreSQL queue is doing: its tables' live and dead tuples and
//! size, the oldest open transaction in the cluster (the one that pins
//! VACUUM's horizon), what a claim costs right now, and the depth of each
//! queue. Read-only: it takes no lock and writes nothing, so it is safe to
//! run against a busy queue, as often as a dashboard likes.
//!
//! ```no_run
//! # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
//! use std::time::Duration;
//! let health = queue.health().await?;
//! print!("{health}");
//! for warning in health.warnings(Duration::from_secs(60)) {
//!     eprintln!("warning: {warning}");
//! }
//! # Ok(())
//! # }
//! ```

use serde::Serialize;
use sqlx::postgres::PgPool;
use sqlx::Row;
use std::fmt;
use std::time::Duration;

/// The queue's tables, those that exist in the connection's `search_path`.
const TABLES: [&str; 4] = [
    "jobwire_jobs",
    "jobwire_dead",
    "jobwire_gate_passes",
    "jobwire_gate_opened",
];

/// Dead tuples in `jobwire_jobs` from which a warning is given, unless the
/// live ones are more numerous still (ten times fewer dead than live is
/// ordinary churn).
const DEAD_TUPLES_WARNING: i64 = 10_000;

/// Buffers the probe may touch per queue before a warning is given: ten
/// rows at an index-ordered head take a few index pages and at most ten heap
/// pages, whatever the backlog.
const CLAIM_BUFFERS_PER_QUEUE: i64 = 32;

/// A snapshot of the queue's health. Its `Display` is the text `jobwire
/// health` prints; it serializes to the JSON of `jobwire health --json`.
///
/// ```no_run
/// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
/// let health = queue.health().await?;
/// let jobs = health.tables.iter().find(|t| t.name == "jobwire_jobs");
/// println!("{:?}", jobs.map(|t| t.dead_tuples));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// Each of the queue's tables.
    pub tables: Vec<TableHealth>,
    /// The oldest transaction open in the cluster, if any but this one.
    pub oldest_transaction: Option<OldestTransaction>,
    /// What claiming the queues' heads costs now.
    pub claim: ClaimProbe,
    /// Each queue's jobs, per place.
    pub queues: Vec<QueueDepth>,
}

/// One table's figures.
///
/// ```
/// # fn demo(table: &jobwire::backend::postgres::TableHealth) {
/// println!("{}: {} dead of {}", table.name, table.dead_tuples, table.live_tuples + table.dead_tuples);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableHealth {
    /// The table's name.
    pub name: String,
    /// Live tuples.
    pub live_tuples: i64,
    /// Dead tuples: deleted or updated rows whose space is not reclaimed yet.
    pub dead_tuples: i64,
    /// The table's size on disk, its indexes and TOAST included.
    pub bytes: i64,
    /// Where the tuple counts come from: `pgstattuple` (exact: the table is
    /// read) when that extension is installed, else `statistics`
    /// (`pg_stat_user_tables`: cheap, and up to a few seconds behind).
    pub source: &'static str,
}

/// The oldest transaction open in the cluster: while it stays open, nothing
/// that died after it began can be reclaimed, in any table.
///
/// ```
/// # fn demo(oldest: &jobwire::backend::postgres::OldestTransaction) {
/// println!("pid {} open for {:?}", oldest.pid, oldest.age);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OldestTransaction {
    /// Its backend's process id (0 for a prepared transaction).
    pub pid: i32,
    /// How long it has been open.
    #[serde(serialize_with = "millis")]
    pub age: Duration,
    /// Its backend's state (`active`, `idle in transaction`, …), or
    /// `prepared` for a prepared transaction.
    pub state: String,
    /// Its `application_name`, or a prepared transaction's identifier.
    pub application: String,
    /// Its database.
    pub database: String,
}

/// The claim's read-only twin, run under `EXPLAIN (ANALYZE, BUFFERS)`: the
/// same index walk to each queue's head, without locking or changing a row.
/// Dead tuples at the head of the claim's index show up here first.
///
/// ```
/// # fn demo(claim: &jobwire::backend::postgres::ClaimProbe) {
/// println!("{:.2} ms, {} buffers", claim.millis, claim.buffers);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ClaimProbe {
    /// The walk's execution time, in milliseconds.
    pub millis: f64,
    /// Buffers it touched (shared hits and reads).
    pub buffers: i64,
    /// How many queues' heads it read.
    pub queues: usize,
}

/// One queue's jobs, per place.
///
/// ```
/// # fn demo(queue: &jobwire::backend::postgres::QueueDepth) {
/// println!("{}: {} ready, {} running", queue.queue, queue.ready, queue.running);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QueueDepth {
    /// The queue's name.
    pub queue: String,
    /// Jobs that may run now.
    pub ready: i64,
    /// Jobs that wait for a later time (scheduled, deferred, retrying).
    pub scheduled: i64,
    /// Jobs claimed by a worker.
    pub running: i64,
    /// Dead letters from this queue.
    pub dead: i64,
    /// How long the oldest ready job has been runnable: the queue's lag.
    #[serde(serialize_with = "millis_or_null")]
    pub lag: Option<Duration>,
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}

fn millis_or_null<S: serde::Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serializer.serialize_u128(duration.as_millis()),
        None => serializer.serialize_none(),
    }
}

fn from_millis(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

impl Health {
    /// What an operator should act on, in plain words: a transaction open
    /// for `pinned_after` or longer (it pins VACUUM's horizon), dead tuples
    /// piling up in the jobs table, a claim that reads more than a handful
    /// of buffers.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
    /// let warnings = queue.health().await?.warnings(std::time::Duration::from_secs(300));
    /// assert!(warnings.iter().all(|w| !w.is_empty()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn warnings(&self, pinned_after: Duration) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(oldest) = &self.oldest_transaction {
            if oldest.age >= pinned_after {
                warnings.push(format!(
                    "a transaction has been open for {} (pid {}, {}, application {:?}, database {:?}): \
                     nothing that died since it began can be reclaimed, and claims walk past the dead rows; \
                     end it (pg_terminate_backend({}) if it is forgotten)",
                    human(oldest.age),
                    oldest.pid,
                    oldest.state,
                    oldest.application,
                    oldest.database,
                    oldest.pid
                ));
            }
        }
        if let Some(jobs) = self.tables.iter().find(|t| t.name == "jobwire_jobs") {
            if jobs.dead_tuples >= DEAD_TUPLES_WARNING && jobs.dead_tuples > jobs.live_tuples / 10 {
                warnings.push(format!(
                    "jobwire_jobs holds {} dead tuples against {} live: its segments are not being emptied \
                     (is a worker of this version connected? does a long transaction hold a lock on a segment?)",
                    jobs.dead_tuples, jobs.live_tuples
                ));
            }
        }
        let queues = i64::try_from(self.claim.queues.max(1)).unwrap_or(i64::MAX);
        if self.claim.buffers > CLAIM_BUFFERS_PER_QUEUE.saturating_mul(queues) {
            warnings.push(format!(
                "a claim of {} queues' heads touches {} buffers ({:.2} ms): it walks past dead rows at the head \
                 of the claim's index",
                self.claim.queues, self.claim.buffers, self.claim.millis
            ));
        }
        warnings
    }
}

/// A duration as people read it: `45 s`, `12 min`, `3.5 h`.
fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<22} {:>12} {:>12} {:>12}  counted by",
            "table", "live", "dead", "bytes"
        )?;
        for table in &self.tables {
            writeln!(
                f,
                "{:<22} {:>12} {:>12} {:>12}  {}",
                table.name, table.live_tuples, table.dead_tuples, table.bytes, table.source
            )?;
        }
        writeln!(f)?;
        match &self.oldest_transaction {
            Some(oldest) => writeln!(
                f,
                "oldest transaction: open for {} (pid {}, {}, application {:?}, database {:?})",
                human(oldest.age),
                oldest.pid,
                oldest.state,
                oldest.application,
                oldest.database
            )?,
            None => writeln!(f, "oldest transaction: none open")?,
        }
        writeln!(
            f,
            "claim of the queues' heads: {:.3} ms, {} buffers",
            self.claim.millis, self.claim.buffers
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<22} {:>10} {:>10} {:>10} {:>10}  lag",
            "queue", "ready", "scheduled", "running", "dead"
        )?;
        for queue in &self.queues {
            let lag = queue.lag.map_or_else(|| "-".to_owned(), human);
            writeln!(
                f,
                "{:<22} {:>10} {:>10} {:>10} {:>10}  {lag}",
                queue.queue, queue.ready, queue.scheduled, queue.running, queue.dead
            )?;
        }
        Ok(())
    }
}

/// Reads the health of the queue whose tables are in the pool's
/// `search_path`. Creates nothing: a database without jobwire's tables
/// reports none.
pub(super) async fn read(pool: &PgPool) -> Result<Health, sqlx::Error> {
    let tables = tables(pool).await?;
    let oldest_transaction = oldest_transaction(pool).await?;
    let has_jobs = tables.iter().any(|t| t.name == "jobwire_jobs");
    let queues = if has_jobs {
        queues(pool).await?
    } else {
        Vec::new()
    };
    let claim = if has_jobs {
        let mut names: Vec<&str> = queues.iter().map(|q| q.queue.as_str()).collect();
        if names.is_empty() {
            names.push("default");
        }
        probe(pool, &names).await?
    } else {
        ClaimProbe {
            millis: 0.0,
            buffers: 0,
            queues: 0,
        }
    };
    Ok(Health {
        tables,
        oldest_transaction,
        claim,
        queues,
    })
}

async fn tables(pool: &PgPool) -> Result<Vec<TableHealth>, sqlx::Error> {
    // pgstattuple's schema, quoted, when the extension is installed.
    let exact: Option<String> = sqlx::query_scalar(
        "SELECT quote_ident(n.nspname) FROM pg_extension e
         JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'",
    )
    .fetch_optional(pool)
    .await?;
    let mut tables = Vec::new();
    for name in TABLES {
        let partitioned: Option<bool> =
            sqlx::query_scalar("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass($1)")
                .bind(name)
                .fetch_optional(pool)
                .await?;
        match partitioned {
            None => {}
            Some(false) => tables.extend(measure(pool, exact.as_deref(), name).await?),
            Some(true) => {
                // The segments, each measured, and the table as their sum.
                let segments: Vec<String> = sqlx::query_scalar(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = to_regclass($1) ORDER BY c.relname",
                )
                .bind(name)
                .fetch_all(pool)
                .await?;
                let mut parts = Vec::new();
                for segment in &segments {
                    parts.extend(measure(pool, exact.as_deref(), segment).await?);
                }
                tables.push(TableHealth {
                    name: name.to_owned(),
                    live_tuples: parts.iter().map(|t| t.live_tuples).sum(),
                    dead_tuples: parts.iter().map(|t| t.dead_tuples).sum(),
                    bytes: parts.iter().map(|t| t.bytes).sum(),
                    source: if exact.is_some() {
                        "pgstattuple"
                    } else {
                        "statistics"
                    },
                });
                tables.extend(parts);
            }
        }
    }
    Ok(tables)
}

/// One plain table's figures, `None` if it does not exist.
async fn measure(
    pool: &PgPool,
    exact: Option<&str>,
    name: &str,
) -> Result<Option<TableHealth>, sqlx::Error> {
    let found: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT pg_total_relation_size(c.oid), coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0)
         FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
         WHERE c.oid = to_regclass($1)",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some((bytes, live, dead)) = found else {
        return Ok(None);
    };
    let (live_tuples, dead_tuples, source) = match exact {
        Some(schema) => {
            let sql = format!(
                "SELECT tuple_count, dead_tuple_count FROM {schema}.pgstattuple(to_regclass($1))"
            );
            let (live, dead): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(name)
                .fetch_one(pool)
                .await?;
            (live, dead, "pgstattuple")
        }
        None => (live, dead, "statistics"),
    };
    Ok(Some(TableHealth {
        name: name.to_owned(),
        live_tuples,
        dead_tuples,
        bytes,
        source,
    }))
}

async fn oldest_transaction(pool: &PgPool) -> Result<Option<OldestTransaction>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT pid, age_ms, state, application, database FROM (
             SELECT pid, (extract(epoch FROM now() - xact_start) * 1000)::bigint AS age_ms,
                    coalesce(state, '') AS state, coalesce(application_name, '') AS application,
                    coalesce(datname, '') AS database
             FROM pg_stat_activity
             WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
               AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)
             UNION ALL
             SELECT 0, (extract(epoch FROM now() - prepared) * 1000)::bigint,
                    'prepared', gid, database
             FROM pg_prepared_xacts) AS open
         ORDER BY age_ms DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(OldestTransaction {
        pid: row.try_get("pid")?,
        age: from_millis(row.try_get("age_ms")?),
        state: row.try_get("state")?,
        application: row.try_get("application")?,
        database: row.try_get("database")?,
    }))
}

async fn queues(pool: &PgPool) -> Result<Vec<QueueDepth>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT queue, sum(ready)::bigint AS ready, sum(scheduled)::bigint AS scheduled,
                sum(running)::bigint AS running, sum(dead)::bigint AS dead,
                max(lag_ms)::bigint AS lag_ms
         FROM (
             SELECT queue,
                    count(*) FILTER (WHERE state = 'ready' AND run_at <= now()) AS ready,
                    count(*) FILTER (WHERE state = 'ready' AND run_at > now()) AS scheduled,
                    count(*) FILTER (WHERE state = 'running') AS running,
                    0 AS dead,
                    (extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'ready' AND run_at <= now())) * 1000)::bigint AS lag_ms
             FROM jobwire_jobs GROUP BY queue
             UNION ALL
             SELECT queue, 0, 0, 0, count(*), NULL FROM jobwire_dead GROUP BY queue) AS places
         GROUP BY queue ORDER BY queue",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let lag: Option<i64> = row.try_get("lag_ms")?;
            Ok(QueueDepth {
                queue: row.try_get("queue")?,
                ready: row.try_get("ready")?,
                scheduled: row.try_get("scheduled")?,
                running: row.try_get("running")?,
                dead: row.try_get("dead")?,
                lag: lag.map(from_millis),
            })
        })
        .collect()
}

/// The claim's index walk, read-only: each queue's head in index order,
/// merged, as [`Postgres::CLAIM`](super::Postgres::CLAIM) reads it.
const PROBE: &str = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
    SELECT c.id FROM unnest($1::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, run_at FROM jobwire_jobs
        WHERE queue = q.name AND run_at <= now()
        ORDER BY run_at, id LIMIT 10) AS c
    ORDER BY c.run_at, c.id LIMIT 10";

async fn probe(pool: &PgPool, queues: &[&str]) -> Result<ClaimProbe, sqlx::Error> {
    let row = sqlx::query(PROBE).bind(queues).fetch_one(pool).await?;
    // The plan is `json`, whose wire form is its text.
    let text: String = row.try_get_unchecked(0)?;
    let plan: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
    let top = plan.get(0);
    let millis = top
        .and_then(|p| p.get("Execution Time"))
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let node = top.and_then(|p| p.get("Plan"));
    let blocks = |key: &str| {
        node.and_then(|n| n.get(key))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0)
    };
    Ok(ClaimProbe {
        millis,
        buffers: blocks("Shared Hit Blocks") + blocks("Shared Read Blocks"),
        queues: queues.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(age: u64, dead: i64, live: i64, buffers: i64) -> Health {
        Health {
            tables: vec![TableHealth {
                name: "jobwire_jobs".into(),
                live_tuples: live,
                dead_tuples: dead,
                bytes: 8192,
                source: "statistics",
            }],
            oldest_transaction: Some(OldestTransaction {
                pid: 42,
                age: Duration::from_secs(age),
                state: "idle in transaction".into(),
                application: "psql".into(),
                database: "app".into(),
            }),
            claim: ClaimProbe {
                millis: 0.1,
                buffers,
                queues: 1,
            },
            queues: Vec::new(),
        }
    }

    #[test]
    fn a_pinned_horizon_is_named_once_it_matters() {
        let limit = Duration::from_secs(60);
        assert!(health(59, 0, 0, 4).warnings(limit).is_empty());
        let warnings = health(600, 0, 0, 4).warnings(limit);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("10 min"), "{warnings:?}");
        assert!(warnings[0].contains("pid 42"), "{warnings:?}");
    }

    #[test]
    fn dead_tuples_warn_only_beyond_ordinary_churn() {
        let limit = Duration::from_secs(60);
        assert!(health(0, 9_999, 0, 4).warnings(limit).is_empty());
        assert!(health(0, 20_000, 1_000_000, 4).warnings(limit).is_empty());
        assert_eq!(health(0, 20_000, 100, 4).warnings(limit).len(), 1);
        assert_eq!(health(0, 0, 0, 500).warnings(limit).len(), 1);
    }
}
