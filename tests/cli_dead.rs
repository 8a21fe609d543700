//! `jobwire dead list|show|requeue|discard` on a real SQLite queue, with
//! `--json` for scripts, the bytes kept exactly (hex when not UTF-8), and
//! the command's exit codes; and every command the README documents
//! answers `--help`.

#[path = "support/settle.rs"]
mod settle;

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, ClaimRequest, Settlement};
use std::process::{Command, Output};
use std::time::Duration;

const TEXT: &[u8] = br#"{"job":"user.welcome_fax","version":"1.0.0","args":{}}"#;
const BINARY: &[u8] = b"\xff\x00{\x80";

async fn dead_lettered(queue: &Sqlite, payload: &[u8]) {
    let reason = "no release knows it";
    settle::settled(
        queue,
        payload,
        Settlement::DeadLetter {
            reason,
            payload: None,
        },
    )
    .await;
}

fn jobwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobwire"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("jobwire runs")
}

#[tokio::test]
async fn dead_letters_are_listed_shown_requeued_and_discarded() {
    let dir = std::env::temp_dir().join(format!("jobwire-cli-dead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let path = dir.join("jobs.db");
    let db = path.to_str().expect("a UTF-8 path");
    let queue = Sqlite::open(&path).await.expect("opens");
    dead_lettered(&queue, TEXT).await;
    dead_lettered(&queue, BINARY).await;

    let out = jobwire(&["dead", "--sqlite", db, "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["payload"].as_str().map(str::as_bytes), Some(TEXT));
    assert_eq!(listed[0]["job"], "user.welcome_fax");
    assert_eq!(listed[0]["version"], "1.0.0");
    assert_eq!(
        listed[1]["payload_hex"], "ff007b80",
        "non-UTF-8 bytes, every one, in hex"
    );
    let (text_key, binary_key) = (
        listed[0]["key"].as_str().expect("a key").to_owned(),
        listed[1]["key"].as_str().expect("a key").to_owned(),
    );

    let out = jobwire(&["dead", "--sqlite", db, "show", &text_key, "--json"]);
    assert!(out.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON object");
    assert_eq!(shown["reason"], "no release knows it");

    let out = jobwire(&["dead", "--sqlite", db, "list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("user.welcome_fax") && table.contains("(unreadable)"),
        "{table}"
    );

    let out = jobwire(&["dead", "--sqlite", db, "requeue", &text_key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            5,
            Duration::from_secs(30),
            "t",
        ))
        .await
        .expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].payload, TEXT, "requeued with its bytes unchanged");

    let out = jobwire(&["dead", "--sqlite", db, "discard", &binary_key]);
    assert!(out.status.success());
    assert!(queue.dead_letters().await.expect("reads").is_empty());

    let out = jobwire(&["dead", "--sqlite", db, "requeue", &binary_key]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a dead letter that is not there"
    );
    let out = jobwire(&["dead", "--sqlite", db, "requeue", "not-a-number"]);
    assert_eq!(out.status.code(), Some(2), "a key the queue cannot use");
    let out = jobwire(&["dead", "list"]);
    assert_eq!(out.status.code(), Some(2), "no queue given");
    let out = Command::new(env!("CARGO_BIN_EXE_jobwire"))
        .args(["dead", "list", "--json"])
        .env("DATABASE_URL", format!("sqlite:{db}"))
        .output()
        .expect("jobwire runs");
    assert!(out.status.success(), "DATABASE_URL names the queue");
    let out = jobwire(&["dead", "--sqlite", db, "--postgres", "postgres://x", "list"]);
    assert_eq!(out.status.code(), Some(2), "two queues is a misuse");
}

#[test]
fn every_command_answers_help_and_version() {
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["check", "--help"],
        vec!["release", "--help"],
        vec!["gate", "--help"],
        vec!["drain", "--help"],
        vec!["health", "--help"],
        vec!["dead", "--help"],
        vec!["dead", "list", "--help"],
        vec!["dead", "show", "--help"],
        vec!["dead", "requeue", "--help"],
        vec!["dead", "discard", "--help"],
        vec!["serve", "--help"],
        vec!["completions", "--help"],
        vec!["completions", "bash"],
    ] {
        let out = jobwire(&args);
        assert!(
            out.status.success(),
            "jobwire {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "jobwire {} prints", args.join(" "));
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("the README");
    let top = jobwire(&["--help"]);
    let help = String::from_utf8_lossy(&top.stdout);
    assert!(
        readme.contains(help.trim_end()),
        "the README shows `jobwire --help` as it is:\n{help}"
    );
    for command in [
        "check",
        "release",
        "gate",
        "drain",
        "health",
        "dead",
        "dead list",
        "dead show",
        "dead requeue",
        "dead discard",
        "serve",
        "completions",
    ] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("-h");
        let out = jobwire(&args);
        let help = String::from_utf8_lossy(&out.stdout);
        let shown = format!(
            "`jobwire {command} -h`:\n\n```text\n{}\n```",
            help.trim_end()
        );
        assert!(
            readme.contains(&shown),
            "the README shows `jobwire {command} -h` as it is:\n{help}"
        );
    }
    assert_eq!(jobwire(&["no-such-command"]).status.code(), Some(2));
}
