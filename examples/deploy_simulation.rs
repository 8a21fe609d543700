//! A rolling deploy, simulated in one process, in well under a second: the
//! quick way to watch the dispatch table at work. `rolling_deploy` is the
//! real thing, with separate worker processes on a real queue.
//!
//! Producers and workers of release N and release N+1 share one in-memory
//! queue while thousands of jobs flow. The change set between N and N+1
//! (an added parameter, a breaking change with an upcaster and a downcast, a
//! rename, a retirement and a new job) is in `releases/mod.rs`.
//!
//! The deploy goes through four phases: all N; mixed; all N+1 writing the
//! previous format; all N+1 after the flip to the current format. Deferred
//! payloads go back on the queue, from the bytes the outcome hands back. At
//! the end a table per phase shows what happened; the process exits non-zero
//! if any job failed or was lost.
//!
//! Run it with `cargo run --example deploy_simulation`. With
//! `-- --emit-manifests DIR` it also writes the manifests of both releases,
//! `DIR/release-n.json` and `DIR/release-n1.json`, for `jobwire-check`.

use jobwire::{Outcome, WritePolicy};
use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

mod releases;

use releases::{produce, router_n, router_n1, Books, Dice, Release};

struct Phase {
    name: &'static str,
    producers: &'static [Release],
    workers: &'static [Release],
    policy: WritePolicy,
}

const PHASES: [Phase; 4] = [
    Phase {
        name: "1. all on N",
        producers: &[Release::N],
        workers: &[Release::N],
        policy: WritePolicy::Previous,
    },
    Phase {
        name: "2. mixed N / N+1",
        producers: &[Release::N, Release::N1],
        workers: &[Release::N, Release::N1],
        policy: WritePolicy::Previous,
    },
    Phase {
        name: "3. all on N+1",
        producers: &[Release::N1],
        workers: &[Release::N1],
        policy: WritePolicy::Previous,
    },
    Phase {
        name: "4. N+1, flipped",
        producers: &[Release::N1],
        workers: &[Release::N1],
        policy: WritePolicy::Current,
    },
];

const JOBS_PER_PHASE: u64 = 2_500;

