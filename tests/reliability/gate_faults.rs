//! The deploy gate under the faults that used to make it lapse: a deploy
//! script killed while it holds the gate in steps, a hold that lapses while
//! the deploy thinks it holds it (a lease that ran out, a lease file
//! removed, a PostgreSQL session terminated), a worker whose gate session is
//! terminated while a close waits, a gate path that cannot be used, and a
//! corrupt lease. Real deploy scripts, the real `jobwire gate` command, real
//! worker processes and a real PostgreSQL server; both gates, through the
//! command and the library.

use crate::gate::{wrapped_deployer, GateAt};
use crate::harness::{block_on, now_ms, sleepy, Db, Settings, WorkerProcess};
use jobwire::gate::file::FileGate;
use jobwire::gate::GateError;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits (at most `limit`) for `done`.
fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Waits (at most `limit`) for a process to exit: its code, or `None` if it
/// still runs.
fn exited(child: &mut Child, limit: Duration) -> Option<i32> {
    let mut code = None;
    until(limit, || {
        code = child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.code().unwrap_or(-1));
        code.is_some()
    });
    code
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("runs kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// A deploy script that closes the gate in steps, writes the token down
/// and then waits (as a migration would), as `exec sleep` so that killing
/// it kills the whole script.
fn deploy_script(gate: &GateAt, extra: &str) -> (Child, String) {
    let dir = std::env::temp_dir().join(format!(
        "jobwire-script-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let token_file = dir.join("token");
    let args: Vec<String> = gate.args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "TOKEN=$('{}' gate {} close --timeout 10s {extra}) || exit $?\necho \"$TOKEN\" > '{}'\nexec sleep 600\n",
        env!("CARGO_BIN_EXE_jobwire"),
        args.join(" "),
        token_file.display()
    );
    let child = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("starts a deploy script");
    let mut token = String::new();
    assert!(
        until(Duration::from_secs(20), || {
            token = std::fs::read_to_string(&token_file)
                .unwrap_or_default()
                .trim()
                .to_owned();
            !token.is_empty()
        }),
        "the script closed the gate"
    );
    (child, token)
}

pub fn a_killed_deploy_script_opens_the_gate_file() {
    a_killed_deploy_script_opens_the_gate(&GateAt::file("script"));
}

#[cfg(feature = "postgres")]
pub fn a_killed_deploy_script_opens_the_gate_postgres() {
    a_killed_deploy_script_opens_the_gate(&GateAt::postgres("script"));
}

fn a_killed_deploy_script_opens_the_gate(gate: &GateAt) {
    // The default: the holder watches the script that ran `close`.
    let (mut script, _) = deploy_script(gate, "");
    assert!(gate.status().starts_with("closed by"), "{}", gate.status());
    script.kill().expect("kill -9 the deploy script");
    let _ = script.wait();
    assert!(
        until(Duration::from_secs(10), || gate
            .status()
            .starts_with("open")),
        "the gate opened once its script died, not after --max: {}",
        gate.status()
    );
    // `--watch none`: held until `open`, whatever happens to the script.
    let (mut script, token) = deploy_script(gate, "--watch none");
    script.kill().expect("kill -9 the deploy script");
    let _ = script.wait();
    std::thread::sleep(Duration::from_millis(1_000));
    assert!(gate.status().starts_with("closed by"), "{}", gate.status());
    assert_eq!(gate.open(&token), 0);
}

pub fn a_lapsed_file_hold_is_reported() {
    // The library: a lease that ran out is a lapse, on renew and on open.
    let gate = GateAt::file("lapse");
    let path = gate.args[1].clone();
    let library = FileGate::new(&path);
    let held = library
        .close("lib", Duration::from_millis(200), Duration::from_secs(5))
        .expect("closes");
    std::thread::sleep(Duration::from_millis(400));
    let renewed = library.renew(&held, Duration::from_secs(5));
    assert!(matches!(renewed, Err(GateError::Lapsed(_))), "{renewed:?}");
    let opened = library.open(&held.token);
    match opened {
        Err(error @ GateError::Lapsed(_)) => assert_eq!(error.exit_code(), 6),
        other => panic!("a late open of a lapsed lease succeeded: {other:?}"),
    }
    // The step form's late `open` says the same.
    let (code, token) = gate.close(&["--lease", "1s", "--watch", "none"]);
    assert_eq!(code, 0);
    let holder = holder_of(&path);
    signal(holder, "STOP");
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        gate.open(&token),
        6,
        "the lease ran out while the deploy ran"
    );
    signal(holder, "CONT");

    // The command form: a deployer that stalls past its lease. Its command
    // is told at once (SIGTERM), and the deploy exits 6, not 0.
    let (mut deployer, _) = wrapped_deployer(&gate, &["--lease", "1s"]);
    signal(deployer.id(), "STOP");
    std::thread::sleep(Duration::from_millis(1_500));
    signal(deployer.id(), "CONT");
    assert_eq!(
        exited(&mut deployer, Duration::from_secs(20)),
        Some(6),
        "the command was stopped and the lapse reported"
    );
    assert!(gate.status().starts_with("open"));

    // With --on-lapse continue, the command runs on, and the exit is 6.
    let (mut deployer, _) = wrapped_deployer(&gate, &["--lease", "1s", "--on-lapse", "continue"]);
    signal(deployer.id(), "STOP");
    std::thread::sleep(Duration::from_millis(1_500));
    signal(deployer.id(), "CONT");
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        deployer.try_wait().expect("waits"),
        None,
        "the command runs on"
    );
    finish(&mut deployer);
    assert_eq!(exited(&mut deployer, Duration::from_secs(20)), Some(6));

    // A lease file removed by hand while the command runs: the same.
    let (mut deployer, _) = wrapped_deployer(&gate, &[]);
    std::fs::remove_file(&path).expect("removes the lease");
    assert_eq!(exited(&mut deployer, Duration::from_secs(20)), Some(6));
}

