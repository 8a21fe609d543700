//! `jobwire gate`: the deploy gate, for deploy scripts.
//!
//! ```text
//! jobwire gate --file PATH | --postgres URL [--name NAME] [--holder WHO] COMMAND
//!
//!   close [--wait] [--timeout 10m] [--max 1h] [--lease 30s] [--watch PID|none]
//!         [--on-lapse stop|continue] [-- CMD ARGS...]
//!   open [--token TOKEN] [--force]
//!   status
//! ```
//!
//! Exit codes: 0 done; 1 the gate's store failed; 2 misuse; 3 another
//! deployer holds the gate; 4 gated jobs were still running at the timeout
//! (the gate is open again); 5 `open` by someone who does not hold the gate;
//! 6 the hold lapsed while it was held (gated jobs may have run). With
//! `-- CMD`, the command's own exit code once the gate is closed, unless
//! the hold lapsed (6).

use jobwire::gate::file::FileGate;
use jobwire::gate::{GateError, Held};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: jobwire gate --file PATH | --postgres URL [--name NAME] [--holder WHO] COMMAND

commands:
  close [--wait] [--timeout 10m] [--max 1h] [--lease 30s] [--watch PID|none]
        [--on-lapse stop|continue] [-- CMD ARGS...]
      closes the gate, waiting (up to --timeout, default 10m) for the gated jobs in
      flight to finish or checkpoint.
      With `-- CMD`: runs CMD while the gate is closed, then opens it, and exits
      with CMD's code. If the hold lapses while CMD runs (a lease that ran out, a
      session that ended), it says so at once and, with --on-lapse stop (the
      default), sends CMD SIGTERM; either way it exits 6.
      Without: a background holder keeps the gate closed until `open`, and prints
      the token `open` takes. The holder opens the gate at once when the process it
      watches ends (--watch: default the process that ran `close`, i.e. the deploy
      script; give `--watch $$` from a script, or `none` to hold until `open`), and
      after --max (default 1h) in any case.
      --lease (file gate, default 30s): how soon the gate opens by itself if the
      holder itself dies; renewed every third of it, at least every second.
  open [--token TOKEN] [--force]
      opens the gate held under TOKEN (required for a file gate). --force opens it
      whatever holds it, a corrupt lease file included: the documented repair.
  status [--json]
      who holds the gate, since when, and how many workers hold a pass; an error
      (exit 1) when the gate cannot be used, since workers then hold gated jobs back

exit codes: 0 done, 1 store failed, 2 misuse, 3 held by another deployer,
4 gated jobs still running at the timeout (the gate is open again), 5 not the holder,
6 the hold lapsed while held (gated jobs may have run: check what it protected)";

/// The parsed command line.
struct Args {
    file: Option<String>,
    postgres: Option<String>,
    name: String,
    holder: String,
    command: String,
    timeout: Duration,
    max: Duration,
    lease: Duration,
    token: Option<String>,
    force: bool,
    json: bool,
    watch: Watch,
    stop_on_lapse: bool,
    wrapped: Vec<String>,
}

/// The process whose end opens a gate held in steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// The process that ran `close` (the deploy script).
    Parent,
    /// This process, started at this time (`/proc/PID/stat`'s field 22,
    /// when known: a reused pid is another process).
    Pid(u32, Option<u64>),
    /// None: held until `open` or `--max`.
    Nothing,
}

