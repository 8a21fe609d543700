//! `jobwire`: the command for CI pipelines, deploy scripts and the people
//! deploying. `jobwire --help` lists its commands; each has its own
//! `--help`.
//!
//! Exit codes: 0 when the deploy is safe (or the command did what it was
//! asked), 1 when a finding is breaking (or the answer is no, or a warning
//! was given), 2 when the command is misused or its input cannot be read.

use clap::{Args, CommandFactory, Parser, Subcommand};
use jobwire::check::{check_window, record_release, released_manifests, Manifest, CURRENT_FILE};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A line on stderr. The reader may be gone (a deploy script's pipe that
/// read the first line): that is no reason to fail, let alone panic.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
mod dead;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
mod drain;
#[cfg(feature = "worker")]
mod gate;
#[cfg(feature = "postgres")]
mod health;
#[cfg(feature = "web")]
mod serve;

const EXIT_CODES: &str =
    "exit codes: 0 safe (or done), 1 breaking (or no, or a warning), 2 misuse or unreadable input";

/// Safe rolling deploys for background jobs: the deploy check, the gate,
/// drain, dead letters, health and the console.
#[derive(Parser)]
#[command(name = "jobwire", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks the current release's manifest against the released ones.
    ///
    /// With one folder: MANIFESTS_DIR/current.json (written by
    /// `jobwire::check::assert_safe_deploy` under JOBWIRE_BLESS=1) against
    /// every released manifest in it. With files: the last against the
    /// earlier ones, oldest first.
    Check {
        /// A folder of manifests, or two manifest files or more.
        #[arg(
            required = true,
            value_name = "MANIFESTS_DIR | EARLIER.json... CURRENT.json"
        )]
        paths: Vec<PathBuf>,
    },
    /// Records MANIFESTS_DIR/current.json as the next released manifest,
    /// NNNN-LABEL.json.
    Release {
        /// The folder of manifests.
        dir: PathBuf,
        /// The release's label (a version, a commit).
        label: String,
    },
    /// The deploy gate: close, open, status (`jobwire gate --help`).
    #[command(disable_help_flag = true)]
    Gate {
        /// The gate's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// What waits per job, version and place; whether a piece of old code
    /// can go.
    ///
    /// Questions, answered from the queue and the manifests of the deploy
    /// window: `upcaster JOB LINE` (LINE like 1.x, 0.3.x or 0.0.7),
    /// `alias NAME`, `retire JOB`. Exit code 1 when the answer is no.
    Drain {
        #[command(flatten)]
        queue: QueueArgs,
        /// The released manifests in DIR and DIR/current.json (see `jobwire release`).
        #[arg(
            long,
            value_name = "DIR",
            env = "JOBWIRE_MANIFESTS",
            hide_env_values = true
        )]
        manifests: Option<PathBuf>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// The question; without one, the table of what waits.
        #[arg(value_name = "QUESTION")]
        question: Vec<String>,
    },
    /// The PostgreSQL queue's tables, oldest transaction, claim cost and
    /// depth; exit code 1 when a warning was given.
    Health {
        /// The queue's database; a search_path in the URL's options picks the schema.
        #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
        postgres: Option<String>,
        /// One JSON object: the figures and the warnings.
        #[arg(long)]
        json: bool,
        /// Warn about a transaction open this long (500ms, 30s, 10m, 1h).
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
        pinned_after: std::time::Duration,
    },
    /// The dead letters: list, show, requeue, discard.
    Dead {
        #[command(flatten)]
        queue: QueueArgs,
        #[command(subcommand)]
        action: DeadAction,
    },
    /// The deploy console: a web page over the queue, and /metrics.
    ///
    /// Read-only unless given a token; binds 127.0.0.1 unless told
    /// otherwise.
    Serve {
        #[command(flatten)]
        queue: QueueArgs,
        /// Where to listen.
        #[arg(
            long,
            value_name = "ADDR",
            env = "JOBWIRE_LISTEN",
            hide_env_values = true,
            default_value = "127.0.0.1:8080"
        )]
        listen: String,
        /// Allows changes (requeue, discard, the gate) to whoever signs in with it.
        #[arg(long, env = "JOBWIRE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The deploy window's manifests, for the deploy view's questions.
        #[arg(
            long,
            value_name = "DIR",
            env = "JOBWIRE_MANIFESTS",
            hide_env_values = true
        )]
        manifests: Option<PathBuf>,
        /// A file gate to show, and close and open.
        #[arg(
            long,
            value_name = "PATH",
            env = "JOBWIRE_GATE_FILE",
            hide_env_values = true,
            conflicts_with = "gate_postgres"
        )]
        gate_file: Option<PathBuf>,
        /// A PostgreSQL gate to show, and close and open.
        #[arg(
            long,
            value_name = "URL",
            env = "JOBWIRE_GATE_POSTGRES",
            hide_env_values = true
        )]
        gate_postgres: Option<String>,
        /// The PostgreSQL gate's name.
        #[arg(long, value_name = "NAME", default_value = "deploy")]
        gate_name: String,
        /// How often the queue is read for the page.
        #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
        interval: std::time::Duration,
    },
    /// Prints a shell completion script: `jobwire completions bash > /etc/bash_completion.d/jobwire`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The queue a command reads: one of --sqlite, --postgres, --redis, or
