//! Checking (a) to (f) for a job with three versions takes under 20 lines.
mod releases;
mod support;
use jobwire::testing::Kit;
use proptest::prelude::*;
use serde_json::json;
use support::{Confirmation as C, ConfirmationV0 as V0, ConfirmationV1 as V1};

#[test]
fn confirmation_upgrades_safely() {
    let v0 = (any::<u64>(), ".*").prop_map(|(uid, text)| json!({"uid": uid, "text": text}));
    let v1 = (1..u64::MAX, ".*").prop_map(|(id, message)| V1 { id, message });
    let now =
        (any::<u64>(), ".*", proptest::option::of(".*")).prop_map(|(i, m, d)| C::new(i, m, d));
    let kit = Kit::new(now).older(v1).older_json::<V0>(v0);
    // Every release still in the window, oldest first; the last is the previous one.
    kit.window::<(releases::v2_0::Confirmation,)>().check();
}
