//! Promises that something does not compile, with the message pinned.
//!
//! To update the expected messages after a deliberate change, run
//! `TRYBUILD=overwrite cargo test --test compile_fail` and review the diff.

#[test]
fn unsafe_deploys_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
