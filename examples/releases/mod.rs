//! The jobs of two releases, N and N+1, shared by the examples (and by the
//! crate's own tests, which property-test them).
//!
//! Between N and N+1:
//!
//! - `user.confirmation` gains an optional `date` (1.0.0 -> 1.1.0);
//! - `billing.charge` makes a breaking change (1.2.0 -> 2.0.0): the amount
//!   becomes a `Money` with a currency, with an upcaster and a downcast;
//! - `report.generate` is renamed `reports.build`, keeping the old name as an
//!   alias;
//! - `user.welcome_fax`, deprecated in N, is retired in N+1;
//! - `user.export` is new in N+1.
#![allow(dead_code)]

use jobwire::wire::Relation;
use jobwire::{Context, HandlerError, Outcome, RegistryError, Router, Tombstone};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;

/// What handlers did, to check that every job's arguments arrived whole.
#[derive(Default)]
pub struct Books {
    pub confirmations: AtomicU64,
    pub dated_confirmations: AtomicU64,
    pub charged_cents: AtomicU64,
    pub charges: AtomicU64,
    pub reports: AtomicU64,
    pub faxes: AtomicU64,
    pub exports: AtomicU64,
    /// Where a multi-process run writes down each performance, durably,
    /// before the job is acknowledged.
    pub ledger: Option<Box<dyn Ledger>>,
}

/// One performance, as a ledger records it.
pub struct Performance<'a> {
    /// The job id the producer stamped.
    pub id: Option<&'a str>,
    pub job: &'static str,
    pub relation: Relation,
    pub attempt: u32,
    pub defers: u32,
    /// What a charge charged.
    pub cents: u64,
}

/// Writes performances down (the rolling deploy's database).
pub trait Ledger: Send + Sync {
    fn record<'a>(
        &'a self,
        performance: Performance<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Writes one performance down, if a ledger is kept.
async fn note(ctx: &Context<'_, Books>, cents: u64) -> Result<(), HandlerError> {
    let Some(ledger) = &ctx.state().ledger else {
        return Ok(());
    };
    let performance = Performance {
        id: ctx.meta().id(),
        job: ctx.job_name(),
        relation: ctx.relation(),
        attempt: ctx.attempt(),
        defers: ctx.defers(),
        cents,
    };
    ledger
        .record(performance)
        .await
        .map_err(HandlerError::retryable)
}

/// Release N.
pub mod release_n {
    use super::Books;
    use jobwire::{Context, Deprecated, HandlerError, Job, NoPrevious};
    use semver::Version;
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::Ordering::Relaxed;

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct UserConfirmation {
        pub id: u64,
        pub message: String,
    }

    impl Job for UserConfirmation {
        const NAME: &'static str = "user.confirmation";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            if self.message.is_empty() {
                return Err(HandlerError::permanent("empty message"));
            }
            ctx.state().confirmations.fetch_add(1, Relaxed);
            super::note(ctx, 0).await
        }
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Charge {
        pub account: String,
        pub cents: u64,
    }

    impl Job for Charge {
        const NAME: &'static str = "billing.charge";
        const VERSION: Version = Version::new(1, 2, 0);
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            ctx.state().charged_cents.fetch_add(self.cents, Relaxed);
            ctx.state().charges.fetch_add(1, Relaxed);
            super::note(ctx, self.cents).await
        }
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct GenerateReport {
        pub report_id: u64,
    }

    impl Job for GenerateReport {
        const NAME: &'static str = "report.generate";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            ctx.state().reports.fetch_add(1, Relaxed);
            super::note(ctx, 0).await
        }
    }

    /// Deprecated in N: still performed while the queue drains; N's producers
    /// cannot enqueue it (that would not compile).
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct WelcomeFax {
        pub user_id: u64,
    }

    impl Job<Deprecated> for WelcomeFax {
        const NAME: &'static str = "user.welcome_fax";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            ctx.state().faxes.fetch_add(1, Relaxed);
            super::note(ctx, 0).await
        }
    }

    /// A new job that tries to reuse the retired fax name: the registry
    /// refuses it.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct WelcomeFaxReborn {}

    impl Job for WelcomeFaxReborn {
        const NAME: &'static str = "user.welcome_fax";
        const VERSION: Version = Version::new(2, 0, 0);
        type Previous = NoPrevious;
        type State = ();
        type Data = ();
        async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
            Ok(())
        }
    }
}

/// Release N+1.
pub mod release_n1 {
    use super::Books;
    use jobwire::{
        Added, BreakingChange, Context, Downcast, DowncastError, HandlerError, Job, NoPrevious,
        Upcast, UpcastError,
    };
    use semver::Version;
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::Ordering::Relaxed;

