//! The README's promise: checking (a) to (d) for a job with three versions
//! takes a test file of under 20 lines.
mod support;
use jobwire::testing::{strategy, Kit};
use proptest::prelude::*;
use support::{Confirmation, ConfirmationV0, ConfirmationV1};

#[test]
fn confirmation_upgrades_safely() {
    let v1 = (1..u64::MAX, ".*").prop_map(|(id, message)| ConfirmationV1 { id, message });
    let v0 = (any::<u64>(), strategy::json(1))
        .prop_map(|(uid, text)| serde_json::json!({"uid": uid, "text": text.to_string()}));
    let current =
        (any::<u64>(), ".*", proptest::option::of(".*")).prop_map(|(user_id, message, date)| {
            Confirmation {
                user_id,
                message,
                date: date.into(),
            }
        });
    Kit::new(current)
        .older(v1)
        .older_json::<ConfirmationV0>(v0)
        .previous_release::<Confirmation>()
        .check();
}
