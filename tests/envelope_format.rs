//! The wire format, as the README specifies it: fields, key order, unknown
//! fields, metadata, and what `Producer` writes.

mod support;

use jobwire::wire::Meta;
use jobwire::{
    Added, Context, HandlerError, Job, NoPrevious, Outcome, Producer, RejectError, Router,
    WritePolicy,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use support::{log, router, Confirmation};

const FIELDS: [&str; 4] = [
    r#""job":"user.confirmation""#,
    r#""version":"2.1.0""#,
    r#""args":{"user_id":5,"message":"m","date":"d"}"#,
    r#""meta":{"id":"j1","attempt":2}"#,
];

fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

#[test]
fn key_order_does_not_matter() {
    let orders = permutations(&FIELDS);
    assert_eq!(orders.len(), 24);
    for order in orders {
        let router = router();
        let payload = format!("{{{}}}", order.join(","));
        let outcome = router.dispatch_blocking(payload.as_bytes(), &mut jobwire::Delivery::new());
        assert!(outcome.is_performed(), "{payload}: {outcome:?}");
        assert_eq!(
            log(&router),
            [r#"confirmation 5 "m" Present("d")"#],
            "{payload}"
        );
    }
}

#[test]
fn unknown_top_level_fields_are_ignored() {
    let router = router();
    let payload = br#"{"trace":{"deep":[1,{"x":null}]},"job":"user.confirmation","priority":9,"version":"2.1.0","args":{"user_id":1,"message":"m"},"zzz":"last"}"#;
    assert!(router
        .dispatch_blocking(payload, &mut jobwire::Delivery::new())
        .is_performed());
}

#[test]
fn whitespace_and_escapes_are_json() {
    let router = router();
    let payload = b" \n{ \"jo\\u0062\" :\t\"user.confirm\\u0061tion\" ,\r\n \"version\" : \"2.1.0\" , \"args\" : { \"user_id\" : 1 , \"message\" : \"a\\\"b\" } } \n";
    let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
    assert!(outcome.is_performed(), "{outcome:?}");
    assert_eq!(log(&router), [r#"confirmation 1 "a\"b" Missing"#]);
}

#[test]
fn duplicate_envelope_keys_are_rejected() {
    let router = router();
    let cases: [&[u8]; 6] = [
        br#"{"job":"user.confirmation","job":"test.flaky","version":"2.1.0","args":{"user_id":1,"message":"m"}}"#,
        br#"{"job":"user.confirmation","version":"2.1.0","version":"3.0.0","args":{"user_id":1,"message":"m"}}"#,
        br#"{"job":"user.confirmation","version":"2.1.0","args":{"user_id":1,"message":"m"},"args":{}}"#,
        br#"{"args":{"user_id":1,"message":"m"},"args":{},"job":"user.confirmation","version":"2.1.0"}"#,
        br#"{"job":"user.confirmation","version":"2.1.0","meta":{},"args":{"user_id":1,"message":"m"},"meta":{}}"#,
        br#"{"job":"user.confirmation","version":"2.1.0","args":{"user_id":1,"message":"m"},"meta":{"attempt":1,"attempt":2}}"#,
    ];
    for payload in cases {
        let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
        assert!(
            matches!(outcome.rejection(), Some(RejectError::DuplicateKey { .. })),
            "{}: {outcome:?}",
            String::from_utf8_lossy(payload)
        );
    }
    assert!(
        log(&router).is_empty(),
        "a payload with a duplicate key is never performed"
    );
}

#[test]
fn envelope_shape_errors_are_rejected() {
    let router = router();
    let cases: [&[u8]; 7] = [
        b"[]",
        b"",
        b"{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":1,\"message\":\"m\"}} trailing",
        b"{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":[1]}",
        b"{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":1,\"message\":\"m\"},\"meta\":[]}",
        b"{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":1,\"message\":\"m\"},\"meta\":{\"attempt\":\"x\"}}",
        b"{\"job\":\"user.confirmation\",\"version\":\"2.1.0\",\"args\":{\"user_id\":1,\"message\":\"m\"},\"meta\":{\"headers\":{\"a\":1}}}",
    ];
    for payload in cases {
        let outcome = router.dispatch_blocking(payload, &mut jobwire::Delivery::new());
        assert!(
            matches!(outcome.rejection(), Some(RejectError::Malformed { .. })),
            "{}: {outcome:?}",
            String::from_utf8_lossy(payload)
        );
    }
}

/// A job that records the metadata it sees.
#[derive(Serialize, Deserialize)]
struct Traced {}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Job for Traced {
    const NAME: &'static str = "test.traced";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
        let meta = ctx.meta();
        let line = format!(
            "{:?} {:?} {} {:?} {:?}",
            meta.id(),
            meta.enqueued_at(),
            meta.attempt(),
            meta.headers().get("traceparent"),
            meta.headers().iter().count(),
        );
        SEEN.lock()
            .map_err(|_| HandlerError::permanent("poisoned"))?
            .push(line);
        Ok(())
    }
}

#[test]
fn metadata_reaches_the_handler_and_round_trips() -> Result<(), Box<dyn std::error::Error>> {
    let router = Router::builder().job::<Traced>().build()?;
    let meta = Meta::new()
        .with_id("01JXYZ")
        .with_enqueued_at(1_764_000_000_000)
        .with_attempt(3)
        .with_header("traceparent", "00-abc-01")
        .with_header("tenant", "acme");
    let payload = Producer::new(WritePolicy::Current).seal_with(&Traced {}, &meta)?;
    assert_eq!(
        String::from_utf8(payload.clone())?,
        r#"{"job":"test.traced","version":"1.0.0","args":{},"meta":{"id":"01JXYZ","enqueued_at":1764000000000,"attempt":3,"headers":{"traceparent":"00-abc-01","tenant":"acme"}}}"#
    );
    assert!(router
        .dispatch_blocking(&payload, &mut jobwire::Delivery::new())
        .is_performed());
    let bare = br#"{"job":"test.traced","version":"1.0.0","args":{},"meta":{"future_field":[1]}}"#;
    assert!(
        router
            .dispatch_blocking(bare, &mut jobwire::Delivery::new())
            .is_performed(),
        "unknown meta fields are ignored"
    );
    let seen = SEEN.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        [
            r#"Some("01JXYZ") Some(1764000000000) 3 Some("00-abc-01") 2"#,
            "None None 0 None 0"
        ]
    );
    Ok(())
}

#[test]
fn producer_writes_header_first_and_reads_back() -> Result<(), Box<dyn std::error::Error>> {
    let router = router();
    let job = Confirmation {
        user_id: 42,
        message: "hello!".into(),
        date: Added::Present("2017-12-24".into()),
    };
    let payload = Producer::new(WritePolicy::Current)
        .without_stamps()
        .seal(&job)?;
    assert_eq!(
        String::from_utf8(payload.clone())?,
        r#"{"job":"user.confirmation","version":"2.1.0","args":{"user_id":42,"message":"hello!","date":"2017-12-24"}}"#
    );
    let Outcome::Performed(done) =
        router.dispatch_blocking(&payload, &mut jobwire::Delivery::new())
    else {
        panic!("not performed")
    };
    assert_eq!(done.relation, jobwire::wire::Relation::Same);
    Ok(())
}

#[test]
fn sealing_a_non_object_is_an_error() {
    #[derive(Serialize, Deserialize)]
    struct Bare(u32);
    impl Job for Bare {
        const NAME: &'static str = "test.bare";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = ();
        type Data = ();
        async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
            Ok(())
        }
    }
    let mut buffer = b"keep".to_vec();
    let error = Producer::default().seal_into(&Bare(1), &Meta::new(), &mut buffer);
    assert!(matches!(
        error,
        Err(jobwire::SealError::NotAnObject {
            found: "a number",
            ..
        })
    ));
    assert_eq!(buffer, b"keep", "a failed seal leaves the buffer as it was");
}