    /// Added an optional parameter: a minor bump.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct UserConfirmation {
        pub id: u64,
        pub message: String,
        pub date: Added<String>,
    }

    impl Job for UserConfirmation {
        const NAME: &'static str = "user.confirmation";
        const VERSION: Version = Version::new(1, 1, 0);
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            if self.message.is_empty() {
                return Err(HandlerError::permanent("empty message"));
            }
            let books = ctx.state();
            books.confirmations.fetch_add(1, Relaxed);
            if self.date.is_present() {
                books.dated_confirmations.fetch_add(1, Relaxed);
            }
            super::note(ctx, 0).await
        }
    }

    /// The previous line of `billing.charge`, kept for its upcaster.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
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
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
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
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            if self.amount.currency != "USD" {
                return Err(HandlerError::permanent("this shop sells in USD"));
            }
            let books = ctx.state();
            books
                .charged_cents
                .fetch_add(self.amount.minor_units, Relaxed);
            books.charges.fetch_add(1, Relaxed);
            super::note(ctx, self.amount.minor_units).await
        }
    }

    /// Renamed from `report.generate`.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct BuildReport {
        pub report_id: u64,
    }

    impl Job for BuildReport {
        const NAME: &'static str = "reports.build";
        const VERSION: Version = Version::new(1, 0, 0);
        const ALIASES: &'static [&'static str] = &["report.generate"];
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            ctx.state().reports.fetch_add(1, Relaxed);
            super::note(ctx, 0).await
        }
    }

    /// New in N+1: release N has never heard of it.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Export {
        pub user_id: u64,
    }

    impl Job for Export {
        const NAME: &'static str = "user.export";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = Books;
        type Data = ();
        async fn perform(self, ctx: &mut Context<'_, Books>) -> Result<(), HandlerError> {
            ctx.state().exports.fetch_add(1, Relaxed);
            super::note(ctx, 0).await
        }
    }
}

/// `user.welcome_fax` is retired in N+1: this is all that is left of it.
pub const FAX_TOMBSTONE: Tombstone = Tombstone::new("user.welcome_fax");

/// Release N's workers.
pub fn router_n(books: Books) -> Result<Router, RegistryError> {
    router_n_lending(books)
}

/// Release N's workers, on a queue that lends `D`.
pub fn router_n_lending<D: Send + 'static>(books: Books) -> Result<Router<D>, RegistryError> {
    Router::builder()
        .lending::<D>()
        .job::<release_n::UserConfirmation>()
        .job::<release_n::Charge>()
        .job::<release_n::GenerateReport>()
        .deprecated::<release_n::WelcomeFax>()
        .state(books)
        .build()
}

/// Release N+1's workers.
pub fn router_n1(books: Books) -> Result<Router, RegistryError> {
    router_n1_lending(books)
}

/// Release N+1's workers, on a queue that lends `D`.
pub fn router_n1_lending<D: Send + 'static>(books: Books) -> Result<Router<D>, RegistryError> {
    Router::builder()
        .lending::<D>()
        .job::<release_n1::UserConfirmation>()
        .job::<release_n1::Charge>()
        .job::<release_n1::BuildReport>()
        .job::<release_n1::Export>()
        .retired(FAX_TOMBSTONE)
        .state(books)
        .build()
}

/// Which release a process runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Release {
    N,
    N1,
}

/// A small deterministic generator, so every run tells the same story.
pub struct Dice(pub u64);

impl Dice {
    pub fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// Seals one job of `release`, returning the payload and the cents it charges.
pub fn produce(
    release: Release,
    policy: jobwire::WritePolicy,
    dice: &mut Dice,
) -> Result<(Vec<u8>, u64), jobwire::SealError> {
    let producer = jobwire::Producer::new(policy);
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

/// One line describing an outcome, for the examples' stories.
pub fn describe(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Performed(done) => format!(
            "performed by {} {} (payload {}, {})",
            done.job,
            done.handler_version,
            done.wire_version,
            if done.via_alias {
                "via an alias".to_owned()
            } else {
                done.relation.as_str().to_owned()
            }
        ),
        Outcome::Deferred(deferred) => format!("deferred: {:?}", deferred.reason),
        Outcome::Discarded(discarded) => {
            format!("discarded on purpose: `{}` is retired", discarded.job)
        }
        Outcome::Rejected(rejected) => format!("REJECTED: {}", rejected.error),
        Outcome::Failed(failed) => format!("FAILED: {}", failed.error),
        other => format!("{}: {:?}", other.label(), other.action()),
    }
}
