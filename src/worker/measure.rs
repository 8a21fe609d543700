//! The worker's metrics, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): install any exporter (Prometheus,
//! OpenTelemetry, StatsD) and the worker reports to it; install none and
//! each call costs a load and a branch.
//!
//! Names follow OpenTelemetry's semantic conventions for messaging where
//! they have one (`messaging.client.consumed.messages`,
//! `messaging.process.duration`); the rest are jobwire's own. Durations are
//! in seconds.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `messaging.client.consumed.messages` | counter | `messaging.system`, `messaging.destination.name`, `messaging.operation.name` | payloads claimed and handed to the router |
//! | `messaging.process.duration` | histogram | `messaging.system`, `messaging.destination.name`, `jobwire.job` | decoding, upcasting and performing one payload |
//! | `jobwire.jobs.settled` | counter | `jobwire.job`, `jobwire.version.line`, `jobwire.outcome` | claims settled, per outcome: `performed`, `deferred`, `snoozed`, `interrupted`, `discarded`, `retried`, `dead_lettered`, `released`, `fenced` |
//! | `jobwire.queue.wait` | histogram | `messaging.destination.name`, `jobwire.job` | from `meta.enqueued_at` to the start of its dispatch |
//! | `jobwire.settle.duration` | histogram | `jobwire.settlement` | the queue's round trip for a settlement: `ack`, `reschedule`, `retry`, `dead-letter` |
//! | `jobwire.worker.busy` | gauge | `jobwire.worker` | jobs in flight |
//!
//! `jobwire.job` is a name the router knows (an alias is counted under its
//! job's name), or `unknown`: a label never carries what a producer wrote,
//! so hostile payloads cannot grow the number of series.
//! `jobwire.version.line` is the payload's version line (`2.x`, `0.3.x`).

use crate::dispatch::router::Router;
use crate::wire::version::Line;
use crate::wire::Header;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The label for a job the router does not know.
const UNKNOWN: &str = "unknown";

/// What the worker labels its metrics with: the router's names.
#[derive(Debug, Default)]
pub(crate) struct Labels {
    /// Every name and alias the router knows, to its job's name.
    names: HashMap<&'static str, &'static str>,
}

/// One claim's labels, read once from its payload.
#[derive(Debug, Clone)]
pub(crate) struct JobLabels {
    job: &'static str,
    line: String,
    enqueued_at: Option<u64>,
}

impl Labels {
    pub(crate) fn new<D: Send + 'static>(router: &Router<D>) -> Labels {
        let (entries, tombstones) = router.parts();
        let mut names = HashMap::new();
        for entry in entries {
            names.insert(entry.name, entry.name);
            for alias in entry.aliases {
                names.insert(*alias, entry.name);
            }
        }
        for tombstone in tombstones {
            names.insert(tombstone.name, tombstone.name);
            for alias in tombstone.aliases {
                names.insert(*alias, tombstone.name);
            }
        }
        Labels { names }
    }

    /// The labels of a payload: its job, if the router knows it, and its
    /// version line.
    pub(crate) fn of(&self, payload: &[u8]) -> JobLabels {
        match Header::read(payload) {
            Ok(header) => JobLabels {
                job: self.names.get(header.job()).copied().unwrap_or(UNKNOWN),
                line: Line::of(header.version()).to_string(),
                enqueued_at: header.meta().enqueued_at(),
            },
            Err(_) => JobLabels {
                job: UNKNOWN,
                line: String::from(UNKNOWN),
                enqueued_at: None,
            },
        }
    }
}

/// A claim handed to the router.
pub(crate) fn consumed(queue: &str, labels: &JobLabels) {
    metrics::counter!(
        "messaging.client.consumed.messages",
        "messaging.system" => "jobwire",
        "messaging.destination.name" => queue.to_owned(),
        "messaging.operation.name" => "process",
    )
    .increment(1);
    if let Some(at) = labels.enqueued_at {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        metrics::histogram!(
            "jobwire.queue.wait",
            "messaging.destination.name" => queue.to_owned(),
            "jobwire.job" => labels.job,
        )
        .record(Duration::from_millis(now.saturating_sub(at)).as_secs_f64());
    }
}

/// One dispatch's duration.
pub(crate) fn processed(queue: &str, labels: &JobLabels, took: Duration) {
    metrics::histogram!(
        "messaging.process.duration",
        "messaging.system" => "jobwire",
        "messaging.destination.name" => queue.to_owned(),
        "jobwire.job" => labels.job,
    )
    .record(took.as_secs_f64());
}

/// A settlement's round trip.
pub(crate) fn settled_in(settlement: &'static str, took: Duration) {
    metrics::histogram!("jobwire.settle.duration", "jobwire.settlement" => settlement)
        .record(took.as_secs_f64());
}

/// A claim's end, by outcome.
pub(crate) fn settled(labels: &JobLabels, outcome: &'static str) {
    metrics::counter!(
        "jobwire.jobs.settled",
        "jobwire.job" => labels.job,
        "jobwire.version.line" => labels.line.clone(),
        "jobwire.outcome" => outcome,
    )
    .increment(1);
}

/// Jobs in flight now.
pub(crate) fn busy(worker: &str, jobs: usize) {
    metrics::gauge!("jobwire.worker.busy", "jobwire.worker" => worker.to_owned()).set(jobs as f64);
}
