//! A handler that fails, panics or lacks state gives a `Failed` outcome and
//! the worker goes on.

mod support;

use jobwire::{Action, Context, HandlerError, Job, NoPrevious, Outcome, Router};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use support::{builder, log, router};

static PANIC: &[u8] = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"panic"}}"#;
static OK: &[u8] = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"fine"}}"#;

#[test]
fn a_panicking_handler_fails_and_the_worker_goes_on() {
    let router = router();
    let outcome = router.dispatch(PANIC);
    assert_eq!(
        outcome.action(),
        Action::DeadLetter,
        "a panic is not retried"
    );
    assert!(std::ptr::eq(outcome.payload().expect("handed back"), PANIC));
    let Outcome::Failed(failed) = outcome else {
        panic!("not failed")
    };
    assert!(failed.panicked);
    assert_eq!(
        failed.error.to_string(),
        "handler panicked: flaky handler panicked on purpose"
    );
    assert!(
        router.dispatch(OK).is_performed(),
        "the next payload is performed"
    );
    assert_eq!(log(&router), ["flaky fine"]);
}

#[test]
fn catching_panics_can_be_turned_off() {
    let router = builder().catch_panics(false).build().expect("builds");
    let unwound = catch_unwind(AssertUnwindSafe(|| router.dispatch(PANIC).label()));
    assert!(
        unwound.is_err(),
        "with catch_panics(false) the panic reaches the caller"
    );
}

#[derive(Serialize, Deserialize)]
struct NeedsDb {}

struct Db;

impl Job for NeedsDb {
    const NAME: &'static str = "test.needs_db";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
        ctx.state::<Db>()?;
        Ok(())
    }
}

#[test]
fn missing_state_fails_with_a_message_that_says_what_to_add() {
    let payload = br#"{"job":"test.needs_db","version":"1.0.0","args":{}}"#;
    let router = Router::builder().job::<NeedsDb>().build().expect("builds");
    let Outcome::Failed(failed) = router.dispatch(payload) else {
        panic!("not failed")
    };
    assert!(
        failed.error.to_string().contains("handler_failures::Db"),
        "{}",
        failed.error
    );
    assert!(
        failed.error.to_string().contains(".state("),
        "{}",
        failed.error
    );
    let router = Router::builder()
        .job::<NeedsDb>()
        .state(Db)
        .build()
        .expect("builds");
    assert!(router.dispatch(payload).is_performed());
}
