//! The property-test kit, used on the examples' jobs, and shown to fail, with
//! a shrunk counterexample naming the job and the versions, for each planted
//! bug: an upcaster that fails or silently changes data, `deny_unknown_fields`,
//! a false lossless claim, a major bump the previous release cannot read, and
//! minor bumps that break the previous release's own payloads (a required
//! field added without `Added`, a field renamed, a field retyped).

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::testing::{Failure, Failures, Kit, Reader};
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

fn failures<J>(kit: Kit<J>) -> Failures
where
    J: jobwire::Job + std::fmt::Debug + Clone + PartialEq,
{
    kit.persist_to("proptest-regressions/testing_kit_expected_failures.txt")
        .try_check()
        .expect_err("the kit must catch this")
}

fn failure(kit: Kit<Legacy>) -> Failure {
    let found = failures(kit);
    assert_eq!(found.len(), 1, "{found}");
    found[0].clone()
}

/// The one failure of `property` among `found`.
fn of<'f>(found: &'f Failures, property: &str) -> &'f Failure {
    found
        .iter()
        .find(|f| f.property.starts_with(property))
        .unwrap_or_else(|| panic!("no failure of {property}: {found}"))
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
fn a_false_lossless_claim_fails_without_being_asked_to_check_it() {
    // Ids up to 100, some with the top bit set, which the downcast drops.
    let wide = (0..=100u32, any::<bool>()).prop_map(|(id, top)| Legacy {
        user_id: if top { id | 0x8000_0000 } else { id },
    });
    let failure = failure(Kit::new(wide));
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

// A 1.x -> 2.x upcaster that never errs, but keeps only the low byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TruncatingV1 {
    id: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Truncating {
    user_id: u32,
}

impl Upcast for TruncatingV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Truncating;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Truncating, UpcastError> {
        Ok(Truncating {
            user_id: self.id & 0xff,
        })
    }
}

impl Job for Truncating {
    const NAME: &'static str = "test.truncating";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = TruncatingV1;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn an_upcaster_that_silently_changes_data_fails_the_value_level_check() {
    let current = any::<u32>().prop_map(|user_id| Truncating { user_id });
    let old = || any::<u32>().prop_map(|id| TruncatingV1 { id });
    // "No error" is all `older` checks: the truncation passes it...
    Kit::new(current.clone()).older(old()).check();
    // ...and the value-level check catches it, shrunk to the smallest id.
    let found = failures(
        Kit::new(current).older_matching(old(), |old: &TruncatingV1, new: &Truncating| {
            old.id == new.user_id
        }),
    );
    let failure = of(&found, "(a) job `test.truncating`: every 1.x payload");
    assert!(
        failure
            .reason
            .contains("upcast to Truncating { user_id: 0 }, which does not match"),
        "{failure}"
    );
    assert!(
        failure.input.starts_with("(TruncatingV1 { id: 256 }"),
        "{failure}"
    );
}

// A 1.x -> 2.x upcaster that panics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BrittleV1 {
    id: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Brittle {
    user_id: u32,
}

impl Upcast for BrittleV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Brittle;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Brittle, UpcastError> {
        let ids = [1u32, 2, 3];
        let index = usize::try_from(self.id).unwrap_or(usize::MAX);
        Ok(Brittle {
            user_id: ids[index],
        })
    }
}

impl Job for Brittle {
    const NAME: &'static str = "test.brittle";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = BrittleV1;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn a_panicking_upcaster_is_reported_as_a_panic_in_its_step() {
    let found = failures(
        Kit::new(any::<u32>().prop_map(|user_id| Brittle { user_id }))
            .older(any::<u32>().prop_map(|id| BrittleV1 { id })),
    );
    let failure = of(&found, "(a) job `test.brittle`");
    assert!(
        failure
            .reason
            .starts_with("panicked in upcast from 1.0.0 to 2.0.0:"),
        "{failure}"
    );
    assert!(failure.reason.contains("index out of bounds"), "{failure}");
    assert!(
        failure.input.starts_with("(BrittleV1 { id: 3 }"),
        "{failure}"
    );
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
    let found = failures(Kit::new(
        any::<u32>().prop_map(|user_id| Strict { user_id }),
    ));
    let failure = of(&found, "(d)");
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
fn a_major_bump_the_previous_release_cannot_read_fails_naming_the_fix() {
    let found = failures(
        Kit::new(proptest::collection::vec(any::<u32>(), 0..3).prop_map(|users| Notify { users }))
            .previous_release::<NotifyV1>(),
    );
    let failure = of(&found, "(b) job `test.notify` 2.0.0");
    assert!(
        failure
            .reason
            .contains("under \"previous\": deferred: 2.0.0 is a new major line")
            && failure
                .reason
                .contains("declare `type Previous = BreakingChange<..>`"),
        "{failure}"
    );
    assert!(
        !failure.reason.contains("Version {"),
        "no raw dump: {failure}"
    );
    assert_eq!(failure.input, "Notify { users: [] }");
}

// Three minor bumps that break the previous release's own payloads, each
// against the same previous release's type.
mod previous {
    use jobwire::{Context, HandlerError, Job, NoPrevious};
    use semver::Version;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Receipt {
        pub id: u64,
        pub message: String,
    }

