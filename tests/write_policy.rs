//! "Write what the fleet can read": the write policy.

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::{DeferReason, Outcome, Producer, SealError, WritePolicy};
use releases::{release_n1, router_n, router_n1, Books};
use semver::Version;
use std::sync::atomic::Ordering;

fn charge(currency: &str) -> release_n1::Charge {
    release_n1::Charge {
        account: "acct-1".into(),
        amount: release_n1::Money {
            minor_units: 1234,
            currency: currency.into(),
        },
    }
}

fn cents(router: &jobwire::Router) -> u64 {
    router
        .state::<Books>()
        .map_or(0, |b| b.charged_cents.load(Ordering::SeqCst))
}

#[test]
fn previous_writes_a_breaking_change_at_the_previous_line_which_n_performs() {
    let payload = Producer::new(WritePolicy::Previous)
        .without_stamps()
        .seal(&charge("USD"))
        .expect("seals");
    assert_eq!(
        String::from_utf8_lossy(&payload),
        r#"{"job":"billing.charge","version":"1.2.0","args":{"account":"acct-1","cents":1234}}"#
    );
    let n = router_n(Books::default()).expect("N builds");
    assert!(n
        .dispatch_blocking(&payload, &mut jobwire::Delivery::new())
        .is_performed());
    assert_eq!(cents(&n), 1234);
    let n1 = router_n1(Books::default()).expect("N+1 builds");
    let Outcome::Performed(done) = n1.dispatch_blocking(&payload, &mut jobwire::Delivery::new())
    else {
        panic!("N+1 must perform it")
    };
    assert!(done.upcast());
    assert_eq!(cents(&n1), 1234);
}

#[test]
fn current_writes_the_new_line_which_n_defers_and_n1_performs() {
    let payload = Producer::new(WritePolicy::Current)
        .seal(&charge("USD"))
        .expect("seals");
    assert!(payload.starts_with(br#"{"job":"billing.charge","version":"2.0.0""#));
    let n = router_n(Books::default()).expect("N builds");
    let Outcome::Deferred(deferred) = n.dispatch_blocking(&payload, &mut jobwire::Delivery::new())
    else {
        panic!("N must defer it")
    };
    assert!(matches!(deferred.reason, DeferReason::NewerRelease { .. }));
    let n1 = router_n1(Books::default()).expect("N+1 builds");
    assert!(n1
        .dispatch_blocking(&payload, &mut jobwire::Delivery::new())
        .is_performed());
}

#[test]
fn a_failed_downcast_is_a_seal_error_naming_both_versions() {
    let error = Producer::new(WritePolicy::Previous)
        .seal(&charge("EUR"))
        .expect_err("EUR has no 1.x form");
    match error {
        SealError::Downcast {
            job,
            from,
            to,
            error,
        } => {
            assert_eq!(job, "billing.charge");
            assert_eq!((from, to), (Version::new(2, 0, 0), Version::new(1, 2, 0)));
            assert_eq!(error.to_string(), "1.x charges are in USD only");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(Producer::new(WritePolicy::Current)
        .seal(&charge("EUR"))
        .is_ok());
}

#[test]
fn the_policy_is_one_setting() {
    assert_eq!(
        WritePolicy::parse("previous").ok(),
        Some(WritePolicy::Previous)
    );
    assert_eq!(
        WritePolicy::parse(" CURRENT\n").ok(),
        Some(WritePolicy::Current)
    );
    let error = WritePolicy::parse("latest").expect_err("unknown");
    assert!(
        error.to_string().contains(r#""previous" or "current""#),
        "{error}"
    );
    // The environment variable is read by this one test only.
    std::env::remove_var(WritePolicy::ENV);
    assert_eq!(
        WritePolicy::from_env().ok(),
        Some(WritePolicy::Previous),
        "unset means the safe default"
    );
    std::env::set_var(WritePolicy::ENV, "current");
    assert_eq!(
        Producer::from_env().map(|p| p.policy()).ok(),
        Some(WritePolicy::Current)
    );
    std::env::set_var(WritePolicy::ENV, "curent");
    assert!(
        WritePolicy::from_env().is_err(),
        "a typo is an error, not a silent choice"
    );
    std::env::remove_var(WritePolicy::ENV);
}
