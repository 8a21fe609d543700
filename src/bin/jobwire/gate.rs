//! `jobwire gate`: the deploy gate, for deploy scripts.
//!
//! ```text
//! jobwire gate --file PATH | --postgres URL [--name NAME] [--holder WHO] COMMAND
//!
//!   close [--wait] [--timeout 10m] [--max 1h] [--lease 30s] [-- CMD ARGS...]
//!   open [--token TOKEN]
//!   status
//! ```
//!
//! Exit codes: 0 done; 1 the gate's store failed; 2 misuse; 3 another
//! deployer holds the gate; 4 gated jobs were still running at the timeout
//! (the gate is open again); 5 `open` by someone who does not hold the gate.
//! With `-- CMD`, the command's own exit code once the gate is closed.

use jobwire::gate::file::FileGate;
use jobwire::gate::{GateError, Held};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: jobwire gate --file PATH | --postgres URL [--name NAME] [--holder WHO] COMMAND

commands:
  close [--wait] [--timeout 10m] [--max 1h] [--lease 30s] [-- CMD ARGS...]
      closes the gate, waiting (up to --timeout) for the gated jobs in flight to
      finish or checkpoint. With `-- CMD`: runs CMD while the gate is closed, then
      opens it, and exits with CMD's code. Without: a background holder keeps the
      gate closed until `open`, for --max at most; prints the token `open` takes.
      --lease (file gate): how soon the gate opens by itself if the holder dies.
  open [--token TOKEN]
      opens the gate held under TOKEN (required for a file gate)
  status
      who holds the gate, since when, and how many workers run gated jobs

exit codes: 0 done, 1 store failed, 2 misuse, 3 held by another deployer,
4 gated jobs still running at the timeout (the gate is open again), 5 not the holder";

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
    wrapped: Vec<String>,
}

fn duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => return None,
    })
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
            "--timeout" | "--max" | "--lease" => {
                let text = value()?;
                let parsed = duration(&text)
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

/// Runs the wrapped command, returning its exit code.
fn run_wrapped(args: &Args) -> ExitCode {
    match Command::new(&args.wrapped[0])
        .args(&args.wrapped[1..])
        .status()
    {
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            note!("jobwire gate: could not run `{}`: {error}", args.wrapped[0]);
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "postgres")]
fn runtime() -> Result<tokio::runtime::Runtime, GateError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| GateError::Store(e.to_string()))
}

/// `close -- CMD`: closes, runs CMD, opens.
fn close_around(args: &Args) -> ExitCode {
    if let Some(path) = &args.file {
        let gate = FileGate::new(path);
        let held = match gate.close(&args.holder, args.lease, args.timeout) {
            Ok(held) => held,
            Err(error) => return fail(&error),
        };
        note!("jobwire gate: closed ({held})");
        // Renew the lease while the command runs.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renewer = {
            let stop = std::sync::Arc::clone(&stop);
            let (path, held, lease) = (path.clone(), held.clone(), args.lease);
            std::thread::spawn(move || {
                let gate = FileGate::new(path);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep((lease / 3).min(Duration::from_secs(1)));
                    if let Err(error) = gate.renew(&held, lease) {
                        note!("jobwire gate: {error}");
                        return;
                    }
                }
            })
        };
        let code = run_wrapped(args);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = renewer.join();
        if let Err(error) = gate.open(&held.token) {
            return fail(&error);
        }
        note!("jobwire gate: opened");
        return code;
    }
    postgres_close_around(args)
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
        let hold = match gate.close(&args.holder, args.timeout).await {
            Ok(hold) => hold,
            Err(error) => return fail(&error),
        };
        note!("jobwire gate: closed ({})", hold.held());
        // The session needs no attention while the command runs.
        let code = run_wrapped(args);
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
    let mut child = match Command::new(exe)
        .args(["gate", "__hold"])
        .args(raw)
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
        while started.elapsed() < args.max {
            std::thread::sleep((args.lease / 3).min(Duration::from_secs(1)));
            // Opened (or taken over after an expiry): this holder is done.
            if gate.renew(&held, args.lease).is_err() {
                return ExitCode::SUCCESS;
            }
        }
        let _ = gate.open(&held.token);
        return ExitCode::SUCCESS;
    }
    postgres_hold(&args, started, &report)
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
        // Until `open` ends this session, or --max.
        while started.elapsed() < args.max && hold.alive().await {
            tokio::time::sleep(Duration::from_millis(500)).await;
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
        match gate.open(args.token.as_deref()).await {
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
                println!("{status}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    postgres_status(args)
}

#[cfg(feature = "postgres")]
fn postgres_status(args: &Args) -> ExitCode {
    on_postgres_gate(args, |gate, url| async move {
        match gate.status().await {
            Ok(status) => println!("{status}"),
            Err(error) => return fail(&error),
        }
        // The jobs running now, when the queue lives in the same database.
        if let Ok(pool) = sqlx::PgPool::connect(&url).await {
            let running: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT job, worker FROM jobwire_jobs WHERE state = 'running' ORDER BY id LIMIT 50",
            )
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
            for (job, worker) in running {
                println!(
                    "running: {} on {}",
                    job.as_deref().unwrap_or("?"),
                    worker.as_deref().unwrap_or("?")
                );
            }
        }
        ExitCode::SUCCESS
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres_status(_: &Args) -> ExitCode {
    note!("jobwire gate: this build has no PostgreSQL (feature `postgres`)");
    ExitCode::from(2)
}