/// DATABASE_URL (sqlite:PATH, postgres://..., redis://...).
#[derive(Args, Clone)]
#[group(multiple = false)]
struct QueueArgs {
    /// A SQLite queue's file.
    #[arg(
        long,
        value_name = "PATH",
        env = "JOBWIRE_SQLITE",
        hide_env_values = true
    )]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL queue (a search_path in the URL's options picks the schema).
    #[arg(
        long,
        value_name = "URL",
        env = "JOBWIRE_POSTGRES",
        hide_env_values = true
    )]
    postgres: Option<String>,
    /// Sidekiq's queue on Redis (redis://host:port/db).
    #[arg(
        long,
        value_name = "URL",
        env = "JOBWIRE_REDIS",
        hide_env_values = true
    )]
    redis: Option<String>,
}

impl QueueArgs {
    /// The queue's URL, from the flags or else DATABASE_URL.
    #[cfg_attr(not(feature = "worker"), allow(dead_code))]
    fn url(&self) -> Result<String, String> {
        if let Some(path) = &self.sqlite {
            return Ok(format!("sqlite:{}", path.display()));
        }
        if let Some(url) = self.postgres.as_ref().or(self.redis.as_ref()) {
            return Ok(url.clone());
        }
        std::env::var("DATABASE_URL").map_err(|_| {
            "give the queue: --sqlite PATH, --postgres URL or --redis URL (or set DATABASE_URL)"
                .to_owned()
        })
    }
}

