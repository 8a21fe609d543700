//! The property-test kit, used on the examples' jobs, and shown to fail, with
//! a shrunk counterexample naming the job and the versions, when an upcaster
//! is broken, `deny_unknown_fields` sneaks in, a lossless claim is false, or
//! the previous release cannot read what is written.

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::testing::{Failure, Kit, Reader};
use jobwire::{
    Added, BreakingChange, Context, Downcast, DowncastError, HandlerError, Job, NoPrevious, Upcast,
    UpcastError,
};
use proptest::prelude::*;
use releases::{release_n, release_n1};
use semver::Version;
use serde::{Deserialize, Serialize};

fn confirmation_n1() -> impl Strategy<Value = release_n1::UserConfirmation> {
    (
        any::<u64>(),
        "[a-z !]{1,20}",
        proptest::option::of("[0-9-]{10}"),
    )
        .prop_map(|(id, message, date)| release_n1::UserConfirmation {
            id,
            message,
            date: date.into(),
        })
}

fn charge_n1() -> impl Strategy<Value = release_n1::Charge> {
    ("acct-[0-9]{1,6}", any::<u64>()).prop_map(|(account, minor_units)| release_n1::Charge {
        account,
        amount: release_n1::Money {
            minor_units,
            currency: "USD".into(),
        },
    })
}

#[test]
fn the_examples_added_parameter_is_safe_both_ways() {
    Kit::new(confirmation_n1())
        .previous_release_matching::<release_n::UserConfirmation>(|new, old| {
            new.id == old.id && new.message == old.message
        })
        .check();
}

#[test]
fn the_examples_breaking_change_is_safe_both_ways() {
    let v1 = ("acct-[0-9]{1,6}", any::<u64>())
        .prop_map(|(account, cents)| release_n1::ChargeV1 { account, cents });
    Kit::new(charge_n1())
        .older(v1)
        .previous_release_matching::<release_n::Charge>(|new, old| {
            new.amount.minor_units == old.cents
        })
        .check();
}

#[test]
fn the_examples_rename_is_safe_both_ways() {
    Kit::new(any::<u64>().prop_map(|report_id| release_n1::BuildReport { report_id }))
        .previous_release::<release_n::GenerateReport>()
        .check();
}

// A job whose 1.x -> 2.x upcaster is broken for ids over 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LegacyV1 {
    id: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Legacy {
    user_id: u32,
}

impl Upcast for LegacyV1 {
    const VERSION: Version = Version::new(1, 3, 0);
    type Next = Legacy;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Legacy, UpcastError> {
        if self.id > 100 {
            return Err(UpcastError::new("ids over 100 were not migrated"));
        }
        Ok(Legacy { user_id: self.id })
    }
}

impl Downcast for LegacyV1 {
    const LOSSLESS: bool = true;
    fn downcast(next: &Legacy) -> Result<Self, DowncastError> {
        // Claims to be lossless, but drops the top bit.
        Ok(LegacyV1 {
            id: next.user_id & 0x7fff_ffff,
        })
    }
}

impl Job for Legacy {
    const NAME: &'static str = "test.legacy";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = BreakingChange<LegacyV1>;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn legacy() -> impl Strategy<Value = Legacy> {
    (0..100u32).prop_map(|user_id| Legacy { user_id })
}

fn failure(kit: Kit<Legacy>) -> Failure {
    kit.persist_to("proptest-regressions/testing_kit_expected_failures.txt")
        .try_check()
        .expect_err("the kit must catch this")
}

#[test]
fn a_broken_upcaster_fails_with_a_shrunk_counterexample() {
    let failure = failure(Kit::new(legacy()).older(any::<u32>().prop_map(|id| LegacyV1 { id })));
    assert_eq!(
        failure.property,
        "(a) job `test.legacy`: every 1.x payload upcasts to 2.0.0"
    );
    assert!(
        failure
            .reason
            .contains("upcasting from 1.3.0 to 2.0.0 failed: ids over 100"),
        "{failure}"
    );
    assert!(
        failure
            .input
            .starts_with("(LegacyV1 { id: 101 }, Version {"),
        "shrunk to the smallest id: {failure}"
    );
}

