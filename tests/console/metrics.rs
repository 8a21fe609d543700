//! `/metrics` prints what the README's table of the console's metrics
//! says, in Prometheus's text format, and the depths agree with the queue.

use super::seed::{busy_queue, call, get};
use axum::http::StatusCode;
use jobwire::console::{Console, ConsoleGate};
use jobwire::gate::file::FileGate;

/// The rows of the README's console metrics table: (name, PostgreSQL only).
fn documented() -> Vec<(String, bool)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("the README");
    let table = readme
        .split("<!-- console-metrics -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /console-metrics -->").next())
        .expect("the README's console metrics table");
    table
        .lines()
        .filter_map(|line| {
            let name = line.strip_prefix("| `")?.split('`').next()?;
            Some((name.to_owned(), line.contains("PostgreSQL only")))
        })
        .collect()
}

#[tokio::test]
async fn metrics_prints_the_documented_gauges_and_they_agree_with_the_queue() {
    let (queue, dir) = busy_queue("metrics").await;
    let app = Console::new(queue.clone())
        .with_gate(ConsoleGate::File(FileGate::new(dir.join("deploy.gate"))))
        .router();
    let (status, text, response) = call(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(kind.starts_with("text/plain"), "{kind}");
    let rows = documented();
    assert!(
        rows.len() >= 5,
        "the README documents the console's gauges: {rows:?}"
    );
    for (name, postgres_only) in &rows {
        if *postgres_only {
            continue;
        }
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "/metrics has no `{name}`:\n{text}"
        );
    }
    for line in text.lines().filter(|l| l.starts_with("jobwire_")) {
        let name = line.split(['{', ' ']).next().unwrap_or("");
        assert!(
            rows.iter().any(|(n, _)| n == name),
            "`{name}` is printed but not in the README's table"
        );
    }
    let ready = text
        .lines()
        .find(|l| {
            l.starts_with("jobwire_queue_depth{")
                && l.contains(r#"jobwire_job="user.welcome""#)
                && l.contains(r#"jobwire_version="2.1.0""#)
                && l.contains(r#"jobwire_place="ready""#)
        })
        .expect("the depth of user.welcome 2.1.0 ready");
    assert!(ready.ends_with(" 2"), "{ready}");
    assert!(
        text.lines().any(|l| l == "jobwire_dead_letters 4"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "jobwire_gate_closed 0"), "{text}");
}
