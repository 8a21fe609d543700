//! The worker's metrics, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`); the table is in the module docs of
//! [`worker`](super).
//!
//! Every label value comes from the router, never from a payload: a job
//! the router does not know is `unknown`, and a version line it does not
//! read is `other`. So the number of series is bounded by the router, and
//! the handles of each (queue, job, line) are registered once and kept:
//! a report is then an atomic add, not a lookup of its key.

use crate::dispatch::router::Router;
use crate::wire::version::Line;
use crate::wire::Header;
use metrics::{Counter, Gauge, Histogram};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The label for a job the router does not know.
const UNKNOWN: &str = "unknown";
/// The label for a version line the router does not read.
const OTHER: &str = "other";
/// How many queues' handles are kept; past that (a worker serving more
/// queues than anyone does), handles are registered on each report.
const MAX_QUEUES: usize = 256;

/// A series' labels: queue, job, version line.
type Series = (String, &'static str, String);

/// What the worker labels its metrics with, and the handles it keeps.
#[derive(Default)]
pub(crate) struct Labels {
    /// Every name and alias the router knows, to its job's name and the
    /// lines it reads.
    names: HashMap<&'static str, (&'static str, Vec<String>)>,
    /// The handles of each (queue, job, line) seen.
    kept: Mutex<HashMap<Series, Arc<Handles>>>,
    /// The settlements' round trips, by settlement.
    settles: OnceLock<[Histogram; 4]>,
    /// Jobs in flight.
    busy: OnceLock<Gauge>,
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labels")
            .field("jobs", &self.names.len())
            .finish_non_exhaustive()
    }
}

/// The handles of one (queue, job, line).
pub(crate) struct Handles {
    job: &'static str,
    line: String,
    consumed: Counter,
    process: Histogram,
    wait: Histogram,
    /// By outcome, registered at the first of each.
    settled: Mutex<Vec<(&'static str, Counter)>>,
}

/// One claim's labels: its handles, and when it was enqueued.
pub(crate) struct JobLabels {
    handles: Arc<Handles>,
    enqueued_at: Option<u64>,
}

impl Labels {
    pub(crate) fn new<D: Send + 'static>(router: &Router<D>) -> Labels {
        let (entries, tombstones) = router.parts();
        let mut names = HashMap::new();
        for entry in entries {
            let mut lines = vec![Line::of(&entry.version).to_string()];
            for link in &entry.links {
                lines.push(Line::of(&link.version).to_string());
            }
            if let Some(from) = &entry.breaking_from {
                lines.push(Line::of(from).to_string());
            }
            lines.sort();
            lines.dedup();
            names.insert(entry.name, (entry.name, lines.clone()));
            for alias in entry.aliases {
                names.insert(*alias, (entry.name, lines.clone()));
            }
        }
        for tombstone in tombstones {
            names.insert(tombstone.name, (tombstone.name, Vec::new()));
            for alias in tombstone.aliases {
                names.insert(*alias, (tombstone.name, Vec::new()));
            }
        }
        Labels {
            names,
            ..Labels::default()
        }
    }

    /// The labels of a payload claimed from `queue`.
    pub(crate) fn of(&self, queue: &str, payload: &[u8]) -> JobLabels {
        let (job, line, enqueued_at) = match Header::read(payload) {
            Ok(header) => match self.names.get(header.job()) {
                Some((job, lines)) => {
                    let line = Line::of(header.version()).to_string();
                    let line = if lines.contains(&line) {
                        line
                    } else {
                        String::from(OTHER)
                    };
                    (*job, line, header.meta().enqueued_at())
                }
                None => (UNKNOWN, String::from(UNKNOWN), header.meta().enqueued_at()),
            },
            Err(_) => (UNKNOWN, String::from(UNKNOWN), None),
        };
        let handles = self.handles(queue, job, line);
        JobLabels {
            handles,
            enqueued_at,
        }
    }

    fn handles(&self, queue: &str, job: &'static str, line: String) -> Arc<Handles> {
        let key = (queue.to_owned(), job, line);
        if let Ok(kept) = self.kept.lock() {
            if let Some(handles) = kept.get(&key) {
                return Arc::clone(handles);
            }
        }
        let handles = Arc::new(Handles {
            job,
            line: key.2.clone(),
            consumed: metrics::counter!(
                "messaging.client.consumed.messages",
                "messaging.system" => "jobwire",
                "messaging.destination.name" => key.0.clone(),
                "messaging.operation.name" => "process",
            ),
            process: metrics::histogram!(
                "messaging.process.duration",
                "messaging.system" => "jobwire",
                "messaging.destination.name" => key.0.clone(),
                "jobwire.job" => job,
            ),
            wait: metrics::histogram!(
                "jobwire.queue.wait",
                "messaging.destination.name" => key.0.clone(),
                "jobwire.job" => job,
            ),
            settled: Mutex::new(Vec::new()),
        });
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() < MAX_QUEUES * self.names.len().max(1) * 4 {
                kept.insert(key, Arc::clone(&handles));
            }
        }
        handles
    }

    /// Jobs in flight now, in the worker named `worker`.
    pub(crate) fn busy(&self, worker: &str, jobs: usize) {
        self.busy
            .get_or_init(
                || metrics::gauge!("jobwire.worker.busy", "jobwire.worker" => worker.to_owned()),
            )
            .set(jobs as f64);
    }

    /// A settlement's round trip.
    pub(crate) fn settled_in(&self, settlement: &'static str, took: Duration) {
        let histograms = self.settles.get_or_init(|| {
            ["ack", "reschedule", "retry", "dead-letter"].map(|settlement| {
                metrics::histogram!("jobwire.settle.duration", "jobwire.settlement" => settlement)
            })
        });
        let at = match settlement {
            "ack" => 0,
            "reschedule" => 1,
            "retry" => 2,
            _ => 3,
        };
        if let Some(histogram) = histograms.get(at) {
            histogram.record(took.as_secs_f64());
        }
    }
}

impl JobLabels {
    /// The claim was handed to the router.
    pub(crate) fn consumed(&self) {
        self.handles.consumed.increment(1);
        if let Some(at) = self.enqueued_at {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            self.handles
                .wait
                .record(Duration::from_millis(now.saturating_sub(at)).as_secs_f64());
        }
    }

    /// Its dispatch took `took`.
    pub(crate) fn processed(&self, took: Duration) {
        self.handles.process.record(took.as_secs_f64());
    }

    /// It ended so.
    pub(crate) fn settled(&self, outcome: &'static str) {
        let Ok(mut settled) = self.handles.settled.lock() else {
            return;
        };
        if let Some((_, counter)) = settled.iter().find(|(o, _)| *o == outcome) {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!(
            "jobwire.jobs.settled",
            "jobwire.job" => self.handles.job,
            "jobwire.version.line" => self.handles.line.clone(),
            "jobwire.outcome" => outcome,
        );
        counter.increment(1);
        settled.push((outcome, counter));
    }
}
