//! "Add an optional parameter": `Added<T>`, replayed in both directions.

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::wire::Relation;
use jobwire::{Added, Producer, WritePolicy};
use releases::{release_n, release_n1, router_n, router_n1, Books};
use serde::Deserialize;
use std::sync::atomic::Ordering;

fn count(router: &jobwire::Router, field: fn(&Books) -> u64) -> u64 {
    router.state::<Books>().map(field).unwrap_or(u64::MAX)
}

#[test]
fn case_1_an_n1_payload_with_the_parameter_reaches_an_n_worker() {
    let n = router_n(Books::default()).expect("N builds");
    for policy in [WritePolicy::Previous, WritePolicy::Current] {
        let payload = Producer::new(policy)
            .seal(&release_n1::UserConfirmation {
                id: 1,
                message: "hi".into(),
                date: Added::Present("2017-12-24".into()),
            })
            .expect("seals");
        let jobwire::Outcome::Performed(done) =
            n.dispatch_blocking(&payload, &mut jobwire::Delivery::new())
        else {
            panic!("N must perform it")
        };
        assert_eq!(done.relation, Relation::NewerCompatible);
    }
    assert_eq!(count(&n, |b| b.confirmations.load(Ordering::SeqCst)), 2);
}

#[test]
fn case_2_an_n_payload_without_the_parameter_reaches_an_n1_worker() {
    let n1 = router_n1(Books::default()).expect("N+1 builds");
    let old = Producer::default()
        .seal(&release_n::UserConfirmation {
            id: 1,
            message: "hi".into(),
        })
        .expect("seals");
    let jobwire::Outcome::Performed(done) =
        n1.dispatch_blocking(&old, &mut jobwire::Delivery::new())
    else {
        panic!("N+1 must perform it")
    };
    assert_eq!(done.relation, Relation::OlderCompatible);
    assert_eq!(count(&n1, |b| b.confirmations.load(Ordering::SeqCst)), 1);
    assert_eq!(
        count(&n1, |b| b.dated_confirmations.load(Ordering::SeqCst)),
        0,
        "the handler sees `Missing`"
    );
}

#[test]
fn added_works_with_a_plain_derive() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Args {
        id: u64,
        date: Added<String>,
        count: Added<u32>,
    }
    let read = |json: &str| serde_json::from_str::<Args>(json).expect("reads");
    assert_eq!(
        read(r#"{"id":1}"#),
        Args {
            id: 1,
            date: Added::Missing,
            count: Added::Missing
        }
    );
    assert_eq!(read(r#"{"id":1,"date":null}"#).date, Added::Missing);
    assert_eq!(
        read(r#"{"id":1,"date":"d","count":3}"#).count,
        Added::Present(3)
    );
    assert!(
        serde_json::from_str::<Args>(r#"{"id":1,"count":"three"}"#).is_err(),
        "a present value must still fit"
    );
    assert_eq!(
        serde_json::to_string(&Added::Present(5)).ok().as_deref(),
        Some("5")
    );
    assert_eq!(
        serde_json::to_string(&Added::<u8>::Missing).ok().as_deref(),
        Some("null")
    );
}
