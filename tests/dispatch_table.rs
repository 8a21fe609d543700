//! One test per row of the README's dispatch table.

mod support;

use jobwire::wire::Relation;
use jobwire::{Action, DeferReason, Outcome, RejectError};
use semver::Version;
use support::{log, router};

/// Asserts that a non-performed outcome hands back the very bytes given.
fn assert_handed_back(outcome: &Outcome<'_>, payload: &[u8]) {
    let back = outcome
        .payload()
        .expect("a non-performed outcome hands back the payload");
    assert!(
        std::ptr::eq(back, payload),
        "the payload must come back untouched, not copied"
    );
}

/// Where serde_json itself puts the error when it parses the whole payload as
/// a statically typed envelope: jobwire's positions must agree.
fn whole_document_position(payload: &[u8]) -> (usize, usize) {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Envelope {
        job: String,
        version: String,
        args: support::Confirmation,
    }
    let error = serde_json::from_slice::<Envelope>(payload).expect_err("the payload is bad");
    (error.line(), error.column())
}

#[test]
fn same_version_is_performed() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"2.1.0","args":{"user_id":7,"message":"hi","date":"2026-12-24"}}"#;
    let Outcome::Performed(done) = router.dispatch_blocking(payload, &mut jobwire::Delivery::new())
    else {
        panic!("not performed")
    };
    assert_eq!(done.relation, Relation::Same);
    assert_eq!(done.job, "user.confirmation");
    assert_eq!(done.wire_version, Version::new(2, 1, 0));
    assert!(!done.upcast());
    assert_eq!(
        log(&router),
        [r#"confirmation 7 "hi" Present("2026-12-24")"#]
    );
}

#[test]
fn older_minor_decodes_into_current_type_with_defaults() {
    let router = router();
    let payload =
        br#"{"job":"user.confirmation","version":"2.0.3","args":{"user_id":7,"message":"hi"}}"#;
    let Outcome::Performed(done) = router.dispatch_blocking(payload, &mut jobwire::Delivery::new())
    else {
        panic!("not performed")
    };
    assert_eq!(done.relation, Relation::OlderCompatible);
    assert_eq!(done.handler_version, Version::new(2, 1, 0));
    assert_eq!(log(&router), [r#"confirmation 7 "hi" Missing"#]);
}

#[test]
fn newer_minor_is_read_forward_compatibly() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"2.7.0","args":{"user_id":7,"message":"hi","channel":"sms","nested":{"a":[1,2]}}}"#;
    let Outcome::Performed(done) = router.dispatch_blocking(payload, &mut jobwire::Delivery::new())
    else {
        panic!("not performed")
    };
    assert_eq!(done.relation, Relation::NewerCompatible);
    assert_eq!(log(&router), [r#"confirmation 7 "hi" Missing"#]);
}

#[test]
fn older_major_goes_through_the_upcast_chain() {
    let router = router();
    let typed = br#"{"job":"user.confirmation","version":"1.2.0","args":{"id":9,"message":"old"}}"#;
    let Outcome::Performed(done) = router.dispatch_blocking(typed, &mut jobwire::Delivery::new())
    else {
        panic!("not performed")
    };
    assert_eq!(done.relation, Relation::OlderLine);
    assert!(done.upcast());
    // Two steps: a JSON-level upcaster, then a typed one.
    let json = br#"{"job":"user.confirmation","version":"0.2.5","args":{"uid":3,"text":"older"}}"#;
    let Outcome::Performed(done) = router.dispatch_blocking(json, &mut jobwire::Delivery::new())
    else {
        panic!("not performed")
    };
    assert_eq!(done.wire_version, Version::new(0, 2, 5));
    assert_eq!(
        log(&router),
        [
            r#"confirmation 9 "old" Missing"#,
            r#"confirmation 3 "older" Missing"#
        ]
    );
}

/// Dispatches a payload that must be deferred, with its bytes handed back and
/// no handler run, and returns the reason.
fn deferral(payload: &'static [u8]) -> DeferReason<'static> {
    let router = router();
    let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
    assert_handed_back(&outcome, payload);
    assert_eq!(outcome.action(), Action::Defer);
    assert!(log(&router).is_empty(), "the handler must not run");
    match outcome {
        Outcome::Deferred(deferred) => deferred.reason,
        other => panic!("not deferred: {other:?}"),
    }
}

#[test]
fn newer_major_is_deferred_for_a_newer_release() {
    let payload =
        br#"{"job":"user.confirmation","version":"3.0.0","args":{"who":"unknown shape"}}"#;
    assert_eq!(
        deferral(payload),
        DeferReason::NewerRelease {
            job: "user.confirmation".into(),
            wire_version: Version::new(3, 0, 0),
            handler_version: Version::new(2, 1, 0),
        }
    );
}

#[test]
fn unknown_name_is_deferred_with_its_own_reason() {
    let payload = br#"{"job":"user.export","version":"1.0.0","args":{}}"#;
    assert_eq!(
        deferral(payload),
        DeferReason::UnknownJob {
            job: "user.export".into(),
            wire_version: Version::new(1, 0, 0),
        }
    );
}

#[test]
fn malformed_json_is_rejected_with_its_position() {
    let router = router();
    let payload =
        b"{\"job\":\"user.confirmation\",\n \"version\": \"2.1.0\", \"args\": {\"user_id\": 1,}}";
    let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
    assert_handed_back(&outcome, payload);
    assert_eq!(outcome.action(), Action::DeadLetter);
    // A syntax error inside the arguments is malformed JSON, reported where
    // it stands, as serde_json reports it for the whole document.
    let expected = match outcome.rejection() {
        Some(RejectError::Malformed {
            message,
            line,
            column,
        }) => {
            assert_eq!(message, "trailing comma");
            assert_eq!((*line, *column), (2, 44), "the byte after the comma");
            assert_eq!((*line, *column), whole_document_position(payload));
            (message.clone(), *line, *column)
        }
        other => panic!("unexpected {other:?}"),
    };
    // The same bytes with the arguments first: the same rejection.
    let args_first =
        b"{\"args\": {\"user_id\": 1,},\n \"version\": \"2.1.0\",\"job\":\"user.confirmation\"}";
    match router
        .dispatch_blocking(args_first, &mut jobwire::Delivery::new())
        .rejection()
    {
        Some(RejectError::Malformed {
            message,
            line,
            column,
        }) => {
            assert_eq!(message, &expected.0);
            assert_eq!((*line, *column), whole_document_position(args_first));
        }
        other => panic!("unexpected {other:?}"),
    }
    let outcome = router.dispatch_blocking(b"{\"job\": \"a\", ", &mut jobwire::Delivery::new());
    assert!(
        matches!(outcome.rejection(), Some(RejectError::Malformed { .. })),
        "{outcome:?}"
    );
}

#[test]
fn missing_or_invalid_name_or_version_is_rejected() {
    let router = router();
    type Expect = fn(&RejectError) -> bool;
    let cases: [(&[u8], Expect); 6] = [
        (br#"{"version":"1.0.0","args":{}}"#, |e| {
            matches!(e, RejectError::MissingField { field: "job" })
        }),
        (br#"{"job":"user.confirmation","args":{}}"#, |e| {
            matches!(e, RejectError::MissingField { field: "version" })
        }),
        (br#"{"job":"user.confirmation","version":"2.1.0"}"#, |e| {
            matches!(e, RejectError::MissingField { field: "args" })
        }),
        (br#"{"job":"","version":"1.0.0","args":{}}"#, |e| {
            matches!(e, RejectError::InvalidName { .. })
        }),
        (br#"{"job":7,"version":"1.0.0","args":{}}"#, |e| {
            matches!(e, RejectError::Malformed { .. })
        }),
        (
            br#"{"job":"user.confirmation","version":"v2","args":{}}"#,
            |e| matches!(e, RejectError::InvalidVersion { job, version, .. } if job == "user.confirmation" && version == "v2"),
        ),
    ];
    for (payload, expected) in cases {
        let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
        assert_handed_back(&outcome, payload);
        let error = outcome
            .rejection()
            .unwrap_or_else(|| panic!("not rejected: {outcome:?}"));
        assert!(
            expected(error),
            "unexpected {error:?} for {}",
            String::from_utf8_lossy(payload)
        );
    }
    assert!(log(&router).is_empty());
}