struct Message {
    bytes: Vec<u8>,
    phase: usize,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    enqueued: u64,
    performed: u64,
    upcast: u64,
    deferred: u64,
    discarded: u64,
    failed: u64,
    rejected: u64,
    lost: u64,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let n = router_n(Books::default())?;
    let n1 = router_n1(Books::default())?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir] = args.as_slice() {
        if flag == "--emit-manifests" {
            std::fs::create_dir_all(dir)?;
            let dir = std::path::Path::new(dir);
            std::fs::write(
                dir.join("release-n.json"),
                n.manifest().release("N").to_json(),
            )?;
            std::fs::write(
                dir.join("release-n1.json"),
                n1.manifest().release("N+1").to_json(),
            )?;
            println!(
                "wrote {0}/release-n.json and {0}/release-n1.json\n",
                dir.display()
            );
        }
    }
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let mut queue: VecDeque<Message> = VecDeque::new();
    let mut tallies = [Tally::default(); PHASES.len()];
    // What each message's origin phase saw settled: performed, discarded,
    // failed or rejected. Whatever is neither settled nor queued is lost.
    let mut settled = [0u64; PHASES.len()];
    let mut expected_cents = 0;

    // Left over from before N: faxes, deprecated in N, still in the queue;
    // some were scheduled for later and fall due while N+1 runs.
    let fax = |user_id: u64| {
        format!(r#"{{"job":"user.welcome_fax","version":"1.0.0","args":{{"user_id":{user_id}}}}}"#)
            .into_bytes()
    };
    for user_id in 0..40 {
        queue.push_back(Message {
            bytes: fax(user_id),
            phase: 0,
        });
        tallies[0].enqueued += 1;
    }

    for (index, phase) in PHASES.iter().enumerate() {
        let last = index + 1 == PHASES.len();
        if index == 2 {
            for user_id in 40..60 {
                queue.push_back(Message {
                    bytes: fax(user_id),
                    phase: index,
                });
                tallies[index].enqueued += 1;
            }
        }
        let mut produced = 0;
        while produced < JOBS_PER_PHASE || (last && !queue.is_empty()) {
            // Producers write a few jobs, then workers take a few.
            for _ in 0..4 {
                if produced < JOBS_PER_PHASE {
                    let release = phase.producers[dice.roll(phase.producers.len() as u64) as usize];
                    let (bytes, cents) = produce(release, phase.policy, &mut dice)?;
                    expected_cents += cents;
                    queue.push_back(Message {
                        bytes,
                        phase: index,
                    });
                    tallies[index].enqueued += 1;
                    produced += 1;
                }
            }
            for _ in 0..4 {
                let Some(message) = queue.pop_front() else {
                    break;
                };
                let worker = phase.workers[dice.roll(phase.workers.len() as u64) as usize];
                let router = if worker == Release::N { &n } else { &n1 };
                let tally = &mut tallies[index];
                let outcome =
                    router.dispatch_blocking(&message.bytes, &mut jobwire::Delivery::new());
                match &outcome {
                    Outcome::Performed(done) => {
                        tally.performed += 1;
                        tally.upcast += u64::from(done.upcast());
                    }
                    Outcome::Discarded(_) => tally.discarded += 1,
                    Outcome::Deferred(_) => tally.deferred += 1,
                    Outcome::Failed(failed) => {
                        tally.failed += 1;
                        eprintln!("failed: {}: {}", failed.job, failed.error);
                    }
                    Outcome::Rejected(rejected) => {
                        tally.rejected += 1;
                        eprintln!("rejected: {}", rejected.error);
                    }
                    other => {
                        tally.failed += 1;
                        eprintln!("unexpected: {other:?}");
                    }
                }
                if let Outcome::Deferred(deferred) = &outcome {
                    // Re-enqueue the very bytes the outcome hands back.
                    queue.push_back(Message {
                        bytes: deferred.payload.to_vec(),
                        phase: message.phase,
                    });
                } else {
                    settled[message.phase] += 1;
                }
            }
        }
    }
    for (tally, settled) in tallies.iter_mut().zip(settled) {
        tally.lost = tally.enqueued - settled.min(tally.enqueued);
    }

    println!(
        "{:<18} {:>8} {:>9} {:>7} {:>8} {:>9} {:>6} {:>8} {:>5}",
        "phase",
        "enqueued",
        "performed",
        "upcast",
        "deferred",
        "discarded",
        "failed",
        "rejected",
        "lost"
    );
    let mut total = Tally::default();
    for (phase, t) in PHASES.iter().zip(&tallies) {
        println!(
            "{:<18} {:>8} {:>9} {:>7} {:>8} {:>9} {:>6} {:>8} {:>5}",
            phase.name,
            t.enqueued,
            t.performed,
            t.upcast,
            t.deferred,
            t.discarded,
            t.failed,
            t.rejected,
            t.lost
        );
        total.enqueued += t.enqueued;
        total.performed += t.performed;
        total.discarded += t.discarded;
        total.failed += t.failed;
        total.rejected += t.rejected;
        total.lost += t.lost;
    }

    let books = [&n, &n1].map(|router| router.state::<Books>());
    let sum = |field: fn(&Books) -> &AtomicU64| -> u64 {
        books
            .iter()
            .flatten()
            .map(|b| field(b).load(Ordering::Relaxed))
            .sum()
    };
    let charged = sum(|b| &b.charged_cents);
    println!(
        "\nhandlers: {} confirmations ({} with a date), {} reports, {} exports, {} faxes, {} cents charged of {} enqueued",
        sum(|b| &b.confirmations),
        sum(|b| &b.dated_confirmations),
        sum(|b| &b.reports),
        sum(|b| &b.exports),
        sum(|b| &b.faxes),
        charged,
        expected_cents,
    );
    println!(
        "{} enqueued: {} performed, {} discarded on purpose, {} failed, {} rejected, {} lost",
        total.enqueued, total.performed, total.discarded, total.failed, total.rejected, total.lost
    );
    let ok =
        total.failed == 0 && total.rejected == 0 && total.lost == 0 && charged == expected_cents;
    if ok {
        println!("the deploy was safe: nothing failed, nothing was lost, every cent arrived");
    } else {
        println!("THE DEPLOY WAS NOT SAFE");
    }
    Ok(ok)
}