#[derive(Subcommand)]
enum DeadAction {
    /// Lists the dead letters: key, job, version, attempts, reason.
    List {
        /// Only this job's.
        #[arg(long)]
        job: Option<String>,
        /// One JSON array instead of a table (payloads as text, or hex when not UTF-8).
        #[arg(long)]
        json: bool,
    },
    /// Shows one dead letter, its bytes exactly as stored.
    Show {
        /// The dead letter's key (its id; on Sidekiq, its jid).
        key: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Puts dead letters back on their queue, their bytes as stored.
    Requeue {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Deletes dead letters for good.
    Discard {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Check { paths } => check(&paths),
        Command::Release { dir, label } => release(&dir, &label),
        Command::Gate { args } => gate(&args),
        Command::Drain {
            queue,
            manifests,
            json,
            question,
        } => drain(&queue, manifests.as_deref(), json, &question),
        Command::Health {
            postgres,
            json,
            pinned_after,
        } => health(postgres, json, pinned_after),
        Command::Dead { queue, action } => dead(&queue, action),
        Command::Serve {
            queue,
            listen,
            token,
            manifests,
            gate_file,
            gate_postgres,
            gate_name,
            interval,
        } => serve(ServeArgs {
            queue,
            listen,
            token,
            manifests,
            gate_file,
            gate_postgres,
            gate_name,
            interval,
        }),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "jobwire",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}

fn check(paths: &[PathBuf]) -> ExitCode {
    let files: Vec<PathBuf> = match paths {
        [dir] if dir.is_dir() => match released_manifests(dir) {
            Ok(mut files) => {
                files.push(dir.join(CURRENT_FILE));
                files
            }
            Err(error) => {
                note!("jobwire: {error}");
                return ExitCode::from(2);
            }
        },
        [_] => {
            note!("jobwire check: give a folder of manifests, or two manifest files or more (see `jobwire check --help`)");
            return ExitCode::from(2);
        }
        files => files.to_vec(),
    };
    let mut manifests = Vec::with_capacity(files.len());
    for path in &files {
        match Manifest::read(path) {
            Ok(manifest) => manifests.push(manifest),
            Err(error) => {
                note!("jobwire: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let Some((current, earlier)) = manifests.split_last() else {
        return ExitCode::from(2);
    };
    let report = check_window(earlier, current);
    print!("{report}");
    if report.is_breaking() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn release(dir: &Path, label: &str) -> ExitCode {
    match record_release(dir, label) {
        Ok(path) => {
            println!("recorded {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            note!("jobwire: {error}");
            ExitCode::from(2)
        }
    }
}

/// A runtime for one command.
#[cfg(feature = "worker")]
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            note!("jobwire: {error}");
            ExitCode::from(2)
        })
}

#[cfg(feature = "worker")]
fn gate(args: &[String]) -> ExitCode {
    gate::main(args)
}

#[cfg(not(feature = "worker"))]
fn gate(_: &[String]) -> ExitCode {
    unavailable("gate", "sqlite` or `--features postgres")
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn drain(queue: &QueueArgs, manifests: Option<&Path>, json: bool, question: &[String]) -> ExitCode {
    drain::main(queue, manifests, json, question)
}

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "redis")))]
fn drain(_: &QueueArgs, _: Option<&Path>, _: bool, _: &[String]) -> ExitCode {
    unavailable("drain", "sqlite` or `--features postgres")
}

#[cfg(feature = "postgres")]
fn health(url: Option<String>, json: bool, pinned_after: std::time::Duration) -> ExitCode {
    health::main(url, json, pinned_after)
}

#[cfg(not(feature = "postgres"))]
fn health(_: Option<String>, _: bool, _: std::time::Duration) -> ExitCode {
    unavailable("health", "postgres")
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn dead(queue: &QueueArgs, action: DeadAction) -> ExitCode {
    dead::main(queue, action)
}

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "redis")))]
fn dead(_: &QueueArgs, _: DeadAction) -> ExitCode {
    unavailable("dead", "sqlite")
}

/// `jobwire serve`'s arguments.
#[cfg_attr(not(all(feature = "web", feature = "postgres")), allow(dead_code))]
struct ServeArgs {
    queue: QueueArgs,
    listen: String,
    token: Option<String>,
    manifests: Option<PathBuf>,
    gate_file: Option<PathBuf>,
    gate_postgres: Option<String>,
    gate_name: String,
    interval: std::time::Duration,
}

#[cfg(feature = "web")]
fn serve(args: ServeArgs) -> ExitCode {
    serve::main(args)
}

#[cfg(not(feature = "web"))]
fn serve(_: ServeArgs) -> ExitCode {
    unavailable("serve", "web")
}

#[cfg_attr(all(feature = "web", feature = "postgres"), allow(dead_code))]
fn unavailable(command: &str, feature: &str) -> ExitCode {
    note!("jobwire {command}: this build does not have it: install with `--features {feature}`");
    ExitCode::from(2)
}

/// A duration as deploy scripts write it: `500ms`, `30s` (or `30`), `10m`,
/// `1h`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    duration(text).ok_or_else(|| format!("`{text}` is not a duration (500ms, 30s, 10m, 1h)"))
}

/// A duration as deploy scripts write it; `None` for anything else, an
/// overflow included.
fn duration(text: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        "h" => Duration::from_secs(number.checked_mul(3600)?),
        _ => return None,
    })
}
