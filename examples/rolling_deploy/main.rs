//! A rolling deploy across separate OS processes, on a real queue.
//!
//! Release N and release N+1 (their change set is in `releases/mod.rs`: an
//! added parameter, a breaking change with an upcaster and a downcast, a
//! rename, a retirement and a new job) run as separate worker and producer
//! processes, all sharing one queue: an SQLite file by default, or a
//! PostgreSQL schema with `--postgres`.
//!
//! The deploy goes through four phases, producers enqueueing all along:
//!
//! 1. all N;
//! 2. mixed: the N workers are replaced one by one with N+1 workers, each
//!    stopped with SIGTERM while it has jobs in flight, as a real rolling
//!    restart does; N and N+1 producers both write, N+1 the previous format;
//! 3. all N+1, still writing the previous format;
//! 4. the flip to the current format, with another rolling restart.
//!
//! Every worker writes each performance down before the job is acknowledged
//! (after a few milliseconds of "work"); every producer writes each job id
//! down before enqueueing it. At the end the ledger says, per phase, what
//! was enqueued, performed, upcast, deferred, discarded on purpose, failed,
//! dead-lettered, lost and performed twice. The process exits non-zero on
//! any failure, loss or double performance, or if a cent went missing.
//!
//! ```text
//! cargo run --example rolling_deploy
//! cargo run --example rolling_deploy -- --jobs-per-phase 2000 --keep
//! cargo run --features postgres --example rolling_deploy -- --postgres [URL]
//! ```
//!
//! Without a URL, `--postgres` uses `JOBWIRE_POSTGRES_URL`, then
//! `postgres://postgres@127.0.0.1:5432/test`. Each run gets a schema of its
//! own, dropped at the end unless `--keep` is given.

#[path = "../releases/mod.rs"]
mod releases;

#[path = "../support/process.rs"]
mod process;
mod queue;
mod roles;

