//! Generators for payloads and their parts, for your own properties.

use crate::wire::Line;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use semver::Version;
use serde_json::{Map, Number, Value};

/// Any JSON value, nested at most `depth` levels.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let value = jobwire::testing::strategy::json(3).new_tree(&mut runner).unwrap().current();
/// let _ = serde_json::to_string(&value).unwrap();
/// ```
pub fn json(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Extra fields a newer release might add: one to three, named so they
/// can collide with nothing but another newcomer (`x_` prefix).
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let extra = jobwire::testing::strategy::extra_fields().new_tree(&mut runner).unwrap().current();
/// assert!(extra.keys().all(|k| k.starts_with("x_")));
/// ```
pub fn extra_fields() -> BoxedStrategy<Map<String, Value>> {
    btree_map("x_[a-z0-9_]{1,10}", json(2), 1..4)
        .prop_map(|m| m.into_iter().collect())
        .boxed()
}

/// Versions on the same line as `newest`, up to and including it.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let newest = semver::Version::new(1, 4, 0);
/// let v = jobwire::testing::strategy::version_on_line(&newest).new_tree(&mut runner).unwrap().current();
/// assert!(v.major == 1 && v <= newest);
/// ```
pub fn version_on_line(newest: &Version) -> BoxedStrategy<Version> {
    let newest = newest.clone();
    match Line::of(&newest) {
        Line::Major(major) => (0..=newest.minor, any::<u16>())
            .prop_map(move |(minor, patch)| {
                let patch = if minor == newest.minor {
                    u64::from(patch) % (newest.patch + 1)
                } else {
                    u64::from(patch)
                };
                Version::new(major, minor, patch)
            })
            .boxed(),
        Line::Minor(minor) => (0..=newest.patch)
            .prop_map(move |patch| Version::new(0, minor, patch))
            .boxed(),
        Line::Patch(_) => Just(newest).boxed(),
    }
}

/// A version on the same line as `current` but newer, when the line has
/// room for one (`0.0.x` lines do not).
///
/// ```
/// let v = jobwire::testing::strategy::newer_compatible(&semver::Version::new(2, 1, 0));
/// assert_eq!(v, Some(semver::Version::new(2, 2, 0)));
/// ```
pub fn newer_compatible(current: &Version) -> Option<Version> {
    match Line::of(current) {
        Line::Major(major) => Some(Version::new(major, current.minor + 1, 0)),
        Line::Minor(minor) => Some(Version::new(0, minor, current.patch + 1)),
        Line::Patch(_) => None,
    }
}
