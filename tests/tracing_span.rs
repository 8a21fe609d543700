//! One `jobwire.dispatch` span per dispatch, with structured fields.

mod support;

use support::capture::Capture;
use support::router;

#[test]
fn each_dispatch_has_one_span_with_job_fields() {
    let capture = Capture::default();
    let router = router();
    capture.run(|| {
        let _ = router.dispatch_blocking(
            br#"{"job":"user.confirmation","version":"1.0.0","args":{"id":4,"message":"m"}}"#,
            &mut jobwire::Delivery::new(),
        );
        let _ = router.dispatch_blocking(
            br#"{"job":"user.confirmation","version":"9.0.0","args":{}}"#,
            &mut jobwire::Delivery::new(),
        );
        let _ = router.dispatch_blocking(b"nope", &mut jobwire::Delivery::new());
    });
    let spans = capture.spans();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|s| s.name == "jobwire.dispatch"));
    let fields = |i: usize| spans[i].fields.clone();
    let upcast = fields(0);
    assert_eq!(
        upcast.get("job.name").map(String::as_str),
        Some("user.confirmation")
    );
    assert_eq!(
        upcast.get("job.wire_version").map(String::as_str),
        Some("1.0.0")
    );
    assert_eq!(
        upcast.get("job.handler_version").map(String::as_str),
        Some("2.1.0")
    );
    assert_eq!(upcast.get("job.upcast").map(String::as_str), Some("true"));
    assert_eq!(
        upcast.get("job.outcome").map(String::as_str),
        Some("performed")
    );
    assert_eq!(
        fields(1).get("job.outcome").map(String::as_str),
        Some("deferred")
    );
    assert_eq!(
        fields(1).get("job.wire_version").map(String::as_str),
        Some("9.0.0")
    );
    assert_eq!(
        fields(2).get("job.outcome").map(String::as_str),
        Some("rejected")
    );
    let events = capture.events();
    assert!(events.iter().any(|e| e.level == "WARN"
        && e.fields
            .get("message")
            .is_some_and(|m| m.contains("rejected"))));
}