use process::Process;
use queue::{value, Error, Queue, Target};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("worker") => roles::worker(&args).map(|()| true),
        Some("producer") => roles::producer(&args).map(|()| true),
        _ => orchestrate(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up the queue, runs the deploy, and cleans up.
fn orchestrate(args: &[String]) -> Result<bool, Error> {
    let jobs: u64 = value(args, "--jobs-per-phase").unwrap_or("400").parse()?;
    let keep = args.iter().any(|arg| arg == "--keep");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let run = format!("{}_{}", std::process::id(), started.as_millis());
    if let Some(at) = args.iter().position(|arg| arg == "--postgres") {
        let url = args
            .get(at + 1)
            .filter(|next| !next.starts_with("--"))
            .cloned()
            .or_else(|| std::env::var("JOBWIRE_POSTGRES_URL").ok())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let target = Target::Postgres {
            url,
            schema: format!("jobwire_deploy_{run}"),
        };
        runtime.block_on(async {
            schema(&target, true).await?;
            let result = deploy(&target, jobs).await;
            if !keep {
                schema(&target, false).await?;
            }
            result
        })
    } else {
        let dir = std::env::temp_dir().join(format!("jobwire-rolling-deploy-{run}"));
        std::fs::create_dir_all(&dir)?;
        let target = Target::Sqlite(dir.join("queue.db"));
        let result = runtime.block_on(deploy(&target, jobs));
        if keep {
            println!("the queue is kept in {}", dir.display());
        } else {
            std::fs::remove_dir_all(&dir)?;
        }
        result
    }
}

/// Creates (or drops) the run's PostgreSQL schema.
async fn schema(target: &Target, create: bool) -> Result<(), Error> {
    #[cfg(feature = "postgres")]
    if let Target::Postgres { url, schema } = target {
        let pool = sqlx::PgPool::connect(url).await?;
        let sql = if create {
            format!("CREATE SCHEMA {schema}")
        } else {
            format!("DROP SCHEMA {schema} CASCADE")
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await?;
        pool.close().await;
        return Ok(());
    }
    let _ = (target, create);
    Err(queue::NO_POSTGRES.into())
}

/// A worker of `release`.
fn worker(name: &str, release: &str, target: &Target) -> Result<Process, Error> {
    let mut args = vec!["worker".to_owned()];
    args.extend(target.args());
    args.extend([
        "--name".into(),
        name.into(),
        "--release".into(),
        release.into(),
    ]);
    Process::spawn(name, &args)
}

/// A producer of `release`: `count` jobs of `phase`, one every `every_ms`.
fn producer(
    name: &str,
    release: &str,
    policy: &str,
    phase: usize,
    count: u64,
    every_ms: u64,
    target: &Target,
) -> Result<Process, Error> {
    let seed = 0x9e37_79b9_7f4a_7c15_u64 ^ phase as u64 ^ (u64::from(release == "n1") << 8);
    let mut args = vec!["producer".to_owned()];
    args.extend(target.args());
    for (flag, value) in [
        ("--release", release.to_owned()),
        ("--policy", policy.to_owned()),
        ("--phase", phase.to_string()),
        ("--count", count.to_string()),
        ("--every-ms", every_ms.to_string()),
        ("--seed", seed.to_string()),
    ] {
        args.extend([flag.to_owned(), value]);
    }
    Process::spawn(name, &args)
}

/// One worker replaced by another during a rolling restart.
struct Restart {
    stopped: String,
    started: String,
    in_flight: i64,
    took: Duration,
}

/// Stops `old` with SIGTERM while it has jobs in flight, and starts `new`.
async fn replace(
    queue: &Queue,
    old: Process,
    new_name: &str,
    new_release: &str,
    target: &Target,
) -> Result<(Process, Restart), Error> {
    let mut old = old;
    // Catch it busy: a restart while idle would prove nothing.
    let mut in_flight = 0;
    let looking = Instant::now();
    while in_flight == 0 && looking.elapsed() < Duration::from_secs(10) {
        in_flight = queue.in_flight(&old.name).await?;
        if in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let stopping = Instant::now();
    old.terminate()?;
    old.finish(roles::SHUTDOWN_BUDGET + Duration::from_secs(20))
        .await?;
    let took = stopping.elapsed();
    let new = worker(new_name, new_release, target)?;
    let restart = Restart {
        stopped: old.name.clone(),
        started: new_name.to_owned(),
        in_flight,
        took,
    };
    Ok((new, restart))
}

/// Enqueues faxes of `user.welcome_fax`, deprecated in N and retired in
/// N+1: left over from before N, so no producer of N or N+1 can write them.
/// Runnable now, or scheduled `after` a delay.
async fn faxes(
    queue: &Queue,
    ids: std::ops::Range<u64>,
    phase: usize,
    after: Option<Duration>,
) -> Result<(), Error> {
    for user_id in ids {
        let id = format!("fax-{user_id}");
        queue
            .note_enqueued(&id, phase, "before N", "user.welcome_fax", 0)
            .await?;
        let payload = format!(
            r#"{{"job":"user.welcome_fax","version":"1.0.0","args":{{"user_id":{user_id}}},"meta":{{"id":"{id}"}}}}"#
        );
        queue.enqueue(payload.as_bytes(), after).await?;
    }
    Ok(())
}

const PHASES: [&str; 4] = [
    "1. all on N",
    "2. mixed N / N+1",
    "3. all on N+1",
    "4. N+1, flipped",
];

/// The rolling deploy itself.
async fn deploy(target: &Target, jobs: u64) -> Result<bool, Error> {
    println!(
        "rolling deploy from release N to N+1 on {}: {jobs} jobs a phase, separate processes, workers restarted with SIGTERM while jobs are in flight\n",
        target.describe()
    );
    let queue = target.open().await?;
    queue.create_ledger().await?;
    let limit = Duration::from_secs(120);
    let mut restarts = Vec::new();

    // 1. All on N, with faxes left over from before N.
    faxes(&queue, 0..30, 1, None).await?;
    let mut workers = vec![worker("n-1", "n", target)?, worker("n-2", "n", target)?];
    producer("producer-n", "n", "previous", 1, jobs, 4, target)?
        .finish(limit)
        .await?;

    // 2. Mixed: both releases produce while the workers are replaced.
    let mut producers = [
        producer("producer-n", "n", "previous", 2, jobs / 2, 8, target)?,
        producer(
            "producer-n1",
            "n1",
            "previous",
            2,
            jobs - jobs / 2,
            8,
            target,
        )?,
    ];
    for (slot, name) in ["n1-1", "n1-2"].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let old = workers.remove(slot);
        let (new, restart) = replace(&queue, old, name, "n1", target).await?;
        workers.insert(slot, new);
        restarts.push(restart);
    }
    for producer in &mut producers {
        producer.finish(limit).await?;
    }

    // 3. All on N+1: scheduled faxes fall due, and are discarded on purpose.
    // Drain sees them waiting: retiring the fax job is not safe yet.
    faxes(&queue, 30..50, 3, Some(Duration::from_secs(3))).await?;
    let not_yet = drain(&queue, "retire user.welcome_fax").await?;
    producer("producer-n1", "n1", "previous", 3, jobs, 4, target)?
        .finish(limit)
        .await?;

    // 4. The flip, with another rolling restart.
    let mut producer = producer("producer-n1", "n1", "current", 4, jobs, 8, target)?;
    for (slot, name) in ["n1-3", "n1-4"].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let old = workers.remove(slot);
        let (new, restart) = replace(&queue, old, name, "n1", target).await?;
        workers.insert(slot, new);
        restarts.push(restart);
    }
    producer.finish(limit).await?;

    // Drain, then stop the last workers.
    let draining = Instant::now();
    while queue.waiting().await? > 0 && draining.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Drained: now it is safe.
    let safe = drain(&queue, "retire user.welcome_fax").await?;
    let drain_right = !not_yet && safe;
    if !drain_right {
        println!(
            "drain answered wrongly: \"not yet\" expected while faxes waited, then \"safe\"\n"
        );
    }
    for worker in &workers {
        worker.terminate()?;
    }
    for worker in &mut workers {
        worker
            .finish(roles::SHUTDOWN_BUDGET + Duration::from_secs(20))
            .await?;
    }
    Ok(tally(&queue, &restarts).await? && drain_right)
}

/// Asks drain `question` of the live queue (`jobwire drain` asks the same),
/// prints the answer, and returns whether it was "safe".
async fn drain(queue: &Queue, question: &str) -> Result<bool, Error> {
    let question: jobwire::drain::Question = question.parse()?;
    let answer = jobwire::drain::answer(&question, &queue.drain_view().await?, &[]);
    println!("jobwire drain: {answer}\n");
    Ok(answer.safe)
}

#[derive(Default, Clone, Copy)]
struct Tally {
    enqueued: u64,
    performed: u64,
    upcast: u64,
    deferred: u64,
    max_defers: u64,
    discarded: u64,
    failed: u64,
    dead: u64,
    lost: u64,
    twice: u64,
    cents_enqueued: u64,
    cents_performed: u64,
}

/// Reads the ledger, prints the table, and says whether the deploy was safe.
async fn tally(queue: &Queue, restarts: &[Restart]) -> Result<bool, Error> {
    let enqueued = queue.enqueued().await?;
    let performed = queue.performed().await?;
    let dead = queue.dead_letters().await?;
    let left = queue.queued_payloads().await?;
    let (reporting, [_, _, discarded_reported, _, _, released, fenced]) = queue.reports().await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);

    let mut tallies = [Tally::default(); PHASES.len()];
    let mut phase_of: HashMap<&str, usize> = HashMap::new();
    for (id, phase, _, cents) in &enqueued {
        let phase = usize::try_from(*phase - 1)
            .unwrap_or(0)
            .min(PHASES.len() - 1);
        phase_of.insert(id, phase);
        tallies[phase].enqueued += 1;
        tallies[phase].cents_enqueued += count(*cents);
    }
    let mut times: HashMap<&str, u64> = HashMap::new();
    for (id, relation, attempt, defers, cents) in &performed {
        let Some(&phase) = phase_of.get(id.as_str()) else {
            continue;
        };
        let seen = times.entry(id).or_default();
        *seen += 1;
        let tally = &mut tallies[phase];
        if *seen > 1 {
            tally.twice += 1;
            continue;
        }
        tally.performed += 1;
        tally.upcast += u64::from(relation == "older-major");
        tally.deferred += count(*defers);
        tally.max_defers = tally.max_defers.max(count(*defers));
        tally.failed += u64::from(*attempt > 0);
        tally.cents_performed += count(*cents);
    }
    let id_of = |payload: &[u8]| {
        jobwire::wire::Header::read(payload)
            .ok()
            .and_then(|header| header.meta().id().map(str::to_owned))
    };
    let mut settled: HashMap<String, ()> = HashMap::new();
    for letter in &dead {
        eprintln!("dead-lettered: #{}: {}", letter.job_id, letter.reason);
        if let Some(id) = id_of(&letter.payload) {
            if let Some(&phase) = phase_of.get(id.as_str()) {
                tallies[phase].dead += 1;
                tallies[phase].failed += 1;
            }
            settled.insert(id, ());
        }
    }
    for payload in &left {
        eprintln!(
            "left in the queue: {}",
            String::from_utf8_lossy(&payload[..payload.len().min(120)])
        );
    }
    // A fax that N+1 never performed was discarded on purpose (it is
    // retired), as the workers' reports must confirm; any other job that
    // was neither performed nor dead-lettered is lost.
    let mut missing_faxes = 0u64;
    for (id, _, job, _) in &enqueued {
        if times.contains_key(id.as_str()) || settled.contains_key(id) {
            continue;
        }
        let phase = phase_of.get(id.as_str()).copied().unwrap_or(0);
        if job == "user.welcome_fax" {
            tallies[phase].discarded += 1;
            missing_faxes += 1;
        } else {
            tallies[phase].lost += 1;
        }
    }
    let unexplained = missing_faxes.saturating_sub(count(discarded_reported));

    println!(
        "{:<18} {:>8} {:>9} {:>6} {:>8} {:>10} {:>9} {:>6} {:>13} {:>4} {:>15}",
        "phase",
        "enqueued",
        "performed",
        "upcast",
        "deferred",
        "max defers",
        "discarded",
        "failed",
        "dead-lettered",
        "lost",
        "performed twice"
    );
    let mut total = Tally::default();
    for (name, t) in PHASES.iter().zip(&tallies) {
        println!(
            "{:<18} {:>8} {:>9} {:>6} {:>8} {:>10} {:>9} {:>6} {:>13} {:>4} {:>15}",
            name,
            t.enqueued,
            t.performed,
            t.upcast,
            t.deferred,
            t.max_defers,
            t.discarded,
            t.failed,
            t.dead,
            t.lost,
            t.twice
        );
        total.enqueued += t.enqueued;
        total.performed += t.performed;
        total.upcast += t.upcast;
        total.deferred += t.deferred;
        total.max_defers = total.max_defers.max(t.max_defers);
        total.discarded += t.discarded;
        total.failed += t.failed;
        total.dead += t.dead;
        total.lost += t.lost;
        total.twice += t.twice;
        total.cents_enqueued += t.cents_enqueued;
        total.cents_performed += t.cents_performed;
    }
    println!(
        "{:<18} {:>8} {:>9} {:>6} {:>8} {:>10} {:>9} {:>6} {:>13} {:>4} {:>15}",
        "total",
        total.enqueued,
        total.performed,
        total.upcast,
        total.deferred,
        total.max_defers,
        total.discarded,
        total.failed,
        total.dead,
        total.lost + unexplained,
        total.twice
    );
    println!();
    for restart in restarts {
        println!(
            "SIGTERM to {} with {} jobs in flight: it finished them and stopped in {} ms; {} took its place",
            restart.stopped,
            restart.in_flight,
            restart.took.as_millis(),
            restart.started
        );
    }
    println!(
        "{reporting} worker processes reported: {discarded_reported} retired payloads discarded, {released} jobs put back unfinished at shutdown, {fenced} claims lost"
    );
    println!(
        "{} cents charged of {} enqueued",
        total.cents_performed, total.cents_enqueued
    );
    let safe = total.failed == 0
        && total.lost == 0
        && unexplained == 0
        && total.twice == 0
        && left.is_empty()
        && total.cents_performed == total.cents_enqueued
        && restarts.iter().all(|restart| restart.in_flight > 0);
    if safe {
        println!("the deploy was safe: 0 failed, 0 lost, 0 performed twice, every cent arrived");
    } else {
        println!("THE DEPLOY WAS NOT SAFE");
    }
    Ok(safe)
}
