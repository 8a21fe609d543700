//! Replays what the fuzzers found: every input of `fuzz/corpus/` (the
//! minimised corpora of both targets, taken as raw payload bytes) and every
//! crash input kept under `tests/fuzz_regressions/`, through the promises the
//! fuzz targets check.

mod support;

use jobwire::Outcome;
use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(inputs(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

#[test]
fn every_fuzz_input_keeps_the_promises() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = inputs(&root.join("fuzz/corpus"));
    all.extend(inputs(&root.join("tests/fuzz_regressions")));
    assert!(
        all.len() > 100,
        "the corpus is committed: {} inputs",
        all.len()
    );
    let router = support::router();
    for (name, bytes) in &all {
        let outcome = router.dispatch_blocking(bytes, &mut jobwire::Delivery::new());
        match (&outcome, outcome.payload()) {
            (Outcome::Performed(_), None) => {}
            (_, Some(back)) if std::ptr::eq(back, bytes.as_slice()) => {}
            _ => panic!("{name}: payload not handed back: {outcome:?}"),
        }
        assert_eq!(
            outcome.label(),
            router
                .dispatch_blocking(bytes, &mut jobwire::Delivery::new())
                .label(),
            "{name}: not deterministic"
        );
    }
}
