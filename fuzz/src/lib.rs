//! What the fuzz targets share: a router of jobs that exercise every path
//! (a three-line upcast chain with a JSON-level step, a free-form JSON field,
//! a tombstone), whose handlers never fail, so that any panic is jobwire's;
//! and the invariants every input must keep.

use jobwire::{Added, Context, HandlerError, Job, Json, JsonArgs, JsonUpcast, NoPrevious, Outcome, Router, Tombstone, Upcast, UpcastError};
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::OnceLock;

#[derive(Serialize, Deserialize)]
pub struct Confirmation {
    pub user_id: u64,
    pub message: String,
    pub date: Added<String>,
}

impl Job for Confirmation {
    const NAME: &'static str = "user.confirmation";
    const VERSION: Version = Version::new(2, 1, 0);
    const ALIASES: &'static [&'static str] = &["user.confirm"];
    type Previous = ConfirmationV1;
    type State = ();
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
        // Touch everything a handler can see.
        let meta = ctx.meta();
        std::hint::black_box((
            meta.id(),
            meta.headers().get("traceparent"),
            meta.headers().iter().count(),
        ));
        std::hint::black_box((self.user_id, self.message, self.date));
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
pub struct ConfirmationV1 {
    pub id: u64,
    pub message: String,
}

impl Upcast for ConfirmationV1 {
    const VERSION: Version = Version::new(1, 4, 0);
    type Next = Confirmation;
    type Previous = Json<ConfirmationV0>;
    fn upcast(self) -> Result<Confirmation, UpcastError> {
        if self.id == 0 {
            return Err(UpcastError::new("user id 0 does not exist"));
        }
        Ok(Confirmation {
            user_id: self.id,
            message: self.message,
            date: Added::Missing,
        })
    }
}

pub enum ConfirmationV0 {}

impl JsonUpcast for ConfirmationV0 {
    const VERSION: Version = Version::new(0, 2, 0);
    type Previous = NoPrevious;
    fn upcast(args: &mut JsonArgs<'_>) -> Result<(), UpcastError> {
        if !args.rename("uid", "id") {
            return Err(UpcastError::new("no uid"));
        }
        if !args.rename("text", "message") {
            args.insert("message", "")?;
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
pub struct Tree {
    pub tree: Value,
    pub count: Option<i64>,
}

impl Job for Tree {
    const NAME: &'static str = "test.tree";
    const VERSION: Version = Version::new(0, 3, 1);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        std::hint::black_box(self.tree);
        Ok(())
    }
}

pub fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        Router::builder()
            .job::<Confirmation>()
            .job::<Tree>()
            .retired(Tombstone::new("user.fax").with_aliases(&["fax"]))
            .build()
            .unwrap_or_else(|error| panic!("the fuzz router must build: {error}"))
    })
}

/// A summary of an outcome that does not depend on positions.
pub fn label(outcome: &Outcome<'_>) -> &'static str {
    outcome.label()
}

/// The promises every input keeps: one outcome, never a panic (a panic
/// aborts the fuzzer), the bytes handed back untouched, and the same outcome
/// twice.
pub fn check(bytes: &[u8]) -> &'static str {
    let router = router();
    let outcome = router.dispatch_blocking(bytes, &mut jobwire::Delivery::new());
    match (&outcome, outcome.payload()) {
        (Outcome::Performed(_), None) => {}
        (_, Some(back)) if std::ptr::eq(back, bytes) => {}
        _ => panic!("payload not handed back: {outcome:?}"),
    }
    let again = router.dispatch_blocking(bytes, &mut jobwire::Delivery::new());
    assert_eq!(outcome.label(), again.label(), "dispatch is deterministic");
    label(&outcome)
}