fn parse(raw: &[String]) -> Result<Args, String> {
    let (own, wrapped) = match raw.iter().position(|a| a == "--") {
        Some(at) => (&raw[..at], raw[at + 1..].to_vec()),
        None => (raw, Vec::new()),
    };
    let mut args = Args {
        file: None,
        postgres: None,
        name: "deploy".to_owned(),
        holder: default_holder(),
        command: String::new(),
        timeout: Duration::from_secs(600),
        max: Duration::from_secs(3600),
        lease: Duration::from_secs(30),
        token: None,
        force: false,
        json: false,
        watch: Watch::Parent,
        stop_on_lapse: true,
        wrapped,
    };
    let mut at = 0;
    while at < own.len() {
        let flag = own[at].as_str();
        let mut value = || {
            at += 1;
            own.get(at).cloned().ok_or(format!("{flag} needs a value"))
        };
        match flag {
            "--file" => args.file = Some(value()?),
            "--postgres" => args.postgres = Some(value()?),
            "--name" => args.name = value()?,
            "--holder" => args.holder = value()?,
            "--token" => args.token = Some(value()?),
            "--force" => args.force = true,
            "--json" => args.json = true,
            "--watch" => {
                let text = value()?;
                args.watch = match text.as_str() {
                    "none" => Watch::Nothing,
                    pid => Watch::Pid(
                        pid.parse().map_err(|_| {
                            format!("--watch: `{pid}` is not a process id or `none`")
                        })?,
                        None,
                    ),
                };
            }
            // Said by `close` to its holder: when the watched process started.
            "--watch-start" => {
                let text = value()?;
                if let Watch::Pid(pid, _) = args.watch {
                    args.watch = Watch::Pid(pid, text.parse().ok());
                }
            }
            "--on-lapse" => {
                args.stop_on_lapse = match value()?.as_str() {
                    "stop" => true,
                    "continue" => false,
                    other => {
                        return Err(format!("--on-lapse: `{other}` is not `stop` or `continue`"))
                    }
                };
            }
            "--timeout" | "--max" | "--lease" => {
                let text = value()?;
                let parsed = crate::duration(&text)
                    .ok_or(format!("{flag}: `{text}` is not a duration (30s, 10m, 1h)"))?;
                match flag {
                    "--timeout" => args.timeout = parsed,
                    "--max" => args.max = parsed,
                    _ => args.lease = parsed,
                }
            }
            // Waiting for the jobs in flight is what `close` does; the flag
            // reads well in a deploy script.
            "--wait" => {}
            "--no-wait" => args.timeout = Duration::ZERO,
            command if !command.starts_with("--") && args.command.is_empty() => {
                args.command = command.to_owned();
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
        at += 1;
    }
    if args.file.is_some() == args.postgres.is_some() {
        return Err("give one of --file PATH and --postgres URL".to_owned());
    }
    Ok(args)
}

fn default_holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let user = std::env::var("USER").unwrap_or_else(|_| "deployer".to_owned());
    format!("{user}@{host}")
}

fn fail(error: &GateError) -> ExitCode {
    note!("jobwire gate: {error}");
    ExitCode::from(error.exit_code())
}

/// `jobwire gate ARGS`: `raw` is what follows `gate`.
pub fn main(raw: &[String]) -> ExitCode {
    let raw = raw.to_vec();
    if raw.first().map(String::as_str) == Some("__hold") {
        return hold(&raw[1..]);
    }
    if matches!(
        raw.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse(&raw) {
        Ok(args) => args,
        Err(message) => {
            note!("jobwire gate: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match args.command.as_str() {
        "close" if !args.wrapped.is_empty() => close_around(&args),
        "close" => close_in_background(&raw),
        "open" => open(&args),
        "status" => status(&args),
        other => {
            note!("jobwire gate: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The wrapped command, running while the gate is closed.
struct Wrapped {
    child: Child,
    /// The lapse, once one is seen.
    lapsed: Option<GateError>,
}

impl Wrapped {
    fn start(args: &Args) -> Result<Wrapped, ExitCode> {
        Command::new(&args.wrapped[0])
            .args(&args.wrapped[1..])
            .spawn()
            .map(|child| Wrapped {
                child,
                lapsed: None,
            })
            .map_err(|error| {
                note!("jobwire gate: could not run `{}`: {error}", args.wrapped[0]);
                ExitCode::from(1)
            })
    }

    /// Its exit code, once it has ended.
    fn ended(&mut self) -> Option<ExitCode> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(ExitCode::from(
                u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
            )),
            Ok(None) => None,
            Err(error) => {
                note!("jobwire gate: could not wait for the command: {error}");
                Some(ExitCode::from(1))
            }
        }
    }

    /// The hold lapsed while the command runs: say so at once, and stop the
    /// command unless told to let it finish.
    fn lapse(&mut self, error: GateError, stop: bool) {
        if self.lapsed.is_some() {
            return;
        }
        if stop {
            note!("jobwire gate: {error}: stopping the command (SIGTERM); the deploy must check what it did");
            signal(self.child.id(), "TERM");
        } else {
            note!("jobwire gate: {error}: the command runs on (--on-lapse continue); this exits 6");
        }
        self.lapsed = Some(error);
    }
}

/// Sends a signal by name to a process.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

#[cfg(feature = "postgres")]
fn runtime() -> Result<tokio::runtime::Runtime, GateError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| GateError::Store(e.to_string()))
}

/// How often `close -- CMD` looks at its command and its hold.
const TICK: Duration = Duration::from_millis(20);

/// `close -- CMD`: closes, runs CMD, opens.
fn close_around(args: &Args) -> ExitCode {
    let Some(path) = &args.file else {
        return postgres_close_around(args);
    };
    let gate = FileGate::new(path);
    let held = match gate.close(&args.holder, args.lease, args.timeout) {
        Ok(held) => held,
        Err(error) => return fail(&error),
    };
    note!("jobwire gate: closed ({held})");
    let mut wrapped = match Wrapped::start(args) {
        Ok(wrapped) => wrapped,
        Err(code) => {
            let _ = gate.open(&held.token);
            return code;
        }
    };
    // Renew the lease while the command runs; open as soon as it ends.
    let every = renew_every(args.lease);
    let mut renewed = Instant::now();
    let code = loop {
        if let Some(code) = wrapped.ended() {
            break code;
        }
        if wrapped.lapsed.is_none() && renewed.elapsed() >= every {
            if let Err(error) = gate.renew(&held, args.lease) {
                wrapped.lapse(error, args.stop_on_lapse);
            }
            renewed = Instant::now();
        }
        std::thread::sleep(TICK);
    };
    // This command held the gate when CMD started: a hold it no longer
    // has at the end lapsed on the way, whoever holds the gate now.
    let opened = gate.open(&held.token).map_err(|error| match error {
        GateError::NotHolder(why) => GateError::Lapsed(why),
        other => other,
    });
    if let Some(error) = wrapped.lapsed {
        return fail(&error);
    }
    if let Err(error) = opened {
        return fail(&error);
    }
    note!("jobwire gate: opened");
    code
}

/// How often a file lease of length `lease` is renewed.
fn renew_every(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(1))
}

/// Runs `then` on the PostgreSQL gate `args` name, on a runtime of its own:
/// the preamble of every PostgreSQL subcommand but the holder's, which
/// reports its errors on its line instead.
#[cfg(feature = "postgres")]
fn on_postgres_gate<F, Fut>(args: &Args, then: F) -> ExitCode
where
    F: FnOnce(jobwire::gate::postgres::PgGate, String) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let Some(url) = &args.postgres else {
        return ExitCode::from(2);
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    runtime.block_on(async {
        match jobwire::gate::postgres::PgGate::connect(url, &args.name).await {
            Ok(gate) => then(gate, url.clone()).await,
            Err(error) => fail(&error),
        }
    })
}

#[cfg(feature = "postgres")]
fn postgres_close_around(args: &Args) -> ExitCode {
    on_postgres_gate(args, |gate, _| async move {
        let mut hold = match gate.close(&args.holder, args.timeout).await {
            Ok(hold) => hold,
            Err(error) => return fail(&error),
        };
        note!("jobwire gate: closed ({})", hold.held());
        let mut wrapped = match Wrapped::start(args) {
            Ok(wrapped) => wrapped,
            Err(code) => {
                let _ = hold.open().await;
                return code;
            }
        };
        // The session is the gate: look at it while the command runs.
        let mut looked = Instant::now();
        let code = loop {
            if let Some(code) = wrapped.ended() {
                break code;
            }
            if wrapped.lapsed.is_none() && looked.elapsed() >= Duration::from_millis(250) {
                if !hold.alive().await {
                    wrapped.lapse(
                        GateError::Lapsed(
                            "the gate's PostgreSQL session ended while the command ran".to_owned(),
                        ),
                        args.stop_on_lapse,
                    );
                }
                looked = Instant::now();
            }
            tokio::time::sleep(TICK).await;
        };
        if let Some(error) = wrapped.lapsed {
            return fail(&error);
        }
        if let Err(error) = hold.open().await {
            return fail(&error);
        }
        note!("jobwire gate: opened");
        code
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres_close_around(_: &Args) -> ExitCode {
    note!("jobwire gate: this build has no PostgreSQL (feature `postgres`)");
    ExitCode::from(2)
}

/// `close` alone: a background holder keeps the gate closed; this waits
/// for it to say the gate is closed, and prints the token.
fn close_in_background(raw: &[String]) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            note!("jobwire gate: {error}");
            return ExitCode::from(1);
        }
    };
    // The holder watches the deploy script: the process that ran this one,
    // unless told otherwise. Its start time tells it from a reused pid.
    let watch = match parse(raw).map(|args| args.watch) {
        Ok(Watch::Parent) => Some(std::os::unix::process::parent_id()),
        Ok(Watch::Pid(pid, _)) => Some(pid),
        _ => None,
    };
    let mut told: Vec<String> = Vec::new();
    if let Some(pid) = watch {
        told.extend(["--watch".to_owned(), pid.to_string()]);
        if let Some(start) = started_at(pid) {
            told.extend(["--watch-start".to_owned(), start.to_string()]);
        }
    }
    let mut child = match Command::new(exe)
        .args(["gate", "__hold"])
        .args(raw)
        .args(&told)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // The holder outlives this command: it must not keep the caller's
        // stderr open (a `$(jobwire gate close)` would never return). It
        // reports its errors on the line it writes to us.
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            note!("jobwire gate: could not start the holder: {error}");
            return ExitCode::from(1);
        }
    };
    let Some(stdout) = child.stdout.take() else {
        return ExitCode::from(1);
    };
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    match line.trim().split_once(' ') {
        Some(("CLOSED", token)) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Some(("FAILED", rest)) => {
            let _ = child.wait();
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            if !message.is_empty() {
                note!("jobwire gate: {message}");
            }
            ExitCode::from(code.parse::<u8>().unwrap_or(1))
        }
        _ => {
            let _ = child.wait();
            note!("jobwire gate: the holder ended without closing the gate");
            ExitCode::from(1)
        }
    }
}

/// The holder's one line to the `close` that started it. The reader may be
/// gone: a failed write is no reason to stop holding.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The background holder: closes, says so on stdout, and holds until the
/// gate is opened or `--max` has passed.
fn hold(raw: &[String]) -> ExitCode {
    let args = match parse(raw) {
        Ok(args) => args,
        Err(_) => return ExitCode::from(2),
    };
    let report = |error: &GateError| {
        let message = error.to_string().replace('\n', " ");
        say(&format!("FAILED {} {message}", error.exit_code()));
        ExitCode::from(error.exit_code())
    };
    let started = Instant::now();
    if let Some(path) = &args.file {
        let gate = FileGate::new(path);
        let held: Held = match gate.close(&args.holder, args.lease, args.timeout) {
            Ok(held) => held,
            Err(error) => return report(&error),
        };
        say(&format!("CLOSED {}", held.token));
        let every = renew_every(args.lease);
        let mut renewed = Instant::now();
        while started.elapsed() < args.max {
            std::thread::sleep(WATCH_EVERY);
            if !alive(args.watch) {
                // The deploy script died: nobody will open it. Open now.
                let _ = gate.open(&held.token);
                return ExitCode::SUCCESS;
            }
            if renewed.elapsed() >= every {
                // Opened, or lapsed (then `open` reports it): done.
                if gate.renew(&held, args.lease).is_err() {
                    return ExitCode::SUCCESS;
                }
                renewed = Instant::now();
            }
        }
        let _ = gate.open(&held.token);
        return ExitCode::SUCCESS;
    }
    postgres_hold(&args, started, &report)
}

/// How often a holder looks at the process it watches.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// When process `pid` started (`/proc/PID/stat`, field 22), where the
/// system says.
fn started_at(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, is in parentheses and may hold anything.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the watched process still runs.
fn alive(watch: Watch) -> bool {
    match watch {
        Watch::Pid(pid, Some(start)) => started_at(pid) == Some(start),
        Watch::Pid(pid, None) if std::path::Path::new("/proc/self/stat").exists() => {
            started_at(pid).is_some()
        }
        // No /proc: ask the system.
        Watch::Pid(pid, None) => Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success()),
        Watch::Parent | Watch::Nothing => true,
    }
}

#[cfg(feature = "postgres")]
fn postgres_hold(
    args: &Args,
    started: Instant,
    report: &dyn Fn(&GateError) -> ExitCode,
) -> ExitCode {
    let Some(url) = &args.postgres else {
        return ExitCode::from(2);
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return report(&error),
    };
    runtime.block_on(async {
        let gate = match jobwire::gate::postgres::PgGate::connect(url, &args.name).await {
            Ok(gate) => gate,
            Err(error) => return report(&error),
        };
        let mut hold = match gate.close(&args.holder, args.timeout).await {
            Ok(hold) => hold,
            Err(error) => return report(&error),
        };
        say(&format!("CLOSED {}", hold.held().token));
        // Until `open` ends this session, the watched process ends, or --max.
        let mut looked = Instant::now();
        while started.elapsed() < args.max && alive(args.watch) {
            tokio::time::sleep(WATCH_EVERY).await;
            if looked.elapsed() < Duration::from_millis(500) {
                continue;
            }
            looked = Instant::now();
            if hold.alive().await {
                continue;
            }
            // `open` ended the session, or it was lost. Opened: done. Lost:
            // close it again at once, marked lapsed, so that the deployer's
            // `open` reports the lapse.
            let held = hold.held().clone();
            match gate.was_opened(&held).await {
                Ok(true) => return ExitCode::SUCCESS,
                Ok(false) => {}
                // The database cannot say yet: ask again shortly.
                Err(_) => continue,
            }
            match gate.close_again(&held, args.timeout).await {
                Ok(again) => hold = again,
                // Another deployer has it, or the database is gone: the
                // deployer's `open` fails either way.
                Err(_) => return ExitCode::SUCCESS,
            }
        }
        let _ = hold.open().await;
        ExitCode::SUCCESS
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres_hold(_: &Args, _: Instant, _: &dyn Fn(&GateError) -> ExitCode) -> ExitCode {
    ExitCode::from(2)
}

fn open(args: &Args) -> ExitCode {
    if let Some(path) = &args.file {
        if args.force {
            return match FileGate::new(path).force_open() {
                Ok(Some(removed)) => {
                    note!("jobwire gate: opened by force: removed {removed}");
                    ExitCode::SUCCESS
                }
                Ok(None) => {
                    note!("jobwire gate: it was open");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            };
        }
        let Some(token) = &args.token else {
            note!("jobwire gate: a file gate opens with the token `close` printed: open --token TOKEN");
            return ExitCode::from(2);
        };
        return match FileGate::new(path).open(token) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        };
    }
    postgres_open(args)
}

#[cfg(feature = "postgres")]
fn postgres_open(args: &Args) -> ExitCode {
    on_postgres_gate(args, |gate, _| async move {
        let token = args.token.as_deref().filter(|_| !args.force);
        match gate.open(token).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        }
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres_open(_: &Args) -> ExitCode {
    note!("jobwire gate: this build has no PostgreSQL (feature `postgres`)");
    ExitCode::from(2)
}

fn status(args: &Args) -> ExitCode {
    if let Some(path) = &args.file {
        return match FileGate::new(path).status() {
            Ok(status) => {
                if args.json {
                    println!("{}", status_json(&status, Vec::new()));
                } else {
                    println!("{status}");
                }
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    postgres_status(args)
}

#[cfg(feature = "postgres")]
fn postgres_status(args: &Args) -> ExitCode {
    let json = args.json;
    on_postgres_gate(args, |gate, url| async move {
        let status = match gate.status().await {
            Ok(status) => status,
            Err(error) => return fail(&error),
        };
        // The jobs running now, when the queue lives in the same database.
        // Which of them are gated is the workers' configuration, which this
        // command does not know: it lists them all, and says so.
        let mut running: Vec<(Option<String>, Option<String>)> = Vec::new();
        if let Ok(pool) = sqlx::PgPool::connect(&url).await {
            running = sqlx::query_as(
                "SELECT job, worker FROM jobwire_jobs WHERE state = 'running' ORDER BY id LIMIT 50",
            )
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
        }
        if json {
            println!("{}", status_json(&status, running));
            return ExitCode::SUCCESS;
        }
        println!("{status}");
        if !running.is_empty() {
            println!("jobs running on this queue now (gated or not):");
        }
        for (job, worker) in running {
            println!(
                "  {} on {}",
                job.as_deref().unwrap_or("?"),
                worker.as_deref().unwrap_or("?")
            );
        }
        ExitCode::SUCCESS
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres_status(_: &Args) -> ExitCode {
    note!("jobwire gate: this build has no PostgreSQL (feature `postgres`)");
    ExitCode::from(2)
}

/// `gate status --json`: the status, and the jobs running on a PostgreSQL
/// queue (gated or not). Times are seconds since the Unix epoch.
fn status_json(
    status: &jobwire::gate::GateStatus,
    running: Vec<(Option<String>, Option<String>)>,
) -> serde_json::Value {
    let secs = |at: Option<std::time::SystemTime>| {
        at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    };
    serde_json::json!({
        "closed": status.closed,
        "holder": status.holder,
        "since": secs(status.since),
        "expires": secs(status.expires),
        "passes": status.passes,
        "running": running
            .into_iter()
            .map(|(job, worker)| serde_json::json!({ "job": job, "worker": worker }))
            .collect::<Vec<_>>(),
    })
}
