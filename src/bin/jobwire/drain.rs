//! `jobwire drain`: what waits per job and version, and whether a piece of
//! old code can go.

use crate::QueueArgs;
use jobwire::backend::any::AnyQueue;
use jobwire::drain::{answer, Question, Waiting};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// `jobwire drain`: the table, or the answer to `question`.
pub fn main(
    queue: &QueueArgs,
    manifests: Option<&Path>,
    json: bool,
    question: &[String],
) -> ExitCode {
    let question = match question {
        [] => None,
        words => match words.join(" ").parse::<Question>() {
            Ok(question) => Some(question),
            Err(error) => return misuse(&error.to_string()),
        },
    };
    let window = match manifests {
        Some(dir) => match jobwire::check::deploy_window(dir) {
            Ok(window) => window,
            Err(error) => return misuse(&error.to_string()),
        },
        None => Vec::new(),
    };
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let waiting = runtime.block_on(async {
        let url = queue.url()?;
        let queue = AnyQueue::connect(&url).await.map_err(|e| e.to_string())?;
        queue.waiting().await.map_err(|e| e.to_string())
    });
    let waiting = match waiting {
        Ok(waiting) => waiting,
        Err(message) => return misuse(&message),
    };
    let Some(question) = question else {
        if json {
            println!(
                "{}",
                serde_json::Value::Array(waiting.iter().map(Waiting::to_json).collect())
            );
        } else {
            print_table(&waiting);
        }
        return ExitCode::SUCCESS;
    };
    if window.is_empty() {
        note!("jobwire drain: no --manifests: only the queue is asked, not what the releases in the window still write");
    }
    let answer = answer(&question, &waiting, &window);
    if json {
        let value = serde_json::json!({
            "question": answer.question.to_string(),
            "safe": answer.safe,
            "reasons": answer.reasons,
        });
        println!("{value}");
    } else {
        println!("{answer}");
    }
    if answer.safe {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn misuse(message: &str) -> ExitCode {
    note!("jobwire drain: {message} (see `jobwire drain --help`)");
    ExitCode::from(2)
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
