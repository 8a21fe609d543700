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

use jobwire::{Outcome, RegistryError, Router, Tombstone};
use std::sync::atomic::AtomicU64;

/// What handlers did, to check that every job's arguments arrived whole.
#[derive(Default)]
pub struct Books {
    pub confirmations: AtomicU64,
    pub dated_confirmations: AtomicU64,
    pub charged_cents: AtomicU64,
    pub reports: AtomicU64,
    pub faxes: AtomicU64,
    pub exports: AtomicU64,
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
            Ok(())
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
            Ok(())
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
            Ok(())
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
            Ok(())
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
            Ok(())
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
            Ok(())
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
            Ok(())
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
            Ok(())
        }
    }
}

/// `user.welcome_fax` is retired in N+1: this is all that is left of it.
pub const FAX_TOMBSTONE: Tombstone = Tombstone::new("user.welcome_fax");

/// Release N's workers.
pub fn router_n(books: Books) -> Result<Router, RegistryError> {
    Router::builder()
        .job::<release_n::UserConfirmation>()
        .job::<release_n::Charge>()
        .job::<release_n::GenerateReport>()
        .deprecated::<release_n::WelcomeFax>()
        .state(books)
        .build()
}

/// Release N+1's workers.
pub fn router_n1(books: Books) -> Result<Router, RegistryError> {
    Router::builder()
        .job::<release_n1::UserConfirmation>()
        .job::<release_n1::Charge>()
        .job::<release_n1::BuildReport>()
        .job::<release_n1::Export>()
        .retired(FAX_TOMBSTONE)
        .state(books)
        .build()
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
