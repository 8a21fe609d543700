//! What the Sidekiq tests share: the runner, Redis and Ruby, the jobs, and
//! worker processes (this very binary, run again as a child).

use jobwire::backend::sidekiq::Sidekiq;
use jobwire::worker::{DeferPolicy, Report, RetryPolicy, Worker};
use jobwire::{Context, HandlerError, Job, NoPrevious, Router};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub use crate::runner::Test;

/// The Redis the tests use: database 9 unless `JOBWIRE_REDIS_URL` says.
pub fn url() -> String {
    std::env::var("JOBWIRE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/9".into())
}

fn required(var: &str) -> bool {
    std::env::var_os(var).is_some()
}

fn redis_answers() -> bool {
    redis::Client::open(url())
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
        .is_ok()
}

/// Whether Ruby with the Sidekiq gem is here.
pub fn ruby_sidekiq() -> bool {
    Command::new("ruby")
        .args(["-e", "require 'sidekiq'"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `tests` one after another, honouring a name filter, and reports
/// like libtest. Without Redis, or Ruby's Sidekiq, says what it did not run
/// (and fails instead under `JOBWIRE_REQUIRE_REDIS` or
/// `JOBWIRE_REQUIRE_PRODUCERS`).
pub fn run(tests: &[Test]) -> std::process::ExitCode {
    if std::env::args().any(|arg| arg == "--list") {
        return crate::runner::run(tests);
    }
    if !redis_answers() {
        if required("JOBWIRE_REQUIRE_REDIS") {
            println!(
                "no Redis answers at {} (JOBWIRE_REQUIRE_REDIS is set)",
                url()
            );
            return std::process::ExitCode::FAILURE;
        }
        println!(
            "\nNOT RUN: {} Sidekiq tests: no Redis answers at {} (start redis-server, or set JOBWIRE_REDIS_URL)",
            tests.len(),
            url()
        );
        return std::process::ExitCode::SUCCESS;
    }
    if !ruby_sidekiq() {
        if required("JOBWIRE_REQUIRE_PRODUCERS") || required("JOBWIRE_REQUIRE_REDIS") {
            println!(
                "Ruby's Sidekiq gem is missing (Debian: ruby-sidekiq), and the tests require it"
            );
            return std::process::ExitCode::FAILURE;
        }
        println!(
            "\nNOT RUN: {} Sidekiq tests: Ruby's Sidekiq gem is missing (Debian: ruby ruby-sidekiq)",
            tests.len()
        );
        return std::process::ExitCode::SUCCESS;
    }
    crate::runner::run(tests)
}

/// Runs a future on a fresh runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// The queue, on an emptied database.
pub async fn fresh() -> Sidekiq {
    let queue = Sidekiq::connect(&url()).await.expect("connects to Redis");
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut queue.connection())
        .await
        .expect("empties the test database");
    queue
}

/// Runs a Ruby script with the Sidekiq client pointed at the test
/// database; its output. Panics, with the output, if it fails.
pub fn ruby(script: &str) -> String {
    let prelude = "require 'sidekiq'\n\
        Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch('REDIS_URL') } }\n\
        Sidekiq.logger.level = Logger::WARN\n";
    let output = Command::new("ruby")
        .args(["-W0", "-e", &format!("{prelude}{script}")])
        .env("REDIS_URL", url())
        .output()
        .expect("runs ruby");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the Ruby script failed:\n{text}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `done` or `limit`; whether it was done.
pub async fn until<F, Fut>(limit: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    done().await
}

/// A list's members, as text.
pub async fn list(queue: &Sidekiq, key: &str) -> Vec<String> {
    queue
        .connection()
        .lrange(key, 0, -1)
        .await
        .expect("reads a list")
}

/// A Redis server of the test's own, on a free port, with the AOF written
/// on every write (`appendfsync always`) into a scratch folder; killed and
/// removed on drop.
pub struct TempRedis {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl TempRedis {
    /// Starts one. Fails (never skips) without `redis-server`.
    pub fn start() -> TempRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("jobwire-redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let mut redis = TempRedis {
            port,
            dir,
            child: None,
        };
        redis.up();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (again), replaying its AOF.
    pub fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts redis-server (Debian: redis-server)");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            let ready = redis::Client::open(self.url())
                .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
                .is_ok();
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// `kill -9` of the server.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Jobs recorded as performed: (id, worker, attempt), in order.
pub async fn performed(queue: &Sidekiq) -> Vec<(i64, String, u32)> {
    list(queue, "ledger:performed")
        .await
        .iter()
        .map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next().and_then(|p| p.parse().ok()).expect("an id");
            let worker = parts.next().expect("a worker").to_owned();
            let attempt = parts
                .next()
                .and_then(|p| p.parse().ok())
                .expect("an attempt");
            (id, worker, attempt)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Jobs.

/// What the jobs write to: Redis lists, and the worker's name.
#[derive(Clone)]
pub struct Recorder {
    pub conn: ConnectionManager,
    pub worker: String,
}

/// Ruby's `LedgerJob.perform_async(id, ms)`: sleeps `ms`, then records
/// itself in `ledger:performed`. Its start is in `ledger:started`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LedgerJob {
    #[serde(rename = "0")]
    pub id: i64,
    #[serde(rename = "1")]
    pub ms: u64,
}

impl Job for LedgerJob {
    const NAME: &'static str = "LedgerJob";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Recorder;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Recorder>) -> Result<(), HandlerError> {
        let mut conn = ctx.state().conn.clone();
        let worker = ctx.state().worker.clone();
        let _: () = conn
            .rpush("ledger:started", format!("{}:{worker}", self.id))
            .await?;
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        let _: () = conn
            .rpush(
                "ledger:performed",
                format!("{}:{worker}:{}", self.id, ctx.attempt()),
            )
            .await?;
        Ok(())
    }
}

/// ActiveJob's `Mailer.perform_later(user_id: 5)`, through Sidekiq's
/// adapter: keyword arguments are one hash.
#[derive(Debug, Serialize, Deserialize)]
pub struct Mailer {
    pub user_id: i64,
}

impl Job for Mailer {
    const NAME: &'static str = "Mailer";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Recorder;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Recorder>) -> Result<(), HandlerError> {
        let mut conn = ctx.state().conn.clone();
        let worker = ctx.state().worker.clone();
        let _: () = conn
            .rpush(
                "ledger:performed",
                format!("{}:{worker}:{}", self.user_id, ctx.attempt()),
            )
            .await?;
        Ok(())
    }
}

/// Fails until its attempt reaches `succeed_at` (never, when negative).
#[derive(Debug, Serialize, Deserialize)]
pub struct Flaky {
    #[serde(rename = "0")]
    pub id: i64,
    #[serde(rename = "1")]
    pub succeed_at: i64,
}

impl Job for Flaky {
    const NAME: &'static str = "FlakyJob";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Recorder;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Recorder>) -> Result<(), HandlerError> {
        if self.succeed_at < 0 || i64::from(ctx.attempt()) < self.succeed_at {
            return Err(HandlerError::retryable(format!(
                "flaky job {} failed at attempt {}",
                self.id,
                ctx.attempt()
            )));
        }
        let mut conn = ctx.state().conn.clone();
        let worker = ctx.state().worker.clone();
        let _: () = conn
            .rpush(
                "ledger:performed",
                format!("{}:{worker}:{}", self.id, ctx.attempt()),
            )
            .await?;
        Ok(())
    }
}

/// A backfill over items 1..=`to`, `ms` each, recorded in `ledger:swept`
/// as `item:worker`; it checkpoints every 100 ms.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backfill {
    pub to: u64,
    pub ms: u64,
}

impl Job for Backfill {
    const NAME: &'static str = "BackfillJob";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Recorder;
    type Data = ();

    async fn perform(self, ctx: &mut Context<'_, Recorder>) -> Result<(), HandlerError> {
        jobwire::iteration::iterate(self, ctx).await
    }
}

impl jobwire::iteration::Iterate for Backfill {
    type Cursor = u64;
    type Item = u64;
    const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

    async fn next_items(
        &self,
        after: Option<&u64>,
        _: &mut Context<'_, Recorder>,
    ) -> Result<Vec<(u64, u64)>, HandlerError> {
        let from = after.map_or(1, |n| n + 1);
        Ok((from..=self.to).take(10).map(|n| (n, n)).collect())
    }

    async fn each(&self, item: u64, ctx: &mut Context<'_, Recorder>) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        let mut conn = ctx.state().conn.clone();
        let worker = ctx.state().worker.clone();
        let _: () = conn
            .rpush("ledger:swept", format!("{item}:{worker}:{}", ctx.attempt()))
            .await?;
        Ok(())
    }
}

/// The router every worker here runs.
pub fn router(queue: &Sidekiq, worker: &str) -> Result<Router, Error> {
    Ok(Router::builder()
        .job::<LedgerJob>()
        .job::<Mailer>()
        .job::<Flaky>()
        .iterable::<Backfill>()
        .state(Recorder {
            conn: queue.connection(),
            worker: worker.to_owned(),
        })
        .build()?)
}

/// A worker on the test database, with short delays so that tests finish.
pub fn worker(queue: &Sidekiq, name: &str, lease: Duration) -> Result<Worker<Sidekiq>, Error> {
    Ok(Worker::new(queue.clone(), router(queue, name)?)
        .name(name)
        .concurrency(4)
        .lease(lease)
        .poll_interval(Duration::from_millis(20))
        .shutdown_budget(Duration::from_millis(300))
        .deferral(
            DeferPolicy::default()
                .with_window(Duration::from_secs(2))
                .with_delays(Duration::from_millis(200), Duration::from_millis(200)),
        )
        .retries(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_delays(Duration::from_millis(100), Duration::from_millis(200)),
        ))
}

// ---------------------------------------------------------------------------
// Worker processes.

/// A worker process: this binary as a child, performing until SIGTERM.
pub struct WorkerProcess {
    pub name: String,
    child: Option<Child>,
}

impl WorkerProcess {
    /// Starts one named `name`, whose leases last `lease`.
    pub fn start(name: &str, lease: Duration) -> WorkerProcess {
        WorkerProcess::start_at(name, lease, &url())
    }

    /// Starts one on the Redis at `redis_url`.
    pub fn start_at(name: &str, lease: Duration, redis_url: &str) -> WorkerProcess {
        WorkerProcess::spawn(name, lease, redis_url, None)
    }

    /// Starts one behind the file gate at `gate`, which holds back
    /// `LedgerJob` and nothing else.
    pub fn start_gated(name: &str, gate: &std::path::Path) -> WorkerProcess {
        WorkerProcess::spawn(name, Duration::from_secs(30), &url(), Some(gate))
    }

    fn spawn(
        name: &str,
        lease: Duration,
        redis_url: &str,
        gate: Option<&std::path::Path>,
    ) -> WorkerProcess {
        let mut command = Command::new(std::env::current_exe().expect("this binary"));
        if let Some(gate) = gate {
            command.env("JOBWIRE_SIDEKIQ_GATE", gate);
        }
        let child = command
            .env("JOBWIRE_SIDEKIQ_ROLE", "worker")
            .env("JOBWIRE_SIDEKIQ_NAME", name)
            .env("JOBWIRE_SIDEKIQ_LEASE_MS", lease.as_millis().to_string())
            .env("JOBWIRE_REDIS_URL", redis_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts a worker process");
        WorkerProcess {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    /// `kill -9`.
    pub fn kill_9(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the process's report line.
    pub fn term(mut self, limit: Duration) -> String {
        let mut child = self.child.take().expect("a running worker");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -TERM");
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("waits") {
                assert!(
                    status.success(),
                    "worker {} exited with {status}",
                    self.name
                );
                break;
            }
            assert!(
                Instant::now() < until,
                "worker {} did not exit within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            use std::io::Read;
            let _ = stdout.read_to_string(&mut out);
        }
        out.lines()
            .find(|line| line.starts_with("REPORT"))
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The child's side: a worker until SIGTERM, then its report on stdout.
pub fn child(role: &str) -> std::process::ExitCode {
    if role != "worker" {
        eprintln!("unknown role {role}");
        return std::process::ExitCode::FAILURE;
    }
    let worked: Result<Report, Error> = block_on(async {
        let name = std::env::var("JOBWIRE_SIDEKIQ_NAME")?;
        let lease = Duration::from_millis(std::env::var("JOBWIRE_SIDEKIQ_LEASE_MS")?.parse()?);
        let queue = Sidekiq::connect(&url()).await?;
        let worker = worker(&queue, &name, lease)?;
        let stop = jobwire::worker::shutdown_signal();
        Ok(match std::env::var("JOBWIRE_SIDEKIQ_GATE") {
            Ok(path) => {
                let gate = jobwire::gate::file::FileGate::new(path);
                worker
                    .gate(gate, jobwire::gate::Gated::jobs(["LedgerJob"]))
                    .run(stop)
                    .await
            }
            Err(_) => worker.run(stop).await,
        })
    });
    match worked {
        Ok(report) => {
            println!(
                "REPORT performed={} released={} fenced={} dead_lettered={}",
                report.performed, report.released, report.fenced, report.dead_lettered
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("worker failed: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
