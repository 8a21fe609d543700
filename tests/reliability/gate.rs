//! The deploy gate, with real worker processes, the real `jobwire gate`
//! command and a real PostgreSQL server: closing waits for the gated jobs
//! in flight and lets none start until it opens; a killed deployer's
//! PostgreSQL gate opens by itself; a file lease that is not renewed expires
//! and its late `open` is refused; of two deployers closing at once, one
//! wins; an iterable job checkpoints when the gate closes and resumes after.

use crate::harness::{block_on, now_ms, sleepy, Db, Queue, Settings, Sweep, WorkerProcess};
use jobwire::{Producer, WritePolicy};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where a test's gate lives, and how to address it.
pub(crate) struct GateAt {
    /// `--file PATH` or `--postgres URL --name NAME`.
    pub(crate) args: Vec<String>,
    /// What the worker processes are told (`JOBWIRE_TEST_GATE`).
    pub(crate) worker: String,
}

impl GateAt {
    pub(crate) fn file(test: &str) -> GateAt {
        let dir = std::env::temp_dir().join(format!(
            "jobwire-gate-{test}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let path = dir.join("jobs.gate").display().to_string();
        GateAt {
            args: vec!["--file".into(), path.clone()],
            worker: format!("file:{path}"),
        }
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(test: &str) -> GateAt {
        let name = format!("{test}-{}-{}", std::process::id(), now_ms());
        GateAt {
            args: vec![
                "--postgres".into(),
                crate::harness::postgres_url(),
                "--name".into(),
                name.clone(),
            ],
            worker: format!("postgres:{name}"),
        }
    }

    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jobwire"));
        command.arg("gate");
        command.args(&self.args).stdin(Stdio::null());
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("runs jobwire gate")
    }

    /// `close` (a background holder keeps it closed): its exit code and
    /// the token it printed.
    pub(crate) fn close(&self, args: &[&str]) -> (i32, String) {
        let output = self.run(&[&["close"], args].concat());
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
    }

    pub(crate) fn open(&self, token: &str) -> i32 {
        self.run(&["open", "--token", token])
            .status
            .code()
            .unwrap_or(-1)
    }

    pub(crate) fn status(&self) -> String {
        String::from_utf8_lossy(&self.run(&["status"]).stdout).into_owned()
    }
}

fn sqlite() -> (Db, GateAt) {
    (Db::sqlite("gate"), GateAt::file("gate"))
}

#[cfg(feature = "postgres")]
fn postgres() -> (Db, GateAt) {
    (Db::postgres("gate"), GateAt::postgres("gate"))
}

pub fn close_waits_for_jobs_in_flight_file() {
    let (db, gate) = sqlite();
    close_waits_for_jobs_in_flight(&db, &gate);
}

#[cfg(feature = "postgres")]
pub fn close_waits_for_jobs_in_flight_postgres() {
    let (db, gate) = postgres();
    close_waits_for_jobs_in_flight(&db, &gate);
}

fn close_waits_for_jobs_in_flight(db: &Db, gate: &GateAt) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let worker = WorkerProcess::start(
            db,
            &Settings::new("worker").concurrency(10).gate(&gate.worker),
        );
        for id in 1..=10 {
            queue.enqueue(&sleepy(id, 1_500)).await;
        }
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.started().await == 10
                })
                .await,
            "ten gated jobs in flight"
        );
        let (code, token) = gate.close(&["--wait", "--timeout", "60s"]);
        let closed_at = now_ms();
        assert_eq!(code, 0, "closed");
        let performed = queue.performed().await;
        assert_eq!(
            performed.len(),
            10,
            "close returned only after all ten finished"
        );
        assert!(performed.iter().all(|job| job.ended_ms <= closed_at));
        assert!(gate.status().starts_with("closed by"), "{}", gate.status());
        // Nothing gated starts while it is closed.
        for id in 11..=13 {
            queue.enqueue(&sleepy(id, 10)).await;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(
            queue.started().await,
            10,
            "no gated job started while closed"
        );
        assert_eq!(gate.open(&token), 0, "opened");
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the held-back jobs ran once the gate opened"
        );
        let report = worker.stop(Duration::from_secs(30)).await;
        assert_eq!(report.performed, 13, "{report}");
    });
}

/// A deployer in the wrapped form, `close -- CMD`, whose command waits on
/// its stdin: the test owns the process, and its command ends with it.
pub(crate) fn wrapped_deployer(gate: &GateAt, extra: &[&str]) -> (Child, String) {
    let mut child = gate
        .command()
        .args([&["close"], extra, &["--", "sh", "-c", "read line"]].concat())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts a deployer");
    let mut line = String::new();
    if let Some(stderr) = child.stderr.take() {
        let _ = BufReader::new(stderr).read_line(&mut line);
    }
    let token = line
        .trim()
        .strip_prefix("jobwire gate: closed (")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("the deployer closed the gate: {line:?}"))
        .to_owned();
    (child, token)
}

