//! The PostgreSQL queue over a long horizon: what a pinned vacuum horizon
//! and a long run do to it. A benchmark, not a test: it asserts nothing
//! about time, and prints what it measured.
//!
//! ```text
//! # phases at a fixed offered load: clean, idle-in-tx, active-readers, recovery
//! cargo bench --bench postgres_long_horizon --features postgres -- \
//!     --postgres postgres://postgres@127.0.0.1:5432/test --phase-secs 600 --rate 300
//! # a soak: jobs through one worker in rounds of 100,000; last round against the first
//! cargo bench --bench postgres_long_horizon --features postgres -- \
//!     --postgres postgres://postgres@127.0.0.1:5432/test --soak 1000000
//! # a drain: 20,000 jobs waiting, drained by the worker and by a bare loop,
//! # at 1, 8 and 32 concurrent, rounds alternating
//! cargo bench --bench postgres_long_horizon --features postgres -- \
//!     --postgres postgres://postgres@127.0.0.1:5432/test --phase-secs 0 --drain 20000
//! # one design only: --design segments (this jobwire's) or single (0.2's table)
//! # the smoke CI runs: every phase for 3 s, a soak of 2 x 2,000 and a drain of
//! # 500 at 1, 8 and 32 concurrent, on both designs
//! cargo bench --bench postgres_long_horizon --features postgres -- --smoke
//! ```
//!
//! - **Phases.** A producer offers `--rate` jobs a second (through
//!   `enqueue_many`, every 10 ms) while a worker of `--workers` performs
//!   them, through four phases of `--phase-secs` each: `clean`;
//!   `idle-in-tx`, one session holding `BEGIN; SELECT txid_current();` for
//!   the whole phase (VACUUM's horizon pinned); `active-readers`, four
//!   `REPEATABLE READ` sessions scanning the queue's tables over and over;
//!   and `recovery`, with nothing held. Every `--sample-secs` it prints the
//!   completion rate, the depth, and the dead tuples and size of each queue
//!   table; at the end of each phase its completion rate against the
//!   offered load, and the p50, p95 and p99 of enqueue to handler start.
//! - **Soak.** `--soak N` enqueues and drains N jobs in rounds of `--round`
//!   (100,000), with a VACUUM-free table, as a busy queue with autovacuum
//!   held back lives, and prints each round's jobs a second and the last
//!   round's against the first. `--soak-budget-secs S` stops a design's
//!   soak after the first round that ends past `S` seconds (the 0.2 table
//!   slows down as it goes, and a million jobs through it take hours), and
//!   says how far it got.
//! - **Drain.** `--drain N` fills the queue with `N` jobs at once and drains
//!   them, at each of `--concurrency` (`1,8,32`): once with the jobwire
//!   worker (a no-op handler), once with a bare loop written here on the
//!   same tables and statements: that many tasks, each claiming one job,
//!   decoding it with serde and acknowledging it, without a lease renewal,
//!   a fence check of its own, a handler's transaction or a span.
//!   `--drain-rounds` rounds (3) alternate which goes first; the table gives
//!   the medians and the ratios, and after both designs, the worker's speed
//!   on the segments against its speed on the 0.2 table.
//!
//! Both run on each storage in turn: this jobwire's segments, then jobwire
//! 0.2's single table (its schema as 0.2 shipped it, driven by today's
//! worker and statements), the baseline measured in the same run.
//! The queue's schema is a fresh one of the bench's own, dropped at the end.
//! `autovacuum` is left as the server has it (this project's servers run
//! with it off); the idle-in-tx phase pins the horizon either way.

