//! The upcast chain: typed steps of any length resolved at compile time,
//! JSON-level steps for deleted types, and failures that name the versions.

mod support;

use jobwire::wire::Relation;
use jobwire::{
    Context, HandlerError, Job, NoPrevious, Outcome, RejectError, Router, Upcast, UpcastError,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use support::router;

/// A four-line chain: 1.x -> 2.x -> 3.x -> 4.x, each step adding 10.
#[derive(Serialize, Deserialize)]
struct CountV1 {
    n: u64,
}
#[derive(Serialize, Deserialize)]
struct CountV2 {
    n: u64,
}
#[derive(Serialize, Deserialize)]
struct CountV3 {
    n: u64,
}
#[derive(Serialize, Deserialize)]
struct Count {
    total: u64,
}

impl Upcast for CountV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = CountV2;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<CountV2, UpcastError> {
        Ok(CountV2 { n: self.n + 10 })
    }
}
impl Upcast for CountV2 {
    const VERSION: Version = Version::new(2, 3, 0);
    type Next = CountV3;
    type Previous = CountV1;
    fn upcast(self) -> Result<CountV3, UpcastError> {
        Ok(CountV3 { n: self.n + 10 })
    }
}
impl Upcast for CountV3 {
    const VERSION: Version = Version::new(3, 0, 1);
    type Next = Count;
    type Previous = CountV2;
    fn upcast(self) -> Result<Count, UpcastError> {
        let total = self
            .n
            .checked_add(10)
            .ok_or_else(|| UpcastError::new("the count overflows"))?;
        Ok(Count { total })
    }
}

static LAST: AtomicU64 = AtomicU64::new(0);

impl Job for Count {
    const NAME: &'static str = "test.count";
    const VERSION: Version = Version::new(4, 0, 0);
    type Previous = CountV3;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        LAST.store(self.total, Ordering::SeqCst);
        Ok(())
    }
}

fn count(version: &str, n: u64) -> Option<u64> {
    let router = Router::builder().job::<Count>().build().ok()?;
    let payload =
        format!(r#"{{"job":"test.count","version":"{version}","args":{{"n":{n},"total":{n}}}}}"#);
    match router.dispatch_blocking(payload.as_bytes(), &mut jobwire::Delivery::new()) {
        Outcome::Performed(done) => {
            assert_eq!(
                done.relation == Relation::OlderLine,
                !version.starts_with('4')
            );
            Some(LAST.load(Ordering::SeqCst))
        }
        other => panic!("{version}: {other:?}"),
    }
}

#[test]
fn every_step_of_a_long_typed_chain_runs_once() {
    assert_eq!(count("1.0.0", 1), Some(31));
    assert_eq!(
        count("1.9.0", 1),
        Some(31),
        "any version of a line reads as that line's type"
    );
    assert_eq!(count("2.0.0", 1), Some(21));
    assert_eq!(count("3.0.0", 1), Some(11));
    assert_eq!(count("4.0.0", 1), Some(1));
}

#[test]
fn a_failing_typed_upcaster_names_the_job_and_both_versions() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"1.0.0","args":{"id":0,"message":"m"}}"#;
    match router
        .dispatch_blocking(payload, &mut jobwire::Delivery::new())
        .rejection()
    {
        Some(RejectError::Upcast {
            job,
            from,
            to,
            message,
        }) => {
            assert_eq!(job, "user.confirmation");
            assert_eq!(*from, Version::new(1, 4, 0));
            assert_eq!(*to, Version::new(2, 1, 0));
            assert_eq!(message, "user id 0 does not exist");
        }
        other => panic!("unexpected {other:?}"),
    }
    let overflow = format!(
        r#"{{"job":"test.count","version":"3.0.0","args":{{"n":{}}}}}"#,
        u64::MAX
    );
    let router = Router::builder().job::<Count>().build().expect("builds");
    let error = router
        .dispatch_blocking(overflow.as_bytes(), &mut jobwire::Delivery::new())
        .rejection()
        .cloned()
        .expect("rejected");
    assert_eq!(
        error.to_string(),
        "job `test.count`: upcasting from 3.0.1 to 4.0.0 failed: the count overflows"
    );
}

#[test]
fn a_failing_json_upcaster_names_the_job_and_both_versions() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"0.2.0","args":{"text":"no uid"}}"#;
    match router
        .dispatch_blocking(payload, &mut jobwire::Delivery::new())
        .rejection()
    {
        Some(RejectError::Upcast {
            from, to, message, ..
        }) => {
            assert_eq!(
                (from.to_string(), to.to_string()),
                ("0.2.0".into(), "1.4.0".into())
            );
            assert_eq!(message, "0.2 arguments have no `uid`");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn json_upcaster_output_that_does_not_fit_the_next_type_is_rejected() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"0.2.0","args":{"uid":"x"}}"#;
    assert!(matches!(
        router
            .dispatch_blocking(payload, &mut jobwire::Delivery::new())
            .rejection(),
        Some(RejectError::Arguments { .. })
    ));
}

#[test]
fn an_older_line_with_no_upcaster_is_rejected_not_deferred() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"0.1.0","args":{}}"#;
    let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
    assert_eq!(outcome.action(), jobwire::Action::DeadLetter);
    match outcome.rejection() {
        Some(RejectError::NoUpcaster { reads, version, .. }) => {
            assert_eq!(reads, "2.x, 1.x, 0.2.x");
            assert_eq!(*version, Version::new(0, 1, 0));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn old_arguments_that_do_not_fit_the_old_type_name_the_wire_version() {
    let router = router();
    let payload =
        br#"{"job":"user.confirmation","version":"1.1.0","args":{"id":"x","message":"m"}}"#;
    match router
        .dispatch_blocking(payload, &mut jobwire::Delivery::new())
        .rejection()
    {
        Some(RejectError::Arguments { version, .. }) => assert_eq!(*version, Version::new(1, 1, 0)),
        other => panic!("unexpected {other:?}"),
    }
}
