//! Every read command of `jobwire` prints one JSON document with `--json`,
//! for scripts: `drain` (the table and an answer), `gate status`, and
//! `dead list` (in `tests/cli_dead.rs`; `health` in
//! `tests/postgres_health.rs`).

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::gate::file::FileGate;
use std::process::{Command, Output};
use std::time::Duration;

fn jobwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobwire"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("jobwire runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test]
async fn drain_and_gate_status_print_json() {
    let dir = std::env::temp_dir().join(format!("jobwire-cli-json-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let path = dir.join("jobs.db");
    let db = path.to_str().expect("a UTF-8 path");
    let queue = Sqlite::open(&path).await.expect("opens");
    for _ in 0..3 {
        queue
            .enqueue(Enqueue::new(
                br#"{"job":"user.welcome","version":"1.2.0","args":{}}"#,
            ))
            .await
            .expect("enqueues");
    }

    let table = json(&jobwire(&["drain", "--sqlite", db, "--json"]));
    assert_eq!(table[0]["job"], "user.welcome");
    assert_eq!(table[0]["version"], "1.2.0");
    assert_eq!(table[0]["place"], "ready");
    assert_eq!(table[0]["count"], 3);

    let out = jobwire(&[
        "drain",
        "--sqlite",
        db,
        "--json",
        "upcaster",
        "user.welcome",
        "1.x",
    ]);
    assert_eq!(out.status.code(), Some(1), "the answer is no");
    let answer = json(&out);
    assert_eq!(answer["safe"], false);
    assert!(
        answer["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("3 ready")),
        "{answer}"
    );

    let gate_path = dir.join("deploy.gate");
    let gate = gate_path.to_str().expect("a UTF-8 path");
    let open = json(&jobwire(&["gate", "--file", gate, "status", "--json"]));
    assert_eq!(open["closed"], false);
    let file = FileGate::new(&gate_path);
    let held = file
        .close(
            "deployer-7",
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
        .expect("closes");
    let closed = json(&jobwire(&["gate", "--file", gate, "status", "--json"]));
    assert_eq!(closed["closed"], true);
    assert_eq!(closed["holder"], "deployer-7");
    assert!(closed["expires"].as_f64().is_some(), "{closed}");
    file.open(&held.token).expect("opens");
}