mod long_horizon {
    use hdrhistogram::Histogram;
    use jobwire::backend::postgres::{Postgres, Tx};
    use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement};
    use jobwire::worker::Worker;
    use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
    use semver::Version;
    use serde::{Deserialize, Serialize};
    use sqlx::Connection;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    pub type Error = Box<dyn std::error::Error + Send + Sync>;

    /// The benchmark's job: its enqueue time, and nothing to do.
    #[derive(Serialize, Deserialize)]
    struct Tick {
        enqueued_ms: u64,
    }

    impl Job for Tick {
        const NAME: &'static str = "bench.horizon";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = Arc<Meter>;
        type Data = Tx;
        async fn perform(self, ctx: &mut Context<'_, Arc<Meter>, Tx>) -> Result<(), HandlerError> {
            let meter = ctx.state();
            if let Ok(mut latency) = meter.latency.lock() {
                latency.saturating_record(now_ms().saturating_sub(self.enqueued_ms).max(1));
            }
            meter.done.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    /// Jobs done, and the latency of the phase under way, in milliseconds.
    struct Meter {
        done: AtomicU64,
        latency: Mutex<Histogram<u64>>,
    }

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The bench's settings, from its arguments.
    pub struct Settings {
        url: String,
        phase: Duration,
        sample: Duration,
        rate: f64,
        workers: usize,
        soak: u64,
        round: u64,
        soak_budget: Option<Duration>,
        drain: u64,
        concurrency: Vec<usize>,
        drain_rounds: u64,
        designs: Vec<Design>,
    }

    /// The storage under test: this jobwire's segments, or the single
    /// table of jobwire 0.2 (its schema as 0.2 shipped it, with today's
    /// statements and worker), the baseline measured in the same run.
    #[derive(Clone, Copy, PartialEq)]
    pub enum Design {
        Segments,
        SingleTable,
    }

    impl Design {
        fn name(self) -> &'static str {
            match self {
                Design::Segments => "segments",
                Design::SingleTable => "0.2 single table",
            }
        }
    }

    /// jobwire 0.2's schema, which the upgrade test also starts from.
    const SCHEMA_0_2: &str = include_str!("../tests/postgres_upgrade/schema_0_2.sql");

    impl Settings {
        pub fn from_args(args: &[String]) -> Result<Settings, Error> {
            let value = |flag: &str| {
                args.iter()
                    .position(|arg| arg == flag)
                    .and_then(|at| args.get(at + 1))
                    .cloned()
            };
            let number = |flag: &str, default: u64| -> Result<u64, Error> {
                Ok(value(flag).map_or(Ok(default), |v| v.parse())?)
            };
            let smoke = args.iter().any(|arg| arg == "--smoke");
            let url = value("--postgres")
                .or_else(|| std::env::var("JOBWIRE_POSTGRES_URL").ok())
                .ok_or("give the server: --postgres URL (or JOBWIRE_POSTGRES_URL)")?;
            Ok(Settings {
                url,
                phase: Duration::from_secs(number("--phase-secs", if smoke { 3 } else { 60 })?),
                sample: Duration::from_secs(
                    number("--sample-secs", if smoke { 1 } else { 5 })?.max(1),
                ),
                rate: number("--rate", 300)? as f64,
                workers: usize::try_from(number("--workers", 8)?)?.max(1),
                soak: number("--soak", if smoke { 4_000 } else { 0 })?,
                round: number("--round", if smoke { 2_000 } else { 100_000 })?.max(1),
                soak_budget: match number("--soak-budget-secs", 0)? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
                drain: number("--drain", if smoke { 500 } else { 0 })?,
                concurrency: value("--concurrency")
                    .as_deref()
                    .unwrap_or("1,8,32")
                    .split(',')
                    .map(|n| Ok(n.trim().parse::<usize>()?.max(1)))
                    .collect::<Result<_, Error>>()?,
                drain_rounds: number("--drain-rounds", if smoke { 1 } else { 3 })?.max(1),
                designs: match value("--design").as_deref() {
                    None | Some("both") => vec![Design::Segments, Design::SingleTable],
                    Some("segments") => vec![Design::Segments],
                    Some("single") => vec![Design::SingleTable],
                    Some(other) => {
                        return Err(
                            format!("--design is segments, single or both, not {other}").into()
                        )
                    }
                },
            })
        }
    }

    /// Dead tuples and size of each queue table, as one line; the jobs
    /// table's segments, if it has them, summed.
    async fn tables(pool: &sqlx::PgPool) -> Result<String, Error> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT name, sum(pg_total_relation_size(c.oid))::bigint,
                    sum(coalesce(s.n_live_tup, 0))::bigint, sum(coalesce(s.n_dead_tup, 0))::bigint
             FROM (SELECT 'jobwire_jobs' AS name, to_regclass('jobwire_jobs') AS oid
                   UNION ALL
                   SELECT 'jobwire_jobs', inhrelid::regclass FROM pg_inherits
                   WHERE inhparent = to_regclass('jobwire_jobs')
                   UNION ALL
                   SELECT 'jobwire_dead', to_regclass('jobwire_dead')) AS t
             JOIN pg_class c ON c.oid = t.oid
             LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
             GROUP BY name ORDER BY name",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows
            .iter()
            .map(|(name, bytes, _live, dead)| {
                format!(
                    "{name}: {dead} dead, {:.1} MiB",
                    *bytes as f64 / 1_048_576.0
                )
            })
            .collect::<Vec<_>>()
            .join("; "))
    }

    async fn depth(pool: &sqlx::PgPool) -> Result<i64, Error> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
            .fetch_one(pool)
            .await?)
    }

    /// What a phase holds open while it runs: nothing, a pinning
    /// transaction, or four scanning readers.
    enum Pressure {
        None,
        Pinned(sqlx::PgConnection),
        Readers(Arc<AtomicBool>, Vec<tokio::task::JoinHandle<()>>),
    }

    async fn pressure(
        phase: &str,
        options: &sqlx::postgres::PgConnectOptions,
    ) -> Result<Pressure, Error> {
        match phase {
            "idle-in-tx" => {
                let mut holder = sqlx::PgConnection::connect_with(options).await?;
                sqlx::raw_sql("BEGIN; SELECT txid_current();")
                    .execute(&mut holder)
                    .await?;
                Ok(Pressure::Pinned(holder))
            }
            "active-readers" => {
                let stop = Arc::new(AtomicBool::new(false));
                let mut readers = Vec::new();
                for _ in 0..4 {
                    let mut reader = sqlx::PgConnection::connect_with(options).await?;
                    let stop = Arc::clone(&stop);
                    readers.push(tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            let scanned = sqlx::raw_sql(
                                "BEGIN ISOLATION LEVEL REPEATABLE READ;
                                 SELECT count(*), max(length(payload)) FROM jobwire_jobs;
                                 SELECT pg_sleep(0.5);
                                 SELECT count(*) FROM jobwire_jobs;
                                 COMMIT;",
                            )
                            .execute(&mut reader)
                            .await;
                            if scanned.is_err() {
                                break;
                            }
                        }
                    }));
                }
                Ok(Pressure::Readers(stop, readers))
            }
            _ => Ok(Pressure::None),
        }
    }

    async fn release(pressure: Pressure) {
        match pressure {
            Pressure::None => {}
            Pressure::Pinned(mut holder) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut holder).await;
                let _ = holder.close().await;
            }
            Pressure::Readers(stop, readers) => {
                stop.store(true, Ordering::Relaxed);
                for reader in readers {
                    let _ = reader.await;
                }
            }
        }
    }

    /// Offers `rate` jobs a second until `stop`, in a batch every 10 ms.
    async fn produce(queue: Postgres, rate: f64, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
        let producer = Producer::new(WritePolicy::Current);
        let started = Instant::now();
        let mut offered = 0_u64;
        while !stop.load(Ordering::Relaxed) {
            let owed = (started.elapsed().as_secs_f64() * rate) as u64;
            let count = owed.saturating_sub(offered).min(1_000);
            if count > 0 {
                let enqueued_ms = now_ms();
                let payloads: Result<Vec<Vec<u8>>, _> = (0..count)
                    .map(|_| producer.seal(&Tick { enqueued_ms }))
                    .collect();
                let Ok(payloads) = payloads else { return };
                let jobs: Vec<Enqueue<'_>> = payloads.iter().map(|p| Enqueue::new(p)).collect();
                if queue.enqueue_many(&jobs).await.is_ok() {
                    offered += count;
                    sent.fetch_add(count, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs the phases, then the soak, on each design in turn, each in a
    /// fresh schema dropped whatever happened.
    pub async fn run(settings: Settings) -> Result<(), Error> {
        let admin = sqlx::PgPool::connect(&settings.url).await?;
        let mut drained = Vec::new();
        for &design in &settings.designs {
            println!("== {}", design.name());
            let schema = format!("jobwire_horizon_{}", std::process::id());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await?;
            let options: sqlx::postgres::PgConnectOptions = settings.url.parse()?;
            let options = options.options([("search_path", schema.as_str())]);
            let result = match design {
                Design::Segments => Ok(()),
                Design::SingleTable => single_table(&options).await,
            };
            let result = match result {
                Ok(()) => bench(&settings, &options).await,
                Err(error) => Err(error),
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await?;
            drained.push((design, result?));
            println!();
        }
        if let [(Design::Segments, segments), (Design::SingleTable, single)] = &drained[..] {
            if !segments.is_empty() {
                println!("drain, the worker on the segments against the worker on the 0.2 table:");
                println!("| concurrent | segments (jobs/s) | 0.2 single table (jobs/s) | ratio |");
                println!("| --- | --- | --- | --- |");
                for ((concurrent, new), (_, old)) in segments.iter().zip(single) {
                    println!("| {concurrent} | {new:.0} | {old:.0} | {:.2} |", new / old);
                }
            }
        }
        Ok(())
    }

    /// jobwire 0.2's single table, with the one column added since, marked
    /// as this build's schema so that connecting leaves it as it is. Its
    /// rotation finds no segments to turn, and does nothing.
    async fn single_table(options: &sqlx::postgres::PgConnectOptions) -> Result<(), Error> {
        let mut connection = sqlx::PgConnection::connect_with(options).await?;
        sqlx::raw_sql(SCHEMA_0_2).execute(&mut connection).await?;
        sqlx::raw_sql(
            "ALTER TABLE jobwire_jobs ADD COLUMN progressed BOOLEAN NOT NULL DEFAULT false;
             INSERT INTO jobwire_schema (version) VALUES (3);",
        )
        .execute(&mut connection)
        .await?;
        Ok(connection.close().await?)
    }

    /// Runs what the settings ask for on one design; returns the worker's
    /// drain speed (median jobs a second) at each concurrency.
    async fn bench(
        settings: &Settings,
        options: &sqlx::postgres::PgConnectOptions,
    ) -> Result<Vec<(usize, f64)>, Error> {
        let queue = Postgres::connect_with(options.clone()).await?;
        let meter = Arc::new(Meter {
            done: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 3_600_000, 3)?),
        });
        if settings.phase > Duration::ZERO {
            phases(settings, options, &queue, &meter).await?;
        }
        if settings.soak > 0 {
            soak(settings, &queue, &meter).await?;
        }
        if settings.drain > 0 {
            return drain(settings, &queue, &meter).await;
        }
        Ok(Vec::new())
    }

    /// Enqueues `count` jobs at once, in batches of 1,000.
    async fn fill(queue: &Postgres, count: u64) -> Result<(), Error> {
        let producer = Producer::new(WritePolicy::Current);
        let enqueued_ms = now_ms();
        let payloads: Vec<Vec<u8>> = (0..count)
            .map(|_| producer.seal(&Tick { enqueued_ms }))
            .collect::<Result<_, _>>()?;
        for batch in payloads.chunks(1_000) {
            let jobs: Vec<Enqueue<'_>> = batch.iter().map(|p| Enqueue::new(p)).collect();
            queue.enqueue_many(&jobs).await?;
        }
        Ok(())
    }

    /// Drains `count` jobs with the jobwire worker; returns jobs a second.
    async fn with_worker(
        queue: &Postgres,
        meter: &Arc<Meter>,
        concurrent: usize,
        count: u64,
    ) -> Result<f64, Error> {
        let router = Router::builder()
            .lending::<Tx>()
            .job::<Tick>()
            .state(Arc::clone(meter))
            .build()?;
        let target = meter.done.load(Ordering::Relaxed) + count;
        let watching = Arc::clone(meter);
        let started = Instant::now();
        Worker::new(queue.clone(), router)
            .concurrency(concurrent)
            .run(async move {
                while watching.done.load(Ordering::Relaxed) < target {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
        Ok(count as f64 / started.elapsed().as_secs_f64())
    }

    /// The envelope as a bare loop reads it: the arguments, typed.
    #[derive(Deserialize)]
    struct Envelope {
        args: Tick,
    }

    /// Drains `count` jobs with `concurrent` bare loops, each claiming one
    /// job, decoding it and acknowledging it; returns jobs a second.
    async fn bare(queue: &Postgres, concurrent: usize, count: u64) -> Result<f64, Error> {
        let claimed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..concurrent {
            let (queue, claimed) = (queue.clone(), Arc::clone(&claimed));
            loops.spawn(async move {
                let request = ClaimRequest::new(&["default"], 1, Duration::from_secs(30), "bare");
                while claimed.load(Ordering::Relaxed) < count {
                    let claims = queue.claim(&request).await.map_err(|e| e.to_string())?;
                    if claims.is_empty() {
                        tokio::task::yield_now().await;
                    }
                    for claim in claims {
                        let envelope: Envelope =
                            serde_json::from_slice(&claim.payload).map_err(|e| e.to_string())?;
                        std::hint::black_box(envelope.args.enqueued_ms);
                        let data = queue.lend(&claim.key);
                        queue
                            .settle(&claim.key, data, Settlement::Ack)
                            .await
                            .map_err(|e| e.to_string())?;
                        claimed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok::<(), String>(())
            });
        }
        while let Some(done) = loops.join_next().await {
            done??;
        }
        Ok(count as f64 / started.elapsed().as_secs_f64())
    }

    /// `settings.drain` jobs waiting, drained by the worker and by the bare
    /// loop at each concurrency, rounds alternating which goes first.
    async fn drain(
        settings: &Settings,
        queue: &Postgres,
        meter: &Arc<Meter>,
    ) -> Result<Vec<(usize, f64)>, Error> {
        let count = settings.drain;
        println!(
            "drain: {count} jobs waiting, a no-op handler, {} rounds",
            settings.drain_rounds
        );
        println!("| concurrent | worker (jobs/s) | bare loop (jobs/s) | worker / bare |");
        println!("| --- | --- | --- | --- |");
        let mut speeds = Vec::new();
        for &concurrent in &settings.concurrency {
            let (mut worker, mut plain) = (Vec::new(), Vec::new());
            for round in 0..settings.drain_rounds {
                for worker_first in [round % 2 == 0, round % 2 == 1] {
                    fill(queue, count).await?;
                    if worker_first {
                        worker.push(with_worker(queue, meter, concurrent, count).await?);
                    } else {
                        plain.push(bare(queue, concurrent, count).await?);
                    }
                }
            }
            let (worker, plain) = (median(worker), median(plain));
            println!(
                "| {concurrent} | {worker:.0} | {plain:.0} | {:.2} |",
                worker / plain
            );
            speeds.push((concurrent, worker));
        }
        Ok(speeds)
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    }

    async fn phases(
        settings: &Settings,
        options: &sqlx::postgres::PgConnectOptions,
        queue: &Postgres,
        meter: &Arc<Meter>,
    ) -> Result<(), Error> {
        let router = Router::builder()
            .lending::<Tx>()
            .job::<Tick>()
            .state(Arc::clone(meter))
            .build()?;
        let stop_worker = Arc::new(tokio::sync::Notify::new());
        let stopping = Arc::clone(&stop_worker);
        let worker = tokio::spawn(
            Worker::new(queue.clone(), router)
                .concurrency(settings.workers)
                .run(async move { stopping.notified().await }),
        );
        let stop_producer = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let producer = tokio::spawn(produce(
            queue.clone(),
            settings.rate,
            Arc::clone(&stop_producer),
            Arc::clone(&sent),
        ));
        println!(
            "offered load {} jobs/s, {} concurrent, phases of {} s",
            settings.rate,
            settings.workers,
            settings.phase.as_secs()
        );
        let mut summary = Vec::new();
        for phase in ["clean", "idle-in-tx", "active-readers", "recovery"] {
            let held = pressure(phase, options).await?;
            if let Ok(mut latency) = meter.latency.lock() {
                latency.reset();
            }
            let (started, done_at_start) = (Instant::now(), meter.done.load(Ordering::Relaxed));
            let mut last = (Instant::now(), done_at_start);
            while started.elapsed() < settings.phase {
                tokio::time::sleep(settings.sample.min(settings.phase)).await;
                let done = meter.done.load(Ordering::Relaxed);
                let rate = (done - last.1) as f64 / last.0.elapsed().as_secs_f64().max(0.001);
                last = (Instant::now(), done);
                println!(
                    "  {phase:<15} {:>6.1} s  {rate:>8.0} jobs/s  depth {:>7}  {}",
                    started.elapsed().as_secs_f64(),
                    depth(queue.pool()).await?,
                    tables(queue.pool()).await?
                );
            }
            let done = meter.done.load(Ordering::Relaxed) - done_at_start;
            let rate = done as f64 / started.elapsed().as_secs_f64();
            let (p50, p95, p99) = meter
                .latency
                .lock()
                .map(|h| {
                    (
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.95),
                        h.value_at_quantile(0.99),
                    )
                })
                .unwrap_or((0, 0, 0));
            release(held).await;
            summary.push((phase, rate, p50, p95, p99, tables(queue.pool()).await?));
        }
        stop_producer.store(true, Ordering::Relaxed);
        let _ = producer.await;
        stop_worker.notify_one();
        let _ = worker.await;
        println!();
        println!(
            "| phase | completion (jobs/s) | of offered | p50 ms | p95 ms | p99 ms | at the end |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for (phase, rate, p50, p95, p99, tables) in summary {
            println!(
                "| {phase} | {rate:.0} | {:.2} | {p50} | {p95} | {p99} | {tables} |",
                rate / settings.rate
            );
        }
        Ok(())
    }

    /// `settings.soak` jobs in rounds: enqueue a round, drain it, again.
    async fn soak(settings: &Settings, queue: &Postgres, meter: &Arc<Meter>) -> Result<(), Error> {
        let producer = Producer::new(WritePolicy::Current);
        let rounds = settings.soak.div_ceil(settings.round);
        println!(
            "soak: {} jobs in {rounds} rounds of {}, {} concurrent",
            settings.soak, settings.round, settings.workers
        );
        let mut rates = Vec::new();
        let soaking = Instant::now();
        for round in 0..rounds {
            if let Some(budget) = settings.soak_budget.filter(|b| soaking.elapsed() > *b) {
                println!(
                    "soak: stopped after {round} rounds ({} jobs): the budget of {} s is spent",
                    round * settings.round,
                    budget.as_secs()
                );
                break;
            }
            let enqueued_ms = now_ms();
            let payloads: Vec<Vec<u8>> = (0..settings.round)
                .map(|_| producer.seal(&Tick { enqueued_ms }))
                .collect::<Result<_, _>>()?;
            for batch in payloads.chunks(1_000) {
                let jobs: Vec<Enqueue<'_>> = batch.iter().map(|p| Enqueue::new(p)).collect();
                queue.enqueue_many(&jobs).await?;
            }
            let router = Router::builder()
                .lending::<Tx>()
                .job::<Tick>()
                .state(Arc::clone(meter))
                .build()?;
            let target = meter.done.load(Ordering::Relaxed) + settings.round;
            let watching = Arc::clone(meter);
            let started = Instant::now();
            Worker::new(queue.clone(), router)
                .concurrency(settings.workers)
                .run(async move {
                    while watching.done.load(Ordering::Relaxed) < target {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await;
            let rate = settings.round as f64 / started.elapsed().as_secs_f64();
            println!(
                "  round {:>3}: {rate:>8.0} jobs/s  {}",
                round + 1,
                tables(queue.pool()).await?
            );
            rates.push(rate);
        }
        if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
            println!("soak: the last round ran at {:.2}x the first", last / first);
        }
        Ok(())
    }
}

fn main() -> Result<(), long_horizon::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; nothing else is expected.
    let settings = long_horizon::Settings::from_args(&args)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(long_horizon::run(settings))
}