#[test]
fn arguments_that_do_not_fit_name_the_job_version_and_field() {
    let router = router();
    let payload = br#"{"job":"user.confirmation","version":"2.0.0","args":{"user_id":"seven","message":"hi"}}"#;
    let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
    assert_handed_back(&outcome, payload);
    let error = outcome.rejection().expect("rejected");
    let text = error.to_string();
    assert!(text.contains("user.confirmation"), "{text}");
    assert!(text.contains("2.0.0"), "{text}");
    assert!(
        text.contains("invalid type: string \"seven\", expected u64"),
        "{text}"
    );
    assert!(text.contains("line 1 column 70"), "{text}");
    assert_eq!(whole_document_position(payload), (1, 70));
    let missing = br#"{"job":"user.confirmation","version":"2.1.0","args":{"user_id":1}}"#;
    let text = router
        .dispatch_blocking(missing, &mut jobwire::Delivery::new())
        .rejection()
        .expect("rejected")
        .to_string();
    assert!(text.contains("missing field `message`"), "{text}");
}

#[test]
fn handler_error_fails_and_says_whether_to_retry() {
    let router = router();
    let retry = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"retry"}}"#;
    let outcome = router.dispatch_blocking(retry, &mut jobwire::Delivery::new());
    assert_handed_back(&outcome, retry);
    assert_eq!(outcome.action(), Action::Retry);
    let Outcome::Failed(failed) = outcome else {
        panic!("not failed")
    };
    assert!(failed.error.is_retryable());
    assert!(!failed.panicked);
    assert_eq!(failed.error.to_string(), "the database is busy");

    let permanent = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"permanent"}}"#;
    let outcome = router.dispatch_blocking(permanent, &mut jobwire::Delivery::new());
    assert_handed_back(&outcome, permanent);
    assert_eq!(outcome.action(), Action::DeadLetter);

    let io = br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"io"}}"#;
    assert_eq!(
        router
            .dispatch_blocking(io, &mut jobwire::Delivery::new())
            .action(),
        Action::Retry,
        "`?` makes errors retryable"
    );
}
