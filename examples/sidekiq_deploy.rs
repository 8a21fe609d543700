//! A rolling deploy across two languages, on Sidekiq's own Redis keys.
//!
//! A Ruby app with the real Sidekiq gem enqueues release N's invoices
//! (`SendInvoiceJob.perform_async(id, cents)`), and Rust workers perform
//! them. Then both sides are deployed to N+1 at once, as a rolling deploy
//! does it: the Ruby class is renamed `InvoiceMailerJob` and gains an
//! optional argument (`jobwire_version "1.1.0"`), and the Rust workers are
//! replaced one by one: the first N worker is stopped with SIGTERM with jobs
//! in flight, the second is killed with `kill -9`. N+1's Rust job reads the
//! old name as an alias; N's workers defer the new name until an N+1 worker
//! takes it.
//!
//! Every performance is written down before its acknowledgement, and every
//! id before its enqueue, so the ledger proves what was lost and what was
//! performed twice (only a job whose lease ran out on the killed worker may
//! be, and it is counted).
//!
//! ```text
//! cargo run --features redis --example sidekiq_deploy
//! ```
//!
//! It needs Redis on 127.0.0.1:6379 (database 10, emptied; or
//! `JOBWIRE_REDIS_URL`) and Ruby with the Sidekiq gem (Debian: `ruby-sidekiq`).

use jobwire::backend::sidekiq::Sidekiq;
use jobwire::worker::{DeferPolicy, Worker};
use jobwire::{Added, Context, HandlerError, Job, NoPrevious, Router};
use redis::AsyncCommands;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Each performance of one id: (worker, attempt, cents).
type Runs = Vec<(String, u32, i64)>;

fn url() -> String {
    std::env::var("JOBWIRE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/10".into())
}

/// What the invoice jobs write to.
#[derive(Clone)]
struct Ledger {
    conn: redis::aio::ConnectionManager,
    worker: String,
}

impl Ledger {
    async fn performed(&self, id: i64, cents: i64, attempt: u32) -> Result<(), HandlerError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .rpush(
                "deploy:performed",
                format!("{id}:{}:{attempt}:{cents}", self.worker),
            )
            .await?;
        Ok(())
    }
}

/// Release N: `SendInvoiceJob.perform_async(id, cents)`.
#[derive(Debug, Serialize, Deserialize)]
struct SendInvoice {
    #[serde(rename = "0")]
    id: i64,
    #[serde(rename = "1")]
    cents: i64,
}

impl Job for SendInvoice {
    const NAME: &'static str = "SendInvoiceJob";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Ledger>) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ctx.state()
            .performed(self.id, self.cents, ctx.attempt())
            .await
    }
}

/// Release N+1: renamed `InvoiceMailerJob`, with an optional note.
#[derive(Debug, Serialize, Deserialize)]
struct InvoiceMailer {
    #[serde(rename = "0")]
    id: i64,
    #[serde(rename = "1")]
    cents: i64,
    #[serde(rename = "2")]
    note: Added<String>,
}

impl Job for InvoiceMailer {
    const NAME: &'static str = "InvoiceMailerJob";
    const VERSION: Version = Version::new(1, 1, 0);
    const ALIASES: &'static [&'static str] = &["SendInvoiceJob"];
    type Previous = NoPrevious;
    type State = Ledger;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Ledger>) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _note = self.note.as_option();
        ctx.state()
            .performed(self.id, self.cents, ctx.attempt())
            .await
    }
}

/// The worker process's side: release `n` or `n1`, until SIGTERM.
async fn work(release: &str, name: &str) -> Result<(), Error> {
    let queue = Sidekiq::connect(&url()).await?;
    let ledger = Ledger {
        conn: queue.connection(),
        worker: name.to_owned(),
    };
    let router = if release == "n1" {
        Router::builder().job::<InvoiceMailer>()
    } else {
        Router::builder().job::<SendInvoice>()
    }
    .state(ledger)
    .build()?;
    let report = Worker::new(queue, router)
        .name(name)
        .concurrency(8)
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .shutdown_budget(Duration::from_secs(5))
        .deferral(
            DeferPolicy::default()
                .with_window(Duration::from_secs(120))
                .with_delays(Duration::from_millis(100), Duration::from_millis(500)),
        )
        .run(jobwire::worker::shutdown_signal())
        .await;
    println!("{name}: {report}");
    Ok(())
}

/// A worker process of this example.
struct WorkerProcess {
    name: String,
    child: Child,
}

impl WorkerProcess {
    fn start(release: &str, name: &str) -> Result<WorkerProcess, Error> {
        let child = Command::new(std::env::current_exe()?)
            .args(["--worker", release, name])
            .env("JOBWIRE_REDIS_URL", url())
            .stdout(Stdio::inherit())
            .spawn()?;
        Ok(WorkerProcess {
            name: name.to_owned(),
            child,
        })
    }

    fn sigterm(mut self) -> Result<Duration, Error> {
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("{} exited with {status}", self.name).into());
        }
        Ok(started.elapsed())
    }

    fn kill_9(mut self) -> Result<(), Error> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Runs a Ruby script with the Sidekiq client on the example's database.
