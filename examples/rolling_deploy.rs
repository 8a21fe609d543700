//! A rolling deploy, simulated in one process.
//!
//! Producers and workers of release N and release N+1 share one in-memory
//! queue while thousands of jobs flow. Between N and N+1:
//!
//! - `user.confirmation` gains an optional `date` (1.0.0 -> 1.1.0);
//! - `billing.charge` makes a breaking change (1.2.0 -> 2.0.0): the amount
//!   becomes a `Money` with a currency, with an upcaster and a downcast;
//! - `report.generate` is renamed `reports.build`, keeping the old name as an
//!   alias;
//! - `user.welcome_fax`, deprecated in N, is retired in N+1;
//! - `user.export` is new in N+1.
//!
//! The deploy goes through four phases: all N; mixed; all N+1 writing the
//! previous format; all N+1 after the flip to the current format. Deferred
//! payloads go back on the queue, from the bytes the outcome hands back. At
//! the end a table per phase shows what happened; the process exits non-zero
//! if any job failed or was lost.
//!
//! Run it with `cargo run --example rolling_deploy`.

use jobwire::{Outcome, Producer, Router, Tombstone, WritePolicy};
use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

/// What handlers did, to check that every job's arguments arrived whole.
#[derive(Default)]
struct Books {
    confirmations: AtomicU64,
    dated_confirmations: AtomicU64,
    charged_cents: AtomicU64,
    reports: AtomicU64,
    faxes: AtomicU64,
    exports: AtomicU64,
}

/// Release N.
mod release_n {
    use super::Books;
    use jobwire::{Context, Deprecated, HandlerError, Job, NoPrevious};
    use semver::Version;
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::Ordering::Relaxed;

    #[derive(Serialize, Deserialize)]
    pub struct UserConfirmation {
        pub id: u64,
        pub message: String,
    }

    impl Job for UserConfirmation {
        const NAME: &'static str = "user.confirmation";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            if self.message.is_empty() {
                return Err(HandlerError::permanent("empty message"));
            }
            ctx.state::<Books>()?.confirmations.fetch_add(1, Relaxed);
            Ok(())
        }
    }

    #[derive(Serialize, Deserialize)]
    pub struct Charge {
        pub account: String,
        pub cents: u64,
    }

    impl Job for Charge {
        const NAME: &'static str = "billing.charge";
        const VERSION: Version = Version::new(1, 2, 0);
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            ctx.state::<Books>()?
                .charged_cents
                .fetch_add(self.cents, Relaxed);
            Ok(())
        }
    }

    #[derive(Serialize, Deserialize)]
    pub struct GenerateReport {
        pub report_id: u64,
    }

    impl Job for GenerateReport {
        const NAME: &'static str = "report.generate";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            ctx.state::<Books>()?.reports.fetch_add(1, Relaxed);
            Ok(())
        }
    }

    /// Deprecated in N: still performed while the queue drains; N's producers
    /// cannot enqueue it (that would not compile).
    #[derive(Serialize, Deserialize)]
    pub struct WelcomeFax {
        pub user_id: u64,
    }

    impl Job<Deprecated> for WelcomeFax {
        const NAME: &'static str = "user.welcome_fax";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            ctx.state::<Books>()?.faxes.fetch_add(1, Relaxed);
            Ok(())
        }
    }
}

/// Release N+1.
mod release_n1 {
    use super::Books;
    use jobwire::{
        Added, BreakingChange, Context, Downcast, DowncastError, HandlerError, Job, NoPrevious,
        Upcast, UpcastError,
    };
    use semver::Version;
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::Ordering::Relaxed;

    /// Added an optional parameter: a minor bump.
    #[derive(Serialize, Deserialize)]
    pub struct UserConfirmation {
        pub id: u64,
        pub message: String,
        pub date: Added<String>,
    }

