//! What a router dispatched, counted per (job name, wire version, outcome),
//! for metrics exporters and for drain: the moment a version line stops
//! arriving is the moment its upcaster can go.

use crate::dispatch::outcome::Outcome;
use semver::Version;
use std::collections::HashMap;
use std::sync::Mutex;

/// The outcomes, in the order of their counters.
const LABELS: [&str; 7] = [
    "performed",
    "deferred",
    "snoozed",
    "interrupted",
    "discarded",
    "rejected",
    "failed",
];

/// The name counted for a payload whose job could not be read.
pub(crate) const UNREADABLE: &str = "(unreadable)";

/// One counter of [`Router::counts`](crate::Router::counts): how many
/// payloads of `job`, written at `wire_version`, ended in `outcome`.
///
/// ```
/// # use jobwire::*;
/// let router = Router::builder().retired(Tombstone::new("x")).count_outcomes().build()?;
/// router.dispatch_blocking(br#"{"job":"x","version":"1.0.0","args":{}}"#, &mut Delivery::new());
/// let counts = router.counts();
/// assert_eq!(counts[0].job, "x");
/// assert_eq!(counts[0].wire_version, None); // a retired job's version is not read
/// assert_eq!((counts[0].outcome, counts[0].count), ("discarded", 1));
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatchCount {
    /// The job's name: the one the router resolved (a payload written
    /// under an alias counts under the job's name), the name of a job this
    /// release does not know, or `(unreadable)`.
    pub job: String,
    /// The version the payload was written at, when it could be read (a
    /// retired job's payload is discarded before its version is read).
    pub wire_version: Option<Version>,
    /// The outcome's label, as [`Outcome::label`](crate::Outcome::label).
    pub outcome: &'static str,
    /// How many.
    pub count: u64,
}

/// One wire version's counters, one per outcome in [`LABELS`]' order.
type Line = (Option<Version>, [u64; 7]);

/// The counters of one router. One short lock a dispatch: nothing is
/// allocated once a (name, version) pair has been seen.
#[derive(Default)]
pub(crate) struct Counts {
    by_job: Mutex<HashMap<Box<str>, Vec<Line>>>,
}

impl Counts {
    /// Counts one outcome.
    pub(crate) fn outcome(&self, outcome: &Outcome<'_>) {
        let (job, wire) = match outcome {
            Outcome::Performed(p) => (p.job, Some(&p.wire_version)),
            Outcome::Deferred(d) => (d.reason.job(), Some(d.reason.wire_version())),
            Outcome::Snoozed(s) => (s.job, Some(&s.wire_version)),
            Outcome::Interrupted(i) => (i.job, Some(&i.wire_version)),
            Outcome::Discarded(d) => (d.job, None),
            Outcome::Rejected(_) => (UNREADABLE, None),
            Outcome::Failed(f) => (f.job, Some(&f.wire_version)),
        };
        self.record(job, wire, outcome.label());
    }

    fn record(&self, job: &str, wire: Option<&Version>, outcome: &'static str) {
        let Some(at) = LABELS.iter().position(|label| *label == outcome) else {
            return;
        };
        // A poisoned lock only means a panic elsewhere mid-count: the
        // counters are still numbers.
        let mut by_job = self.by_job.lock().unwrap_or_else(|p| p.into_inner());
        let lines = match by_job.get_mut(job) {
            Some(lines) => lines,
            None => by_job.entry(job.into()).or_default(),
        };
        match lines.iter_mut().find(|(v, _)| v.as_ref() == wire) {
            Some((_, counters)) => counters[at] += 1,
            None => {
                let mut counters = [0; 7];
                counters[at] = 1;
                lines.push((wire.cloned(), counters));
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<DispatchCount> {
        let by_job = self.by_job.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts: Vec<DispatchCount> = by_job
            .iter()
            .flat_map(|(job, lines)| {
                lines.iter().flat_map(move |(version, counters)| {
                    LABELS.iter().zip(counters).filter(|(_, n)| **n > 0).map(
                        move |(outcome, count)| DispatchCount {
                            job: job.to_string(),
                            wire_version: version.clone(),
                            outcome,
                            count: *count,
                        },
                    )
                })
            })
            .collect();
        counts.sort_by(|a, b| {
            (&a.job, &a.wire_version, a.outcome).cmp(&(&b.job, &b.wire_version, b.outcome))
        });
        counts
    }
}
