//! Hostile input: one test per row of the README's input table. Under no
//! input does dispatch panic, hang, or return without handing back the
//! original bytes.

mod support;

use jobwire::wire::Limits;
use jobwire::{Action, Context, HandlerError, Job, NoPrevious, Outcome, RejectError, Router};

/// A job with a free-form JSON field, to nest deeply where it is typed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Tree {
    tree: serde_json::Value,
}

impl Job for Tree {
    const NAME: &'static str = "test.tree";
    const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}
use support::{builder, log, router};

/// Dispatches and checks the promise every row shares: one outcome, and the
/// very bytes handed back when not performed.
fn dispatch(payload: &[u8]) -> Outcome<'_> {
    let router = Box::leak(Box::new(router()));
    let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
    if !outcome.is_performed() {
        let back = outcome.payload().expect("handed back");
        assert!(std::ptr::eq(back, payload), "the original bytes, untouched");
    }
    outcome
}

fn rejection(payload: &[u8]) -> RejectError {
    match dispatch(payload) {
        Outcome::Rejected(rejected) => rejected.error,
        other => panic!(
            "not rejected: {other:?} for {}",
            String::from_utf8_lossy(payload)
        ),
    }
}

fn envelope(job: &str, version: &str, args: &str) -> Vec<u8> {
    format!(r#"{{"job":{job},"version":{version},"args":{args}}}"#).into_bytes()
}

#[test]
fn a_payload_over_the_size_limit_is_rejected_before_parsing() {
    let router = builder()
        .limits(Limits::default().with_max_payload_bytes(64))
        .build()
        .expect("builds");
    let payload = [b'{'; 65];
    match router
        .dispatch_blocking(&payload, &mut jobwire::Delivery::new())
        .rejection()
    {
        Some(RejectError::TooLarge {
            size: 65,
            limit: 64,
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    let default = vec![b' '; Limits::default().max_payload_bytes() + 1];
    assert!(matches!(rejection(&default), RejectError::TooLarge { .. }));
}

#[test]
fn input_that_is_not_utf8_is_rejected_with_the_offset() {
    let mut payload = envelope(
        r#""user.confirmation""#,
        r#""2.1.0""#,
        r#"{"user_id":1,"message":"#,
    );
    payload.extend_from_slice(b"\"caf\xe9\"}}");
    let offset = payload
        .iter()
        .position(|&b| b == 0xe9)
        .expect("the bad byte");
    assert_eq!(rejection(&payload), RejectError::NotUtf8 { offset });
}

#[test]
fn input_that_is_not_json_or_is_cut_short_is_rejected_with_a_position() {
    for payload in [
        &b"nope"[..],
        b"{\"job\":",
        b"{\"job\":\"a\"",
        b"\x00",
        b"{\"job\" \"a\"}",
        b"{'job':1}",
    ] {
        assert!(
            matches!(rejection(payload), RejectError::Malformed { line: 1, .. }),
            "{payload:?}"
        );
    }
}

#[test]
fn a_top_level_value_that_is_not_an_object_is_rejected() {
    for payload in [&b"[]"[..], b"\"job\"", b"42", b"null", b"true"] {
        let error = rejection(payload);
        assert!(
            error
                .to_string()
                .contains("expected the envelope to be a JSON object"),
            "{error}"
        );
    }
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    // Where a typed field is nested too deep, serde_json's limit (127
    // containers) rejects it, in either key order.
    let router = Router::builder().job::<Tree>().build().expect("builds");
    let typed = format!(r#"{{"tree":{}}}"#, deep(100_000));
    let cases = [
        envelope(r#""test.tree""#, r#""1.0.0""#, &typed),
        format!(r#"{{"args":{typed},"job":"test.tree","version":"1.0.0"}}"#).into_bytes(),
    ];
    for payload in &cases {
        let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
        let error = outcome.rejection().expect("rejected");
        assert!(
            error.to_string().contains("recursion limit exceeded"),
            "{error}"
        );
    }
    // The limit counts every open container from `args` itself: `args` and
    // 126 arrays inside `tree` are 127 levels, and read; one more is refused.
    for (arrays, performed) in [(100, true), (126, true), (127, false)] {
        let payload = envelope(
            r#""test.tree""#,
            r#""1.0.0""#,
            &format!(r#"{{"tree":{}}}"#, deep(arrays)),
        );
        let outcome = router.dispatch_blocking(&payload, &mut jobwire::Delivery::new());
        assert_eq!(
            outcome.is_performed(),
            performed,
            "{arrays} arrays: {outcome:?}"
        );
    }
    // An unknown field is skipped without building it, iteratively: any depth
    // is fine, and the outcome does not depend on where the header stands.
    let unknown = format!(r#"{{"user_id":1,"message":"m","x":{}}}"#, deep(100_000));
    let cases = [
        envelope(r#""user.confirmation""#, r#""2.1.0""#, &unknown),
        format!(r#"{{"args":{unknown},"job":"user.confirmation","version":"2.1.0"}}"#).into_bytes(),
        format!(r#"{{"x":{},"job":"user.confirmation","version":"2.1.0","args":{{"user_id":1,"message":"m"}}}}"#, deep(100_000)).into_bytes(),
        format!(r#"{{"job":"user.confirmation","version":"2.1.0","args":{{"user_id":1,"message":"m"}},"meta":{{"x":{}}}}}"#, deep(100_000)).into_bytes(),
    ];
    for payload in &cases {
        assert!(dispatch(payload).is_performed());
    }
    // Unbalanced deep nesting is malformed, not a crash.
    let unbalanced = format!(
        r#"{{"x":{},"job":"user.confirmation"}}"#,
        "[".repeat(100_000)
    );
    assert!(matches!(
        rejection(unbalanced.as_bytes()),
        RejectError::Malformed { .. }
    ));
}

#[test]
fn huge_numbers_are_rejected_as_arguments_that_do_not_fit() {
    for number in [
        "18446744073709551616",
        "-1",
        "1e400",
        "1.5",
        "99999999999999999999999999999",
    ] {
        let payload = envelope(
            r#""user.confirmation""#,
            r#""2.1.0""#,
            &format!(r#"{{"user_id":{number},"message":"m"}}"#),
        );
        assert!(
            matches!(rejection(&payload), RejectError::Arguments { .. }),
            "{number}"
        );
    }
    // A huge number in an unknown field is skipped, as JSON allows.
    let payload = envelope(
        r#""user.confirmation""#,
        r#""2.1.0""#,
        r#"{"user_id":1,"message":"m","big":1e400}"#,
    );
    assert!(dispatch(&payload).is_performed());
}

#[test]
fn a_very_long_name_is_rejected() {
    let long = format!("\"{}\"", "a".repeat(10_000));
    let error = rejection(&envelope(&long, r#""1.0.0""#, "{}"));
    match &error {
        RejectError::InvalidName { name, .. } => {
            assert_eq!(name.len(), 64, "the message quotes 64 characters at most")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_name_no_release_could_register_is_rejected_not_deferred() {
    for name in [
        r#""has space""#,
        r#""emoji.🚀""#,
        r#""tab\tname""#,
        r#""semi;colon""#,
    ] {
        let error = rejection(&envelope(name, r#""1.0.0""#, "{}"));
        assert!(
            matches!(error, RejectError::InvalidName { .. }),
            "{name}: {error:?}"
        );
    }
    // A well-formed unknown name may be a job from a newer release.
    let payload = envelope(r#""billing.refund_v2""#, r#""1.0.0""#, "{}");
    assert_eq!(dispatch(&payload).action(), Action::Defer);
}

#[test]
fn very_long_or_odd_versions_are_rejected() {
    let long = format!("\"1.0.{}\"", "9".repeat(100));
    let odd = [
        long.as_str(),
        r#""1.2""#,
        r#""v1.2.3""#,
        r#""1.2.3.4""#,
        r#""01.2.3""#,
        r#""1.2.3-""#,
        r#""""#,
        r#""18446744073709551616.0.0""#,
        r#""١.٢.٣""#,
    ];
    for version in odd {
        let error = rejection(&envelope(r#""user.confirmation""#, version, "{}"));
        assert!(
            matches!(error, RejectError::InvalidVersion { .. }),
            "{version}: {error:?}"
        );
    }
    for version in ["1", "null", "[1,2,3]", "{}"] {
        let error = rejection(&envelope(r#""user.confirmation""#, version, "{}"));
        assert!(
            matches!(error, RejectError::Malformed { .. }),
            "{version}: {error:?}"
        );
    }
}

#[test]
fn a_key_that_appears_twice_is_rejected() {
    let cases: [(&[u8], &str); 4] = [
        (br#"{"job":"user.confirmation","job":"test.flaky","version":"1.0.0","args":{}}"#, "job"),
        (br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"ok"},"args":{"mode":"panic"}}"#, "args"),
        (br#"{"job":"test.flaky","version":"1.0.0","version":"9.0.0","args":{}}"#, "version"),
        (br#"{"job":"test.flaky","version":"1.0.0","args":{"mode":"ok"},"meta":{"id":"a","id":"b"}}"#, "meta.id"),
    ];
    for (payload, key) in cases {
        match rejection(payload) {
            RejectError::DuplicateKey { key: found, .. } => assert_eq!(found, key),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn trailing_bytes_after_the_envelope_are_rejected() {
    let mut payload = envelope(r#""test.flaky""#, r#""1.0.0""#, r#"{"mode":"ok"}"#);
    payload.extend_from_slice(b" {}");
    assert!(matches!(rejection(&payload), RejectError::Malformed { .. }));
}

#[test]
fn a_panicking_handler_fails_and_the_worker_goes_on() {
    let router = router();
    let panic = envelope(r#""test.flaky""#, r#""1.0.0""#, r#"{"mode":"panic"}"#);
    let outcome = router.dispatch_blocking(&panic, &mut jobwire::Delivery::new());
    assert!(matches!(&outcome, Outcome::Failed(f) if f.panicked));
    assert_eq!(outcome.action(), Action::DeadLetter);
    assert!(router
        .dispatch_blocking(
            &envelope(r#""test.flaky""#, r#""1.0.0""#, r#"{"mode":"ok"}"#),
            &mut jobwire::Delivery::new()
        )
        .is_performed());
    assert_eq!(log(&router), ["flaky ok"]);
}

#[test]
fn a_failing_upcaster_names_the_job_and_both_versions() {
    let error = rejection(&envelope(
        r#""user.confirmation""#,
        r#""1.0.0""#,
        r#"{"id":0,"message":"m"}"#,
    ));
    assert_eq!(
        error.to_string(),
        "job `user.confirmation`: upcasting from 1.4.0 to 2.1.0 failed: user id 0 does not exist"
    );
}

/// The same arguments as a typed line (2.1.0) and as the JSON-level line
/// (0.2.0, whose type is deleted), which names the fields `uid` and `text`.
fn on_both_lines(extra: &str) -> [Vec<u8>; 2] {
    [
        envelope(
            r#""user.confirmation""#,
            r#""2.1.0""#,
            &format!(r#"{{"user_id":1,"message":"m",{extra}}}"#),
        ),
        envelope(
            r#""user.confirmation""#,
            r#""0.2.0""#,
            &format!(r#"{{"uid":1,"text":"m",{extra}}}"#),
        ),
    ]
}

#[test]
fn unknown_fields_on_a_json_level_line_follow_the_typed_lines_rules() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    for extra in [
        format!(r#""x":{deep}"#),
        r#""x":1e400"#.to_owned(),
        r#""x":"\ud800""#.to_owned(),
        r#""x":{"a":1,"a":2}"#.to_owned(),
    ] {
        for payload in on_both_lines(&extra) {
            let outcome = dispatch(&payload);
            assert!(
                outcome.is_performed(),
                "{extra:.40}: {:?}",
                outcome.rejection()
            );
        }
    }
    // serde_json refuses a lone surrogate as a field name, typed line or not.
    for payload in on_both_lines(r#""\ud800x":1"#) {
        assert!(
            matches!(rejection(&payload), RejectError::Arguments { .. }),
            "{}",
            String::from_utf8_lossy(&payload)
        );
    }
}

#[test]
fn a_repeated_key_inside_args_is_rejected_on_every_line_whichever_copy_comes_first() {
    for (version, field) in [("2.1.0", "user_id"), ("0.2.0", "uid")] {
        for (first, second) in [(0, 5), (5, 0)] {
            let args =
                format!(r#"{{"{field}":{first},"{field}":{second},"message":"m","text":"m"}}"#);
            let payload = envelope(r#""user.confirmation""#, &format!("\"{version}\""), &args);
            match rejection(&payload) {
                RejectError::Arguments { message, .. } => {
                    assert!(message.contains("duplicate field"), "{version}: {message}")
                }
                other => panic!("{version} {first},{second}: {other:?}"),
            }
        }
    }
}

fn variant(error: &RejectError) -> &'static str {
    match error {
        RejectError::Malformed { .. } => "Malformed",
        RejectError::Arguments { .. } => "Arguments",
        RejectError::MissingField { .. } => "MissingField",
        RejectError::DuplicateKey { .. } => "DuplicateKey",
        _ => "other",
    }
}

#[test]
fn a_payload_cut_at_any_byte_is_malformed_whatever_the_key_order() {
    let args = r#"{"user_id":1207,"message":"hello, \"world\"","date":"2026-12-24","x":[1.5e3,null,{"y":true}]}"#;
    let meta = r#"{"id":"j-1","attempt":2}"#;
    let header_first =
        format!(r#"{{"job":"user.confirmation","version":"2.1.0","args":{args},"meta":{meta}}}"#);
    let args_first =
        format!(r#"{{"args":{args},"meta":{meta},"version":"2.1.0","job":"user.confirmation"}}"#);
    let json_level = r#"{"job":"user.confirmation","version":"0.2.0","args":{"uid":7,"text":"t","x":[1,{"z":"\u00e9"}]}}"#.to_owned();
    for whole in [&header_first, &args_first, &json_level] {
        assert!(dispatch(whole.as_bytes()).is_performed(), "{whole}");
        for cut in 1..whole.len() {
            let payload = &whole.as_bytes()[..cut];
            let outcome = dispatch(payload);
            match outcome.rejection() {
                Some(error) => assert_eq!(
                    variant(error),
                    "Malformed",
                    "cut at {cut}: {error} in {}",
                    String::from_utf8_lossy(payload)
                ),
                None => panic!("cut at {cut}: {outcome:?}"),
            }
        }
    }
}

#[test]
fn no_position_is_column_zero() {
    // Errors right after a raw newline, in every part of the envelope.
    let payloads = [
        "{\"job\":\"user.confirmation\",\n",
        "{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":\n",
        "{\"args\":{\"user_id\":1,\n}",
        "{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":1,\"message\":\n x}}",
        "{\n\n",
        "{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":\n\"one\",\"message\":\"m\"}}",
    ];
    for payload in payloads {
        match rejection(payload.as_bytes()) {
            RejectError::Malformed { line, column, .. }
            | RejectError::Arguments { line, column, .. } => {
                assert!(
                    line >= 1 && column >= 1,
                    "{payload:?}: line {line} column {column}"
                )
            }
            other => panic!("{payload:?}: {other:?}"),
        }
    }
}

#[test]
fn messages_that_quote_the_payload_are_bounded() {
    let huge = "x".repeat(1 << 20);
    for (version, args) in [
        ("2.1.0", format!(r#"{{"user_id":"{huge}","message":"m"}}"#)),
        (
            "2.1.0",
            format!(r#"{{"user_id":1,"message":{{"{huge}":1}}}}"#),
        ),
        (
            "0.2.0",
            format!(r#"{{"uid":1,"text":"m","{huge}":1,"{huge}":2}}"#),
        ),
    ] {
        let payload = envelope(r#""user.confirmation""#, &format!("\"{version}\""), &args);
        let router = builder()
            .limits(Limits::default().with_max_payload_bytes(4 << 20))
            .build()
            .expect("builds");
        let outcome = router.dispatch_blocking(&payload, &mut jobwire::Delivery::new());
        let error = outcome.rejection().expect("rejected");
        let shown = error.to_string();
        assert!(shown.len() < 1024, "{version}: {} bytes", shown.len());
        if let RejectError::Arguments { message, .. } = error {
            assert!(message.len() <= jobwire::wire::MAX_MESSAGE_BYTES);
        }
    }
}

#[test]
fn a_retired_name_with_an_invalid_version_is_rejected_whatever_its_length() {
    let router = Router::builder()
        .retired(jobwire::Tombstone::new("old.job"))
        .build()
        .expect("builds");
    for version in ["1.0", "v1.0.0", &"9".repeat(200), ""] {
        let payload = envelope(r#""old.job""#, &format!("\"{version}\""), "{}");
        let outcome = router.dispatch_blocking(&payload, &mut jobwire::Delivery::new());
        assert!(
            matches!(
                outcome.rejection(),
                Some(RejectError::InvalidVersion { .. })
            ),
            "{version:.20}: {outcome:?}"
        );
    }
    let valid = envelope(r#""old.job""#, r#""1.0.0""#, "{}");
    assert!(matches!(
        router.dispatch_blocking(&valid, &mut jobwire::Delivery::new()),
        Outcome::Discarded(_)
    ));
}

/// A JSON object of `keys` extra keys, after `head` (the line's own fields).
fn wide(head: &str, keys: usize) -> String {
    let extra: Vec<String> = (0..keys).map(|i| format!("\"k{i}\":{i}")).collect();
    format!("{{{head},{}}}", extra.join(","))
}

/// 60,000 keys, on every decoding path: the current typed line, a typed
/// older line (upcast), a JSON-level line (`Json<_>`, which checks every key
/// for a repeat), and `meta`. Each is decoded correctly, and a repeat among
/// them is still found. Their cost is linear in the payload: `cargo bench
/// --bench dispatch -- wide` and `bash benches/callgrind.sh 200 10 wide`
/// report it against a `serde_json::Value` parse of the same bytes (the
/// README's hostile-input table gives the figures); a timed test would only
/// measure this machine's load.
#[test]
fn a_wide_object_is_decoded_on_every_path() {
    const KEYS: usize = 60_000;
    let router = router();
    let current = envelope(
        r#""user.confirmation""#,
        r#""2.1.0""#,
        &wide(r#""user_id":1,"message":"current""#, KEYS),
    );
    let typed_older = envelope(
        r#""user.confirmation""#,
        r#""1.4.0""#,
        &wide(r#""id":2,"message":"typed older""#, KEYS),
    );
    let json_line = envelope(
        r#""user.confirmation""#,
        r#""0.2.0""#,
        &wide(r#""uid":3,"text":"json line""#, KEYS),
    );
    let meta = format!(
        r#"{{"job":"user.confirmation","version":"2.1.0","args":{{"user_id":4,"message":"meta"}},"meta":{}}}"#,
        wide(r#""id":"m""#, KEYS)
    )
    .into_bytes();
    for payload in [&current, &typed_older, &json_line, &meta] {
        let outcome = support::dispatch(&router, payload);
        assert!(outcome.is_performed(), "{outcome:?}");
    }
    assert_eq!(
        log(&router),
        [
            r#"confirmation 1 "current" Missing"#,
            r#"confirmation 2 "typed older" Missing"#,
            r#"confirmation 3 "json line" Missing"#,
            r#"confirmation 4 "meta" Missing"#,
        ]
    );
    // The last key repeats the first: found, on the JSON-level line too.
    let repeated = envelope(
        r#""user.confirmation""#,
        r#""0.2.0""#,
        &format!(
            "{},\"k0\":1}}",
            wide(r#""uid":3,"text":"t""#, KEYS).trim_end_matches('}')
        ),
    );
    let error = rejection(&repeated);
    assert!(
        error.to_string().contains("duplicate field `k0`"),
        "{error}"
    );
}