    impl Job for UserConfirmation {
        const NAME: &'static str = "user.confirmation";
        const VERSION: Version = Version::new(1, 1, 0);
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            if self.message.is_empty() {
                return Err(HandlerError::permanent("empty message"));
            }
            let books = ctx.state::<Books>()?;
            books.confirmations.fetch_add(1, Relaxed);
            if self.date.is_present() {
                books.dated_confirmations.fetch_add(1, Relaxed);
            }
            Ok(())
        }
    }

    /// The previous line of `billing.charge`, kept for its upcaster.
    #[derive(Serialize, Deserialize)]
    pub struct ChargeV1 {
        pub account: String,
        pub cents: u64,
    }

    #[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
    pub struct Money {
        pub minor_units: u64,
        pub currency: String,
    }

    /// A breaking change: the amount is now `Money`.
    #[derive(Serialize, Deserialize)]
    pub struct Charge {
        pub account: String,
        pub amount: Money,
    }

    impl Upcast for ChargeV1 {
        const VERSION: Version = Version::new(1, 2, 0);
        type Next = Charge;
        type Previous = NoPrevious;
        fn upcast(self) -> Result<Charge, UpcastError> {
            Ok(Charge {
                account: self.account,
                amount: Money {
                    minor_units: self.cents,
                    currency: "USD".to_owned(),
                },
            })
        }
    }

    impl Downcast for ChargeV1 {
        fn downcast(next: &Charge) -> Result<ChargeV1, DowncastError> {
            if next.amount.currency != "USD" {
                return Err(DowncastError::new("1.x charges are in USD only"));
            }
            Ok(ChargeV1 {
                account: next.account.clone(),
                cents: next.amount.minor_units,
            })
        }
    }

    impl Job for Charge {
        const NAME: &'static str = "billing.charge";
        const VERSION: Version = Version::new(2, 0, 0);
        type Previous = BreakingChange<ChargeV1>;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            if self.amount.currency != "USD" {
                return Err(HandlerError::permanent("this shop sells in USD"));
            }
            let books = ctx.state::<Books>()?;
            books
                .charged_cents
                .fetch_add(self.amount.minor_units, Relaxed);
            Ok(())
        }
    }

    /// Renamed from `report.generate`.
    #[derive(Serialize, Deserialize)]
    pub struct BuildReport {
        pub report_id: u64,
    }

    impl Job for BuildReport {
        const NAME: &'static str = "reports.build";
        const VERSION: Version = Version::new(1, 0, 0);
        const ALIASES: &'static [&'static str] = &["report.generate"];
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            ctx.state::<Books>()?.reports.fetch_add(1, Relaxed);
            Ok(())
        }
    }

    /// New in N+1: release N has never heard of it.
    #[derive(Serialize, Deserialize)]
    pub struct Export {
        pub user_id: u64,
    }

    impl Job for Export {
        const NAME: &'static str = "user.export";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
            ctx.state::<Books>()?.exports.fetch_add(1, Relaxed);
            Ok(())
        }
    }
}

/// `user.welcome_fax` is retired in N+1: this is all that is left of it.
const FAX_TOMBSTONE: Tombstone = Tombstone::new("user.welcome_fax");

fn router_n(books: Books) -> Result<Router, jobwire::RegistryError> {
    Router::builder()
        .job::<release_n::UserConfirmation>()
        .job::<release_n::Charge>()
        .job::<release_n::GenerateReport>()
        .deprecated::<release_n::WelcomeFax>()
        .state(books)
        .build()
}

fn router_n1(books: Books) -> Result<Router, jobwire::RegistryError> {
    Router::builder()
        .job::<release_n1::UserConfirmation>()
        .job::<release_n1::Charge>()
        .job::<release_n1::BuildReport>()
        .job::<release_n1::Export>()
        .retired(FAX_TOMBSTONE)
        .state(books)
        .build()
}

/// A small deterministic generator, so every run tells the same story.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Release {
    N,
    N1,
}

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

/// Seals one job of `release`, returning the payload and the cents it charges.
fn produce(
    release: Release,
    policy: WritePolicy,
    dice: &mut Dice,
) -> Result<(Vec<u8>, u64), jobwire::SealError> {
    let producer = Producer::new(policy);
    let n = dice.roll(1_000_000);
    let cents = 1 + n % 10_000;
    let payload = match (release, dice.roll(4)) {
        (Release::N, 0) => producer.seal(&release_n::UserConfirmation {
            id: n,
            message: "welcome!".into(),
        }),
        (Release::N, 1) => producer.seal(&release_n::Charge {
            account: format!("acct-{n}"),
            cents,
        }),
        (Release::N, _) => producer.seal(&release_n::GenerateReport { report_id: n }),
        (Release::N1, 0) => producer.seal(&release_n1::UserConfirmation {
            id: n,
            message: "welcome!".into(),
            date: jobwire::Added::Present("2026-12-24".into()),
        }),
        (Release::N1, 1) => producer.seal(&release_n1::Charge {
            account: format!("acct-{n}"),
            amount: release_n1::Money {
                minor_units: cents,
                currency: "USD".into(),
            },
        }),
        (Release::N1, 2) => producer.seal(&release_n1::BuildReport { report_id: n }),
        (Release::N1, _) => producer.seal(&release_n1::Export { user_id: n }),
    }?;
    let charged = payload.starts_with(br#"{"job":"billing.charge""#);
    Ok((payload, if charged { cents } else { 0 }))
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
                let outcome = router.dispatch(&message.bytes);
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
