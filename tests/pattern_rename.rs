//! "Rename a job by alias", replayed in both directions.

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::{DeferReason, Outcome, Producer, WritePolicy};
use releases::{release_n, release_n1, router_n, router_n1, Books};

#[test]
fn case_1_under_previous_an_n1_producer_writes_the_old_name_which_n_performs() {
    let n = router_n(Books::default()).expect("N builds");
    let payload = Producer::new(WritePolicy::Previous)
        .seal(&release_n1::BuildReport { report_id: 3 })
        .expect("seals");
    assert!(payload.starts_with(br#"{"job":"report.generate""#));
    let Outcome::Performed(done) = n.dispatch_blocking(&payload, &mut jobwire::Delivery::new())
    else {
        panic!("N must perform it")
    };
    assert_eq!(done.job, "report.generate");
}

#[test]
fn case_1_under_current_the_new_name_is_deferred_by_n_never_failed() {
    let n = router_n(Books::default()).expect("N builds");
    let payload = Producer::new(WritePolicy::Current)
        .seal(&release_n1::BuildReport { report_id: 3 })
        .expect("seals");
    let Outcome::Deferred(deferred) = n.dispatch_blocking(&payload, &mut jobwire::Delivery::new())
    else {
        panic!("N must defer it")
    };
    assert_eq!(
        deferred.reason,
        DeferReason::UnknownJob {
            job: "reports.build".into(),
            wire_version: semver::Version::new(1, 0, 0),
        }
    );
}

#[test]
fn case_2_an_old_name_reaches_the_renamed_handler() {
    let n1 = router_n1(Books::default()).expect("N+1 builds");
    let old = Producer::default()
        .seal(&release_n::GenerateReport { report_id: 3 })
        .expect("seals");
    let Outcome::Performed(done) = n1.dispatch_blocking(&old, &mut jobwire::Delivery::new()) else {
        panic!("N+1 must perform it")
    };
    assert_eq!(done.job, "reports.build");
    assert!(done.via_alias);
    let new = br#"{"job":"reports.build","version":"1.0.0","args":{"report_id":3}}"#;
    let Outcome::Performed(done) = n1.dispatch_blocking(new, &mut jobwire::Delivery::new()) else {
        panic!("N+1 must perform it")
    };
    assert!(!done.via_alias);
}