#[cfg(feature = "postgres")]
pub fn a_killed_deployer_opens_the_postgres_gate() {
    let (db, gate) = postgres();
    block_on(async {
        let queue = db.open().await.expect("opens");
        let worker = WorkerProcess::start(&db, &Settings::new("worker").gate(&gate.worker));
        let (mut deployer, _) = wrapped_deployer(&gate, &[]);
        queue.enqueue(&sleepy(1, 10)).await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            queue.started().await,
            0,
            "held back while the gate is closed"
        );
        deployer.kill().expect("kill -9 the deployer");
        let killed = Instant::now();
        let _ = deployer.wait();
        assert!(
            queue
                .until(Duration::from_secs(10), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the workers resumed by themselves"
        );
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "within a few seconds"
        );
        assert!(gate.status().starts_with("open"));
        worker.stop(Duration::from_secs(30)).await;
    });
}

pub fn an_expired_file_lease_cannot_open_the_next_holders_gate() {
    let gate = GateAt::file("lease");
    let (first, first_token) = wrapped_deployer(&gate, &["--lease", "1s"]);
    // The first deployer freezes: it stops renewing, and its lease runs out.
    let pid = first.id().to_string();
    let signal = |name: &str| {
        Command::new("sh")
            .args(["-c", &format!("kill -{name} {pid}")])
            .status()
            .expect("kill")
    };
    signal("STOP");
    std::thread::sleep(Duration::from_millis(1_500));
    let (code, second_token) = gate.close(&["--timeout", "10s"]);
    assert_eq!(
        code, 0,
        "the expired lease is no one's: a second deployer closes"
    );
    // The first one's late `open` is refused, and changes nothing.
    assert_eq!(gate.open(&first_token), 5);
    assert!(gate.status().starts_with("closed by"), "{}", gate.status());
    signal("CONT");
    let mut first = first;
    drop(first.stdin.take());
    let output = first.wait_with_output().expect("the first deployer ends");
    assert_eq!(
        output.status.code(),
        Some(6),
        "its own open is refused too, and its hold reported lapsed"
    );
    assert!(gate.status().starts_with("closed by"), "still the second's");
    assert_eq!(gate.open(&second_token), 0);
}

pub fn two_deployers_race_and_one_wins_file() {
    two_deployers_race(&GateAt::file("race"));
}

#[cfg(feature = "postgres")]
pub fn two_deployers_race_and_one_wins_postgres() {
    two_deployers_race(&GateAt::postgres("race"));
}

fn two_deployers_race(gate: &GateAt) {
    for _ in 0..3 {
        let spawn = || {
            gate.command()
                .args(["close", "--no-wait"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starts a deployer")
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (
            a.wait_with_output().expect("ends"),
            b.wait_with_output().expect("ends"),
        );
        let mut codes = [a.status.code(), b.status.code()];
        codes.sort_unstable();
        assert_eq!(
            codes,
            [Some(0), Some(3)],
            "exactly one wins; the other is told"
        );
        let winner = if a.status.success() { &a } else { &b };
        let token = String::from_utf8_lossy(&winner.stdout).trim().to_owned();
        assert_eq!(gate.open(&token), 0);
    }
}

pub fn an_iterable_job_checkpoints_when_the_gate_closes_file() {
    let (db, gate) = sqlite();
    an_iterable_job_checkpoints_when_the_gate_closes(&db, &gate);
}

#[cfg(feature = "postgres")]
pub fn an_iterable_job_checkpoints_when_the_gate_closes_postgres() {
    let (db, gate) = postgres();
    an_iterable_job_checkpoints_when_the_gate_closes(&db, &gate);
}

fn an_iterable_job_checkpoints_when_the_gate_closes(db: &Db, gate: &GateAt) {
    block_on(async {
        let queue: Queue = db.open().await.expect("opens");
        let payload = Producer::new(WritePolicy::Current)
            .seal(&Sweep {
                job: 1,
                to: 80,
                ms: 40,
            })
            .expect("seals");
        let id = queue.enqueue(&payload).await;
        let worker = WorkerProcess::start(db, &Settings::new("worker").gate(&gate.worker));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.progress(id).await.is_some_and(|items| items >= 5)
                })
                .await,
            "the job is under way"
        );
        let closing = Instant::now();
        let (code, token) = gate.close(&["--timeout", "30s"]);
        assert_eq!(code, 0);
        assert!(
            closing.elapsed() < Duration::from_secs(2),
            "the job stopped at its next item, not at its end"
        );
        let (attempt, _, wait) = queue.row(id).await.expect("put back");
        assert_eq!((attempt, wait.as_str()), (0, "interrupted"));
        let stopped_at = queue.progress(id).await.unwrap_or(0);
        assert!(stopped_at < 80);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            queue.progress(id).await.unwrap_or(0),
            stopped_at,
            "not resumed while closed"
        );
        assert_eq!(gate.open(&token), 0);
        assert!(
            queue
                .until(Duration::from_secs(60), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "resumed after open and finished"
        );
        worker.stop(Duration::from_secs(30)).await;
        let swept = queue.swept(1).await;
        assert_eq!(swept.len(), 80);
        assert!(
            swept.iter().all(|(_, times)| *times == 1),
            "every item exactly once: {swept:?}"
        );
    });
}
