//! The README's CI snippet works, as printed, for a crate whose jobs declare
//! application state and borrow the queue's transaction: the check describes
//! the registered jobs without building a router that would need them.

use jobwire::check::{check_committed, ManifestSource, Registered};
use jobwire::{Context, HandlerError, Job, NoPrevious, Router};
use semver::Version;
use serde::{Deserialize, Serialize};

/// The application's state, which only the running app has.
pub struct Mailer {
    pub from: String,
}

#[derive(Serialize, Deserialize)]
pub struct SendReceipt {
    pub order: u64,
}

impl Job for SendReceipt {
    const NAME: &'static str = "orders.send_receipt";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Mailer;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Mailer>) -> Result<(), HandlerError> {
        let _ = (&ctx.state().from, self.order);
        Ok(())
    }
}
jobwire::register!(SendReceipt);

#[cfg(feature = "postgres")]
mod credit {
    use super::*;
    use jobwire::backend::postgres::Tx;

    #[derive(Serialize, Deserialize)]
    pub struct CreditAccount {
        pub account: u64,
        pub cents: i64,
    }

    impl Job for CreditAccount {
        const NAME: &'static str = "accounts.credit";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = ();
        type Data = Tx;
        async fn perform(self, ctx: &mut Context<'_, (), Tx>) -> Result<(), HandlerError> {
            let _ = (ctx.data(), self.account, self.cents);
            Ok(())
        }
    }
    jobwire::register!(CreditAccount);
}

/// A folder as `jobwire release` leaves it after the previous release, with
/// the same jobs, and `current.json` recording this code.
fn manifests() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-registered-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let manifest = Registered
        .manifest()
        .expect("the registered jobs hold together");
    let released = manifest.clone().release("v1.0.0");
    std::fs::write(dir.join("0001-v1.0.0.json"), released.to_json()).expect("writes");
    let current = manifest.release("current");
    std::fs::write(dir.join("current.json"), current.to_json()).expect("writes");
    dir
}

#[test]
fn the_readme_snippet_needs_no_state_and_no_transaction() {
    // What the README used to print fails here: the router needs the state.
    let error = Router::from_registry().expect_err("a router needs the Mailer");
    assert!(error.to_string().contains("Mailer"), "{error}");

    let dir = manifests();
    // The README's snippet, as printed (with this test's folder).
    jobwire::check::assert_safe_deploy(&dir, jobwire::check::Registered);

    // And it describes every registered job, state and transaction alike.
    let found = check_committed(&dir, Registered).expect("reads");
    assert!(found.current_up_to_date);
    let manifest = Registered.manifest().expect("describes");
    assert!(manifest.jobs.contains_key("orders.send_receipt"));
    #[cfg(feature = "postgres")]
    assert!(manifest.jobs.contains_key("accounts.credit"));
    let _ = std::fs::remove_dir_all(&dir);
}
