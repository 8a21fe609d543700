//! The worker reports through the `metrics` facade (feature `metrics`):
//! each claim consumed, its dispatch's duration, its wait in the queue, its
//! settlement's round trip and its outcome, per job and version line, and
//! the jobs in flight. A label never carries a name the router does not
//! know.
#![cfg(feature = "metrics")]

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::worker::{DeferPolicy, RetryPolicy, Worker};
use jobwire::{Context, HandlerError, Job, NoPrevious, Producer, Router, WritePolicy};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Serialize, Deserialize)]
struct Ping {
    fail: bool,
}

impl Job for Ping {
    const NAME: &'static str = "metrics.ping";
    const VERSION: Version = Version::new(1, 2, 0);
    const ALIASES: &'static [&'static str] = &["metrics.old_ping"];
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        if self.fail {
            return Err(HandlerError::permanent("no such account"));
        }
        Ok(())
    }
}

/// (name, labels as `k=v` sorted, value) of every metric recorded.
type Seen = Vec<(String, Vec<String>, DebugValue, MetricKind)>;

fn seen(snapshot: metrics_util::debugging::Snapshot) -> Seen {
    snapshot
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let kind = key.kind();
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (key.name().to_owned(), labels, value, kind)
        })
        .collect()
}

fn counter(seen: &Seen, name: &str, labels: &[&str]) -> u64 {
    seen.iter()
        .filter(|(n, l, _, _)| {
            n == name && labels.iter().all(|want| l.iter().any(|have| have == want))
        })
        .map(|(_, _, value, _)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

fn samples(seen: &Seen, name: &str) -> usize {
    seen.iter()
        .filter(|(n, _, _, _)| n == name)
        .map(|(_, _, value, _)| match value {
            DebugValue::Histogram(values) => values.len(),
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_each_claim_and_its_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this test binary");

    let dir = std::env::temp_dir().join(format!("jobwire-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let queue = Sqlite::open(dir.join("queue.db")).await.expect("opens");
    let producer = Producer::new(WritePolicy::Current);
    for fail in [false, false, true] {
        let payload = producer.seal(&Ping { fail }).expect("seals");
        queue
            .enqueue(Enqueue::new(&payload))
            .await
            .expect("enqueues");
    }
    let hostile = "evil.name-7f3a9";
    let payloads = [
        // An alias, counted under its job's name.
        r#"{"job":"metrics.old_ping","version":"1.0.0","args":{"fail":false}}"#.to_owned(),
        // A version no release reads yet: deferred, and counted under the
        // line `other`, since this router reads no 2.x.
        r#"{"job":"metrics.ping","version":"2.0.0","args":{"fail":false}}"#.to_owned(),
        // A name nobody registered, and bytes that are not an envelope.
        format!(r#"{{"job":"{hostile}","version":"1.0.0","args":{{}}}}"#),
        "not json".to_owned(),
    ];
    for payload in &payloads {
        queue
            .enqueue(Enqueue::new(payload.as_bytes()))
            .await
            .expect("enqueues");
    }
    let router = Router::builder().job::<Ping>().build().expect("a router");
    let report = Worker::new(queue, router)
        .name("metrics-worker")
        .deferral(DeferPolicy::default().with_window(Duration::from_secs(600)))
        .retries(RetryPolicy::default().with_max_attempts(1))
        .drain()
        .await;
    assert_eq!(report.performed, 3, "{report}");

    let seen = seen(snapshotter.snapshot());
    let settled = "jobwire.jobs.settled";
    assert_eq!(
        counter(
            &seen,
            settled,
            &[
                "jobwire.job=metrics.ping",
                "jobwire.version.line=1.x",
                "jobwire.outcome=performed"
            ]
        ),
        3,
        "two pings and the alias's one: {seen:#?}"
    );
    assert_eq!(
        counter(
            &seen,
            settled,
            &["jobwire.job=metrics.ping", "jobwire.outcome=dead_lettered"]
        ),
        1
    );
    assert_eq!(
        counter(
            &seen,
            settled,
            &[
                "jobwire.job=metrics.ping",
                "jobwire.version.line=other",
                "jobwire.outcome=deferred"
            ]
        ),
        1
    );
    assert_eq!(
        counter(&seen, settled, &["jobwire.job=unknown"]),
        // The unknown name is deferred (another release may know it); the
        // bytes that are no envelope are dead-lettered.
        2,
        "{seen:#?}"
    );
    assert_eq!(
        counter(
            &seen,
            "messaging.client.consumed.messages",
            &[
                "messaging.system=jobwire",
                "messaging.destination.name=default",
                "messaging.operation.name=process"
            ]
        ),
        7
    );
    assert_eq!(samples(&seen, "messaging.process.duration"), 7);
    assert_eq!(samples(&seen, "jobwire.settle.duration"), 7);
    assert_eq!(
        samples(&seen, "jobwire.queue.wait"),
        3,
        "the payloads that carry `meta.enqueued_at` (the Producer's)"
    );
    assert!(
        seen.iter()
            .any(|(name, labels, _, kind)| name == "jobwire.worker.busy"
                && *kind == MetricKind::Gauge
                && labels.iter().any(|l| l == "jobwire.worker=metrics-worker")),
        "{seen:#?}"
    );
    assert!(
        seen.iter().all(|(_, labels, _, _)| labels
            .iter()
            .all(|l| !l.contains(hostile) && !l.contains("2.x"))),
        "no label carries what a producer wrote"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
