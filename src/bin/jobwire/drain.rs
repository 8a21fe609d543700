//! `jobwire drain`: what waits per job and version, and whether a piece of
//! old code can go.

use jobwire::check::{released_manifests, Manifest, CURRENT_FILE};
use jobwire::drain::{answer, Question, Waiting};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

const USAGE: &str = "usage: jobwire drain --sqlite PATH | --postgres URL | --redis URL [--manifests DIR] [QUESTION]

  without a question: what waits in the queue, per job, version and place
  questions (answered from the queue and the manifests of the deploy window):
    upcaster JOB LINE   can the upcaster of JOB's LINE payloads (1.x, 0.3.x, 0.0.7) go?
    alias NAME          can the alias NAME go?
    retire JOB          can JOB be retired?
  --redis URL: Sidekiq's queue on Redis (redis://host:port/db)
  --manifests DIR: the released manifests in DIR and DIR/current.json (see `jobwire release`)

exit codes: 0 yes (or the table was printed), 1 no, 2 misuse, or the queue or a manifest could not be read";

/// `jobwire drain ARGS`: `raw` is what follows `drain`.
pub fn main(raw: &[String]) -> ExitCode {
    let (mut sqlite, mut postgres, mut redis, mut manifests, mut words) =
        (None, None, None, None, Vec::new());
    let mut args = raw.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--sqlite" => sqlite = args.next(),
            "--postgres" => postgres = args.next(),
            "--redis" => redis = args.next(),
            "--manifests" => manifests = args.next(),
            word => words.push(word),
        }
    }
    let question = match words.as_slice() {
        [] => None,
        words => match words.join(" ").parse::<Question>() {
            Ok(question) => Some(question),
            Err(error) => return misuse(&error.to_string()),
        },
    };
    let window = match manifests {
        Some(dir) => match window(Path::new(dir)) {
            Ok(window) => window,
            Err(message) => return misuse(&message),
        },
        None => Vec::new(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return misuse(&error.to_string()),
    };
    let waiting = runtime.block_on(async {
        match (sqlite, postgres, redis) {
            (Some(path), None, None) => sqlite_waiting(path).await,
            (None, Some(url), None) => postgres_waiting(url).await,
            (None, None, Some(url)) => redis_waiting(url).await,
            _ => Err("give one queue: --sqlite PATH, --postgres URL or --redis URL".to_owned()),
        }
    });
    let waiting = match waiting {
        Ok(waiting) => waiting,
        Err(message) => return misuse(&message),
    };
    match question {
        None => {
            print_table(&waiting);
            ExitCode::SUCCESS
        }
        Some(question) => {
            if window.is_empty() {
                note!("jobwire drain: no --manifests: only the queue is asked, not what the releases in the window still write");
            }
            let answer = answer(&question, &waiting, &window);
            println!("{answer}");
            if answer.safe {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn misuse(message: &str) -> ExitCode {
    note!("jobwire drain: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn window(dir: &Path) -> Result<Vec<Manifest>, String> {
    let mut files = released_manifests(dir).map_err(|e| e.to_string())?;
    let current = dir.join(CURRENT_FILE);
    if current.exists() {
        files.push(current);
    }
    files
        .iter()
        .map(|file| Manifest::read(file).map_err(|e| format!("{}: {e}", file.display())))
        .collect()
}

fn print_table(waiting: &[Waiting]) {
    println!(
        "{:<32} {:<10} {:<34} {:>8}  oldest",
        "job", "version", "place", "count"
    );
    for w in waiting {
        let age = w
            .oldest_enqueued_at
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .map_or_else(String::new, |d| format!("{} s ago", d.as_secs()));
        println!(
            "{:<32} {:<10} {:<34} {:>8}  {age}",
            w.job.as_deref().unwrap_or("(unreadable)"),
            w.version
                .as_ref()
                .map_or_else(|| "?".to_owned(), ToString::to_string),
            w.place.to_string(),
            w.count
        );
    }
}

#[cfg(feature = "sqlite")]
async fn sqlite_waiting(path: &str) -> Result<Vec<Waiting>, String> {
    if !Path::new(path).exists() {
        return Err(format!("no queue at {path}"));
    }
    let queue = jobwire::backend::sqlite::Sqlite::open(path)
        .await
        .map_err(|e| e.to_string())?;
    queue.waiting().await.map_err(|e| e.to_string())
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite_waiting(_: &str) -> Result<Vec<Waiting>, String> {
    Err("this build has no SQLite queue (feature `sqlite`)".to_owned())
}

#[cfg(feature = "postgres")]
async fn postgres_waiting(url: &str) -> Result<Vec<Waiting>, String> {
    let queue = jobwire::backend::postgres::Postgres::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    queue.waiting().await.map_err(|e| e.to_string())
}

#[cfg(not(feature = "postgres"))]
async fn postgres_waiting(_: &str) -> Result<Vec<Waiting>, String> {
    Err("this build has no PostgreSQL queue (feature `postgres`)".to_owned())
}

#[cfg(feature = "redis")]
async fn redis_waiting(url: &str) -> Result<Vec<Waiting>, String> {
    let queue = jobwire::backend::sidekiq::Sidekiq::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    queue.waiting().await.map_err(|e| e.to_string())
}

#[cfg(not(feature = "redis"))]
async fn redis_waiting(_: &str) -> Result<Vec<Waiting>, String> {
    Err("this build has no Redis queue (feature `redis`)".to_owned())
}
