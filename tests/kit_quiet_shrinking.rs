//! Shrinking a failure that panics prints nothing: the kit silences the
//! panic hook while it runs (the panic's message is in the failure), and
//! restores it afterwards. Its own file, so that it owns the process's hook.

use jobwire::testing::Kit;
use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Router, Upcast, UpcastError};
use proptest::prelude::*;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FragileV1 {
    id: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Fragile {
    user_id: u32,
}

impl Upcast for FragileV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Fragile;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Fragile, UpcastError> {
        assert!(self.id < 1000, "id {} is too large to migrate", self.id);
        Ok(Fragile { user_id: self.id })
    }
}

impl Job for Fragile {
    const NAME: &'static str = "test.fragile";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = FragileV1;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn shrinking_a_panicking_upcaster_prints_no_panic_and_the_hook_comes_back() {
    std::panic::set_hook(Box::new(|_| {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }));
    let failures = Kit::new(any::<u32>().prop_map(|user_id| Fragile { user_id }))
        .older(any::<u32>().prop_map(|id| FragileV1 { id }))
        .persist_to("proptest-regressions/kit_quiet_shrinking.txt")
        .try_check()
        .expect_err("ids over 999 panic");
    assert!(
        failures[0].reason.contains("id 1000 is too large"),
        "{failures}"
    );
    assert_eq!(
        HOOK_CALLS.load(Ordering::SeqCst),
        0,
        "no panic was printed while the kit shrank"
    );
    // Outside the kit, the hook runs again.
    let router = Router::builder().job::<Fragile>().build().expect("builds");
    let payload = br#"{"job":"test.fragile","version":"1.0.0","args":{"id":5000}}"#;
    let outcome = router.dispatch_blocking(payload, &mut Delivery::new());
    assert_eq!(outcome.label(), "failed");
    assert_eq!(HOOK_CALLS.load(Ordering::SeqCst), 1);
}
