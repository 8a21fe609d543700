//! The process heartbeat Sidekiq's Web UI reads for its Busy tab: the
//! `processes` set, a hash per process (`info`, `busy`, `beat`, ...) and
//! its jobs in flight (`IDENTITY:workers`, as Sidekiq 6 names it, and
//! `IDENTITY:work`, as Sidekiq 7 does), each expiring a minute after the
//! last beat, as Sidekiq's own. And, as Sidekiq's own processes do, it
//! counts the jobs acknowledged, for `stat:processed`, until they are
//! written.

use super::job::{json_string, seconds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How often a process beats, as Sidekiq's.
const EVERY: Duration = Duration::from_secs(5);
/// How long a beat lasts without the next one, as Sidekiq's.
const TTL: i64 = 60;

/// One process's heartbeat.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    identity: String,
    hostname: String,
    started_at: SystemTime,
    state: Mutex<State>,
    /// Jobs acknowledged and not yet added to `stat:processed`.
    processed: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    queues: Vec<String>,
    concurrency: usize,
}

/// A job in flight, as the Busy tab lists it.
pub(crate) struct Busy<'a> {
    pub(crate) claim: i64,
    pub(crate) queue: &'a str,
    pub(crate) job: &'a [u8],
    pub(crate) since: SystemTime,
}

impl Heartbeat {
    pub(crate) fn new(nonce: &str) -> Heartbeat {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| String::from("localhost"));
        Heartbeat {
            identity: format!("{hostname}:{}:{nonce}", std::process::id()),
            hostname,
            started_at: SystemTime::now(),
            state: Mutex::new(State::default()),
            processed: AtomicU64::new(0),
        }
    }

    /// Counts a job acknowledged.
    pub(crate) fn processed(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the jobs acknowledged since the last take, to be written.
    pub(crate) fn take_processed(&self) -> u64 {
        self.processed.swap(0, Ordering::Relaxed)
    }

    /// Gives back a count that could not be written, for the next try.
    pub(crate) fn unwritten(&self, processed: u64) {
        self.processed.fetch_add(processed, Ordering::Relaxed);
    }

    /// Notes what a worker claims from, for `info`.
    pub(crate) fn saw(&self, queues: &[&str], limit: usize, running: usize) {
        if let Ok(mut state) = self.state.lock() {
            for queue in queues {
                if !state.queues.iter().any(|q| q == queue) {
                    state.queues.push((*queue).to_owned());
                }
            }
            state.concurrency = state.concurrency.max(limit.saturating_add(running));
        }
    }

    /// The first queue a worker claims from, once it has claimed.
    pub(crate) fn first_queue(&self) -> Option<String> {
        self.state.lock().ok()?.queues.first().cloned()
    }

    /// Whether a beat is due now; if so, it counts as made.
    pub(crate) fn due(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        if state
            .last
            .is_some_and(|last| now.duration_since(last) < EVERY)
        {
            return false;
        }
        state.last = Some(now);
        true
    }

    /// The beat: one transaction.
    pub(crate) fn pipeline(&self, busy: &[Busy<'_>]) -> redis::Pipeline {
        let (queues, concurrency) = self
            .state
            .lock()
            .map(|state| (state.queues.clone(), state.concurrency))
            .unwrap_or_default();
        let queues: Vec<String> = queues.iter().map(|q| json_string(q)).collect();
        let info = format!(
            r#"{{"hostname":{},"started_at":{},"pid":{},"tag":"jobwire","concurrency":{},"queues":[{}],"labels":["jobwire"],"identity":{}}}"#,
            json_string(&self.hostname),
            seconds(self.started_at),
            std::process::id(),
            concurrency,
            queues.join(","),
            json_string(&self.identity)
        );
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in [
            format!("{}:workers", self.identity),
            format!("{}:work", self.identity),
        ] {
            pipe.del(&key).ignore();
            for job in busy {
                let payload = std::str::from_utf8(job.job)
                    .ok()
                    .filter(|text| text.trim_start().starts_with('{'))
                    .map_or_else(|| String::from("{}"), str::to_owned);
                let work = format!(
                    r#"{{"queue":{},"payload":{},"run_at":{}}}"#,
                    json_string(job.queue),
                    payload,
                    seconds(job.since) as i64
                );
                pipe.hset(&key, job.claim.to_string(), work).ignore();
            }
            pipe.expire(&key, TTL).ignore();
        }
        pipe.sadd("processes", &self.identity).ignore();
        pipe.hset_multiple(
            &self.identity,
            &[
                ("info", info),
                ("busy", busy.len().to_string()),
                ("beat", seconds(SystemTime::now()).to_string()),
                ("quiet", String::from("false")),
                ("rss", String::from("0")),
                ("rtt_us", String::from("0")),
            ],
        )
        .ignore();
        pipe.expire(&self.identity, TTL).ignore();
        pipe
    }
}
