//! `jobwire`: the command for CI pipelines and deploy scripts.
//!
//! ```text
//! jobwire check MANIFESTS_DIR              the recorded release against the released ones
//! jobwire check EARLIER.json... CURRENT.json
//! jobwire release MANIFESTS_DIR LABEL      record current.json as the next released manifest
//! jobwire gate ...                         the deploy gate (feature `worker`)
//! jobwire drain ...                        what waits, and whether old code can go
//! ```
//!
//! Exit codes: 0 when the deploy is safe, 1 when a finding is breaking, 2
//! when the command is misused or a manifest cannot be read.

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

#[cfg(feature = "worker")]
mod drain;
#[cfg(feature = "worker")]
mod gate;
#[cfg(feature = "postgres")]
mod health;

const USAGE: &str = "usage:
  jobwire check MANIFESTS_DIR
      checks MANIFESTS_DIR/current.json (written by `jobwire::check::assert_safe_deploy`
      under JOBWIRE_BLESS=1) against every released manifest in MANIFESTS_DIR
  jobwire check EARLIER.json... CURRENT.json
      checks CURRENT.json against the earlier releases, oldest first
  jobwire release MANIFESTS_DIR LABEL
      records MANIFESTS_DIR/current.json as the next released manifest, NNNN-LABEL.json
  jobwire gate --file PATH | --postgres URL [--name NAME] close|open|status
      the deploy gate: `jobwire gate --help` (needs the feature `worker`)
  jobwire drain --sqlite PATH | --postgres URL | --redis URL [--manifests DIR] [upcaster JOB LINE | alias NAME | retire JOB]
      what waits per job and version; whether a piece of old code can go: `jobwire drain --help`
  jobwire health [--postgres URL] [--json] [--pinned-after 60s]
      the PostgreSQL queue's tables, oldest transaction, claim cost and depth: `jobwire health --help`

exit codes: 0 safe, 1 breaking, 2 misuse or unreadable manifest";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    match refs.as_slice() {
        ["check", paths @ ..] if !paths.is_empty() => check(paths),
        ["release", dir, label] => release(dir, label),
        ["gate", ..] => gate(&args[1..]),
        ["drain", ..] => drain(&args[1..]),
        ["health", ..] => health(&args[1..]),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn check(paths: &[&str]) -> ExitCode {
    let files: Vec<PathBuf> = match paths {
        [dir] if Path::new(dir).is_dir() => match released_manifests(dir) {
            Ok(mut files) => {
                files.push(Path::new(dir).join(CURRENT_FILE));
                files
            }
            Err(error) => {
                eprintln!("jobwire: {error}");
                return ExitCode::from(2);
            }
        },
        [_] => {
            eprintln!("jobwire check: give a folder of manifests, or two manifest files or more\n\n{USAGE}");
            return ExitCode::from(2);
        }
        files => files.iter().map(PathBuf::from).collect(),
    };
    let mut manifests = Vec::with_capacity(files.len());
    for path in &files {
        match Manifest::read(path) {
            Ok(manifest) => manifests.push(manifest),
            Err(error) => {
                eprintln!("jobwire: {error}");
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

fn release(dir: &str, label: &str) -> ExitCode {
    match record_release(dir, label) {
        Ok(path) => {
            println!("recorded {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("jobwire: {error}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "worker")]
fn gate(args: &[String]) -> ExitCode {
    gate::main(args)
}

#[cfg(feature = "worker")]
fn drain(args: &[String]) -> ExitCode {
    drain::main(args)
}

#[cfg(feature = "postgres")]
fn health(args: &[String]) -> ExitCode {
    health::main(args)
}

#[cfg(not(feature = "postgres"))]
fn health(_: &[String]) -> ExitCode {
    note!("jobwire health: this build has no PostgreSQL queue: install with `--features postgres`");
    ExitCode::from(2)
}

/// A duration as deploy scripts write it: `500ms`, `30s` (or `30`), `10m`,
/// `1h`. `None` for anything else, an overflow included.
#[cfg_attr(not(feature = "worker"), allow(dead_code))]
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

#[cfg(not(feature = "worker"))]
fn drain(_: &[String]) -> ExitCode {
    note!("jobwire drain: this build has no queue: install with `--features sqlite` or `--features postgres`");
    ExitCode::from(2)
}

#[cfg(not(feature = "worker"))]
fn gate(_: &[String]) -> ExitCode {
    note!("jobwire gate: this build has no worker: install with `--features sqlite` or `--features postgres`");
    ExitCode::from(2)
}