/// Lets a wrapped `sh -c 'read line'` command finish.
fn finish(deployer: &mut Child) {
    if let Some(mut stdin) = deployer.stdin.take() {
        let _ = writeln!(stdin, "done");
    }
}

/// The pid of the background holder of the file gate at `path`: the
/// process that holds its lease's writes (found through its command line).
fn holder_of(path: &str) -> u32 {
    let output = Command::new("pgrep")
        .args(["-f", &format!("__hold --file {path}")])
        .output()
        .expect("runs pgrep");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("a holder for {path}"))
}

/// Terminates the PostgreSQL sessions whose application name starts with
/// `prefix`; how many.
#[cfg(feature = "postgres")]
async fn terminate(prefix: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&crate::harness::postgres_url())
        .await
        .expect("connects");
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name LIKE $1 || '%' AND pid <> pg_backend_pid()",
    )
    .bind(prefix)
    .fetch_one(&pool)
    .await
    .expect("terminates");
    pool.close().await;
    ended
}

#[cfg(feature = "postgres")]
pub fn a_lapsed_postgres_hold_is_reported() {
    let gate = GateAt::postgres("lapse");
    let name = gate.args[3].clone();
    block_on(async {
        // The library: a hold whose session ended cannot open as if it held.
        let library =
            jobwire::gate::postgres::PgGate::connect(&crate::harness::postgres_url(), &name)
                .await
                .expect("connects");
        let hold = library
            .close("lib", Duration::from_secs(10))
            .await
            .expect("closes");
        assert_eq!(terminate("jobwire-gate lib").await, 1);
        match hold.open().await {
            Err(error @ GateError::Lapsed(_)) => assert_eq!(error.exit_code(), 6),
            other => panic!("a lapsed hold opened as if held: {other:?}"),
        }
    });
    // The command form: the command is stopped, the exit is 6.
    let (mut deployer, _) = wrapped_deployer(&gate, &[]);
    block_on(async { assert_eq!(terminate("jobwire-gate ").await, 1) });
    assert_eq!(exited(&mut deployer, Duration::from_secs(20)), Some(6));
    // The step form: the holder closes it again at once, marked lapsed, and
    // the deployer's `open` reports the lapse.
    let (code, token) = gate.close(&["--watch", "none"]);
    assert_eq!(code, 0);
    block_on(async { assert_eq!(terminate("jobwire-gate ").await, 1) });
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        gate.status().starts_with("closed by"),
        "closed again: {}",
        gate.status()
    );
    assert_eq!(gate.open(&token), 6, "the lapse is reported");
    assert!(until(Duration::from_secs(10), || gate
        .status()
        .starts_with("open")));
}