#[test]
fn a_false_lossless_claim_fails() {
    // Ids up to 100, some with the top bit set, which the downcast drops.
    let wide = (0..=100u32, any::<bool>()).prop_map(|(id, top)| Legacy {
        user_id: if top { id | 0x8000_0000 } else { id },
    });
    let failure = Kit::new(wide)
        .lossless_downcast::<LegacyV1>()
        .persist_to("proptest-regressions/testing_kit_expected_failures.txt")
        .try_check()
        .expect_err("the claim is false");
    assert!(
        failure
            .property
            .starts_with("(e) job `test.legacy`: downcast to 1.3.0"),
        "{failure}"
    );
    assert!(
        failure
            .reason
            .starts_with("came back as Legacy { user_id: 0 }"),
        "{failure}"
    );
    assert_eq!(failure.input, "Legacy { user_id: 2147483648 }", "{failure}");
}

// The same job, but the current type denies unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    user_id: u32,
}

impl Job for Strict {
    const NAME: &'static str = "test.strict";
    const VERSION: Version = Version::new(1, 4, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn deny_unknown_fields_is_caught_by_the_forward_compatibility_property() {
    let failure = Kit::new(any::<u32>().prop_map(|user_id| Strict { user_id }))
        .persist_to("proptest-regressions/testing_kit_expected_failures.txt")
        .try_check()
        .expect_err("deny_unknown_fields breaks forward compatibility");
    assert!(
        failure
            .property
            .starts_with("(d) job `test.strict` 1.4.0: a 1.5.0 payload"),
        "{failure}"
    );
    assert!(failure.reason.contains("unknown field `x_"), "{failure}");
    assert!(
        failure.input.starts_with("(Strict { user_id: 0 }, {"),
        "shrunk: {failure}"
    );
}

// A major bump without `BreakingChange`: the previous release defers what
// "previous" writes, and the kit says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NotifyV1 {
    user: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Notify {
    users: Vec<u32>,
}

impl Job for NotifyV1 {
    const NAME: &'static str = "test.notify";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl Upcast for NotifyV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Notify;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Notify, UpcastError> {
        Ok(Notify {
            users: vec![self.user],
        })
    }
}

impl Job for Notify {
    const NAME: &'static str = "test.notify";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = NotifyV1;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn a_major_bump_the_previous_release_cannot_read_fails() {
    let failure =
        Kit::new(proptest::collection::vec(any::<u32>(), 0..3).prop_map(|users| Notify { users }))
            .previous_release::<NotifyV1>()
            .persist_to("proptest-regressions/testing_kit_expected_failures.txt")
            .try_check()
            .expect_err("the previous release defers 2.0.0");
    assert!(
        failure.property.contains("(b) job `test.notify` 2.0.0"),
        "{failure}"
    );
    assert!(
        failure
            .reason
            .contains("under \"previous\": deferred: NewerRelease"),
        "{failure}"
    );
    assert_eq!(failure.input, "Notify { users: [] }");
}

#[test]
fn a_reader_reads_without_performing() {
    let reader = Reader::<release_n1::UserConfirmation>::new().expect("valid");
    let (job, report) = reader
        .read(br#"{"job":"user.confirmation","version":"1.0.0","args":{"id":1,"message":"m"}}"#)
        .expect("reads");
    assert_eq!(job.date, Added::Missing);
    assert_eq!(report.wire_version, Version::new(1, 0, 0));
    let outcome = reader.read(br#"{"job":"user.confirmation","version":"9.0.0","args":{}}"#);
    assert!(matches!(outcome, Err(jobwire::Outcome::Deferred(_))));
}
