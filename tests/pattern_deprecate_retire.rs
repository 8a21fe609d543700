//! "Deprecate, then retire, a job": the deprecated job still drains with a
//! warning; the retired one is discarded on purpose and its name reserved.

#[path = "../examples/releases/mod.rs"]
mod releases;
mod support;

use jobwire::{Action, Outcome, Router, Tombstone};
use releases::{router_n, router_n1, Books};
use std::sync::atomic::Ordering;
use support::capture::Capture;

static FAX: &[u8] = br#"{"job":"user.welcome_fax","version":"1.0.0","args":{"user_id":7}}"#;

#[test]
fn a_deprecated_job_is_still_performed_with_a_warning() {
    let n = router_n(Books::default()).expect("N builds");
    let capture = Capture::default();
    let outcome = capture.run(|| n.dispatch_blocking(FAX, &mut jobwire::Delivery::new()));
    assert!(outcome.is_performed(), "{outcome:?}");
    assert_eq!(
        n.state::<Books>().map(|b| b.faxes.load(Ordering::SeqCst)),
        Some(1)
    );
    let warnings: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.level == "WARN")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].fields.get("job.name").map(String::as_str),
        Some("user.welcome_fax")
    );
    assert!(warnings[0]
        .fields
        .get("message")
        .is_some_and(|m| m.contains("deprecated")));
}

#[test]
fn a_retired_job_is_discarded_on_purpose_and_logged() {
    let n1 = router_n1(Books::default()).expect("N+1 builds");
    let capture = Capture::default();
    let outcome = capture.run(|| n1.dispatch_blocking(FAX, &mut jobwire::Delivery::new()));
    assert_eq!(outcome.action(), Action::Ack, "neither failed nor deferred");
    assert!(std::ptr::eq(outcome.payload().expect("handed back"), FAX));
    assert!(matches!(outcome, Outcome::Discarded(ref d) if d.job == "user.welcome_fax"));
    let infos: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.level == "INFO")
        .collect();
    assert_eq!(infos.len(), 1, "{infos:?}");
    assert!(infos[0]
        .fields
        .get("message")
        .is_some_and(|m| m.contains("retired")));
}

#[test]
fn retired_aliases_are_discarded_too_whatever_the_version() {
    let router = Router::builder()
        .retired(Tombstone::new("sms.send").with_aliases(&["text.send"]))
        .build()
        .expect("builds");
    for payload in [
        &br#"{"job":"text.send","version":"0.1.0","args":{}}"#[..],
        br#"{"job":"sms.send","version":"7.0.0","args":{"x":1}}"#,
    ] {
        assert!(
            matches!(router.dispatch_blocking(payload, &mut jobwire::Delivery::new()), Outcome::Discarded(d) if d.job == "sms.send")
        );
    }
}

#[test]
fn a_retired_name_cannot_be_registered_again() {
    let error = Router::builder()
        .job::<releases::release_n::WelcomeFaxReborn>()
        .retired(releases::FAX_TOMBSTONE)
        .build()
        .expect_err("reserved");
    assert!(
        error
            .to_string()
            .contains("`user.welcome_fax` is retired and reserved"),
        "{error}"
    );
}