    impl Job for Receipt {
        const NAME: &'static str = "test.receipt";
        const VERSION: Version = Version::new(1, 2, 0);
        type Previous = NoPrevious;
        type State = ();
        type Data = ();
        async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
            Ok(())
        }
    }
}

macro_rules! receipt {
    ($ty:ident { $($field:ident: $kind:ty),* }) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        struct $ty {
            $($field: $kind),*
        }
        impl Job for $ty {
            const NAME: &'static str = "test.receipt";
            const VERSION: Version = Version::new(1, 3, 0);
            type Previous = NoPrevious;
            type State = ();
            type Data = ();
            async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
                Ok(())
            }
        }
    };
}

// 1.3.0 adds a required field instead of an `Added<T>` one.
receipt!(ReceiptRequired {
    id: u64,
    message: String,
    date: String
});
// 1.3.0 renames `message`.
receipt!(ReceiptRenamed {
    id: u64,
    text: String
});
// 1.3.0 makes the id a string.
receipt!(ReceiptRetyped {
    id: String,
    message: String
});

/// The previous release's own receipts.
fn previous_receipts() -> impl Strategy<Value = previous::Receipt> {
    (any::<u64>(), "[a-z]{1,8}").prop_map(|(id, message)| previous::Receipt { id, message })
}

#[test]
fn a_required_field_added_in_a_minor_fails_on_the_previous_releases_payloads() {
    let current = (any::<u64>(), "[a-z]{1,8}", "[0-9-]{10}")
        .prop_map(|(id, message, date)| ReceiptRequired { id, message, date });
    let found = failures(Kit::new(current).previous_release::<previous::Receipt>());
    assert_eq!(
        found.len(),
        1,
        "the previous release reads it fine: {found}"
    );
    let failure = of(&found, "(f) job `test.receipt` 1.3.0");
    assert!(failure.reason.contains("missing field `date`"), "{failure}");
}

#[test]
fn a_field_renamed_in_a_minor_fails() {
    let current = (any::<u64>(), "[a-z]{1,8}").prop_map(|(id, text)| ReceiptRenamed { id, text });
    let found = failures(
        Kit::new(current)
            .previous_release::<previous::Receipt>()
            .previous_release_values(previous_receipts(), |_, _| true),
    );
    assert!(
        of(&found, "(b)").reason.contains("missing field `message`"),
        "{found}"
    );
    assert!(
        of(&found, "(f)").reason.contains("missing field `text`"),
        "{found}"
    );
}

#[test]
fn a_field_retyped_in_a_minor_fails() {
    let current =
        ("[0-9]{1,5}", "[a-z]{1,8}").prop_map(|(id, message)| ReceiptRetyped { id, message });
    let found = failures(
        Kit::new(current)
            .previous_release::<previous::Receipt>()
            .previous_release_values(previous_receipts(), |_, _| true),
    );
    assert_eq!(found.len(), 2, "both directions fail: {found}");
    assert!(
        of(&found, "(f)").reason.contains("invalid type: integer"),
        "{found}"
    );
}

#[test]
fn every_failing_property_is_reported_and_check_panics_with_all_of_them() {
    let kit = || {
        Kit::new(any::<u32>().prop_map(|user_id| Strict { user_id }))
            .persist_to("proptest-regressions/testing_kit_expected_failures.txt")
    };
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kit().check()))
        .expect_err("fails");
    let message = panic.downcast::<String>().map(|m| *m).unwrap_or_default();
    assert!(
        message.starts_with("jobwire kit: 1 property failed"),
        "{message}"
    );
    // Two broken properties: both are reported, each shrunk on its own.
    let found = failures(
        Kit::new(any::<u32>().prop_map(|user_id| Strict { user_id }))
            .older(any::<u32>().prop_map(|id| LegacyV1 { id })),
    );
    assert_eq!(found.len(), 2, "{found}");
    assert!(of(&found, "(d)").input.starts_with("(Strict"));
    assert!(of(&found, "(a)").input.starts_with("(LegacyV1"));
}

// An optional field renamed in a minor: nothing errs, and data vanishes.
mod previous_note {
    use jobwire::{Context, HandlerError, Job, NoPrevious};
    use semver::Version;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Note {
        pub id: u64,
        pub note: Option<String>,
    }

    impl Job for Note {
        const NAME: &'static str = "test.note";
        const VERSION: Version = Version::new(1, 0, 0);
        type Previous = NoPrevious;
        type State = ();
        type Data = ();
        async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
            Ok(())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    id: u64,
    remark: Option<String>,
}

impl Job for Note {
    const NAME: &'static str = "test.note";
    const VERSION: Version = Version::new(1, 1, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn an_optional_field_renamed_in_a_minor_is_caught_on_the_previous_releases_own_values() {
    let current = (any::<u64>(), proptest::option::of("[a-z]{1,8}"))
        .prop_map(|(id, remark)| Note { id, remark });
    let previous = (any::<u64>(), proptest::option::of("[a-z]{1,8}"))
        .prop_map(|(id, note)| previous_note::Note { id, note });
    let found = failures(
        Kit::new(current).previous_release_values(previous, |new: &Note, old| {
            new.id == old.id && new.remark == old.note
        }),
    );
    let failure = of(&found, "(f) job `test.note` 1.1.0");
    assert!(failure.reason.contains("which does not match"), "{failure}");
    assert!(
        failure.input.contains("note: Some(\"a\")"),
        "shrunk: {failure}"
    );
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
