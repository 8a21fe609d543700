//! A handler that fails, snoozes or panics, and a job whose own decoding,
//! upcasting or downcasting panics: each gives one outcome (or a
//! `SealError`), hands back the bytes, and the worker goes on.

mod support;

use jobwire::{
    Action, BreakingChange, Context, Delivery, Downcast, DowncastError, HandlerError, Job,
    NoPrevious, Outcome, Producer, Router, SealError, Step, Upcast, UpcastError, WritePolicy,
};
use semver::Version;
use serde::{Deserialize, Deserializer, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;
use support::{builder, log, router};

static PANIC: &[u8] = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"panic"}}"#;
static OK: &[u8] = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"fine"}}"#;

#[test]
fn a_panicking_handler_fails_and_the_worker_goes_on() {
    let router = router();
    let outcome = router.dispatch_blocking(PANIC, &mut jobwire::Delivery::new());
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
    assert_eq!(failed.step, Step::Perform);
    assert_eq!(
        failed.error.to_string(),
        "handler panicked: flaky handler panicked on purpose"
    );
    assert!(
        router
            .dispatch_blocking(OK, &mut jobwire::Delivery::new())
            .is_performed(),
        "the next payload is performed"
    );
    assert_eq!(log(&router), ["flaky fine"]);
}

#[test]
fn catching_panics_can_be_turned_off() {
    let router = builder().catch_panics(false).build().expect("builds");
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        router
            .dispatch_blocking(PANIC, &mut jobwire::Delivery::new())
            .label()
    }));
    assert!(
        unwound.is_err(),
        "with catch_panics(false) the panic reaches the caller"
    );
}

/// A job whose old line panics in its upcaster, and whose current type
/// panics in its own `Deserialize` impl on a poisoned value.
#[derive(Serialize)]
struct Touchy {
    n: u64,
}

impl<'de> Deserialize<'de> for Touchy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            n: u64,
        }
        let raw = Raw::deserialize(deserializer)?;
        if raw.n == 13 {
            panic!("13 is bad luck");
        }
        Ok(Touchy { n: raw.n })
    }
}

#[derive(Serialize, Deserialize)]
struct TouchyV1 {
    n: u64,
}

impl Upcast for TouchyV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Touchy;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Touchy, UpcastError> {
        if self.n == 0 {
            panic!("the upcaster divides by {}", self.n);
        }
        Ok(Touchy { n: self.n })
    }
}

impl Downcast for TouchyV1 {
    fn downcast(next: &Touchy) -> Result<Self, DowncastError> {
        if next.n == 7 {
            panic!("the downcast has no room for 7");
        }
        Ok(TouchyV1 { n: next.n })
    }
}

impl Job for Touchy {
    const NAME: &'static str = "test.touchy";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = BreakingChange<TouchyV1>;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn a_panicking_upcaster_fails_naming_the_step_and_the_worker_goes_on() {
    let router = Router::builder().job::<Touchy>().build().expect("builds");
    let payload: &[u8] = br#"{"job":"test.touchy","version":"1.0.0","args":{"n":0}}"#;
    let outcome = router.dispatch_blocking(payload, &mut Delivery::new());
    assert!(std::ptr::eq(
        outcome.payload().expect("handed back"),
        payload
    ));
    assert_eq!(outcome.action(), Action::DeadLetter);
    let Outcome::Failed(failed) = outcome else {
        panic!("not failed")
    };
    assert!(failed.panicked);
    assert_eq!(
        failed.step,
        Step::Upcast {
            from: Version::new(1, 0, 0),
            to: Version::new(2, 0, 0)
        }
    );
    assert_eq!(
        failed.error.to_string(),
        "upcast from 1.0.0 to 2.0.0 panicked: the upcaster divides by 0"
    );
    let fine = br#"{"job":"test.touchy","version":"1.0.0","args":{"n":1}}"#;
    assert!(router
        .dispatch_blocking(fine, &mut Delivery::new())
        .is_performed());
}

#[test]
fn a_panicking_deserialize_fails_naming_the_decode_step_in_either_key_order() {
    let router = Router::builder().job::<Touchy>().build().expect("builds");
    for payload in [
        &br#"{"job":"test.touchy","version":"2.0.0","args":{"n":13}}"#[..],
        br#"{"args":{"n":13},"job":"test.touchy","version":"2.0.0"}"#,
    ] {
        let outcome = router.dispatch_blocking(payload, &mut Delivery::new());
        assert!(std::ptr::eq(
            outcome.payload().expect("handed back"),
            payload
        ));
        let Outcome::Failed(failed) = outcome else {
            panic!("not failed")
        };
        assert!(failed.panicked);
        assert_eq!(
            failed.step,
            Step::Decode {
                version: Version::new(2, 0, 0)
            }
        );
        assert!(failed.error.to_string().contains("13 is bad luck"));
    }
}