fn ruby(script: &str) -> Result<(), Error> {
    let prelude = "require 'sidekiq'\n\
        Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch('REDIS_URL') } }\n";
    let output = Command::new("ruby")
        .args(["-W0", "-e", &format!("{prelude}{script}")])
        .env("REDIS_URL", url())
        .output()
        .map_err(|error| format!("ruby: {error} (Debian: ruby ruby-sidekiq)"))?;
    if !output.status.success() {
        return Err(format!(
            "the Ruby producer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

/// Ruby's release N enqueues ids `from..=to`, each written down first.
fn ruby_n(from: i64, to: i64) -> Result<(), Error> {
    ruby(&format!(
        r#"class SendInvoiceJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.0.0"
end
({from}..{to}).each do |id|
  Sidekiq.redis {{ |r| r.rpush("deploy:enqueued", id) }}
  SendInvoiceJob.perform_async(id, id * 100)
end"#
    ))
}

/// Ruby's release N+1: the renamed class, with the new argument.
fn ruby_n1(from: i64, to: i64) -> Result<(), Error> {
    ruby(&format!(
        r#"class InvoiceMailerJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.1.0"
end
({from}..{to}).each do |id|
  Sidekiq.redis {{ |r| r.rpush("deploy:enqueued", id) }}
  InvoiceMailerJob.perform_async(id, id * 100, "thank you")
end"#
    ))
}

/// Waits until `performed` ids reach `count`, or a minute.
async fn until_performed(queue: &Sidekiq, count: usize) -> Result<(), Error> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let distinct = performed(queue).await?.len();
        if distinct >= count {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!("only {distinct} of {count} performed within a minute").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every id performed, with each performance: (worker, attempt, cents).
async fn performed(queue: &Sidekiq) -> Result<BTreeMap<i64, Runs>, Error> {
    let lines: Vec<String> = queue.connection().lrange("deploy:performed", 0, -1).await?;
    let mut out: BTreeMap<i64, Runs> = BTreeMap::new();
    for line in lines {
        let parts: Vec<&str> = line.split(':').collect();
        if let [id, worker, attempt, cents] = parts.as_slice() {
            out.entry(id.parse()?).or_default().push((
                (*worker).to_owned(),
                attempt.parse()?,
                cents.parse()?,
            ));
        }
    }
    Ok(out)
}

async fn deploy() -> Result<bool, Error> {
    let queue = Sidekiq::connect(&url()).await?;
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut queue.connection())
        .await?;

    println!("1. all on N: Ruby N enqueues 1..=300, Rust workers n-1 and n-2 perform");
    let n1 = WorkerProcess::start("n", "n-1")?;
    let n2 = WorkerProcess::start("n", "n-2")?;
    ruby_n(1, 300)?;
    until_performed(&queue, 250).await?;

    println!(
        "2. rolling: n-2 gets kill -9, Ruby goes to N+1 (renamed class, new argument), n-1 gets SIGTERM"
    );
    ruby_n(301, 500)?;
    let m1 = WorkerProcess::start("n1", "n1-1")?;
    let held: usize = queue.connection().hlen("jobwire:claims").await?;
    n2.kill_9()?;
    println!("   n-2 killed with kill -9 ({held} claims held across the fleet at that moment)");
    ruby_n1(501, 700)?;
    // n-1 reaches N+1's jobs once N's are done, and defers them: it does
    // not know the new name.
    until_performed(&queue, 480).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = n1.sigterm()?;
    println!("   n-1 stopped in {} ms after SIGTERM", stopped.as_millis());
    ruby_n1(701, 800)?;
    let m2 = WorkerProcess::start("n1", "n1-2")?;

    println!("3. all on N+1: Ruby N+1 enqueues 801..=1000");
    ruby_n1(801, 1000)?;
    until_performed(&queue, 1000).await?;
    m1.sigterm()?;
    m2.sigterm()?;

    let enqueued: Vec<i64> = queue.connection().lrange("deploy:enqueued", 0, -1).await?;
    let performed = performed(&queue).await?;
    let lost: Vec<i64> = enqueued
        .iter()
        .filter(|id| !performed.contains_key(id))
        .copied()
        .collect();
    let twice: Vec<(&i64, &Runs)> = performed
        .iter()
        .filter(|(_, runs)| runs.len() > 1)
        .collect();
    // A job performed twice is one whose first performer was killed after
    // writing it down: its second performance counts the lost lease.
    let unexplained: Vec<_> = twice
        .iter()
        .filter(|(_, runs)| !runs.iter().any(|(w, a, _)| *a >= 1 && w.starts_with("n1")))
        .collect();
    let wrong_cents = performed
        .iter()
        .filter(|(id, runs)| runs.iter().any(|(_, _, cents)| *cents != **id * 100))
        .count();
    let by_n: usize = performed
        .values()
        .filter(|runs| runs.iter().any(|(w, _, _)| w.starts_with("n-")))
        .count();
    let recovered = performed
        .values()
        .filter(|runs| runs.iter().any(|(_, attempt, _)| *attempt >= 1))
        .count();
    let dead = queue.dead_letters().await?.len();
    println!(
        "\nenqueued {}  performed {} (by N {}, by N+1 {}; {} taken back from the killed worker, at attempt 1)  lost {}  performed twice {} (after kill -9, counted: {})  dead-lettered {}  wrong amounts {}",
        enqueued.len(),
        performed.len(),
        by_n,
        performed.len() - by_n,
        recovered,
        lost.len(),
        twice.len(),
        twice.len() - unexplained.len(),
        dead,
        wrong_cents
    );
    let safe = lost.is_empty() && unexplained.is_empty() && dead == 0 && wrong_cents == 0;
    if safe {
        println!("the deploy was safe: 0 lost, 0 performed twice but after the kill -9, every cent arrived");
    } else {
        println!("the deploy was NOT safe: lost {lost:?}, performed twice {unexplained:?}");
    }
    Ok(safe)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let [_, flag, release, name] = args.as_slice() {
        if flag == "--worker" {
            return match runtime.block_on(work(release, name)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("{name}: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    match runtime.block_on(deploy()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("sidekiq_deploy: {error}");
            ExitCode::FAILURE
        }
    }
}