#[cfg(feature = "postgres")]
pub fn a_worker_that_loses_its_gate_session_keeps_close_waiting_postgres() {
    let db = Db::postgres("passlost");
    let gate = GateAt::postgres("passlost");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let worker = WorkerProcess::start(
            &db,
            &Settings::new("worker").concurrency(2).gate(&gate.worker),
        );
        // Jobs that do not look at their cancellation: they run to the end.
        queue.enqueue(&sleepy(1, 3_000)).await;
        queue.enqueue(&sleepy(2, 3_000)).await;
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.started().await == 2
                })
                .await,
            "two gated jobs in flight"
        );
        let closer = gate
            .command()
            .args(["close", "--timeout", "60s", "--watch", "none"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts a closer");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The fault: the worker's gate session ends while the close waits.
        assert!(terminate("jobwire-worker-gate").await >= 1);
        let output = closer.wait_with_output().expect("the close returns");
        let closed_at = now_ms();
        assert!(output.status.success(), "{:?}", output.status);
        let performed = queue.performed().await;
        assert_eq!(
            performed.len(),
            2,
            "close returned only once the gated jobs of the worker that lost its session had ended"
        );
        assert!(performed.iter().all(|job| job.ended_ms <= closed_at));
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        queue.enqueue(&sleepy(3, 10)).await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            queue.started().await,
            2,
            "nothing gated starts while closed"
        );
        assert_eq!(gate.open(&token), 0);
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "the worker took a new pass and went on"
        );
        worker.stop(Duration::from_secs(30)).await;
    });
}

pub fn an_unusable_gate_path_is_said_once_and_status_fails() {
    let db = Db::sqlite("unusable");
    let dir = std::env::temp_dir().join(format!(
        "jobwire-missing-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let path = dir.join("jobs.gate").display().to_string();
    block_on(async {
        let queue = db.open().await.expect("opens");
        let worker =
            WorkerProcess::start(&db, &Settings::new("worker").gate(&format!("file:{path}")));
        queue.enqueue(&sleepy(1, 10)).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(
            queue.started().await,
            0,
            "an unusable gate counts as closed"
        );
        let log = worker.log();
        assert_eq!(
            log.matches("cannot read its gate").count(),
            1,
            "said once, not on every round: {log}"
        );
        assert!(log.contains(&path), "the path is named: {log}");
        // `status` reports the error instead of "open".
        let status = Command::new(env!("CARGO_BIN_EXE_jobwire"))
            .args(["gate", "--file", &path, "status"])
            .output()
            .expect("runs status");
        assert_eq!(status.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&status.stderr).contains(&path));
        assert!(FileGate::new(&path).status().is_err());
        // Once the folder is there, the worker reads its gate again.
        std::fs::create_dir_all(&dir).expect("creates the folder");
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "gated jobs resume once the gate can be read"
        );
        assert_eq!(worker.log().matches("cannot read its gate").count(), 1);
        worker.stop(Duration::from_secs(30)).await;
    });
}

pub fn a_corrupt_lease_is_repaired_with_force() {
    let db = Db::sqlite("corrupt");
    let gate = GateAt::file("corrupt");
    let path = gate.args[1].clone();
    std::fs::write(&path, b"\x00not a lease").expect("writes garbage");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let worker = WorkerProcess::start(&db, &Settings::new("worker").gate(&gate.worker));
        queue.enqueue(&sleepy(1, 10)).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(queue.started().await, 0, "safe: nothing gated runs");
        assert_eq!(
            worker.log().matches("cannot read its gate").count(),
            1,
            "said once"
        );
        let status = gate.run(&["status"]);
        assert_eq!(status.status.code(), Some(1));
        let said = String::from_utf8_lossy(&status.stderr);
        assert!(
            said.contains(&path) && said.contains("open --force"),
            "{said}"
        );
        // The documented repair.
        let forced = gate.run(&["open", "--force"]);
        assert_eq!(forced.status.code(), Some(0), "{forced:?}");
        assert!(gate.status().starts_with("open"));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "gated jobs resume after the repair"
        );
        worker.stop(Duration::from_secs(30)).await;
    });
    // The library's repair says what it removed.
    std::fs::write(&path, b"{").expect("writes garbage");
    let removed = FileGate::new(&path).force_open().expect("forces");
    assert!(removed.is_some_and(|r| r.contains("could not be read")));
}

#[cfg(feature = "postgres")]
pub fn gate_status_does_not_call_every_running_job_gated_postgres() {
    let db = Db::postgres("status");
    let Db::Postgres { schema, .. } = &db else {
        unreachable!("a PostgreSQL queue")
    };
    // The gate's URL reaches the queue's schema, as an app's would.
    let mut gate = GateAt::postgres("status");
    gate.args[1] = format!(
        "{}?options=-c%20search_path%3D{schema}",
        crate::harness::postgres_url()
    );
    block_on(async {
        let queue = db.open().await.expect("opens");
        // A worker without a gate: its job is not gated.
        let worker = WorkerProcess::start(&db, &Settings::new("worker"));
        queue.enqueue(&sleepy(1, 3_000)).await;
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.started().await == 1
                })
                .await
        );
        let status = gate.status();
        assert!(status.contains("gated or not"), "{status}");
        assert!(!status.contains("running gated jobs"), "{status}");
        worker.stop(Duration::from_secs(30)).await;
    });
}
