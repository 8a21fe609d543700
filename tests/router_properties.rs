//! Router-level properties: any bytes give exactly one outcome and never a
//! panic, with the original bytes handed back; and a valid envelope gives the
//! same outcome whatever its key order.

mod support;

use jobwire::testing::strategy::json;
use jobwire::Outcome;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/router_properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// A summary of an outcome that does not depend on where in the payload
/// things stood.
fn summary(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Performed(p) => format!("performed {} {} {:?}", p.job, p.wire_version, p.relation),
        Outcome::Deferred(d) => format!("deferred {:?}", d.reason),
        Outcome::Discarded(d) => format!("discarded {}", d.job),
        Outcome::Rejected(r) => format!("rejected {:?}", std::mem::discriminant(&r.error)),
        Outcome::Failed(f) => format!("failed {} {}", f.job, f.error),
        other => other.label().to_owned(),
    }
}

fn check_handed_back(outcome: &Outcome<'_>, payload: &[u8]) -> Result<(), TestCaseError> {
    match (outcome, outcome.payload()) {
        (Outcome::Performed(_), None) => Ok(()),
        (_, Some(back)) if std::ptr::eq(back, payload) => Ok(()),
        _ => Err(TestCaseError::fail(format!(
            "payload not handed back: {outcome:?}"
        ))),
    }
}

/// Bytes that are often almost an envelope: a valid one with a few bytes
/// overwritten, cut short, or spliced.
fn near_envelopes() -> impl Strategy<Value = Vec<u8>> {
    let valid = br#"{"job":"user.confirmation","version":"2.1.0","args":{"user_id":7,"message":"hi"},"meta":{"attempt":1,"headers":{"a":"b"}}}"#.to_vec();
    (
        Just(valid),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut bytes, edits, cut)| {
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let keep = cut.index(bytes.len() + 1).max(bytes.len() / 2);
            bytes.truncate(keep);
            bytes
        })
}

fn field(key: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    value.prop_map(move |v| format!("\"{key}\":{v}"))
}

/// A well-formed envelope, as a list of `"key":value` fields.
fn envelope_fields() -> impl Strategy<Value = Vec<String>> {
    let name = prop_oneof![
        Just("user.confirmation"),
        Just("test.flaky"),
        Just("unknown.job"),
        Just("")
    ]
    .prop_map(|n| format!("\"{n}\""));
    let version = prop_oneof![
        Just("2.1.0"),
        Just("2.0.1"),
        Just("2.9.0"),
        Just("1.0.0"),
        Just("0.2.3"),
        Just("0.1.0"),
        Just("3.0.0"),
        Just("2.1.0-rc.1"),
        Just("two")
    ]
    .prop_map(|v| format!("\"{v}\""));
    let args = prop_oneof![
        Just(r#"{"user_id":7,"message":"hi"}"#.to_owned()),
        Just(r#"{"id":3,"message":"old"}"#.to_owned()),
        Just(r#"{"uid":4,"text":"older"}"#.to_owned()),
        Just(r#"{"mode":"retry"}"#.to_owned()),
        Just(r#"{"mode":"fine"}"#.to_owned()),
        json(2).prop_filter_map("an object", |v| v.is_object().then(|| v.to_string())),
    ];
    let meta = prop_oneof![
        Just(None),
        Just(Some(
            r#"{"id":"j","attempt":2,"headers":{"traceparent":"t"}}"#.to_owned()
        )),
        Just(Some(r#"{"enqueued_at":1,"future":[1,2]}"#.to_owned())),
    ];
    let extra = proptest::option::of(json(2).prop_map(|v| v.to_string()));
    (
        field("job", name),
        field("version", version),
        field("args", args),
        meta,
        extra,
    )
        .prop_map(|(job, version, args, meta, extra)| {
            let mut fields = vec![job, version, args];
            fields.extend(meta.map(|m| format!("\"meta\":{m}")));
            fields.extend(extra.map(|e| format!("\"x_unknown\":{e}")));
            fields
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_give_one_outcome_and_hand_the_bytes_back(bytes in any::<Vec<u8>>()) {
        let router = support::router();
        let outcome = router.dispatch_blocking(&bytes, &mut jobwire::Delivery::new());
        check_handed_back(&outcome, &bytes)?;
    }

    #[test]
    fn near_envelopes_give_one_outcome_and_hand_the_bytes_back(bytes in near_envelopes()) {
        let router = support::router();
        let outcome = router.dispatch_blocking(&bytes, &mut jobwire::Delivery::new());
        check_handed_back(&outcome, &bytes)?;
    }

    #[test]
    fn key_order_never_changes_the_outcome(
        (fields, shuffled) in envelope_fields().prop_flat_map(|f| (Just(f.clone()), Just(f).prop_shuffle()))
    ) {
        let router = support::router();
        let first = format!("{{{}}}", fields.join(","));
        let second = format!("{{{}}}", shuffled.join(" , "));
        let a = router.dispatch_blocking(first.as_bytes(), &mut jobwire::Delivery::new());
        let b = router.dispatch_blocking(second.as_bytes(), &mut jobwire::Delivery::new());
        check_handed_back(&a, first.as_bytes())?;
        check_handed_back(&b, second.as_bytes())?;
        prop_assert_eq!(summary(&a), summary(&b), "{} vs {}", first, second);
    }
}
