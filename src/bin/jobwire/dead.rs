//! `jobwire dead`: the dead letters, for a person or, with `--json`, a
//! script.

use crate::{DeadAction, QueueArgs};
use jobwire::backend::any::AnyQueue;
use jobwire::backend::DeadLetter;
use std::process::ExitCode;

/// `jobwire dead ACTION`.
pub fn main(queue: &QueueArgs, action: DeadAction) -> ExitCode {
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let queue = match queue.url() {
            Ok(url) => match AnyQueue::connect(&url).await {
                Ok(queue) => queue,
                Err(error) => return misuse(&error.to_string()),
            },
            Err(message) => return misuse(&message),
        };
        match action {
            DeadAction::List { job, json } => list(&queue, job.as_deref(), json).await,
            DeadAction::Show { key, json } => show(&queue, &key, json).await,
            DeadAction::Requeue { keys } => change(&queue, &keys, true).await,
            DeadAction::Discard { keys } => change(&queue, &keys, false).await,
        }
    })
}

fn misuse(message: &str) -> ExitCode {
    note!("jobwire dead: {message} (see `jobwire dead --help`)");
    ExitCode::from(2)
}

async fn list(queue: &AnyQueue, job: Option<&str>, json: bool) -> ExitCode {
    let deads = match queue.dead_letters().await {
        Ok(deads) => deads,
        Err(error) => return misuse(&error.to_string()),
    };
    let shown: Vec<&DeadLetter> = deads
        .iter()
        .filter(|d| job.is_none_or(|j| d.job.as_deref() == Some(j)))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::Value::Array(shown.iter().map(|d| document(d)).collect())
        );
    } else {
        println!(
            "{:<26} {:<32} {:<10} {:>8}  reason",
            "key", "job", "version", "attempts"
        );
        for d in shown {
            println!(
                "{:<26} {:<32} {:<10} {:>8}  {}",
                d.key(),
                d.job.as_deref().unwrap_or("(unreadable)"),
                d.version.as_deref().unwrap_or("?"),
                d.attempt,
                d.reason.lines().next().unwrap_or("")
            );
        }
    }
    ExitCode::SUCCESS
}

async fn show(queue: &AnyQueue, key: &str, json: bool) -> ExitCode {
    let deads = match queue.dead_letters().await {
        Ok(deads) => deads,
        Err(error) => return misuse(&error.to_string()),
    };
    let Some(dead) = deads.iter().find(|d| d.key() == key) else {
        note!("jobwire dead: no dead letter {key}");
        return ExitCode::from(1);
    };
    if json {
        println!("{}", document(dead));
    } else {
        println!("key:      {}", dead.key());
        println!(
            "job:      {}",
            dead.job.as_deref().unwrap_or("(unreadable)")
        );
        println!("version:  {}", dead.version.as_deref().unwrap_or("?"));
        println!("queue:    {}", dead.queue);
        println!("attempts: {}", dead.attempt);
        println!("reason:   {}", dead.reason);
        match std::str::from_utf8(&dead.payload) {
            Ok(text) => println!("payload ({} bytes):\n{text}", dead.payload.len()),
            Err(_) => println!(
                "payload ({} bytes, not UTF-8, hex):\n{}",
                dead.payload.len(),
                hex(&dead.payload)
            ),
        }
    }
    ExitCode::SUCCESS
}

/// Requeues or discards each key; exit code 1 if any was not there.
async fn change(queue: &AnyQueue, keys: &[String], requeue: bool) -> ExitCode {
    let verb = if requeue { "requeued" } else { "discarded" };
    let mut missing = false;
    for key in keys {
        let done = if requeue {
            queue.requeue_dead(key).await
        } else {
            queue.discard_dead(key).await
        };
        match done {
            Ok(true) => println!("{verb} {key}"),
            Ok(false) => {
                note!("jobwire dead: no dead letter {key}");
                missing = true;
            }
            Err(error) => return misuse(&error.to_string()),
        }
    }
    if missing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A dead letter as JSON: the payload as text when it is UTF-8, else in
/// hex (`payload_hex`), so that no byte is lost either way.
fn document(dead: &DeadLetter) -> serde_json::Value {
    let mut value = serde_json::json!({
        "key": dead.key(),
        "job_id": dead.job_id,
        "queue": dead.queue,
        "job": dead.job,
        "version": dead.version,
        "attempt": dead.attempt,
        "reason": dead.reason,
        "died_at": dead.died_at
            .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
    });
    match std::str::from_utf8(&dead.payload) {
        Ok(text) => value["payload"] = serde_json::Value::String(text.to_owned()),
        Err(_) => value["payload_hex"] = serde_json::Value::String(hex(&dead.payload)),
    }
    value
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