#[test]
fn a_panicking_downcast_is_a_seal_error() {
    let producer = Producer::new(WritePolicy::Previous);
    match producer.seal(&Touchy { n: 7 }) {
        Err(SealError::Downcast { job, error, .. }) => {
            assert_eq!(job, "test.touchy");
            assert!(error.to_string().contains("no room for 7"), "{error}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(producer.seal(&Touchy { n: 8 }).is_ok());
}

/// A job whose handler snoozes or asks for a delayed retry.
#[derive(Serialize, Deserialize)]
struct Patient {
    wait: String,
}

impl Job for Patient {
    const NAME: &'static str = "test.patient";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        match self.wait.as_str() {
            "snooze" => Err(HandlerError::snooze(Duration::from_secs(30))),
            "retry" => {
                Err(HandlerError::retryable("rate limited").retry_after(Duration::from_secs(5)))
            }
            _ => Ok(()),
        }
    }
}

#[test]
fn a_snooze_reaches_the_outcome_with_its_delay_and_counts_no_attempt() {
    let router = Router::builder().job::<Patient>().build().expect("builds");
    let payload: &[u8] = br#"{"job":"test.patient","version":"1.0.0","args":{"wait":"snooze"}}"#;
    let outcome = router.dispatch_blocking(payload, &mut Delivery::new());
    assert_eq!(outcome.action(), Action::Defer);
    assert!(!outcome.counts_attempt());
    assert_eq!(outcome.delay(), Some(Duration::from_secs(30)));
    assert!(std::ptr::eq(
        outcome.payload().expect("handed back"),
        payload
    ));
    let Outcome::Snoozed(snoozed) = outcome else {
        panic!("not snoozed")
    };
    assert_eq!(
        (snoozed.job, snoozed.delay),
        ("test.patient", Duration::from_secs(30))
    );
}

#[test]
fn a_retry_after_reaches_the_outcome_and_counts_an_attempt() {
    let router = Router::builder().job::<Patient>().build().expect("builds");
    let payload = br#"{"job":"test.patient","version":"1.0.0","args":{"wait":"retry"}}"#;
    let outcome = router.dispatch_blocking(payload, &mut Delivery::new());
    assert_eq!(outcome.action(), Action::Retry);
    assert!(outcome.counts_attempt());
    assert_eq!(outcome.delay(), Some(Duration::from_secs(5)));
}

#[test]
fn handler_errors_go_both_ways_with_the_standard_error_trait() {
    fn inner() -> Result<u32, HandlerError> {
        Ok("x".parse::<u32>()?)
    }
    fn outer() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        Ok(inner()?)
    }
    let error = outer().expect_err("fails");
    assert!(error.downcast_ref::<std::num::ParseIntError>().is_some());
    let handler = inner().expect_err("fails");
    let as_std: &(dyn std::error::Error + Send + Sync) = handler.as_ref();
    assert_eq!(as_std.to_string(), "invalid digit found in string");
    assert!(handler.into_std().is::<std::num::ParseIntError>());
}

/// The mistake every new user of an async runtime makes: blocking on a
/// runtime from inside one.
#[derive(Serialize, Deserialize)]
struct BlocksInside {}

impl Job for BlocksInside {
    const NAME: &'static str = "test.blocks_inside";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        tokio::runtime::Handle::current().block_on(async {});
        Ok(())
    }
}

#[tokio::test]
async fn blocking_on_a_runtime_inside_a_handler_is_diagnosed() {
    let router = Router::builder()
        .job::<BlocksInside>()
        .build()
        .expect("builds");
    let payload = br#"{"job":"test.blocks_inside","version":"1.0.0","args":{}}"#;
    let outcome = router.dispatch(payload, &mut Delivery::new()).await;
    let Outcome::Failed(failed) = outcome else {
        panic!("not failed: {outcome:?}")
    };
    let message = failed.error.to_string();
    assert!(failed.panicked, "{message}");
    assert!(
        message.contains("runtime") && message.contains("make `perform` await instead"),
        "{message}"
    );
}
