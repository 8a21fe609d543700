//! `examples/bench_adapter.rs` speaks the public PostgreSQL queue
//! benchmark's protocol: run with the harness's environment against a real
//! server, it prints a descriptor and then, at each tick, one JSON record
//! per metric, with jobs produced and performed in between. This test reads
//! three ticks and checks every line.
#![cfg(feature = "postgres")]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::postgres::Schema;

const METRICS: [&str; 6] = [
    "claim_p50_ms",
    "claim_p95_ms",
    "claim_p99_ms",
    "enqueue_rate",
    "completion_rate",
    "queue_depth",
];

/// The example's binary: `cargo test --features postgres` builds it beside
/// the tests; a narrower run builds it here.
fn adapter() -> PathBuf {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples/bench_adapter")))
        .unwrap_or_default();
    if !built.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--features",
                "postgres",
                "--example",
                "bench_adapter",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("runs cargo");
        assert!(status.success(), "builds the example");
    }
    built
}

/// Kills the adapter whatever happens: tests stop what they start.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_adapter_prints_a_descriptor_then_every_metric_at_each_tick() {
    let schema = Schema::fresh("bench_adapter").await;
    let url = format!(
        "{}{}options=-csearch_path%3D{}",
        schema.url,
        if schema.url.contains('?') { '&' } else { '?' },
        schema.name
    );
    let mut child = Running(
        Command::new(adapter())
            .env("DATABASE_URL", &url)
            .env("WORKER_COUNT", "4")
            .env("PRODUCER_RATE", "200")
            .env("PRODUCER_MODE", "fixed")
            .env("PRODUCER_BATCH_MAX", "50")
            .env("JOB_PAYLOAD_BYTES", "256")
            .env("JOB_WORK_MS", "1")
            .env("SAMPLE_EVERY_S", "1")
            .env("RUN_SECONDS", "60")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts the adapter"),
    );
    let stdout = child.0.stdout.take().expect("its stdout");
    let mut lines = BufReader::new(stdout).lines();

    let first = lines.next().expect("a first line").expect("reads");
    let descriptor: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(descriptor["kind"], "descriptor", "{first}");
    assert_eq!(descriptor["system"], "jobwire");
    // The tables that hold rows: the segments (not their partitioned
    // parent, which has no storage to measure) and the dead letters.
    let tables: Vec<&str> = descriptor["event_tables"]
        .as_array()
        .map(|t| t.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        tables.contains(&"jobwire_jobs_0") && tables.contains(&"jobwire_dead"),
        "{first}"
    );
    assert!(!tables.contains(&"jobwire_jobs"), "{first}");
    assert!(descriptor["started_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // Three ticks: per tick time, the metrics it reported.
    let mut ticks: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    while ticks.len() < 4 {
        let line = lines.next().expect("the adapter runs on").expect("reads");
        let record: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(record["kind"], "adapter", "{line}");
        assert_eq!(record["system"], "jobwire", "{line}");
        let t = record["t"].as_str().expect("a time").to_owned();
        let metric = record["metric"].as_str().expect("a metric").to_owned();
        let value = record["value"].as_f64().expect("a number");
        assert!(record["window_s"].as_f64().is_some(), "{line}");
        assert!(value.is_finite() && value >= 0.0, "{line}");
        assert!(METRICS.contains(&metric.as_str()), "{line}");
        ticks.entry(t).or_default().insert(metric, value);
    }
    // The fourth tick has begun: the first three are complete.
    let complete: Vec<_> = ticks.iter().take(3).collect();
    for (t, metrics) in &complete {
        assert_eq!(metrics.len(), METRICS.len(), "every metric at {t}");
        // Aligned to the wall clock: within the first half second of a second.
        let millis: u32 = t[20..23].parse().expect("milliseconds");
        assert!(millis < 500, "tick {t} is aligned to the second");
    }
    let last = complete[2].1;
    assert!(last["enqueue_rate"] > 0.0, "jobs were produced: {last:?}");
    assert!(
        last["completion_rate"] > 0.0,
        "jobs were performed: {last:?}"
    );
    assert!(last["claim_p99_ms"] >= last["claim_p50_ms"], "{last:?}");

    drop(child);
    schema.remove().await;
}
